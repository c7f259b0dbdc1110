/*
 * maildrop - the maildrop file format (writer, strict incremental reader,
 * value checks) and the conversion of typed message text into the queue
 * representation. See maildrop.h for the format.
 *
 * This module owns the grammar of maildrop files; postdrop, pickup and
 * sendmail use only these functions to write and read them.
 *
 * Security notes: input comes from any local user (through the set-gid
 * postdrop, or written straight into maildrop/ by a member of the
 * setgid_group). Every record length is checked against its type's limit
 * before a byte of it is stored, so memory stays bounded by one envelope
 * record plus the envelope (bounded by rcpt_max); message pieces are never
 * buffered. Values that end up in headers or logs (full name, addresses,
 * ENVID) are refused when they hold control characters, so a maildrop file
 * cannot inject header lines or log lines.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "lib/mail/maildrop.h"
#include "lib/mail/master_proto.h"
#include "lib/proto/mailbox.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/sock.h"
#include "lib/util/str.h"

/* ------------------------------------------------------------ values */

/* Set *why_r and return -1. */
static int md_fail(const char **why_r, const char *why)
{
    if (why_r)
        *why_r = why;
    return -1;
}

/* Check an address in external form. */
int maildrop_check_address(const char *s, size_t len, bool null_ok, const char **why_r)
{
    const int flags = MAILBOX_UTF8;
    ssize_t at;
    size_t local_len, used = 0;
    int ret;

    if (len == 0)
        return null_ok ? 0 : md_fail(why_r, "empty address");
    if (len > MAILDROP_ADDR_MAX)
        return md_fail(why_r, "address too long");
    if (memchr(s, '\0', len) != NULL)
        return md_fail(why_r, "NUL in address");
    at = mailbox_at_sign(s, len);
    local_len = at < 0 ? len : (size_t)at;
    ret = mailbox_local_parse(s, local_len, flags, NULL, &used, why_r);
    /* Longer local parts than RFC 5321's 64 octets exist (SRS, VERP): accept them. */
    if (ret == MAILBOX_ERR_TOOLONG)
        ret = 0, used = local_len;
    if (ret != 0)
        return -1;
    if (used != local_len)
        return md_fail(why_r, "malformed local part");
    if (at < 0)
        return 0;
    if (mailbox_domain_check(s + at + 1, len - (size_t)at - 1, flags, why_r) != 0)
        return -1;
    return 0;
}

/* Check a full name. */
int maildrop_check_fullname(const char *s, size_t len, const char **why_r)
{
    if (len > MAILDROP_FULLNAME_MAX)
        return md_fail(why_r, "full name too long");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return md_fail(why_r, "control character in full name");
    }
    if (!mailbox_utf8_valid(s, len))
        return md_fail(why_r, "malformed UTF-8 in full name");
    return 0;
}

/* Check an ENVID. */
int maildrop_check_envid(const char *s, size_t len, const char **why_r)
{
    if (len == 0)
        return md_fail(why_r, "empty envelope ID");
    if (len > MAILDROP_ENVID_MAX)
        return md_fail(why_r, "envelope ID longer than 100 characters");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return md_fail(why_r, "envelope ID is not printable ASCII");
    return 0;
}

/* Check an ORCPT: addr-type ";" xtext (RFC 3461 section 4.2). */
int maildrop_check_orcpt(const char *s, size_t len, const char **why_r)
{
    const char *semi;

    if (len == 0 || len > MAILDROP_ORCPT_MAX)
        return md_fail(why_r, "bad original recipient length");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] > 0x7e)
            return md_fail(why_r, "original recipient is not printable ASCII");
    semi = memchr(s, ';', len);
    if (semi == NULL || semi == s || (size_t)(semi - s) + 1 == len)
        return md_fail(why_r, "original recipient is not addr-type;address");
    for (const char *p = s; p < semi; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-'))
            return md_fail(why_r, "bad original recipient address type");
    return 0;
}

/* Is s[0..len) the keyword kw, any case? */
static bool md_keyword(const char *s, size_t len, const char *kw)
{
    return strlen(kw) == len && str_ncmp_icase(s, kw, len) == 0;
}

