/*
 * postel - the control command of the Postel mail system (like postfix(1)).
 *
 *   postel [-c config_dir] [-v] check|start|start-fg|stop|abort|reload|status
 *
 * check validates main.cf and master.cf, then creates the queue and data
 * directories that are missing and repairs their owners and modes (what
 * "postfix check" and "postfix set-permissions" do for the directories).
 * start runs check and starts the master daemon; start-fg runs check and
 * replaces itself with master in the foreground (systemd, containers);
 * stop, abort and reload signal the master named by the locked pid file;
 * status says whether it runs.
 *
 * This module owns the list of queue directories with their owners and
 * modes (DESIGN.md section 2) and the rules for deciding whether a master
 * is running: the pid file $queue_directory/$process_id_directory/master.pid
 * counts only while some process holds an fcntl lock on it.
 *
 * Security notes:
 * - Run by root. Each queue subdirectory is created and repaired through a
 *   descriptor opened with O_NOFOLLOW relative to the queue directory
 *   (mkdirat, openat, fchown, fchmod), so a symbolic link planted in the
 *   queue cannot turn a chown or chmod onto another file. The queue top is
 *   root-owned, so mail_owner cannot replace its subdirectories.
 * - A pid is signalled only while its pid file is locked: a stale pid file
 *   never makes us signal an unrelated process that reused the number.
 * - The pid file is read with a size bound and its text checked strictly.
 * - Run as a user other than root, nothing is chowned: every directory
 *   belongs to the invoking user, with the same modes as under root.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/master_proto.h"
#include "lib/mail/mastercf.h"
#include "lib/util/buf.h"
#include "lib/util/clock.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/safe_file.h"
#include "lib/util/spawn.h"

#define POSTEL_USAGE                                                                               \
    "usage: postel [-c config_dir] [-v] check|start|start-fg|stop|abort|reload|status"

/* How long each step may take, in milliseconds. */
#define POSTEL_START_TIMEOUT (60 * 1000) /* master's parent: daemon up and listening */
#define POSTEL_STOP_TIMEOUT (10 * 1000)  /* master gone after SIGTERM */
#define POSTEL_KILL_TIMEOUT (5 * 1000)   /* everything gone after SIGKILL */
#define POSTEL_POLL_MS 50

#define POSTEL_PIDFILE_MAX 64 /* bytes read from master.pid */

/* Who should own a directory (when run as root). */
enum postel_owner {
    POSTEL_OWN_ROOT,      /* root:root */
    POSTEL_OWN_MAIL,      /* mail_owner:its primary group */
    POSTEL_OWN_MAIL_SGID, /* mail_owner:setgid_group */
};

/* One queue subdirectory. */
struct postel_qdir {
    const char *name;
    enum postel_owner owner;
    mode_t mode;
};

/* The queue subdirectories (DESIGN.md section 2); pid/ comes from process_id_directory. */
static const struct postel_qdir postel_queue_dirs[] = {
    {"maildrop", POSTEL_OWN_MAIL_SGID, 01730}, {"incoming", POSTEL_OWN_MAIL, 0700},
    {"active", POSTEL_OWN_MAIL, 0700},         {"deferred", POSTEL_OWN_MAIL, 0700},
    {"hold", POSTEL_OWN_MAIL, 0700},           {"corrupt", POSTEL_OWN_MAIL, 0700},
    {"private", POSTEL_OWN_MAIL, 0700},        {"public", POSTEL_OWN_MAIL_SGID, 0710},
};

/* The ids that directories get, decided once per run. */
struct postel_ids {
    bool root; /* chown at all */
    uid_t mail_uid;
    gid_t mail_gid;
    gid_t sgid_gid;
};

static char *postel_config_dir; /* absolute */

/* Milliseconds to sleep, restarting after signals. */
static void postel_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        continue;
}

/* The path of master.pid for the configuration read last. Caller frees. */
static char *postel_pid_path(void)
{
    const char *pid_dir = config_str("process_id_directory");
    struct buf *b = buf_create(256);

    if (*pid_dir == '/')
        buf_printf(b, "%s/master.pid", pid_dir);
    else
        buf_printf(b, "%s/%s/master.pid", config_str("queue_directory"), pid_dir);
    return buf_export(&b);
}

