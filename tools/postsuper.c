/*
 * postsuper - queue maintenance for the administrator: delete messages
 * (-d), put them on hold and release them (-h, -H), requeue them so that
 * they are resolved again (-r), and check and repair the queue's structure
 * (-s). Log lines and summaries are Postfix's ("QID: removed",
 * "Deleted: 3 messages"), so that scripts written for Postfix keep working.
 *
 * Moves, removals and status updates all go through lib/mail/queue_file.h;
 * this file only decides what to do with which file.
 *
 * Security: runs as root or as mail_owner only; as root it switches to
 * mail_owner after reading main.cf, so a file it touches never becomes
 * root's. Every queue ID from the command line or standard input is checked
 * with queue_id_valid() before it reaches a path ("../etc/passwd" is refused),
 * queue names are checked against a fixed list, and IDs are shown with
 * control characters masked.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/qmgr_nudge.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/queue_id.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/safe_file.h"

#define POSTSUPER_USAGE                                                                            \
    "usage: postsuper [-c config_dir] [-v] [-s] [-d queue_id|ALL|-] [-h queue_id|ALL|-] "          \
    "[-H queue_id|ALL|-] [-r queue_id|ALL|-] [queue ...]"

#define PS_TEMP_AGE                                                                                \
    (24 * 60 * 60) /* -s removes .tmp files older than this (Postfix's MAX_TEMP_AGE) */
#define PS_STDIN_LINE_MAX 1024

enum ps_op { PS_DELETE, PS_HOLD, PS_RELEASE, PS_REQUEUE, PS_OP_COUNT };

/* Per operation: the queues it looks in by default, and its words. */
static const struct {
    char letter;
    const char *default_queues[4];
    const char *summary; /* "Deleted: N messages" */
    const char *logged;  /* "QID: removed" */
} ps_ops[PS_OP_COUNT] = {
    [PS_DELETE] = {'d',
                   {QUEUE_DIR_HOLD, QUEUE_DIR_INCOMING, QUEUE_DIR_ACTIVE, QUEUE_DIR_DEFERRED},
                   "Deleted",
                   "removed"},
    [PS_HOLD] = {'h',
                 {QUEUE_DIR_INCOMING, QUEUE_DIR_ACTIVE, QUEUE_DIR_DEFERRED, NULL},
                 "Placed on hold",
                 "placed on hold"},
    [PS_RELEASE] = {'H',
                    {QUEUE_DIR_HOLD, NULL, NULL, NULL},
                    "Released from hold",
                    "released from hold"},
    [PS_REQUEUE] = {'r',
                    {QUEUE_DIR_HOLD, QUEUE_DIR_INCOMING, QUEUE_DIR_ACTIVE, QUEUE_DIR_DEFERRED},
                    "Requeued",
                    "requeued"},
};

/* Queue names a user may name on the command line. */
static const char *const ps_queue_names[] = {
    QUEUE_DIR_HOLD,
    QUEUE_DIR_INCOMING,
    QUEUE_DIR_ACTIVE,
    QUEUE_DIR_DEFERRED,
};

/* Directories that -s checks (maildrop belongs to pickup, and has its own format). */
static const char *const ps_check_dirs[] = {
    QUEUE_DIR_INCOMING,
    QUEUE_DIR_ACTIVE,
    QUEUE_DIR_DEFERRED,
    QUEUE_DIR_HOLD,
};

/* What the command line asked for. */
struct ps_request {
    struct argv *ids[PS_OP_COUNT]; /* IDs per operation ("ALL" = all) */
    bool all[PS_OP_COUNT];
    bool from_stdin[PS_OP_COUNT];
    bool structure;
    struct argv *queues; /* restricts every operation; empty = the defaults */
};

/* Results for the final summary. */
static long ps_count[PS_OP_COUNT];
static bool ps_nudge_qmgr;
static int ps_errors;

/* A copy of s safe to print: at most 60 bytes, control and 8-bit bytes as '?'. */
static char *ps_printable(const char *s)
{
    struct buf *b = buf_create(64);

    for (size_t i = 0; s[i] && i < 60; i++)
        buf_putc(b, (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i]);
    if (strlen(s) > 60)
        buf_puts(b, "...");
    return buf_export(&b);
}

/* Is name one of the queues a command may name? */
static bool ps_queue_known(const char *name)
{
    for (size_t i = 0; i < sizeof(ps_queue_names) / sizeof(ps_queue_names[0]); i++)
        if (strcmp(name, ps_queue_names[i]) == 0)
            return true;
    return false;
}