/* Parse a NOTIFY list. */
int maildrop_parse_notify(const char *s, size_t len, unsigned *notify_r, const char **why_r)
{
    unsigned mask = 0;
    size_t i = 0;

    if (len == 0)
        return md_fail(why_r, "empty NOTIFY list");
    while (i <= len) {
        const char *comma = memchr(s + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - s) : len;
        const char *w = s + i;
        size_t wl = end - i;
        unsigned bit;

        if (md_keyword(w, wl, "never"))
            bit = QUEUE_NOTIFY_NEVER;
        else if (md_keyword(w, wl, "success"))
            bit = QUEUE_NOTIFY_SUCCESS;
        else if (md_keyword(w, wl, "failure"))
            bit = QUEUE_NOTIFY_FAILURE;
        else if (md_keyword(w, wl, "delay"))
            bit = QUEUE_NOTIFY_DELAY;
        else
            return md_fail(why_r, "NOTIFY takes NEVER or SUCCESS, FAILURE, DELAY");
        if (mask & bit)
            return md_fail(why_r, "NOTIFY keyword given twice");
        mask |= bit;
        i = end + 1;
    }
    if ((mask & QUEUE_NOTIFY_NEVER) && mask != QUEUE_NOTIFY_NEVER)
        return md_fail(why_r, "NOTIFY=NEVER cannot be combined with other keywords");
    *notify_r = mask;
    return 0;
}

/* Format a NOTIFY mask. */
void maildrop_format_notify(struct buf *out, unsigned notify)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {QUEUE_NOTIFY_NEVER, "NEVER"},
        {QUEUE_NOTIFY_SUCCESS, "SUCCESS"},
        {QUEUE_NOTIFY_FAILURE, "FAILURE"},
        {QUEUE_NOTIFY_DELAY, "DELAY"},
    };
    const char *sep = "";

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (notify & names[i].bit) {
            buf_puts(out, sep);
            buf_puts(out, names[i].name);
            sep = ",";
        }
    }
}

/* Parse RET. */
int maildrop_parse_ret(const char *s, size_t len, enum queue_ret *ret_r, const char **why_r)
{
    if (md_keyword(s, len, "full"))
        *ret_r = QUEUE_RET_FULL;
    else if (md_keyword(s, len, "hdrs"))
        *ret_r = QUEUE_RET_HDRS;
    else
        return md_fail(why_r, "RET takes FULL or HDRS");
    return 0;
}

/* Parse BODY. */
int maildrop_parse_body(const char *s, size_t len, enum queue_body *body_r, const char **why_r)
{
    if (md_keyword(s, len, "7bit"))
        *body_r = QUEUE_BODY_7BIT;
    else if (md_keyword(s, len, "8bitmime"))
        *body_r = QUEUE_BODY_8BITMIME;
    else
        return md_fail(why_r, "BODY takes 7BIT or 8BITMIME");
    return 0;
}

/* ------------------------------------------------------------ pickup */

/* Wake pickup through its public socket. */
int maildrop_pickup_trigger(const char *queue_dir, const char **why_r)
{
    const char wakeup = MASTER_WAKEUP_BYTE;

    return sock_trigger_unix(queue_dir, MAILDROP_PICKUP_SOCKET, &wakeup, 1,
                             MAILDROP_PICKUP_TIMEOUT_MS, why_r);
}

/* ------------------------------------------------------------ writer */

/* The format limit of a record type, or -1 for an unknown type. */
static long md_type_max(int type)
{
    switch (type) {
    case MAILDROP_REC_SENDER:
    case MAILDROP_REC_RCPT:
        return MAILDROP_ADDR_MAX;
    case MAILDROP_REC_FULLNAME:
        return MAILDROP_FULLNAME_MAX;
    case MAILDROP_REC_ENVID:
        return MAILDROP_ENVID_MAX;
    case MAILDROP_REC_ORCPT:
        return MAILDROP_ORCPT_MAX;
    case MAILDROP_REC_RET:
    case MAILDROP_REC_BODY:
    case MAILDROP_REC_NOTIFY:
        return MAILDROP_KEYWORD_MAX;
    case MAILDROP_REC_DATA:
        return MAILDROP_DATA_MAX;
    case MAILDROP_REC_SMTPUTF8:
    case MAILDROP_REC_END:
        return 0;
    default:
        return -1;
    }
}

/* Append the magic line. */
void maildrop_put_magic(struct buf *out)
{
    buf_append(out, MAILDROP_MAGIC, MAILDROP_MAGIC_LEN);
}

