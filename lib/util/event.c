/*
 * event - a small poll(2) event loop for master and qmgr.
 *
 * Owns: its registration tables, its timers, and (for the loop that owns
 * signals) the process's self-pipe and the signal dispositions it set,
 * which event_loop_free() restores.
 *
 * Design: fds are registered in a table indexed by fd, and listed in a
 * dense array (each registration knows its place in it, so removal is a
 * swap with the last). The poll set is rebuilt each iteration from the
 * dense array only: a process that holds thousands of other descriptors
 * (qmgr's queue files) but watches a few pays for the few, not for its
 * highest descriptor number. fds are dispatched in the order of the dense
 * array (registration order, until a removal moves the last one into the
 * gap). Each registration carries a serial number, so readiness
 * reported for an fd that a callback removed, or closed and reused, in the
 * same iteration is dropped instead of being delivered to the wrong owner.
 * Timers live in an array sorted latest-first, so the next one to fire is
 * at the end; ids increase, and a timer added while timers are being run
 * waits for the next iteration even with a zero delay, so a callback that
 * re-arms itself cannot starve the loop.
 *
 * Security notes: the signal handler does nothing but write(2) one byte to
 * a non-blocking pipe and restore errno, which is async-signal-safe; all
 * real work happens in the loop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "lib/util/clock.h"
#include "lib/util/event.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

struct event_reg {
    int events; /* 0: not registered */
    event_fd_fn fn;
    void *ctx;
    unsigned long long serial;
    int pos; /* index in the loop's dense array of registered fds */
};

struct event_timer {
    long long when; /* monotonic ms */
    unsigned long long id;
    event_timer_fn fn;
    void *ctx;
};

struct event_sig {
    bool active;
    bool pending;
    event_signal_fn fn;
    void *ctx;
    struct sigaction old;
};

struct event_loop {
    struct event_reg *regs; /* indexed by fd */
    int nregs;              /* allocated entries */
    int count;              /* registered fds */
    int *fds;               /* the registered fds, dense: fds[0 .. count - 1] */
    size_t fds_size;        /* allocated entries of fds */
    unsigned long long serial;
    struct event_timer *timers; /* sorted latest first */
    size_t ntimers;
    size_t timers_size;
    unsigned long long timer_id;
    struct event_sig sigs[NSIG];
    int nsigs; /* active signals */
    bool stop;
};

/* The self-pipe shared with the signal handler, and the loop that owns it. */
static int event_sig_pipe[2] = {-1, -1};
static struct event_loop *event_sig_owner;

/* Create an empty loop. */
struct event_loop *event_loop_create(void)
{
    return mem_alloc(sizeof(struct event_loop));
}

/* Free the loop; restore signal dispositions and close the self-pipe. */
void event_loop_free(struct event_loop **lp)
{
    struct event_loop *l = *lp;

    if (l == NULL)
        return;
    for (int s = 1; s < NSIG; s++)
        if (l->sigs[s].active)
            event_signal_remove(l, s);
    if (event_sig_owner == l) {
        (void)close(event_sig_pipe[0]);
        (void)close(event_sig_pipe[1]);
        event_sig_pipe[0] = event_sig_pipe[1] = -1;
        event_sig_owner = NULL;
    }
    mem_free(l->regs);
    mem_free(l->fds);
    mem_free(l->timers);
    mem_free(l);
    *lp = NULL;
}

/*
 * Watch fd for events (EVENT_READ and/or EVENT_WRITE) and call fn(fd,
 * events, ctx) when ready. Replaces an earlier registration of fd; events
 * 0 removes it.
 */
void event_fd_set(struct event_loop *l, int fd, int events, event_fd_fn fn, void *ctx)
{
    struct event_reg *r;

    if (fd < 0)
        msg_panic("event_fd_set: bad fd %d", fd);
    events &= EVENT_READ | EVENT_WRITE;
    if (events == 0) {
        event_fd_remove(l, fd);
        return;
    }
    if (fn == NULL)
        msg_panic("event_fd_set: no callback for fd %d", fd);
    if (fd >= l->nregs) {
        int n = l->nregs ? l->nregs : 16;

        while (n <= fd) {
            if (n > INT_MAX / 2)
                msg_panic("event_fd_set: fd %d too large", fd);
            n *= 2;
        }
        l->regs = mem_realloc_array(l->regs, (size_t)n, sizeof(*l->regs));
        memset(l->regs + l->nregs, 0, (size_t)(n - l->nregs) * sizeof(*l->regs));
        l->nregs = n;
    }
    r = &l->regs[fd];
    if (r->events == 0) {
        if ((size_t)l->count == l->fds_size) {
            l->fds_size = l->fds_size ? l->fds_size * 2 : 16;
            l->fds = mem_realloc_array(l->fds, l->fds_size, sizeof(*l->fds));
        }
        r->serial = ++l->serial;
        r->pos = l->count;
        l->fds[l->count++] = fd;
    }
    r->events = events;
    r->fn = fn;
    r->ctx = ctx;
}

