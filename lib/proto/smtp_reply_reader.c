/*
 * smtp_reply_reader - parse SMTP server replies incrementally (client side)
 * and take an EHLO reply apart.
 *
 * A reply is lines "NNN-text" ending with one "NNN text" (or bare "NNN").
 * Lines end in CRLF; a bare LF is accepted as well (what Postfix's client
 * does), and the CR before it is dropped. Every line must carry the same
 * code; the first digit must be 2 to 5. An enhanced status code (RFC 2034)
 * at the start of a line's text, whose class matches the reply code, is
 * taken off that line; the first line's becomes reply->dsn.
 *
 * Security: a hostile server controls all of this. Line length and line
 * count are bounded by the caller (a reply that exceeds them is an error,
 * not truncated and resynchronised), the reader stops at the end of one
 * reply so pipelined replies are not merged, and control characters in the
 * text become '?' before anything can log or bounce them.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/proto/smtp_reply.h"
#include "lib/proto/smtp_reply_reader.h"
#include "lib/util/mem.h"

struct smtp_reply_reader {
    size_t line_max;
    size_t lines_max;
    struct buf *line;        /* the line being read, without its end */
    struct smtp_reply reply; /* the reply being read, or the last complete one */
    bool complete;           /* reply holds a complete reply */
    const char *error;       /* sticky error */
};

/* Create a reader; 0 for either bound takes the default. */
struct smtp_reply_reader *smtp_reply_reader_create(size_t line_max, size_t lines_max)
{
    struct smtp_reply_reader *r = mem_alloc(sizeof(*r));

    r->line_max = line_max ? line_max : SMTP_REPLY_READER_LINE_MAX;
    r->lines_max = lines_max ? lines_max : SMTP_REPLY_READER_LINES_MAX;
    r->line = buf_create(128);
    r->reply.lines = argv_create(4);
    r->reply.text = buf_create(128);
    return r;
}

/* Free a reader; clear the caller's pointer. */
void smtp_reply_reader_free(struct smtp_reply_reader **rp)
{
    struct smtp_reply_reader *r = *rp;

    if (r == NULL)
        return;
    buf_free(&r->line);
    argv_free(&r->reply.lines);
    buf_free(&r->reply.text);
    mem_free(r);
    *rp = NULL;
}

/* The last complete reply (valid until the next feed). */
const struct smtp_reply *smtp_reply_reader_reply(const struct smtp_reply_reader *r)
{
    return r->complete ? &r->reply : NULL;
}

/* Length of an enhanced status code at s (class must be cls), or 0. */
static size_t dsn_prefix(const char *s, size_t len, char cls)
{
    size_t i = 0;

    while (i < len && i < 12 && s[i] != ' ')
        i++;
    if (i == 0 || s[0] != cls || !smtp_dsn_valid(s, i))
        return 0;
    return i;
}

/* Record a sticky error. */
static int reader_fail(struct smtp_reply_reader *r, const char **why_r, const char *why)
{
    r->error = why;
    if (why_r)
        *why_r = why;
    return -1;
}

/* Take one complete line apart. Returns 1 if it was the last, 0 if more follow, -1. */
static int reader_line(struct smtp_reply_reader *r, const char **why_r)
{
    const char *s = buf_str(r->line);
    size_t len = buf_len(r->line), dlen;
    struct smtp_reply *rep = &r->reply;
    bool last;
    int code;

    if (len < 3 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
        !isdigit((unsigned char)s[2]) || s[0] < '2' || s[0] > '5')
        return reader_fail(r, why_r, "malformed reply code");
    if (len > 3 && s[3] != ' ' && s[3] != '-')
        return reader_fail(r, why_r, "malformed reply line");
    code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (rep->lines->argc > 0 && code != rep->code)
        return reader_fail(r, why_r, "reply code changes between lines");
    if (rep->lines->argc >= r->lines_max)
        return reader_fail(r, why_r, "too many reply lines");
    rep->code = code;
    last = len == 3 || s[3] == ' ';
    s += len > 3 ? 4 : 3;
    len -= len > 3 ? 4 : 3;
    if ((dlen = dsn_prefix(s, len, buf_str(r->line)[0])) > 0) {
        if (rep->lines->argc == 0)
            memcpy(rep->dsn, s, dlen), rep->dsn[dlen] = 0;
        s += dlen, len -= dlen;
        while (len > 0 && *s == ' ')
            s++, len--;
    }
    argv_addn(rep->lines, s, len);
    /* text for logs: "code dsn line1 line2 ..." */
    if (rep->lines->argc == 1) {
        buf_printf(rep->text, "%d", code);
        if (rep->dsn[0])
            buf_printf(rep->text, " %s", rep->dsn);
    }
    if (len > 0) {
        buf_putc(rep->text, ' ');
        buf_append(rep->text, s, len);
    }
    return last ? 1 : 0;
}

