/*
 * master - the Postel supervisor: reads main.cf and master.cf, owns every
 * listening socket, spawns service processes on demand within maxproc,
 * restarts them, throttles broken ones, wakes timer-driven services,
 * reloads on SIGHUP and stops everything on SIGTERM.
 *
 * One master per configuration: the pid file
 * $queue_directory/$process_id_directory/master.pid is locked (fcntl) for
 * master's whole life. Without -f master becomes a daemon and its parent
 * exits 0 only after the daemon holds that lock and has bound every
 * socket, so "postel start" can report failure.
 *
 * Security notes: master reads only root-owned configuration and trusts
 * nothing a child says beyond its status records (see master_spawn.c).
 * Signal handlers only write to a self-pipe (lib/util/event.c). A bad
 * configuration at start is reported before anything is bound or started;
 * on SIGHUP it is logged and the running configuration stays.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/mastercf.h"
#include "lib/mail/queue_file.h"
#include "lib/util/buf.h"
#include "lib/util/clock.h"
#include "lib/util/event.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "master/master.h"

static struct master_serv *master_services;
static char *master_dir; /* the configuration directory, absolute */
static char *master_pid_path;
static int master_pid_fd = -1;
static bool master_debug;    /* -d: keep logging to standard error */
static bool master_stopping; /* SIGTERM: shutting down */
static int master_stop_sig;

/* Print usage and exit. */
static _Noreturn void master_usage(void)
{
    msg_fatal("usage: master [-c config_dir] [-f] [-t] [-v] [-d]");
}

/* Read master.cf and main.cf and build the service list; 0 or -1 with *why_r. */
static int master_read_config(struct master_serv **list_r, const char **why_r)
{
    struct buf *path = buf_create(64);
    struct mastercf *cf;
    int ret;

    /* master.cf first: a bad master.cf must not leave a half-applied main.cf. */
    buf_printf(path, "%s/master.cf", master_dir);
    cf = mastercf_read(buf_str(path), why_r);
    buf_free(&path);
    if (cf == NULL)
        return -1;
    if (config_read(master_dir, why_r) < 0) {
        mastercf_free(&cf);
        return -1;
    }
    ret = master_conf_build(cf, list_r, why_r);
    mastercf_free(&cf);
    return ret;
}

/* $queue_directory/$process_id_directory/master.pid */
static char *master_pid_file(void)
{
    const char *dir = config_str("process_id_directory");
    struct buf *path = buf_create(64);

    if (*dir == '/')
        buf_printf(path, "%s/master.pid", dir);
    else
        buf_printf(path, "%s/%s/master.pid", config_str("queue_directory"), dir);
    return buf_export(&path);
}

/* The pid of the master holding the lock on path, or 0 if none. */
static long master_pid_holder(const char *path)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return 0;
    if (fcntl(fd, F_GETLK, &fl) < 0 || fl.l_type == F_UNLCK) {
        close(fd);
        return 0;
    }
    close(fd);
    return fl.l_pid > 0 ? (long)fl.l_pid : 1;
}

/* Create dir if missing (mode, owner); fatal when that fails. */
static void master_mkdir(const char *dir, mode_t mode, uid_t uid, gid_t gid, bool chown_it)
{
    struct stat st;

    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            msg_fatal("%s exists and is not a directory", dir);
        return;
    }
    if (errno != ENOENT)
        msg_fatal("%s: %m", dir);
    if (mkdir(dir, mode) < 0 && errno != EEXIST)
        msg_fatal("mkdir %s: %m", dir);
    if (chmod(dir, mode) < 0)
        msg_fatal("chmod %s: %m", dir);
    if (chown_it && chown(dir, uid, gid) < 0)
        msg_fatal("chown %s: %m", dir);
}

