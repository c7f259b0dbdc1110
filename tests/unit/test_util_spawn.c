/*
 * Unit tests for lib/util/spawn: exit-status text, exec failures reported
 * by step, descriptor mapping (including a swap), closing of unmapped
 * descriptors, environment, /dev/null stdio, cwd, signal reset, credential
 * switch (as root), wait with timeout.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util/buf.h"
#include "lib/util/clock.h"
#include "lib/util/spawn.h"
#include "tests/unit/test.h"

/* Run /bin/sh -c script with stdout captured; returns the wait status or -1. */
static int run_sh(const char *script, struct spawn_opts *o, struct buf *out, const char **why_r)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    struct spawn_fd fds[8];
    int p[2];
    pid_t pid;
    int status = -1;
    char tmp[512];
    ssize_t n;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    fds[0].from = p[1];
    fds[0].to = 1;
    for (size_t i = 0; i < o->nfds && i < 7; i++)
        fds[i + 1] = o->fds[i];
    o->path = "/bin/sh";
    o->argv = argv;
    o->fds = fds;
    o->nfds = o->nfds + 1;
    pid = spawn_start(o, why_r);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return -1;
    }
    buf_reset(out);
    while ((n = read(p[0], tmp, sizeof(tmp))) > 0)
        buf_append(out, tmp, (size_t)n);
    close(p[0]);
    if (spawn_wait(pid, &status, false) != 1)
        return -1;
    return status;
}

static void test_status_text(void)
{
    char b[64];

    CHECK_STREQ(spawn_status_text(0, b, sizeof(b)), "exit status 0");
    CHECK_STREQ(spawn_status_text(0x100, b, sizeof(b)), "exit status 1");
    CHECK_STREQ(spawn_status_text(0xff00, b, sizeof(b)), "exit status 255");
    CHECK_STREQ(spawn_status_text(9, b, sizeof(b)), "killed by signal 9");
    CHECK_STREQ(spawn_status_text(0x80 | 11, b, sizeof(b)), "killed by signal 11 (core dumped)");
    CHECK_STREQ(spawn_status_text((19 << 8) | 0x7f, b, sizeof(b)), "stopped by signal 19");
    CHECK_STREQ(spawn_status_text(9, b, 8), "killed ");
}

static void test_exit_and_signal(void)
{
    struct buf *out = buf_create(0);
    struct spawn_opts o = {0};
    const char *why = NULL;
    char b[64];
    int st;

    st = run_sh("echo hello; exit 3", &o, out, &why);
    CHECK_STREQ(spawn_status_text(st, b, sizeof(b)), "exit status 3");
    CHECK_STREQ(buf_str(out), "hello\n");

    memset(&o, 0, sizeof(o));
    st = run_sh("kill -9 $$", &o, out, &why);
    CHECK_STREQ(spawn_status_text(st, b, sizeof(b)), "killed by signal 9");

    /* A signal this process ignores is back to default in the child. */
    signal(SIGUSR1, SIG_IGN);
    memset(&o, 0, sizeof(o));
    st = run_sh("kill -USR1 $$; exit 0", &o, out, &why);
    snprintf(b, sizeof(b), "killed by signal %d", SIGUSR1);
    {
        char t[64];

        CHECK_STREQ(spawn_status_text(st, t, sizeof(t)), b);
    }
    signal(SIGUSR1, SIG_DFL);
    buf_free(&out);
}

static void test_exec_failures(void)
{
    char *argv[] = {"nope", NULL};
    struct spawn_opts o = {0};
    struct buf *out = buf_create(0);
    const char *why = NULL;
    long long t0;

    o.path = "/nonexistent/program";
    o.argv = argv;
    CHECK_INTEQ(spawn_start(&o, &why), -1);
    CHECK_INTEQ(errno, ENOENT);
    CHECK(why != NULL && strstr(why, "exec") != NULL && strstr(why, "/nonexistent/program"));
    /* The failed child was reaped. */
    CHECK_INTEQ(spawn_wait(-1, NULL, true), -1);
    CHECK_INTEQ(errno, ECHILD);

    o.path = "/etc/passwd"; /* not executable */
    CHECK_INTEQ(spawn_start(&o, &why), -1);
    CHECK_INTEQ(errno, EACCES);

    memset(&o, 0, sizeof(o));
    o.cwd = "/nonexistent";
    CHECK_INTEQ(run_sh("exit 0", &o, out, &why), -1);
    CHECK(strstr(why, "chdir") != NULL);

    memset(&o, 0, sizeof(o));
    o.argv = NULL;
    CHECK_INTEQ(spawn_start(&o, &why), -1);

    /* A mapping from a closed descriptor fails at dup. */
    {
        struct spawn_fd bad = {999, 5};

        memset(&o, 0, sizeof(o));
        o.fds = &bad;
        o.nfds = 1;
        t0 = clock_now_ms();
        CHECK_INTEQ(run_sh("exit 0", &o, out, &why), -1);
        CHECK(strstr(why, "dup2") != NULL);
        CHECK(clock_now_ms() - t0 < 5000);
    }
    buf_free(&out);
}

