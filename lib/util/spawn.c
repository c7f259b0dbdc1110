/*
 * spawn - fork and exec with a controlled argv, environment, descriptors
 * and credentials; waitpid wrappers; exit status as text.
 *
 * Owns nothing after spawn_start() returns: the caller owns the child.
 *
 * Security notes: the child starts with every signal at its default
 * disposition and an empty signal mask (a daemon's ignored SIGPIPE or its
 * self-pipe handler must not leak into a delivery command), and with every
 * descriptor other than 0-2 and the mapped ones closed at exec, so no
 * listener, queue file or client socket reaches it. Credentials change in
 * the safe order setgroups, setresgid, setresuid, each checked: a failure
 * aborts the exec rather than running the program with the wrong identity.
 * Between fork and exec only async-signal-safe calls are made; the parent
 * blocks all signals around fork so no handler runs in the child before it
 * resets them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util/clock.h"
#include "lib/util/mem.h"
#include "lib/util/spawn.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

/* What failed in the child, reported through the error pipe. */
enum spawn_step {
    SPAWN_STEP_SIGNALS,
    SPAWN_STEP_SETSID,
    SPAWN_STEP_DUP,
    SPAWN_STEP_DEVNULL,
    SPAWN_STEP_SETGROUPS,
    SPAWN_STEP_SETGID,
    SPAWN_STEP_SETUID,
    SPAWN_STEP_CHDIR,
    SPAWN_STEP_EXEC,
};

static const char *const spawn_step_name[] = {
    [SPAWN_STEP_SIGNALS] = "reset signals",
    [SPAWN_STEP_SETSID] = "setsid",
    [SPAWN_STEP_DUP] = "dup2",
    [SPAWN_STEP_DEVNULL] = "open /dev/null",
    [SPAWN_STEP_SETGROUPS] = "setgroups",
    [SPAWN_STEP_SETGID] = "setresgid",
    [SPAWN_STEP_SETUID] = "setresuid",
    [SPAWN_STEP_CHDIR] = "chdir",
    [SPAWN_STEP_EXEC] = "exec",
};

struct spawn_report {
    int step;
    int err;
};

static char spawn_why[512];

/* In the child: report the failed step to the parent and exit. */
static _Noreturn void spawn_child_fail(int errfd, enum spawn_step step)
{
    struct spawn_report r = {(int)step, errno};

    (void)!write(errfd, &r, sizeof(r));
    _exit(127);
}

/* In the child: mark every descriptor from 3 up close-on-exec. */
static void spawn_cloexec_all(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);

    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < max; fd++) {
        int fl = fcntl(fd, F_GETFD);

        if (fl >= 0 && !(fl & FD_CLOEXEC))
            (void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
    }
}

/* In the child: everything between fork and exec. Never returns. */
static _Noreturn void spawn_child(const struct spawn_opts *o, int errfd, int *tmp)
{
    sigset_t none;
    int minfd = 3;
    bool mapped[3] = {false, false, false};

    /* Default dispositions for all signals, then unblock them. */
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP)
            continue;
        if (signal(s, SIG_DFL) == SIG_ERR && errno != EINVAL)
            spawn_child_fail(errfd, SPAWN_STEP_SIGNALS);
    }
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        spawn_child_fail(errfd, SPAWN_STEP_SIGNALS);
    if (o->new_session && setsid() < 0)
        spawn_child_fail(errfd, SPAWN_STEP_SETSID);

    /*
     * Move the sources and the error pipe above every target first, so that
     * installing one mapping never clobbers the source of another.
     */
    for (size_t i = 0; i < o->nfds; i++)
        if (o->fds[i].to >= minfd)
            minfd = o->fds[i].to + 1;
    {
        int e = fcntl(errfd, F_DUPFD_CLOEXEC, minfd);

        if (e < 0)
            spawn_child_fail(errfd, SPAWN_STEP_DUP);
        errfd = e;
    }
    for (size_t i = 0; i < o->nfds; i++) {
        tmp[i] = -1;
        if (o->fds[i].from >= 0 && (tmp[i] = fcntl(o->fds[i].from, F_DUPFD_CLOEXEC, minfd)) < 0)
            spawn_child_fail(errfd, SPAWN_STEP_DUP);
    }
    spawn_cloexec_all();
    for (size_t i = 0; i < o->nfds; i++) {
        int to = o->fds[i].to;

        if (to >= 0 && to <= 2)
            mapped[to] = true;
        if (tmp[i] < 0) {
            (void)close(to); /* from -1: the child must not have "to" */
            continue;
        }
        /* dup2 clears FD_CLOEXEC on the new descriptor: it survives exec. */
        if (dup2(tmp[i], to) < 0)
            spawn_child_fail(errfd, SPAWN_STEP_DUP);
    }
    if (o->null_stdio && !(mapped[0] && mapped[1] && mapped[2])) {
        int nullfd = open("/dev/null", O_RDWR);

        if (nullfd < 0)
            spawn_child_fail(errfd, SPAWN_STEP_DEVNULL);
        for (int t = 0; t <= 2; t++)
            if (!mapped[t] && t != nullfd && dup2(nullfd, t) < 0)
                spawn_child_fail(errfd, SPAWN_STEP_DEVNULL);
        if (nullfd > 2)
            (void)close(nullfd);
    }
    if (o->set_ids) {
        if ((o->groups != NULL ? setgroups(o->ngroups, o->groups) : setgroups(1, &o->gid)) < 0)
            spawn_child_fail(errfd, SPAWN_STEP_SETGROUPS);
        if (setresgid(o->gid, o->gid, o->gid) < 0)
            spawn_child_fail(errfd, SPAWN_STEP_SETGID);
        if (setresuid(o->uid, o->uid, o->uid) < 0)
            spawn_child_fail(errfd, SPAWN_STEP_SETUID);
    }
    if (o->cwd != NULL && chdir(o->cwd) < 0)
        spawn_child_fail(errfd, SPAWN_STEP_CHDIR);
    execve(o->path, o->argv, o->envp ? o->envp : environ);
    spawn_child_fail(errfd, SPAWN_STEP_EXEC);
}

