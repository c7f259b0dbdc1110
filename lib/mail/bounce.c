/*
 * bounce - delivery status notifications as new queue files.
 *
 * Owns the text of Postel's DSNs (RFC 3464 message/delivery-status inside an
 * RFC 6522 multipart/report, RFC 6533 message/global-* for SMTPUTF8 mail),
 * the choice of who gets one (DSN NOTIFY, null sender, double bounces,
 * postmaster copies by notify_classes), and the copy of the original message
 * (whole up to bounce_size_limit, else headers only, so that the MIME
 * structure of the returned message is never cut). bounce.h documents the
 * interface and the policy.
 *
 * The notification is streamed into a new queue file in incoming/ through
 * queue_file.h; only the text and delivery-status parts are built in
 * memory (a few hundred bytes per reported recipient).
 *
 * Security: everything that comes from the original (addresses, ENVID,
 * ORCPT, diagnostics that a remote server wrote, the Message-ID) is copied
 * into header-like text only after masking control characters (and, for
 * mail without SMTPUTF8, non-ASCII bytes), so no input can add a header or
 * a MIME part. The MIME boundary is checked against every byte of the
 * generated parts and of the returned original before it is used.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/mail/bounce.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/queue_id.h"
#include "lib/proto/hdr.h"
#include "lib/proto/xtext.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"

#define BOUNCE_WRAP 79        /* Postfix's line_wrap() width */
#define BOUNCE_INDENT 4       /* continuation indent of wrapped lines */
#define BOUNCE_CHUNK 65536    /* bytes per read of the original */
#define BOUNCE_LINE_MAX 65536 /* a header line longer than this ends the header scan */
#define BOUNCE_MSGID_MAX 998  /* longest Message-ID we copy into References */
#define BOUNCE_BOUNDARY_TRIES 20

/* One reported recipient, resolved: strings owned, masked where needed. */
struct bounce_item {
    size_t index;
    unsigned notify;
    enum bounce_action action;
    char *address;
    char *orig;  /* address as the client gave it, or NULL */
    char *orcpt; /* "rfc822; a@b" decoded from ORCPT, or NULL */
    char dsn[QUEUE_DSN_MAX + 1];
    char *mta;      /* remote host name for Remote-MTA, or NULL */
    char *mta_full; /* as given ("host[addr]"), for the text part */
    char *dtype;    /* diagnostic type: "smtp", "x-unix", ... */
    char *dtext;    /* diagnostic text after "type; " */
    int64_t time;
};

/* Everything one request needs, shared by the notifications it makes. */
struct bounce_ctx {
    const struct bounce_request *req;
    const struct queue_envelope *env;
    const char *qid;
    const char *hostname;
    bool utf8;     /* the original is SMTPUTF8 */
    bool eightbit; /* the original is 8BITMIME or BINARYMIME */
    uint64_t content_len;
    uint64_t header_len; /* bytes of the original's header block (lines, no empty line) */
    bool original_ok;    /* the original could be scanned */
    char *orig_msgid;    /* Message-ID of the original, or NULL */
    struct bounce_item *items;
    size_t count;
};

/* One notification to build. */
struct bounce_job {
    enum bounce_kind kind;
    const char *recipient; /* envelope recipient */
    const char *sender;    /* envelope sender */
    bool postmaster;       /* postmaster copy or double bounce: no boilerplate */
    bool double_bounce;    /* the original sender was <> */
    enum queue_ret ret;    /* what to return of the original */
    unsigned filter;       /* QUEUE_NOTIFY_* bit the recipient must have; 0 = all */
};

/* Where the notification goes: memory (bounce_format) or a queue file. */
struct bounce_out {
    struct buf *mem;
    struct queue_file *qf;
};

/* ------------------------------------------------------------------ helpers */

/* Append one notification byte stream piece. */
static int out_write(struct bounce_out *out, const void *data, size_t len, const char **why_r)
{
    if (out->mem) {
        buf_append(out->mem, data, len);
        return 0;
    }
    return queue_file_write(out->qf, data, len, why_r);
}

/* The RFC 3464 Action name. */
const char *bounce_action_name(enum bounce_action action, enum bounce_kind kind)
{
    switch (action) {
    case BOUNCE_ACTION_FAILED:
        return "failed";
    case BOUNCE_ACTION_DELAYED:
        return "delayed";
    case BOUNCE_ACTION_DELIVERED:
        return "delivered";
    case BOUNCE_ACTION_RELAYED:
        return "relayed";
    case BOUNCE_ACTION_EXPANDED:
        return "expanded";
    case BOUNCE_ACTION_DEFAULT:
        break;
    }
    return kind == BOUNCE_FAILED ? "failed" : kind == BOUNCE_DELAYED ? "delayed" : "delivered";
}

/* Append s[0..len) to out with control bytes (and 8-bit ones unless utf8) as '?'. */
static void mask_append(struct buf *out, const char *s, size_t len, bool utf8)
{
    const unsigned char *p = (const unsigned char *)s;

    for (size_t i = 0; i < len;) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            buf_putc(out, p[i] == '\t' ? ' ' : '?');
            i++;
        } else if (p[i] < 0x80) {
            buf_putc(out, p[i]);
            i++;
        } else {
            size_t n = utf8 ? str_utf8_len(s + i, len - i) : 0;

            if (n == 0) {
                buf_putc(out, '?');
                i++;
            } else {
                buf_append(out, p + i, n);
                i += n;
            }
        }
    }
}

/* A masked copy of s (NULL stays NULL). */
static char *mask_dup(const char *s, bool utf8)
{
    struct buf *b;

    if (s == NULL)
        return NULL;
    b = buf_create(strlen(s) + 1);
    mask_append(b, s, strlen(s), utf8);
    return buf_export(&b);
}

