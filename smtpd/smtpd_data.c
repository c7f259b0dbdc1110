/*
 * smtpd_data - DATA and BDAT: the message content, the queue file and its
 * commit.
 *
 * The queue file is created at the first accepted recipient
 * (smtpd_queue_open). The content goes: network -> smtp_data decoder
 * (dot-unstuffing, end of data, CRLF -> LF, bare CR/LF accounting, size)
 * -> cleanup (Received: header first, header rules) -> queue_file_write.
 * At the end of the message the envelope is set and the file committed
 * (fsync, rename to .msg, directory fsync); only then does the client get
 * "250 2.0.0 Ok: queued as QID". Any refusal removes the file.
 *
 * DATA content is read line by line (at most SMTPD_DATA_PIECE bytes at a
 * time) and handed to the decoder with its exact line end, so the decoder
 * sees the bytes as they came; the end of data is always at a line end, so
 * nothing that follows it (the next pipelined command) is ever consumed.
 *
 * Security (SMTP smuggling): only <CR><LF>.<CR><LF> ends DATA; the decoder
 * guarantees that <LF>.<LF>, <CR>.<CR>, <LF>.<CR><LF> and friends never do,
 * so whatever follows them stays inside this message. With
 * smtpd_forbid_bare_newline (the default) such a message is refused after
 * its real end: "550 5.5.2 Error: bare <LF> received". A BDAT chunk is
 * always read in full, even when it is refused, so its bytes are never
 * taken for commands; a BDAT command whose size cannot be parsed ends the
 * session, since the chunk's end is then unknown.
 *
 * Errors: a full disk answers "452 4.3.1 Insufficient system storage",
 * any other queue error "451 4.3.0 Error: queue file write error"; the
 * detail goes to the log only.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "lib/mail/cleanup.h"
#include "lib/mail/qmgr_nudge.h"
#include "lib/mail/queue_file.h"
#include "lib/proto/smtp_data.h"
#include "lib/proto/xtext.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"
#include "smtpd/smtpd.h"

#define SMTPD_DATA_PIECE 8192     /* most bytes of one DATA line read at once */
#define SMTPD_BDAT_SIZE_DIGITS 20 /* RFC 3030 chunk-size = 1*DIGIT; 20 fit 64 bits */

/* The reply for a queue file failure of kind err. */
static void smtpd_queue_error_resp(enum queue_error err, struct smtp_resp *resp_r)
{
    if (err == QUEUE_ERR_NOSPACE)
        smtp_resp_set(resp_r, 452, "4.3.1", "Insufficient system storage");
    else if (err == QUEUE_ERR_TOOBIG)
        smtp_resp_set(resp_r, 552, "5.3.4", "Message size exceeds fixed limit");
    else
        smtp_resp_set(resp_r, 451, "4.3.0", "Error: queue file write error");
}

/* Create the queue file for this transaction. 0, or -1 with resp_r. */
int smtpd_queue_open(struct smtpd_session *ss, struct smtp_resp *resp_r)
{
    struct queue_limits limits = {.rcpt_max = (size_t)ss->set->recipient_limit};
    const char *why;

    if (queue_file_create(QUEUE_DIR_INCOMING, &limits, &ss->qf, &why) < 0) {
        enum queue_error err = queue_error_from_errno(errno);

        msg_warn("%s: create queue file in %s: %s", ss->peer.namaddr, QUEUE_DIR_INCOMING, why);
        smtpd_queue_error_resp(err, resp_r);
        ss->qf = NULL;
        return -1;
    }
    str_copy(ss->qid, sizeof(ss->qid), queue_file_id(ss->qf));
    msg_info("%s: client=%s", ss->qid, ss->peer.namaddr);
    return 0;
}

/* Drop the queue file (removing it) and the content state. */
void smtpd_queue_abort(struct smtpd_session *ss)
{
    cleanup_free(&ss->cleanup);
    if (ss->qf != NULL)
        queue_file_abort(&ss->qf);
    ss->qid[0] = '\0';
}

/* cleanup's output: into the queue file; the first failure is logged. */
static int smtpd_content_write(void *ctx, const char *data, size_t len)
{
    struct smtpd_session *ss = ctx;
    const char *why;

    if (ss->content_failed)
        return -1;
    if (queue_file_write(ss->qf, data, len, &why) < 0) {
        msg_warn("%s: write queue file: %s", ss->qid, why);
        ss->content_failed = true;
        return -1;
    }
    return 0;
}

