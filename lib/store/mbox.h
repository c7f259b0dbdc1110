/*
 * mbox - delivery into mbox files (RFC 4155), mboxrd flavour, and reading
 * them back.
 *
 * A delivered message is written as:
 *
 *   From <sender> <asctime-style date in UTC>\n
 *   <prepended header lines><message, each ^>*From  line given one more '>'>
 *   \n (only if the message does not end with one)
 *   \n (the blank line that separates it from the next From line)
 *
 * The sender is MAILER-DAEMON for the null sender <>; bytes of the sender
 * that would break the From line (space, control characters) are written as
 * '_'. If the mbox does not end with a blank line (another program wrote it
 * carelessly), the missing newlines are added first, so every From line
 * follows a blank line. On any failure the file is truncated back to its
 * size before the delivery: a failed delivery never leaves part of a
 * message behind.
 *
 * Delivery as the local agent does it (see mbox_lock.h for the locks):
 *
 *   struct mbox_opts o; mbox_opts_init(&o); o.uid = ...; o.size_limit = ...;
 *   mbox_deliver(path, &o, sender, time(NULL), &msg, &err)
 *
 * or, when creating and locking need other privileges than writing (a mail
 * spool directory owned by root, as Postfix does it): mbox_open() with the
 * spool directory owner's privileges, then mbox_append() as the recipient,
 * then mbox_close().
 *
 * Security: the mbox is opened with O_NOFOLLOW (a symbolic link is refused
 * with 5.2.0) and O_NONBLOCK (a FIFO cannot hang the delivery); it must be
 * a regular file with one link, owned by opts.uid. A missing mbox is
 * created with O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600, and given to
 * uid:gid when running as root. The caller should ignore SIGXFSZ, so that
 * RLIMIT_FSIZE shows up as EFBIG (5.2.2) instead of killing the process.
 */
#ifndef POSTEL_STORE_MBOX_H
#define POSTEL_STORE_MBOX_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "lib/store/store.h"
#include "lib/util/buf.h"

#define MBOX_LOCK_DOTLOCK 0x1 /* <mbox>.lock */
#define MBOX_LOCK_FCNTL 0x2   /* fcntl F_SETLK write lock */

#define MBOX_LOCK_TIMEOUT_MS 20000 /* Postfix: 20 attempts, 1 s apart */
#define MBOX_STALE_LOCK_TIME 500   /* seconds; Postfix's stale_lock_time */
#define MBOX_SENDER_MAX 1024       /* bytes of sender written in a From line */

struct mbox_opts {
    int lock;            /* MBOX_LOCK_* */
    int lock_timeout_ms; /* bound on each lock wait */
    int stale_lock_time; /* seconds after which a dot-lock is stale, 0 = never */
    uid_t uid;           /* owner an existing mbox must have; owner of a new one */
    gid_t gid;           /* group of a new mbox */
    off_t size_limit;    /* mailbox_size_limit in bytes, 0 = none */
};

struct mbox;

void mbox_opts_init(struct mbox_opts *opts);

int mbox_open(const char *path, const struct mbox_opts *opts, struct mbox **mbox_r,
              struct store_err *err_r);
int mbox_append(struct mbox *mbox, const char *sender, time_t when, const struct store_msg *msg,
                struct store_err *err_r);
void mbox_close(struct mbox **mboxp);
int mbox_deliver(const char *path, const struct mbox_opts *opts, const char *sender, time_t when,
                 const struct store_msg *msg, struct store_err *err_r);

void mbox_from_line(struct buf *out, const char *sender, time_t when);

/*
 * Reading. mbox_scan splits an mbox into messages: a message starts at a
 * line "From " that begins the file or follows an empty line; it ends
 * before the empty line that precedes the next From line (or at the end of
 * the file, without a final empty line). The scanner is incremental (any
 * split of the input gives the same result) and keeps only offsets.
 * mbox_unquote undoes mboxrd quoting: one '>' comes off each ^>+From  line.
 */
struct mbox_span {
    off_t from_offset; /* the "From " line */
    off_t body_offset; /* first byte of the message (after the From line) */
    off_t end_offset;  /* end of the message (exclusive), separator excluded */
};

struct mbox_scan;

struct mbox_scan *mbox_scan_create(void);
void mbox_scan_free(struct mbox_scan **scanp);
int mbox_scan_feed(struct mbox_scan *scan, const char *data, size_t len, const char **why_r);
int mbox_scan_end(struct mbox_scan *scan, const char **why_r);
size_t mbox_scan_count(const struct mbox_scan *scan);
const struct mbox_span *mbox_scan_get(const struct mbox_scan *scan, size_t index);
int mbox_scan_fd(int fd, struct mbox_scan **scan_r, struct store_err *err_r);

struct mbox_unquote {
    int at_bol; /* inside the leading ">*From " part of a line */
    size_t gt;  /* '>' seen at the start of this line */
    int nfrom;  /* bytes of "From " matched after them */
};

void mbox_unquote_init(struct mbox_unquote *uq);
void mbox_unquote_feed(struct mbox_unquote *uq, struct buf *out, const char *data, size_t len);
void mbox_unquote_end(struct mbox_unquote *uq, struct buf *out);
int mbox_read_message(int fd, const struct mbox_span *span, size_t max, struct buf *out,
                      struct store_err *err_r);

#endif
