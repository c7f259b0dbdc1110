/*
 * postdrop - write one message into the maildrop queue (like Postfix's
 * postdrop(1)).
 *
 *   postdrop [-c config_dir] [-v]
 *
 * Reads a maildrop stream (maildrop.h) on standard input, as the sendmail
 * command writes it, checks every record while it copies it into
 * $queue_directory/maildrop/<id>.tmp, and when the end record arrived and
 * nothing follows it, makes the file durable (fsync), renames it to
 * maildrop/<id> and wakes pickup(8) through public/pickup. Exit status
 * per sysexits(3): 0 when the file is in the maildrop queue; EX_DATAERR
 * for invalid or oversized input; EX_NOPERM for a user not in
 * authorized_submit_users or a refused -c; EX_TEMPFAIL when the file
 * could not be written; EX_CONFIG for a broken main.cf; EX_USAGE.
 *
 * This module owns the only code that creates files in maildrop/.
 *
 * Security notes: installed set-gid setgid_group ("postdrop"), the group
 * that may write into maildrop/ (mode 1730, owner mail_owner); the real
 * uid is the submitting user's and owns the file, which is how pickup
 * knows who submitted it. When privileged (effective ids differ from the
 * real ones), the environment is replaced by an empty one (TZ kept),
 * descriptors 0-2 are made valid, the umask is fixed, POSTEL_CONFIG_DIR is
 * ignored (secure_getenv) and -c is honoured only for root or for a
 * directory listed in alternate_config_directories of the default main.cf.
 * Input is untrusted: the maildrop reader checks every record, and the
 * message size is bounded by message_size_limit. The file is created with
 * O_EXCL and O_NOFOLLOW under a fresh unique name; a signal, an error or
 * end of input before the end record removes it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "lib/dict/dict.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/maildrop.h"
#include "lib/mail/param.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/queue_id.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/safe_file.h"

#define POSTDROP_USAGE "usage: postdrop [-c config_dir] [-v]"
#define POSTDROP_CHUNK 65536    /* bytes read from standard input at once */
#define POSTDROP_CREATE_TRIES 5 /* fresh names tried when one exists */

/* The temporary file, for the signal handler and the error exit. */
static char postdrop_tmp[sizeof(QUEUE_DIR_MAILDROP) + QUEUE_ID_SIZE + 8];
static volatile sig_atomic_t postdrop_have_tmp;

/* Remove the temporary file, if any (async-signal-safe). */
static void postdrop_remove_tmp(void)
{
    if (postdrop_have_tmp) {
        (void)unlink(postdrop_tmp);
        postdrop_have_tmp = 0;
    }
}

static _Noreturn void postdrop_die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Log a fatal error, remove the temporary file and exit with status. */
static _Noreturn void postdrop_die(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vprintf(MSG_FATAL, fmt, ap);
    va_end(ap);
    postdrop_remove_tmp();
    /* No exit handlers: a set-gid process cannot run LeakSanitizer, and has nothing to flush. */
    _exit(status);
}

/* A terminating signal: remove the temporary file and go. */
static void postdrop_signal(int sig)
{
    (void)sig;
    postdrop_remove_tmp();
    _exit(EX_TEMPFAIL);
}

/* Make descriptors 0, 1 and 2 valid, so that no file we open becomes one of them. */
static void postdrop_fix_stdio(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) < 0) {
            int nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
            if (nfd < 0)
                _exit(EX_OSERR);
            if (nfd != fd) {
                (void)dup2(nfd, fd);
                (void)close(nfd);
            }
        }
    }
}

/* A privileged process starts from an empty environment (TZ kept for log times). */
static void postdrop_clean_env(void)
{
    const char *tz = getenv("TZ");
    char *tz_copy = tz != NULL ? mem_strdup(tz) : NULL;

    (void)clearenv();
    if (tz_copy != NULL && strlen(tz_copy) < 100 && strchr(tz_copy, '/') == NULL)
        (void)setenv("TZ", tz_copy, 1);
    (void)setenv("PATH", "/usr/bin:/bin", 1);
    mem_free(tz_copy);
}

/* Is dir listed in alternate_config_directories of the default main.cf? */
static bool postdrop_alternate_ok(const char *dir)
{
    const char *why = NULL;
    struct argv *list;
    bool ok = false;

    if (strcmp(dir, DEF_CONFIG_DIR) == 0)
        return true;
    if (config_read(DEF_CONFIG_DIR, &why) < 0)
        postdrop_die(EX_CONFIG, "%s", why);
    list = config_list("alternate_config_directories");
    for (size_t i = 0; i < list->argc && !ok; i++)
        ok = strcmp(list->argv[i], dir) == 0;
    argv_free(&list);
    return ok;
}