/* Start the content: decoder, cleanup, Received: header. */
static void smtpd_content_begin(struct smtpd_session *ss)
{
    struct smtp_data_opts dopts = {
        .bare = ss->set->forbid_bare_newline ? SMTP_DATA_BARE_REJECT : SMTP_DATA_BARE_NORMALIZE,
        .size_limit = ss->set->message_size_limit,
    };
    struct cleanup_opts copts = {
        .queue_id = ss->qid,
        .myhostname = ss->set->myhostname,
        .sender = ss->sender,
        .arrival = ss->arrival,
        .header_size_limit = ss->set->header_size_limit,
        .hopcount_limit = ss->set->hopcount_limit,
        .flags = ss->trusted == 1 ? CLEANUP_FLAG_ADD_HEADERS : 0,
    };
    struct smtpd_received rcv = {
        .helo = ss->helo,
        .name = ss->peer.name,
        .rfc_addr = ss->peer.rfc_addr,
        .myhostname = ss->set->myhostname,
        .mail_name = ss->set->mail_name,
        .protocol = ss->mail->smtputf8 ? "UTF8SMTP" : ss->protocol,
        .queue_id = ss->qid,
        .rcpt = ss->nrcpt == 1 ? ss->rcpts[0].address : NULL,
        .when = ss->arrival,
    };
    struct buf *hdr = buf_create(256);

    if (ss->dec == NULL)
        ss->dec = smtp_data_create(&dopts);
    else
        smtp_data_reset(ss->dec);
    cleanup_free(&ss->cleanup);
    ss->cleanup = cleanup_create(&copts, smtpd_content_write, ss);
    smtpd_received_format(hdr, &rcv);
    cleanup_prepend(ss->cleanup, buf_str(hdr));
    buf_free(&hdr);
    buf_reset(ss->dbuf);
    ss->data_bytes = 0;
    ss->content_failed = false;
}

/* Hand what the decoder produced to cleanup. */
static void smtpd_content_pass(struct smtpd_session *ss)
{
    if (buf_len(ss->dbuf) > 0)
        cleanup_feed(ss->cleanup, buf_str(ss->dbuf), buf_len(ss->dbuf));
    buf_reset(ss->dbuf);
}

/*
 * Why the message as received may not be queued: 0 when it may, or -1
 * with the reply. The decoder's verdict (size, bare CR/LF), then cleanup's.
 */
static int smtpd_content_verdict(struct smtpd_session *ss, struct smtp_resp *resp_r)
{
    const struct smtp_data_stats *st = smtp_data_stats(ss->dec);
    unsigned status = cleanup_status(ss->cleanup);

    smtp_resp_clear(resp_r);
    if (st->too_big) {
        smtp_resp_set(resp_r, 552, "5.3.4", "Message size exceeds fixed limit");
        return -1;
    }
    if (ss->set->forbid_bare_newline && st->bare_lf > 0) {
        smtp_resp_set(resp_r, 550, "5.5.2", "Error: bare <LF> received");
        return -1;
    }
    if (ss->set->forbid_bare_newline && st->bare_cr > 0) {
        smtp_resp_set(resp_r, 550, "5.5.2", "Error: bare <CR> received");
        return -1;
    }
    if (status & CLEANUP_STAT_HOPS) {
        const char *dsn, *text;

        cleanup_reason(CLEANUP_STAT_HOPS, &dsn, &text);
        smtp_resp_set(resp_r, 554, dsn, "%s", text);
        return -1;
    }
    if (ss->content_failed || (status & CLEANUP_STAT_WRITE)) {
        smtpd_queue_error_resp(queue_file_error(ss->qf), resp_r);
        return -1;
    }
    return 0;
}

