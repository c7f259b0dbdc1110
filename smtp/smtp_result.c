/*
 * smtp_result - what a server reply or a failed conversation means for
 * the recipients: sent, deferred or bounced, the RFC 3463 status code,
 * and the text that the log and the bounce show, in Postfix's words:
 *
 *   250 2.0.0 Ok: queued as 4B7D1                            (sent)
 *   host mx.example[192.0.2.1] said: 550 5.1.1 <u@example>: Recipient
 *     address rejected (in reply to RCPT TO command)          (bounced)
 *   lost connection with mx.example[192.0.2.1] while sending RCPT TO
 *   conversation with mx.example[192.0.2.1] timed out while receiving
 *     the initial server greeting                              (deferred)
 *
 * Pure code: no I/O, unit-tested (tests/unit/test_smtp_result.c).
 *
 * Security: reply text comes from the server; the reply reader has already
 * replaced control characters, and the text is cut to fit the delivery
 * protocol's bound.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/mail/deliver.h"
#include "lib/proto/smtp_reply.h"
#include "lib/util/buf.h"
#include "smtp/smtp.h"

/* Room left for the server's words in a diagnostic. */
#define SMTP_REPLY_TEXT_MAX 3000

/* An empty outcome (deferred 4.0.0, no text). */
void smtp_outcome_init(struct smtp_outcome *o)
{
    o->status = DELIVER_DEFERRED;
    snprintf(o->dsn, sizeof(o->dsn), "4.0.0");
    o->text = buf_create(128);
    o->relay[0] = 0;
}

/* Free the outcome's text. */
void smtp_outcome_clear(struct smtp_outcome *o)
{
    buf_free(&o->text);
}

/* Set status, dsn and a formatted text. */
void smtp_outcome_set(struct smtp_outcome *o, enum deliver_status status, const char *dsn,
                      const char *fmt, ...)
{
    va_list ap;

    o->status = status;
    snprintf(o->dsn, sizeof(o->dsn), "%s", dsn);
    buf_reset(o->text);
    va_start(ap, fmt);
    buf_vprintf(o->text, fmt, ap);
    va_end(ap);
    if (buf_len(o->text) > DELIVER_TEXT_MAX)
        buf_truncate(o->text, DELIVER_TEXT_MAX);
}

/* Copy src into dst (both initialised). */
void smtp_outcome_copy(struct smtp_outcome *dst, const struct smtp_outcome *src)
{
    dst->status = src->status;
    memcpy(dst->dsn, src->dsn, sizeof(dst->dsn));
    buf_set(dst->text, buf_str(src->text));
    memcpy(dst->relay, src->relay, sizeof(dst->relay));
}

/* The command a reply answers, for "(in reply to X command)". */
const char *smtp_stage_command(enum smtp_stage stage)
{
    switch (stage) {
    case SMTP_STAGE_CONNECT:
    case SMTP_STAGE_GREETING:
        return "initial greeting";
    case SMTP_STAGE_EHLO:
        return "EHLO";
    case SMTP_STAGE_HELO:
        return "HELO";
    case SMTP_STAGE_STARTTLS:
        return "STARTTLS";
    case SMTP_STAGE_AUTH:
        return "AUTH";
    case SMTP_STAGE_MAIL:
        return "MAIL FROM";
    case SMTP_STAGE_RCPT:
        return "RCPT TO";
    case SMTP_STAGE_DATA:
        return "DATA";
    case SMTP_STAGE_XFER:
    case SMTP_STAGE_DOT:
        return "end of DATA";
    case SMTP_STAGE_RSET:
        return "RSET";
    case SMTP_STAGE_QUIT:
        return "QUIT";
    }
    return "unknown";
}

/* What the client was doing, for "lost connection with H while X". */
const char *smtp_stage_doing(enum smtp_stage stage)
{
    switch (stage) {
    case SMTP_STAGE_CONNECT:
        return "connecting";
    case SMTP_STAGE_GREETING:
        return "receiving the initial server greeting";
    case SMTP_STAGE_EHLO:
        return "performing the EHLO handshake";
    case SMTP_STAGE_HELO:
        return "performing the HELO handshake";
    case SMTP_STAGE_STARTTLS:
        return "performing the STARTTLS handshake";
    case SMTP_STAGE_AUTH:
        return "performing the AUTH handshake";
    case SMTP_STAGE_MAIL:
        return "sending MAIL FROM";
    case SMTP_STAGE_RCPT:
        return "sending RCPT TO";
    case SMTP_STAGE_DATA:
        return "sending DATA command";
    case SMTP_STAGE_XFER:
        return "sending message body";
    case SMTP_STAGE_DOT:
        return "sending end of data -- message may be sent more than once";
    case SMTP_STAGE_RSET:
        return "sending RSET";
    case SMTP_STAGE_QUIT:
        return "sending QUIT";
    }
    return "talking";
}

/* Append the reply text, cut to a sane length. */
static void smtp_put_reply(struct buf *b, const struct smtp_reply *reply)
{
    size_t len = buf_len(reply->text);

    buf_append(b, buf_str(reply->text), len > SMTP_REPLY_TEXT_MAX ? SMTP_REPLY_TEXT_MAX : len);
}

/* The outcome of a server reply at a stage. */
void smtp_reply_outcome(const struct smtp_reply *reply, const char *namaddr, enum smtp_stage stage,
                        struct smtp_outcome *o)
{
    int cls = reply->code / 100;
    /* A 3xx where none belongs is a protocol botch: temporary, like 4xx. */
    enum deliver_status status = cls == 2   ? DELIVER_SENT
                                 : cls == 5 ? DELIVER_BOUNCED
                                            : DELIVER_DEFERRED;

    o->status = status;
    if (reply->dsn[0] != 0 && deliver_dsn_valid(reply->dsn, status))
        snprintf(o->dsn, sizeof(o->dsn), "%s", reply->dsn);
    else
        snprintf(o->dsn, sizeof(o->dsn), "%d.0.0", cls == 3 ? 4 : cls);
    buf_reset(o->text);
    if (status == DELIVER_SENT) {
        smtp_put_reply(o->text, reply);
        return;
    }
    buf_printf(o->text, "host %s said: ", namaddr);
    smtp_put_reply(o->text, reply);
    buf_printf(o->text, " (in reply to %s command)", smtp_stage_command(stage));
}

/* A lost connection or a timeout. */
void smtp_io_outcome(bool timed_out, const char *namaddr, enum smtp_stage stage,
                     struct smtp_outcome *o)
{
    if (timed_out)
        smtp_outcome_set(o, DELIVER_DEFERRED, "4.4.2", "conversation with %s timed out while %s",
                         namaddr, smtp_stage_doing(stage));
    else
        smtp_outcome_set(o, DELIVER_DEFERRED, "4.4.2", "lost connection with %s while %s", namaddr,
                         smtp_stage_doing(stage));
}

/* Turn a bounce into a deferral: class 4. */
void smtp_outcome_soften(struct smtp_outcome *o)
{
    if (o->status == DELIVER_BOUNCED) {
        o->status = DELIVER_DEFERRED;
        o->dsn[0] = '4';
    }
}