/*
 * Start opts->path in a child process as described by opts. Returns the
 * child's pid, or -1 with the reason (fork, or the step that failed in the
 * child, whose exit has then already been reaped).
 */
pid_t spawn_start(const struct spawn_opts *o, const char **why_r)
{
    struct spawn_report r;
    sigset_t all, old;
    int errpipe[2];
    int *tmp;
    pid_t pid;
    ssize_t n;

    if (o->path == NULL || o->argv == NULL || o->argv[0] == NULL) {
        *why_r = "spawn: no program or empty argv";
        errno = EINVAL;
        return -1;
    }
    if (pipe2(errpipe, O_CLOEXEC) < 0) {
        snprintf(spawn_why, sizeof(spawn_why), "spawn %s: pipe: %m", o->path);
        *why_r = spawn_why;
        return -1;
    }
    tmp = mem_alloc_array(o->nfds + 1, sizeof(*tmp));
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid = fork();
    if (pid == 0) {
        (void)close(errpipe[0]);
        spawn_child(o, errpipe[1], tmp);
    }
    {
        int saved_errno = errno;

        sigprocmask(SIG_SETMASK, &old, NULL);
        mem_free(tmp);
        (void)close(errpipe[1]);
        errno = saved_errno;
    }
    if (pid < 0) {
        snprintf(spawn_why, sizeof(spawn_why), "spawn %s: fork: %m", o->path);
        *why_r = spawn_why;
        (void)close(errpipe[0]);
        return -1;
    }
    /* EOF: exec succeeded (the pipe closed on exec). A report: it failed. */
    do
        n = read(errpipe[0], &r, sizeof(r));
    while (n < 0 && errno == EINTR);
    (void)close(errpipe[0]);
    if (n == (ssize_t)sizeof(r)) {
        const char *step = r.step >= 0 && (size_t)r.step < sizeof(spawn_step_name)
                                                                 / sizeof(spawn_step_name[0])
                               ? spawn_step_name[r.step]
                               : "setup";

        snprintf(spawn_why, sizeof(spawn_why), "spawn %s: %s: %s", o->path, step,
                 strerror(r.err));
        *why_r = spawn_why;
        (void)spawn_wait(pid, NULL, false);
        errno = r.err;
        return -1;
    }
    return pid;
}

/*
 * waitpid(pid) retrying EINTR. 1 reaped (status in *status_r if not NULL),
 * 0 still running (nohang only), -1 error (errno, e.g. ECHILD).
 */
int spawn_wait(pid_t pid, int *status_r, bool nohang)
{
    int status = 0;
    pid_t r;

    do
        r = waitpid(pid, &status, nohang ? WNOHANG : 0);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    if (r == 0)
        return 0;
    if (status_r != NULL)
        *status_r = status;
    return 1;
}

/* Wait at most timeout_ms for pid to end: 1 reaped, 0 timed out, -1 error. */
int spawn_wait_timeout(pid_t pid, int *status_r, int timeout_ms)
{
    long long deadline = clock_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int r;
#ifdef SYS_pidfd_open
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

    if (pidfd >= 0) {
        /* The pidfd becomes readable when the process ends. */
        for (;;) {
            struct pollfd p = {pidfd, POLLIN, 0};
            int n = poll(&p, 1, (int)clock_remaining_ms(deadline));

            if (n > 0 || (n == 0 && clock_remaining_ms(deadline) == 0))
                break;
            if (n < 0 && errno != EINTR)
                break;
        }
        (void)close(pidfd);
        return spawn_wait(pid, status_r, true);
    }
#endif
    /* No pidfd: poll waitpid with growing naps. */
    for (long nap_us = 1000;; nap_us = nap_us < 50000 ? nap_us * 2 : 50000) {
        long long left;

        r = spawn_wait(pid, status_r, true);
        if (r != 0)
            return r;
        left = clock_remaining_ms(deadline);
        if (left == 0)
            return 0;
        if (nap_us / 1000 > left)
            nap_us = (long)left * 1000;
        usleep((useconds_t)nap_us);
    }
}

/* "exit status 1", "killed by signal 9" (plus " (core dumped)"), into buf. */
const char *spawn_status_text(int status, char *buf, size_t size)
{
    if (WIFEXITED(status))
        snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d%s", WTERMSIG(status),
                 WCOREDUMP(status) ? " (core dumped)" : "");
    else if (WIFSTOPPED(status))
        snprintf(buf, size, "stopped by signal %d", WSTOPSIG(status));
    else
        snprintf(buf, size, "unknown wait status 0x%x", (unsigned)status);
    return buf;
}
