/*
 * server - the daemon skeleton: options, main.cf, logging, chroot,
 * privilege drop, and the one-client-at-a-time accept loop with its status
 * reports to master (the contract is lib/mail/master_proto.h).
 *
 * Security notes:
 * - Privileges are dropped for good (real, effective and saved ids and the
 *   supplementary groups), each step checked, and the result verified; any
 *   failure is fatal, so a network-facing process never goes on as root.
 * - Everything that needs root (opening tables or keys readable only by
 *   root, the log file, syslog's socket before a chroot) happens in
 *   pre_init, before the drop.
 * - SIGPIPE is ignored: a client that disconnects is an I/O error, not a
 *   reason to die.
 * - The watchdog (alarm(daemon_timeout)) ends a process that is stuck in
 *   one client or one hook; it exits with MASTER_EXIT_WATCHDOG so master can
 *   say why.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/master_proto.h"
#include "lib/mail/server.h"
#include "lib/mail/server_priv.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

#define SERVER_GETOPT "cDn:o:s:t:uv"

static const char *server_name;      /* -n */
static const char *server_type = ""; /* -t */
static bool server_unpriv;           /* dropped to mail_owner */
static unsigned long server_generation;

/* The master.cf service name (-n), or the program name. */
const char *server_service_name(void)
{
    return server_name ? server_name : msg_service();
}

/* The service type (-t): "inet", "unix", ... */
const char *server_service_type(void)
{
    return server_type;
}

/* True when this process dropped privileges to mail_owner. */
bool server_unprivileged(void)
{
    return server_unpriv;
}

/* Watchdog: a process stuck for daemon_timeout seconds ends here. */
static void server_watchdog(int sig)
{
    static const char text[] = "fatal: watchdog timeout\n";

    (void)sig;
    /* Only async-signal-safe calls; stderr is master's (or /dev/null). */
    (void)!write(STDERR_FILENO, text, sizeof(text) - 1);
    _exit(MASTER_EXIT_WATCHDOG);
}

/* Install the daemon_timeout watchdog (SIGALRM); arm it with alarm(). */
void server_watchdog_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = server_watchdog;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
}

/* Become uid/gid for good, every step checked and verified. */
int server_drop_privileges(uid_t uid, gid_t gid, const char **why_r)
{
    static char why[256];
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    gid_t groups[2];
    int n;

    if (setgroups(1, &gid) < 0) {
        snprintf(why, sizeof(why), "setgroups(%ld): %s", (long)gid, strerror(errno));
        goto fail;
    }
    if (setresgid(gid, gid, gid) < 0) {
        snprintf(why, sizeof(why), "setresgid(%ld): %s", (long)gid, strerror(errno));
        goto fail;
    }
    if (setresuid(uid, uid, uid) < 0) {
        snprintf(why, sizeof(why), "setresuid(%ld): %s", (long)uid, strerror(errno));
        goto fail;
    }
    if (getresuid(&ruid, &euid, &suid) < 0 || ruid != uid || euid != uid || suid != uid) {
        snprintf(why, sizeof(why), "user ids are not all %ld after setresuid", (long)uid);
        goto fail;
    }
    if (getresgid(&rgid, &egid, &sgid) < 0 || rgid != gid || egid != gid || sgid != gid) {
        snprintf(why, sizeof(why), "group ids are not all %ld after setresgid", (long)gid);
        goto fail;
    }
    n = getgroups(2, groups);
    if (n < 0 || n > 1 || (n == 1 && groups[0] != gid)) {
        snprintf(why, sizeof(why), "supplementary groups are not just %ld", (long)gid);
        goto fail;
    }
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        snprintf(why, sizeof(why), "root privileges could be regained after the drop");
        goto fail;
    }
    return 0;

fail:
    *why_r = why;
    return -1;
}

/* Parse the command line; usage errors are fatal. */
static void server_parse_args(int argc, char **argv, const struct server_options *opts,
                              struct server_args *args)
{
    struct buf *optstring = buf_create(32);
    const char *why;
    char *end;
    long num;
    int ch;

