/*
 * smtp_mime - 8-bit to quoted-printable conversion of message content for
 * servers without 8BITMIME (RFC 6152 section 3, RFC 2045 section 6.7),
 * MIME-aware and incremental.
 *
 * The converter follows the MIME structure: multipart bodies (RFC 2046
 * section 5.1: boundaries, nested up to SMTP_MIME_DEPTH_MAX levels,
 * preamble and epilogue) and message/rfc822 parts (their header and body
 * are an entity of their own). Each leaf part whose encoding is 7bit, 8bit
 * or binary (declared or by default) is held until its end; when its body
 * has a byte >= 0x80 it is re-encoded as quoted-printable and its
 * Content-Transfer-Encoding header says so (added when missing; a
 * top-level part also gets "MIME-Version: 1.0" when it has none). Other
 * leaf parts, and everything without 8-bit bytes, pass unchanged byte for
 * byte. Multipart and message/rfc822 parts declared 8bit or binary are
 * declared 7bit, since their 8-bit leaves get converted. Headers are never
 * changed otherwise (8-bit bytes in headers stay: they cannot be encoded
 * without knowing their character set).
 *
 * Input and output are the queue representation (LF line ends). Output
 * does not depend on how the input was split into pieces.
 *
 * Security notes: the input is a queued message (bounded by
 * message_size_limit); a held leaf part is at most that large. Nesting is
 * bounded; deeper parts are passed through as they are. Boundaries and
 * header values are parsed with bounds and never trusted for lengths.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "smtp/smtp.h"

#define SMTP_MIME_DEPTH_MAX 32     /* nested multiparts */
#define SMTP_MIME_BOUNDARY_MAX 200 /* RFC 2046 says 70; be lenient */
#define SMTP_QP_LINE_MAX 76        /* encoded line length, with a soft break '=' */

enum mime_state {
    MIME_HEADER, /* reading an entity's header block */
    MIME_BODY,   /* in a body */
};

enum mime_body {
    BODY_PASS, /* copy as is (preambles, epilogues, encoded or deep parts) */
    BODY_HOLD, /* a leaf part held until its end: converted if it has 8-bit bytes */
};

struct smtp_mime {
    struct buf *pending; /* bytes of an incomplete line */
    enum mime_state state;
    enum mime_body body;
    bool top; /* the current entity is the message itself */
    char *bound[SMTP_MIME_DEPTH_MAX];
    size_t depth;
    /* the current entity's header block */
    struct argv *fields; /* each header field with its line ends */
    struct buf *blank;   /* the empty line that ended the header block, or "" */
    /* a held leaf part */
    struct buf *held;
    bool held_8bit;
};

/* ------------------------------------------------------------ quoted-printable */

/* Append a token of n bytes, with a soft line break first when the line would be too long. */
static void qp_put(struct buf *out, size_t *col, const char *tok, size_t n)
{
    if (*col + n > SMTP_QP_LINE_MAX - 1) {
        buf_append(out, "=\n", 2);
        *col = 0;
    }
    buf_append(out, tok, n);
    *col += n;
}

/* Quoted-printable encoding of one line (without its LF), appended with its LF. */
void smtp_qp_line(struct buf *out, const char *line, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        bool last = i + 1 == len;
        char tok[3];

        /* RFC 2045 rule 3: white space at the end of a line must be encoded. */
        if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last)) {
            tok[0] = (char)c;
            qp_put(out, &col, tok, 1);
        } else {
            tok[0] = '=';
            tok[1] = hex[c >> 4];
            tok[2] = hex[c & 15];
            qp_put(out, &col, tok, 3);
        }
    }
    buf_putc(out, '\n');
}

/* ------------------------------------------------------------ header values */

#define IS_TSPECIAL(c) (strchr("()<>@,;:\\\"/[]?=", (c)) != NULL)

/* Skip white space and (nested) comments. */
static const char *mime_skip_cfws(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p != '(')
            return p;
        for (int depth = 0; *p; p++) {
            if (*p == '\\' && p[1]) {
                p++;
                continue;
            }
            if (*p == '(')
                depth++;
            else if (*p == ')' && --depth == 0) {
                p++;
                break;
            }
        }
    }
}