/*
 * May this user submit mail? authorized_submit_users: items in order, the
 * first that matches decides; "!item" denies; "static:anyone" matches
 * everybody; "type:table" matches names that the table has; other items
 * are login names. Nothing matched: denied.
 */
static bool postdrop_authorized(const char *user)
{
    struct argv *list = config_list("authorized_submit_users");
    int verdict = -1;

    for (size_t i = 0; i < list->argc && verdict < 0; i++) {
        const char *item = list->argv[i];
        bool negate = false;
        bool match = false;

        while (*item == '!')
            negate = !negate, item++;
        if (strcmp(item, "static:anyone") == 0) {
            match = true;
        } else if (strchr(item, ':') != NULL) {
            const char *why = NULL, *value = NULL;
            struct dict *d = dict_open(item, DICT_FLAG_FOLD_KEYS, &why);
            int r;

            if (d == NULL)
                postdrop_die(EX_CONFIG, "authorized_submit_users: %s", why);
            r = user != NULL ? dict_lookup(d, user, &value, &why) : DICT_NOTFOUND;
            if (r == DICT_ERROR)
                postdrop_die(EX_TEMPFAIL, "authorized_submit_users: %s: %s", item, why);
            match = r == DICT_FOUND;
            dict_close(&d);
        } else {
            match = user != NULL && strcmp(item, user) == 0;
        }
        if (match)
            verdict = negate ? 0 : 1;
    }
    argv_free(&list);
    return verdict == 1;
}

/* Create maildrop/<id>.tmp; returns the fd and sets id_r. */
static int postdrop_create(char id_r[QUEUE_ID_SIZE])
{
    sigset_t block, saved;

    (void)sigemptyset(&block);
    (void)sigaddset(&block, SIGHUP);
    (void)sigaddset(&block, SIGINT);
    (void)sigaddset(&block, SIGQUIT);
    (void)sigaddset(&block, SIGTERM);
    for (int tries = 0; tries < POSTDROP_CREATE_TRIES; tries++) {
        int fd;

        queue_id_next(id_r);
        snprintf(postdrop_tmp, sizeof(postdrop_tmp), "%s/%s%s", QUEUE_DIR_MAILDROP, id_r,
                 QUEUE_SUFFIX_TMP);
        /* The handler must see the name only together with the file. */
        (void)sigprocmask(SIG_BLOCK, &block, &saved);
        fd = open(postdrop_tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0)
            postdrop_have_tmp = 1;
        (void)sigprocmask(SIG_SETMASK, &saved, NULL);
        if (fd >= 0) {
            /* pickup (mail_owner) reads it whatever the submitter's umask. */
            if (fchmod(fd, 0644) < 0)
                postdrop_die(EX_TEMPFAIL, "chmod %s: %m", postdrop_tmp);
            return fd;
        }
        if (errno != EEXIST)
            postdrop_die(EX_TEMPFAIL, "create file %s/%s: %m", config_str("queue_directory"),
                         postdrop_tmp);
    }
    postdrop_die(EX_TEMPFAIL, "create file in %s: too many name collisions", QUEUE_DIR_MAILDROP);
}

/* Write out what is in b. */
static void postdrop_flush(int fd, struct buf *b)
{
    if (buf_len(b) == 0)
        return;
    if (safe_write_all(fd, buf_str(b), buf_len(b)) < 0)
        postdrop_die(EX_TEMPFAIL, "write %s: %m", postdrop_tmp);
    buf_reset(b);
}

/* Copy standard input to fd through the maildrop reader; dies on any error. */
static void postdrop_copy(int fd)
{
    long long size_limit = config_size("message_size_limit");
    struct maildrop_limits limits = {.content_max = (uint64_t)size_limit};
    struct maildrop_reader *r = maildrop_reader_create(&limits, NULL, NULL, NULL);
    char *in = mem_alloc(POSTDROP_CHUNK);
    struct buf *out = buf_create(POSTDROP_CHUNK * 2);
    const char *why = NULL;
    int ret = 0;

    for (;;) {
        ssize_t n = read(STDIN_FILENO, in, POSTDROP_CHUNK);
        size_t used = 0;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            postdrop_die(EX_TEMPFAIL, "read standard input: %m");
        if (n == 0)
            break;
        if (ret == 1)
            postdrop_die(EX_DATAERR, "invalid input: data after the end record");
        ret = maildrop_reader_feed(r, in, (size_t)n, &used, &why);
        buf_append(out, in, used);
        if (ret < 0) {
            if (maildrop_reader_error(r) == MAILDROP_ERR_TOOBIG)
                postdrop_die(EX_DATAERR, "message too big: message_size_limit is %lld bytes",
                             size_limit);
            postdrop_die(EX_DATAERR, "invalid input: %s", why);
        }
        if (ret == 1 && used < (size_t)n)
            postdrop_die(EX_DATAERR, "invalid input: data after the end record");
        if (buf_len(out) >= POSTDROP_CHUNK)
            postdrop_flush(fd, out);
    }
    if (maildrop_reader_finish(r, &why) < 0)
        postdrop_die(EX_DATAERR, "invalid input: %s", why);
    postdrop_flush(fd, out);
    if (msg_verbose)
        msg_debug("%s: %llu bytes, %zu recipients, message %llu bytes", postdrop_tmp,
                  (unsigned long long)maildrop_reader_offset(r),
                  maildrop_reader_envelope(r)->rcpt_count,
                  (unsigned long long)maildrop_reader_content_size(r));
    buf_free(&out);
    mem_free(in);
    maildrop_reader_free(&r);
}

