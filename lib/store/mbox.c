/*
 * mbox - appending messages to an mbox file (format and rules in mbox.h).
 *
 * Owns struct mbox: one open, locked mbox and the locks held on it. The
 * append writes through store_write with mboxrd quoting, checks the size
 * limit before bytes reach the file, fsyncs, and on any failure truncates
 * the file back to the size it had before this message.
 *
 * Security: see mbox.h. The fcntl lock is a POSIX record lock: closing any
 * descriptor of the file in this process would drop it, so the mbox is
 * opened exactly once per delivery.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/store/mbox.h"
#include "lib/store/mbox_lock.h"
#include "lib/store/store_write.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/safe_file.h"

#define MBOX_OPEN_TRIES 5    /* open/create races before giving up */
#define MBOX_READ_SIZE 65536 /* bytes read from the source at a time */

struct mbox {
    char *path;
    int fd;
    struct mbox_opts opts;
    struct mbox_dotlock *dotlock; /* NULL if not dot-locked */
    int fcntl_locked;
};

/* Defaults: dot-lock and fcntl, Postfix's timeouts, the caller's own uid/gid, no limit. */
void mbox_opts_init(struct mbox_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->lock = MBOX_LOCK_DOTLOCK | MBOX_LOCK_FCNTL;
    opts->lock_timeout_ms = MBOX_LOCK_TIMEOUT_MS;
    opts->stale_lock_time = MBOX_STALE_LOCK_TIME;
    opts->uid = geteuid();
    opts->gid = getegid();
}

/* Append "From <sender> <date>\n" (RFC 4155; date asctime-style, UTC) to out. */
void mbox_from_line(struct buf *out, const char *sender, time_t when)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const unsigned char *p;
    struct tm tm;
    size_t n;

    buf_puts(out, "From ");
    if (sender == NULL || *sender == 0)
        sender = "MAILER-DAEMON";
    for (p = (const unsigned char *)sender, n = 0; *p && n < MBOX_SENDER_MAX; p++, n++)
        buf_putc(out, (*p <= ' ' || *p == 0x7f) ? '_' : (char)*p);
    if (gmtime_r(&when, &tm) == NULL) {
        when = 0;
        gmtime_r(&when, &tm);
    }
    /* asctime() layout, built by hand: no locale, no 26-byte buffer. */
    buf_printf(out, " %s %s %2d %02d:%02d:%02d %d\n", days[tm.tm_wday % 7], months[tm.tm_mon % 12],
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
}

/* Open path for appending, creating it if missing; check what was opened. */
static int mbox_open_file(const char *path, const struct mbox_opts *opts, int *fd_r,
                          struct store_err *err_r)
{
    struct stat st, lst;
    const char *why;
    int fd = -1, tries, created = 0;

    for (tries = 0; fd < 0; tries++) {
        if (tries >= MBOX_OPEN_TRIES)
            return store_err_set(err_r, 1, "4.2.0", "open %s: file keeps appearing and vanishing",
                                 path);
        /* An existing mbox: no symbolic link, a regular file, one link, the owner's. */
        fd = safe_open(path, O_RDWR | O_APPEND, 0, SAFE_CHECK_OWNER | SAFE_CHECK_NLINK, opts->uid,
                       &why);
        if (fd >= 0)
            break;
        if (errno == ELOOP)
            return store_err_set(err_r, 0, "5.2.0", "mailbox %s is a symbolic link; refused", path);
        if (errno == EINVAL || errno == EPERM)
            return store_err_set(err_r, 0, "5.2.0", "mailbox %s: %s; refused", path, why);
        if (errno != ENOENT)
            return store_err_why(err_r, errno, why);
        if ((fd = safe_create(path, O_RDWR | O_APPEND, 0600, &why)) >= 0) {
            created = 1;
            break;
        }
        if (errno != EEXIST)
            return store_err_why(err_r, errno, why);
        /* Someone else created it meanwhile (or a dangling symbolic link): look again. */
    }
    if (fstat(fd, &st) < 0) {
        store_err_errno(err_r, errno, "fstat mailbox %s", path);
        goto fail;
    }
    if (created && geteuid() == 0 && (st.st_uid != opts->uid || st.st_gid != opts->gid)) {
        if (fchown(fd, opts->uid, opts->gid) < 0) {
            store_err_errno(err_r, errno, "chown mailbox %s", path);
            goto fail;
        }
        st.st_uid = opts->uid;
    }
    if (st.st_uid != opts->uid) {
        store_err_set(err_r, 0, "5.2.0", "mailbox %s is owned by uid %lu, not %lu; refused", path,
                      (unsigned long)st.st_uid, (unsigned long)opts->uid);
        goto fail;
    }
    /* The name must still lead to the file we hold (not renamed or swapped). */
    if (lstat(path, &lst) < 0 || lst.st_dev != st.st_dev || lst.st_ino != st.st_ino) {
        store_err_set(err_r, 1, "4.2.0", "mailbox %s changed while it was being opened", path);
        goto fail;
    }
    *fd_r = fd;
    return 0;

fail:
    close(fd);
    return -1;
}

/* Lock (dot-lock, then fcntl) and open the mbox path for appending. */
int mbox_open(const char *path, const struct mbox_opts *opts, struct mbox **mbox_r,
              struct store_err *err_r)
{
    struct mbox *mbox = mem_alloc(sizeof(*mbox));

