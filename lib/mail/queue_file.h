/*
 * queue_file - Postel's queue files: durable creation, validation, reading,
 * per-recipient status updates in place, and moves between queue
 * directories. Every program that touches a queue file (smtpd, pickup, qmgr,
 * the delivery agents, postqueue, postsuper) goes through this module; the
 * format is documented byte for byte in postel-queue(5).
 *
 * Layout of a file (all integers big-endian):
 *
 *   header         96 bytes: magic, version, queue ID, the offsets and
 *                  lengths of the parts below, CRC-32C of content, envelope
 *                  and the header itself
 *   content        the message (headers + body) as raw bytes, 8-bit clean
 *   envelope       typed, length-prefixed records (sender, recipients, ...)
 *   status table   one 32-byte slot for the message, then one per
 *                  recipient, updated in place with pwrite
 *   end record     24 bytes; a file shorter than this is truncated
 *   diagnostics    appended later: DSN code, remote MTA and text for a
 *                  recipient, each record with its own CRC
 *
 * Writing (smtpd, pickup):
 *
 *   queue_file_create("incoming", &limits, &qf, &why)   <id>.tmp, O_EXCL
 *   queue_file_set_str(qf, QUEUE_F_SENDER, ...); queue_file_add_rcpt(...)
 *   queue_file_write(qf, data, len, &why) ...           content, streamed
 *   queue_file_commit(qf, &why)     fsync, rename to <id>.msg, fsync dir
 *   queue_file_free(&qf)            (or queue_file_abort(&qf) to give up)
 *
 * Envelope records are kept in memory (bounded by the limits) and written
 * at commit, so they may be set in any order, before or after the content.
 * queue_file_create() fails with errno set (queue_error_from_errno(errno)
 * classifies it). A later system error or the size limit fails the file
 * and removes the temporary file at once; queue_file_error() says whether
 * it was a full disk (answer 452 4.3.1), another system error (451 4.3.0)
 * or the size limit (552 5.3.4). A setter that refuses its input (bad
 * value, too many recipients) leaves the file usable. Only after
 * queue_file_commit() returned 0 may the message be acknowledged.
 *
 * Reading (qmgr, delivery agents, postqueue, postsuper):
 *
 *   r = queue_file_open(path, QUEUE_OPEN_RDWR, &qf, &why)
 *       1 = valid, 0 = corrupt (why says what; move it to corrupt/),
 *      -1 = system error (errno; ENOENT = it went away)
 *   env = queue_file_envelope(qf)             sender, env->rcpts[i], ...
 *   queue_file_content_read(qf, buf, size, &n, &why)   streams, verifies CRC
 *   queue_file_rcpt_update(qf, i, &slot, &diag, 0, &why)   pwrite + fdatasync
 *
 * Not thread-safe; a struct queue_file belongs to one process.
 */
#ifndef POSTEL_MAIL_QUEUE_FILE_H
#define POSTEL_MAIL_QUEUE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/mail/queue_id.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"

/* Queue directories, relative to queue_directory. */
#define QUEUE_DIR_MAILDROP "maildrop"
#define QUEUE_DIR_INCOMING "incoming"
#define QUEUE_DIR_ACTIVE "active"
#define QUEUE_DIR_DEFERRED "deferred"
#define QUEUE_DIR_HOLD "hold"
#define QUEUE_DIR_CORRUPT "corrupt"

#define QUEUE_SUFFIX_MSG ".msg" /* a complete queue file */
#define QUEUE_SUFFIX_TMP ".tmp" /* being written; removed at start */

/* Format limits: a file beyond these is corrupt, whatever the configuration. */
#define QUEUE_FORMAT_VERSION 1
#define QUEUE_STR_MAX 4096             /* bytes in any envelope string */
#define QUEUE_ATTR_NAME_MAX 64         /* bytes in an attribute name */
#define QUEUE_ATTR_MAX 256             /* attribute records per file */
#define QUEUE_RCPT_HARD_MAX 1000000    /* recipients per file */
#define QUEUE_ENVELOPE_MAX (64u << 20) /* bytes of envelope records */
#define QUEUE_DSN_MAX 15               /* "5.1.1": class.subject.detail */
#define QUEUE_MTA_MAX 255              /* remote MTA name in a diagnostic */
#define QUEUE_DIAG_TEXT_MAX 4000       /* diagnostic text (longer is cut) */
#define QUEUE_APPENDIX_MAX (16u << 20) /* diagnostic bytes appended over a file's life */

/* Caller limits for a writer; 0 in a field means the format limit. */
struct queue_limits {
    size_t rcpt_max;      /* recipients (smtpd_recipient_limit, ...) */
    uint64_t content_max; /* content bytes (message_size_limit); 0 = none */
};

