/*
 * queue_file - the one module that reads and writes Postel's queue files.
 *
 * It owns the on-disk format (postel-queue(5) documents it byte for byte;
 * change both together and bump QUEUE_FORMAT_VERSION), the durable-write
 * protocol of incoming/ (<id>.tmp, O_EXCL, fsync, rename to <id>.msg, fsync
 * of the directory, one failure path that removes the temporary file), the
 * validation of every file read back, in-place status updates, and the
 * rename of files between queue directories.
 *
 *   0       header (96 bytes)         immutable after commit, CRC-32C
 *   96      content                   raw message bytes, CRC-32C in header
 *   E       envelope records          type(1) length(4) value, CRC-32C in header
 *   S       status table              (1 + recipients) x 32-byte slots, S % 32 == 0,
 *                                     each slot with its own CRC-32C
 *   S+32(N+1) end record (24 bytes)   proves the file was written to the end
 *   ...     diagnostic records        appended; reached only through a slot
 *
 * Crash safety of updates: a slot is 32 bytes at a 32-byte aligned offset,
 * so it never straddles a disk sector and is written by one pwrite. Should
 * it still be torn (its CRC fails), the recipient reads as pending: it may
 * be delivered twice, never lost. A diagnostic is appended and synced
 * before the slot that points to it, and is checked (magic, length, CRC,
 * recipient index) before use, so a torn append is never misread.
 *
 * Security: everything read from a file is bounded and checked before use
 * (lengths against the file size and the format limits, with overflow-safe
 * arithmetic); content is a single length-counted region, so nothing in a
 * message can forge a record. Files are opened with O_NOFOLLOW and must be
 * regular files; temporary files are created with O_EXCL and mode 0600.
 * Queue IDs given to the directory helpers are checked with
 * queue_id_valid(), so "../x" never reaches a path.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/mail/queue_file.h"
#include "lib/mail/queue_id.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/safe_file.h"

#define QF_HEADER_SIZE 96
#define QF_END_SIZE 24
#define QF_SLOT_SIZE 32
#define QF_REC_HDR 5             /* type(1) + length(4) */
#define QF_RCPT_FIXED 8          /* notify, reserved, three 16-bit lengths */
#define QF_DIAG_FIXED 28         /* magic .. reserved, before the variable part */
#define QF_DIAG_PAYLOAD_FIXED 20 /* the part of QF_DIAG_FIXED counted in the length */
#define QF_DIAG_CRC 4
#define QF_IOBUF (64 * 1024)
#define QF_CREATE_TRIES 10

/* Envelope record types (postel-queue(5), ENVELOPE RECORDS). */
#define QREC_TIME 'T'
#define QREC_SENDER 'S'
#define QREC_RCPT 'R'
#define QREC_CLIENT_ADDR 'A'
#define QREC_CLIENT_NAME 'C'
#define QREC_HELO 'H'
#define QREC_PROTOCOL 'P'
#define QREC_AUTH_USER 'U'
#define QREC_ENVID 'E'
#define QREC_RET 'D'
#define QREC_BODY 'B'
#define QREC_FLAGS 'F'
#define QREC_ATTR 'X'

static const unsigned char qf_magic[8] = {'P', 'O', 'S', 'T', 'E', 'L', 'Q', '\n'};
static const unsigned char qf_end_magic[8] = {'P', 'O', 'S', 'T', 'E', 'L', 'Q', 'E'};
static const unsigned char qf_diag_magic[4] = {'Q', 'D', 'I', 'A'};

enum qf_mode { QF_WRITER, QF_READER };

struct queue_file {
    enum qf_mode mode;
    int fd;
    int open_flags;
    char id[QUEUE_ID_SIZE];
    char *path; /* reader: as opened; writer: the final <dir>/<id>.msg */
    struct queue_envelope env;
    uint64_t content_len;
    char why[512]; /* reason of the last failure */

    /* writer */
    char *dir;
    char *tmp_path;
    struct queue_limits limits;
    enum queue_error error;
    bool failed;
    bool committed;
    unsigned char *wbuf;
    size_t wlen;
    uint64_t woff;      /* next content byte goes here */
    uint32_t wcrc;      /* CRC-32C of the content so far */
    uint64_t env_bytes; /* encoded size of the variable envelope records */
    size_t rcpt_alloc;
    size_t attr_alloc;

    /* reader */
    char *arena;          /* every envelope string, NUL-terminated */
    uint32_t content_crc; /* from the header */
    uint64_t status_off;
    uint64_t end_off;
    struct queue_slot msg_slot;
    bool corrupt;
    uint64_t cpos;   /* content stream position */
    uint32_t ccrc;   /* CRC-32C of content[0..cpos) */
    char *diag_data; /* strings of the last queue_file_rcpt_diag() */
};

/* ------------------------------------------------------------------ CRC-32C */

static uint32_t crc_table[8][256];
static bool crc_ready;

/* Build the slicing-by-8 tables for CRC-32C (Castagnoli, reflected 0x82F63B78). */
static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;

        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc_table[0][n];

        for (int k = 1; k < 8; k++) {
            c = crc_table[0][c & 0xff] ^ (c >> 8);
            crc_table[k][n] = c;
        }
    }
    crc_ready = true;
}

/* Continue a CRC-32C over more bytes (start with crc = 0). */
static uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;

    if (!crc_ready)
        crc_init();
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        uint32_t hi =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;

        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^
              crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^
              crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len-- > 0)
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---------------------------------------------------- big-endian integers */

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---------------------------------------------------------------- helpers */

/* Format a reason into qf->why (or a static buffer when qf is NULL). */
static const char *qf_reason(struct queue_file *qf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *qf_reason(struct queue_file *qf, const char *fmt, ...)
{
    static char why[512];
    char *dst = qf ? qf->why : why;
    size_t size = qf ? sizeof(qf->why) : sizeof(why);
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    errno = saved;
    return dst;
}

/* Write all of data at offset, retrying short writes and EINTR; errno on -1. */
static int qf_pwrite_all(int fd, const void *data, size_t len, uint64_t offset)
{
    return safe_pwrite_all(fd, data, len, (off_t)offset);
}

/* Read exactly len bytes at offset: 0, or -1 (errno; EIO-less short read sets *short_r). */
static int qf_pread_all(int fd, void *data, size_t len, uint64_t offset, bool *short_r)
{
    unsigned char *p = data;

    *short_r = false;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)offset);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            *short_r = true;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

/* Rename without replacing an existing file (renameat2, or link+unlink). */
static int qf_rename_noreplace(const char *from, const char *to)
{
#ifdef RENAME_NOREPLACE
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
#endif
    /* A file system without RENAME_NOREPLACE: link() refuses to replace, too. */
    if (link(from, to) < 0)
        return -1;
    if (unlink(from) < 0) {
        int saved = errno;

        (void)unlink(to);
        errno = saved;
        return -1;
    }
    return 0;
}

/* Does s (len bytes) hold a byte that an envelope string may not contain? */
static bool qf_bad_string(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n')
            return true;
    return false;
}

/* Is name an acceptable attribute name ([a-z0-9_.-]+, bounded)? */
static bool qf_attr_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > QUEUE_ATTR_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* Is code an RFC 3463 status code "c.s.d" (empty is allowed)? */
static bool qf_dsn_ok(const char *code)
{
    const char *p = code;

    if (*p == '\0')
        return true;
    if (strlen(code) > QUEUE_DSN_MAX || (*p != '2' && *p != '4' && *p != '5') || p[1] != '.')
        return false;
    p += 2;
    for (int part = 0; part < 2; part++) {
        int digits = 0;

        while (*p >= '0' && *p <= '9') {
            p++;
            digits++;
        }
        if (digits < 1 || digits > 3)
            return false;
        if (part == 0 && *p++ != '.')
            return false;
    }
    return *p == '\0';
}

/* Map an errno value to the error class a caller answers with. */
enum queue_error queue_error_from_errno(int errnum)
{
    switch (errnum) {
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
    case EFBIG:
        return QUEUE_ERR_NOSPACE;
    default:
        return QUEUE_ERR_IO;
    }
}

/* Is this error class temporary (4xx) rather than permanent (5xx)? */
bool queue_error_temporary(enum queue_error err)
{
    return err == QUEUE_ERR_NOSPACE || err == QUEUE_ERR_IO || err == QUEUE_ERR_LIMIT;
}

/* Is this status final (the recipient is done)? */
bool queue_status_done(enum queue_status status)
{
    return status == QUEUE_DELIVERED || status == QUEUE_BOUNCED;
}

/* The log name of a status: pending, delivered, bounced, deferred. */
const char *queue_status_name(enum queue_status status)
{
    switch (status) {
    case QUEUE_PENDING:
        return "pending";
    case QUEUE_DELIVERED:
        return "delivered";
    case QUEUE_BOUNCED:
        return "bounced";
    case QUEUE_DEFERRED:
        return "deferred";
    }
    return "invalid";
}