/* Check the queue directory and create pid/, private/ and public/ if missing. */
static void master_directories(void)
{
    const char *queue = config_str("queue_directory");
    bool root = geteuid() == 0;
    uid_t uid = 0;
    gid_t gid = 0, pub_gid;
    struct stat st;
    struct buf *dir = buf_create(64);
    char *slash;

    if (stat(queue, &st) < 0)
        msg_fatal("queue_directory %s: %m", queue);
    if (!S_ISDIR(st.st_mode))
        msg_fatal("queue_directory %s: not a directory", queue);
    if (root) {
        struct passwd *pw = getpwnam(config_str("mail_owner"));

        if (pw == NULL)
            msg_fatal("mail_owner: unknown user \"%s\"", config_str("mail_owner"));
        if (pw->pw_uid == 0)
            msg_fatal("mail_owner \"%s\" must not be root", config_str("mail_owner"));
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    buf_set(dir, master_pid_path);
    if ((slash = strrchr(buf_str(dir), '/')) != NULL) {
        buf_truncate(dir, (size_t)(slash - buf_str(dir)));
        master_mkdir(buf_str(dir), 0755, 0, 0, false);
    }
    buf_reset(dir);
    buf_printf(dir, "%s/private", queue);
    master_mkdir(buf_str(dir), 0700, uid, gid, root);
    buf_reset(dir);
    buf_printf(dir, "%s/public", queue);
    {
        struct group *gr = root ? getgrnam(config_str("setgid_group")) : NULL;

        pub_gid = gr ? gr->gr_gid : gid;
        master_mkdir(buf_str(dir), gr ? 0710 : 0755, uid, pub_gid, root);
    }
    buf_free(&dir);
}

/* Take the pid file lock and write our pid; fatal if another master runs. */
static void master_pid_lock(void)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    char text[32];
    int fd, len;

    fd = open(master_pid_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        msg_fatal("open %s: %m", master_pid_path);
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        long pid;

        if (errno != EAGAIN && errno != EACCES)
            msg_fatal("lock %s: %m", master_pid_path);
        close(fd);
        pid = master_pid_holder(master_pid_path);
        msg_fatal("the Postel mail system is already running (pid %ld)", pid);
    }
    len = snprintf(text, sizeof(text), "%10ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)len, 0) != len)
        msg_fatal("write %s: %m", master_pid_path);
    master_pid_fd = fd;
}

/*
 * Remove unfinished queue files (incoming/<id>.tmp) at start. Holding the
 * pid lock, master knows that no smtpd or pickup of this configuration is
 * writing one (DESIGN: ".tmp files are removed at start"); qmgr removes old
 * ones while the system runs.
 */
static void master_clean_incoming(void)
{
    struct buf *dir = buf_create(0);
    struct stat st;
    const char *why;

    buf_printf(dir, "%s/%s", config_str("queue_directory"), QUEUE_DIR_INCOMING);
    if (stat(buf_str(dir), &st) == 0 && S_ISDIR(st.st_mode) &&
        queue_file_clean_tmp(buf_str(dir), 0, &why) < 0)
        msg_warn("%s", why);
    buf_free(&dir);
}

/* Remove the pid file if we hold it. */
static void master_pid_remove(void)
{
    if (master_pid_fd < 0)
        return;
    (void)unlink(master_pid_path);
    close(master_pid_fd);
    master_pid_fd = -1;
}

/* msg_fatal cleanup: stop children, remove sockets and the pid file. */
static void master_cleanup(void)
{
    master_kill_all(SIGTERM);
    for (struct master_serv *s = master_services; s; s = s->next)
        master_listen_close(s);
    master_pid_remove();
}

/* Open (or reopen) maillog_file. */
static void master_logfile(void)
{
    const char *path = config_str("maillog_file");
    const char *why;

    if (*path == '\0') {
        msg_logfile_close();
        return;
    }
    if (msg_logfile_open(path, &why) < 0)
        msg_error("open maillog_file %s: %s", path, why);
}

/* Bind every service, all or nothing (start-up). */
static void master_bind_all(void)
{
    const char *why;

    for (struct master_serv *s = master_services; s; s = s->next) {
        if (master_listen_open(s, &why) < 0)
            msg_fatal("%s: service %s: %s", s->where, s->name, why);
        if (master_status_open(s, &why) < 0)
            msg_fatal("service %s: status socket: %s", s->name, why);
        master_wakeup_start(s);
    }
}

/* Find a service by type and name. */
static struct master_serv *master_find(struct master_serv *list, enum mastercf_type type,
                                       const char *name)
{
    for (; list; list = list->next)
        if (list->type == type && strcmp(list->name, name) == 0)
            return list;
    return NULL;
}

/* SIGHUP: new configuration, new generation of every service. */
static void master_reload(void)
{
    struct master_serv *list, *s, *old, *next;
    const char *why;

    if (master_read_config(&list, &why) < 0) {
        msg_error("reload failed: %s -- keeping the running configuration", why);
        return;
    }
    /* Keep the sockets of services that listen where they listened. */
    for (s = list; s; s = s->next) {
        old = master_find(master_services, s->type, s->name);
        if (old && old->listen_count > 0 && strcmp(old->listen_key, s->listen_key) == 0) {
            master_watch_off(old);
            memcpy(s->listen_fds, old->listen_fds, sizeof(s->listen_fds));
            s->listen_count = old->listen_count;
            old->listen_count = 0;
        }
    }
    /* Old generation: children finish their client and exit; other sockets go. */
    for (old = master_services; old; old = next) {
        next = old->next;
        master_serv_stop(old);
        master_serv_free(&old);
    }
    master_services = list;
    for (s = list; s; s = s->next) {
        if (s->listen_count == 0 && master_listen_open(s, &why) < 0)
            msg_error("%s: service %s: %s -- service not started", s->where, s->name, why);
        if (master_status_open(s, &why) < 0)
            msg_error("service %s: status socket: %s", s->name, why);
        master_wakeup_start(s);
    }
    master_logfile();
    master_set_environment(master_dir);
    msg_info("reload -- version %s, configuration %s", PACKAGE_VERSION, master_dir);
}

/* After SIGTERM/SIGINT: stop every child (SIGTERM, later SIGKILL), clean up, exit 0. */
static _Noreturn void master_stop(int sig)
{
    long long deadline;
    bool killed = false;

    msg_info("terminating on signal %d", sig);
    for (struct master_serv *s = master_services; s; s = s->next)
        master_serv_stop(s);
    master_kill_all(SIGTERM);
    deadline = clock_now_ms() + MASTER_KILL_DELAY * 1000;
    for (;;) {
        long long left;

        master_reap(true);
        if (master_proc_count() == 0)
            break;
        if ((left = clock_remaining_ms(deadline)) <= 0) {
            if (killed)
                msg_fatal("%zu processes survive SIGKILL", master_proc_count());
            msg_warn("%zu processes still running after %d seconds: sending SIGKILL",
                     master_proc_count(), MASTER_KILL_DELAY);
            master_kill_all(SIGKILL);
            killed = true;
            deadline = clock_now_ms() + 10 * 1000;
            continue;
        }
        /* SIGCHLD ends the wait early (master_signal reaps). */
        if (event_loop_run_once(master_events, left > 1000 ? 1000 : left) < 0 && errno != EINTR)
            msg_fatal("event loop: %m");
    }
    master_pid_remove();
    master_serv_free_list(&master_services);
    event_loop_free(&master_events);
    exit(0);
}

/* Signals, delivered by the event loop outside signal context. */
static void master_signal(int sig, void *ctx)
{
    (void)ctx;
    switch (sig) {
    case SIGCHLD:
        /* Records a child sent before it died come before its death. */
        for (struct master_serv *s = master_services; s; s = s->next)
            master_status_drain(s);
        master_reap(master_stopping);
        break;
    case SIGHUP:
        if (!master_stopping)
            master_reload();
        break;
    case SIGTERM:
    case SIGINT:
        if (!master_stopping) {
            master_stopping = true;
            master_stop_sig = sig;
            event_loop_stop(master_events);
        }
        break;
    }
}

/* Install the signal callbacks; SIGPIPE is ignored (a dead peer is an error return). */
static void master_signals(void)
{
    static const int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGCHLD};
    const char *why;

    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (event_signal_add(master_events, sigs[i], master_signal, NULL, &why) < 0)
            msg_fatal("signal %d: %s", sigs[i], why);
}

