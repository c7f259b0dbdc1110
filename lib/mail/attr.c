/*
 * attr - typed, strict, versioned attribute messages between processes
 * (the encoding is described in attr.h).
 *
 * This module owns the wire encoding, the incremental parser and the
 * strict in-order field reader. Protocols (deliver.h, ...) are built on it.
 *
 * Security notes: the peer is another Postel process, but it may be a
 * different privilege domain (qmgr runs as mail_owner, local as root), so
 * every byte is checked: names from a small alphabet, lengths in decimal
 * without leading zeros and bounded before any allocation, numbers fully
 * range-checked, and limits on value size, field count and message size.
 * A parser that saw an error stays in error; the connection is dropped.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mail/attr.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"

/* Parser states, in the order the bytes of a message arrive. */
enum attr_state {
    ATTR_S_AT,       /* expect '@' */
    ATTR_S_MSGTYPE,  /* msgtype bytes, then SP */
    ATTR_S_VERSION,  /* version digits, then LF */
    ATTR_S_FIELD,    /* a type letter or '.' */
    ATTR_S_NAME,     /* name bytes, then SP */
    ATTR_S_LENGTH,   /* length digits, then ':' */
    ATTR_S_VALUE,    /* value bytes */
    ATTR_S_VALUE_LF, /* LF after the value */
    ATTR_S_END_LF,   /* LF after '.' */
    ATTR_S_ERROR,
};

struct attr_field {
    char type;
    char name[ATTR_NAME_MAX + 1];
    char *value; /* NUL-terminated after len bytes */
    size_t len;
};

struct attr_msg {
    char type[ATTR_NAME_MAX + 1];
    int version;
    struct attr_field *fields;
    size_t count;
    size_t alloc;
    size_t pos;        /* next field to read */
    bool failed;       /* a get failed */
    struct buf *error; /* the first problem */
};

struct attr_parser {
    struct attr_limits limits;
    enum attr_state state;
    struct attr_msg *msg; /* being built */
    size_t msg_bytes;     /* bytes of the current message so far */
    char tok[ATTR_NAME_MAX + 1];
    size_t tok_len;
    unsigned long long num; /* version or length being read */
    size_t num_digits;
    struct attr_field cur; /* field being read */
    size_t value_got;
    char why[160];
};

/* True for the bytes allowed in names and message types. */
static bool attr_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* True when s is a valid name or message type. */
static bool attr_name_valid(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (!attr_name_char((unsigned char)s[n]) || n >= ATTR_NAME_MAX)
            return false;
    return n > 0;
}

/* ---- writing ---- */

/* Start a message. */
void attr_put_begin(struct buf *out, const char *msgtype, int version)
{
    if (!attr_name_valid(msgtype) || version < 1 || version > ATTR_VERSION_MAX)
        msg_panic("attr_put_begin: bad message type or version");
    buf_printf(out, "@%s %d\n", msgtype, version);
}

/* Append one field of the given type. */
static void attr_put_field(struct buf *out, char type, const char *name, const void *value,
                           size_t len)
{
    if (!attr_name_valid(name))
        msg_panic("attr_put: bad field name");
    if (len > ATTR_VALUE_MAX)
        msg_panic("attr_put: value of \"%s\" too long (%zu bytes)", name, len);
    buf_printf(out, "%c%s %zu:", type, name, len);
    buf_append(out, value, len);
    buf_putc(out, '\n');
}

/* A string field. */
void attr_put_str(struct buf *out, const char *name, const char *value)
{
    if (value == NULL)
        value = "";
    attr_put_field(out, ATTR_TYPE_STR, name, value, strlen(value));
}

/* A string field of len bytes. */
void attr_put_data(struct buf *out, const char *name, const void *value, size_t len)
{
    attr_put_field(out, ATTR_TYPE_STR, name, value, len);
}

/* An int field. */
void attr_put_int(struct buf *out, const char *name, int value)
{
    char num[32];
    int n = snprintf(num, sizeof(num), "%d", value);

    attr_put_field(out, ATTR_TYPE_INT, name, num, (size_t)n);
}