/* Does operation op look in queue q (the command line list, or the defaults)? */
static bool ps_op_uses_queue(const struct ps_request *req, enum ps_op op, const char *q)
{
    if (req->queues->argc > 0) {
        for (size_t i = 0; i < req->queues->argc; i++)
            if (strcmp(req->queues->argv[i], q) == 0)
                return true;
        return false;
    }
    for (int i = 0; i < 4; i++)
        if (ps_ops[op].default_queues[i] && strcmp(ps_ops[op].default_queues[i], q) == 0)
            return true;
    return false;
}

/* Add one ID argument of an operation; fatal for a malformed one. */
static void ps_add_id(struct ps_request *req, enum ps_op op, const char *arg)
{
    if (strcmp(arg, "ALL") == 0) {
        req->all[op] = true;
    } else if (strcmp(arg, "-") == 0) {
        req->from_stdin[op] = true;
    } else if (queue_id_valid(arg)) {
        argv_add(req->ids[op], arg);
    } else {
        char *shown = ps_printable(arg);

        msg_fatal("invalid queue ID: \"%s\"", shown);
    }
}

/* Read IDs, one per line, from standard input for the operations given "-". */
static void ps_read_stdin(struct ps_request *req)
{
    char line[PS_STDIN_LINE_MAX];
    long lineno = 0;

    while (fgets(line, sizeof(line), stdin) != NULL) {
        size_t len = strlen(line);

        lineno++;
        if (len > 0 && line[len - 1] != '\n' && !feof(stdin)) {
            int c;

            msg_warn("standard input, line %ld: line too long, ignored", lineno);
            while ((c = getchar()) != EOF && c != '\n')
                ;
            continue;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                           line[len - 1] == '\t'))
            line[--len] = 0;
        char *id = line + strspn(line, " \t");
        if (*id == 0)
            continue;
        if (!queue_id_valid(id)) {
            char *shown = ps_printable(id);

            msg_warn("standard input, line %ld: invalid queue ID: \"%s\"", lineno, shown);
            mem_free(shown);
            ps_errors++;
            continue;
        }
        for (int op = 0; op < PS_OP_COUNT; op++)
            if (req->from_stdin[op])
                argv_add(req->ids[op], id);
    }
    if (ferror(stdin))
        msg_fatal("read standard input: %m");
}

/* Make a message due now: its recipients that are not done (pending again for a requeue), its retry
 * time, its file time. */
static int ps_make_due(const char *dir, const char *id, bool pending, const char **why_r)
{
    struct buf *path = buf_create(64);
    struct queue_file *qf;
    int ret;

    queue_file_name(path, dir, id);
    ret = queue_file_open(buf_str(path), QUEUE_OPEN_RDWR, &qf, why_r);
    buf_free(&path);
    if (ret == 0) {
        errno = EINVAL;
        return -1; /* corrupt: leave it for -s */
    }
    if (ret < 0)
        return -1;
    const struct queue_envelope *env = queue_file_envelope(qf);
    for (size_t i = 0; i < env->rcpt_count; i++) {
        struct queue_slot slot = env->rcpts[i].slot;

        if (queue_status_done(slot.status))
            continue;
        if (slot.next_retry == 0 && (!pending || slot.status == QUEUE_PENDING))
            continue;
        if (pending)
            slot.status = QUEUE_PENDING;
        slot.next_retry = 0;
        if (queue_file_rcpt_update(qf, i, &slot, NULL, QUEUE_UPDATE_NOSYNC, why_r) < 0) {
            queue_file_free(&qf);
            return -1;
        }
    }
    /* qmgr's deferred queue scan goes by the file's modification time: make it now. */
    struct queue_slot mslot = *queue_file_msg_slot(qf);

    if (mslot.next_retry != 0) {
        mslot.next_retry = 0;
        if (queue_file_msg_update(qf, &mslot, QUEUE_UPDATE_NOSYNC, why_r) < 0) {
            queue_file_free(&qf);
            return -1;
        }
    }
    if (futimens(queue_file_fd(qf), NULL) < 0)
        msg_warn("%s: cannot set the file time: %m", id);
    ret = queue_file_sync(qf, why_r);
    queue_file_free(&qf);
    return ret;
}