/* Why a writer failed. */
enum queue_error {
    QUEUE_ERR_NONE = 0,
    QUEUE_ERR_NOSPACE, /* ENOSPC, EDQUOT, EFBIG: temporary, 452 4.3.1 */
    QUEUE_ERR_IO,      /* any other system error: temporary, 451 4.3.0 */
    QUEUE_ERR_TOOBIG,  /* content_max exceeded: permanent, 552 5.3.4 */
    QUEUE_ERR_LIMIT,   /* too many recipients or envelope too large: 452 4.5.3 */
    QUEUE_ERR_INVALID, /* the caller passed data the format cannot hold */
};

/* Status of one recipient (slot byte 0). */
enum queue_status {
    QUEUE_PENDING = 0,   /* not yet tried */
    QUEUE_DELIVERED = 1, /* done: delivered */
    QUEUE_BOUNCED = 2,   /* done: failed permanently */
    QUEUE_DEFERRED = 3,  /* failed temporarily; retry at next_retry */
};

/* Slot flags, for the caller's bookkeeping of notifications. */
#define QUEUE_SLOT_DELAY_WARNED 0x01 /* a delay warning (DSN "delayed") was sent */
#define QUEUE_SLOT_NOTIFIED 0x02     /* the final DSN for this status was sent */
#define QUEUE_SLOT_FLAGS_ALL 0x03

/* One status slot: of the message (queue_file_msg_slot) or of a recipient. */
struct queue_slot {
    enum queue_status status; /* always QUEUE_PENDING in the message slot */
    unsigned flags;           /* QUEUE_SLOT_* */
    uint32_t attempts;        /* delivery attempts so far */
    int64_t next_retry;       /* seconds since the epoch; 0 = as soon as possible */
    uint64_t diag_offset;     /* latest diagnostic record, 0 = none (set by this module) */
};

/* DSN NOTIFY (RFC 3461); 0 = not given (the default: FAILURE,DELAY). */
#define QUEUE_NOTIFY_NEVER 0x01
#define QUEUE_NOTIFY_SUCCESS 0x02
#define QUEUE_NOTIFY_FAILURE 0x04
#define QUEUE_NOTIFY_DELAY 0x08
#define QUEUE_NOTIFY_ALL 0x0f

struct queue_rcpt {
    const char *address;    /* envelope recipient after rewriting; never empty */
    const char *orig;       /* the address as the client gave it, NULL if same/unknown */
    const char *orcpt;      /* DSN ORCPT as received ("rfc822;a@b.example"), or NULL */
    unsigned notify;        /* QUEUE_NOTIFY_* */
    struct queue_slot slot; /* reader: the status when last read or updated */
};

/* DSN RET (RFC 3461). */
enum queue_ret { QUEUE_RET_NONE = 0, QUEUE_RET_FULL = 1, QUEUE_RET_HDRS = 2 };

/* MAIL FROM BODY= (RFC 6152, RFC 3030). */
enum queue_body {
    QUEUE_BODY_NONE = 0,
    QUEUE_BODY_7BIT = 1,
    QUEUE_BODY_8BITMIME = 2,
    QUEUE_BODY_BINARYMIME = 3,
};

/* Message flags. */
#define QUEUE_FLAG_SMTPUTF8 0x01 /* MAIL FROM ... SMTPUTF8 (RFC 6531) */
#define QUEUE_FLAGS_ALL 0x01

/* Named attribute (record X): for data without a record type of its own. */
struct queue_attr {
    const char *name; /* [a-z0-9_.-]+ */
    const char *value;
};

/* The envelope as read (or as being written). NULL strings are absent. */
struct queue_envelope {
    uint64_t arrival;        /* microseconds since the epoch */
    const char *sender;      /* "" = null sender <> */
    const char *client_addr; /* IP address of the SMTP client */
    const char *client_name; /* its verified name, or "unknown" */
    const char *helo;        /* HELO/EHLO argument */
    const char *protocol;    /* SMTP, ESMTP, ESMTPSA, LOCAL, ... */
    const char *auth_user;   /* SASL authenticated user */
    const char *envid;       /* DSN ENVID as received (xtext) */
    enum queue_ret ret;
    enum queue_body body;
    unsigned flags; /* QUEUE_FLAG_* */
    size_t rcpt_count;
    struct queue_rcpt *rcpts;
    size_t attr_count;
    struct queue_attr *attrs;
};

/* String fields for queue_file_set_str. */
enum queue_field {
    QUEUE_F_SENDER,
    QUEUE_F_CLIENT_ADDR,
    QUEUE_F_CLIENT_NAME,
    QUEUE_F_HELO,
    QUEUE_F_PROTOCOL,
    QUEUE_F_AUTH_USER,
    QUEUE_F_ENVID,
};