/* Build "<dir>/<id><suffix>". */
static void qf_join(struct buf *path, const char *dir, const char *id, const char *suffix)
{
    buf_reset(path);
    buf_puts(path, dir);
    if (buf_len(path) > 0 && buf_str(path)[buf_len(path) - 1] != '/')
        buf_putc(path, '/');
    buf_puts(path, id);
    buf_puts(path, suffix);
}

/* ------------------------------------------------------------- slots */

/* Encode a slot into its 32 bytes, CRC included. */
static void qf_slot_encode(unsigned char b[QF_SLOT_SIZE], const struct queue_slot *s)
{
    memset(b, 0, QF_SLOT_SIZE);
    b[0] = (unsigned char)s->status;
    b[1] = (unsigned char)s->flags;
    put32(b + 4, s->attempts);
    put64(b + 8, (uint64_t)s->next_retry);
    put64(b + 16, s->diag_offset);
    put32(b + 28, crc32c(0, b, 28));
}

/* Decode a slot: 1 = valid, 0 = torn (CRC mismatch), -1 = invalid values. */
static int qf_slot_decode(const unsigned char b[QF_SLOT_SIZE], struct queue_slot *s)
{
    memset(s, 0, sizeof(*s));
    if (get32(b + 28) != crc32c(0, b, 28))
        return 0;
    if (b[0] > QUEUE_DEFERRED || (b[1] & ~QUEUE_SLOT_FLAGS_ALL) != 0 || b[2] != 0 || b[3] != 0 ||
        get32(b + 24) != 0)
        return -1;
    s->status = (enum queue_status)b[0];
    s->flags = b[1];
    s->attempts = get32(b + 4);
    s->next_retry = (int64_t)get64(b + 8);
    s->diag_offset = get64(b + 16);
    return 1;
}

/* Is a slot the caller wants written well-formed? */
static bool qf_slot_ok(const struct queue_slot *s)
{
    return (unsigned)s->status <= QUEUE_DEFERRED && (s->flags & ~QUEUE_SLOT_FLAGS_ALL) == 0;
}

/* ----------------------------------------------------------------- writer */

