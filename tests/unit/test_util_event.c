/*
 * Unit tests for lib/util/event: timer order and cancellation, fd
 * readiness, removal and fd reuse during dispatch, many fds registered
 * and removed in any order (the dense list), signals through the
 * self-pipe (including one that interrupts a long wait), loop stop.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util/clock.h"
#include "lib/util/event.h"
#include "tests/unit/test.h"

static char order[64];
static size_t norder;

static void note(void *ctx)
{
    if (norder < sizeof(order) - 1)
        order[norder++] = *(const char *)ctx;
    order[norder] = '\0';
}

static void test_timer_order(void)
{
    struct event_loop *l = event_loop_create();
    long long t0 = clock_now_ms();
    unsigned long long id;

    norder = 0;
    order[0] = '\0';
    event_timer_add(l, 30, note, "e");
    event_timer_add(l, 10, note, "b");
    event_timer_add(l, 20, note, "d");
    event_timer_add(l, 10, note, "c"); /* same time as "b": after it */
    event_timer_add(l, 0, note, "a");
    id = event_timer_add(l, 15, note, "X");
    event_timer_add(l, -5, note, "a"); /* negative: as soon as possible */
    CHECK(id != 0);
    CHECK(event_timer_next_ms(l) == 0);
    CHECK(event_timer_cancel(l, id));
    CHECK(!event_timer_cancel(l, id));
    CHECK(!event_timer_cancel(l, 12345));
    event_loop_run(l); /* returns when no timers are left */
    CHECK_STREQ(order, "aabcde");
    CHECK(clock_now_ms() - t0 >= 30);
    CHECK_INTEQ(event_timer_next_ms(l), -1);
    event_loop_free(&l);
    CHECK(l == NULL);
}

struct rearm {
    struct event_loop *l;
    int count;
};

static void rearm_fn(void *ctx)
{
    struct rearm *r = ctx;

    r->count++;
    event_timer_add(r->l, 0, rearm_fn, r);
}

/* A timer that re-arms itself with delay 0 runs once per iteration. */
static void test_timer_no_starvation(void)
{
    struct event_loop *l = event_loop_create();
    struct rearm r = {l, 0};

    event_timer_add(l, 0, rearm_fn, &r);
    CHECK_INTEQ(event_loop_run_once(l, 100), 1);
    CHECK_INTEQ(r.count, 1);
    CHECK_INTEQ(event_loop_run_once(l, 100), 1);
    CHECK_INTEQ(r.count, 2);
    event_loop_free(&l);
}

/* run_once with nothing to do waits max_wait_ms and returns 0. */
static void test_idle_wait(void)
{
    struct event_loop *l = event_loop_create();
    long long t0 = clock_now_ms();

    CHECK_INTEQ(event_loop_run_once(l, 50), 0);
    CHECK(clock_now_ms() - t0 >= 45);
    event_timer_add(l, 20, note, "z");
    t0 = clock_now_ms();
    /* The timer is earlier than max_wait: it bounds the wait. */
    CHECK_INTEQ(event_loop_run_once(l, 5000), 1);
    CHECK(clock_now_ms() - t0 < 1000);
    event_loop_free(&l);
}

struct fdlog {
    struct event_loop *l;
    int calls;
    int last_fd;
    int last_events;
    int victim; /* fd to remove (and close) when called, -1 none */
    int *reopened;
};

static void fd_cb(int fd, int events, void *ctx)
{
    struct fdlog *f = ctx;

    f->calls++;
    f->last_fd = fd;
    f->last_events = events;
    if (f->victim >= 0) {
        event_fd_remove(f->l, f->victim);
        if (f->reopened != NULL) {
            int p[2];

            /* Close and reuse the number: the new pipe's read end takes it. */
            close(f->victim);
            if (pipe(p) == 0) {
                *f->reopened = p[0];
                close(p[1]); /* readable (EOF) right away */
                event_fd_set(f->l, p[0], EVENT_READ, fd_cb, f + 1);
            }
        }
        f->victim = -1;
    }
}