    args->listen_count = 1;
    args->overrides = argv_create(4);
    buf_puts(optstring, "+" SERVER_GETOPT);
    if (opts->getopt) {
        for (const char *p = opts->getopt; *p; p++)
            if (*p != ':' && strchr(SERVER_GETOPT, *p) != NULL)
                msg_panic("daemon option -%c clashes with a skeleton option", *p);
        buf_puts(optstring, opts->getopt);
    }
    opterr = 0;
    while ((ch = getopt(argc, argv, buf_str(optstring))) != -1) {
        switch (ch) {
        case 'c':
            args->chroot = true;
            break;
        case 'D':
            args->debug = true;
            break;
        case 'n':
            args->service = optarg;
            break;
        case 'o':
            if (strchr(optarg, '=') == NULL || optarg[0] == '=')
                msg_fatal("bad -o argument \"%s\": expected name=value", optarg);
            argv_add(args->overrides, optarg);
            break;
        case 's':
            errno = 0;
            num = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || num < 1 || num > MASTER_LISTEN_MAX)
                msg_fatal("bad -s argument \"%s\": expected 1..%d", optarg, MASTER_LISTEN_MAX);
            args->listen_count = (int)num;
            break;
        case 't':
            args->type = optarg;
            break;
        case 'u':
            args->unpriv = true;
            break;
        case 'v':
            msg_verbose++;
            break;
        case '?':
            msg_fatal("unknown option -%c or missing argument", optopt);
        default:
            if (opts->option == NULL)
                msg_panic("option -%c without an option callback", ch);
            if (opts->option(ch, optarg, &why) < 0)
                msg_fatal("option -%c: %s", ch, why);
            break;
        }
    }
    args->rest = argv + optind;
    buf_free(&optstring);
}

/* Read main.cf and apply the -o overrides; configuration errors are fatal. */
static void server_read_config(const struct server_args *args)
{
    const char *why;

    if (config_read(config_dir_default(), &why) < 0)
        msg_fatal("%s", why);
    for (size_t i = 0; i < args->overrides->argc; i++) {
        char *name = mem_strdup(args->overrides->argv[i]);
        char *eq = strchr(name, '=');

        *eq = '\0';
        if (config_override(name, eq + 1, &why) < 0)
            msg_fatal("-o %s: %s", args->overrides->argv[i], why);
        mem_free(name);
    }
}

/* Check that master handed us the descriptors the contract promises. */
static void server_check_fds(const struct server_args *args)
{
    struct stat st;

    if (fstat(MASTER_STATUS_FD, &st) < 0 || !S_ISSOCK(st.st_mode))
        msg_fatal("descriptor %d is not a status socket: this program is started by master",
                  MASTER_STATUS_FD);
    for (int i = 0; i < args->listen_count; i++)
        if (fstat(MASTER_LISTEN_FD + i, &st) < 0)
            msg_fatal("listening descriptor %d is not open: %m", MASTER_LISTEN_FD + i);
}

/* Everything up to the loop: config, logging, hooks, chroot, privileges. */
void server_init(int argc, char **argv, const struct server_options *opts, struct server_args *args)
{
    const char *program = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    const char *gen = getenv(MASTER_ENV_GENERATION);
    const char *why;
    const char *queue_dir;
    const char *logfile;
    bool root = (getuid() == 0 || geteuid() == 0);
    uid_t uid = 0;
    gid_t gid = 0;

    msg_init(program, MSG_TO_STDERR);
    signal(SIGPIPE, SIG_IGN);
    server_parse_args(argc, argv, opts, args);
    server_name = args->service ? args->service : program;
    server_type = args->type ? args->type : "";
    if (gen)
        server_generation = strtoul(gen, NULL, 10);

    server_read_config(args);
    logfile = config_str("maillog_file");
    if (*logfile && msg_logfile_open(logfile, &why) < 0)
        msg_fatal("open maillog_file %s: %s", logfile, why);
    msg_init(program, MSG_TO_SYSLOG | (args->debug ? MSG_TO_STDERR : 0));
    /* Connect to syslog now: after a chroot /dev/log is out of reach. */
    msg_syslog_open();
    server_check_fds(args);

    if (root && args->unpriv) {
        const char *owner = config_str("mail_owner");
        struct passwd *pw = getpwnam(owner);

        if (pw == NULL)
            msg_fatal("mail_owner: unknown user \"%s\"", owner);
        if (pw->pw_uid == 0)
            msg_fatal("mail_owner \"%s\" must not be root", owner);
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }

    if (opts->pre_init)
        opts->pre_init(server_name, args->rest);

    queue_dir = config_str("queue_directory");
    if (root && args->chroot) {
        if (chroot(queue_dir) < 0)
            msg_fatal("chroot %s: %m", queue_dir);
        if (chdir("/") < 0)
            msg_fatal("chdir / in %s: %m", queue_dir);
    } else if (chdir(queue_dir) < 0) {
        msg_fatal("chdir %s: %m", queue_dir);
    }
    if (root && args->unpriv) {
        if (server_drop_privileges(uid, gid, &why) < 0)
            msg_fatal("dropping privileges: %s", why);
        server_unpriv = true;
    }
    if (opts->post_init)
        opts->post_init(server_name, args->rest);
}