/* Stop watching fd (no-op if it is not registered). */
void event_fd_remove(struct event_loop *l, int fd)
{
    int pos, last;

    if (fd < 0 || fd >= l->nregs || l->regs[fd].events == 0)
        return;
    /* The last registered fd takes the removed one's place. */
    pos = l->regs[fd].pos;
    last = l->fds[--l->count];
    l->fds[pos] = last;
    l->regs[last].pos = pos;
    memset(&l->regs[fd], 0, sizeof(l->regs[fd]));
}

/* True if fd is being watched. */
bool event_fd_registered(const struct event_loop *l, int fd)
{
    return fd >= 0 && fd < l->nregs && l->regs[fd].events != 0;
}

/*
 * Call fn(ctx) once, delay_ms milliseconds from now (<= 0: next
 * iteration). Returns the timer's id (never 0) for event_timer_cancel.
 */
unsigned long long event_timer_add(struct event_loop *l, long long delay_ms, event_timer_fn fn,
                                   void *ctx)
{
    struct event_timer t;
    size_t lo = 0, hi;

    if (fn == NULL)
        msg_panic("event_timer_add: no callback");
    if (delay_ms < 0)
        delay_ms = 0;
    if (delay_ms > LLONG_MAX / 4)
        delay_ms = LLONG_MAX / 4;
    t.when = clock_now_ms() + delay_ms;
    t.id = ++l->timer_id;
    t.fn = fn;
    t.ctx = ctx;
    if (l->ntimers == l->timers_size) {
        l->timers_size = l->timers_size ? l->timers_size * 2 : 16;
        l->timers = mem_realloc_array(l->timers, l->timers_size, sizeof(*l->timers));
    }
    /*
     * Sorted latest first; the new timer goes before every timer that is
     * due at the same time or earlier (its id is the largest so far).
     */
    hi = l->ntimers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (l->timers[mid].when > t.when)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(l->timers + lo + 1, l->timers + lo, (l->ntimers - lo) * sizeof(*l->timers));
    l->timers[lo] = t;
    l->ntimers++;
    return t.id;
}

/* Cancel a pending timer; false if it already ran or never existed. */
bool event_timer_cancel(struct event_loop *l, unsigned long long id)
{
    for (size_t i = 0; i < l->ntimers; i++) {
        if (l->timers[i].id == id) {
            memmove(l->timers + i, l->timers + i + 1, (l->ntimers - i - 1) * sizeof(*l->timers));
            l->ntimers--;
            return true;
        }
    }
    return false;
}

/* Milliseconds until the next timer is due (0 if overdue), -1 if none. */
long long event_timer_next_ms(const struct event_loop *l)
{
    if (l->ntimers == 0)
        return -1;
    return clock_remaining_ms(l->timers[l->ntimers - 1].when);
}

/* The signal handler: record the signal in the self-pipe, nothing else. */
static void event_sig_handler(int signo)
{
    int saved_errno = errno;
    unsigned char byte = (unsigned char)signo;

    (void)!write(event_sig_pipe[1], &byte, 1);
    errno = saved_errno;
}

/*
 * Deliver signo to fn(signo, ctx) from the loop. The first call makes this
 * loop the process's signal owner (one per process). 0 or -1.
 */
int event_signal_add(struct event_loop *l, int signo, event_signal_fn fn, void *ctx,
                     const char **why_r)
{
    struct sigaction sa;
    struct event_sig *s;

    if (signo <= 0 || signo >= NSIG || signo > UCHAR_MAX || fn == NULL) {
        *why_r = "bad signal number or no callback";
        errno = EINVAL;
        return -1;
    }
    if (event_sig_owner != NULL && event_sig_owner != l) {
        *why_r = "another event loop already handles signals";
        errno = EBUSY;
        return -1;
    }
    if (event_sig_owner == NULL) {
        if (pipe2(event_sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
            *why_r = "cannot create the signal pipe";
            return -1;
        }
        event_sig_owner = l;
    }
    s = &l->sigs[signo];
    s->fn = fn;
    s->ctx = ctx;
    if (s->active)
        return 0;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = event_sig_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(signo, &sa, &s->old) < 0) {
        *why_r = "sigaction failed";
        return -1;
    }
    s->active = true;
    s->pending = false;
    l->nsigs++;
    return 0;
}

/* Stop handling signo and restore its previous disposition. */
void event_signal_remove(struct event_loop *l, int signo)
{
    struct event_sig *s;

    if (signo <= 0 || signo >= NSIG || !l->sigs[signo].active)
        return;
    s = &l->sigs[signo];
    (void)sigaction(signo, &s->old, NULL);
    memset(s, 0, sizeof(*s));
    l->nsigs--;
}

