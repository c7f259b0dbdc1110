/*
 * cleanup - what every new message goes through on its way into a queue
 * file, whoever received it (smtpd for SMTP, pickup for the sendmail
 * command): Postfix's cleanup(8) work, as a library.
 *
 *   c = cleanup_create(&opts, write_fn, ctx);
 *   cleanup_prepend(c, "Received: from ...");   headers the receiver adds
 *   cleanup_feed(c, data, len) ...              the message, any pieces
 *   cleanup_finish(c);
 *   if (cleanup_status(c) != CLEANUP_STAT_OK) -> refuse (cleanup_reason)
 *   cleanup_free(&c);
 *
 * Input and output are the queue representation of a message: lines that
 * end in LF (smtp_data.h). The output goes to write_fn as it is produced
 * (headers one at a time, the body as it comes), so memory stays bounded
 * by header_size_limit whatever the message size.
 *
 * What it does:
 *  - headers longer than header_size_limit are cut there (the rest of that
 *    header is dropped, as Postfix does), with a warning in the log;
 *  - Received: headers are counted, the prepended ones included; at
 *    hopcount_limit the message is refused ("5.4.6 Too many hops": a mail
 *    loop);
 *  - Return-Path: and Content-Length: are removed (delivery adds the first;
 *    the second misleads mbox readers), and Bcc: with CLEANUP_FLAG_STRIP_BCC;
 *  - with CLEANUP_FLAG_ADD_HEADERS (local submissions, trusted clients)
 *    missing Message-ID:, Date: and From: are added at the end of the
 *    header block;
 *  - an empty line is inserted when the body starts without one (a line
 *    that is not a header ends the header block, as in Postfix);
 *  - a message that does not end with a line end gets one;
 *  - the Message-ID is logged as "QID: message-id=<...>".
 *
 * Envelope addresses are qualified with cleanup_qualify() (myorigin).
 */
#ifndef POSTEL_MAIL_CLEANUP_H
#define POSTEL_MAIL_CLEANUP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/util/buf.h"

/* cleanup_opts.flags */
#define CLEANUP_FLAG_ADD_HEADERS 0x01 /* add Message-ID, Date, From when missing */
#define CLEANUP_FLAG_STRIP_BCC 0x02   /* remove Bcc: (sendmail -t) */

/* cleanup_status() bits */
#define CLEANUP_STAT_OK 0
#define CLEANUP_STAT_WRITE 0x01 /* write_fn failed (its owner knows why) */
#define CLEANUP_STAT_HOPS 0x02  /* too many Received: headers */

struct cleanup_opts {
    const char *queue_id;     /* for the Message-ID and the log */
    const char *myhostname;   /* for the Message-ID and MAILER-DAEMON */
    const char *sender;       /* envelope sender, qualified; "" = null sender */
    time_t arrival;           /* for Date: and the Message-ID */
    size_t header_size_limit; /* per header; 0 = HDR_SIZE_LIMIT */
    int hopcount_limit;       /* Received: headers allowed; 0 = no limit */
    unsigned flags;           /* CLEANUP_FLAG_* */
};

/* Output: 0, or -1 when the data could not be stored (cleanup stops writing). */
typedef int (*cleanup_write_fn)(void *ctx, const char *data, size_t len);

struct cleanup;

struct cleanup *cleanup_create(const struct cleanup_opts *opts, cleanup_write_fn write_fn,
                               void *ctx);
void cleanup_free(struct cleanup **cp);

/*
 * Add a header in front of the message (before the first cleanup_feed).
 * text is "Name: value" with folds written as "\n\t", without the final
 * line end. Counted like the message's own headers (Received: hops).
 */
void cleanup_prepend(struct cleanup *c, const char *text);

/* Feed the next piece of the message. */
void cleanup_feed(struct cleanup *c, const char *data, size_t len);

/* The message ended: flush what is pending, add what is missing. */
void cleanup_finish(struct cleanup *c);

/* CLEANUP_STAT_* bits; CLEANUP_STAT_OK when the message may be queued. */
unsigned cleanup_status(const struct cleanup *c);

/*
 * For a refused message: the enhanced status code and the text of the
 * reply ("5.4.6", "Too many hops"), for the first reason in status. A
 * write error has no text of its own (the writer's owner says 4.3.0/4.3.1).
 */
void cleanup_reason(unsigned status, const char **dsn_r, const char **text_r);

/* Bytes written to write_fn so far. */
unsigned long long cleanup_size(const struct cleanup *c);
/* Received: headers counted so far. */
int cleanup_hops(const struct cleanup *c);

/*
 * RFC 5322 date-time of t in local time with a numeric zone, for Date: and
 * Received: "Tue, 1 Jul 2025 14:03:09 +0200 (CEST)". Appended to out.
 * Day and month names are English whatever the locale.
 */
void cleanup_date(struct buf *out, time_t t);

/*
 * Append addr qualified with origin: "user" becomes "user@origin"; an
 * address that has a domain (an '@' outside quotes) and the null address
 * "" are copied as they are.
 */
void cleanup_qualify(struct buf *out, const char *addr, const char *origin);

#endif
