/*
 * store - the failure report and the message source shared by the mailbox
 * formats (see store.h for the status codes).
 *
 * Security: the fd source uses pread() within the caller's [offset,
 * offset+length) range only and reports a short file as an error instead of
 * delivering a truncated message.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/store/store.h"
#include "lib/util/argv.h"
#include "lib/util/safe_file.h"

/* Set up m to deliver len bytes of data from memory. */
void store_msg_from_mem(struct store_msg *m, const char *data, size_t len)
{
    memset(m, 0, sizeof(*m));
    m->src = STORE_SRC_MEM;
    m->data = data;
    m->data_len = len;
    m->fd = -1;
}

/* Set up m to deliver length bytes (-1: up to end of file) of fd from offset. */
void store_msg_from_fd(struct store_msg *m, int fd, off_t offset, off_t length)
{
    memset(m, 0, sizeof(*m));
    m->src = STORE_SRC_FD;
    m->fd = fd;
    m->offset = offset;
    m->length = length;
}

/* Set up m to deliver what fn returns until it returns 0. */
void store_msg_from_callback(struct store_msg *m, store_read_fn fn, void *context)
{
    memset(m, 0, sizeof(*m));
    m->src = STORE_SRC_CALLBACK;
    m->read_fn = fn;
    m->read_context = context;
    m->fd = -1;
}

/* Start reading the content of m from its beginning. */
void store_msg_reader_init(struct store_msg_reader *r, const struct store_msg *m)
{
    r->msg = m;
    r->pos = 0;
}

/* Read up to len content bytes; return the count, 0 at the end, or -1. */
ssize_t store_msg_read(struct store_msg_reader *r, char *data, size_t len, struct store_err *err_r)
{
    const struct store_msg *m = r->msg;
    const char *why = NULL;
    ssize_t n;

    switch (m->src) {
    case STORE_SRC_MEM:
        if ((size_t)r->pos >= m->data_len)
            return 0;
        if (len > m->data_len - (size_t)r->pos)
            len = m->data_len - (size_t)r->pos;
        memcpy(data, m->data + r->pos, len);
        r->pos += (off_t)len;
        return (ssize_t)len;
    case STORE_SRC_FD:
        if (m->length >= 0) {
            if (r->pos >= m->length)
                return 0;
            if ((off_t)len > m->length - r->pos)
                len = (size_t)(m->length - r->pos);
        }
        do
            n = pread(m->fd, data, len, m->offset + r->pos);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            store_err_set(err_r, 1, "4.3.0", "read message content at offset %lld: %s",
                          (long long)(m->offset + r->pos), strerror(errno));
            return -1;
        }
        if (n == 0 && m->length >= 0) {
            /* Shorter than the queue file said: never deliver half a message. */
            store_err_set(err_r, 1, "4.3.0",
                          "read message content: unexpected end of file at offset %lld",
                          (long long)(m->offset + r->pos));
            return -1;
        }
        r->pos += n;
        return n;
    case STORE_SRC_CALLBACK:
        n = m->read_fn(m->read_context, data, len, &why);
        if (n < 0 || (size_t)n > len) {
            store_err_set(err_r, 1, "4.3.0", "read message content: %s", why ? why : "read error");
            return -1;
        }
        r->pos += n;
        return n;
    }
    store_err_set(err_r, 0, "5.3.0", "bad message source type %d", (int)m->src);
    return -1;
}

/* Fill err (temporary or not, dsn, formatted reason); return -1. */
int store_err_set(struct store_err *err, int temporary, const char *dsn, const char *fmt, ...)
{
    va_list ap;

    err->temporary = temporary;
    snprintf(err->dsn, sizeof(err->dsn), "%s", dsn);
    va_start(ap, fmt);
    vsnprintf(err->why, sizeof(err->why), fmt, ap);
    va_end(ap);
    return -1;
}