/* Make sure descriptors 0, 1, 2 are open and nothing else is inherited. */
static void master_sanitize_fds(void)
{
    int fd;

    (void)close_range(3, ~0U, 0);
    while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd < 3)
        ;
    if (fd > 2)
        close(fd);
}

/* Become a daemon; the parent exits once the child reports on ready_fd. */
static int master_daemonize(void)
{
    int ready[2];
    pid_t pid;
    char byte;

    if (pipe2(ready, O_CLOEXEC) < 0)
        msg_fatal("pipe: %m");
    if ((pid = fork()) < 0)
        msg_fatal("fork: %m");
    if (pid > 0) {
        ssize_t n;

        close(ready[1]);
        do {
            n = read(ready[0], &byte, 1);
        } while (n < 0 && errno == EINTR);
        /* No byte: the daemon died and has said why on standard error. */
        _exit(n == 1 ? 0 : 1);
    }
    close(ready[0]);
    if (setsid() < 0)
        msg_fatal("setsid: %m");
    return ready[1];
}

/* Tell the waiting parent (if any) that start-up succeeded; detach from the terminal. */
static void master_ready(int ready_fd, bool foreground)
{
    if (ready_fd >= 0) {
        (void)!write(ready_fd, "R", 1);
        close(ready_fd);
    }
    if (!foreground) {
        int fd = open("/dev/null", O_RDWR);

        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
    }
    msg_set_flags(MSG_TO_SYSLOG | (master_debug ? MSG_TO_STDERR : 0));
}

