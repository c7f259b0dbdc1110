/*
 * deliver - the delivery protocol between qmgr and the delivery agents
 * (local, smtp, pipe, ...), built on attr.h messages.
 *
 * Connection. qmgr connects to $queue_directory/private/<transport> (a
 * master.cf "unix" service, one agent process per connection at a time;
 * the agent is a single_server_main() daemon). On that connection:
 *
 *   qmgr  -> agent   one "deliver_request" message (version
 *                    DELIVER_PROTO_VERSION): one message, one or more
 *                    recipients of it, all for one transport and nexthop.
 *   agent -> qmgr    exactly one "deliver_result" message per recipient of
 *                    the request, in any order, each sent as soon as that
 *                    recipient's outcome is final for this attempt.
 *
 * After the last result the agent reads again: another request may follow
 * on the same connection, or end of file (qmgr closed; the agent returns
 * from its service function). qmgr treats a connection that closes before
 * every recipient has a result as an agent crash: the recipients without a
 * result are deferred ("4.3.0 ... delivery agent crashed") and retried
 * later. A malformed message on either side is a protocol error: log it,
 * drop the connection (the recipients without a result are deferred).
 *
 * Request fields (in order; attr.h types):
 *
 *   s queue_id        the queue ID
 *   s queue_file      path of the queue file relative to queue_directory
 *                     ("active/<id>.msg"); the agent opens it read-only
 *                     with queue_file_open(), it never writes status into
 *                     it (qmgr does, from the results)
 *   l content_offset  queue_file_content_offset() (for agents that mmap or
 *   l content_length  pread; queue_file_content_read() gives the same bytes)
 *   s sender          envelope sender after rewriting; "" = null sender
 *   s envid           DSN ENVID (xtext as received) or ""
 *   i ret             DSN RET: 0 none, 1 FULL, 2 HDRS (enum queue_ret)
 *   i body            BODY=: 0 none, 1 7BIT, 2 8BITMIME, 3 BINARYMIME
 *   i smtputf8        1 when the message needs SMTPUTF8, else 0
 *   l arrival         arrival time, microseconds since the epoch
 *   l active          when qmgr took the message into active/ (same unit);
 *                     with the time the request arrived these give the
 *                     first two parts of delays=a/b/c/d
 *   s transport       the master.cf service name (local, smtp, relay, ...)
 *   s nexthop         transport-specific destination: for local the
 *                     mailbox (the recipient's local part, lower case,
 *                     without address extension); for smtp "domain",
 *                     "[host]", "host:port" or "[host]:port" as in
 *                     transport(5)
 *   i rcpt_count      1..DELIVER_RCPT_MAX, then per recipient:
 *     l index         the recipient's index in the queue file
 *     s address       the address to deliver to (after canonical and
 *                     virtual rewriting; local: "user+ext@domain")
 *     s orig          the original recipient as received, or ""
 *     s orcpt         DSN ORCPT ("rfc822;user@example.com") or ""
 *     i notify        DSN NOTIFY bits (QUEUE_NOTIFY_*, 0 = default)
 *
 * Result fields:
 *
 *   l index           the recipient's queue file index (from the request)
 *   s address         the recipient address (as in the request)
 *   i status          DELIVER_SENT, DELIVER_DEFERRED or DELIVER_BOUNCED
 *   s dsn             RFC 3463 status "2.0.0", "4.2.2", "5.1.1"; the
 *                     class must match status (2 sent, 4 deferred,
 *                     5 bounced)
 *   s action          RFC 3464 action for a DSN: "delivered" (final
 *                     delivery), "relayed" (handed to a host without DSN),
 *                     "expanded" (alias/list), or "" for failed/delayed;
 *                     "" with status sent: handed to a host that took the
 *                     DSN request over, so qmgr sends no success notice
 *   s text            diagnostic for the log and DSN ("delivered to
 *                     maildir", "host mx[192.0.2.1] said: 550 ...")
 *   s relay           who took it: "local", "mx.example[192.0.2.1]:25",
 *                     or "none"
 *   l conn_ms         connection setup time (delays=c), milliseconds
 *   l xfer_ms         transmission time (delays=d), milliseconds
 *   i flags           DELIVER_FLAG_* (0 usually):
 *                     DELIVER_FLAG_NEXTHOP with status deferred: the failure
 *                     is the next hop's, not the recipient's (no connection,
 *                     greeting refused, TLS required but not offered, ...);
 *                     qmgr then defers the other recipients waiting for the
 *                     same transport and next hop without trying them, and
 *                     tries that next hop again after minimal_backoff_time
 *
 * Logging. The agent logs each recipient's outcome in Postfix's shape,
 *   "QID: to=<r>, orig_to=<o>, relay=R, delay=T, delays=a/b/c/d,
 *    dsn=X.Y.Z, status=sent (text)"
 * (deliver_log() formats it); qmgr logs only the outcomes it makes
 * itself (transport unavailable, agent crashed, expired, error:/discard:).
 *
 * Bounds: DELIVER_RCPT_MAX recipients per request, every string at most
 * QUEUE_STR_MAX bytes (diagnostic text QUEUE_DIAG_TEXT_MAX), checked on
 * both sides.
 */