/* Copy a token (lower case when fold) into out; returns the end. */
static const char *mime_token(const char *p, char *out, size_t size, bool fold)
{
    size_t n = 0;

    while (*p && (unsigned char)*p > 32 && (unsigned char)*p < 127 && !IS_TSPECIAL(*p)) {
        if (n + 1 < size)
            out[n++] = fold ? (char)tolower((unsigned char)*p) : *p;
        p++;
    }
    out[n] = 0;
    return p;
}

/* A parameter value: token or quoted-string. */
static const char *mime_value(const char *p, char *out, size_t size)
{
    size_t n = 0;

    if (*p != '"')
        return mime_token(p, out, size, false);
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1])
            p++;
        if (n + 1 < size)
            out[n++] = *p;
    }
    out[n] = 0;
    return *p == '"' ? p + 1 : p;
}

/* "type/subtype" (lower case) and the boundary parameter of a Content-Type value. */
static void mime_ctype(const char *v, char *type, size_t tsize, char *boundary, size_t bsize)
{
    char name[64], value[SMTP_MIME_BOUNDARY_MAX + 2], sub[64];
    const char *p = mime_skip_cfws(v);

    type[0] = boundary[0] = 0;
    p = mime_token(p, type, tsize, true);
    p = mime_skip_cfws(p);
    if (*p != '/') {
        type[0] = 0;
        return;
    }
    p = mime_token(mime_skip_cfws(p + 1), sub, sizeof(sub), true);
    if (strlen(type) + 1 + strlen(sub) < tsize) {
        strcat(type, "/");
        strcat(type, sub);
    }
    for (;;) {
        p = mime_skip_cfws(p);
        if (*p != ';')
            return;
        p = mime_token(mime_skip_cfws(p + 1), name, sizeof(name), true);
        p = mime_skip_cfws(p);
        if (*p != '=')
            return;
        p = mime_value(mime_skip_cfws(p + 1), value, sizeof(value));
        if (strcmp(name, "boundary") == 0 && strlen(value) <= SMTP_MIME_BOUNDARY_MAX)
            snprintf(boundary, bsize, "%s", value);
    }
}

/* True when field (raw) is the header called name; *value_r points after the ':'. */
static bool mime_field_is(const char *field, const char *name, const char **value_r)
{
    size_t n = strlen(name);
    const char *p = field + n;

    if (strncasecmp(field, name, n) != 0)
        return false;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != ':')
        return false;
    *value_r = p + 1;
    return true;
}

/* The value of the first header called name in the entity (unfolded copy), or NULL. */
static char *mime_header(const struct smtp_mime *m, const char *name)
{
    const char *v;

    for (size_t i = 0; i < m->fields->argc; i++)
        if (mime_field_is(m->fields->argv[i], name, &v)) {
            char *copy = mem_strdup(v);
            size_t w = 0;

            for (size_t r = 0; copy[r]; r++)
                if (copy[r] != '\n' && copy[r] != '\r')
                    copy[w++] = copy[r];
            copy[w] = 0;
            return copy;
        }
    return NULL;
}

/* The entity's encoding (lower case; "" when not declared). */
static void mime_cte(const struct smtp_mime *m, char *out, size_t size)
{
    char *v = mime_header(m, "Content-Transfer-Encoding");

    out[0] = 0;
    if (v != NULL)
        mime_token(mime_skip_cfws(v), out, size, true);
    mem_free(v);
}

/* ------------------------------------------------------------ output */

/*
 * Write the entity's header block; with new_cte, every
 * Content-Transfer-Encoding header becomes one saying new_cte (added
 * when there is none, with MIME-Version for a top-level part without).
 */
static void mime_put_headers(struct smtp_mime *m, struct buf *out, const char *new_cte)
{
    bool have_cte = false, have_version = false;
    const char *v;

    for (size_t i = 0; i < m->fields->argc; i++) {
        const char *f = m->fields->argv[i];

        if (new_cte != NULL && mime_field_is(f, "Content-Transfer-Encoding", &v)) {
            if (!have_cte)
                buf_printf(out, "Content-Transfer-Encoding: %s\n", new_cte);
            have_cte = true;
            continue;
        }
        if (mime_field_is(f, "MIME-Version", &v))
            have_version = true;
        buf_puts(out, f);
    }
    if (new_cte != NULL && !have_cte) {
        if (m->top && !have_version)
            buf_puts(out, "MIME-Version: 1.0\n");
        buf_printf(out, "Content-Transfer-Encoding: %s\n", new_cte);
    }
    buf_append(out, buf_str(m->blank), buf_len(m->blank));
    argv_truncate(m->fields, 0);
    buf_reset(m->blank);
}