int main(int argc, char **argv)
{
    const char *dir_opt = NULL;
    bool foreground = false, test_only = false;
    const char *why;
    char *real;
    int ready_fd = -1;
    int ch;

    master_sanitize_fds();
    umask(022);
    msg_init("master", MSG_TO_STDERR | MSG_TO_SYSLOG);
    while ((ch = getopt(argc, argv, "c:dftv")) != -1) {
        switch (ch) {
        case 'c':
            dir_opt = optarg;
            break;
        case 'd':
            master_debug = true;
            foreground = true;
            break;
        case 'f':
            foreground = true;
            break;
        case 't':
            test_only = true;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            master_usage();
        }
    }
    if (optind != argc)
        master_usage();
    if (dir_opt == NULL)
        dir_opt = config_dir_default();
    if ((real = realpath(dir_opt, NULL)) == NULL)
        msg_fatal("configuration directory %s: %m", dir_opt);
    master_dir = mem_strdup(real);
    free(real);
    master_config_dir = master_dir;

    if (test_only) {
        /* Only main.cf matters here: where the pid file is. */
        if (config_read(master_dir, &why) < 0)
            msg_fatal("%s", why);
        master_pid_path = master_pid_file();
        exit(master_pid_holder(master_pid_path) ? 1 : 0);
    }
    if (master_read_config(&master_services, &why) < 0)
        msg_fatal("%s", why);
    master_pid_path = master_pid_file();
    master_logfile();
    master_directories();

    if (!foreground)
        ready_fd = master_daemonize();
    master_pid_lock();
    master_clean_incoming();
    msg_set_cleanup(master_cleanup);
    master_events = event_loop_create();
    master_signals();
    master_bind_all();
    master_set_environment(master_dir);

    master_ready(ready_fd, foreground);
    msg_info("daemon started -- version %s, configuration %s", PACKAGE_VERSION, master_dir);
    if (geteuid() != 0) {
        struct passwd *pw = getpwuid(geteuid());

        msg_info("running as non-root user %s: all services run as that user",
                 pw ? pw->pw_name : "(unknown)");
    }
    event_loop_run(master_events);
    master_stop(master_stop_sig);
}