/* Append one record. */
void maildrop_put(struct buf *out, int type, const void *data, size_t len)
{
    long max = md_type_max(type);
    unsigned char head[MAILDROP_HEAD_LEN];

    if (max < 0 || len > (size_t)max)
        msg_panic("maildrop_put: record '%c' of %zu bytes", type, len);
    head[0] = (unsigned char)type;
    head[1] = (unsigned char)(len >> 24);
    head[2] = (unsigned char)(len >> 16);
    head[3] = (unsigned char)(len >> 8);
    head[4] = (unsigned char)len;
    buf_append(out, head, sizeof(head));
    if (len > 0)
        buf_append(out, data, len);
}

/* Append one record holding a string. */
void maildrop_put_str(struct buf *out, int type, const char *str)
{
    maildrop_put(out, type, str, strlen(str));
}

/* ------------------------------------------------------------ reader */

enum md_state {
    MD_MAGIC,  /* reading the magic line */
    MD_HEAD,   /* reading a record head */
    MD_VALUE,  /* reading an envelope record's data */
    MD_DATA,   /* passing an M record's data on */
    MD_DONE,   /* the end record was read */
    MD_FAILED, /* an error was reported */
};

struct maildrop_reader {
    struct maildrop_limits limits;
    maildrop_env_fn env_fn;
    maildrop_data_fn data_fn;
    void *ctx;
    enum md_state state;
    unsigned char head[MAILDROP_HEAD_LEN];
    size_t have;        /* bytes of magic or head collected */
    int type;           /* current record */
    uint32_t len;       /* its length */
    uint32_t left;      /* its bytes still to come */
    uint64_t rec_start; /* its offset */
    struct buf *value;  /* an envelope record's data */
    uint64_t offset;    /* input bytes taken */
    uint64_t content;   /* message bytes */
    bool in_content;    /* the first M (or E) was seen */
    unsigned seen;      /* envelope record types seen once (bit per kind) */
    bool have_notify, have_orcpt;
    unsigned notify; /* pending N */
    char *orcpt;     /* pending O */
    size_t rcpt_size;
    struct maildrop_envelope env;
    enum maildrop_error error;
    char why[256];
};

#define SEEN_S 0x01
#define SEEN_F 0x02
#define SEEN_V 0x04
#define SEEN_T 0x08
#define SEEN_B 0x10
#define SEEN_U 0x20

/* Create a reader. */
struct maildrop_reader *maildrop_reader_create(const struct maildrop_limits *limits,
                                               maildrop_env_fn env_fn, maildrop_data_fn data_fn,
                                               void *ctx)
{
    struct maildrop_reader *r = mem_alloc(sizeof(*r));

    if (limits)
        r->limits = *limits;
    if (r->limits.rcpt_max == 0 || r->limits.rcpt_max > MAILDROP_RCPT_HARD_MAX)
        r->limits.rcpt_max = MAILDROP_RCPT_HARD_MAX;
    r->env_fn = env_fn;
    r->data_fn = data_fn;
    r->ctx = ctx;
    r->value = buf_create(128);
    return r;
}

/* Free a reader and the envelope it holds. */
void maildrop_reader_free(struct maildrop_reader **rp)
{
    struct maildrop_reader *r = *rp;

    if (r == NULL)
        return;
    buf_free(&r->value);
    mem_free(r->orcpt);
    mem_free(r->env.sender);
    mem_free(r->env.fullname);
    mem_free(r->env.envid);
    for (size_t i = 0; i < r->env.rcpt_count; i++) {
        mem_free(r->env.rcpts[i].address);
        mem_free(r->env.rcpts[i].orcpt);
    }
    mem_free(r->env.rcpts);
    mem_free(r);
    *rp = NULL;
}

/* Printable form of a record type for messages. */
static const char *md_type_text(int type, char tmp[8])
{
    if (type > 0x20 && type < 0x7f)
        snprintf(tmp, 8, "'%c'", type);
    else
        snprintf(tmp, 8, "0x%02x", (unsigned)type & 0xff);
    return tmp;
}

/* Record an error about the current record. */
static int md_error(struct maildrop_reader *r, enum maildrop_error err, const char *what)
{
    char tmp[8];

    r->error = err;
    r->state = MD_FAILED;
    if (r->type != 0)
        snprintf(r->why, sizeof(r->why), "record %s at offset %llu: %s", md_type_text(r->type, tmp),
                 (unsigned long long)r->rec_start, what);
    else
        snprintf(r->why, sizeof(r->why), "at offset %llu: %s", (unsigned long long)r->rec_start,
                 what);
    return -1;
}