#ifndef POSTEL_MAIL_DELIVER_H
#define POSTEL_MAIL_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/mail/attr.h"
#include "lib/util/buf.h"

struct stream;

#define DELIVER_PROTO_VERSION 1
#define DELIVER_REQUEST_TYPE "deliver_request"
#define DELIVER_RESULT_TYPE "deliver_result"

#define DELIVER_RCPT_MAX 1000 /* recipients per request */
#define DELIVER_STR_MAX 4096  /* bytes in an address, path, nexthop, ... */
#define DELIVER_TEXT_MAX 4000 /* bytes of diagnostic text */
#define DELIVER_DSN_MAX 15    /* "5.1.1" (RFC 3463: up to 3.3.3 digits) */

/* The private/ directory of transport sockets, relative to queue_directory. */
#define DELIVER_SOCKET_DIR "private"

/* Result flags. */
#define DELIVER_FLAG_NEXTHOP 0x01 /* deferred because of the next hop, not the recipient */
#define DELIVER_FLAGS_ALL 0x01

/* Outcome of one recipient. */
enum deliver_status {
    DELIVER_SENT = 0,     /* delivered or relayed */
    DELIVER_DEFERRED = 1, /* temporary failure: retry later */
    DELIVER_BOUNCED = 2,  /* permanent failure: bounce */
};

struct deliver_rcpt {
    long long index; /* in the queue file */
    char *address;   /* to deliver to */
    char *orig;      /* original recipient, "" if none */
    char *orcpt;     /* DSN ORCPT, "" if none */
    unsigned notify; /* QUEUE_NOTIFY_* */
};

struct deliver_request {
    char *queue_id;
    char *queue_file; /* relative to queue_directory */
    long long content_offset;
    long long content_length;
    char *sender; /* "" = null sender */
    char *envid;  /* "" if none */
    int ret;      /* enum queue_ret */
    int body;     /* enum queue_body */
    bool smtputf8;
    long long arrival_us;
    long long active_us;
    char *transport;
    char *nexthop;
    size_t rcpt_count;
    struct deliver_rcpt *rcpts;
};

struct deliver_result {
    long long index;
    char *address;
    enum deliver_status status;
    char *dsn;
    char *action;
    char *text;
    char *relay;
    long long conn_ms;
    long long xfer_ms;
    unsigned flags; /* DELIVER_FLAG_* */
};

/* ---- the request ---- */