    mbox->path = mem_strdup(path);
    mbox->opts = *opts;
    mbox->fd = -1;
    if ((opts->lock & MBOX_LOCK_DOTLOCK) &&
        mbox_dotlock_acquire(path, opts->lock_timeout_ms, opts->stale_lock_time, &mbox->dotlock,
                             err_r) < 0)
        goto fail;
    if (mbox_open_file(path, opts, &mbox->fd, err_r) < 0)
        goto fail;
    if (opts->lock & MBOX_LOCK_FCNTL) {
        if (mbox_fcntl_lock(mbox->fd, path, opts->lock_timeout_ms, err_r) < 0)
            goto fail;
        mbox->fcntl_locked = 1;
    }
    *mbox_r = mbox;
    return 0;

fail:
    mbox_close(&mbox);
    return -1;
}

/* Unlock (fcntl, then the dot-lock), close, and clear the pointer. */
void mbox_close(struct mbox **mboxp)
{
    struct mbox *mbox = *mboxp;

    if (mbox == NULL)
        return;
    if (mbox->fcntl_locked)
        mbox_fcntl_unlock(mbox->fd);
    if (mbox->fd >= 0 && close(mbox->fd) < 0)
        msg_warn("close mailbox %s: %m", mbox->path);
    mbox_dotlock_release(&mbox->dotlock);
    mem_free(mbox->path);
    MEM_FREE(mboxp);
}

/* Newlines needed before a From line so that it follows an empty line. */
static int mbox_separator(int fd, const char *path, off_t size, const char **sep_r,
                          struct store_err *err_r)
{
    char tail[2];
    ssize_t n;

    *sep_r = "";
    if (size == 0)
        return 0;
    if (size == 1) {
        tail[0] = 0;
        n = pread(fd, tail + 1, 1, 0);
    } else {
        n = pread(fd, tail, 2, size - 2);
    }
    if (n < 0)
        return store_err_errno(err_r, errno, "read mailbox %s", path);
    if (tail[1] != '\n')
        *sep_r = "\n\n";
    else if (size > 1 && tail[0] != '\n')
        *sep_r = "\n";
    return 0;
}

/* Append one message to an open, locked mbox; on failure leave the file as it was. */
int mbox_append(struct mbox *mbox, const char *sender, time_t when, const struct store_msg *msg,
                struct store_err *err_r)
{
    struct store_msg_reader reader;
    struct store_write *w = NULL;
    struct buf *from = NULL;
    const char *sep;
    char *data = NULL;
    off_t orig_size, limit = 0;
    struct stat st;
    ssize_t n = 0;
    int ret = -1, flags;

    if (fstat(mbox->fd, &st) < 0)
        return store_err_errno(err_r, errno, "fstat mailbox %s", mbox->path);
    orig_size = st.st_size;
    if (mbox->opts.size_limit > 0) {
        if (orig_size >= mbox->opts.size_limit)
            return store_err_set(err_r, 0, "5.2.2", "mailbox %s full: %lld bytes, limit %lld",
                                 mbox->path, (long long)orig_size,
                                 (long long)mbox->opts.size_limit);
        limit = mbox->opts.size_limit - orig_size;
    }
    if (mbox_separator(mbox->fd, mbox->path, orig_size, &sep, err_r) < 0)
        return -1;

    flags = STORE_WRITE_QUOTE_FROM;
    if (msg->flags & STORE_MSG_CRLF_TO_LF)
        flags |= STORE_WRITE_CRLF_TO_LF;
    w = store_write_create(mbox->fd, NULL, flags, limit);
    from = buf_create(128);
    mbox_from_line(from, sender, when);
    store_write_raw(w, sep, strlen(sep));
    store_write_raw(w, buf_str(from), buf_len(from));
    if (msg->prepend)
        store_write_text(w, msg->prepend, strlen(msg->prepend));
    data = mem_alloc(MBOX_READ_SIZE);
    store_msg_reader_init(&reader, msg);
    while (!store_write_failed(w) && (n = store_msg_read(&reader, data, MBOX_READ_SIZE, err_r)) > 0)
        store_write_text(w, data, (size_t)n);
    if (n < 0)
        goto fail;
    store_write_end_text(w);
    /* End with a newline, then the empty line before the next From line. */
    if (store_write_last(w) != '\n')
        store_write_raw(w, "\n", 1);
    store_write_raw(w, "\n", 1);
    if (store_write_flush(w, err_r) < 0) {
        if (store_write_errno(w) == 0)
            store_err_set(err_r, 0, "5.2.2", "mailbox %s full: message does not fit in limit %lld",
                          mbox->path, (long long)mbox->opts.size_limit);
        else
            store_err_errno(err_r, store_write_errno(w), "write mailbox %s", mbox->path);
        goto fail;
    }
    if (fsync(mbox->fd) < 0) {
        store_err_errno(err_r, errno, "fsync mailbox %s", mbox->path);
        goto fail;
    }
    ret = 0;

fail:
    if (ret < 0) {
        /* Take the partial message back out, whatever got written. */
        if (ftruncate(mbox->fd, orig_size) < 0) {
            msg_error("truncate mailbox %s back to %lld bytes: %m", mbox->path,
                      (long long)orig_size);
            snprintf(err_r->why + strlen(err_r->why), sizeof(err_r->why) - strlen(err_r->why),
                     "; truncating it back failed: %s", strerror(errno));
        } else if (fsync(mbox->fd) < 0) {
            msg_warn("fsync mailbox %s: %m", mbox->path);
        }
    }
    mem_free(data);
    buf_free(&from);
    store_write_free(&w);
    return ret;
}

/* Open, lock, append one message, unlock: one whole mbox delivery. */
int mbox_deliver(const char *path, const struct mbox_opts *opts, const char *sender, time_t when,
                 const struct store_msg *msg, struct store_err *err_r)
{
    struct mbox *mbox;
    int ret;

    if (mbox_open(path, opts, &mbox, err_r) < 0)
        return -1;
    ret = mbox_append(mbox, sender, when, msg, err_r);
    mbox_close(&mbox);
    return ret;
}