/* The envelope is complete: check it and tell the caller. */
static int md_envelope_done(struct maildrop_reader *r)
{
    if (!(r->seen & SEEN_S))
        return md_error(r, MAILDROP_ERR_FORMAT, "no sender record before the message");
    if (r->env.rcpt_count == 0)
        return md_error(r, MAILDROP_ERR_FORMAT, "no recipient record before the message");
    if (r->have_notify || r->have_orcpt)
        return md_error(r, MAILDROP_ERR_FORMAT, "NOTIFY or ORCPT record without a recipient");
    r->in_content = true;
    if (r->env_fn && r->env_fn(r->ctx, &r->env) < 0)
        return md_error(r, MAILDROP_ERR_CALLBACK, "envelope refused");
    return 0;
}

/* Mark an at-most-once envelope record as seen. */
static int md_once(struct maildrop_reader *r, unsigned bit)
{
    if (r->seen & bit)
        return md_error(r, MAILDROP_ERR_FORMAT, "record repeated");
    r->seen |= bit;
    return 0;
}

/* A complete envelope record is in r->value: check and store it. */
static int md_envelope_record(struct maildrop_reader *r)
{
    const char *v = buf_str(r->value);
    size_t len = buf_len(r->value);
    const char *why = NULL;
    char msg[200];

#define MD_BAD(what)                                                                               \
    do {                                                                                           \
        snprintf(msg, sizeof(msg), "%s: %s", what, why ? why : "invalid");                         \
        return md_error(r, MAILDROP_ERR_FORMAT, msg);                                              \
    } while (0)

    switch (r->type) {
    case MAILDROP_REC_SENDER:
        if (md_once(r, SEEN_S) < 0)
            return -1;
        if (maildrop_check_address(v, len, true, &why) < 0)
            MD_BAD("bad sender address");
        r->env.sender = mem_strndup(v, len);
        break;
    case MAILDROP_REC_FULLNAME:
        if (md_once(r, SEEN_F) < 0)
            return -1;
        if (maildrop_check_fullname(v, len, &why) < 0)
            MD_BAD("bad full name");
        r->env.fullname = mem_strndup(v, len);
        break;
    case MAILDROP_REC_ENVID:
        if (md_once(r, SEEN_V) < 0)
            return -1;
        if (maildrop_check_envid(v, len, &why) < 0)
            MD_BAD("bad ENVID");
        r->env.envid = mem_strndup(v, len);
        break;
    case MAILDROP_REC_RET:
        if (md_once(r, SEEN_T) < 0)
            return -1;
        if (maildrop_parse_ret(v, len, &r->env.ret, &why) < 0)
            MD_BAD("bad RET");
        break;
    case MAILDROP_REC_BODY:
        if (md_once(r, SEEN_B) < 0)
            return -1;
        if (maildrop_parse_body(v, len, &r->env.body, &why) < 0)
            MD_BAD("bad BODY");
        break;
    case MAILDROP_REC_SMTPUTF8:
        if (md_once(r, SEEN_U) < 0)
            return -1;
        r->env.smtputf8 = true;
        break;
    case MAILDROP_REC_NOTIFY:
        if (r->have_notify)
            return md_error(r, MAILDROP_ERR_FORMAT, "two NOTIFY records for one recipient");
        if (maildrop_parse_notify(v, len, &r->notify, &why) < 0)
            MD_BAD("bad NOTIFY");
        r->have_notify = true;
        break;
    case MAILDROP_REC_ORCPT:
        if (r->have_orcpt)
            return md_error(r, MAILDROP_ERR_FORMAT, "two ORCPT records for one recipient");
        if (maildrop_check_orcpt(v, len, &why) < 0)
            MD_BAD("bad ORCPT");
        r->orcpt = mem_strndup(v, len);
        r->have_orcpt = true;
        break;
    case MAILDROP_REC_RCPT: {
        struct maildrop_rcpt *rc;

        if (r->env.rcpt_count >= r->limits.rcpt_max)
            return md_error(r, MAILDROP_ERR_LIMIT, "too many recipients");
        if (maildrop_check_address(v, len, false, &why) < 0)
            MD_BAD("bad recipient address");
        if (r->env.rcpt_count == r->rcpt_size) {
            r->rcpt_size = r->rcpt_size ? r->rcpt_size * 2 : 8;
            r->env.rcpts = mem_realloc_array(r->env.rcpts, r->rcpt_size, sizeof(*r->env.rcpts));
        }
        rc = &r->env.rcpts[r->env.rcpt_count++];
        rc->address = mem_strndup(v, len);
        rc->orcpt = r->orcpt;
        rc->notify = r->have_notify ? r->notify : 0;
        r->orcpt = NULL;
        r->have_notify = r->have_orcpt = false;
        r->notify = 0;
        break;
    }
    default:
        msg_panic("md_envelope_record: type %d", r->type);
    }
#undef MD_BAD
    return 0;
}