/* Parse the text of a pid file: digits, optional white space around. 0 or -1. */
static int postel_parse_pid(const char *text, pid_t *pid_r)
{
    const char *p = text;
    long long val = 0;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        val = val * 10 + (*p - '0');
        if (val > INT_MAX)
            return -1;
    }
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p != '\0' || val < 2)
        return -1;
    *pid_r = (pid_t)val;
    return 0;
}

/*
 * Is a master running for this configuration? 1 with *pid_r when the pid
 * file is locked, 0 when it is missing or unlocked, -1 with *why_r.
 */
static int postel_master_running(const char *pid_path, pid_t *pid_r, const char **why_r)
{
    static char why[PATH_MAX + 128];
    char text[POSTEL_PIDFILE_MAX + 1];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    ssize_t n;
    pid_t pid;
    int fd;

    fd = open(pid_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        snprintf(why, sizeof(why), "open %s: %s", pid_path, strerror(errno));
        *why_r = why;
        return -1;
    }
    if (fcntl(fd, F_GETLK, &fl) < 0) {
        snprintf(why, sizeof(why), "lock test on %s: %s", pid_path, strerror(errno));
        close(fd);
        *why_r = why;
        return -1;
    }
    if (fl.l_type == F_UNLCK) {
        close(fd);
        return 0;
    }
    /* Locked: the lock holder is the master; its file says the same, normally. */
    n = safe_read_all(fd, text, POSTEL_PIDFILE_MAX);
    close(fd);
    text[n > 0 ? n : 0] = '\0';
    if (fl.l_pid > 1) {
        /* Visible in our pid namespace: the kernel's word beats the file's. */
        *pid_r = fl.l_pid;
        return 1;
    }
    if (postel_parse_pid(text, &pid) < 0) {
        snprintf(why, sizeof(why), "%s is locked but holds no valid process id", pid_path);
        *why_r = why;
        return -1;
    }
    *pid_r = pid;
    return 1;
}

/* True when pid exists and is not a zombie (Linux /proc). */
static bool postel_proc_alive(pid_t pid)
{
    char path[64];
    char stat[512];
    const char *close_paren;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return kill(pid, 0) == 0 || errno == EPERM;
    n = read(fd, stat, sizeof(stat) - 1);
    close(fd);
    if (n <= 0)
        return false;
    stat[n] = '\0';
    /* "pid (comm) S ...": comm may hold anything, so look after the last ')'. */
    if ((close_paren = strrchr(stat, ')')) == NULL || close_paren[1] != ' ')
        return true;
    return close_paren[2] != 'Z' && close_paren[2] != 'X';
}

/* True when some live (non-zombie) process is in process group pgid (Linux /proc). */
static bool postel_group_alive(pid_t pgid)
{
    DIR *dir = opendir("/proc");
    struct dirent *de;
    bool alive = false;

    if (dir == NULL)
        return kill(-pgid, 0) == 0 || errno == EPERM;
    while (!alive && (de = readdir(dir)) != NULL) {
        char path[300];
        char stat[512];
        const char *p;
        ssize_t n;
        long field_pgrp;
        char state;
        int fd;

        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            continue;
        n = read(fd, stat, sizeof(stat) - 1);
        close(fd);
        if (n <= 0)
            continue;
        stat[n] = '\0';
        if ((p = strrchr(stat, ')')) == NULL)
            continue;
        /* After ") ": state ppid pgrp ... */
        if (sscanf(p + 1, " %c %*d %ld", &state, &field_pgrp) != 2)
            continue;
        if (field_pgrp == (long)pgid && state != 'Z' && state != 'X')
            alive = true;
    }
    closedir(dir);
    return alive;
}

/* ---------------------------------------------------------------- check */

