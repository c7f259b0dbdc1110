/*
 * master_spawn - master's process table: spawning service processes,
 * reading their status records, reaping them, and throttling a service
 * whose processes fail to start.
 *
 * Accounting per service and generation (as in Postfix): a new process
 * counts as available from the moment it is forked, so that one pending
 * connection starts one process; a "busy" record makes it unavailable, an
 * "idle" record available again. master spawns another process only when
 * none is available, a connection is waiting and the service is below
 * maxproc. After a reload the old generation's processes are detached:
 * they are still reaped and logged but no longer counted.
 *
 * Listening sockets are in the event loop only while master_wants_spawn()
 * holds, so master never competes with its idle children for connections
 * and never spins on a socket it will not act on.
 *
 * Security notes: status records are accepted only from a process of the
 * right service and generation, and the kernel-supplied sender pid
 * (SCM_CREDENTIALS) must match the pid in the record, so one child cannot
 * speak for another. A child gets a fresh environment (import_environment
 * only) and exactly the descriptors the contract in master_proto.h lists.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/event.h"
#include "lib/util/spawn.h"
#include "master/master.h"

enum master_proc_state { MASTER_PROC_STARTING, MASTER_PROC_IDLE, MASTER_PROC_BUSY };

struct master_proc {
    struct master_proc *next;
    pid_t pid;
    struct master_serv *serv; /* NULL once detached (reload, service removed) */
    char *path;               /* for log messages */
    unsigned long generation;
    enum master_proc_state state;
    bool ready; /* sent its first status record */
    unsigned long use_count;
};

static struct master_proc *master_procs;
static size_t master_nprocs;
static unsigned long master_generation;
static struct argv *master_env;
const char *master_config_dir;
struct event_loop *master_events;

static void master_status_ready(int fd, int events, void *ctx);

/* The number of live child processes, all generations. */
size_t master_proc_count(void)
{
    return master_nprocs;
}

/* Send sig to every child process. */
void master_kill_all(int sig)
{
    for (struct master_proc *p = master_procs; p; p = p->next)
        (void)kill(p->pid, sig);
}

/* Build the children's environment: import_environment plus our own. */
void master_set_environment(const char *config_dir)
{
    struct argv *names = config_list("import_environment");
    struct buf *item = buf_create(64);

    if (master_env)
        argv_free(&master_env);
    master_env = argv_create(names->argc + 2);
    for (size_t i = 0; i < names->argc; i++) {
        const char *name = names->argv[i];
        const char *value;

        if (strncmp(name, MASTER_ENV_CONFIG_DIR "=", sizeof(MASTER_ENV_CONFIG_DIR)) == 0 ||
            strncmp(name, MASTER_ENV_GENERATION "=", sizeof(MASTER_ENV_GENERATION)) == 0)
            continue;
        if (strchr(name, '=') != NULL) {
            argv_add(master_env, name);
        } else if ((value = getenv(name)) != NULL && strcmp(name, MASTER_ENV_CONFIG_DIR) != 0 &&
                   strcmp(name, MASTER_ENV_GENERATION) != 0) {
            buf_reset(item);
            buf_printf(item, "%s=%s", name, value);
            argv_add(master_env, buf_str(item));
        }
    }
    buf_reset(item);
    buf_printf(item, "%s=%s", MASTER_ENV_CONFIG_DIR, config_dir);
    argv_add(master_env, buf_str(item));
    buf_free(&item);
    argv_free(&names);
}

/* Open a new generation's status socket pair for serv. */
int master_status_open(struct master_serv *serv, const char **why_r)
{
    int sv[2];
    int one = 1;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        *why_r = strerror(errno);
        return -1;
    }
    if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0 ||
        setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
        *why_r = strerror(errno);
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    serv->status_fd = sv[0];
    serv->status_child_fd = sv[1];
    serv->generation = ++master_generation;
    serv->total_proc = serv->avail_proc = 0;
    event_fd_set(master_events, serv->status_fd, EVENT_READ, master_status_ready, serv);
    master_watch_update(serv);
    return 0;
}

/* Detach serv's processes: they finish their client and exit on their own. */
static void master_detach(struct master_serv *serv)
{
    for (struct master_proc *p = master_procs; p; p = p->next)
        if (p->serv == serv)
            p->serv = NULL;
    serv->total_proc = serv->avail_proc = 0;
}

/* Close serv's status socket: its children see end of file and leave. */
void master_status_close(struct master_serv *serv)
{
    master_detach(serv);
    if (serv->status_fd >= 0) {
        event_fd_remove(master_events, serv->status_fd);
        close(serv->status_fd);
    }
    if (serv->status_child_fd >= 0)
        close(serv->status_child_fd);
    serv->status_fd = serv->status_child_fd = -1;
    master_watch_update(serv);
}

