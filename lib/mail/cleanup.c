/*
 * cleanup - the message clean-up shared by smtpd and pickup (see
 * cleanup.h): header limits, hop counting, header removal and insertion,
 * the header/body separator, the final line end, the message-id log line.
 *
 * Owns nothing but its own state: the header scanner (lib/proto/hdr.h)
 * finds each header, this module decides what to write, write_fn stores.
 *
 * Security: input is the client's message. Memory is bounded by the
 * header scanner's limit (one pending header) plus a fixed amount; the
 * body is passed through without being held. Text that goes into the log
 * (the Message-ID) is cut and made printable first.
 */
#include "config.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/mail/cleanup.h"
#include "lib/proto/hdr.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

#define CLEANUP_LOG_ID_MAX 200 /* bytes of a Message-ID shown in the log */

/* Where the message is. */
enum cleanup_phase {
    CLEANUP_PH_HEADERS, /* scanning the header block */
    CLEANUP_PH_BODY,    /* passing the body through */
    CLEANUP_PH_DONE,    /* cleanup_finish() was called */
};

/* Headers the module knows about (bits of seen). */
#define SEEN_MESSAGE_ID 0x01
#define SEEN_DATE 0x02
#define SEEN_FROM 0x04

struct cleanup {
    struct cleanup_opts opts;
    char *queue_id, *myhostname, *sender;
    cleanup_write_fn write_fn;
    void *ctx;
    enum cleanup_phase phase;
    struct hdr_scan *scan;
    unsigned status;
    unsigned seen;
    int hops;
    bool logged_id;
    unsigned long long size;
    char last;       /* last byte written, 0 before any */
    struct buf *tmp; /* scratch for generated headers */
};

/* Write bytes unless an earlier write failed or the message is refused. */
static void out(struct cleanup *c, const char *data, size_t len)
{
    if (len == 0 || (c->status & CLEANUP_STAT_WRITE))
        return;
    if (c->write_fn(c->ctx, data, len) < 0) {
        c->status |= CLEANUP_STAT_WRITE;
        return;
    }
    c->size += len;
    c->last = data[len - 1];
}

/* Log the Message-ID once, cut and printable. */
static void cleanup_log_id(struct cleanup *c, const char *value, size_t len)
{
    struct buf *b;

    if (c->logged_id)
        return;
    c->logged_id = true;
    b = buf_create(len + 1); /* not c->tmp: value may point into it */
    hdr_unfold(b, value, len, true);
    if (buf_len(b) > CLEANUP_LOG_ID_MAX)
        buf_truncate(b, CLEANUP_LOG_ID_MAX);
    for (size_t i = 0; i < buf_len(b); i++) {
        unsigned char ch = (unsigned char)buf_str(b)[i];

        if (ch < 0x20 || ch == 0x7f)
            buf_str(b)[i] = '?';
    }
    msg_info("%s: message-id=%s", c->queue_id, buf_str(b));
    buf_free(&b);
}