/* The uid and gid that owner means under ids. */
static void postel_owner_ids(const struct postel_ids *ids, enum postel_owner owner, uid_t *uid_r,
                             gid_t *gid_r)
{
    /* Root unless told otherwise: an unknown owner can never widen access. */
    *uid_r = 0;
    *gid_r = 0;
    switch (owner) {
    case POSTEL_OWN_ROOT:
        break;
    case POSTEL_OWN_MAIL:
        *uid_r = ids->mail_uid;
        *gid_r = ids->mail_gid;
        break;
    case POSTEL_OWN_MAIL_SGID:
        *uid_r = ids->mail_uid;
        *gid_r = ids->sgid_gid;
        break;
    }
}

/*
 * Give the open directory fd (called path in messages) its owner and mode.
 * Owners change only when running as root. 0 or -1 with *why_r.
 */
static int postel_fix_dir(int fd, const char *path, const struct postel_ids *ids,
                          enum postel_owner owner, mode_t mode, bool created, const char **why_r)
{
    static char why[PATH_MAX + 128];
    struct stat st;
    uid_t uid;
    gid_t gid;

    if (fstat(fd, &st) < 0) {
        snprintf(why, sizeof(why), "stat %s: %s", path, strerror(errno));
        *why_r = why;
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, sizeof(why), "%s is not a directory", path);
        *why_r = why;
        return -1;
    }
    if (ids->root) {
        postel_owner_ids(ids, owner, &uid, &gid);
        if (st.st_uid != uid || st.st_gid != gid) {
            if (fchown(fd, uid, gid) < 0) {
                snprintf(why, sizeof(why), "chown %s: %s", path, strerror(errno));
                *why_r = why;
                return -1;
            }
            if (!created)
                msg_info("%s: owner fixed: %ld:%ld (was %ld:%ld)", path, (long)uid, (long)gid,
                         (long)st.st_uid, (long)st.st_gid);
            /* chown may clear set-id bits: look again before the mode. */
            if (fstat(fd, &st) < 0) {
                snprintf(why, sizeof(why), "stat %s: %s", path, strerror(errno));
                *why_r = why;
                return -1;
            }
        }
    }
    if ((st.st_mode & 07777) != mode) {
        if (fchmod(fd, mode) < 0) {
            snprintf(why, sizeof(why), "chmod %s: %s", path, strerror(errno));
            *why_r = why;
            return -1;
        }
        if (!created)
            msg_info("%s: mode fixed: %04o (was %04o)", path, (unsigned)mode,
                     (unsigned)(st.st_mode & 07777));
    }
    msg_debug("%s: %s, mode %04o", path, created ? "created" : "ok", (unsigned)mode);
    return 0;
}

/*
 * Create (when missing) and repair the top directory path, following a
 * symbolic link there (an administrator may move the queue to another disk).
 * Returns an open descriptor of it, or -1 with *why_r.
 */
static int postel_top_dir(const char *name, const char *path, const struct postel_ids *ids,
                          enum postel_owner owner, mode_t mode, const char **why_r)
{
    static char why[PATH_MAX + 128];
    bool created = false;
    int fd;