/* The status socket is readable: true when master closed it (or it failed). */
bool server_status_closed(int fd)
{
    char junk[MASTER_STATUS_MAX];
    ssize_t n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);

    /* Master never writes here; data would be a bug, and is ignored. */
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Send a status record; false when master is gone (time to leave). */
bool server_report(enum master_status status)
{
    const char *why;

    if (master_status_send(getpid(), server_generation, status, &why) < 0) {
        msg_debug("status report to master: %s", why);
        return false;
    }
    return true;
}

/* Leave normally: the daemon's exit hook, then exit 0. */
void server_exit(const struct server_options *opts, const struct server_args *args, const char *why)
{
    msg_debug("%s -- exiting", why);
    alarm(0);
    if (opts->pre_exit)
        opts->pre_exit(server_name, args->rest);
    exit(0);
}

/* Run a one-client-at-a-time daemon; never returns. */
void single_server_main(int argc, char **argv, single_server_fn service,
                        const struct server_options *opts)
{
    static const struct server_options no_opts;
    struct server_args args = {0};
    struct pollfd pfd[1 + MASTER_LISTEN_MAX];
    long long max_use, use_count = 0;
    long long max_idle, daemon_timeout;

    if (opts == NULL)
        opts = &no_opts;
    server_init(argc, argv, opts, &args);
    if (strcmp(server_type, "inet") != 0 && strcmp(server_type, "unix") != 0)
        msg_fatal("service %s: type \"%s\" is not supported by this program (inet or unix only)",
                  server_name, server_type);

    max_use = config_int("max_use");
    max_idle = config_time("max_idle");
    daemon_timeout = config_time("daemon_timeout");

    server_watchdog_install();

    pfd[0].fd = MASTER_STATUS_FD;
    pfd[0].events = POLLIN;
    for (int i = 0; i < args.listen_count; i++) {
        pfd[1 + i].fd = MASTER_LISTEN_FD + i;
        pfd[1 + i].events = POLLIN;
    }

    /* The first idle record tells master that initialisation succeeded. */
    if (!server_report(MASTER_STATUS_IDLE))
        server_exit(opts, &args, "master went away");

    for (;;) {
        int client = -1;
        int n;

        if (daemon_timeout > 0)
            alarm((unsigned)daemon_timeout);
        if (opts->pre_accept)
            opts->pre_accept(server_name, args.rest);
        alarm(0);

        n = poll(pfd, 1 + (nfds_t)args.listen_count,
                 max_idle > 0 ? (int)(max_idle > 86400 ? 86400000 : max_idle * 1000) : -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            msg_fatal("poll: %m");
        }
        if (n == 0)
            server_exit(opts, &args, "idle timeout");
        /* Master closed its end: reload or shutdown. Checked before accepting. */
        if (pfd[0].revents && server_status_closed(MASTER_STATUS_FD))
            server_exit(opts, &args, "master closed the status socket");
        for (int i = 0; i < args.listen_count && client < 0; i++) {
            if ((pfd[1 + i].revents & POLLIN) == 0)
                continue;
            /* The listening socket is shared and non-blocking: losing the race is EAGAIN. */
            client = accept4(MASTER_LISTEN_FD + i, NULL, NULL, SOCK_CLOEXEC);
            if (client < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                msg_warn("accept: %m");
        }
        if (client < 0)
            continue;

        if (!server_report(MASTER_STATUS_BUSY)) {
            close(client);
            server_exit(opts, &args, "master went away");
        }
        if (daemon_timeout > 0)
            alarm((unsigned)daemon_timeout);
        service(client, server_name, args.rest);
        alarm(0);
        close(client);
        use_count++;
        if (max_use > 0 && use_count >= max_use)
            server_exit(opts, &args, "max_use reached");
        if (!server_report(MASTER_STATUS_IDLE))
            server_exit(opts, &args, "master went away");
    }
}