static void test_fd_mapping(void)
{
    struct spawn_opts o = {0};
    struct buf *out = buf_create(0);
    const char *why = NULL;
    int p[2], q[2];
    int st;
    char got[16];

    /* Swap: the pipe at 7 appears at 8 in the child and vice versa. */
    CHECK_INTEQ(pipe(p), 0);
    CHECK_INTEQ(pipe(q), 0);
    CHECK_INTEQ(dup2(p[1], 7), 7);
    CHECK_INTEQ(dup2(q[1], 8), 8);
    close(p[1]);
    close(q[1]);
    {
        struct spawn_fd fds[] = {{7, 8}, {8, 7}};

        o.fds = fds;
        o.nfds = 2;
        st = run_sh("echo P >&8; echo Q >&7", &o, out, &why);
        CHECK_INTEQ(st, 0);
    }
    close(7);
    close(8);
    memset(got, 0, sizeof(got));
    CHECK_INTEQ(read(p[0], got, sizeof(got) - 1), 2);
    CHECK_STREQ(got, "P\n");
    memset(got, 0, sizeof(got));
    CHECK_INTEQ(read(q[0], got, sizeof(got) - 1), 2);
    CHECK_STREQ(got, "Q\n");
    close(p[0]);
    close(q[0]);

    /* Unmapped descriptors are closed in the child, even without FD_CLOEXEC. */
    CHECK_INTEQ(dup2(0, 9), 9);
    CHECK(!(fcntl(9, F_GETFD) & FD_CLOEXEC));
    memset(&o, 0, sizeof(o));
    st = run_sh("if [ -e /proc/self/fd/9 ]; then echo open; else echo closed; fi", &o, out, &why);
    CHECK_INTEQ(st, 0);
    CHECK_STREQ(buf_str(out), "closed\n");
    /* ...and a mapped one is there. */
    {
        struct spawn_fd fds[] = {{9, 5}};

        memset(&o, 0, sizeof(o));
        o.fds = fds;
        o.nfds = 1;
        st = run_sh("[ -e /proc/self/fd/5 ] && echo open", &o, out, &why);
        CHECK_STREQ(buf_str(out), "open\n");
    }
    /* from -1 closes the target. */
    {
        struct spawn_fd fds[] = {{-1, 2}};

        memset(&o, 0, sizeof(o));
        o.fds = fds;
        o.nfds = 1;
        st = run_sh("[ -e /proc/self/fd/2 ] || echo no-stderr", &o, out, &why);
        CHECK_STREQ(buf_str(out), "no-stderr\n");
    }
    close(9);
    buf_free(&out);
}

static void test_env_stdio_cwd(void)
{
    char *envp[] = {"FOO=bar baz", NULL};
    struct spawn_opts o = {0};
    struct buf *out = buf_create(0);
    const char *why = NULL;
    int st;

    o.envp = envp;
    st = run_sh("echo \"$FOO|${HOME-unset}\"", &o, out, &why);
    CHECK_INTEQ(st, 0);
    CHECK_STREQ(buf_str(out), "bar baz|unset\n");

    memset(&o, 0, sizeof(o));
    o.null_stdio = true;
    o.cwd = "/";
    st = run_sh("read x; echo \"[$x] $(pwd)\"; readlink /proc/self/fd/0 /proc/self/fd/2", &o,
                out, &why);
    CHECK_STREQ(buf_str(out), "[] /\n/dev/null\n/dev/null\n");

    memset(&o, 0, sizeof(o));
    o.new_session = true;
    st = run_sh("[ \"$(cut -d' ' -f6 /proc/$$/stat)\" = $$ ] && echo leader", &o, out, &why);
    CHECK_STREQ(buf_str(out), "leader\n");
    memset(&o, 0, sizeof(o));
    st = run_sh("[ \"$(cut -d' ' -f6 /proc/$$/stat)\" = $$ ] || echo member", &o, out, &why);
    CHECK_STREQ(buf_str(out), "member\n");
    buf_free(&out);
}

static void test_set_ids(void)
{
    struct spawn_opts o = {0};
    struct buf *out = buf_create(0);
    const char *why = NULL;
    int st;

    o.set_ids = true;
    o.uid = 65534;
    o.gid = 65534;
    if (geteuid() != 0) {
        /* Not root: the switch must fail, never run as the wrong user. */
        CHECK_INTEQ(run_sh("echo ran", &o, out, &why), -1);
        CHECK(strstr(why, "set") != NULL);
        buf_free(&out);
        return;
    }
    st = run_sh("echo $(id -u) $(id -g) $(id -G)", &o, out, &why);
    CHECK_INTEQ(st, 0);
    CHECK_STREQ(buf_str(out), "65534 65534 65534\n");
    buf_free(&out);
}

static void test_wait_timeout(void)
{
    char *argv[] = {"sleep", "10", NULL};
    struct spawn_opts o = {0};
    const char *why = NULL;
    long long t0;
    int status = 0;
    char b[64];
    pid_t pid;

    o.path = "/bin/sleep";
    o.argv = argv;
    o.null_stdio = true;
    pid = spawn_start(&o, &why);
    CHECK(pid > 0);
    if (pid <= 0)
        return;
    CHECK_INTEQ(spawn_wait(pid, &status, true), 0);
    t0 = clock_now_ms();
    CHECK_INTEQ(spawn_wait_timeout(pid, &status, 150), 0);
    CHECK(clock_now_ms() - t0 >= 140);
    kill(pid, SIGTERM);
    CHECK_INTEQ(spawn_wait_timeout(pid, &status, 5000), 1);
    CHECK_STREQ(spawn_status_text(status, b, sizeof(b)), "killed by signal 15");
    CHECK_INTEQ(spawn_wait(pid, &status, false), -1);
    CHECK_INTEQ(errno, ECHILD);
}

int main(void)
{
    TEST_RUN(test_status_text);
    TEST_RUN(test_exit_and_signal);
    TEST_RUN(test_exec_failures);
    TEST_RUN(test_fd_mapping);
    TEST_RUN(test_env_stdio_cwd);
    TEST_RUN(test_set_ids);
    TEST_RUN(test_wait_timeout);
    return test_summary();
}