static void test_fd_readiness(void)
{
    struct event_loop *l = event_loop_create();
    struct fdlog f = {l, 0, -1, 0, -1, NULL};
    int p[2];

    CHECK_INTEQ(pipe(p), 0);
    event_fd_set(l, p[0], EVENT_READ, fd_cb, &f);
    CHECK(event_fd_registered(l, p[0]));
    CHECK(!event_fd_registered(l, p[1]));
    CHECK_INTEQ(event_loop_run_once(l, 20), 0);
    CHECK_INTEQ(f.calls, 0);
    CHECK_INTEQ(write(p[1], "x", 1), 1);
    CHECK_INTEQ(event_loop_run_once(l, 1000), 1);
    CHECK_INTEQ(f.calls, 1);
    CHECK_INTEQ(f.last_fd, p[0]);
    CHECK_INTEQ(f.last_events, EVENT_READ);

    /* Write interest on the write end is ready at once. */
    event_fd_set(l, p[1], EVENT_WRITE, fd_cb, &f);
    f.calls = 0;
    CHECK_INTEQ(event_loop_run_once(l, 1000), 2); /* read end still has "x" */
    CHECK_INTEQ(f.calls, 2);
    event_fd_remove(l, p[1]);
    event_fd_remove(l, p[1]); /* twice is fine */
    CHECK(!event_fd_registered(l, p[1]));

    /* Hang-up: the writer goes away; the reader sees EVENT_READ (then EOF). */
    {
        char c;

        CHECK_INTEQ(read(p[0], &c, 1), 1);
    }
    close(p[1]);
    f.calls = 0;
    CHECK_INTEQ(event_loop_run_once(l, 1000), 1);
    CHECK(f.last_events & EVENT_READ);
    event_fd_set(l, p[0], 0, fd_cb, &f); /* events 0 removes */
    CHECK(!event_fd_registered(l, p[0]));
    close(p[0]);
    event_loop_free(&l);
}

/* A callback that removes another ready fd: that fd is not called. */
static void test_fd_removed_during_dispatch(void)
{
    struct event_loop *l = event_loop_create();
    struct fdlog f[2] = {{l, 0, -1, 0, -1, NULL}, {l, 0, -1, 0, -1, NULL}};
    int a[2], b[2];
    int reused = -1;

    CHECK_INTEQ(pipe(a), 0);
    CHECK_INTEQ(pipe(b), 0);
    CHECK_INTEQ(write(a[1], "x", 1), 1);
    CHECK_INTEQ(write(b[1], "x", 1), 1);
    /* The lower fd is dispatched first; make it remove the higher one. */
    event_fd_set(l, a[0], EVENT_READ, fd_cb, &f[0]);
    event_fd_set(l, b[0], EVENT_READ, fd_cb, &f[1]);
    f[0].victim = b[0];
    CHECK_INTEQ(event_loop_run_once(l, 1000), 1);
    CHECK_INTEQ(f[0].calls, 1);
    CHECK_INTEQ(f[1].calls, 0);

    /* Removed, closed and the number reused within one iteration: the new
     * registration waits for its own poll. */
    event_fd_set(l, b[0], EVENT_READ, fd_cb, &f[1]);
    f[0].victim = b[0];
    f[0].reopened = &reused;
    f[0].calls = f[1].calls = 0;
    CHECK_INTEQ(event_loop_run_once(l, 1000), 1);
    CHECK_INTEQ(reused, b[0]); /* the kernel gave the same number back */
    CHECK_INTEQ(f[1].calls, 0);
    CHECK_INTEQ(event_loop_run_once(l, 1000), 2); /* now both: a still has "x" */
    CHECK_INTEQ(f[1].calls, 1);
    event_fd_remove(l, reused);
    event_fd_remove(l, a[0]);
    close(reused);
    close(a[0]);
    close(a[1]);
    close(b[1]);
    event_loop_free(&l);
}