/* Apply op to the message id in queue dir; 1 done, 0 not there, -1 error (logged). */
static int ps_apply(enum ps_op op, const char *dir, const char *id)
{
    const char *why;
    int ret = 0;

    switch (op) {
    case PS_DELETE:
        ret = queue_file_remove(dir, id, &why);
        break;
    case PS_HOLD:
        ret = queue_file_move(dir, QUEUE_DIR_HOLD, id, &why);
        break;
    case PS_RELEASE:
        /* To deferred, as Postfix; due at once, so the next queue scan takes it. */
        ret = ps_make_due(dir, id, false, &why);
        if (ret == 0)
            ret = queue_file_move(dir, QUEUE_DIR_DEFERRED, id, &why);
        break;
    case PS_REQUEUE:
        /* To incoming, all recipients that are not done pending again: resolved afresh. */
        ret = ps_make_due(dir, id, true, &why);
        if (ret == 0)
            ret = queue_file_move(dir, QUEUE_DIR_INCOMING, id, &why);
        if (ret == 0)
            ps_nudge_qmgr = true;
        break;
    case PS_OP_COUNT:
        msg_panic("ps_apply: bad operation");
    }
    if (ret < 0) {
        if (errno == ENOENT)
            return 0; /* not in this queue (or gone meanwhile) */
        msg_warn("%s: %s", id, why);
        ps_errors++;
        return -1;
    }
    msg_info("%s: %s", id, ps_ops[op].logged);
    ps_count[op]++;
    return 1;
}

/* Run one operation over its IDs (or ALL) in its queues. */
static void ps_run(const struct ps_request *req, enum ps_op op)
{
    const char *const all_queues[] = {QUEUE_DIR_INCOMING, QUEUE_DIR_ACTIVE, QUEUE_DIR_DEFERRED,
                                      QUEUE_DIR_HOLD};
    const char *why;

    for (size_t q = 0; q < sizeof(all_queues) / sizeof(all_queues[0]); q++) {
        const char *dir = all_queues[q];

        if (!ps_op_uses_queue(req, op, dir))
            continue;
        /* Moving a held message "to hold" or a released one "from hold" again is nothing. */
        if ((op == PS_HOLD && strcmp(dir, QUEUE_DIR_HOLD) == 0) ||
            (op == PS_RELEASE && strcmp(dir, QUEUE_DIR_HOLD) != 0))
            continue;
        if (req->all[op]) {
            struct argv *ids = argv_create(64);

            if (queue_file_list(dir, ids, &why) < 0) {
                msg_warn("%s", why);
                ps_errors++;
            }
            for (size_t i = 0; i < ids->argc; i++)
                (void)ps_apply(op, dir, ids->argv[i]);
            argv_free(&ids);
        } else {
            for (size_t i = 0; i < req->ids[op]->argc; i++)
                (void)ps_apply(op, dir, req->ids[op]->argv[i]);
        }
    }
}

/* -s: move one bad entry of dir to corrupt/ under a name that cannot collide. */
static void ps_to_corrupt(const char *dir, const char *name, const char *reason, long *moved)
{
    struct buf *from = buf_create(64), *to = buf_create(64);
    char *shown = ps_printable(name);

    buf_printf(from, "%s/%s", dir, name);
    for (int attempt = 0; attempt < 100; attempt++) {
        char id[QUEUE_ID_SIZE];

        queue_id_next(id);
        buf_reset(to);
        /* A fresh ID: corrupt/ never gets a name chosen by whoever made the file. */
        buf_printf(to, "%s/%s.msg", QUEUE_DIR_CORRUPT, id);
        if (renameat2(AT_FDCWD, buf_str(from), AT_FDCWD, buf_str(to), RENAME_NOREPLACE) == 0) {
            msg_warn("%s/%s: %s: moved to %s", dir, shown, reason, buf_str(to));
            (*moved)++;
            break;
        }
        if (errno != EEXIST) {
            msg_warn("%s/%s: %s: cannot move to %s: %m", dir, shown, reason, QUEUE_DIR_CORRUPT);
            ps_errors++;
            break;
        }
    }
    mem_free(shown);
    buf_free(&from);
    buf_free(&to);
}

/* The queue ID that a queue file's header records (see postel-queue(5)), or false. */
static bool ps_header_id(const char *path, char id_r[QUEUE_ID_SIZE])
{
    static const unsigned char magic[8] = {'P', 'O', 'S', 'T', 'E', 'L', 'Q', '\n'};
    unsigned char h[32];
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    bool ok;

    if (fd < 0)
        return false;
    ok = pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) && memcmp(h, magic, sizeof(magic)) == 0 &&
         queue_id_valid_n((const char *)h + 16, QUEUE_ID_LEN);
    close(fd);
    if (ok) {
        memcpy(id_r, h + 16, QUEUE_ID_LEN);
        id_r[QUEUE_ID_LEN] = 0;
    }
    return ok;
}