/* Fail the writer: remove the temporary file now, remember why. */
static int qf_fail(struct queue_file *qf, enum queue_error err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int qf_fail(struct queue_file *qf, enum queue_error err, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(qf->why, sizeof(qf->why), fmt, ap);
    va_end(ap);
    qf->error = err;
    qf->failed = true;
    if (qf->fd >= 0) {
        (void)close(qf->fd);
        qf->fd = -1;
    }
    if (qf->tmp_path != NULL && unlink(qf->tmp_path) < 0 && errno != ENOENT)
        msg_warn("remove %s: %m", qf->tmp_path);
    errno = saved;
    return -1;
}

/* Reject one call without failing the file (bad input, a limit). */
static int qf_refuse(struct queue_file *qf, enum queue_error err, const char *why,
                     const char **why_r)
{
    qf->error = err;
    *why_r = qf_reason(qf, "%s", why);
    return -1;
}

/* Panic unless qf is a writer that can still take input. */
static void qf_check_writer(const struct queue_file *qf, const char *fn)
{
    if (qf == NULL || qf->mode != QF_WRITER || qf->committed)
        msg_panic("%s: not an open queue file writer", fn);
}

/* Encoded size of an optional string record. */
static uint64_t qf_str_cost(const char *s)
{
    return s ? QF_REC_HDR + strlen(s) : 0;
}

/* Create <queue_dir>/<id>.tmp for writing a new queue file. */
int queue_file_create(const char *queue_dir, const struct queue_limits *limits,
                      struct queue_file **qf_r, const char **why_r)
{
    struct buf *path = buf_create(64);
    char id[QUEUE_ID_SIZE];
    uint64_t usec;
    int fd = -1;

    *qf_r = NULL;
    for (int tries = 0; fd < 0; tries++) {
        queue_id_next(id);
        qf_join(path, queue_dir, id, QUEUE_SUFFIX_TMP);
        fd = safe_create(buf_str(path), O_WRONLY, 0600, why_r);
        if (fd < 0 && (errno != EEXIST || tries + 1 >= QF_CREATE_TRIES)) {
            int saved = errno; /* for queue_error_from_errno() */

            buf_free(&path);
            errno = saved;
            return -1;
        }
    }

    struct queue_file *qf = mem_alloc(sizeof(*qf));

    qf->mode = QF_WRITER;
    qf->fd = fd;
    memcpy(qf->id, id, sizeof(qf->id));
    qf->dir = mem_strdup(queue_dir);
    qf->tmp_path = buf_export(&path);
    path = buf_create(64);
    qf_join(path, queue_dir, id, QUEUE_SUFFIX_MSG);
    qf->path = buf_export(&path);
    if (limits)
        qf->limits = *limits;
    if (qf->limits.rcpt_max == 0 || qf->limits.rcpt_max > QUEUE_RCPT_HARD_MAX)
        qf->limits.rcpt_max = QUEUE_RCPT_HARD_MAX;
    qf->woff = QF_HEADER_SIZE;
    (void)queue_id_parse(id, &usec, NULL, why_r);
    qf->env.arrival = usec;
    *qf_r = qf;
    return 0;
}

/* Set one string field of the envelope (NULL removes an optional one). */
int queue_file_set_str(struct queue_file *qf, enum queue_field field, const char *value,
                       const char **why_r)
{
    const char **slot;
    uint64_t cost;

    qf_check_writer(qf, "queue_file_set_str");
    switch (field) {
    case QUEUE_F_SENDER:
        slot = &qf->env.sender;
        break;
    case QUEUE_F_CLIENT_ADDR:
        slot = &qf->env.client_addr;
        break;
    case QUEUE_F_CLIENT_NAME:
        slot = &qf->env.client_name;
        break;
    case QUEUE_F_HELO:
        slot = &qf->env.helo;
        break;
    case QUEUE_F_PROTOCOL:
        slot = &qf->env.protocol;
        break;
    case QUEUE_F_AUTH_USER:
        slot = &qf->env.auth_user;
        break;
    case QUEUE_F_ENVID:
        slot = &qf->env.envid;
        break;
    default:
        msg_panic("queue_file_set_str: bad field %d", (int)field);
    }
    if (value != NULL) {
        size_t len = strlen(value);

        if (len > QUEUE_STR_MAX)
            return qf_refuse(qf, QUEUE_ERR_INVALID, "envelope field too long", why_r);
        if (qf_bad_string(value, len))
            return qf_refuse(qf, QUEUE_ERR_INVALID, "envelope field contains CR or LF", why_r);
    }
    cost = qf_str_cost(value);
    if (qf->env_bytes - qf_str_cost(*slot) + cost > QUEUE_ENVELOPE_MAX - 64)
        return qf_refuse(qf, QUEUE_ERR_LIMIT, "envelope too large", why_r);
    qf->env_bytes = qf->env_bytes - qf_str_cost(*slot) + cost;
    mem_free((char *)*slot);
    *slot = value ? mem_strdup(value) : NULL;
    return 0;
}

/* Set the arrival time (default: the time in the queue ID). */
int queue_file_set_arrival(struct queue_file *qf, uint64_t usec, const char **why_r)
{
    qf_check_writer(qf, "queue_file_set_arrival");
    qf->env.arrival = usec;
    return 0;
}

/* Set DSN RET=FULL/HDRS. */
int queue_file_set_ret(struct queue_file *qf, enum queue_ret ret, const char **why_r)
{
    qf_check_writer(qf, "queue_file_set_ret");
    if ((unsigned)ret > QUEUE_RET_HDRS)
        return qf_refuse(qf, QUEUE_ERR_INVALID, "bad DSN RET value", why_r);
    qf->env.ret = ret;
    return 0;
}

/* Set BODY=7BIT/8BITMIME/BINARYMIME. */
int queue_file_set_body(struct queue_file *qf, enum queue_body body, const char **why_r)
{
    qf_check_writer(qf, "queue_file_set_body");
    if ((unsigned)body > QUEUE_BODY_BINARYMIME)
        return qf_refuse(qf, QUEUE_ERR_INVALID, "bad BODY value", why_r);
    qf->env.body = body;
    return 0;
}

/* Set the message flags (QUEUE_FLAG_*). */
int queue_file_set_flags(struct queue_file *qf, unsigned flags, const char **why_r)
{
    qf_check_writer(qf, "queue_file_set_flags");
    if ((flags & ~QUEUE_FLAGS_ALL) != 0)
        return qf_refuse(qf, QUEUE_ERR_INVALID, "unknown message flags", why_r);
    qf->env.flags = flags;
    return 0;
}

/* Add (or replace) a named attribute. */
int queue_file_add_attr(struct queue_file *qf, const char *name, const char *value,
                        const char **why_r)
{
    size_t nlen, vlen;
    struct queue_attr *a;

    qf_check_writer(qf, "queue_file_add_attr");
    nlen = strlen(name);
    vlen = strlen(value);
    if (!qf_attr_name_ok(name, nlen))
        return qf_refuse(qf, QUEUE_ERR_INVALID, "bad attribute name", why_r);
    if (vlen > QUEUE_STR_MAX || qf_bad_string(value, vlen))
        return qf_refuse(qf, QUEUE_ERR_INVALID, "bad attribute value", why_r);
    for (size_t i = 0; i < qf->env.attr_count; i++) {
        a = &qf->env.attrs[i];
        if (strcmp(a->name, name) == 0) {
            qf->env_bytes -= strlen(a->value);
            if (qf->env_bytes + vlen > QUEUE_ENVELOPE_MAX - 64) {
                qf->env_bytes += strlen(a->value);
                return qf_refuse(qf, QUEUE_ERR_LIMIT, "envelope too large", why_r);
            }
            qf->env_bytes += vlen;
            mem_free((char *)a->value);
            a->value = mem_strdup(value);
            return 0;
        }
    }
    if (qf->env.attr_count >= QUEUE_ATTR_MAX)
        return qf_refuse(qf, QUEUE_ERR_LIMIT, "too many attributes", why_r);
    if (qf->env_bytes + QF_REC_HDR + nlen + 1 + vlen > QUEUE_ENVELOPE_MAX - 64)
        return qf_refuse(qf, QUEUE_ERR_LIMIT, "envelope too large", why_r);
    if (qf->env.attr_count == qf->attr_alloc) {
        qf->attr_alloc = qf->attr_alloc ? 2 * qf->attr_alloc : 8;
        qf->env.attrs = mem_realloc_array(qf->env.attrs, qf->attr_alloc, sizeof(*a));
    }
    a = &qf->env.attrs[qf->env.attr_count++];
    a->name = mem_strdup(name);
    a->value = mem_strdup(value);
    qf->env_bytes += QF_REC_HDR + nlen + 1 + vlen;
    return 0;
}

/* Check one optional recipient string; returns its length or -1. */
static long qf_rcpt_str_len(const char *s)
{
    size_t len = s ? strlen(s) : 0;

    if (len > QUEUE_STR_MAX || qf_bad_string(s, len))
        return -1;
    return (long)len;
}

/* Add a recipient: address, original address, ORCPT, NOTIFY bits. */
int queue_file_add_rcpt(struct queue_file *qf, const char *address, const char *orig,
                        const char *orcpt, unsigned notify, const char **why_r)
{
    long alen, olen, rlen;
    uint64_t cost;
    struct queue_rcpt *r;

    qf_check_writer(qf, "queue_file_add_rcpt");
    if (orig != NULL && *orig == '\0')
        orig = NULL;
    if (orcpt != NULL && *orcpt == '\0')
        orcpt = NULL;
    alen = qf_rcpt_str_len(address);
    olen = qf_rcpt_str_len(orig);
    rlen = qf_rcpt_str_len(orcpt);
    if (address == NULL || alen <= 0 || olen < 0 || rlen < 0)
        return qf_refuse(qf, QUEUE_ERR_INVALID, "bad recipient address", why_r);
    if ((notify & ~QUEUE_NOTIFY_ALL) != 0 ||
        ((notify & QUEUE_NOTIFY_NEVER) && notify != QUEUE_NOTIFY_NEVER))
        return qf_refuse(qf, QUEUE_ERR_INVALID, "bad DSN NOTIFY combination", why_r);
    if (qf->env.rcpt_count >= qf->limits.rcpt_max)
        return qf_refuse(qf, QUEUE_ERR_LIMIT, "too many recipients", why_r);
    cost = QF_REC_HDR + QF_RCPT_FIXED + (uint64_t)alen + (uint64_t)olen + (uint64_t)rlen;
    if (qf->env_bytes + cost > QUEUE_ENVELOPE_MAX - 64)
        return qf_refuse(qf, QUEUE_ERR_LIMIT, "envelope too large", why_r);
    if (qf->env.rcpt_count == qf->rcpt_alloc) {
        qf->rcpt_alloc = qf->rcpt_alloc ? 2 * qf->rcpt_alloc : 8;
        qf->env.rcpts = mem_realloc_array(qf->env.rcpts, qf->rcpt_alloc, sizeof(*r));
    }
    r = &qf->env.rcpts[qf->env.rcpt_count++];
    memset(r, 0, sizeof(*r));
    r->address = mem_strdup(address);
    r->orig = orig ? mem_strdup(orig) : NULL;
    r->orcpt = orcpt ? mem_strdup(orcpt) : NULL;
    r->notify = notify;
    qf->env_bytes += cost;
    return 0;
}

/* Write the buffered content to the file. */
static int qf_flush(struct queue_file *qf)
{
    if (qf->wlen == 0)
        return 0;
    if (qf_pwrite_all(qf->fd, qf->wbuf, qf->wlen, qf->woff) < 0)
        return qf_fail(qf, queue_error_from_errno(errno), "write %s: %m", qf->tmp_path);
    qf->woff += qf->wlen;
    qf->wlen = 0;
    return 0;
}

/* Append message content (any bytes, NULs included). */
int queue_file_write(struct queue_file *qf, const void *data, size_t len, const char **why_r)
{
    qf_check_writer(qf, "queue_file_write");
    if (qf->failed) {
        *why_r = qf->why;
        return -1;
    }
    if (qf->limits.content_max != 0 &&
        (len > qf->limits.content_max || qf->content_len > qf->limits.content_max - len)) {
        qf_fail(qf, QUEUE_ERR_TOOBIG, "message content larger than %llu bytes",
                (unsigned long long)qf->limits.content_max);
        *why_r = qf->why;
        return -1;
    }
    if (len > UINT64_MAX - QF_HEADER_SIZE - qf->content_len - QUEUE_ENVELOPE_MAX) {
        qf_fail(qf, QUEUE_ERR_TOOBIG, "message content too large");
        *why_r = qf->why;
        return -1;
    }
    qf->wcrc = crc32c(qf->wcrc, data, len);
    qf->content_len += len;
    if (qf->wbuf == NULL)
        qf->wbuf = mem_alloc(QF_IOBUF);
    if (qf->wlen + len > QF_IOBUF && qf_flush(qf) < 0) {
        *why_r = qf->why;
        return -1;
    }
    if (len >= QF_IOBUF) {
        if (qf_pwrite_all(qf->fd, data, len, qf->woff) < 0) {
            qf_fail(qf, queue_error_from_errno(errno), "write %s: %m", qf->tmp_path);
            *why_r = qf->why;
            return -1;
        }
        qf->woff += len;
    } else {
        memcpy(qf->wbuf + qf->wlen, data, len);
        qf->wlen += len;
    }
    return 0;
}

/* Append one record header to the envelope being encoded. */
static void qf_rec_begin(struct buf *b, int type, size_t len)
{
    unsigned char hdr[QF_REC_HDR];

    hdr[0] = (unsigned char)type;
    put32(hdr + 1, (uint32_t)len);
    buf_append(b, hdr, sizeof(hdr));
}

/* Append a string record (if the string is set). */
static void qf_rec_str(struct buf *b, int type, const char *s)
{
    if (s == NULL)
        return;
    qf_rec_begin(b, type, strlen(s));
    buf_puts(b, s);
}

/* Append a 16-bit length and the string (empty when NULL). */
static void qf_put_lstr(struct buf *b, const char *s)
{
    unsigned char len[2];
    size_t n = s ? strlen(s) : 0;

    put16(len, (uint16_t)n);
    buf_append(b, len, 2);
    if (n)
        buf_append(b, s, n);
}

/* Encode the whole envelope. */
static void qf_encode_envelope(const struct queue_file *qf, struct buf *b)
{
    const struct queue_envelope *env = &qf->env;
    unsigned char v[8];

    qf_rec_begin(b, QREC_TIME, 8);
    put64(v, env->arrival);
    buf_append(b, v, 8);
    qf_rec_str(b, QREC_SENDER, env->sender);
    if (env->flags) {
        qf_rec_begin(b, QREC_FLAGS, 4);
        put32(v, env->flags);
        buf_append(b, v, 4);
    }
    if (env->body != QUEUE_BODY_NONE) {
        qf_rec_begin(b, QREC_BODY, 1);
        buf_putc(b, (int)env->body);
    }
    if (env->ret != QUEUE_RET_NONE) {
        qf_rec_begin(b, QREC_RET, 1);
        buf_putc(b, (int)env->ret);
    }
    qf_rec_str(b, QREC_ENVID, env->envid);
    qf_rec_str(b, QREC_CLIENT_ADDR, env->client_addr);
    qf_rec_str(b, QREC_CLIENT_NAME, env->client_name);
    qf_rec_str(b, QREC_HELO, env->helo);
    qf_rec_str(b, QREC_PROTOCOL, env->protocol);
    qf_rec_str(b, QREC_AUTH_USER, env->auth_user);
    for (size_t i = 0; i < env->attr_count; i++) {
        const struct queue_attr *a = &env->attrs[i];

        qf_rec_begin(b, QREC_ATTR, strlen(a->name) + 1 + strlen(a->value));
        buf_puts(b, a->name);
        buf_putc(b, '=');
        buf_puts(b, a->value);
    }
    for (size_t i = 0; i < env->rcpt_count; i++) {
        const struct queue_rcpt *r = &env->rcpts[i];
        size_t len = QF_RCPT_FIXED + strlen(r->address) + (r->orig ? strlen(r->orig) : 0) +
                     (r->orcpt ? strlen(r->orcpt) : 0);

        qf_rec_begin(b, QREC_RCPT, len);
        buf_putc(b, (int)r->notify);
        buf_putc(b, 0);
        qf_put_lstr(b, r->address);
        qf_put_lstr(b, r->orig);
        qf_put_lstr(b, r->orcpt);
    }
}

/* Encode the 96-byte header. */
static void qf_encode_header(unsigned char h[QF_HEADER_SIZE], const char *id, uint64_t content_len,
                             uint64_t env_off, uint32_t env_len, uint32_t rcpt_count,
                             uint64_t status_off, uint64_t end_off, uint32_t content_crc,
                             uint32_t env_crc)
{
    memset(h, 0, QF_HEADER_SIZE);
    memcpy(h, qf_magic, 8);
    put16(h + 8, QUEUE_FORMAT_VERSION);
    put16(h + 10, QF_HEADER_SIZE);
    memcpy(h + 16, id, QUEUE_ID_LEN);
    put64(h + 32, QF_HEADER_SIZE);
    put64(h + 40, content_len);
    put64(h + 48, env_off);
    put32(h + 56, env_len);
    put32(h + 60, rcpt_count);
    put64(h + 64, status_off);
    put64(h + 72, end_off);
    put32(h + 80, content_crc);
    put32(h + 84, env_crc);
    put32(h + 92, crc32c(0, h, 92));
}

/* Round up to a multiple of the slot size. */
static uint64_t qf_align_slot(uint64_t off)
{
    return (off + QF_SLOT_SIZE - 1) & ~(uint64_t)(QF_SLOT_SIZE - 1);
}

/* Finish the file: envelope, status table, end record, header, fsync, rename, fsync dir. */
int queue_file_commit(struct queue_file *qf, const char **why_r)
{
    struct buf *tail;
    unsigned char hdr[QF_HEADER_SIZE], slot[QF_SLOT_SIZE], end[QF_END_SIZE];
    struct queue_slot empty = {0};
    uint64_t env_off, status_off, end_off;
    uint32_t env_len, env_crc;
    int fd;

    qf_check_writer(qf, "queue_file_commit");
    if (qf->failed) {
        *why_r = qf->why;
        return -1;
    }
    if (qf->env.sender == NULL) {
        qf_fail(qf, QUEUE_ERR_INVALID, "no envelope sender");
        *why_r = qf->why;
        return -1;
    }
    if (qf->env.rcpt_count == 0) {
        qf_fail(qf, QUEUE_ERR_INVALID, "no recipients");
        *why_r = qf->why;
        return -1;
    }
    if (qf_flush(qf) < 0) {
        *why_r = qf->why;
        return -1;
    }

    /* Envelope, zero padding to a slot boundary, the slots, the end record. */
    tail = buf_create(qf->env_bytes + 128 + QF_SLOT_SIZE * (qf->env.rcpt_count + 1));
    qf_encode_envelope(qf, tail);
    if (buf_len(tail) > QUEUE_ENVELOPE_MAX)
        msg_panic("queue_file_commit: envelope of %zu bytes escaped the limit", buf_len(tail));
    env_len = (uint32_t)buf_len(tail);
    env_crc = crc32c(0, buf_str(tail), env_len);
    env_off = QF_HEADER_SIZE + qf->content_len;
    status_off = qf_align_slot(env_off + env_len);
    while (env_off + buf_len(tail) < status_off)
        buf_putc(tail, 0);
    qf_slot_encode(slot, &empty);
    for (size_t i = 0; i <= qf->env.rcpt_count; i++)
        buf_append(tail, slot, sizeof(slot));
    end_off = status_off + (uint64_t)QF_SLOT_SIZE * (qf->env.rcpt_count + 1);
    qf_encode_header(hdr, qf->id, qf->content_len, env_off, env_len, (uint32_t)qf->env.rcpt_count,
                     status_off, end_off, qf->wcrc, env_crc);
    memcpy(end, qf_end_magic, 8);
    put64(end + 8, end_off);
    memcpy(end + 16, hdr + 92, 4);
    put32(end + 20, crc32c(0, end, 20));
    buf_append(tail, end, sizeof(end));

    if (qf_pwrite_all(qf->fd, buf_str(tail), buf_len(tail), env_off) < 0 ||
        qf_pwrite_all(qf->fd, hdr, sizeof(hdr), 0) < 0) {
        buf_free(&tail);
        qf_fail(qf, queue_error_from_errno(errno), "write %s: %m", qf->tmp_path);
        *why_r = qf->why;
        return -1;
    }
    buf_free(&tail);
    if (fsync(qf->fd) < 0) {
        qf_fail(qf, queue_error_from_errno(errno), "fsync %s: %m", qf->tmp_path);
        *why_r = qf->why;
        return -1;
    }
    fd = qf->fd;
    qf->fd = -1;
    if (close(fd) < 0) {
        qf_fail(qf, queue_error_from_errno(errno), "close %s: %m", qf->tmp_path);
        *why_r = qf->why;
        return -1;
    }
    if (qf_rename_noreplace(qf->tmp_path, qf->path) < 0) {
        qf_fail(qf, queue_error_from_errno(errno), "rename %s to %s: %m", qf->tmp_path, qf->path);
        *why_r = qf->why;
        return -1;
    }
    if (safe_fsync_dir(qf->dir, why_r) < 0) {
        /*
         * The file is complete but its name may not survive a crash. Take
         * it back so that the client retries: a duplicate (if someone has
         * already picked it up) is better than a loss.
         */
        qf_fail(qf, queue_error_from_errno(errno), "%s", *why_r);
        if (unlink(qf->path) < 0 && errno != ENOENT)
            msg_warn("remove %s: %m", qf->path);
        *why_r = qf->why;
        return -1;
    }
    MEM_FREE(&qf->wbuf);
    qf->committed = true;
    qf->error = QUEUE_ERR_NONE;
    return 0;
}

/* Give up on a file being written: remove the temporary file, free everything. */
void queue_file_abort(struct queue_file **qfp)
{
    queue_file_free(qfp);
}

/* Why the last writer call failed. */
enum queue_error queue_file_error(const struct queue_file *qf)
{
    return qf->error;
}

/* ----------------------------------------------------------------- reader */

/* Copy a validated string into the arena; returns it NUL-terminated. */
static const char *qf_arena_put(struct queue_file *qf, size_t *used, const unsigned char *s,
                                size_t len)
{
    char *p = qf->arena + *used;

    memcpy(p, s, len);
    p[len] = '\0';
    *used += len + 1;
    return p;
}

/* Printable name of a record type for reasons. */
static const char *qf_type_name(int type)
{
    static char name[8];

    if (type > ' ' && type < 0x7f)
        snprintf(name, sizeof(name), "'%c'", type);
    else
        snprintf(name, sizeof(name), "0x%02x", type);
    return name;
}

/* Check a string field of a record: bounded, no NUL/CR/LF. */
static bool qf_str_valid(const unsigned char *s, size_t len, bool empty_ok)
{
    return (empty_ok || len > 0) && len <= QUEUE_STR_MAX && !qf_bad_string((const char *)s, len);
}

/* Parse the (CRC-checked) envelope into qf->env; returns 1 or 0 with *why_r. */
static int qf_parse_envelope(struct queue_file *qf, const unsigned char *d, size_t len,
                             size_t rcpt_count, const char **why_r)
{
    struct queue_envelope *env = &qf->env;
    size_t pos = 0, used = 0, nrec = 0;
    bool have_time = false;
    bool seen[128] = {false};

    qf->arena = mem_alloc(len + 1);
    env->rcpts = mem_alloc_array(rcpt_count, sizeof(*env->rcpts));
    while (pos < len) {
        const unsigned char *v;
        uint32_t vlen;
        int type;

        nrec++;
        if (len - pos < QF_REC_HDR) {
            *why_r = qf_reason(qf, "envelope record %zu: truncated record header", nrec);
            return 0;
        }
        type = d[pos];
        vlen = get32(d + pos + 1);
        pos += QF_REC_HDR;
        if (vlen > len - pos) {
            *why_r =
                qf_reason(qf, "envelope record %zu (type %s): length %u runs past the envelope",
                          nrec, qf_type_name(type), vlen);
            return 0;
        }
        v = d + pos;
        pos += vlen;
        if (type != QREC_RCPT && type != QREC_ATTR && type < 128) {
            if (seen[type]) {
                *why_r = qf_reason(qf, "envelope record %zu (type %s): duplicate record", nrec,
                                   qf_type_name(type));
                return 0;
            }
            seen[type] = true;
        }
        switch (type) {
        case QREC_TIME:
            if (vlen != 8)
                goto bad_length;
            env->arrival = get64(v);
            have_time = true;
            break;
        case QREC_SENDER:
        case QREC_CLIENT_ADDR:
        case QREC_CLIENT_NAME:
        case QREC_HELO:
        case QREC_PROTOCOL:
        case QREC_AUTH_USER:
        case QREC_ENVID: {
            const char *s;

            if (!qf_str_valid(v, vlen, type == QREC_SENDER))
                goto bad_value;
            s = qf_arena_put(qf, &used, v, vlen);
            if (type == QREC_SENDER)
                env->sender = s;
            else if (type == QREC_CLIENT_ADDR)
                env->client_addr = s;
            else if (type == QREC_CLIENT_NAME)
                env->client_name = s;
            else if (type == QREC_HELO)
                env->helo = s;
            else if (type == QREC_PROTOCOL)
                env->protocol = s;
            else if (type == QREC_AUTH_USER)
                env->auth_user = s;
            else
                env->envid = s;
            break;
        }
        case QREC_RET:
            if (vlen != 1)
                goto bad_length;
            if (v[0] < QUEUE_RET_FULL || v[0] > QUEUE_RET_HDRS)
                goto bad_value;
            env->ret = (enum queue_ret)v[0];
            break;
        case QREC_BODY:
            if (vlen != 1)
                goto bad_length;
            if (v[0] < QUEUE_BODY_7BIT || v[0] > QUEUE_BODY_BINARYMIME)
                goto bad_value;
            env->body = (enum queue_body)v[0];
            break;
        case QREC_FLAGS:
            if (vlen != 4)
                goto bad_length;
            if ((get32(v) & ~(uint32_t)QUEUE_FLAGS_ALL) != 0)
                goto bad_value;
            env->flags = get32(v);
            break;
        case QREC_ATTR: {
            const unsigned char *eq = memchr(v, '=', vlen);
            struct queue_attr *a;
            size_t nlen;

            if (eq == NULL)
                goto bad_value;
            nlen = (size_t)(eq - v);
            if (!qf_attr_name_ok((const char *)v, nlen) ||
                !qf_str_valid(eq + 1, vlen - nlen - 1, true))
                goto bad_value;
            for (size_t i = 0; i < env->attr_count; i++) {
                if (strlen(env->attrs[i].name) == nlen &&
                    memcmp(env->attrs[i].name, v, nlen) == 0) {
                    *why_r = qf_reason(qf, "envelope record %zu: duplicate attribute", nrec);
                    return 0;
                }
            }
            if (env->attr_count >= QUEUE_ATTR_MAX) {
                *why_r = qf_reason(qf, "envelope record %zu: more than %d attributes", nrec,
                                   QUEUE_ATTR_MAX);
                return 0;
            }
            if (env->attr_count == qf->attr_alloc) {
                qf->attr_alloc = qf->attr_alloc ? 2 * qf->attr_alloc : 8;
                env->attrs = mem_realloc_array(env->attrs, qf->attr_alloc, sizeof(*a));
            }
            a = &env->attrs[env->attr_count++];
            a->name = qf_arena_put(qf, &used, v, nlen);
            a->value = qf_arena_put(qf, &used, eq + 1, vlen - nlen - 1);
            break;
        }
        case QREC_RCPT: {
            struct queue_rcpt *r;
            const unsigned char *p = v + 2;
            size_t left = vlen;
            size_t lens[3];
            const unsigned char *strs[3];

            if (env->rcpt_count >= rcpt_count) {
                *why_r = qf_reason(qf, "envelope record %zu: more recipients than the header's %zu",
                                   nrec, rcpt_count);
                return 0;
            }
            if (vlen < QF_RCPT_FIXED)
                goto bad_length;
            if ((v[0] & ~QUEUE_NOTIFY_ALL) != 0 ||
                ((v[0] & QUEUE_NOTIFY_NEVER) && v[0] != QUEUE_NOTIFY_NEVER) || v[1] != 0)
                goto bad_value;
            left -= 2;
            for (int k = 0; k < 3; k++) {
                if (left < 2)
                    goto bad_length;
                lens[k] = get16(p);
                p += 2;
                left -= 2;
                if (lens[k] > left)
                    goto bad_length;
                strs[k] = p;
                p += lens[k];
                left -= lens[k];
            }
            if (left != 0)
                goto bad_length;
            if (!qf_str_valid(strs[0], lens[0], false) || !qf_str_valid(strs[1], lens[1], true) ||
                !qf_str_valid(strs[2], lens[2], true))
                goto bad_value;
            r = &env->rcpts[env->rcpt_count++];
            r->notify = v[0];
            r->address = qf_arena_put(qf, &used, strs[0], lens[0]);
            r->orig = lens[1] ? qf_arena_put(qf, &used, strs[1], lens[1]) : NULL;
            r->orcpt = lens[2] ? qf_arena_put(qf, &used, strs[2], lens[2]) : NULL;
            break;
        }
        default:
            *why_r = qf_reason(qf, "envelope record %zu: unknown record type %s", nrec,
                               qf_type_name(type));
            return 0;
        }
        continue;
    bad_length:
        *why_r = qf_reason(qf, "envelope record %zu (type %s): bad length %u", nrec,
                           qf_type_name(type), vlen);
        return 0;
    bad_value:
        *why_r =
            qf_reason(qf, "envelope record %zu (type %s): bad value", nrec, qf_type_name(type));
        return 0;
    }
    if (used > len + 1)
        msg_panic("qf_parse_envelope: arena overrun (%zu > %zu)", used, len + 1);
    if (!have_time) {
        *why_r = qf_reason(qf, "envelope has no arrival time record");
        return 0;
    }
    if (env->sender == NULL) {
        *why_r = qf_reason(qf, "envelope has no sender record");
        return 0;
    }
    if (env->rcpt_count != rcpt_count) {
        *why_r = qf_reason(qf, "envelope has %zu recipients, the header says %zu", env->rcpt_count,
                           rcpt_count);
        return 0;
    }
    return 1;
}

/* Check the header, end record, envelope and slots; returns 1, 0 (why), -1 (errno). */
static int qf_load(struct queue_file *qf, uint64_t size, const char **why_r)
{
    unsigned char h[QF_HEADER_SIZE], end[QF_END_SIZE];
    unsigned char *data = NULL;
    uint64_t content_off, env_off, env_end, status_off, end_off, slots_len;
    uint32_t env_len, rcpt_count, version;
    const char *base;
    bool short_read;
    int ret;

    if (size == 0) {
        *why_r = qf_reason(qf, "empty file");
        return 0;
    }
    if (qf_pread_all(qf->fd, h, size < QF_HEADER_SIZE ? (size_t)size : sizeof(h), 0, &short_read) <
        0)
        goto read_error;
    if (memcmp(h, qf_magic, size < sizeof(qf_magic) ? (size_t)size : sizeof(qf_magic)) != 0) {
        *why_r = qf_reason(qf, "not a queue file (bad magic)");
        return 0;
    }
    if (size < QF_HEADER_SIZE) {
        *why_r = qf_reason(qf, "truncated: %llu bytes, shorter than the header",
                           (unsigned long long)size);
        return 0;
    }
    version = get16(h + 8);
    if (version != QUEUE_FORMAT_VERSION) {
        *why_r = qf_reason(qf, "unsupported format version %u (this program reads version %d)",
                           version, QUEUE_FORMAT_VERSION);
        return 0;
    }
    if (get32(h + 92) != crc32c(0, h, 92)) {
        *why_r = qf_reason(qf, "header checksum mismatch");
        return 0;
    }
    if (get16(h + 10) != QF_HEADER_SIZE || get32(h + 12) != 0 || get32(h + 88) != 0) {
        *why_r = qf_reason(qf, "bad header size or reserved fields");
        return 0;
    }
    if (!queue_id_valid_n((const char *)h + 16, QUEUE_ID_LEN)) {
        *why_r = qf_reason(qf, "malformed queue ID in header");
        return 0;
    }
    memcpy(qf->id, h + 16, QUEUE_ID_LEN);
    qf->id[QUEUE_ID_LEN] = '\0';
    base = strrchr(qf->path, '/');
    base = base ? base + 1 : qf->path;
    if (strlen(base) == QUEUE_ID_LEN + strlen(QUEUE_SUFFIX_MSG) &&
        strcmp(base + QUEUE_ID_LEN, QUEUE_SUFFIX_MSG) == 0 &&
        queue_id_valid_n(base, QUEUE_ID_LEN) && memcmp(base, qf->id, QUEUE_ID_LEN) != 0) {
        *why_r = qf_reason(qf, "queue ID %s in the header does not match the file name", qf->id);
        return 0;
    }

    /* Offsets: each one is checked against the file size, so nothing overflows. */
    content_off = get64(h + 32);
    qf->content_len = get64(h + 40);
    env_off = get64(h + 48);
    env_len = get32(h + 56);
    rcpt_count = get32(h + 60);
    status_off = get64(h + 64);
    end_off = get64(h + 72);
    qf->content_crc = get32(h + 80);
    if (content_off != QF_HEADER_SIZE || qf->content_len > size - QF_HEADER_SIZE ||
        env_off != QF_HEADER_SIZE + qf->content_len) {
        *why_r = qf_reason(qf, "bad content offset or length");
        return 0;
    }
    if (env_len > QUEUE_ENVELOPE_MAX || env_len > size - env_off) {
        *why_r = qf_reason(qf, "bad envelope length %u", env_len);
        return 0;
    }
    env_end = env_off + env_len;
    if (rcpt_count == 0 || rcpt_count > QUEUE_RCPT_HARD_MAX ||
        (uint64_t)rcpt_count * (QF_REC_HDR + QF_RCPT_FIXED + 1) > env_len) {
        *why_r = qf_reason(qf, "bad recipient count %u", rcpt_count);
        return 0;
    }
    slots_len = (uint64_t)QF_SLOT_SIZE * (rcpt_count + 1);
    if (status_off != qf_align_slot(env_end) || end_off != status_off + slots_len) {
        *why_r = qf_reason(qf, "bad status table or end record offset");
        return 0;
    }
    if (end_off > size || size - end_off < QF_END_SIZE) {
        *why_r = qf_reason(qf, "truncated: %llu bytes, expected at least %llu",
                           (unsigned long long)size, (unsigned long long)(end_off + QF_END_SIZE));
        return 0;
    }
    qf->status_off = status_off;
    qf->end_off = end_off;

    if (qf_pread_all(qf->fd, end, sizeof(end), end_off, &short_read) < 0)
        goto read_error;
    if (memcmp(end, qf_end_magic, sizeof(qf_end_magic)) != 0 || get64(end + 8) != end_off ||
        memcmp(end + 16, h + 92, 4) != 0 || get32(end + 20) != crc32c(0, end, 20)) {
        *why_r = qf_reason(qf, "bad end record");
        return 0;
    }

    /* Envelope (CRC first, then the records), its zero padding, and the slots. */
    data = mem_alloc(slots_len > env_len ? slots_len : env_len + 1);
    if (qf_pread_all(qf->fd, data, env_len, env_off, &short_read) < 0)
        goto read_error;
    if (get32(h + 84) != crc32c(0, data, env_len)) {
        *why_r = qf_reason(qf, "envelope checksum mismatch");
        mem_free(data);
        return 0;
    }
    ret = qf_parse_envelope(qf, data, env_len, rcpt_count, why_r);
    if (ret <= 0) {
        mem_free(data);
        return ret;
    }
    if (status_off > env_end) {
        unsigned char pad[QF_SLOT_SIZE];

        if (qf_pread_all(qf->fd, pad, status_off - env_end, env_end, &short_read) < 0)
            goto read_error;
        for (uint64_t i = 0; i < status_off - env_end; i++) {
            if (pad[i] != 0) {
                *why_r = qf_reason(qf, "nonzero padding after the envelope");
                mem_free(data);
                return 0;
            }
        }
    }
    if (qf_pread_all(qf->fd, data, slots_len, status_off, &short_read) < 0)
        goto read_error;
    for (uint32_t i = 0; i <= rcpt_count; i++) {
        struct queue_slot *s = i == 0 ? &qf->msg_slot : &qf->env.rcpts[i - 1].slot;
        int r = qf_slot_decode(data + (size_t)i * QF_SLOT_SIZE, s);

        if (r == 0) {
            /* A torn in-place update: at-least-once, so start this one again. */
            msg_warn("%s: status slot %u: checksum mismatch; treating it as pending", qf->path, i);
        } else if (r < 0 || (i == 0 && s->status != QUEUE_PENDING) ||
                   (s->diag_offset != 0 && s->diag_offset < end_off + QF_END_SIZE)) {
            *why_r = qf_reason(qf, "status slot %u: invalid contents", i);
            mem_free(data);
            return 0;
        }
    }
    mem_free(data);
    return 1;

read_error:
    mem_free(data);
    if (short_read) {
        *why_r = qf_reason(qf, "file shrank while being read");
        return 0;
    }
    *why_r = qf_reason(qf, "read: %m");
    return -1;
}

/* Open and validate a queue file: 1 = valid, 0 = corrupt (*why_r), -1 = system error. */
int queue_file_open(const char *path, int flags, struct queue_file **qf_r, const char **why_r)
{
    struct queue_file *qf;
    struct stat st;
    int fd, ret;

    *qf_r = NULL;
    fd = safe_open(path, (flags & QUEUE_OPEN_RDWR) ? O_RDWR : O_RDONLY, 0, 0, 0, why_r);
    if (fd < 0) {
        /* A symlink or a FIFO where a queue file should be is not ours: corrupt. */
        if (errno == ELOOP || errno == EINVAL) {
            *why_r = qf_reason(NULL, errno == ELOOP ? "is a symbolic link" : "not a regular file");
            return 0;
        }
        *why_r = qf_reason(NULL, "open: %m");
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        *why_r = qf_reason(NULL, "fstat: %m");
        close(fd);
        return -1;
    }
    if ((flags & QUEUE_OPEN_LOCK) && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        *why_r = qf_reason(NULL, errno == EWOULDBLOCK ? "locked by another process" : "flock: %m");
        close(fd);
        return -1;
    }

    qf = mem_alloc(sizeof(*qf));
    qf->mode = QF_READER;
    qf->fd = fd;
    qf->open_flags = flags;
    qf->path = mem_strdup(path);
    ret = qf_load(qf, (uint64_t)st.st_size, why_r);
    if (ret == 1 && (flags & QUEUE_OPEN_VERIFY))
        ret = queue_file_verify_content(qf, why_r);
    if (ret != 1) {
        /* *why_r points into qf->why: move it somewhere that outlives qf. */
        *why_r = qf_reason(NULL, "%s", *why_r);
        queue_file_free(&qf);
        return ret;
    }
    *qf_r = qf;
    return 1;
}

/* Release a queue file (a writer that was not committed is removed first). */
void queue_file_free(struct queue_file **qfp)
{
    struct queue_file *qf = *qfp;

    if (qf == NULL)
        return;
    if (qf->fd >= 0)
        (void)close(qf->fd);
    if (qf->mode == QF_WRITER) {
        if (!qf->committed && !qf->failed && qf->tmp_path != NULL && unlink(qf->tmp_path) < 0 &&
            errno != ENOENT)
            msg_warn("remove %s: %m", qf->tmp_path);
        mem_free((char *)qf->env.sender);
        mem_free((char *)qf->env.client_addr);
        mem_free((char *)qf->env.client_name);
        mem_free((char *)qf->env.helo);
        mem_free((char *)qf->env.protocol);
        mem_free((char *)qf->env.auth_user);
        mem_free((char *)qf->env.envid);
        for (size_t i = 0; i < qf->env.rcpt_count; i++) {
            mem_free((char *)qf->env.rcpts[i].address);
            mem_free((char *)qf->env.rcpts[i].orig);
            mem_free((char *)qf->env.rcpts[i].orcpt);
        }
        for (size_t i = 0; i < qf->env.attr_count; i++) {
            mem_free((char *)qf->env.attrs[i].name);
            mem_free((char *)qf->env.attrs[i].value);
        }
    }
    mem_free(qf->env.rcpts);
    mem_free(qf->env.attrs);
    mem_free(qf->arena);
    mem_free(qf->diag_data);
    mem_free(qf->wbuf);
    mem_free(qf->dir);
    mem_free(qf->tmp_path);
    mem_free(qf->path);
    mem_free(qf);
    *qfp = NULL;
}

/* The queue ID. */
const char *queue_file_id(const struct queue_file *qf)
{
    return qf->id;
}

/* The path as opened (reader) or the final <dir>/<id>.msg (writer). */
const char *queue_file_path(const struct queue_file *qf)
{
    return qf->path;
}

/* The open file descriptor (-1 for a committed or failed writer). */
int queue_file_fd(const struct queue_file *qf)
{
    return qf->fd;
}

/* The envelope: sender, recipients with their slots, client data, ... */
const struct queue_envelope *queue_file_envelope(const struct queue_file *qf)
{
    return &qf->env;
}

/* The value of a named attribute, or NULL. */
const char *queue_file_attr(const struct queue_file *qf, const char *name)
{
    for (size_t i = 0; i < qf->env.attr_count; i++)
        if (strcmp(qf->env.attrs[i].name, name) == 0)
            return qf->env.attrs[i].value;
    return NULL;
}

/* Where the content starts in the file. */
uint64_t queue_file_content_offset(const struct queue_file *qf)
{
    (void)qf;
    return QF_HEADER_SIZE;
}

/* The content length in bytes (the message size). */
uint64_t queue_file_content_length(const struct queue_file *qf)
{
    return qf->content_len;
}

/* Has reading the content found it damaged? */
bool queue_file_corrupt(const struct queue_file *qf)
{
    return qf->corrupt;
}

/* Start queue_file_content_read() from the beginning again. */
void queue_file_content_rewind(struct queue_file *qf)
{
    qf->cpos = 0;
    qf->ccrc = 0;
}

/* Read content from offset (relative to the content), without CRC checking. */
int queue_file_content_pread(struct queue_file *qf, uint64_t offset, void *buf, size_t size,
                             size_t *len_r, const char **why_r)
{
    uint64_t left;
    ssize_t n;

    if (qf->mode != QF_READER)
        msg_panic("queue_file_content_pread: not a reader");
    *len_r = 0;
    if (offset >= qf->content_len)
        return 0;
    left = qf->content_len - offset;
    if (size > left)
        size = (size_t)left;
    do {
        n = pread(qf->fd, buf, size, (off_t)(QF_HEADER_SIZE + offset));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        *why_r = qf_reason(qf, "read: %m");
        return -1;
    }
    if (n == 0) {
        qf->corrupt = true;
        *why_r = qf_reason(qf, "file shrank while being read");
        return -1;
    }
    *len_r = (size_t)n;
    return 1;
}

/* Stream the content: 1 = *len_r bytes, 0 = end (CRC verified), -1 = error or damage. */
int queue_file_content_read(struct queue_file *qf, void *buf, size_t size, size_t *len_r,
                            const char **why_r)
{
    int ret;

    *len_r = 0;
    if (qf->cpos >= qf->content_len) {
        if (qf->ccrc != qf->content_crc) {
            qf->corrupt = true;
            *why_r = qf_reason(qf, "content checksum mismatch");
            return -1;
        }
        return 0;
    }
    if (size == 0)
        msg_panic("queue_file_content_read: zero-sized buffer");
    ret = queue_file_content_pread(qf, qf->cpos, buf, size, len_r, why_r);
    if (ret <= 0)
        return ret < 0 ? -1 : 0;
    qf->ccrc = crc32c(qf->ccrc, buf, *len_r);
    qf->cpos += *len_r;
    return 1;
}

/* Read the whole content and check its CRC: 1 = intact, 0 = damaged, -1 = I/O error. */
int queue_file_verify_content(struct queue_file *qf, const char **why_r)
{
    unsigned char *buf = mem_alloc(QF_IOBUF);
    uint64_t pos = 0;
    uint32_t crc = 0;
    size_t n;

    while (pos < qf->content_len) {
        if (queue_file_content_pread(qf, pos, buf, QF_IOBUF, &n, why_r) < 0) {
            mem_free(buf);
            return qf->corrupt ? 0 : -1;
        }
        crc = crc32c(crc, buf, n);
        pos += n;
    }
    mem_free(buf);
    if (crc != qf->content_crc) {
        qf->corrupt = true;
        *why_r = qf_reason(qf, "content checksum mismatch");
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- updates */

/* Panic unless qf was opened for updates. */
static void qf_check_rdwr(const struct queue_file *qf, const char *fn)
{
    if (qf == NULL || qf->mode != QF_READER || !(qf->open_flags & QUEUE_OPEN_RDWR))
        msg_panic("%s: queue file not opened with QUEUE_OPEN_RDWR", fn);
}

/* Write slot number index (0 = message) in place. */
static int qf_slot_write(struct queue_file *qf, size_t index, const struct queue_slot *s, int flags,
                         const char **why_r)
{
    unsigned char b[QF_SLOT_SIZE];

    qf_slot_encode(b, s);
    if (qf_pwrite_all(qf->fd, b, sizeof(b), qf->status_off + (uint64_t)index * QF_SLOT_SIZE) < 0) {
        *why_r = qf_reason(qf, "write status: %m");
        return -1;
    }
    if (!(flags & QUEUE_UPDATE_NOSYNC) && fdatasync(qf->fd) < 0) {
        *why_r = qf_reason(qf, "fdatasync: %m");
        return -1;
    }
    return 0;
}

/* Flush all updates made with QUEUE_UPDATE_NOSYNC. */
int queue_file_sync(struct queue_file *qf, const char **why_r)
{
    qf_check_rdwr(qf, "queue_file_sync");
    if (fdatasync(qf->fd) < 0) {
        *why_r = qf_reason(qf, "fdatasync: %m");
        return -1;
    }
    return 0;
}

/* The message slot: attempts and next retry time of the message as a whole. */
const struct queue_slot *queue_file_msg_slot(const struct queue_file *qf)
{
    return &qf->msg_slot;
}

/* Update the message slot in place. */
int queue_file_msg_update(struct queue_file *qf, const struct queue_slot *slot, int flags,
                          const char **why_r)
{
    struct queue_slot s = *slot;

    qf_check_rdwr(qf, "queue_file_msg_update");
    if (!qf_slot_ok(&s) || s.status != QUEUE_PENDING)
        msg_panic("queue_file_msg_update: bad slot contents");
    s.diag_offset = 0;
    if (qf_slot_write(qf, 0, &s, flags, why_r) < 0)
        return -1;
    qf->msg_slot = s;
    return 0;
}

/* Copy s into p, cut to max bytes at a UTF-8 boundary, controls made spaces. */
static size_t qf_clean_copy(unsigned char *p, const char *s, size_t max)
{
    size_t len = s ? strlen(s) : 0;

    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
            len--;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        p[i] = c < 0x20 || c == 0x7f ? ' ' : c;
    }
    return len;
}

/* Append a diagnostic record; returns its offset, 0 if it did not fit, -1 on error. */
static int qf_diag_append(struct queue_file *qf, size_t index, const struct queue_diag *d,
                          int flags, uint64_t *offset_r, const char **why_r)
{
    unsigned char *rec;
    size_t dsn_len, mta_len, text_len, payload, total;
    struct stat st;
    int64_t when = d->time ? d->time : (int64_t)time(NULL);

    *offset_r = 0;
    if (fstat(qf->fd, &st) < 0) {
        *why_r = qf_reason(qf, "fstat: %m");
        return -1;
    }
    rec = mem_alloc(QF_DIAG_FIXED + QUEUE_DSN_MAX + QUEUE_MTA_MAX + QUEUE_DIAG_TEXT_MAX +
                    QF_DIAG_CRC);
    dsn_len = qf_clean_copy(rec + QF_DIAG_FIXED, d->dsn, QUEUE_DSN_MAX);
    mta_len = qf_clean_copy(rec + QF_DIAG_FIXED + dsn_len, d->mta, QUEUE_MTA_MAX);
    text_len = qf_clean_copy(rec + QF_DIAG_FIXED + dsn_len + mta_len, d->text, QUEUE_DIAG_TEXT_MAX);
    payload = QF_DIAG_PAYLOAD_FIXED + dsn_len + mta_len + text_len;
    total = 8 + payload + QF_DIAG_CRC;
    if ((uint64_t)st.st_size < qf->end_off + QF_END_SIZE ||
        (uint64_t)st.st_size - (qf->end_off + QF_END_SIZE) + total > QUEUE_APPENDIX_MAX) {
        msg_warn("%s: diagnostic area full; not recording the diagnostic for recipient %zu",
                 qf->path, index);
        mem_free(rec);
        return 0;
    }
    memcpy(rec, qf_diag_magic, 4);
    put32(rec + 4, (uint32_t)payload);
    put32(rec + 8, (uint32_t)index);
    rec[12] = (unsigned char)d->status;
    rec[13] = (unsigned char)dsn_len;
    rec[14] = (unsigned char)mta_len;
    put64(rec + 16, (uint64_t)when);
    put16(rec + 24, (uint16_t)text_len);
    put32(rec + 8 + payload, crc32c(0, rec, 8 + payload));
    if (qf_pwrite_all(qf->fd, rec, total, (uint64_t)st.st_size) < 0) {
        *why_r = qf_reason(qf, "append diagnostic: %m");
        mem_free(rec);
        return -1;
    }
    mem_free(rec);
    if (!(flags & QUEUE_UPDATE_NOSYNC) && fdatasync(qf->fd) < 0) {
        *why_r = qf_reason(qf, "fdatasync: %m");
        return -1;
    }
    *offset_r = (uint64_t)st.st_size;
    return 0;
}

/* Update recipient index in place, after appending diag (if any). */
int queue_file_rcpt_update(struct queue_file *qf, size_t index, const struct queue_slot *slot,
                           const struct queue_diag *diag, int flags, const char **why_r)
{
    struct queue_rcpt *r;
    struct queue_slot s = *slot;
    uint64_t off;

    qf_check_rdwr(qf, "queue_file_rcpt_update");
    if (index >= qf->env.rcpt_count)
        msg_panic("queue_file_rcpt_update: recipient %zu of %zu", index, qf->env.rcpt_count);
    if (!qf_slot_ok(&s))
        msg_panic("queue_file_rcpt_update: bad slot contents");
    r = &qf->env.rcpts[index];
    s.diag_offset = r->slot.diag_offset;
    if (diag != NULL && !qf_dsn_ok(diag->dsn ? diag->dsn : "")) {
        *why_r = qf_reason(qf, "malformed DSN status code");
        return -1;
    }
    if (diag != NULL) {
        if (qf_diag_append(qf, index, diag, flags, &off, why_r) < 0)
            return -1;
        if (off != 0)
            s.diag_offset = off;
    }
    if (qf_slot_write(qf, index + 1, &s, flags, why_r) < 0)
        return -1;
    r->slot = s;
    return 0;
}

/* Read the latest diagnostic of a recipient: 1 = found, 0 = none or unreadable, -1 = I/O. */
int queue_file_rcpt_diag(struct queue_file *qf, size_t index, struct queue_diag *diag_r,
                         const char **why_r)
{
    unsigned char fixed[QF_DIAG_FIXED];
    unsigned char *rec;
    uint64_t off;
    uint32_t payload;
    size_t dsn_len, mta_len, text_len, total;
    struct stat st;
    bool short_read;
    char *p;

    if (qf->mode != QF_READER || index >= qf->env.rcpt_count)
        msg_panic("queue_file_rcpt_diag: bad call");
    memset(diag_r, 0, sizeof(*diag_r));
    off = qf->env.rcpts[index].slot.diag_offset;
    if (off == 0) {
        *why_r = qf_reason(qf, "no diagnostic recorded");
        return 0;
    }
    if (fstat(qf->fd, &st) < 0) {
        *why_r = qf_reason(qf, "fstat: %m");
        return -1;
    }
    if (off > (uint64_t)st.st_size || (uint64_t)st.st_size - off < QF_DIAG_FIXED + QF_DIAG_CRC) {
        *why_r = qf_reason(qf, "diagnostic record lost (file too short)");
        return 0;
    }
    if (qf_pread_all(qf->fd, fixed, sizeof(fixed), off, &short_read) < 0)
        goto read_error;
    payload = get32(fixed + 4);
    dsn_len = fixed[13];
    mta_len = fixed[14];
    text_len = get16(fixed + 24);
    if (memcmp(fixed, qf_diag_magic, 4) != 0 || dsn_len > QUEUE_DSN_MAX ||
        text_len > QUEUE_DIAG_TEXT_MAX ||
        payload != QF_DIAG_PAYLOAD_FIXED + dsn_len + mta_len + text_len ||
        (uint64_t)st.st_size - off < 8 + (uint64_t)payload + QF_DIAG_CRC) {
        *why_r = qf_reason(qf, "diagnostic record damaged");
        return 0;
    }
    total = 8 + payload + QF_DIAG_CRC;
    rec = mem_alloc(total);
    if (qf_pread_all(qf->fd, rec, total, off, &short_read) < 0) {
        mem_free(rec);
        goto read_error;
    }
    if (get32(rec + 8 + payload) != crc32c(0, rec, 8 + payload) || get32(rec + 8) != index ||
        rec[12] > QUEUE_DEFERRED || rec[15] != 0 || get16(rec + 26) != 0) {
        mem_free(rec);
        *why_r = qf_reason(qf, "diagnostic record damaged");
        return 0;
    }
    mem_free(qf->diag_data);
    qf->diag_data = p = mem_alloc(dsn_len + mta_len + text_len + 3);
    diag_r->time = (int64_t)get64(rec + 16);
    diag_r->status = (enum queue_status)rec[12];
    diag_r->dsn = p;
    memcpy(p, rec + QF_DIAG_FIXED, dsn_len);
    p += dsn_len + 1;
    diag_r->mta = p;
    memcpy(p, rec + QF_DIAG_FIXED + dsn_len, mta_len);
    p += mta_len + 1;
    diag_r->text = p;
    memcpy(p, rec + QF_DIAG_FIXED + dsn_len + mta_len, text_len);
    mem_free(rec);
    return 1;

read_error:
    if (short_read) {
        *why_r = qf_reason(qf, "diagnostic record lost (file shrank)");
        return 0;
    }
    *why_r = qf_reason(qf, "read: %m");
    return -1;
}

/* ------------------------------------------------------- queue directories */

/* Build "<dir>/<id>.msg" into path. */
void queue_file_name(struct buf *path, const char *dir, const char *id)
{
    qf_join(path, dir, id, QUEUE_SUFFIX_MSG);
}

/* Move <from_dir>/<id>.msg to <to_dir>/ (never replacing), fsync both directories. */
int queue_file_move(const char *from_dir, const char *to_dir, const char *id, const char **why_r)
{
    return queue_file_move_flags(from_dir, to_dir, id, 0, why_r);
}

/*
 * Move <from_dir>/<id>.msg to <to_dir>/ (never replacing). Unless flags
 * has QUEUE_MOVE_NOSYNC, fsync the destination, then the source directory.
 * QUEUE_MOVE_NOSYNC is for moves where a crash may leave the file under
 * either name without harm: the file itself is already durable (rename
 * does not change its data), the rename is atomic, and whoever recovers
 * scans both directories (qmgr's incoming/ to active/ move: at start it
 * puts active/ back into incoming/).
 */
int queue_file_move_flags(const char *from_dir, const char *to_dir, const char *id, int flags,
                          const char **why_r)
{
    struct buf *from, *to;

    if (!queue_id_valid(id)) {
        errno = EINVAL;
        *why_r = qf_reason(NULL, "malformed queue ID");
        return -1;
    }
    from = buf_create(64);
    to = buf_create(64);
    qf_join(from, from_dir, id, QUEUE_SUFFIX_MSG);
    qf_join(to, to_dir, id, QUEUE_SUFFIX_MSG);
    if (qf_rename_noreplace(buf_str(from), buf_str(to)) < 0) {
        *why_r = qf_reason(NULL, "rename %s to %s: %m", buf_str(from), buf_str(to));
        goto fail;
    }
    /* The new name first: if the old one reappears after a crash, it is a duplicate, not a loss. */
    if (!(flags & QUEUE_MOVE_NOSYNC) &&
        (safe_fsync_dir(to_dir, why_r) < 0 || safe_fsync_dir(from_dir, why_r) < 0))
        goto fail;
    buf_free(&from);
    buf_free(&to);
    return 0;

fail:
    buf_free(&from);
    buf_free(&to);
    return -1;
}

/* Remove <dir>/<id>.msg (its recipients are done, or the administrator said so). */
int queue_file_remove(const char *dir, const char *id, const char **why_r)
{
    struct buf *path;
    int ret = 0;

    if (!queue_id_valid(id)) {
        errno = EINVAL;
        *why_r = qf_reason(NULL, "malformed queue ID");
        return -1;
    }
    path = buf_create(64);
    queue_file_name(path, dir, id);
    /*
     * No directory fsync: a file that comes back after a crash has every
     * recipient marked done in its slots and is simply removed again.
     */
    if (unlink(buf_str(path)) < 0) {
        *why_r = qf_reason(NULL, "remove %s: %m", buf_str(path));
        ret = -1;
    }
    buf_free(&path);
    return ret;
}

/* qsort comparison of two strings. */
static int qf_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is name "<id><suffix>" with a well-formed ID? */
static bool qf_name_is(const char *name, const char *suffix)
{
    size_t len = strlen(name);

    return len == QUEUE_ID_LEN + strlen(suffix) && strcmp(name + QUEUE_ID_LEN, suffix) == 0 &&
           queue_id_valid_n(name, QUEUE_ID_LEN);
}

/* Append the IDs of the complete files in dir to ids, oldest first; returns the count. */
int queue_file_list(const char *dir, struct argv *ids, const char **why_r)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t start = ids->argc;

    if (d == NULL) {
        *why_r = qf_reason(NULL, "open directory %s: %m", dir);
        return -1;
    }
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL)
            break;
        if (qf_name_is(de->d_name, QUEUE_SUFFIX_MSG)) {
            if (ids->argc - start >= INT_MAX) {
                errno = EOVERFLOW;
                break;
            }
            argv_addn(ids, de->d_name, QUEUE_ID_LEN);
        }
    }
    if (errno != 0) {
        *why_r = qf_reason(NULL, "read directory %s: %m", dir);
        closedir(d);
        argv_truncate(ids, start);
        return -1;
    }
    closedir(d);
    qsort(ids->argv + start, ids->argc - start, sizeof(char *), qf_strcmp);
    return (int)(ids->argc - start);
}

/* Remove <id>.tmp files older than min_age seconds (0: all); returns the count. */
int queue_file_clean_tmp(const char *dir, time_t min_age, const char **why_r)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct stat st;
    time_t now = time(NULL);
    int removed = 0;

    if (d == NULL) {
        *why_r = qf_reason(NULL, "open directory %s: %m", dir);
        return -1;
    }
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL)
            break;
        if (!qf_name_is(de->d_name, QUEUE_SUFFIX_TMP))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* gone meanwhile */
        if (!S_ISREG(st.st_mode) || (min_age > 0 && now - st.st_mtime < min_age))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
            if (errno != ENOENT)
                msg_warn("remove %s/%s: %m", dir, de->d_name);
            continue;
        }
        msg_info("%s/%s: removed unfinished queue file", dir, de->d_name);
        if (removed < INT_MAX)
            removed++;
    }
    if (errno != 0) {
        *why_r = qf_reason(NULL, "read directory %s: %m", dir);
        closedir(d);
        return -1;
    }
    closedir(d);
    return removed;
}
