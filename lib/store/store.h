/*
 * store - what every mailbox format shares: the failure report, the message
 * source a delivery reads from, and the errno-to-status mapping.
 *
 * A failed store operation returns -1 and fills a struct store_err: whether
 * the failure is temporary (the caller defers, 4.x.x) or permanent (the
 * caller bounces, 5.x.x), the RFC 3463 enhanced status code, and the reason
 * text for the log (file names included; never shown to an SMTP client).
 *
 *   4.2.0  mailbox trouble worth retrying: lock busy, open/mkdir failed
 *   4.2.2  mailbox full, temporary: the file system quota (EDQUOT)
 *   4.3.0  other system trouble: I/O error, fsync failed, message unreadable
 *   4.3.1  mail system full (ENOSPC)
 *   5.2.0  mailbox unusable: symbolic link, not a regular file, hard
 *          links, wrong owner, not a mailbox
 *   5.2.2  mailbox full, permanent: mailbox_size_limit or the file size
 *          limit (EFBIG) would be exceeded
 *   5.3.0  other permanent trouble (invalid folder name, bad argument)
 *
 * The message source is one of: a memory buffer, a file descriptor with an
 * offset and length (read with pread, so the caller's file position is left
 * alone: the local delivery agent streams from the queue file), or a read
 * callback. Header lines to prepend (Return-Path:, Delivered-To:) are
 * separate text, written first. Mailboxes store lines ending in LF; with
 * STORE_MSG_CRLF_TO_LF each CR LF of the content (and prepended text) is
 * written as LF.
 */
#ifndef POSTEL_STORE_STORE_H
#define POSTEL_STORE_STORE_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/util/buf.h"

#define STORE_ERR_TEXT 512 /* reason text bound; longer reasons are cut */

struct store_err {
    int temporary;            /* 1: defer (4.x.x); 0: bounce (5.x.x) */
    char dsn[8];              /* enhanced status code, "4.2.0" */
    char why[STORE_ERR_TEXT]; /* reason, for the log */
};

/*
 * Read up to len bytes of message content into data. Return the byte count,
 * 0 at the end of the message, or -1 with the reason through why_r (a
 * read failure is reported as temporary, 4.3.0).
 */
typedef ssize_t (*store_read_fn)(void *context, char *data, size_t len, const char **why_r);

enum store_src { STORE_SRC_MEM, STORE_SRC_FD, STORE_SRC_CALLBACK };

#define STORE_MSG_CRLF_TO_LF 0x1 /* write each CR LF as LF */

struct store_msg {
    const char *prepend; /* header lines written first ("Name: value\n"...), or NULL */
    int flags;           /* STORE_MSG_* */
    enum store_src src;
    /* STORE_SRC_MEM */
    const char *data;
    size_t data_len;
    /* STORE_SRC_FD: bytes [offset, offset+length) of fd; length -1 = to end of file */
    int fd;
    off_t offset;
    off_t length;
    /* STORE_SRC_CALLBACK */
    store_read_fn read_fn;
    void *read_context;
};

void store_msg_from_mem(struct store_msg *m, const char *data, size_t len);
void store_msg_from_fd(struct store_msg *m, int fd, off_t offset, off_t length);
void store_msg_from_callback(struct store_msg *m, store_read_fn fn, void *context);

/* Reading a struct store_msg from its start (the delivery code's side). */
struct store_msg_reader {
    const struct store_msg *msg;
    off_t pos; /* content bytes returned so far */
};

void store_msg_reader_init(struct store_msg_reader *r, const struct store_msg *m);
ssize_t store_msg_read(struct store_msg_reader *r, char *data, size_t len, struct store_err *err_r);

/* Filling in a failure report. */
int store_err_set(struct store_err *err, int temporary, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int store_err_errno(struct store_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int store_err_why(struct store_err *err, int errnum, const char *why);
void store_err_clear(struct store_err *err);

/* File system steps with the failure already classified. */
int store_mkdirs(const char *path, int *created_r, struct store_err *err_r);
int store_fsync_dir(const char *path, struct store_err *err_r);
int store_parent_dir(struct buf *out, const char *path);

#endif