/* Forget the previous reply. */
static void reader_clear(struct smtp_reply_reader *r)
{
    r->complete = false;
    r->reply.code = 0;
    r->reply.dsn[0] = 0;
    argv_truncate(r->reply.lines, 0);
    buf_reset(r->reply.text);
}

/*
 * Feed received bytes. Returns 1 when a reply is complete (see
 * smtp_reply_reader_reply; *used_r counts the bytes taken, the rest starts
 * the next reply), 0 when all bytes were taken and more are needed, -1 on a
 * protocol error (sticky; the connection is unusable).
 */
int smtp_reply_reader_feed(struct smtp_reply_reader *r, const char *in, size_t len,
                           size_t *used_r, const char **why_r)
{
    size_t i = 0;
    int ret = 0;

    if (used_r)
        *used_r = 0;
    if (r->error)
        return reader_fail(r, why_r, r->error);
    if (r->complete)
        reader_clear(r);
    while (i < len && ret == 0) {
        const char *nl = memchr(in + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (in + i)) : len - i;
        if (buf_len(r->line) + n > r->line_max + 1) /* +1: a CR still to strip */
            return reader_fail(r, why_r, "reply line too long");
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)in[i + k];
            buf_putc(r->line, c < 0x20 && c != '\r' && c != '\t' ? '?' : c == 0x7f ? '?' : c);
        }
        i += n;
        if (nl == NULL)
            break;
        i++; /* the LF */
        if (buf_len(r->line) > 0 && buf_str(r->line)[buf_len(r->line) - 1] == '\r')
            buf_truncate(r->line, buf_len(r->line) - 1);
        if (buf_len(r->line) > r->line_max)
            return reader_fail(r, why_r, "reply line too long");
        for (size_t k = 0; k < buf_len(r->line); k++)
            if (buf_str(r->line)[k] == '\r')
                buf_str(r->line)[k] = '?';
        ret = reader_line(r, why_r);
        buf_reset(r->line);
        if (ret < 0)
            return -1;
    }
    if (used_r)
        *used_r = i;
    if (ret == 1)
        r->complete = true;
    return ret;
}

/* Add a mechanism in upper case unless it is there already. */
static void auth_add(struct argv *a, const char *s, size_t len)
{
    char mech[64];

    if (len == 0 || len >= sizeof(mech))
        return;
    for (size_t i = 0; i < len; i++)
        mech[i] = (char)toupper((unsigned char)s[i]);
    mech[len] = 0;
    for (size_t i = 0; i < a->argc; i++)
        if (strcmp(a->argv[i], mech) == 0)
            return;
    argv_add(a, mech);
}

static const struct {
    const char *name;
    unsigned bit;
} ehlo_names[] = {
    {"PIPELINING", SMTP_EHLO_PIPELINING},
    {"SIZE", SMTP_EHLO_SIZE},
    {"8BITMIME", SMTP_EHLO_8BITMIME},
    {"STARTTLS", SMTP_EHLO_STARTTLS},
    {"AUTH", SMTP_EHLO_AUTH},
    {"ENHANCEDSTATUSCODES", SMTP_EHLO_ENHANCEDSTATUSCODES},
    {"DSN", SMTP_EHLO_DSN},
    {"SMTPUTF8", SMTP_EHLO_SMTPUTF8},
    {"CHUNKING", SMTP_EHLO_CHUNKING},
    {"BINARYMIME", SMTP_EHLO_BINARYMIME},
    {"REQUIRETLS", SMTP_EHLO_REQUIRETLS},
    {"ETRN", SMTP_EHLO_ETRN},
    {"VRFY", SMTP_EHLO_VRFY},
};