    if (*path != '/') {
        snprintf(why, sizeof(why), "%s: must be an absolute path, not \"%s\"", name, path);
        *why_r = why;
        return -1;
    }
    if (access(path, F_OK) < 0) {
        if (safe_mkdir_p(path, 0755, why_r) < 0)
            return -1;
        created = true;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, sizeof(why), "open %s %s: %s", name, path, strerror(errno));
        *why_r = why;
        return -1;
    }
    if (postel_fix_dir(fd, path, ids, owner, mode, created, why_r) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Create (when missing) and repair the subdirectory name of the open directory top_fd. */
static int postel_sub_dir(int top_fd, const char *top, const char *name,
                          const struct postel_ids *ids, enum postel_owner owner, mode_t mode,
                          const char **why_r)
{
    static char why[PATH_MAX + 128];
    char path[PATH_MAX];
    bool created = false;
    int fd;
    int ret;

    snprintf(path, sizeof(path), "%s/%s", top, name);
    if (mkdirat(top_fd, name, 0700) == 0)
        created = true;
    else if (errno != EEXIST) {
        snprintf(why, sizeof(why), "create directory %s: %s", path, strerror(errno));
        *why_r = why;
        return -1;
    }
    fd = openat(top_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
            snprintf(why, sizeof(why),
                     "%s is not a directory (or is a symbolic link): "
                     "move it out of the way",
                     path);
        else
            snprintf(why, sizeof(why), "open %s: %s", path, strerror(errno));
        *why_r = why;
        return -1;
    }
    ret = postel_fix_dir(fd, path, ids, owner, mode, created, why_r);
    close(fd);
    return ret;
}

/*
 * Decide who owns what. As root, mail_owner and setgid_group must exist and
 * be distinct from root and from each other; as another user they only
 * draw a warning when missing, and every directory is that user's.
 */
static int postel_check_ids(struct postel_ids *ids, const char **why_r)
{
    static char why[512];
    const char *owner = config_str("mail_owner");
    const char *group = config_str("setgid_group");
    struct passwd *pw;
    struct group *gr;

    ids->root = (geteuid() == 0);
    errno = 0;
    pw = getpwnam(owner);
    errno = 0;
    gr = getgrnam(group);
    if (!ids->root) {
        if (pw == NULL)
            msg_warn("mail_owner: unknown user \"%s\" (not running as root: every "
                     "directory belongs to the invoking user)",
                     owner);
        if (gr == NULL)
            msg_warn("setgid_group: unknown group \"%s\" (not running as root: every "
                     "directory belongs to the invoking user)",
                     group);
        return 0;
    }
    if (pw == NULL) {
        snprintf(why, sizeof(why),
                 "mail_owner: unknown user \"%s\": create it (e.g. "
                 "adduser --system --group %s) or set mail_owner in main.cf",
                 owner, owner);
        *why_r = why;
        return -1;
    }
    if (pw->pw_uid == 0) {
        snprintf(why, sizeof(why), "mail_owner: user \"%s\" must not be root", owner);
        *why_r = why;
        return -1;
    }
    ids->mail_uid = pw->pw_uid;
    ids->mail_gid = pw->pw_gid;
    if (gr == NULL) {
        snprintf(why, sizeof(why),
                 "setgid_group: unknown group \"%s\": create it (e.g. "
                 "addgroup --system %s) or set setgid_group in main.cf",
                 group, group);
        *why_r = why;
        return -1;
    }
    if (gr->gr_gid == 0) {
        snprintf(why, sizeof(why), "setgid_group: group \"%s\" must not be root's group", group);
        *why_r = why;
        return -1;
    }
    if (gr->gr_gid == ids->mail_gid) {
        snprintf(why, sizeof(why),
                 "setgid_group: group \"%s\" must not be the group of "
                 "mail_owner \"%s\"",
                 group, owner);
        *why_r = why;
        return -1;
    }
    ids->sgid_gid = gr->gr_gid;
    return 0;
}

/* Warn about configuration files that others than their owner may change. */
static void postel_check_file_modes(void)
{
    static const char *const files[] = {"main.cf", "master.cf"};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[PATH_MAX];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", postel_config_dir, files[i]);
        if (stat(path, &st) < 0)
            continue;
        if (st.st_mode & (S_IWGRP | S_IWOTH))
            msg_warn("%s: writable by group or others: chmod go-w %s", path, path);
        if (geteuid() == 0 && st.st_uid != 0)
            msg_warn("%s: not owned by root: chown root %s", path, path);
    }
}

/* Warn about master.cf commands that daemon_directory does not have. */
static void postel_check_commands(const struct mastercf *cf)
{
    const char *daemon_dir = config_str("daemon_directory");

    for (size_t i = 0; i < cf->count; i++) {
        const struct mastercf_entry *e = &cf->entries[i];
        char path[PATH_MAX];
        const char *cmd;

        if (e->args == NULL || e->args->argc == 0)
            continue;
        cmd = e->args->argv[0];
        if (*cmd == '/')
            snprintf(path, sizeof(path), "%s", cmd);
        else
            snprintf(path, sizeof(path), "%s/%s", daemon_dir, cmd);
        if (access(path, X_OK) < 0)
            msg_warn("%s, line %d: service %s: cannot execute %s: %m", e->file, e->line, e->service,
                     path);
    }
}