/* A long field. */
void attr_put_long(struct buf *out, const char *name, long long value)
{
    char num[32];
    int n = snprintf(num, sizeof(num), "%lld", value);

    attr_put_field(out, ATTR_TYPE_LONG, name, num, (size_t)n);
}

/* End the message. */
void attr_put_end(struct buf *out)
{
    buf_puts(out, ".\n");
}

/* ---- numbers ---- */

/* Parse a decimal with optional '-' and no leading zeros into [min, max]. */
static bool attr_parse_num(const char *s, size_t len, long long min, long long max,
                           long long *val_r)
{
    bool neg = false;
    unsigned long long v = 0, limit;
    size_t i = 0;

    if (len > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == len || len - i > 20)
        return false;
    if (s[i] == '0' && (len - i > 1 || neg))
        return false; /* leading zero, or "-0" */
    limit = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
    for (; i < len; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return false;
        d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg) {
        long long sv = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;

        if (sv < min)
            return false;
        *val_r = sv;
    } else {
        if ((long long)v > max)
            return false;
        *val_r = (long long)v;
    }
    return true;
}

/* ---- messages ---- */

/* A new empty message. */
static struct attr_msg *attr_msg_create(void)
{
    struct attr_msg *m = mem_alloc(sizeof(*m));

    return m;
}

/* Free a message and its fields. */
void attr_msg_free(struct attr_msg **mp)
{
    struct attr_msg *m = *mp;

    if (m == NULL)
        return;
    for (size_t i = 0; i < m->count; i++)
        mem_free(m->fields[i].value);
    mem_free(m->fields);
    buf_free(&m->error);
    mem_free(m);
    *mp = NULL;
}

/* The message type as received. */
const char *attr_msg_type(const struct attr_msg *m)
{
    return m->type;
}

/* The version as received. */
int attr_msg_version(const struct attr_msg *m)
{
    return m->version;
}

/* Number of fields. */
size_t attr_msg_count(const struct attr_msg *m)
{
    return m->count;
}