/* Take one extension line apart into e. */
static void ehlo_line(struct smtp_ehlo *e, const char *s)
{
    size_t klen = 0, plen;
    const char *params;
    bool old_auth = false;
    struct buf *kw;

    while (isalnum((unsigned char)s[klen]) || (klen > 0 && s[klen] == '-'))
        klen++;
    if (klen == 0 || (s[klen] != 0 && s[klen] != ' ' && s[klen] != '='))
        return; /* not an ehlo-line: ignore, as RFC 5321 clients do */
    /* "AUTH=LOGIN PLAIN": the pre-RFC 2554 form some servers still send */
    if (s[klen] == '=') {
        if (klen != 4 || strncasecmp(s, "AUTH", 4) != 0)
            return;
        old_auth = true;
    }
    params = s + klen;
    while (*params == ' ' || *params == '=')
        params++;
    plen = strlen(params);
    if (!old_auth) {
        kw = buf_create(klen + plen + 1);
        buf_append(kw, s, klen);
        for (size_t i = 0; i < klen; i++)
            buf_str(kw)[i] = (char)toupper((unsigned char)buf_str(kw)[i]);
        if (plen)
            buf_printf(kw, " %s", params);
        argv_add(e->keywords, buf_str(kw));
        buf_free(&kw);
    }
    for (size_t k = 0; k < sizeof(ehlo_names) / sizeof(ehlo_names[0]); k++) {
        if (strlen(ehlo_names[k].name) != klen || strncasecmp(ehlo_names[k].name, s, klen) != 0)
            continue;
        e->ext |= ehlo_names[k].bit;
        if (ehlo_names[k].bit == SMTP_EHLO_SIZE) {
            char *end;
            unsigned long long v;
            if (plen && isdigit((unsigned char)params[0])) {
                v = strtoull(params, &end, 10);
                if (*end == 0 || *end == ' ')
                    e->size = v;
            }
        } else if (ehlo_names[k].bit == SMTP_EHLO_AUTH) {
            for (const char *p = params; *p;) {
                size_t n = strcspn(p, " ");
                auth_add(e->auth, p, n);
                p += n;
                while (*p == ' ')
                    p++;
            }
        }
    }
}

/*
 * Take a 250 reply to EHLO apart: the first line names the server, each
 * other line is an extension keyword with optional parameters. Returns 0
 * with *ehlo_r allocated (smtp_ehlo_free), or -1 when the reply is not a
 * 250 reply.
 */
int smtp_ehlo_parse(const struct smtp_reply *reply, struct smtp_ehlo **ehlo_r,
                    const char **why_r)
{
    struct smtp_ehlo *e;
    const char *first;

    *ehlo_r = NULL;
    if (reply == NULL || reply->code != 250 || reply->lines->argc == 0) {
        if (why_r)
            *why_r = "EHLO reply is not 250";
        return -1;
    }
    e = mem_alloc(sizeof(*e));
    e->auth = argv_create(4);
    e->keywords = argv_create(16);
    first = reply->lines->argv[0];
    e->domain = mem_strndup(first, strcspn(first, " "));
    for (size_t i = 1; i < reply->lines->argc; i++)
        ehlo_line(e, reply->lines->argv[i]);
    *ehlo_r = e;
    return 0;
}

/* Free an EHLO result; clear the caller's pointer. */
void smtp_ehlo_free(struct smtp_ehlo **ep)
{
    struct smtp_ehlo *e = *ep;

    if (e == NULL)
        return;
    mem_free(e->domain);
    argv_free(&e->auth);
    argv_free(&e->keywords);
    mem_free(e);
    *ep = NULL;
}

/*
 * Find an extension by keyword (any case): its parameters ("" when it has
 * none), or NULL when the server did not announce it.
 */
const char *smtp_ehlo_find(const struct smtp_ehlo *e, const char *keyword)
{
    size_t klen = strlen(keyword);

    for (size_t i = 0; i < e->keywords->argc; i++) {
        const char *k = e->keywords->argv[i];
        if (strncasecmp(k, keyword, klen) == 0 && (k[klen] == 0 || k[klen] == ' '))
            return k[klen] ? k + klen + 1 : k + klen;
    }
    return NULL;
}