/* Set the envelope records. 0, or -1 with *why_r. */
static int smtpd_set_envelope(struct smtpd_session *ss, const char **why_r)
{
    const struct smtp_mail_args *m = ss->mail;
    static const enum queue_ret rets[] = {
        [SMTP_RET_NONE] = QUEUE_RET_NONE,
        [SMTP_RET_FULL] = QUEUE_RET_FULL,
        [SMTP_RET_HDRS] = QUEUE_RET_HDRS,
    };
    static const enum queue_body bodies[] = {
        [SMTP_BODY_NONE] = QUEUE_BODY_NONE,
        [SMTP_BODY_7BIT] = QUEUE_BODY_7BIT,
        [SMTP_BODY_8BITMIME] = QUEUE_BODY_8BITMIME,
        [SMTP_BODY_BINARYMIME] = QUEUE_BODY_BINARYMIME,
    };
    struct queue_file *qf = ss->qf;
    int rc = 0;

    if (queue_file_set_str(qf, QUEUE_F_SENDER, ss->sender, why_r) < 0 ||
        queue_file_set_str(qf, QUEUE_F_CLIENT_ADDR, ss->peer.addr, why_r) < 0 ||
        queue_file_set_str(qf, QUEUE_F_CLIENT_NAME, ss->peer.name, why_r) < 0 ||
        (ss->helo != NULL && queue_file_set_str(qf, QUEUE_F_HELO, ss->helo, why_r) < 0) ||
        queue_file_set_str(qf, QUEUE_F_PROTOCOL, ss->protocol, why_r) < 0 ||
        queue_file_set_ret(qf, rets[m->ret], why_r) < 0 ||
        queue_file_set_body(qf, bodies[m->body], why_r) < 0 ||
        queue_file_set_flags(qf, m->smtputf8 ? QUEUE_FLAG_SMTPUTF8 : 0, why_r) < 0)
        return -1;
    if (m->envid != NULL) {
        struct buf *x = buf_create(64);

        xtext_encode(x, m->envid, strlen(m->envid));
        rc = queue_file_set_str(qf, QUEUE_F_ENVID, buf_str(x), why_r);
        buf_free(&x);
    }
    return rc;
}

/*
 * The message has ended (DATA's dot, BDAT LAST): refuse it, or set the
 * envelope, commit and say "queued as". Ends the transaction either way.
 */
static void smtpd_content_end(struct smtpd_session *ss)
{
    struct smtp_resp resp;
    const char *why;

    ss->where = "END-OF-MESSAGE";
    cleanup_finish(ss->cleanup);
    if (smtpd_content_verdict(ss, &resp) < 0) {
        smtpd_reply_resp(ss, &resp);
        smtpd_log_reject(ss, "END-OF-MESSAGE", NULL);
        smtpd_transaction_reset(ss);
        return;
    }
    if (smtpd_set_envelope(ss, &why) < 0 || queue_file_commit(ss->qf, &why) < 0) {
        msg_warn("%s: queue file: %s", ss->qid, why);
        smtpd_queue_error_resp(queue_file_error(ss->qf), &resp);
        smtpd_reply_resp(ss, &resp);
        smtpd_transaction_reset(ss);
        return;
    }
    /* "QID: from=<...>, size=N, nrcpt=N (queue active)" is qmgr's line, as in Postfix. */
    smtpd_reply(ss, 250, "2.0.0", "Ok: queued as %s", ss->qid);
    (void)stream_flush(ss->s);
    queue_file_free(&ss->qf);
    qmgr_nudge_or_log(); /* qmgr also scans incoming/ on its own */
    smtpd_transaction_reset(ss);
}

/* The client went away inside the content: drop the message and end. */
static void smtpd_content_lost(struct smtpd_session *ss)
{
    smtpd_lost(ss);
    smtpd_transaction_reset(ss);
}

/* DATA */
void smtpd_cmd_data(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    enum stream_line_end end;
    struct buf *piece = ss->line;

    if (cmd->arg_len > 0) {
        smtpd_reply(ss, 501, "5.5.4", "Syntax: DATA");
        return;
    }
    if (ss->state == SMTPD_ST_MAIL) { /* every RCPT was refused, or none was sent */
        smtpd_reply(ss, 554, "5.5.1", "Error: no valid recipients");
        return;
    }
    smtpd_content_begin(ss);
    ss->state = SMTPD_ST_DATA;
    smtpd_reply(ss, 354, NULL, "End data with <CR><LF>.<CR><LF>");
    (void)stream_flush(ss->s);
    for (;;) {
        size_t used;
        int r = stream_read_line(ss->s, piece, SMTPD_DATA_PIECE, &end);

        if (r <= 0 || end == STREAM_LINE_EOF) {
            smtpd_content_lost(ss);
            return;
        }
        /* the bytes exactly as they came: the decoder decides what a line end is */
        if (end == STREAM_LINE_CRLF)
            buf_append(piece, "\r\n", 2);
        else if (end == STREAM_LINE_LF)
            buf_putc(piece, '\n');
        ss->data_bytes += buf_len(piece);
        r = smtp_data_feed(ss->dec, buf_str(piece), buf_len(piece), &used, ss->dbuf);
        smtpd_content_pass(ss);
        if (r == 1)
            break;
    }
    buf_reset(piece);
    smtpd_content_end(ss);
}