/* -s for one "<id>.msg": valid, misnamed (rename it to its own ID), or corrupt. */
static void ps_check_file(const char *dir, const char *name, const char *path, long *moved,
                          long *renamed)
{
    struct queue_file *qf;
    const char *why;
    char id[QUEUE_ID_SIZE];
    int ret = queue_file_open(path, 0, &qf, &why);

    if (ret > 0) {
        queue_file_free(&qf);
        return;
    }
    if (ret < 0) {
        if (errno != ENOENT) {
            msg_warn("%s: %s", path, why);
            ps_errors++;
        }
        return;
    }
    /* The ID inside the file is the truth: give a misnamed file its own name, then check it. */
    if (ps_header_id(path, id) && strncmp(id, name, QUEUE_ID_LEN) != 0) {
        struct buf *to = buf_create(64);

        queue_file_name(to, dir, id);
        if (renameat2(AT_FDCWD, path, AT_FDCWD, buf_str(to), RENAME_NOREPLACE) == 0) {
            ret = queue_file_open(buf_str(to), 0, &qf, &why);
            if (ret > 0) {
                msg_warn("%s: renamed to %s (the queue ID it records)", path, buf_str(to));
                (*renamed)++;
                queue_file_free(&qf);
            } else if (ret == 0) {
                char new_name[QUEUE_ID_SIZE + 4];

                snprintf(new_name, sizeof(new_name), "%s%s", id, QUEUE_SUFFIX_MSG);
                ps_to_corrupt(dir, new_name, why, moved);
            }
            buf_free(&to);
            return;
        }
        buf_free(&to);
        ps_to_corrupt(dir, name, "misnamed, and its own name is taken", moved);
        return;
    }
    ps_to_corrupt(dir, name, why, moved);
}

/* -s for one queue directory. */
static void ps_check_dir(const char *dir, long *tmp_removed, long *moved, long *renamed)
{
    DIR *d = opendir(dir);
    struct argv *names = argv_create(64);
    struct dirent *de;
    time_t now = time(NULL);

    if (d == NULL) {
        msg_warn("open directory %s: %m", dir);
        ps_errors++;
        argv_free(&names);
        return;
    }
    /* Collect first: we rename entries of this directory while we look. */
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            argv_add(names, de->d_name);
    closedir(d);

    for (size_t i = 0; i < names->argc; i++) {
        const char *name = names->argv[i];
        size_t len = strlen(name);
        struct buf *path = buf_create(64);
        struct stat st;

        buf_printf(path, "%s/%s", dir, name);
        if (lstat(buf_str(path), &st) < 0) {
            buf_free(&path);
            continue; /* gone meanwhile */
        }
        bool well_named = len == QUEUE_ID_LEN + 4 && queue_id_valid_n(name, QUEUE_ID_LEN) &&
                          (strcmp(name + QUEUE_ID_LEN, QUEUE_SUFFIX_MSG) == 0 ||
                           strcmp(name + QUEUE_ID_LEN, QUEUE_SUFFIX_TMP) == 0);
        if (!S_ISREG(st.st_mode)) {
            ps_to_corrupt(dir, name,
                          S_ISDIR(st.st_mode) ? "unexpected directory" : "not a regular file",
                          moved);
        } else if (!well_named) {
            ps_to_corrupt(dir, name, "not a queue file name", moved);
        } else if (strcmp(name + QUEUE_ID_LEN, QUEUE_SUFFIX_TMP) == 0) {
            if (now - st.st_mtime > PS_TEMP_AGE) {
                if (unlink(buf_str(path)) == 0) {
                    msg_info("%s: removed stale temporary file", buf_str(path));
                    (*tmp_removed)++;
                } else if (errno != ENOENT) {
                    msg_warn("remove %s: %m", buf_str(path));
                    ps_errors++;
                }
            }
        } else {
            ps_check_file(dir, name, buf_str(path), moved, renamed);
        }
        buf_free(&path);
    }
    argv_free(&names);
}