/* Read main.cf (fatal with file and line on an error) and start the log file. */
static void postel_read_main(void)
{
    const char *logfile;
    const char *why;

    if (config_read(postel_config_dir, &why) < 0)
        msg_fatal("%s", why);
    /* From here on, the log file gets our lines too (maillog_file). */
    logfile = config_str("maillog_file");
    if (*logfile && msg_logfile_open(logfile, &why) < 0)
        msg_warn("open maillog_file %s: %s", logfile, why);
}

/* Read and check main.cf and master.cf; fatal with file and line on an error. */
static void postel_read_config(void)
{
    struct mastercf *cf;
    const char *why;
    char path[PATH_MAX];

    postel_read_main();
    snprintf(path, sizeof(path), "%s/master.cf", postel_config_dir);
    if ((cf = mastercf_read(path, &why)) == NULL)
        msg_fatal("%s", why);
    postel_check_commands(cf);
    postel_check_file_modes();
    mastercf_free(&cf);
}

/* postel check: configuration, then directories. Returns 0 or 1 (exit status). */
static int postel_check(void)
{
    const char *queue_dir;
    const char *data_dir;
    const char *pid_dir;
    const char *why;
    struct postel_ids ids = {0};
    int qfd;
    int dfd;
    int errors = 0;

    postel_read_config();
    if (postel_check_ids(&ids, &why) < 0)
        msg_fatal("%s", why);

    queue_dir = config_str("queue_directory");
    if ((qfd = postel_top_dir("queue_directory", queue_dir, &ids, POSTEL_OWN_ROOT, 0755, &why)) < 0)
        msg_fatal("%s", why);
    for (size_t i = 0; i < sizeof(postel_queue_dirs) / sizeof(postel_queue_dirs[0]); i++) {
        const struct postel_qdir *q = &postel_queue_dirs[i];

        if (postel_sub_dir(qfd, queue_dir, q->name, &ids, q->owner, q->mode, &why) < 0) {
            msg_error("%s", why);
            errors++;
        }
    }
    pid_dir = config_str("process_id_directory");
    if (*pid_dir == '/') {
        int pfd =
            postel_top_dir("process_id_directory", pid_dir, &ids, POSTEL_OWN_ROOT, 0755, &why);

        if (pfd < 0) {
            msg_error("%s", why);
            errors++;
        } else {
            close(pfd);
        }
    } else if (*pid_dir == '\0' || strchr(pid_dir, '/') != NULL || strcmp(pid_dir, ".") == 0 ||
               strcmp(pid_dir, "..") == 0) {
        msg_error("process_id_directory: \"%s\" must be one directory name inside "
                  "queue_directory, or an absolute path",
                  pid_dir);
        errors++;
    } else if (postel_sub_dir(qfd, queue_dir, pid_dir, &ids, POSTEL_OWN_ROOT, 0755, &why) < 0) {
        msg_error("%s", why);
        errors++;
    }
    close(qfd);

    data_dir = config_str("data_directory");
    if ((dfd = postel_top_dir("data_directory", data_dir, &ids, POSTEL_OWN_MAIL, 0700, &why)) < 0) {
        msg_error("%s", why);
        errors++;
    } else {
        close(dfd);
    }
    return errors ? 1 : 0;
}

/* ---------------------------------------------------------------- master */

/* The master program, checked for being executable. Caller frees. */
static char *postel_master_path(void)
{
    struct buf *b = buf_create(256);

    buf_printf(b, "%s/master", config_str("daemon_directory"));
    if (access(buf_str(b), X_OK) < 0)
        msg_fatal("cannot execute %s: %m (is daemon_directory right?)", buf_str(b));
    return buf_export(&b);
}

/* The master's command line: master [-f] [-v...] -c dir. Caller frees. */
static struct argv *postel_master_argv(const char *path, bool foreground)
{
    struct argv *a = argv_create(8);

    argv_add(a, path);
    if (foreground)
        argv_add(a, "-f");
    for (int i = 0; i < msg_verbose && i < 5; i++)
        argv_add(a, "-v");
    argv_add(a, "-c");
    argv_add(a, postel_config_dir);
    return a;
}