/* Finish a held leaf part: as it is, or converted when it has 8-bit bytes. */
static void mime_flush_held(struct smtp_mime *m, struct buf *out)
{
    const char *p, *end, *nl;

    if (m->body != BODY_HOLD)
        return;
    m->body = BODY_PASS;
    if (!m->held_8bit) {
        mime_put_headers(m, out, NULL);
        buf_append(out, buf_str(m->held), buf_len(m->held));
        buf_reset(m->held);
        return;
    }
    mime_put_headers(m, out, "quoted-printable");
    p = buf_str(m->held);
    end = p + buf_len(m->held);
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            /* The last line without a line end stays without one. */
            smtp_qp_line(out, p, (size_t)(end - p));
            buf_truncate(out, buf_len(out) - 1);
            break;
        }
        smtp_qp_line(out, p, (size_t)(nl - p));
        p = nl + 1;
    }
    buf_reset(m->held);
    m->held_8bit = false;
}

/* ------------------------------------------------------------ structure */

/* The header block ended: decide what the body is. */
static void mime_begin_body(struct smtp_mime *m, struct buf *out)
{
    char type[128], boundary[SMTP_MIME_BOUNDARY_MAX + 1], cte[32];
    char *ct = mime_header(m, "Content-Type");
    bool declared_8bit;

    mime_ctype(ct ? ct : "", type, sizeof(type), boundary, sizeof(boundary));
    mem_free(ct);
    mime_cte(m, cte, sizeof(cte));
    declared_8bit = strcmp(cte, "8bit") == 0 || strcmp(cte, "binary") == 0;
    m->state = MIME_BODY;
    m->body = BODY_PASS;

    if (strncmp(type, "multipart/", 10) == 0 && boundary[0] != 0 &&
        m->depth < SMTP_MIME_DEPTH_MAX) {
        mime_put_headers(m, out, declared_8bit ? "7bit" : NULL);
        m->bound[m->depth++] = mem_strdup(boundary);
        m->top = false;
        return;
    }
    if (strcmp(type, "message/rfc822") == 0) {
        /* The body is a message of its own: header block next. */
        mime_put_headers(m, out, declared_8bit ? "7bit" : NULL);
        m->state = MIME_HEADER;
        m->top = false;
        return;
    }
    if ((cte[0] == 0 || strcmp(cte, "7bit") == 0 || declared_8bit) &&
        strncmp(type, "message/", 8) != 0 && strncmp(type, "multipart/", 10) != 0) {
        m->body = BODY_HOLD;
        m->held_8bit = false;
        return;
    }
    mime_put_headers(m, out, NULL);
    m->top = false;
}

/* Which boundary line is this: index+1 of the multipart it belongs to, or 0; *close_r. */
static size_t mime_boundary(const struct smtp_mime *m, const char *line, size_t len, bool *close_r)
{
    if (m->depth == 0 || len < 3 || line[0] != '-' || line[1] != '-')
        return 0;
    for (size_t i = m->depth; i > 0; i--) {
        const char *b = m->bound[i - 1];
        size_t bl = strlen(b), k;

        if (len < 2 + bl || memcmp(line + 2, b, bl) != 0)
            continue;
        k = 2 + bl;
        *close_r = len >= k + 2 && line[k] == '-' && line[k + 1] == '-';
        if (*close_r)
            k += 2;
        /* Only transport padding (white space) may follow. */
        while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
            k++;
        if (k == len)
            return i;
    }
    return 0;
}

/* True when line is "name:" with a valid field name (or "name WSP:"). */
static bool mime_is_header(const char *line, size_t len)
{
    size_t i = 0;

    while (i < len && (unsigned char)line[i] > 32 && (unsigned char)line[i] < 127 && line[i] != ':')
        i++;
    if (i == 0)
        return false;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i < len && line[i] == ':';
}