/* A record head is complete: check type, order and length. */
static int md_head_done(struct maildrop_reader *r)
{
    long max;

    r->type = r->head[0];
    r->len = ((uint32_t)r->head[1] << 24) | ((uint32_t)r->head[2] << 16) |
             ((uint32_t)r->head[3] << 8) | (uint32_t)r->head[4];
    r->left = r->len;
    max = md_type_max(r->type);
    if (max < 0)
        return md_error(r, MAILDROP_ERR_FORMAT, "unknown record type");
    if (r->len > (uint32_t)max)
        return md_error(r, MAILDROP_ERR_FORMAT, "record too long");
    if (r->type == MAILDROP_REC_DATA || r->type == MAILDROP_REC_END) {
        if (!r->in_content && md_envelope_done(r) < 0)
            return -1;
        if (r->type == MAILDROP_REC_END) {
            r->state = MD_DONE;
            return 1;
        }
        if (r->limits.content_max > 0 && r->content + r->len > r->limits.content_max)
            return md_error(r, MAILDROP_ERR_TOOBIG, "message too big");
        r->state = r->len > 0 ? MD_DATA : MD_HEAD;
        return 0;
    }
    if (r->in_content)
        return md_error(r, MAILDROP_ERR_FORMAT, "envelope record after the message");
    buf_reset(r->value);
    r->state = MD_VALUE;
    if (r->len == 0) {
        if (md_envelope_record(r) < 0)
            return -1;
        r->state = MD_HEAD;
    }
    return 0;
}

/* Take input. */
int maildrop_reader_feed(struct maildrop_reader *r, const void *in, size_t len, size_t *used_r,
                         const char **why_r)
{
    const unsigned char *p = in;
    size_t i = 0;
    int ret = 0;

    while (ret == 0 && (i < len || r->state == MD_DONE || r->state == MD_FAILED)) {
        switch (r->state) {
        case MD_MAGIC: {
            size_t n = MAILDROP_MAGIC_LEN - r->have;
            if (n > len - i)
                n = len - i;
            if (memcmp(p + i, &MAILDROP_MAGIC[r->have], n) != 0) {
                r->rec_start = 0;
                ret = md_error(r, MAILDROP_ERR_FORMAT, "not a maildrop file (bad magic)");
                break;
            }
            r->have += n, i += n, r->offset += n;
            if (r->have == MAILDROP_MAGIC_LEN) {
                r->have = 0;
                r->state = MD_HEAD;
            }
            break;
        }
        case MD_HEAD:
            if (r->have == 0)
                r->rec_start = r->offset;
            r->head[r->have++] = p[i++];
            r->offset++;
            if (r->have == MAILDROP_HEAD_LEN) {
                r->have = 0;
                ret = md_head_done(r);
            }
            break;
        case MD_VALUE: {
            size_t n = r->left < len - i ? r->left : len - i;
            buf_append(r->value, p + i, n);
            i += n, r->offset += n, r->left -= (uint32_t)n;
            if (r->left == 0) {
                if (md_envelope_record(r) < 0)
                    ret = -1;
                else
                    r->state = MD_HEAD;
            }
            break;
        }
        case MD_DATA: {
            size_t n = r->left < len - i ? r->left : len - i;
            if (r->data_fn && r->data_fn(r->ctx, (const char *)p + i, n) < 0) {
                ret = md_error(r, MAILDROP_ERR_CALLBACK, "message data refused");
                break;
            }
            i += n, r->offset += n, r->left -= (uint32_t)n;
            r->content += n;
            if (r->left == 0)
                r->state = MD_HEAD;
            break;
        }
        case MD_DONE:
            ret = 1;
            break;
        case MD_FAILED:
            ret = -1;
            break;
        }
    }
    if (r->state == MD_DONE)
        ret = 1;
    *used_r = i;
    if (ret < 0 && why_r)
        *why_r = r->why;
    return ret;
}