/* Refuse when a master runs already; fatal on error. */
static void postel_refuse_if_running(const char *pid_path)
{
    const char *why;
    pid_t pid;

    switch (postel_master_running(pid_path, &pid, &why)) {
    case 1:
        msg_fatal("the Postel mail system is already running: PID: %ld", (long)pid);
    case 0:
        break;
    default:
        msg_fatal("%s", why);
    }
}

/* postel start: check, then run master and wait for its parent to report. */
static int postel_start(const char *pid_path)
{
    char *path;
    struct argv *args;
    struct spawn_fd fds[1];
    struct spawn_opts opts = {0};
    const char *why;
    char text[100];
    pid_t child;
    int status;
    int devnull;
    int r;

    if (postel_check() != 0)
        msg_fatal("the configuration check failed: not starting");
    postel_refuse_if_running(pid_path);
    path = postel_master_path();
    args = postel_master_argv(path, false);
    /* master must not read our terminal; its errors before it detaches go to ours. */
    if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
        msg_fatal("open /dev/null: %m");
    fds[0] = (struct spawn_fd){.from = devnull, .to = STDIN_FILENO};
    opts.path = path;
    opts.argv = args->argv;
    opts.fds = fds;
    opts.nfds = 1;
    msg_info("starting the Postel mail system");
    if ((child = spawn_start(&opts, &why)) < 0)
        msg_fatal("mail system startup failed: %s", why);
    close(devnull);
    argv_free(&args);
    /* master without -f exits once the daemon holds the pid lock and its sockets. */
    if ((r = spawn_wait_timeout(child, &status, POSTEL_START_TIMEOUT)) == 0) {
        kill(child, SIGKILL);
        (void)spawn_wait(child, &status, false);
        msg_fatal("mail system startup failed: %s did not report within %d seconds", path,
                  POSTEL_START_TIMEOUT / 1000);
    }
    if (r < 0)
        msg_fatal("waitpid: %m");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        mem_free(path);
        return 0;
    }
    msg_fatal("mail system startup failed: %s: %s", path,
              spawn_status_text(status, text, sizeof(text)));
}

/* postel start-fg: check, then become master in the foreground. */
static int postel_start_fg(const char *pid_path)
{
    char *path;
    struct argv *args;

    if (postel_check() != 0)
        msg_fatal("the configuration check failed: not starting");
    postel_refuse_if_running(pid_path);
    path = postel_master_path();
    args = postel_master_argv(path, true);
    msg_info("starting the Postel mail system in the foreground");
    fflush(NULL);
    execv(path, args->argv);
    msg_fatal("exec %s: %m", path);
}

/* The running master's pid, or fatal "not running". */
static pid_t postel_running_pid(const char *pid_path)
{
    const char *why;
    pid_t pid;

    switch (postel_master_running(pid_path, &pid, &why)) {
    case 1:
        return pid;
    case 0:
        msg_fatal("the Postel mail system is not running");
    default:
        msg_fatal("%s", why);
    }
}

/* Wait until the master is gone and, if it led a process group, that group too. */
static bool postel_wait_gone(const char *pid_path, pid_t pid, pid_t pgid, long long deadline)
{
    const char *why;
    pid_t now;

    for (;;) {
        int r = postel_master_running(pid_path, &now, &why);
        bool master_up;

        /* The lock goes with the process, before it is even a zombie. */
        if (r == 0)
            master_up = false;
        else if (r == 1 && now == pid)
            master_up = true;
        else
            master_up = postel_proc_alive(pid);

        if (!master_up && (pgid <= 0 || !postel_group_alive(pgid)))
            return true;
        if (clock_remaining_ms(deadline) == 0)
            return false;
        postel_sleep_ms(POSTEL_POLL_MS);
    }
}