/* -s: check and repair every queue directory. */
static void ps_structure(void)
{
    long tmp_removed = 0, moved = 0, renamed = 0;
    const char *why;

    if (safe_mkdir_p(QUEUE_DIR_CORRUPT, 0700, &why) < 0)
        msg_fatal("%s", why);
    for (size_t i = 0; i < sizeof(ps_check_dirs) / sizeof(ps_check_dirs[0]); i++)
        ps_check_dir(ps_check_dirs[i], &tmp_removed, &moved, &renamed);
    if (tmp_removed > 0)
        msg_info("Removed stale temporary files: %ld", tmp_removed);
    if (renamed > 0)
        msg_info("Renamed to match the queue ID: %ld message%s", renamed, renamed == 1 ? "" : "s");
    if (moved > 0)
        msg_info("Moved to the corrupt queue: %ld file%s", moved, moved == 1 ? "" : "s");
}

/* Refuse anyone but root and mail_owner; root becomes mail_owner. */
static void ps_privileges(void)
{
    const char *owner = config_str("mail_owner");
    struct passwd *pw = getpwnam(owner);
    uid_t uid = getuid();

    if (uid == 0) {
        if (pw == NULL)
            msg_fatal("mail_owner: unknown user \"%s\"", owner);
        if (pw->pw_uid == 0)
            msg_fatal("mail_owner \"%s\" must not be root", owner);
        if (setgroups(1, &pw->pw_gid) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
            msg_fatal("switch to user %s: %m", owner);
        if (geteuid() != pw->pw_uid || getegid() != pw->pw_gid)
            msg_fatal("switch to user %s failed", owner);
        return;
    }
    if (pw == NULL || pw->pw_uid != uid)
        msg_fatal("use of this command is reserved for the superuser and mail_owner (%s)", owner);
}

int main(int argc, char **argv)
{
    struct ps_request req = {0};
    const char *dir = NULL;
    const char *why;
    bool any = false;
    int ch;

    msg_init("postsuper", MSG_TO_STDERR | MSG_TO_SYSLOG);
    umask(077);
    for (int op = 0; op < PS_OP_COUNT; op++)
        req.ids[op] = argv_create(4);
    req.queues = argv_create(4);
    while ((ch = getopt(argc, argv, "c:d:h:H:r:sv")) != -1) {
        switch (ch) {
        case 'c':
            dir = optarg;
            break;
        case 'd':
            ps_add_id(&req, PS_DELETE, optarg);
            any = true;
            break;
        case 'h':
            ps_add_id(&req, PS_HOLD, optarg);
            any = true;
            break;
        case 'H':
            ps_add_id(&req, PS_RELEASE, optarg);
            any = true;
            break;
        case 'r':
            ps_add_id(&req, PS_REQUEUE, optarg);
            any = true;
            break;
        case 's':
            req.structure = true;
            any = true;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            msg_fatal("%s", POSTSUPER_USAGE);
        }
    }
    for (int i = optind; i < argc; i++) {
        if (!ps_queue_known(argv[i])) {
            char *shown = ps_printable(argv[i]);

            msg_fatal("invalid directory name: \"%s\" (use hold, incoming, active or deferred)",
                      shown);
        }
        argv_add(req.queues, argv[i]);
    }
    if (!any)
        req.structure = true; /* as Postfix: no operation means -s */

    if (dir == NULL)
        dir = config_dir_default();
    if (config_read(dir, &why) < 0)
        msg_fatal("%s", why);
    const char *logfile = config_str("maillog_file");
    if (*logfile && msg_logfile_open(logfile, &why) < 0)
        msg_warn("open maillog_file %s: %s", logfile, why);
    const char *queue_dir = config_str("queue_directory");
    ps_privileges();
    if (chdir(queue_dir) < 0)
        msg_fatal("chdir %s: %m", queue_dir);

    for (int op = 0; op < PS_OP_COUNT; op++)
        if (req.from_stdin[op]) {
            ps_read_stdin(&req);
            break;
        }

    if (req.structure)
        ps_structure();
    static const enum ps_op order[] = {PS_DELETE, PS_RELEASE, PS_HOLD, PS_REQUEUE};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        enum ps_op op = order[i];

        if (req.all[op] || req.ids[op]->argc > 0)
            ps_run(&req, op);
    }
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        enum ps_op op = order[i];

        if (ps_count[op] > 0)
            msg_info("%s: %ld message%s", ps_ops[op].summary, ps_count[op],
                     ps_count[op] == 1 ? "" : "s");
    }
    if (ps_nudge_qmgr && qmgr_nudge(NULL, &why) < 0)
        msg_debug("cannot nudge the queue manager: %s", why);

    for (int op = 0; op < PS_OP_COUNT; op++)
        argv_free(&req.ids[op]);
    argv_free(&req.queues);
    config_reset();
    return ps_errors ? 1 : 0;
}
