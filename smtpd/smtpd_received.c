/*
 * smtpd_received - the Received: header that smtpd adds (RFC 5321
 * section 4.4), in Postfix's shape:
 *
 *   Received: from HELO (NAME [ADDR])
 *   	by MYHOSTNAME (MAIL_NAME) with PROTOCOL id QID
 *   	for <RCPT>; DATE
 *
 * with the "for" clause only when the message has exactly one recipient
 * (naming one of several would tell each recipient about the others), and
 * otherwise "... id QID;" followed by the date on its own line. Without a
 * HELO/EHLO the client name stands in for it. The date is RFC 5322 with a
 * numeric zone (cleanup_date). Folds are "\n\t" (the queue's line ends).
 */
#include "config.h"

#include "lib/mail/cleanup.h"
#include "lib/util/buf.h"
#include "smtpd/smtpd.h"

/* Append the header to out, without its final line end. */
void smtpd_received_format(struct buf *out, const struct smtpd_received *r)
{
    buf_printf(out, "Received: from %s (%s [%s])\n", r->helo != NULL ? r->helo : r->name, r->name,
               r->rfc_addr);
    buf_printf(out, "\tby %s (%s) with %s id %s", r->myhostname, r->mail_name, r->protocol,
               r->queue_id);
    if (r->rcpt != NULL) {
        buf_printf(out, "\n\tfor <%s>; ", r->rcpt);
    } else {
        buf_puts(out, ";\n\t");
    }
    cleanup_date(out, r->when);
}