/* Record the first failure of a message. */
static int attr_fail(struct attr_msg *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int attr_fail(struct attr_msg *m, const char *fmt, ...)
{
    va_list ap;

    if (m->failed)
        return -1;
    m->failed = true;
    m->error = buf_create(128);
    buf_printf(m->error, "message \"%s\": ", m->type);
    va_start(ap, fmt);
    buf_vprintf(m->error, fmt, ap);
    va_end(ap);
    return -1;
}

/* Check the message type and version. */
int attr_get_begin(struct attr_msg *m, const char *msgtype, int version)
{
    if (m->failed)
        return -1;
    if (strcmp(m->type, msgtype) != 0)
        return attr_fail(m, "expected message type \"%s\"", msgtype);
    if (m->version != version)
        return attr_fail(m, "protocol version %d, expected %d", m->version, version);
    return 0;
}

/* The next field, checked for name and type; NULL after recording why. */
static struct attr_field *attr_next(struct attr_msg *m, const char *name, char type)
{
    struct attr_field *f;

    if (m->failed)
        return NULL;
    if (m->pos >= m->count) {
        attr_fail(m, "field \"%s\": missing", name);
        return NULL;
    }
    f = &m->fields[m->pos];
    if (strcmp(f->name, name) != 0) {
        attr_fail(m, "field %zu: expected \"%s\", got \"%s\"", m->pos + 1, name, f->name);
        return NULL;
    }
    if (f->type != type) {
        attr_fail(m, "field \"%s\": type '%c', expected '%c'", name, f->type, type);
        return NULL;
    }
    m->pos++;
    return f;
}

/* The next field as a string. */
int attr_get_str(struct attr_msg *m, const char *name, const char **value_r)
{
    struct attr_field *f = attr_next(m, name, ATTR_TYPE_STR);

    if (f == NULL)
        return -1;
    if (memchr(f->value, '\0', f->len) != NULL)
        return attr_fail(m, "field \"%s\": NUL byte in a text value", name);
    *value_r = f->value;
    return 0;
}

/* The next field as bytes. */
int attr_get_data(struct attr_msg *m, const char *name, const char **value_r, size_t *len_r)
{
    struct attr_field *f = attr_next(m, name, ATTR_TYPE_STR);

    if (f == NULL)
        return -1;
    *value_r = f->value;
    if (len_r != NULL)
        *len_r = f->len;
    return 0;
}

/* The next field as an int. */
int attr_get_int(struct attr_msg *m, const char *name, int *value_r)
{
    return attr_get_int_range(m, name, INT_MIN, INT_MAX, value_r);
}

/* The next field as an int in min..max. */
int attr_get_int_range(struct attr_msg *m, const char *name, int min, int max, int *value_r)
{
    struct attr_field *f = attr_next(m, name, ATTR_TYPE_INT);
    long long v;

    if (f == NULL)
        return -1;
    if (!attr_parse_num(f->value, f->len, min, max, &v))
        return attr_fail(m, "field \"%s\": value out of range %d..%d", name, min, max);
    *value_r = (int)v;
    return 0;
}

/* The next field as a long. */
int attr_get_long(struct attr_msg *m, const char *name, long long *value_r)
{
    struct attr_field *f = attr_next(m, name, ATTR_TYPE_LONG);

    if (f == NULL)
        return -1;
    /* Checked when parsed; cannot fail here. */
    if (!attr_parse_num(f->value, f->len, LLONG_MIN, LLONG_MAX, value_r))
        return attr_fail(m, "field \"%s\": bad number", name);
    return 0;
}

/* Start reading from the first field again, forgetting any failure. */
void attr_get_rewind(struct attr_msg *m)
{
    m->pos = 0;
    m->failed = false;
    buf_free(&m->error);
}

/* The name of the next field, or NULL. */
const char *attr_peek_name(const struct attr_msg *m)
{
    if (m->failed || m->pos >= m->count)
        return NULL;
    return m->fields[m->pos].name;
}

/* Finish reading: every field read, no failure. */
int attr_get_end(struct attr_msg *m, const char **why_r)
{
    if (!m->failed && m->pos < m->count)
        attr_fail(m, "unexpected field \"%s\" (%zu of %zu)", m->fields[m->pos].name, m->pos + 1,
                  m->count);
    if (m->failed) {
        *why_r = buf_str(m->error);
        return -1;
    }
    return 0;
}

/* ---- parsing ---- */

/* A parser with the given limits. */
struct attr_parser *attr_parser_create(const struct attr_limits *limits)
{
    struct attr_parser *p = mem_alloc(sizeof(*p));

    if (limits != NULL)
        p->limits = *limits;
    if (p->limits.value_max == 0)
        p->limits.value_max = ATTR_VALUE_MAX;
    if (p->limits.fields_max == 0)
        p->limits.fields_max = ATTR_FIELDS_MAX;
    if (p->limits.msg_max == 0)
        p->limits.msg_max = ATTR_MSG_MAX;
    p->state = ATTR_S_AT;
    return p;
}

/* Free a parser and any partial message. */
void attr_parser_free(struct attr_parser **pp)
{
    struct attr_parser *p = *pp;

    if (p == NULL)
        return;
    attr_msg_free(&p->msg);
    mem_free(p->cur.value);
    mem_free(p);
    *pp = NULL;
}

/* True when nothing partial is buffered. */
bool attr_parser_idle(const struct attr_parser *p)
{
    return p->state == ATTR_S_AT;
}

/* Put the parser in error. */
static int attr_parser_error(struct attr_parser *p, const char **why_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int attr_parser_error(struct attr_parser *p, const char **why_r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->why, sizeof(p->why), fmt, ap);
    va_end(ap);
    p->state = ATTR_S_ERROR;
    attr_msg_free(&p->msg);
    MEM_FREE(&p->cur.value);
    *why_r = p->why;
    return -1;
}

/* Accumulate one decimal digit of a length or version (no leading zero). */
static bool attr_digit(struct attr_parser *p, int c, unsigned long long max)
{
    if (c < '0' || c > '9')
        return false;
    if (p->num_digits > 0 && p->num == 0)
        return false; /* leading zero */
    p->num = p->num * 10 + (unsigned)(c - '0');
    p->num_digits++;
    return p->num <= max;
}

/* Add the finished field to the message being built. */
static void attr_parser_add_field(struct attr_parser *p)
{
    struct attr_msg *m = p->msg;

    if (m->count == m->alloc) {
        m->alloc = m->alloc ? m->alloc * 2 : 16;
        m->fields = mem_realloc(m->fields, m->alloc * sizeof(*m->fields));
    }
    m->fields[m->count++] = p->cur;
    memset(&p->cur, 0, sizeof(p->cur));
}

/* Feed bytes; see attr.h. */
int attr_parser_feed(struct attr_parser *p, const void *data, size_t len, size_t *used_r,
                     struct attr_msg **msg_r, const char **why_r)
{
    const unsigned char *cp = data;
    size_t i;

    *used_r = 0;
    if (p->state == ATTR_S_ERROR) {
        *why_r = p->why;
        return -1;
    }
    for (i = 0; i < len; i++) {
        int c = cp[i];

        /* The value state copies a run of bytes at once. */
        if (p->state == ATTR_S_VALUE) {
            size_t want = p->cur.len - p->value_got, n = len - i < want ? len - i : want;

            if (p->msg_bytes + n > p->limits.msg_max)
                return attr_parser_error(p, why_r, "message longer than %zu bytes",
                                         p->limits.msg_max);
            memcpy(p->cur.value + p->value_got, cp + i, n);
            p->value_got += n;
            p->msg_bytes += n;
            i += n - 1;
            if (p->value_got == p->cur.len)
                p->state = ATTR_S_VALUE_LF;
            continue;
        }
        if (++p->msg_bytes > p->limits.msg_max)
            return attr_parser_error(p, why_r, "message longer than %zu bytes", p->limits.msg_max);

        switch (p->state) {
        case ATTR_S_AT:
            if (c != '@')
                return attr_parser_error(p, why_r, "message does not start with '@'");
            p->msg = attr_msg_create();
            p->tok_len = 0;
            p->state = ATTR_S_MSGTYPE;
            break;
        case ATTR_S_MSGTYPE:
            if (c == ' ' && p->tok_len > 0) {
                memcpy(p->msg->type, p->tok, p->tok_len);
                p->msg->type[p->tok_len] = '\0';
                p->num = 0;
                p->num_digits = 0;
                p->state = ATTR_S_VERSION;
            } else if (!attr_name_char(c) || p->tok_len >= ATTR_NAME_MAX) {
                return attr_parser_error(p, why_r, "bad message type");
            } else {
                p->tok[p->tok_len++] = (char)c;
            }
            break;
        case ATTR_S_VERSION:
            if (c == '\n' && p->num_digits > 0 && p->num > 0) {
                p->msg->version = (int)p->num;
                p->state = ATTR_S_FIELD;
            } else if (!attr_digit(p, c, ATTR_VERSION_MAX)) {
                return attr_parser_error(p, why_r, "message \"%s\": bad version", p->msg->type);
            }
            break;
        case ATTR_S_FIELD:
            if (c == '.') {
                p->state = ATTR_S_END_LF;
            } else if (c == ATTR_TYPE_STR || c == ATTR_TYPE_INT || c == ATTR_TYPE_LONG) {
                if (p->msg->count >= p->limits.fields_max)
                    return attr_parser_error(p, why_r, "message \"%s\": more than %zu fields",
                                             p->msg->type, p->limits.fields_max);
                p->cur.type = (char)c;
                p->tok_len = 0;
                p->state = ATTR_S_NAME;
            } else {
                return attr_parser_error(p, why_r, "message \"%s\": bad field type after field %zu",
                                         p->msg->type, p->msg->count);
            }
            break;
        case ATTR_S_NAME:
            if (c == ' ' && p->tok_len > 0) {
                memcpy(p->cur.name, p->tok, p->tok_len);
                p->cur.name[p->tok_len] = '\0';
                p->num = 0;
                p->num_digits = 0;
                p->state = ATTR_S_LENGTH;
            } else if (!attr_name_char(c) || p->tok_len >= ATTR_NAME_MAX) {
                return attr_parser_error(p, why_r, "message \"%s\": bad field name after field %zu",
                                         p->msg->type, p->msg->count);
            } else {
                p->tok[p->tok_len++] = (char)c;
            }
            break;
        case ATTR_S_LENGTH:
            if (c == ':' && p->num_digits > 0) {
                p->cur.len = (size_t)p->num;
                p->cur.value = mem_alloc(p->cur.len + 1);
                p->value_got = 0;
                if (p->cur.len > 0) {
                    p->state = ATTR_S_VALUE;
                    break;
                }
                p->state = ATTR_S_VALUE_LF;
            } else if (!attr_digit(p, c, p->limits.value_max)) {
                return attr_parser_error(p, why_r,
                                         "message \"%s\": field \"%s\": bad length"
                                         " (limit %zu bytes)",
                                         p->msg->type, p->cur.name, p->limits.value_max);
            }
            break;
        case ATTR_S_VALUE_LF:
            if (c != '\n')
                return attr_parser_error(p, why_r,
                                         "message \"%s\": field \"%s\": no newline"
                                         " after the value",
                                         p->msg->type, p->cur.name);
            if (p->cur.type != ATTR_TYPE_STR) {
                long long v;
                bool ok = p->cur.type == ATTR_TYPE_INT
                              ? attr_parse_num(p->cur.value, p->cur.len, INT_MIN, INT_MAX, &v)
                              : attr_parse_num(p->cur.value, p->cur.len, LLONG_MIN, LLONG_MAX, &v);

                if (!ok)
                    return attr_parser_error(p, why_r, "message \"%s\": field \"%s\": bad number",
                                             p->msg->type, p->cur.name);
            }
            attr_parser_add_field(p);
            p->state = ATTR_S_FIELD;
            break;
        case ATTR_S_END_LF:
            if (c != '\n')
                return attr_parser_error(p, why_r, "message \"%s\": no newline after '.'",
                                         p->msg->type);
            *msg_r = p->msg;
            p->msg = NULL;
            p->msg_bytes = 0;
            p->state = ATTR_S_AT;
            *used_r = i + 1;
            return 1;
        case ATTR_S_VALUE:
        case ATTR_S_ERROR:
            msg_panic("attr_parser_feed: state %d", (int)p->state);
        }
    }
    *used_r = len;
    return 0;
}

/* Read one message from a blocking stream. */
int attr_read(struct stream *s, struct attr_parser *p, struct attr_msg **msg_r, const char **why_r)
{
    for (;;) {
        int c = stream_getc(s);
        unsigned char ch;
        size_t used;
        int r;

        if (c < 0) {
            if (stream_eof(s) && !stream_error(s) && !stream_timed_out(s)) {
                if (attr_parser_idle(p))
                    return 0;
                *why_r = "connection closed in the middle of a message";
                return -1;
            }
            *why_r = stream_timed_out(s) ? "timeout" : stream_strerror(s);
            return -1;
        }
        ch = (unsigned char)c;
        r = attr_parser_feed(p, &ch, 1, &used, msg_r, why_r);
        if (r != 0)
            return r;
    }
}

/* Write and flush. */
int attr_write(struct stream *s, const struct buf *msg, const char **why_r)
{
    if (stream_write(s, buf_str(msg), buf_len(msg)) < 0 || stream_flush(s) < 0) {
        *why_r = stream_timed_out(s) ? "timeout" : stream_strerror(s);
        return -1;
    }
    return 0;
}