/* The status code for a system error; *temporary_r says whether to retry. */
static const char *store_errno_dsn(int errnum, int *temporary_r)
{
    *temporary_r = 1;
    switch (errnum) {
    case ENOSPC:
        return "4.3.1"; /* RFC 3463: mail system full */
#ifdef EDQUOT
    case EDQUOT:
        return "4.2.2"; /* the user's file system quota: mailbox full, for now */
#endif
    case EFBIG:
        /* The file size limit is how a mailbox size limit is often enforced. */
        *temporary_r = 0;
        return "5.2.2";
    case EACCES:
    case EPERM:
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
    case EEXIST:
    case ELOOP:
    case EROFS:
    case ENAMETOOLONG:
    case EAGAIN:
    case ENOLCK:
        return "4.2.0";
    default:
        return "4.3.0";
    }
}

/* Fill err from a system error: the reason is "<text>: <strerror>"; return -1. */
int store_err_errno(struct store_err *err, int errnum, const char *fmt, ...)
{
    size_t len;
    va_list ap;

    snprintf(err->dsn, sizeof(err->dsn), "%s", store_errno_dsn(errnum, &err->temporary));
    va_start(ap, fmt);
    vsnprintf(err->why, sizeof(err->why), fmt, ap);
    va_end(ap);
    len = strlen(err->why);
    snprintf(err->why + len, sizeof(err->why) - len, ": %s", strerror(errnum));
    return -1;
}

/* Fill err from a system error whose reason text is already made; return -1. */
int store_err_why(struct store_err *err, int errnum, const char *why)
{
    snprintf(err->dsn, sizeof(err->dsn), "%s", store_errno_dsn(errnum, &err->temporary));
    snprintf(err->why, sizeof(err->why), "%s", why);
    return -1;
}

/* Reset err to "no failure". */
void store_err_clear(struct store_err *err)
{
    err->temporary = 0;
    err->dsn[0] = 0;
    err->why[0] = 0;
}

/* Put the directory part of path ("." if none) into out; return 0. */
int store_parent_dir(struct buf *out, const char *path)
{
    size_t len = strlen(path);

    while (len > 1 && path[len - 1] == '/')
        len--;
    while (len > 0 && path[len - 1] != '/')
        len--;
    while (len > 1 && path[len - 1] == '/')
        len--;
    buf_reset(out);
    if (len == 0)
        buf_puts(out, ".");
    else
        buf_append(out, path, len);
    return 0;
}

/* fsync a directory so that names created or removed in it are durable. */
int store_fsync_dir(const char *path, struct store_err *err_r)
{
    const char *why;

    if (safe_fsync_dir(path, &why) < 0)
        return store_err_why(err_r, errno, why);
    return 0;
}

/*
 * Create directory path with mode 0700, and its missing parents; *created_r
 * says whether anything was created. The directory holding each new one is
 * fsynced, so the new names survive a crash before mail is put under them.
 */
int store_mkdirs(const char *path, int *created_r, struct store_err *err_r)
{
    struct argv *missing = argv_create(4);
    struct buf *dir = buf_create(strlen(path));
    struct stat st;
    const char *why;
    size_t i;
    int ret = 0;

    if (created_r)
        *created_r = 0;
    /* Which of path and its parents do not exist yet (deepest first). */
    buf_set(dir, path);
    while (stat(buf_str(dir), &st) < 0 && errno == ENOENT) {
        argv_add(missing, buf_str(dir));
        store_parent_dir(dir, missing->argv[missing->argc - 1]);
        if (strcmp(buf_str(dir), missing->argv[missing->argc - 1]) == 0 ||
            strcmp(buf_str(dir), ".") == 0)
            break;
    }
    if (safe_mkdir_p(path, 0700, &why) < 0)
        ret = store_err_why(err_r, errno, why);
    for (i = 0; ret == 0 && i < missing->argc; i++) {
        store_parent_dir(dir, missing->argv[i]);
        ret = store_fsync_dir(buf_str(dir), err_r);
    }
    if (ret == 0 && created_r)
        *created_r = missing->argc > 0;
    argv_free(&missing);
    buf_free(&dir);
    return ret;
}