/* Read and drop len bytes of a chunk; 0, or -1 when the client went away. */
static int smtpd_bdat_discard(struct smtpd_session *ss, unsigned long long len)
{
    char junk[SMTPD_DATA_PIECE];

    while (len > 0) {
        size_t n = len < sizeof(junk) ? (size_t)len : sizeof(junk);

        if (stream_read(ss->s, junk, n) != 1)
            return -1;
        len -= n;
        ss->data_bytes += n;
    }
    return 0;
}

/* Read a chunk of len bytes into the decoder; 0, or -1 when the client went away. */
static int smtpd_bdat_read(struct smtpd_session *ss, unsigned long long len)
{
    char data[SMTPD_DATA_PIECE];

    while (len > 0) {
        size_t n = len < sizeof(data) ? (size_t)len : sizeof(data);

        if (stream_read(ss->s, data, n) != 1)
            return -1;
        len -= n;
        ss->data_bytes += n;
        smtp_bdat_feed(ss->dec, data, n, ss->dbuf);
        smtpd_content_pass(ss);
    }
    return 0;
}

/* Parse "count [LAST]"; 0, or -1 when malformed. */
static int smtpd_bdat_args(const struct smtp_cmd *cmd, unsigned long long *size_r, bool *last_r)
{
    size_t i = 0, digits;
    unsigned long long n = 0;

    while (i < cmd->arg_len && isdigit((unsigned char)cmd->arg[i])) {
        unsigned d = (unsigned)(cmd->arg[i] - '0');

        if (n > (~0ULL - d) / 10)
            return -1;
        n = n * 10 + d;
        i++;
    }
    digits = i;
    if (digits == 0 || digits > SMTPD_BDAT_SIZE_DIGITS)
        return -1;
    *size_r = n;
    *last_r = false;
    if (i == cmd->arg_len)
        return 0;
    if (cmd->arg[i] != ' ')
        return -1;
    while (i < cmd->arg_len && cmd->arg[i] == ' ')
        i++;
    if (cmd->arg_len - i == 4 && strncasecmp(cmd->arg + i, "LAST", 4) == 0) {
        *last_r = true;
        return 0;
    }
    return -1;
}

/* BDAT count [LAST] (RFC 3030) */
void smtpd_cmd_bdat(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    unsigned long long size;
    bool last;
    const char *refusal = NULL;
    struct smtp_resp resp;

    if (smtpd_bdat_args(cmd, &size, &last) < 0) {
        /* the chunk's end is unknown: its bytes cannot be told from commands */
        smtpd_reply(ss, 501, "5.5.4", "Syntax: BDAT count [LAST]");
        msg_info("%s: malformed BDAT command: closing the connection", ss->peer.namaddr);
        smtpd_transaction_reset(ss);
        ss->state = SMTPD_ST_QUIT;
        return;
    }
    if (ss->set->helo_required && ss->helo == NULL)
        refusal = "Error: send HELO/EHLO first";
    else if (ss->state == SMTPD_ST_IDLE)
        refusal = "Error: need MAIL command";
    else if (ss->state == SMTPD_ST_MAIL)
        refusal = "Error: no valid recipients";
    if (refusal != NULL) {
        if (smtpd_bdat_discard(ss, size) < 0) {
            smtpd_lost(ss);
            return;
        }
        smtpd_reply(ss, ss->state == SMTPD_ST_MAIL ? 554 : 503, "5.5.1", "%s", refusal);
        return;
    }
    if (ss->state == SMTPD_ST_RCPT) {
        smtpd_content_begin(ss);
        ss->state = SMTPD_ST_BDAT;
    }
    ss->where = "BDAT";
    if (smtpd_bdat_read(ss, size) < 0) {
        smtpd_content_lost(ss);
        return;
    }
    if (last) {
        smtp_bdat_end(ss->dec, ss->dbuf);
        smtpd_content_pass(ss);
        smtpd_content_end(ss);
        return;
    }
    /* a chunk that already dooms the message: say so now, drop the rest */
    if (smtp_data_stats(ss->dec)->too_big || ss->content_failed) {
        (void)smtpd_content_verdict(ss, &resp);
        smtpd_reply_resp(ss, &resp);
        smtpd_log_reject(ss, "BDAT", NULL);
        smtpd_transaction_reset(ss);
        return;
    }
    smtpd_reply(ss, 250, "2.0.0", "Ok: %llu bytes", size);
}