/* fsync, close and rename into place; dies on error. */
static void postdrop_commit(int fd, const char *id)
{
    char final[sizeof(postdrop_tmp)];
    sigset_t block, saved;
    const char *why = NULL;

    if (fsync(fd) < 0)
        postdrop_die(EX_TEMPFAIL, "fsync %s: %m", postdrop_tmp);
    if (close(fd) < 0)
        postdrop_die(EX_TEMPFAIL, "close %s: %m", postdrop_tmp);
    snprintf(final, sizeof(final), "%s/%s", QUEUE_DIR_MAILDROP, id);
    /* From here on a signal must not undo a file that is already in place. */
    (void)sigfillset(&block);
    (void)sigprocmask(SIG_BLOCK, &block, &saved);
    if (rename(postdrop_tmp, final) < 0)
        postdrop_die(EX_TEMPFAIL, "rename %s to %s: %m", postdrop_tmp, final);
    postdrop_have_tmp = 0;
    /* Best effort: the set-gid postdrop may not read maildrop/ (mode 1730). */
    if (safe_fsync_dir(QUEUE_DIR_MAILDROP, &why) < 0 && msg_verbose)
        msg_debug("%s", why);
}

int main(int argc, char **argv)
{
    bool privileged = getuid() != geteuid() || getgid() != getegid();
    const char *dir = NULL, *why = NULL, *logfile;
    struct passwd *pw;
    char *user;
    char id[QUEUE_ID_SIZE];
    struct sigaction sa;
    int ch, fd;

    postdrop_fix_stdio();
    if (privileged)
        postdrop_clean_env();
    umask(022);
    msg_init("postdrop", MSG_TO_STDERR | MSG_TO_SYSLOG);

    while ((ch = getopt(argc, argv, "c:rv")) != -1) {
        switch (ch) {
        case 'c':
            dir = optarg;
            break;
        case 'r': /* Postfix's "use the internal protocol": that is the only one here */
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            postdrop_die(EX_USAGE, POSTDROP_USAGE);
        }
    }
    if (optind != argc)
        postdrop_die(EX_USAGE, POSTDROP_USAGE);
    if (dir != NULL && privileged && getuid() != 0 && !postdrop_alternate_ok(dir))
        postdrop_die(EX_NOPERM,
                     "-c %s: the directory is not listed in "
                     "alternate_config_directories of %s/main.cf",
                     dir, DEF_CONFIG_DIR);
    if (dir == NULL)
        dir = config_dir_default();
    if (config_read(dir, &why) < 0)
        postdrop_die(EX_CONFIG, "%s", why);
    logfile = config_str("maillog_file");
    /* Best effort: a user's postdrop may not write the log file. */
    if (*logfile && msg_logfile_open(logfile, &why) < 0 && msg_verbose)
        msg_debug("%s", why);

    pw = getpwuid(getuid());
    user = pw != NULL ? mem_strdup(pw->pw_name) : NULL;
    if (!postdrop_authorized(user))
        postdrop_die(EX_NOPERM,
                     "user %s (uid=%ld) is not allowed to submit mail "
                     "(authorized_submit_users)",
                     user != NULL ? user : "(unknown)", (long)getuid());

    if (chdir(config_str("queue_directory")) < 0)
        postdrop_die(EX_TEMPFAIL, "chdir %s: %m", config_str("queue_directory"));

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = postdrop_signal;
    (void)sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGHUP, &sa, NULL);
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGQUIT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit is EFBIG, reported as such */

    fd = postdrop_create(id);
    postdrop_copy(fd);
    postdrop_commit(fd, id);
    if (msg_verbose)
        msg_debug("maildrop file %s: uid=%ld", id, (long)getuid());
    if (maildrop_pickup_trigger(NULL, &why) < 0)
        msg_warn("unable to wake up pickup: %s", why);
    mem_free(user);
    config_reset();
    return EX_OK;
}