/* One line: len bytes, and when has_lf the LF that follows them at line[len]. */
static void mime_line(struct smtp_mime *m, const char *line, size_t len, bool has_lf,
                      struct buf *out)
{
    size_t full = len + (has_lf ? 1 : 0);
    size_t which;
    bool close = false;

    if (m->state == MIME_HEADER) {
        if (len == 0 || (len == 1 && line[0] == '\r')) {
            buf_append(m->blank, line, full);
            mime_begin_body(m, out);
            return;
        }
        if ((line[0] == ' ' || line[0] == '\t') && m->fields->argc > 0) {
            struct buf *f = buf_create(256);

            buf_puts(f, m->fields->argv[m->fields->argc - 1]);
            buf_append(f, line, full);
            argv_truncate(m->fields, m->fields->argc - 1);
            argv_addn(m->fields, buf_str(f), buf_len(f));
            buf_free(&f);
            return;
        }
        if (mime_is_header(line, len) && memchr(line, 0, len) == NULL) {
            argv_addn(m->fields, line, full);
            return;
        }
        /* Not a header: the header block ended without an empty line. */
        mime_begin_body(m, out);
        if (m->state == MIME_HEADER) {
            /* message/rfc822: the line starts the enclosed message. */
            mime_line(m, line, len, has_lf, out);
            return;
        }
    }

    which = mime_boundary(m, line, len, &close);
    if (which > 0) {
        mime_flush_held(m, out);
        while (m->depth > which)
            mem_free(m->bound[--m->depth]);
        buf_append(out, line, full);
        if (close) {
            mem_free(m->bound[--m->depth]);
            m->body = BODY_PASS; /* the epilogue */
        } else {
            m->state = MIME_HEADER;
            m->top = false;
        }
        return;
    }
    if (m->body == BODY_HOLD) {
        for (size_t i = 0; i < len && !m->held_8bit; i++)
            if ((unsigned char)line[i] >= 0x80)
                m->held_8bit = true;
        buf_append(m->held, line, full);
        return;
    }
    buf_append(out, line, full);
}

/* ------------------------------------------------------------ API */

struct smtp_mime *smtp_mime_create(void)
{
    struct smtp_mime *m = mem_alloc(sizeof(*m));

    m->pending = buf_create(256);
    m->fields = argv_create(16);
    m->blank = buf_create(4);
    m->held = buf_create(1024);
    m->state = MIME_HEADER;
    m->top = true;
    return m;
}

/* Free a converter. */
void smtp_mime_free(struct smtp_mime **mp)
{
    struct smtp_mime *m = *mp;

    if (m == NULL)
        return;
    while (m->depth > 0)
        mem_free(m->bound[--m->depth]);
    buf_free(&m->pending);
    argv_free(&m->fields);
    buf_free(&m->blank);
    buf_free(&m->held);
    mem_free(m);
    *mp = NULL;
}

/* Feed a piece of content; converted output is appended to out. */
void smtp_mime_feed(struct smtp_mime *m, const char *in, size_t len, struct buf *out)
{
    while (len > 0) {
        const char *nl = memchr(in, '\n', len);

        if (nl == NULL) {
            buf_append(m->pending, in, len);
            return;
        }
        if (buf_len(m->pending) > 0) {
            /* mime_line() takes the LF from after the line: keep it in the buffer. */
            buf_append(m->pending, in, (size_t)(nl - in) + 1);
            mime_line(m, buf_str(m->pending), buf_len(m->pending) - 1, true, out);
            buf_reset(m->pending);
        } else {
            mime_line(m, in, (size_t)(nl - in), true, out);
        }
        len -= (size_t)(nl - in) + 1;
        in = nl + 1;
    }
}

/* End of content: flush everything held. */
void smtp_mime_end(struct smtp_mime *m, struct buf *out)
{
    if (buf_len(m->pending) > 0) {
        mime_line(m, buf_str(m->pending), buf_len(m->pending), false, out);
        buf_reset(m->pending);
    }
    if (m->state == MIME_HEADER) {
        /* Only headers (or nothing): they stay as they are. */
        mime_put_headers(m, out, NULL);
        return;
    }
    mime_flush_held(m, out);
}