/* Drain the self-pipe and run the callbacks of the signals that arrived. */
static int event_dispatch_signals(struct event_loop *l)
{
    unsigned char bytes[64];
    ssize_t n;
    int calls = 0;

    while ((n = read(event_sig_pipe[0], bytes, sizeof(bytes))) > 0)
        for (ssize_t i = 0; i < n; i++)
            if (bytes[i] < NSIG && l->sigs[bytes[i]].active)
                l->sigs[bytes[i]].pending = true;
    for (int s = 1; s < NSIG; s++) {
        if (l->sigs[s].active && l->sigs[s].pending) {
            l->sigs[s].pending = false;
            l->sigs[s].fn(s, l->sigs[s].ctx);
            calls++;
        }
    }
    return calls;
}

/* Run the timers that are due now; timers added meanwhile wait. */
static int event_dispatch_timers(struct event_loop *l)
{
    long long now = clock_now_ms();
    unsigned long long last_id = l->timer_id;
    int calls = 0;

    while (l->ntimers > 0) {
        struct event_timer t = l->timers[l->ntimers - 1];

        if (t.when > now || t.id > last_id)
            break;
        l->ntimers--;
        t.fn(t.ctx);
        calls++;
    }
    return calls;
}

/*
 * Wait for the first fd event, signal or due timer, at most max_wait_ms
 * (-1: until something happens), and run the callbacks. Returns the number
 * of callbacks run, or -1 if poll failed (errno).
 */
int event_loop_run_once(struct event_loop *l, long long max_wait_ms)
{
    struct pollfd *pfd;
    unsigned long long *serial;
    size_t n = 0;
    long long wait = event_timer_next_ms(l);
    int calls = 0;
    int ready;
    bool sigs = event_sig_owner == l && l->nsigs > 0;

    if (max_wait_ms >= 0 && (wait < 0 || max_wait_ms < wait))
        wait = max_wait_ms;
    if (wait > INT_MAX)
        wait = INT_MAX;
    /* Per call, not kept in the loop: a callback may run the loop again. */
    pfd = mem_alloc_array((size_t)l->count + 1, sizeof(*pfd));
    serial = mem_alloc_array((size_t)l->count + 1, sizeof(*serial));
    if (sigs) {
        pfd[n].fd = event_sig_pipe[0];
        pfd[n].events = POLLIN;
        n++;
    }
    for (int k = 0; k < l->count; k++) {
        int fd = l->fds[k];
        const struct event_reg *r = &l->regs[fd];

        pfd[n].fd = fd;
        pfd[n].events = (short)(((r->events & EVENT_READ) ? POLLIN : 0)
                                | ((r->events & EVENT_WRITE) ? POLLOUT : 0));
        serial[n] = r->serial;
        n++;
    }
    ready = poll(pfd, (nfds_t)n, (int)wait);
    if (ready < 0 && errno != EINTR) {
        int saved_errno = errno;

        mem_free(pfd);
        mem_free(serial);
        errno = saved_errno;
        return -1;
    }
    if (ready > 0) {
        size_t i = 0;

        if (sigs) {
            if (pfd[0].revents)
                calls += event_dispatch_signals(l);
            i = 1;
        }
        for (; i < n; i++) {
            int fd = pfd[i].fd;
            short re = pfd[i].revents;
            struct event_reg *r;
            int ev = 0;

            if (re == 0 || fd >= l->nregs)
                continue;
            r = &l->regs[fd];
            /* Removed, or removed and re-added, by an earlier callback. */
            if (r->events == 0 || r->serial != serial[i])
                continue;
            if (re & (POLLIN | POLLHUP))
                ev |= EVENT_READ;
            if (re & POLLOUT)
                ev |= EVENT_WRITE;
            if (re & (POLLERR | POLLNVAL))
                ev |= EVENT_ERROR;
            if ((re & POLLHUP) && !(r->events & EVENT_READ))
                ev |= EVENT_ERROR;
            ev &= r->events | EVENT_ERROR;
            if (ev == 0)
                continue;
            r->fn(fd, ev, r->ctx);
            calls++;
        }
    }
    mem_free(pfd);
    mem_free(serial);
    calls += event_dispatch_timers(l);
    return calls;
}

/* Run until event_loop_stop() or until nothing is left to wait for. */
void event_loop_run(struct event_loop *l)
{
    l->stop = false;
    while (!l->stop) {
        if (l->count == 0 && l->ntimers == 0 && !(event_sig_owner == l && l->nsigs > 0))
            break;
        if (event_loop_run_once(l, -1) < 0)
            msg_fatal("event loop: poll: %m");
    }
}

/* Make event_loop_run() return after the current iteration. */
void event_loop_stop(struct event_loop *l)
{
    l->stop = true;
}
