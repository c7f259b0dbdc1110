/*
 * bounce - delivery status notifications (RFC 3464 DSNs, RFC 6522
 * multipart/report), queued as new mail.
 *
 * qmgr calls bounce_queue_dsn() when recipients of a message have failed
 * permanently, have been delayed past delay_warning_time, or (NOTIFY=SUCCESS)
 * were delivered. The module reads the original queue file (envelope and
 * content), builds the notification and writes it as a NEW queue file into
 * incoming/ through queue_file.h (create, write, commit), with the null
 * sender <> and the original envelope sender as its only recipient. The
 * original queue file is never modified: after a return of 1 or 0 the
 * caller marks the reported recipients in their slots (QUEUE_SLOT_NOTIFIED
 * for a final status, QUEUE_SLOT_DELAY_WARNED for a delay warning) so that
 * a restart does not notify twice, and then nudges itself to pick up the
 * new file from incoming/.
 *
 * The notification, as Postfix's bounce(8) writes it:
 *
 *   From: MAILER-DAEMON@$myhostname (Mail Delivery System)
 *   To: <original sender>
 *   Subject: Undelivered Mail Returned to Sender       (BOUNCE_FAILED)
 *            Delayed Mail (still being retried)        (BOUNCE_DELAYED)
 *            Successful Mail Delivery Report           (BOUNCE_SUCCESS)
 *   Date, Message-ID, Auto-Submitted: auto-replied, MIME-Version,
 *   Content-Type: multipart/report; report-type=delivery-status; boundary=...
 *
 *   part 1  text/plain: "This is the mail system at host $myhostname. ..."
 *           and one paragraph per recipient with its diagnostic
 *   part 2  message/delivery-status (message/global-delivery-status when
 *           the original was SMTPUTF8, RFC 6533): Reporting-MTA,
 *           X-Postel-Queue-ID, X-Postel-Sender, Original-Envelope-Id
 *           (ENVID), Arrival-Date; per recipient Final-Recipient,
 *           Original-Recipient (ORCPT), Action, Status, Remote-MTA,
 *           Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until
 *   part 3  the original after a Return-Path: header: message/rfc822 (the
 *           whole message: failures with RET=FULL or no RET, success
 *           reports with RET=FULL, double bounces), text/rfc822-headers
 *           (the header block: RET=HDRS, delay warnings, success reports
 *           without RET=FULL, postmaster copies, and, as Postfix does, any
 *           original larger than bounce_size_limit, so that its MIME
 *           structure is never cut); message/global and
 *           message/global-headers for SMTPUTF8 originals
 *
 * Which recipients are reported: those in the request whose DSN NOTIFY
 * allows the kind (NOTIFY absent means FAILURE,DELAY; NEVER means none;
 * SUCCESS only for BOUNCE_SUCCESS). When none is left, nothing is queued.
 *
 * Null sender and double bounces, as Postfix does:
 *   - the original sender is <> (the message was itself a notification):
 *     no notification goes to <>; when notify_classes contains "bounce" or
 *     "2bounce", a failure report (a "double bounce") goes to
 *     2bounce_notice_recipient with the sender double_bounce_sender@$myhostname,
 *     with every recipient regardless of NOTIFY; otherwise it is dropped
 *     (logged);
 *   - the original sender is double_bounce_sender@$myhostname (a double
 *     bounce could not be delivered): nothing is sent, the log says
 *     "undeliverable postmaster notification discarded";
 *   - postmaster copies: with "bounce" in notify_classes a failure report
 *     also sends the headers-only copy to bounce_notice_recipient; with
 *     "delay", a delay warning to delay_notice_recipient. A failed copy is
 *     only logged: it never makes the sender's notification fail.
 *
 * Parameters read at each call (mail_conf.h): myhostname, bounce_size_limit,
 * notify_classes, bounce_notice_recipient, 2bounce_notice_recipient,
 * delay_notice_recipient, double_bounce_sender, mail_name.
 *
 * Logging, as Postfix: "QID: sender non-delivery notification: NEWQID",
 * "QID: sender delay notification: NEWQID", "QID: sender delivery status
 * notification: NEWQID", "QID: postmaster non-delivery notification: NEWQID".
 *
 * Not thread-safe. Blocking file I/O only; no sockets.
 */