/* End of input. */
int maildrop_reader_finish(struct maildrop_reader *r, const char **why_r)
{
    if (r->state == MD_DONE)
        return 0;
    if (r->state != MD_FAILED) {
        r->type = 0;
        r->rec_start = r->offset;
        (void)md_error(r, MAILDROP_ERR_FORMAT, "premature end of input (no end record)");
    }
    if (why_r)
        *why_r = r->why;
    return -1;
}

enum maildrop_error maildrop_reader_error(const struct maildrop_reader *r)
{
    return r->error;
}

const struct maildrop_envelope *maildrop_reader_envelope(const struct maildrop_reader *r)
{
    return &r->env;
}

uint64_t maildrop_reader_content_size(const struct maildrop_reader *r)
{
    return r->content;
}

uint64_t maildrop_reader_offset(const struct maildrop_reader *r)
{
    return r->offset;
}

/* ------------------------------------------------------------ message text */

enum mt_state {
    MT_LINE_START, /* at the start of a line */
    MT_LINE,       /* inside a line */
    MT_CR,         /* a CR inside a line: line end if LF follows */
    MT_DOT,        /* "." at the start of a line (DOT mode) */
    MT_DOT_CR,     /* ".\r" at the start of a line (DOT mode) */
    MT_END,        /* a "." line ended the message */
};

struct maildrop_text {
    int flags;
    enum mt_state state;
    uint64_t size;
};

/* Create a converter. */
struct maildrop_text *maildrop_text_create(int flags)
{
    struct maildrop_text *t = mem_alloc(sizeof(*t));

    t->flags = flags;
    t->state = MT_LINE_START;
    return t;
}

/* Free a converter. */
void maildrop_text_free(struct maildrop_text **tp)
{
    MEM_FREE(tp);
}

/* Append to out and count. */
static void mt_out(struct maildrop_text *t, struct buf *out, const char *data, size_t len)
{
    buf_append(out, data, len);
    t->size += len;
}

/* Convert input. */
int maildrop_text_feed(struct maildrop_text *t, const char *in, size_t len, size_t *used_r,
                       struct buf *out)
{
    size_t i = 0;

    while (i < len && t->state != MT_END) {
        char c = in[i];

        switch (t->state) {
        case MT_LINE_START:
            if (c == '.' && (t->flags & MAILDROP_TEXT_DOT)) {
                t->state = MT_DOT;
                i++;
                break;
            }
            t->state = MT_LINE;
            /* FALLTHROUGH */
        case MT_LINE: {
            /* Copy the run of ordinary bytes in one go. */
            size_t j = i;
            while (j < len && in[j] != '\n' && in[j] != '\r')
                j++;
            mt_out(t, out, in + i, j - i);
            i = j;
            if (i < len) {
                if (in[i] == '\n') {
                    mt_out(t, out, "\n", 1);
                    t->state = MT_LINE_START;
                } else {
                    t->state = MT_CR;
                }
                i++;
            }
            break;
        }
        case MT_CR:
            if (c == '\n') {
                mt_out(t, out, "\n", 1);
                t->state = MT_LINE_START;
                i++;
            } else {
                /* A CR not before LF is data; the byte is looked at again. */
                mt_out(t, out, "\r", 1);
                t->state = MT_LINE;
            }
            break;
        case MT_DOT:
            if (c == '\n') {
                t->state = MT_END;
                i++;
            } else if (c == '\r') {
                t->state = MT_DOT_CR;
                i++;
            } else {
                mt_out(t, out, ".", 1);
                t->state = MT_LINE;
            }
            break;
        case MT_DOT_CR:
            if (c == '\n') {
                t->state = MT_END;
                i++;
            } else {
                mt_out(t, out, ".", 1);
                t->state = MT_CR;
            }
            break;
        case MT_END:
            break;
        }
    }
    *used_r = i;
    return t->state == MT_END ? 1 : 0;
}

/* End of input. */
void maildrop_text_finish(struct maildrop_text *t, struct buf *out)
{
    switch (t->state) {
    case MT_LINE:
    case MT_CR: /* a last "text\r": the CR was the line end's */
        mt_out(t, out, "\n", 1);
        t->state = MT_LINE_START;
        break;
    case MT_DOT:
    case MT_DOT_CR: /* "." as the last line ends the message, like "." LF */
        t->state = MT_END;
        break;
    case MT_LINE_START:
    case MT_END:
        break;
    }
}

uint64_t maildrop_text_size(const struct maildrop_text *t)
{
    return t->size;
}
