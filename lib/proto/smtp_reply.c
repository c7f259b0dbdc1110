/*
 * smtp_reply - format SMTP replies, server side.
 *
 * A reply is one or more lines "250-text" ... "250 text", each ending in
 * CRLF, with the enhanced status code (RFC 2034) repeated on every line when
 * one is given. Greetings and EHLO/HELO replies carry no enhanced code:
 * callers pass dsn NULL there (RFC 2034 section 3).
 *
 * Security: the text can hold data that came from a client (a parameter
 * name, an address), so every byte below 0x20 and DEL becomes '?': a reply
 * can never contain a CR or LF of its own and so never splits into lines
 * the client would read as another reply. Each line is cut to 512 octets
 * including code and CRLF (RFC 5321 section 4.5.3.1.5), without cutting a
 * UTF-8 sequence in half.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/proto/smtp_reply.h"
#include "lib/util/msg.h"

/* Reset a reply record to "no reply". */
void smtp_resp_clear(struct smtp_resp *r)
{
    r->code = 0;
    r->dsn[0] = 0;
    r->text[0] = 0;
    r->why = NULL;
}

/*
 * True when dsn[0..len) is an enhanced status code: class "." subject
 * "." detail, class 2, 4 or 5, subject and detail 1 to 3 digits (RFC 3463).
 */
bool smtp_dsn_valid(const char *dsn, size_t len)
{
    size_t i = 0, digits;

    if (len < 5 || (dsn[0] != '2' && dsn[0] != '4' && dsn[0] != '5') || dsn[1] != '.')
        return false;
    i = 2;
    for (int part = 0; part < 2; part++) {
        for (digits = 0; i < len && dsn[i] >= '0' && dsn[i] <= '9'; i++)
            digits++;
        if (digits < 1 || digits > 3)
            return false;
        if (part == 0) {
            if (i >= len || dsn[i] != '.')
                return false;
            i++;
        }
    }
    return i == len;
}

/* Panic on a reply code or enhanced code that a caller got wrong. */
static void check_code(int code, const char *dsn)
{
    if (code < 200 || code > 599)
        msg_panic("smtp reply: bad code %d", code);
    if (dsn && *dsn) {
        if (!smtp_dsn_valid(dsn, strlen(dsn)))
            msg_panic("smtp reply: bad enhanced status code \"%s\"", dsn);
        if (dsn[0] != '0' + code / 100)
            msg_panic("smtp reply: code %d with enhanced status code %s", code, dsn);
    }
}

/* Fill a reply record; the text is cut to fit. */
void smtp_resp_set(struct smtp_resp *r, int code, const char *dsn, const char *fmt, ...)
{
    va_list ap;

    check_code(code, dsn);
    r->code = code;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn ? dsn : "");
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof(r->text), fmt, ap);
    va_end(ap);
    r->why = NULL;
}

/* Append the reply record as one reply line with CRLF. */
void smtp_resp_format(struct buf *out, const struct smtp_resp *r)
{
    smtp_reply_line(out, r->code, true, r->dsn, r->text, strlen(r->text));
}

/*
 * Append one reply line: code, "-" (more lines follow) or " " (last), the
 * enhanced code if any, the sanitised text, CRLF.
 */
void smtp_reply_line(struct buf *out, int code, bool last, const char *dsn, const char *text,
                     size_t len)
{
    size_t start = buf_len(out), room;

    check_code(code, dsn);
    buf_printf(out, "%d%c", code, last ? ' ' : '-');
    if (dsn && *dsn)
        buf_printf(out, "%s ", dsn);
    room = SMTP_REPLY_LINE_MAX - 2 - (buf_len(out) - start);
    if (len > room) {
        len = room;
        /* do not leave half a UTF-8 sequence at the cut */
        while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
            len--;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        buf_putc(out, c < 0x20 || c == 0x7f ? '?' : c);
    }
    /* no text: RFC 5321 allows the bare code; no trailing space */
    if (len == 0 && buf_str(out)[buf_len(out) - 1] == ' ')
        buf_truncate(out, buf_len(out) - 1);
    buf_append(out, "\r\n", 2);
}

/* Append a reply of count lines (count >= 1), all with the same codes. */
void smtp_reply_format(struct buf *out, int code, const char *dsn, const char *const *lines,
                       size_t count)
{
    if (count == 0)
        msg_panic("smtp_reply_format: no lines");
    for (size_t i = 0; i < count; i++)
        smtp_reply_line(out, code, i + 1 == count, dsn, lines[i], strlen(lines[i]));
}

/* Append a reply from a format; each '\n' in the result starts a new line. */
void smtp_reply_printf(struct buf *out, int code, const char *dsn, const char *fmt, ...)
{
    struct buf *text = buf_create(100);
    const char *p, *nl;
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(text, fmt, ap);
    va_end(ap);
    for (p = buf_str(text);; p = nl + 1) {
        nl = memchr(p, '\n', buf_len(text) - (size_t)(p - buf_str(text)));
        if (nl == NULL) {
            smtp_reply_line(out, code, true, dsn, p,
                            buf_len(text) - (size_t)(p - buf_str(text)));
            break;
        }
        smtp_reply_line(out, code, false, dsn, p, (size_t)(nl - p));
    }
    buf_free(&text);
}