/* postel stop (wait) and abort (do not wait). */
static int postel_stop(const char *pid_path, bool wait)
{
    pid_t pid = postel_running_pid(pid_path);
    pid_t pgid = getpgid(pid);

    /* Only a master that leads its own group (daemon mode) has its group waited for. */
    if (pgid != pid || pgid == getpgrp())
        pgid = 0;
    msg_info("%s the Postel mail system", wait ? "stopping" : "aborting");
    if (kill(pid, SIGTERM) < 0)
        msg_fatal("send SIGTERM to master (PID %ld): %m", (long)pid);
    if (!wait)
        return 0;
    if (postel_wait_gone(pid_path, pid, pgid, clock_now_ms() + POSTEL_STOP_TIMEOUT))
        return 0;
    msg_warn("stopping the Postel mail system with force");
    if (pgid > 0)
        (void)kill(-pgid, SIGKILL);
    (void)kill(pid, SIGKILL);
    if (postel_wait_gone(pid_path, pid, pgid, clock_now_ms() + POSTEL_KILL_TIMEOUT))
        return 0;
    msg_fatal("the Postel mail system (PID %ld) did not stop", (long)pid);
}

/* postel reload: check the configuration, then SIGHUP. */
static int postel_reload(const char *pid_path)
{
    pid_t pid = postel_running_pid(pid_path);

    if (postel_check() != 0)
        msg_fatal("the configuration check failed: not reloading");
    msg_info("refreshing the Postel mail system");
    if (kill(pid, SIGHUP) < 0)
        msg_fatal("send SIGHUP to master (PID %ld): %m", (long)pid);
    return 0;
}

/* postel status: 0 running, 1 not running. */
static int postel_status(const char *pid_path)
{
    const char *why;
    pid_t pid;

    switch (postel_master_running(pid_path, &pid, &why)) {
    case 1:
        msg_info("the Postel mail system is running: PID: %ld", (long)pid);
        return 0;
    case 0:
        msg_info("the Postel mail system is not running");
        return 1;
    default:
        msg_fatal("%s", why);
    }
}

/* Make dir absolute so that master and its children agree after a chdir. Caller frees. */
static char *postel_absolute_dir(const char *dir)
{
    char *real = realpath(dir, NULL);

    if (real == NULL)
        msg_fatal("configuration directory %s: %m", dir);
    return real;
}

/* Command handlers that share one shape. */
static int postel_cmd_check(const char *pid_path)
{
    (void)pid_path;
    return postel_check();
}

static int postel_cmd_stop(const char *pid_path)
{
    return postel_stop(pid_path, true);
}

static int postel_cmd_abort(const char *pid_path)
{
    return postel_stop(pid_path, false);
}

/* The commands. */
static const struct postel_cmd {
    const char *name;
    int (*fn)(const char *pid_path);
} postel_cmds[] = {
    {"check", postel_cmd_check}, {"start", postel_start},     {"start-fg", postel_start_fg},
    {"stop", postel_cmd_stop},   {"abort", postel_cmd_abort}, {"reload", postel_reload},
    {"status", postel_status},
};

int main(int argc, char **argv)
{
    const struct postel_cmd *cmd = NULL;
    const char *dir = NULL;
    char *pid_path;
    int status;
    int ch;

    umask(022);
    msg_init("postel", MSG_TO_STDERR | MSG_TO_SYSLOG);
    while ((ch = getopt(argc, argv, "c:v")) != -1) {
        switch (ch) {
        case 'c':
            dir = optarg;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            msg_fatal(POSTEL_USAGE);
        }
    }
    if (optind != argc - 1)
        msg_fatal(POSTEL_USAGE);
    for (size_t i = 0; i < sizeof(postel_cmds) / sizeof(postel_cmds[0]); i++)
        if (strcmp(argv[optind], postel_cmds[i].name) == 0)
            cmd = &postel_cmds[i];
    if (cmd == NULL)
        msg_fatal("unknown command \"%s\"; %s", argv[optind], POSTEL_USAGE);
    if (dir == NULL)
        dir = config_dir_default();
    postel_config_dir = postel_absolute_dir(dir);
    /* The master's children find the configuration through the environment too. */
    if (setenv(MASTER_ENV_CONFIG_DIR, postel_config_dir, 1) < 0)
        msg_fatal("setenv: %m");

    /* check, start, start-fg and reload read everything again (postel_check). */
    postel_read_main();
    pid_path = postel_pid_path();
    status = cmd->fn(pid_path);
    mem_free(pid_path);
    config_reset();
    MEM_FREE(&postel_config_dir);
    return status;
}