/* Many fds, a high one among them, removed in a scattered order: each ready one is called. */
static void test_fd_many(void)
{
    enum { NP = 40 };
    struct event_loop *l = event_loop_create();
    struct fdlog f[NP];
    int rd[NP], wr[NP];
    int p[2];

    for (int i = 0; i < NP; i++) {
        CHECK_INTEQ(pipe(p), 0);
        rd[i] = p[0];
        wr[i] = p[1];
        f[i] = (struct fdlog){l, 0, -1, 0, -1, NULL};
    }
    /* One read end far above the others, as in a process with many open files. */
    CHECK(dup2(rd[NP - 1], 900) == 900);
    close(rd[NP - 1]);
    rd[NP - 1] = 900;
    for (int i = 0; i < NP; i++)
        event_fd_set(l, rd[i], EVENT_READ, fd_cb, &f[i]);
    /* Remove every third, from the middle outwards and the first one. */
    for (int i = 1; i < NP; i += 3)
        event_fd_remove(l, rd[i]);
    event_fd_remove(l, rd[0]);
    for (int i = 0; i < NP; i++)
        CHECK(event_fd_registered(l, rd[i]) == (i != 0 && i % 3 != 1));
    /* Every pipe readable: exactly the registered ones are called, each with its own fd. */
    for (int i = 0; i < NP; i++)
        CHECK_INTEQ(write(wr[i], "x", 1), 1);
    CHECK_INTEQ(event_loop_run_once(l, 1000), NP - 1 - (NP + 1) / 3);
    for (int i = 0; i < NP; i++) {
        bool reg = i != 0 && i % 3 != 1;

        CHECK_INTEQ(f[i].calls, reg ? 1 : 0);
        if (reg)
            CHECK_INTEQ(f[i].last_fd, rd[i]);
    }
    /* Register again, modify one, remove all: nothing left to watch. */
    event_fd_set(l, rd[1], EVENT_READ, fd_cb, &f[1]);
    event_fd_set(l, rd[2], EVENT_READ | EVENT_WRITE, fd_cb, &f[2]);
    CHECK(event_fd_registered(l, rd[1]));
    for (int i = 0; i < NP; i++)
        event_fd_remove(l, rd[i]);
    for (int i = 0; i < NP; i++)
        CHECK(!event_fd_registered(l, rd[i]));
    CHECK_INTEQ(event_loop_run_once(l, 0), 0);
    for (int i = 0; i < NP; i++) {
        close(rd[i]);
        close(wr[i]);
    }
    event_loop_free(&l);
}

static int sig_calls;
static int sig_last;

static void sig_cb(int signo, void *ctx)
{
    sig_calls++;
    sig_last = signo;
    if (ctx != NULL)
        event_loop_stop(ctx);
}

static void test_signals(void)
{
    struct event_loop *l = event_loop_create();
    struct event_loop *other = event_loop_create();
    const char *why = NULL;
    struct sigaction sa;
    long long t0;
    pid_t pid;

    CHECK_INTEQ(event_signal_add(l, SIGUSR1, sig_cb, NULL, &why), 0);
    CHECK_INTEQ(event_signal_add(other, SIGUSR2, sig_cb, NULL, &why), -1);
    CHECK(why != NULL && strstr(why, "another") != NULL);
    CHECK_INTEQ(event_signal_add(l, 0, sig_cb, NULL, &why), -1);

    /* Two signals before the loop runs: one callback. */
    sig_calls = 0;
    raise(SIGUSR1);
    raise(SIGUSR1);
    CHECK_INTEQ(event_loop_run_once(l, 1000), 1);
    CHECK_INTEQ(sig_calls, 1);
    CHECK_INTEQ(sig_last, SIGUSR1);
    CHECK_INTEQ(event_loop_run_once(l, 10), 0);

    /* A signal from another process ends a long wait and stops the loop. */
    CHECK_INTEQ(event_signal_add(l, SIGUSR2, sig_cb, l, &why), 0);
    pid = fork();
    if (pid == 0) {
        usleep(100000);
        kill(getppid(), SIGUSR2);
        _exit(0);
    }
    event_timer_add(l, 10000, note, "late");
    t0 = clock_now_ms();
    event_loop_run(l);
    CHECK(clock_now_ms() - t0 < 5000);
    CHECK_INTEQ(sig_last, SIGUSR2);
    waitpid(pid, NULL, 0);

    /* Removal restores the old disposition. */
    event_signal_remove(l, SIGUSR2);
    CHECK_INTEQ(sigaction(SIGUSR2, NULL, &sa), 0);
    CHECK(sa.sa_handler == SIG_DFL);
    CHECK_INTEQ(sigaction(SIGUSR1, NULL, &sa), 0);
    CHECK(sa.sa_handler != SIG_DFL);
    event_loop_free(&l);
    CHECK_INTEQ(sigaction(SIGUSR1, NULL, &sa), 0);
    CHECK(sa.sa_handler == SIG_DFL);
    /* The owner is gone: another loop may take signals now. */
    CHECK_INTEQ(event_signal_add(other, SIGUSR2, sig_cb, NULL, &why), 0);
    event_loop_free(&other);
}

int main(void)
{
    TEST_RUN(test_timer_order);
    TEST_RUN(test_timer_no_starvation);
    TEST_RUN(test_idle_wait);
    TEST_RUN(test_fd_readiness);
    TEST_RUN(test_fd_removed_during_dispatch);
    TEST_RUN(test_fd_many);
    TEST_RUN(test_signals);
    return test_summary();
}