/* True when the field name is name (ASCII case-insensitive). */
static bool is_name(const struct hdr_field *f, const char *name)
{
    return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

/* Decide about one header (prepended or from the message) and write it. */
static void cleanup_header(struct cleanup *c, const struct hdr_field *f)
{
    if (is_name(f, "Received")) {
        c->hops++;
        if (c->opts.hopcount_limit > 0 && c->hops >= c->opts.hopcount_limit &&
            !(c->status & CLEANUP_STAT_HOPS)) {
            c->status |= CLEANUP_STAT_HOPS;
            msg_info("%s: too many hops: %d Received: headers (hopcount_limit %d)", c->queue_id,
                     c->hops, c->opts.hopcount_limit);
        }
    } else if (is_name(f, "Message-ID")) {
        c->seen |= SEEN_MESSAGE_ID;
        cleanup_log_id(c, f->value, f->value_len);
    } else if (is_name(f, "Date")) {
        c->seen |= SEEN_DATE;
    } else if (is_name(f, "From")) {
        c->seen |= SEEN_FROM;
    } else if (is_name(f, "Return-Path") || is_name(f, "Content-Length") ||
               ((c->opts.flags & CLEANUP_FLAG_STRIP_BCC) &&
                (is_name(f, "Bcc") || is_name(f, "Resent-Bcc")))) {
        return;
    }
    if (f->truncated)
        msg_warn("%s: header %.*s exceeds header_size_limit %zu: cut there", c->queue_id,
                 (int)(f->name_len > 100 ? 100 : f->name_len), f->name, c->opts.header_size_limit);
    out(c, f->raw, f->raw_len);
    out(c, "\n", 1);
}

/* Scanner callback. */
static void cleanup_scan_cb(void *ctx, const struct hdr_field *f)
{
    cleanup_header(ctx, f);
}

/* End of the header block: add what is missing. */
static void cleanup_add_missing(struct cleanup *c)
{
    struct buf *b = c->tmp;

    if (!(c->opts.flags & CLEANUP_FLAG_ADD_HEADERS))
        return;
    if (!(c->seen & SEEN_MESSAGE_ID)) {
        struct tm tm;
        char stamp[32];

        gmtime_r(&c->opts.arrival, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
        buf_reset(b);
        buf_printf(b, "<%s.%s@%s>", stamp, c->queue_id, c->myhostname);
        cleanup_log_id(c, buf_str(b), buf_len(b));
        buf_reset(b);
        buf_printf(b, "Message-ID: <%s.%s@%s>\n", stamp, c->queue_id, c->myhostname);
        out(c, buf_str(b), buf_len(b));
    }
    if (!(c->seen & SEEN_DATE)) {
        buf_set(b, "Date: ");
        cleanup_date(b, c->opts.arrival);
        buf_putc(b, '\n');
        out(c, buf_str(b), buf_len(b));
    }
    if (!(c->seen & SEEN_FROM)) {
        buf_reset(b);
        if (*c->sender)
            buf_printf(b, "From: %s\n", c->sender);
        else
            buf_printf(b, "From: MAILER-DAEMON@%s\n", c->myhostname);
        out(c, buf_str(b), buf_len(b));
    }
}

/* Create the state for one message. */
struct cleanup *cleanup_create(const struct cleanup_opts *opts, cleanup_write_fn write_fn,
                               void *ctx)
{
    struct cleanup *c = mem_alloc(sizeof(*c));

    c->opts = *opts;
    c->queue_id = mem_strdup(opts->queue_id ? opts->queue_id : "NOQUEUE");
    c->myhostname = mem_strdup(opts->myhostname ? opts->myhostname : "localhost");
    c->sender = mem_strdup(opts->sender ? opts->sender : "");
    c->opts.queue_id = c->queue_id;
    c->opts.myhostname = c->myhostname;
    c->opts.sender = c->sender;
    if (c->opts.header_size_limit == 0)
        c->opts.header_size_limit = HDR_SIZE_LIMIT;
    c->write_fn = write_fn;
    c->ctx = ctx;
    c->phase = CLEANUP_PH_HEADERS;
    c->scan = hdr_scan_create(c->opts.header_size_limit, cleanup_scan_cb, c);
    c->tmp = buf_create(128);
    return c;
}

/* Free the state; clear the caller's pointer. */
void cleanup_free(struct cleanup **cp)
{
    struct cleanup *c = *cp;

    if (c == NULL)
        return;
    hdr_scan_free(&c->scan);
    buf_free(&c->tmp);
    mem_free(c->queue_id);
    mem_free(c->myhostname);
    mem_free(c->sender);
    mem_free(c);
    *cp = NULL;
}

/* Add a header in front of the message. */
void cleanup_prepend(struct cleanup *c, const char *text)
{
    const char *colon = strchr(text, ':');
    struct hdr_field f = {0};

    if (c->phase != CLEANUP_PH_HEADERS || colon == NULL)
        msg_panic("cleanup_prepend: called after the message started, or without a name");
    f.raw = text;
    f.raw_len = strlen(text);
    f.name = text;
    f.name_len = (size_t)(colon - text);
    f.value = colon + 1;
    f.value_len = f.raw_len - f.name_len - 1;
    cleanup_header(c, &f);
}

/* The header block ended with result end (HDR_SCAN_END or HDR_SCAN_BODY). */
static void cleanup_headers_done(struct cleanup *c, int end)
{
    cleanup_add_missing(c);
    if (end == HDR_SCAN_END || end == HDR_SCAN_BODY) {
        size_t plen;
        const char *prefix = hdr_scan_body_prefix(c->scan, &plen);

        /* the separator: the message's own, or one inserted before its body */
        out(c, "\n", 1);
        out(c, prefix, plen);
    }
    c->phase = CLEANUP_PH_BODY;
}

/* Feed the next piece of the message. */
void cleanup_feed(struct cleanup *c, const char *data, size_t len)
{
    if (c->phase == CLEANUP_PH_DONE)
        msg_panic("cleanup_feed: called after cleanup_finish");
    if (c->phase == CLEANUP_PH_HEADERS) {
        size_t used;
        int r = hdr_scan_feed(c->scan, data, len, &used);

        if (r == HDR_SCAN_MORE)
            return;
        cleanup_headers_done(c, r);
        data += used;
        len -= used;
    }
    out(c, data, len);
}

/* The message ended. */
void cleanup_finish(struct cleanup *c)
{
    if (c->phase == CLEANUP_PH_DONE)
        return;
    if (c->phase == CLEANUP_PH_HEADERS) {
        int r = hdr_scan_finish(c->scan);

        /* HDR_SCAN_MORE: only headers, no body and no separator; fine as it is */
        if (r == HDR_SCAN_MORE)
            cleanup_add_missing(c);
        else
            cleanup_headers_done(c, r);
    }
    if (c->size > 0 && c->last != '\n')
        out(c, "\n", 1);
    c->phase = CLEANUP_PH_DONE;
}

/* CLEANUP_STAT_* bits. */
unsigned cleanup_status(const struct cleanup *c)
{
    return c->status;
}

/* The reply parts for the first reason in status. */
void cleanup_reason(unsigned status, const char **dsn_r, const char **text_r)
{
    if (status & CLEANUP_STAT_HOPS) {
        *dsn_r = "5.4.6";
        *text_r = "Too many hops";
    } else if (status & CLEANUP_STAT_WRITE) {
        *dsn_r = "4.3.0";
        *text_r = "Error: queue file write error";
    } else {
        *dsn_r = "2.0.0";
        *text_r = "Ok";
    }
}

/* Bytes written so far. */
unsigned long long cleanup_size(const struct cleanup *c)
{
    return c->size;
}

/* Received: headers counted so far. */
int cleanup_hops(const struct cleanup *c)
{
    return c->hops;
}

/* RFC 5322 date-time in local time with a numeric zone. */
void cleanup_date(struct buf *b, time_t t)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    long off;
    char sign = '+';
    bool zone_ok = true;

    if (localtime_r(&t, &tm) == NULL) {
        gmtime_r(&t, &tm);
        tm.tm_gmtoff = 0;
        tm.tm_zone = "UTC";
    }
    off = tm.tm_gmtoff / 60;
    if (off < 0) {
        sign = '-';
        off = -off;
    }
    buf_printf(b, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday % 7], tm.tm_mday,
               months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
               tm.tm_sec > 59 ? 59 : tm.tm_sec, sign, off / 60 % 100, off % 60);
    /* the zone name as a comment, when it is a plain word */
    if (tm.tm_zone == NULL || *tm.tm_zone == '\0' || strlen(tm.tm_zone) > 10)
        zone_ok = false;
    for (const char *cp = tm.tm_zone; zone_ok && *cp; cp++)
        if (!((*cp >= 'A' && *cp <= 'Z') || (*cp >= 'a' && *cp <= 'z')))
            zone_ok = false;
    if (zone_ok)
        buf_printf(b, " (%s)", tm.tm_zone);
}

/* Append addr qualified with origin. */
void cleanup_qualify(struct buf *b, const char *addr, const char *origin)
{
    bool quoted = false, at = false;

    for (const char *cp = addr; *cp; cp++) {
        if (*cp == '\\' && cp[1] != '\0')
            cp++;
        else if (*cp == '"')
            quoted = !quoted;
        else if (*cp == '@' && !quoted)
            at = true;
    }
    buf_puts(b, addr);
    if (*addr && !at && origin != NULL && *origin)
        buf_printf(b, "@%s", origin);
}