/* The throttle time of serv is over: spawn again when needed. */
static void master_unthrottle(void *ctx)
{
    struct master_serv *serv = ctx;

    serv->throttle_timer = 0;
    serv->throttled = false;
    msg_debug("service %s: throttle ended", serv->name);
    if (serv->total_proc == 0)
        master_wakeup_start(serv);
    master_watch_update(serv);
}

/* Stop spawning for serv for service_throttle_time. */
void master_throttle(struct master_serv *serv)
{
    long long delay = config_time("service_throttle_time");

    if (serv->throttled)
        return;
    serv->throttled = true;
    serv->throttle_timer =
        event_timer_add(master_events, (delay > 0 ? delay : 1) * 1000, master_unthrottle, serv);
    master_watch_update(serv);
}

/* Should master watch serv's listening sockets (and spawn when one is ready)? */
bool master_wants_spawn(const struct master_serv *serv)
{
    return serv->listen_count > 0 && serv->status_fd >= 0 && !serv->throttled &&
           serv->avail_proc == 0 && (serv->max_proc == 0 || serv->total_proc < serv->max_proc);
}

/* A listening socket of serv is ready: a client waits and no process is free. */
static void master_listen_ready(int fd, int events, void *ctx)
{
    struct master_serv *serv = ctx;

    (void)fd;
    (void)events;
    if (master_wants_spawn(serv))
        master_spawn(serv);
    master_watch_update(serv);
}

/* Take serv's listening sockets out of the event loop. */
void master_watch_off(struct master_serv *serv)
{
    if (!serv->watching)
        return;
    for (size_t i = 0; i < serv->listen_count; i++)
        event_fd_remove(master_events, serv->listen_fds[i]);
    serv->watching = false;
}

/* Watch serv's listening sockets exactly while a new process may be needed. */
void master_watch_update(struct master_serv *serv)
{
    bool want = master_wants_spawn(serv);

    if (want == serv->watching)
        return;
    if (!want) {
        master_watch_off(serv);
        return;
    }
    for (size_t i = 0; i < serv->listen_count; i++)
        event_fd_set(master_events, serv->listen_fds[i], EVENT_READ, master_listen_ready, serv);
    serv->watching = true;
}

/* Take serv out of service: timers, status socket (children leave), sockets. */
void master_serv_stop(struct master_serv *serv)
{
    if (serv->throttle_timer)
        event_timer_cancel(master_events, serv->throttle_timer);
    if (serv->wakeup_timer)
        event_timer_cancel(master_events, serv->wakeup_timer);
    serv->throttle_timer = serv->wakeup_timer = 0;
    master_status_close(serv);
    master_listen_close(serv);
}

/* Start one more process for serv. */
void master_spawn(struct master_serv *serv)
{
    struct argv *argv = argv_create(serv->argv->argc + 10);
    struct argv *envp = argv_create(master_env->argc + 2);
    char num[32];
    struct master_proc *p;
    const char *why;
    pid_t pid;

    argv_add(argv, serv->argv->argv[0]);
    argv_add(argv, "-n");
    argv_add(argv, serv->name);
    argv_add(argv, "-t");
    argv_add(argv, mastercf_type_names[serv->type]);
    if (serv->listen_count != 1) {
        snprintf(num, sizeof(num), "%zu", serv->listen_count);
        argv_add(argv, "-s");
        argv_add(argv, num);
    }
    if (serv->unpriv)
        argv_add(argv, "-u");
    if (serv->chroot)
        argv_add(argv, "-c");
    for (size_t i = 1; i < serv->argv->argc; i++)
        argv_add(argv, serv->argv->argv[i]);
    for (size_t i = 0; i < master_env->argc; i++)
        argv_add(envp, master_env->argv[i]);
    snprintf(num, sizeof(num), "%s=%lu", MASTER_ENV_GENERATION, serv->generation);
    argv_add(envp, num);

    {
        struct spawn_fd fds[2 + MASTER_LISTEN_MAX];
        struct spawn_opts opts = {.path = serv->path,
                                  .argv = argv->argv,
                                  .envp = envp->argv,
                                  .fds = fds,
                                  .null_stdio = true};
        size_t n = 0;

        fds[n++] = (struct spawn_fd){serv->status_child_fd, MASTER_STATUS_FD};
        for (size_t i = 0; i < serv->listen_count; i++)
            fds[n++] = (struct spawn_fd){serv->listen_fds[i], MASTER_LISTEN_FD + (int)i};
        /* Standard error stays master's: crash reports of children end up there. */
        fds[n++] = (struct spawn_fd){STDERR_FILENO, STDERR_FILENO};
        opts.nfds = n;
        pid = spawn_start(&opts, &why);
    }
    argv_free(&argv);
    argv_free(&envp);
    if (pid < 0) {
        msg_warn("%s", why);
        msg_warn("%s: bad command startup -- throttling", serv->path);
        master_throttle(serv);
        return;
    }
    p = mem_alloc(sizeof(*p));
    p->pid = pid;
    p->serv = serv;
    p->path = mem_strdup(serv->path);
    p->generation = serv->generation;
    p->state = MASTER_PROC_STARTING;
    p->next = master_procs;
    master_procs = p;
    master_nprocs++;
    serv->total_proc++;
    serv->avail_proc++;
    master_watch_update(serv);
    msg_debug("spawned %s pid %ld for service %s (%d of %d)", serv->path, (long)pid, serv->name,
              serv->total_proc, serv->max_proc);
}