/* A per-recipient diagnostic (what a DSN and the log report). */
struct queue_diag {
    int64_t time;             /* seconds since the epoch; 0 = now (when writing) */
    enum queue_status status; /* status this diagnostic explains */
    const char *dsn;          /* RFC 3463 code "4.4.1", at most QUEUE_DSN_MAX */
    const char *mta;          /* remote MTA ("mx.example.com[192.0.2.1]") or NULL */
    const char *text;         /* "smtp; 550 5.1.1 no such user" or NULL */
};

struct queue_file;

/* ---- writing ---- */

int queue_file_create(const char *queue_dir, const struct queue_limits *limits,
                      struct queue_file **qf_r, const char **why_r);
int queue_file_set_str(struct queue_file *qf, enum queue_field field, const char *value,
                       const char **why_r);
int queue_file_set_arrival(struct queue_file *qf, uint64_t usec, const char **why_r);
int queue_file_set_ret(struct queue_file *qf, enum queue_ret ret, const char **why_r);
int queue_file_set_body(struct queue_file *qf, enum queue_body body, const char **why_r);
int queue_file_set_flags(struct queue_file *qf, unsigned flags, const char **why_r);
int queue_file_add_attr(struct queue_file *qf, const char *name, const char *value,
                        const char **why_r);
int queue_file_add_rcpt(struct queue_file *qf, const char *address, const char *orig,
                        const char *orcpt, unsigned notify, const char **why_r);
int queue_file_write(struct queue_file *qf, const void *data, size_t len, const char **why_r);
int queue_file_commit(struct queue_file *qf, const char **why_r);
void queue_file_abort(struct queue_file **qfp);
enum queue_error queue_file_error(const struct queue_file *qf);
enum queue_error queue_error_from_errno(int errnum);
bool queue_error_temporary(enum queue_error err);

/* ---- reading ---- */

#define QUEUE_OPEN_RDWR 0x01   /* allow status updates */
#define QUEUE_OPEN_VERIFY 0x02 /* also read the whole content and check its CRC */
#define QUEUE_OPEN_LOCK 0x04   /* exclusive flock(); EWOULDBLOCK if another holds it */

int queue_file_open(const char *path, int flags, struct queue_file **qf_r, const char **why_r);
void queue_file_free(struct queue_file **qfp);

const char *queue_file_id(const struct queue_file *qf);
const char *queue_file_path(const struct queue_file *qf);
int queue_file_fd(const struct queue_file *qf);
const struct queue_envelope *queue_file_envelope(const struct queue_file *qf);
const char *queue_file_attr(const struct queue_file *qf, const char *name);
uint64_t queue_file_content_offset(const struct queue_file *qf);
uint64_t queue_file_content_length(const struct queue_file *qf);
bool queue_file_corrupt(const struct queue_file *qf);

void queue_file_content_rewind(struct queue_file *qf);
int queue_file_content_read(struct queue_file *qf, void *buf, size_t size, size_t *len_r,
                            const char **why_r);
int queue_file_content_pread(struct queue_file *qf, uint64_t offset, void *buf, size_t size,
                             size_t *len_r, const char **why_r);
int queue_file_verify_content(struct queue_file *qf, const char **why_r);

/* ---- status updates ---- */

#define QUEUE_UPDATE_NOSYNC 0x01 /* leave the fdatasync to queue_file_sync() */

const struct queue_slot *queue_file_msg_slot(const struct queue_file *qf);
int queue_file_msg_update(struct queue_file *qf, const struct queue_slot *slot, int flags,
                          const char **why_r);
int queue_file_rcpt_update(struct queue_file *qf, size_t index, const struct queue_slot *slot,
                           const struct queue_diag *diag, int flags, const char **why_r);
int queue_file_rcpt_diag(struct queue_file *qf, size_t index, struct queue_diag *diag_r,
                         const char **why_r);
int queue_file_sync(struct queue_file *qf, const char **why_r);
bool queue_status_done(enum queue_status status);
const char *queue_status_name(enum queue_status status);

/* ---- queue directories ---- */

void queue_file_name(struct buf *path, const char *dir, const char *id);
#define QUEUE_MOVE_NOSYNC 0x01 /* no directory fsync: see queue_file_move_flags() */

int queue_file_move(const char *from_dir, const char *to_dir, const char *id, const char **why_r);
int queue_file_move_flags(const char *from_dir, const char *to_dir, const char *id, int flags,
                          const char **why_r);
int queue_file_remove(const char *dir, const char *id, const char **why_r);
int queue_file_list(const char *dir, struct argv *ids, const char **why_r);
int queue_file_clean_tmp(const char *dir, time_t min_age, const char **why_r);

#endif
