/*
 * smtp_reply - SMTP replies: the small reply record that parsers hand back
 * ("501 5.1.7 Bad sender address syntax") and the server-side formatter of
 * single- and multi-line replies (RFC 5321 section 4.2, RFC 2034/3463
 * enhanced status codes).
 */
#ifndef POSTEL_PROTO_SMTP_REPLY_H
#define POSTEL_PROTO_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util/buf.h"

/* RFC 5321 section 4.5.3.1.5: reply line including code and CRLF. */
#define SMTP_REPLY_LINE_MAX 512

#define SMTP_RESP_TEXT_MAX 200

/*
 * A reply to send: code 0 means "no reply". The text is what the client
 * sees; why is a static string with the detail for the log (may be NULL).
 */
struct smtp_resp {
    int code;                      /* 200..599, or 0 */
    char dsn[12];                  /* enhanced status code "5.1.7", or "" */
    char text[SMTP_RESP_TEXT_MAX]; /* reply text without code and dsn */
    const char *why;               /* detail for the log, or NULL */
};

void smtp_resp_clear(struct smtp_resp *r);
void smtp_resp_set(struct smtp_resp *r, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void smtp_resp_format(struct buf *out, const struct smtp_resp *r);

void smtp_reply_line(struct buf *out, int code, bool last, const char *dsn, const char *text,
                     size_t len);
void smtp_reply_format(struct buf *out, int code, const char *dsn, const char *const *lines,
                       size_t count);
void smtp_reply_printf(struct buf *out, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool smtp_dsn_valid(const char *dsn, size_t len);

#endif