/* Find a live process by pid. */
static struct master_proc *master_proc_find(pid_t pid)
{
    for (struct master_proc *p = master_procs; p; p = p->next)
        if (p->pid == pid)
            return p;
    return NULL;
}

/* Apply one status record from a child of serv. */
static void master_status_apply(struct master_serv *serv, const struct master_status_rec *rec)
{
    struct master_proc *p = master_proc_find(rec->pid);

    if (p == NULL || p->serv != serv || p->generation != rec->generation) {
        msg_warn("service %s: status record from unknown process %ld generation %lu", serv->name,
                 (long)rec->pid, rec->generation);
        return;
    }
    p->ready = true;
    if (rec->status == MASTER_STATUS_BUSY && p->state != MASTER_PROC_BUSY) {
        p->state = MASTER_PROC_BUSY;
        p->use_count++;
        serv->avail_proc--;
    } else if (rec->status == MASTER_STATUS_IDLE && p->state != MASTER_PROC_IDLE) {
        if (p->state == MASTER_PROC_BUSY)
            serv->avail_proc++;
        p->state = MASTER_PROC_IDLE;
    }
    master_watch_update(serv);
    msg_debug("service %s: pid %ld %s (%d available of %d)", serv->name, (long)p->pid,
              master_status_name(rec->status), serv->avail_proc, serv->total_proc);
}

/* Read every pending status record of serv. */
void master_status_drain(struct master_serv *serv)
{
    for (;;) {
        char data[MASTER_STATUS_MAX + 1];
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(struct ucred))];
        } control;
        struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control.buf,
                             .msg_controllen = sizeof(control.buf)};
        struct master_status_rec rec;
        struct ucred cred = {.pid = 0};
        const char *why;
        ssize_t n;

        if (serv->status_fd < 0)
            return;
        n = recvmsg(serv->status_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                msg_warn("service %s: status socket: %m", serv->name);
            return;
        }
        if (n == 0)
            return;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                c->cmsg_len >= CMSG_LEN(sizeof(cred)))
                memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        if ((msg.msg_flags & MSG_TRUNC) || master_status_parse(data, (size_t)n, &rec, &why) < 0) {
            msg_warn("service %s: malformed status record from pid %ld: %s", serv->name,
                     (long)cred.pid, (msg.msg_flags & MSG_TRUNC) ? "too long" : why);
            continue;
        }
        if (cred.pid != rec.pid) {
            msg_warn("service %s: status record for pid %ld sent by pid %ld: ignored", serv->name,
                     (long)rec.pid, (long)cred.pid);
            continue;
        }
        master_status_apply(serv, &rec);
    }
}

/* The status socket of serv is readable. */
static void master_status_ready(int fd, int events, void *ctx)
{
    (void)fd;
    (void)events;
    master_status_drain(ctx);
}

/* Log how a process ended, unless it was a normal end. */
static void master_log_exit(const struct master_proc *p, int status, bool stopping)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);

        if (!(stopping && (sig == SIGTERM || sig == SIGKILL)))
            msg_warn("process %s pid %ld killed by signal %d", p->path, (long)p->pid, sig);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        msg_warn("process %s pid %ld exit status %d%s", p->path, (long)p->pid, WEXITSTATUS(status),
                 WEXITSTATUS(status) == MASTER_EXIT_WATCHDOG ? " (watchdog timeout)" : "");
    } else {
        msg_debug("process %s pid %ld exited after %lu clients", p->path, (long)p->pid,
                  p->use_count);
    }
}

/* Collect every child that ended; stopping: during shutdown (quieter, no throttling). */
void master_reap(bool stopping)
{
    pid_t pid;
    int status;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct master_proc **pp, *p;

        for (pp = &master_procs; *pp && (*pp)->pid != pid; pp = &(*pp)->next)
            ;
        if ((p = *pp) == NULL)
            continue;
        *pp = p->next;
        master_nprocs--;
        master_log_exit(p, status, stopping);
        if (p->serv) {
            struct master_serv *serv = p->serv;

            serv->total_proc--;
            if (p->state != MASTER_PROC_BUSY)
                serv->avail_proc--;
            if (!p->ready && !stopping && !serv->throttled) {
                msg_warn("%s: bad command startup -- throttling", p->path);
                master_throttle(serv);
            }
            master_watch_update(serv);
            /* A service that runs by wakeup (qmgr, pickup) must not stay dead until its next period. */
            if (!stopping && serv->total_proc == 0 && !serv->throttled &&
                !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                master_wakeup_start(serv);
        }
        mem_free(p->path);
        mem_free(p);
    }
}