/* Does s contain a byte >= 0x80? */
static bool has_8bit(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

/* Append a line, wrapped at white space like Postfix's line_wrap(). */
static void wrap_append(struct buf *out, const char *line)
{
    const char *start = line;
    size_t width = BOUNCE_WRAP;
    int indent = 0;

    for (;;) {
        size_t len = strlen(start);

        if (len <= width)
            break;
        /* The last blank at or before the width, else the first after it. */
        const char *sp = NULL;
        for (const char *p = start + width; p > start; p--)
            if (*p == ' ' || *p == '\t') {
                sp = p;
                break;
            }
        if (sp == NULL) {
            sp = start + width;
            while (*sp && *sp != ' ' && *sp != '\t')
                sp++;
            if (*sp == 0)
                break;
        }
        const char *end = sp;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        buf_printf(out, "%*s", indent, "");
        buf_append(out, start, (size_t)(end - start));
        buf_putc(out, '\n');
        while (*sp == ' ' || *sp == '\t')
            sp++;
        start = sp;
        indent = BOUNCE_INDENT;
        width = BOUNCE_WRAP - BOUNCE_INDENT;
    }
    buf_printf(out, "%*s%s\n", indent, "", start);
}

/* RFC 5322 date with the zone name, as Postfix's mail_date(). */
static void date_append(struct buf *out, int64_t when)
{
    time_t t = (time_t)when;
    struct tm tm;
    char text[100];

    if (localtime_r(&t, &tm) == NULL ||
        strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S %z (%Z)", &tm) == 0) {
        gmtime_r(&t, &tm);
        strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S +0000 (UTC)", &tm);
    }
    buf_puts(out, text);
}

/* Is code a well-formed RFC 3463 status "c.s.d" with class 2, 4 or 5? */
static bool dsn_code_ok(const char *code)
{
    const char *p = code;
    int digits;

    if (code == NULL || strlen(code) > QUEUE_DSN_MAX ||
        (p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
        return false;
    p += 2;
    for (int part = 0; part < 2; part++) {
        for (digits = 0; *p >= '0' && *p <= '9'; p++)
            digits++;
        if (digits < 1 || digits > 3)
            return false;
        if (part == 0 && *p++ != '.')
            return false;
    }
    return *p == 0;
}

/* Is s "token;..." with an RFC 3464 diagnostic-type token before the ';'? */
static size_t diag_type_len(const char *s)
{
    size_t n = 0;

    while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
           (s[n] >= '0' && s[n] <= '9') || s[n] == '-')
        n++;
    return n > 0 && n <= 40 && s[n] == ';' ? n : 0;
}

/* Does the notify mask of a recipient let it into a report with this filter? */
static bool notify_wants(unsigned notify, unsigned filter)
{
    if (filter == 0)
        return true; /* postmaster copies report everyone */
    if (notify & QUEUE_NOTIFY_NEVER)
        return false;
    if (notify == 0)
        return filter != QUEUE_NOTIFY_SUCCESS; /* no NOTIFY: FAILURE,DELAY */
    return (notify & filter) != 0;
}

/* Is word in the notify_classes list? */
static bool notify_class(const char *word)
{
    struct argv *classes = config_list("notify_classes");
    bool found = false;

    for (size_t i = 0; i < classes->argc; i++)
        if (str_eq_icase(classes->argv[i], word))
            found = true;
    argv_free(&classes);
    return found;
}

/* ------------------------------------------------------------ the original */

/* Sequential line reader over the original's content. */
struct line_reader {
    struct queue_file *qf;
    uint64_t off;   /* content offset of chunk[0] */
    uint64_t limit; /* stop here */
    char *chunk;
    size_t pos, fill;
};

/* Read the next line (without its LF) into line; 1 = got one, 0 = end, -1 = error. */
static int line_next(struct line_reader *lr, struct buf *line, bool *complete_r, const char **why_r)
{
    buf_reset(line);
    *complete_r = false;
    for (;;) {
        if (lr->pos == lr->fill) {
            size_t n;
            uint64_t at = lr->off + lr->fill;
            int ret;

            if (at >= lr->limit)
                return buf_len(line) > 0 ? 1 : 0;
            lr->off = at;
            lr->pos = lr->fill = 0;
            ret = queue_file_content_pread(
                lr->qf, at, lr->chunk,
                lr->limit - at < BOUNCE_CHUNK ? (size_t)(lr->limit - at) : BOUNCE_CHUNK, &n, why_r);
            if (ret < 0)
                return -1;
            if (ret == 0 || n == 0)
                return buf_len(line) > 0 ? 1 : 0;
            lr->fill = n;
        }
        char *nl = memchr(lr->chunk + lr->pos, '\n', lr->fill - lr->pos);
        size_t take = nl ? (size_t)(nl - (lr->chunk + lr->pos)) : lr->fill - lr->pos;

        if (buf_len(line) + take > BOUNCE_LINE_MAX)
            take = BOUNCE_LINE_MAX - buf_len(line);
        buf_append(line, lr->chunk + lr->pos, take);
        lr->pos += take;
        if (nl && lr->chunk + lr->pos == nl) {
            lr->pos++;
            *complete_r = true;
            return 1;
        }
        if (buf_len(line) >= BOUNCE_LINE_MAX)
            return 1; /* over-long: the caller stops */
    }
}

/* Is line (no LF) a header line: "name:" or a continuation (SP/HT)? */
static bool is_header_line(const char *line, size_t len, bool first)
{
    size_t n = 0;

    if (len > 0 && (line[0] == ' ' || line[0] == '\t'))
        return !first;
    while (n < len && line[n] > ' ' && line[n] < 0x7f && line[n] != ':')
        n++;
    if (n == 0)
        return false;
    while (n < len && (line[n] == ' ' || line[n] == '\t'))
        n++;
    return n < len && line[n] == ':';
}

/* Find the end of the original's header block and its Message-ID. */
static int scan_original(struct bounce_ctx *ctx, const char **why_r)
{
    struct line_reader lr = {.qf = ctx->req->qf, .limit = ctx->content_len};
    struct buf *line = buf_create(256);
    struct buf *msgid = NULL;
    bool complete, first = true, in_msgid = false;
    int ret;

    lr.chunk = mem_alloc(BOUNCE_CHUNK);
    ctx->header_len = 0;
    for (;;) {
        ret = line_next(&lr, line, &complete, why_r);
        if (ret <= 0)
            break;
        if (!complete && buf_len(line) >= BOUNCE_LINE_MAX) {
            ret = 0; /* not a header block we can return as headers */
            break;
        }
        if (!is_header_line(buf_str(line), buf_len(line), first))
            break;
        first = false;
        ctx->header_len = lr.off + lr.pos;
        if (line->data[0] == ' ' || line->data[0] == '\t') {
            if (in_msgid && buf_len(msgid) < BOUNCE_MSGID_MAX * 2)
                buf_append(msgid, buf_str(line), buf_len(line));
            continue;
        }
        in_msgid = false;
        if (msgid == NULL && str_has_prefix_icase(buf_str(line), "message-id")) {
            const char *p = buf_str(line) + strlen("message-id");

            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == ':') {
                msgid = buf_create(64);
                buf_puts(msgid, p + 1);
                in_msgid = true;
            }
        }
    }
    if (msgid) {
        /* Keep only a plain "<...>" token: it goes into our own headers. */
        char *s = str_trim(buf_str(msgid));
        size_t len = strlen(s);
        bool ok = len >= 3 && len <= BOUNCE_MSGID_MAX && s[0] == '<' && s[len - 1] == '>';

        for (size_t i = 0; ok && i < len; i++)
            if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
                ok = false;
        if (ok)
            ctx->orig_msgid = mem_strdup(s);
        buf_free(&msgid);
    }
    mem_free(lr.chunk);
    buf_free(&line);
    return ret < 0 ? -1 : 0;
}

/* Does needle occur in the original's content [0, len)? 1 yes, 0 no, -1 error. */
static int original_contains(struct queue_file *qf, uint64_t len, const char *needle,
                             const char **why_r)
{
    size_t nlen = strlen(needle);
    char *chunk = mem_alloc(BOUNCE_CHUNK + nlen);
    size_t keep = 0;
    uint64_t off = 0;
    int found = 0;

    while (off < len) {
        size_t n;
        int ret = queue_file_content_pread(
            qf, off, chunk + keep, len - off < BOUNCE_CHUNK ? (size_t)(len - off) : BOUNCE_CHUNK,
            &n, why_r);
        if (ret < 0) {
            found = -1;
            break;
        }
        if (ret == 0 || n == 0)
            break;
        off += n;
        if (memmem(chunk, keep + n, needle, nlen) != NULL) {
            found = 1;
            break;
        }
        /* Keep the tail that could start a match across the chunk border. */
        size_t total = keep + n;
        keep = total < nlen - 1 ? total : nlen - 1;
        memmove(chunk, chunk + total - keep, keep);
    }
    mem_free(chunk);
    return found;
}

/* ------------------------------------------------------------- recipients */

/* Split a diagnostic "type; text" into the item (plain text becomes x-unix). */
static void item_set_diag(struct bounce_item *it, const char *text, bool utf8)
{
    size_t tlen;

    if (text == NULL || *text == 0)
        return;
    tlen = diag_type_len(text);
    if (tlen > 0) {
        const char *rest = text + tlen + 1;

        while (*rest == ' ' || *rest == '\t')
            rest++;
        it->dtype = mem_strndup(text, tlen);
        it->dtext = mask_dup(rest, utf8);
    } else {
        it->dtype = mem_strdup("x-unix");
        it->dtext = mask_dup(text, utf8);
    }
}

/* Set the remote MTA: the whole text for part 1, the host name for Remote-MTA. */
static void item_set_mta(struct bounce_item *it, const char *mta, bool utf8)
{
    size_t n;

    if (mta == NULL || *mta == 0)
        return;
    it->mta_full = mask_dup(mta, utf8);
    n = strcspn(it->mta_full, "[");
    if (n == 0)
        it->mta = mem_strdup(it->mta_full); /* "[192.0.2.1]": keep the literal */
    else
        it->mta = mem_strndup(it->mta_full, n);
}

/* Decode an ORCPT "type;xtext" into "type; address" (NULL if unusable). */
static char *orcpt_decode(const char *orcpt, bool utf8)
{
    const char *semi;
    struct buf *addr, *out;
    const char *why;
    size_t tlen;

    if (orcpt == NULL || (tlen = diag_type_len(orcpt)) == 0)
        return NULL;
    semi = orcpt + tlen;
    addr = buf_create(64);
    if (str_ncmp_icase(orcpt, "utf-8", tlen) == 0 && tlen == 5) {
        if (xtext_utf8_decode(addr, semi + 1, strlen(semi + 1), true, &why) < 0) {
            buf_free(&addr);
            return NULL;
        }
    } else if (xtext_decode(addr, semi + 1, strlen(semi + 1), &why) < 0) {
        buf_free(&addr);
        return NULL;
    }
    out = buf_create(64);
    buf_append(out, orcpt, tlen);
    buf_puts(out, "; ");
    mask_append(out, buf_str(addr), buf_len(addr), utf8);
    buf_free(&addr);
    return buf_export(&out);
}

/* Resolve the request's recipients: envelope data, diagnostics, defaults. */
static int resolve_items(struct bounce_ctx *ctx, const char **why_r)
{
    const struct bounce_request *req = ctx->req;

    ctx->items = mem_alloc_array(req->rcpt_count ? req->rcpt_count : 1, sizeof(*ctx->items));
    for (size_t i = 0; i < req->rcpt_count; i++) {
        const struct bounce_rcpt *r = &req->rcpts[i];
        struct bounce_item *it = &ctx->items[ctx->count++];
        const struct queue_rcpt *qr;
        const char *dsn = r->dsn, *mta = r->mta, *text = r->text;
        int64_t when = r->time;
        struct queue_diag diag;

        if (r->index >= ctx->env->rcpt_count)
            msg_panic("bounce: recipient index %zu out of range (%zu recipients)", r->index,
                      ctx->env->rcpt_count);
        qr = &ctx->env->rcpts[r->index];
        it->index = r->index;
        it->notify = qr->notify;
        it->action = r->action;
        it->address = mask_dup(qr->address, ctx->utf8);
        it->orig =
            qr->orig && strcmp(qr->orig, qr->address) != 0 ? mask_dup(qr->orig, ctx->utf8) : NULL;
        it->orcpt = orcpt_decode(qr->orcpt, ctx->utf8);
        if (dsn == NULL) {
            int ret = queue_file_rcpt_diag(req->qf, r->index, &diag, why_r);

            if (ret < 0)
                return -1;
            if (ret > 0) {
                dsn = diag.dsn;
                mta = diag.mta;
                text = diag.text;
                if (when == 0)
                    when = diag.time;
            }
        }
        if (dsn_code_ok(dsn))
            str_copy(it->dsn, sizeof(it->dsn), dsn);
        else
            str_copy(it->dsn, sizeof(it->dsn),
                     req->kind == BOUNCE_FAILED    ? "5.0.0"
                     : req->kind == BOUNCE_DELAYED ? "4.0.0"
                                                   : "2.0.0");
        item_set_mta(it, mta, ctx->utf8);
        item_set_diag(it, text, ctx->utf8);
        it->time = when ? when : (int64_t)time(NULL);
    }
    return 0;
}

/* Release the resolved recipients and the context's strings. */
static void ctx_free(struct bounce_ctx *ctx)
{
    for (size_t i = 0; i < ctx->count; i++) {
        struct bounce_item *it = &ctx->items[i];

        mem_free(it->address);
        mem_free(it->orig);
        mem_free(it->orcpt);
        mem_free(it->mta);
        mem_free(it->mta_full);
        mem_free(it->dtype);
        mem_free(it->dtext);
    }
    mem_free(ctx->items);
    mem_free(ctx->orig_msgid);
}

/* Set up the context for a request; -1 when the original cannot be used at all. */
static int ctx_init(struct bounce_ctx *ctx, const struct bounce_request *req, const char **why_r)
{
    const char *why;

    if (req == NULL || req->qf == NULL || (req->rcpt_count > 0 && req->rcpts == NULL))
        msg_panic("bounce: malformed request");
    if (req->kind != BOUNCE_FAILED && req->kind != BOUNCE_DELAYED && req->kind != BOUNCE_SUCCESS)
        msg_panic("bounce: bad kind %d", (int)req->kind);
    memset(ctx, 0, sizeof(*ctx));
    ctx->req = req;
    ctx->env = queue_file_envelope(req->qf);
    ctx->qid = queue_file_id(req->qf);
    ctx->hostname = config_str("myhostname");
    ctx->utf8 = (ctx->env->flags & QUEUE_FLAG_SMTPUTF8) != 0;
    ctx->eightbit = ctx->utf8 || ctx->env->body == QUEUE_BODY_8BITMIME ||
                    ctx->env->body == QUEUE_BODY_BINARYMIME;
    ctx->content_len = queue_file_content_length(req->qf);
    if (resolve_items(ctx, why_r) < 0) {
        ctx_free(ctx);
        return -1;
    }
    /* Best effort, as Postfix: an unreadable original still gets its notification. */
    ctx->original_ok = scan_original(ctx, &why) == 0;
    if (!ctx->original_ok)
        msg_warn("%s: read message content: %s", ctx->qid, why);
    return 0;
}

/* -------------------------------------------------------------- the message */

/* Part 1 boilerplate for the sender's notification. */
static void text_boilerplate(const struct bounce_ctx *ctx, const struct bounce_job *job,
                             struct buf *b)
{
    buf_printf(b, "This is the mail system at host %s.\n\n", ctx->hostname);
    if (job->postmaster) {
        if (job->double_bounce)
            buf_puts(b, "The message below has the null sender <>, so nobody can be told\n"
                        "that it could not be delivered. It is returned to the postmaster.\n");
        else {
            buf_printf(b, "This is a postmaster copy of a %s sent to <",
                       job->kind == BOUNCE_DELAYED ? "delay warning" : "non-delivery notification");
            mask_append(b, ctx->env->sender, strlen(ctx->env->sender), ctx->utf8);
            buf_puts(b, ">.\n");
        }
        return;
    }
    switch (job->kind) {
    case BOUNCE_FAILED:
        buf_puts(b, "I'm sorry to have to inform you that your message could not\n"
                    "be delivered to one or more recipients. It's attached below.\n\n"
                    "For further assistance, please send mail to postmaster.\n\n"
                    "If you do so, please include this problem report. You can\n"
                    "delete your own text from the attached returned message.\n\n"
                    "                   The mail system\n");
        break;
    case BOUNCE_DELAYED: {
        int64_t now = (int64_t)time(NULL);
        int64_t arrival = (int64_t)(ctx->env->arrival / 1000000);
        long long hours = now > arrival ? (now - arrival) / 3600 : 0;

        buf_puts(b, "####################################################################\n"
                    "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
                    "####################################################################\n\n");
        buf_printf(b, "Your message could not be delivered for more than %lld hour(s).\n",
                   hours > 0 ? hours : 0);
        if (ctx->req->retry_until > arrival)
            buf_printf(b, "It will be retried until it is %lld day(s) old.\n",
                       (long long)((ctx->req->retry_until - arrival + 43200) / 86400));
        buf_puts(b, "\nFor further assistance, please send mail to postmaster.\n\n"
                    "If you do so, please include this problem report. You can\n"
                    "delete your own text from the attached returned message.\n\n"
                    "                   The mail system\n");
        break;
    }
    case BOUNCE_SUCCESS:
        buf_puts(b, "Your message was successfully delivered to the destination(s)\n"
                    "listed below. If the message was delivered to mailbox you will\n"
                    "receive no further notifications. Otherwise you may still receive\n"
                    "notifications of mail delivery errors from other systems.\n\n"
                    "                   The mail system\n");
        break;
    }
}

/* Part 1, one recipient: "<addr>: reason", wrapped. */
static void text_recipient(const struct bounce_job *job, const struct bounce_item *it,
                           struct buf *b)
{
    struct buf *line = buf_create(128);

    buf_putc(b, '\n');
    buf_printf(line, "<%s>", it->address);
    if (it->orig)
        buf_printf(line, " (expanded from <%s>)", it->orig);
    buf_puts(line, ": ");
    if (it->dtext && it->mta_full && it->dtype && str_eq_icase(it->dtype, "smtp"))
        buf_printf(line, "host %s said: %s", it->mta_full, it->dtext);
    else if (it->dtext)
        buf_puts(line, it->dtext);
    else if (job->kind == BOUNCE_FAILED)
        buf_puts(line, "delivery failed");
    else if (job->kind == BOUNCE_DELAYED)
        buf_puts(line, "delivery temporarily failed");
    else
        buf_puts(line, "delivered");
    wrap_append(b, buf_str(line));
    buf_free(&line);
}

/* The address type of an address in a DSN field: utf-8 for non-ASCII SMTPUTF8. */
static const char *addr_type(const struct bounce_ctx *ctx, const char *addr)
{
    return ctx->utf8 && has_8bit(addr) ? "utf-8" : "rfc822";
}

/* Part 2 per-message fields. */
static void dsn_message_fields(const struct bounce_ctx *ctx, struct buf *b)
{
    buf_printf(b, "Reporting-MTA: dns; %s\n", ctx->hostname);
    if (ctx->env->envid && *ctx->env->envid) {
        struct buf *id = buf_create(64);
        const char *why;

        if (xtext_decode(id, ctx->env->envid, strlen(ctx->env->envid), &why) == 0 &&
            buf_len(id) > 0) {
            buf_puts(b, "Original-Envelope-Id: ");
            mask_append(b, buf_str(id), buf_len(id), false);
            buf_putc(b, '\n');
        }
        buf_free(&id);
    }
    buf_printf(b, "X-Postel-Queue-ID: %s\n", ctx->qid);
    if (*ctx->env->sender) {
        buf_printf(b, "X-Postel-Sender: %s; ", addr_type(ctx, ctx->env->sender));
        mask_append(b, ctx->env->sender, strlen(ctx->env->sender), ctx->utf8);
        buf_putc(b, '\n');
    }
    if (ctx->env->arrival > 0) {
        buf_puts(b, "Arrival-Date: ");
        date_append(b, (int64_t)(ctx->env->arrival / 1000000));
        buf_putc(b, '\n');
    }
}

/* Part 2 per-recipient fields. */
static void dsn_recipient_fields(const struct bounce_ctx *ctx, const struct bounce_job *job,
                                 const struct bounce_item *it, struct buf *b)
{
    struct buf *line = buf_create(128);

    buf_putc(b, '\n');
    buf_printf(b, "Final-Recipient: %s; %s\n", addr_type(ctx, it->address), it->address);
    if (it->orcpt)
        buf_printf(b, "Original-Recipient: %s\n", it->orcpt);
    else if (it->orig)
        buf_printf(b, "Original-Recipient: %s; %s\n", addr_type(ctx, it->orig), it->orig);
    buf_printf(b, "Action: %s\n",
               job->kind == BOUNCE_FAILED ? "failed" : bounce_action_name(it->action, job->kind));
    buf_printf(b, "Status: %s\n", it->dsn);
    if (it->mta) {
        buf_printf(line, "Remote-MTA: dns; %s", it->mta);
        wrap_append(b, buf_str(line));
    }
    if (it->dtype && it->dtext && *it->dtext) {
        buf_reset(line);
        buf_printf(line, "Diagnostic-Code: %s; %s", it->dtype, it->dtext);
        wrap_append(b, buf_str(line));
    }
    buf_puts(b, "Last-Attempt-Date: ");
    date_append(b, it->time);
    buf_putc(b, '\n');
    if (job->kind == BOUNCE_DELAYED && ctx->req->retry_until > 0) {
        buf_puts(b, "Will-Retry-Until: ");
        date_append(b, ctx->req->retry_until);
        buf_putc(b, '\n');
    }
    buf_free(&line);
}

/* Pick a boundary found neither in the generated parts nor in the returned original. */
static int pick_boundary(const struct bounce_ctx *ctx, const struct buf *parts, uint64_t copy_len,
                         struct buf *boundary, const char **why_r)
{
    for (int attempt = 0; attempt < BOUNCE_BOUNDARY_TRIES; attempt++) {
        int found;

        buf_reset(boundary);
        buf_printf(boundary, "%s.%lld/%s", ctx->qid, (long long)time(NULL), ctx->hostname);
        if (attempt > 0)
            buf_printf(boundary, "/%d.%08lx", attempt, (unsigned long)random());
        if (memmem(buf_str(parts), buf_len(parts), buf_str(boundary), buf_len(boundary)))
            continue;
        if (copy_len > 0) {
            found = original_contains(ctx->req->qf, copy_len, buf_str(boundary), why_r);
            if (found < 0)
                return -1;
            if (found)
                continue;
        }
        return 0;
    }
    *why_r = "cannot find a MIME boundary that does not occur in the message";
    return -1;
}

/* Copy [0, len) of the original to out. */
static int copy_original(const struct bounce_ctx *ctx, uint64_t len, bool *ends_nl_r,
                         struct bounce_out *out, const char **why_r)
{
    char *chunk = mem_alloc(BOUNCE_CHUNK);
    uint64_t off = 0;
    int ret = 0;

    *ends_nl_r = true;
    while (off < len) {
        size_t n;
        int r = queue_file_content_pread(
            ctx->req->qf, off, chunk, len - off < BOUNCE_CHUNK ? (size_t)(len - off) : BOUNCE_CHUNK,
            &n, why_r);
        if (r < 0) {
            ret = -1;
            break;
        }
        if (r == 0 || n == 0)
            break;
        if (out_write(out, chunk, n, why_r) < 0) {
            ret = -1;
            break;
        }
        *ends_nl_r = chunk[n - 1] == '\n';
        off += n;
    }
    mem_free(chunk);
    return ret;
}

/*
 * Build one notification into out. Returns 1 when written, 0 when no
 * recipient qualifies (nothing written), -1 with *why_r.
 */
static int build(const struct bounce_ctx *ctx, const struct bounce_job *job, const char *new_id,
                 struct bounce_out *out, const char **why_r)
{
    struct buf *head = buf_create(1024), *text = buf_create(1024), *report = buf_create(1024);
    struct buf *parts = buf_create(2048), *boundary = buf_create(128);
    const char *smtputf8_ct = ctx->utf8 ? "global-" : "";
    enum queue_ret ret_what = job->ret;
    long long limit = config_size("bounce_size_limit");
    uint64_t copy_len = 0;
    size_t count = 0;
    bool ends_nl = true, hdrs, undelivered = job->kind != BOUNCE_SUCCESS;
    int ret = -1;

    /* Parts 1 and 2 first: they say whether there is anything to report. */
    text_boilerplate(ctx, job, text);
    dsn_message_fields(ctx, report);
    for (size_t i = 0; i < ctx->count; i++) {
        const struct bounce_item *it = &ctx->items[i];

        if (!notify_wants(it->notify, job->filter))
            continue;
        count++;
        text_recipient(job, it, text);
        dsn_recipient_fields(ctx, job, it, report);
    }
    if (count == 0) {
        ret = 0;
        goto done;
    }

    /* What to return: as Postfix, a message over the limit is returned as headers only. */
    if (limit > 0 && ctx->content_len > (uint64_t)limit)
        ret_what = QUEUE_RET_HDRS;
    if (ctx->original_ok)
        copy_len = ret_what == QUEUE_RET_HDRS ? ctx->header_len : ctx->content_len;

    buf_append(parts, buf_str(text), buf_len(text));
    buf_append(parts, buf_str(report), buf_len(report));
    if (job->sender)
        buf_puts(parts, job->sender);
    if (pick_boundary(ctx, parts, copy_len, boundary, why_r) < 0)
        goto done;

    /* Message header. */
    buf_printf(head, "From: MAILER-DAEMON@%s (Mail Delivery System)\n", ctx->hostname);
    if (job->postmaster)
        buf_printf(head, "Subject: %s\n",
                   job->kind == BOUNCE_DELAYED ? "Postmaster Warning: Delayed Mail"
                                               : "Postmaster Copy: Undelivered Mail");
    else
        buf_printf(head, "Subject: %s\n",
                   job->kind == BOUNCE_FAILED    ? "Undelivered Mail Returned to Sender"
                   : job->kind == BOUNCE_DELAYED ? "Delayed Mail (still being retried)"
                                                 : "Successful Mail Delivery Report");
    buf_puts(head, "To: ");
    mask_append(head, job->recipient, strlen(job->recipient), ctx->utf8);
    buf_putc(head, '\n');
    buf_puts(head, "Date: ");
    date_append(head, (int64_t)time(NULL));
    buf_putc(head, '\n');
    {
        time_t now = time(NULL);
        struct tm tm;
        char stamp[32];

        gmtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
        buf_printf(head, "Message-ID: <%s.%s@%s>\n", stamp, new_id, ctx->hostname);
    }
    if (ctx->orig_msgid) {
        buf_printf(head, "References: %s\n", ctx->orig_msgid);
        buf_printf(head, "In-Reply-To: %s\n", ctx->orig_msgid);
    }
    buf_printf(head, "Auto-Submitted: %s\n", job->postmaster ? "auto-generated" : "auto-replied");
    buf_puts(head, "MIME-Version: 1.0\n");
    buf_printf(head,
               "Content-Type: multipart/report; report-type=delivery-status;\n"
               "\tboundary=\"%s\"\n",
               buf_str(boundary));
    if (ctx->eightbit)
        buf_puts(head, "Content-Transfer-Encoding: 8bit\n");
    buf_puts(head, "\nThis is a MIME-encapsulated message.\n\n");

    /* Part 1. */
    buf_printf(head, "--%s\nContent-Description: Notification\n", buf_str(boundary));
    buf_printf(head, "Content-Type: text/plain; charset=%s\n", ctx->utf8 ? "utf-8" : "us-ascii");
    if (ctx->utf8)
        buf_puts(head, "Content-Transfer-Encoding: 8bit\n");
    buf_putc(head, '\n');
    buf_append(head, buf_str(text), buf_len(text));

    /* Part 2. */
    buf_printf(head, "\n--%s\nContent-Description: Delivery report\n", buf_str(boundary));
    buf_printf(head, "Content-Type: message/%sdelivery-status\n", smtputf8_ct);
    if (ctx->utf8)
        buf_puts(head, "Content-Transfer-Encoding: 8bit\n");
    buf_putc(head, '\n');
    buf_append(head, buf_str(report), buf_len(report));

    /* Part 3 header. */
    hdrs = ret_what == QUEUE_RET_HDRS;
    buf_printf(head, "\n--%s\nContent-Description: %s%s\n", buf_str(boundary),
               undelivered ? "Undelivered " : "", hdrs ? "Message Headers" : "Message");
    if (ctx->utf8)
        buf_printf(head, "Content-Type: message/%s\n", hdrs ? "global-headers" : "global");
    else
        buf_printf(head, "Content-Type: %s\n", hdrs ? "text/rfc822-headers" : "message/rfc822");
    if (ctx->eightbit)
        buf_puts(head, "Content-Transfer-Encoding: 8bit\n");
    buf_putc(head, '\n');
    if (!ctx->original_ok) {
        buf_puts(head, "\t--- Undelivered message unavailable ---\n");
    } else {
        buf_puts(head, "Return-Path: <");
        mask_append(head, ctx->env->sender, strlen(ctx->env->sender), ctx->utf8);
        buf_puts(head, ">\n");
    }
    if (out_write(out, buf_str(head), buf_len(head), why_r) < 0)
        goto done;
    if (copy_len > 0 && copy_original(ctx, copy_len, &ends_nl, out, why_r) < 0)
        goto done;
    buf_reset(head);
    if (!ends_nl)
        buf_putc(head, '\n');
    buf_printf(head, "\n--%s--\n", buf_str(boundary));
    if (out_write(out, buf_str(head), buf_len(head), why_r) < 0)
        goto done;
    ret = 1;

done:
    buf_free(&head);
    buf_free(&text);
    buf_free(&report);
    buf_free(&parts);
    buf_free(&boundary);
    return ret;
}

/* Write one notification as a new queue file; 1 queued, 0 nothing to send, -1 error. */
static int queue_one(const struct bounce_ctx *ctx, const struct bounce_job *job,
                     char qid_r[QUEUE_ID_SIZE], const char **why_r)
{
    const char *dir = ctx->req->incoming_dir ? ctx->req->incoming_dir : QUEUE_DIR_INCOMING;
    struct queue_file *qf;
    struct bounce_out out;
    int ret;

    qid_r[0] = 0;
    if (queue_file_create(dir, NULL, &qf, why_r) < 0)
        return -1;
    out = (struct bounce_out){.qf = qf};
    if (queue_file_set_str(qf, QUEUE_F_SENDER, job->sender, why_r) < 0 ||
        queue_file_set_str(qf, QUEUE_F_PROTOCOL, "LOCAL", why_r) < 0 ||
        queue_file_add_rcpt(qf, job->recipient, NULL, NULL, 0, why_r) < 0 ||
        (ctx->utf8 && queue_file_set_flags(qf, QUEUE_FLAG_SMTPUTF8, why_r) < 0) ||
        (ctx->eightbit && queue_file_set_body(qf, QUEUE_BODY_8BITMIME, why_r) < 0)) {
        queue_file_abort(&qf);
        return -1;
    }
    ret = build(ctx, job, queue_file_id(qf), &out, why_r);
    if (ret <= 0) {
        queue_file_abort(&qf);
        return ret;
    }
    str_copy(qid_r, QUEUE_ID_SIZE, queue_file_id(qf));
    if (queue_file_commit(qf, why_r) < 0) {
        queue_file_abort(&qf);
        qid_r[0] = 0;
        return -1;
    }
    queue_file_free(&qf);
    return 1;
}

/* ------------------------------------------------------------------ policy */

/* The double-bounce address: double_bounce_sender@$myhostname. */
static char *double_bounce_addr(void)
{
    struct buf *b = buf_create(64);

    buf_printf(b, "%s@%s", config_str("double_bounce_sender"), config_str("myhostname"));
    return buf_export(&b);
}

/* Decide the main notification of a request; false when none is due. */
static bool main_job(const struct bounce_ctx *ctx, const char *dbl, struct bounce_job *job)
{
    const struct queue_envelope *env = ctx->env;

    memset(job, 0, sizeof(*job));
    job->kind = ctx->req->kind;
    if (str_eq_icase(env->sender, dbl)) {
        /* A postmaster notification failed: never a triple bounce. */
        msg_warn("%s: undeliverable postmaster notification discarded", ctx->qid);
        return false;
    }
    if (*env->sender == 0) {
        /* The original is itself a notification: tell the postmaster, or nobody. */
        if (job->kind == BOUNCE_FAILED && (notify_class("bounce") || notify_class("2bounce"))) {
            job->recipient = config_str("2bounce_notice_recipient");
        } else if (job->kind == BOUNCE_DELAYED && notify_class("delay")) {
            job->recipient = config_str("delay_notice_recipient");
        } else {
            if (job->kind == BOUNCE_FAILED)
                msg_info("%s: sender is <>: undeliverable notification discarded", ctx->qid);
            return false;
        }
        job->sender = dbl;
        job->postmaster = true;
        job->double_bounce = true;
        job->ret = QUEUE_RET_FULL;
        job->filter = 0;
        return *job->recipient != 0;
    }
    job->recipient = env->sender;
    job->sender = "";
    switch (job->kind) {
    case BOUNCE_FAILED:
        job->ret = env->ret != QUEUE_RET_NONE ? env->ret : QUEUE_RET_FULL;
        job->filter = QUEUE_NOTIFY_FAILURE;
        break;
    case BOUNCE_DELAYED:
        job->ret = QUEUE_RET_HDRS;
        job->filter = QUEUE_NOTIFY_DELAY;
        break;
    case BOUNCE_SUCCESS:
        job->ret = env->ret != QUEUE_RET_NONE ? env->ret : QUEUE_RET_HDRS;
        job->filter = QUEUE_NOTIFY_SUCCESS;
        break;
    }
    return true;
}

/* The log words of a notification. */
static const char *log_words(const struct bounce_job *job)
{
    switch (job->kind) {
    case BOUNCE_FAILED:
        return "non-delivery notification";
    case BOUNCE_DELAYED:
        return "delay notification";
    case BOUNCE_SUCCESS:
        break;
    }
    return "delivery status notification";
}

/* Build and queue the notification(s) for a request. */
int bounce_queue_dsn(const struct bounce_request *req, char qid_r[QUEUE_ID_SIZE],
                     const char **why_r)
{
    struct bounce_ctx ctx;
    struct bounce_job job;
    char qid[QUEUE_ID_SIZE] = "";
    char *dbl;
    int ret;

    if (qid_r)
        qid_r[0] = 0;
    if (ctx_init(&ctx, req, why_r) < 0)
        return -1;
    dbl = double_bounce_addr();
    if (!main_job(&ctx, dbl, &job)) {
        ret = 0;
        goto done;
    }
    ret = queue_one(&ctx, &job, qid, why_r);
    if (ret < 0) {
        msg_warn("%s: %s %s failed: %s", ctx.qid, job.postmaster ? "postmaster" : "sender",
                 log_words(&job), *why_r);
        goto done;
    }
    if (ret > 0) {
        msg_info("%s: %s %s: %s", ctx.qid, job.postmaster ? "postmaster" : "sender",
                 log_words(&job), qid);
        if (qid_r)
            str_copy(qid_r, QUEUE_ID_SIZE, qid);
    }

    /* Optional postmaster copy; its failure never fails the sender's notification. */
    if (ret >= 0 && !job.postmaster &&
        ((job.kind == BOUNCE_FAILED && notify_class("bounce")) ||
         (job.kind == BOUNCE_DELAYED && notify_class("delay")))) {
        struct bounce_job pm = job;
        char pm_qid[QUEUE_ID_SIZE];
        const char *why;
        int pm_ret;

        pm.recipient = config_str(job.kind == BOUNCE_FAILED ? "bounce_notice_recipient"
                                                            : "delay_notice_recipient");
        pm.sender = dbl;
        pm.postmaster = true;
        pm.ret = QUEUE_RET_HDRS;
        pm.filter = 0;
        if (*pm.recipient) {
            pm_ret = queue_one(&ctx, &pm, pm_qid, &why);
            if (pm_ret < 0)
                msg_warn("%s: postmaster notice failed while %s %s: %s", ctx.qid,
                         job.kind == BOUNCE_FAILED ? "bouncing to" : "warning", job.recipient, why);
            else if (pm_ret > 0)
                msg_info("%s: postmaster %s: %s", ctx.qid, log_words(&pm), pm_qid);
        }
    }

done:
    mem_free(dbl);
    ctx_free(&ctx);
    return ret;
}

/* Build the main notification in memory. */
int bounce_format(const struct bounce_request *req, const char *new_id,
                  struct bounce_message **msg_r, const char **why_r)
{
    struct bounce_ctx ctx;
    struct bounce_job job;
    struct bounce_out out;
    char id[QUEUE_ID_SIZE];
    char *dbl;
    int ret;

    *msg_r = NULL;
    if (ctx_init(&ctx, req, why_r) < 0)
        return -1;
    if (new_id == NULL) {
        queue_id_next(id);
        new_id = id;
    }
    dbl = double_bounce_addr();
    if (!main_job(&ctx, dbl, &job)) {
        ret = 0;
    } else {
        struct bounce_message *msg = mem_alloc(sizeof(*msg));

        msg->text = buf_create(4096);
        out = (struct bounce_out){.mem = msg->text};
        ret = build(&ctx, &job, new_id, &out, why_r);
        if (ret > 0) {
            msg->recipient = mem_strdup(job.recipient);
            msg->sender = mem_strdup(job.sender);
            *msg_r = msg;
        } else {
            bounce_message_free(&msg);
        }
    }
    mem_free(dbl);
    ctx_free(&ctx);
    return ret;
}

/* Release a formatted notification. */
void bounce_message_free(struct bounce_message **msgp)
{
    struct bounce_message *msg = *msgp;

    if (msg == NULL)
        return;
    mem_free(msg->recipient);
    mem_free(msg->sender);
    buf_free(&msg->text);
    mem_free(msg);
    *msgp = NULL;
}