/* An empty request; every string is set to "" (use deliver_set to change one). */
struct deliver_request *deliver_request_create(void);
void deliver_request_free(struct deliver_request **reqp);
/* Replace the string *field with a copy of value (NULL = ""). */
void deliver_set(char **field, const char *value);
/* Append a recipient (the strings are copied; NULL = ""). */
void deliver_request_add_rcpt(struct deliver_request *req, long long index, const char *address,
                              const char *orig, const char *orcpt, unsigned notify);
/* Check the request for the bounds above. 0, or -1 with *why_r. */
int deliver_request_check(const struct deliver_request *req, const char **why_r);
/* Append the request as one attr message to out (the request must pass the check). */
void deliver_request_format(const struct deliver_request *req, struct buf *out);
/* Decode a request message. 0 with *req_r (caller frees), or -1 with *why_r. */
int deliver_request_parse(struct attr_msg *m, struct deliver_request **req_r, const char **why_r);

/*
 * Agent side: read the next request from a blocking stream. 1 with *req_r,
 * 0 when qmgr closed the connection cleanly, -1 with *why_r. p is the
 * connection's parser (attr_parser_create(NULL)).
 */
int deliver_request_recv(struct stream *s, struct attr_parser *p, struct deliver_request **req_r,
                         const char **why_r);
/* qmgr side (and tests): write a request to a blocking stream. 0, or -1 with *why_r. */
int deliver_request_send(struct stream *s, const struct deliver_request *req, const char **why_r);

/* ---- the per-recipient result ---- */

/* Free the strings of a result (the struct itself is the caller's). */
void deliver_result_clear(struct deliver_result *res);
/* Check a result: status/dsn class agree, bounds. 0, or -1 with *why_r. */
int deliver_result_check(const struct deliver_result *res, const char **why_r);
/* Append the result as one attr message to out (the result must pass the check). */
void deliver_result_format(const struct deliver_result *res, struct buf *out);
/* Decode a result message into *res_r (strings allocated). 0, or -1 with *why_r. */
int deliver_result_parse(struct attr_msg *m, struct deliver_result *res_r, const char **why_r);

/*
 * Agent side: send the result of recipient rcpt of req. text is the
 * diagnostic (NULL = ""). Fills and checks a struct deliver_result, writes
 * and flushes it, and logs the recipient line (deliver_log) unless
 * the write failed. 0, or -1 with *why_r (qmgr went away: stop).
 */
int deliver_result_send(struct stream *s, const struct deliver_request *req,
                        const struct deliver_rcpt *rcpt, enum deliver_status status,
                        const char *dsn, const char *action, const char *relay, long long conn_ms,
                        long long xfer_ms, const char *text, const char **why_r);
/*
 * Agent side, with every field (flags included) in res: check, write, flush
 * and log it. res->index and res->address must be rcpt's. 0, or -1 with
 * *why_r.
 */
int deliver_result_write(struct stream *s, const struct deliver_request *req,
                         const struct deliver_rcpt *rcpt, const struct deliver_result *res,
                         const char **why_r);
/* qmgr side (and tests): read one result from a blocking stream; like deliver_request_recv. */
int deliver_result_recv(struct stream *s, struct attr_parser *p, struct deliver_result *res_r,
                        const char **why_r);

/*
 * Log one recipient's outcome in Postfix's shape (msg_info):
 * "QID: to=<address>, orig_to=<orig>, relay=R, delay=T, delays=a/b/c/d,
 *  dsn=D, status=sent (text)". now_us is the wall-clock time (microseconds);
 * a = active - arrival, c and d come from the result, b is the rest.
 */
void deliver_log(const struct deliver_request *req, const struct deliver_rcpt *rcpt,
                 const struct deliver_result *res, long long now_us);

/* "sent", "deferred", "bounced". */
const char *deliver_status_name(enum deliver_status status);
/* True when dsn is an RFC 3463 code "C.S.D" whose class matches status. */
bool deliver_dsn_valid(const char *dsn, enum deliver_status status);

#endif