#ifndef POSTEL_MAIL_BOUNCE_H
#define POSTEL_MAIL_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/mail/queue_file.h"
#include "lib/mail/queue_id.h"
#include "lib/util/buf.h"

/* What the notification reports. */
enum bounce_kind {
    BOUNCE_FAILED = 0,  /* non-delivery: Action failed, Status 5.x.y */
    BOUNCE_DELAYED = 1, /* delay warning: Action delayed, Status 4.x.y */
    BOUNCE_SUCCESS = 2, /* NOTIFY=SUCCESS report: delivered, relayed or expanded */
};

/* RFC 3464 Action of one recipient; BOUNCE_ACTION_DEFAULT follows the kind. */
enum bounce_action {
    BOUNCE_ACTION_DEFAULT = 0, /* failed / delayed / delivered, by kind */
    BOUNCE_ACTION_FAILED,
    BOUNCE_ACTION_DELAYED,
    BOUNCE_ACTION_DELIVERED, /* final delivery (local mailbox, LMTP) */
    BOUNCE_ACTION_RELAYED,   /* handed to an MTA that does not speak DSN */
    BOUNCE_ACTION_EXPANDED,  /* delivered to an alias or list, then expanded */
};

/*
 * One recipient to report. Strings are copied; NULL means "not known".
 * When dsn is NULL the recipient's latest diagnostic is read from the queue
 * file (queue_file_rcpt_diag: code, remote MTA, text and time); when the
 * file has none either, the code defaults to 5.0.0 / 4.0.0 / 2.0.0 by kind.
 */
struct bounce_rcpt {
    size_t index;              /* index into queue_file_envelope(qf)->rcpts */
    enum bounce_action action; /* usually BOUNCE_ACTION_DEFAULT */
    const char *dsn;           /* RFC 3463 status "5.1.1" */
    const char *mta;           /* remote MTA: "mx.example.com[192.0.2.1]" or a name */
    const char *text;          /* "smtp; 550 5.1.1 <a@b>: no such user",
                                  "x-unix; mailbox full", or plain text (taken as x-unix) */
    int64_t time;              /* last attempt, seconds since the epoch; 0 = now */
};

/* A notification request. */
struct bounce_request {
    enum bounce_kind kind;
    struct queue_file *qf;           /* the original, open for reading (any queue dir) */
    const struct bounce_rcpt *rcpts; /* recipients to report (indexes must be valid) */
    size_t rcpt_count;
    int64_t retry_until;      /* BOUNCE_DELAYED: Will-Retry-Until, seconds since the
                                 epoch (arrival + maximal_queue_lifetime); 0 = omit */
    const char *incoming_dir; /* where the new file goes; NULL = "incoming" relative to
                                 the current directory (daemons run in queue_directory) */
};

/* Output of bounce_format() (for tests and "postqueue"-like tools). */
struct bounce_message {
    char *recipient;  /* envelope recipient of the notification ("" = none) */
    char *sender;     /* envelope sender: "" or double_bounce_sender@$myhostname */
    struct buf *text; /* the whole message: headers, empty line, MIME body; LF line ends */
};

/*
 * Build and queue the notification(s) for req. Returns 1 when a
 * notification was queued (*qid_r = its queue ID; qid_r may be NULL), 0
 * when nothing needed to be sent (no recipient asked for this kind, or a
 * double bounce that is dropped by policy; *qid_r = ""), and -1 with
 * *why_r when the notification could not be written (temporary: the caller
 * keeps the recipients and tries again later). A malformed request (index
 * out of range, qf not a reader) is a bug: msg_panic.
 */
int bounce_queue_dsn(const struct bounce_request *req, char qid_r[QUEUE_ID_SIZE],
                     const char **why_r);

/*
 * Build the main notification for req (to the sender, or the double bounce
 * to 2bounce_notice_recipient) without queueing it. Returns 1
 * with *msg_r filled, 0 when no notification would be sent (as above), or
 * -1 with *why_r (the original could not be read). new_id names the
 * notification in its Message-ID; NULL makes one up. Free with
 * bounce_message_free().
 */
int bounce_format(const struct bounce_request *req, const char *new_id,
                  struct bounce_message **msg_r, const char **why_r);
void bounce_message_free(struct bounce_message **msgp);

/* "failed", "delayed", "delivered", "relayed", "expanded" (RFC 3464 Action). */
const char *bounce_action_name(enum bounce_action action, enum bounce_kind kind);

#endif
