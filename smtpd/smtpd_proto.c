/*
 * smtpd_proto - the SMTP server's command loop.
 *
 * Owns: reading command lines (bounded by line_length_limit, each wait by
 * smtpd_timeout), dispatch through the command table, the error and junk
 * counters with their sleep and hang-up, the pipelining rules, replies,
 * and the session's log lines (reject, lost connection, timeout,
 * disconnect with per-command counts).
 *
 * Pipelining (RFC 2920): replies are written in order into the stream's
 * output buffer; the stream sends them when it must wait for input, so a
 * pipelined group gets its replies in one write. A command that must end
 * a group (SMTPD_CMD_LAST: EHLO, DATA, QUIT, ...) gets its reply flushed
 * at once; input that the client sent after such a command, before our
 * reply, is improper pipelining: logged, and with
 * smtpd_forbid_unauth_pipelining refused and the connection closed (this
 * also stops clients that send the message before the 354 reply).
 *
 * Security: the client never sees internal error text; every 4xx/5xx
 * reply counts as an error, past smtpd_soft_error_limit each reply is
 * delayed and at smtpd_hard_error_limit the session ends.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "lib/mail/cleanup.h"
#include "lib/proto/smtp_reply.h"
#include "lib/util/buf.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"
#include "smtpd/smtpd.h"

/* Before each reply past the soft error limit: send what is pending, then wait. */
static void smtpd_error_sleep(struct smtpd_session *ss)
{
    struct timespec ts;

    if (ss->errors < ss->set->soft_error_limit || ss->set->error_sleep_ms <= 0)
        return;
    (void)stream_flush(ss->s);
    ts.tv_sec = ss->set->error_sleep_ms / 1000;
    ts.tv_nsec = (long)(ss->set->error_sleep_ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Send the reply that is in ss->reply (code is its code). */
static void smtpd_send(struct smtpd_session *ss, int code)
{
    if (code != 421) /* 421 hangs up: no point in waiting first */
        smtpd_error_sleep(ss);
    if (code >= 400 && code != 421)
        ss->errors++;
    if (msg_verbose) {
        const char *p = buf_str(ss->reply), *end = p + buf_len(ss->reply), *nl;

        for (; p < end && (nl = memchr(p, '\r', (size_t)(end - p))) != NULL; p = nl + 2)
            msg_debug("> %s: %.*s", ss->peer.namaddr, (int)(nl - p), p);
    }
    (void)stream_write(ss->s, buf_str(ss->reply), buf_len(ss->reply));
    buf_truncate(ss->reply, buf_len(ss->reply) - 2); /* keep the text for the log */
    ss->last_code = code;
}

/* Reply with a formatted text ('\n' starts another line). */
void smtpd_reply(struct smtpd_session *ss, int code, const char *dsn, const char *fmt, ...)
{
    struct buf *text = buf_create(100);
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(text, fmt, ap);
    va_end(ap);
    buf_reset(ss->reply);
    smtp_reply_printf(ss->reply, code, dsn, "%s", buf_str(text));
    buf_free(&text);
    smtpd_send(ss, code);
}

/* Reply with a record from a parser. */
void smtpd_reply_resp(struct smtpd_session *ss, const struct smtp_resp *resp)
{
    buf_reset(ss->reply);
    smtp_resp_format(ss->reply, resp);
    if (resp->why != NULL && msg_verbose)
        msg_debug("%s: %s", ss->peer.namaddr, resp->why);
    smtpd_send(ss, resp->code);
}

/* Reply with several lines. */
void smtpd_reply_lines(struct smtpd_session *ss, int code, const char *dsn,
                       const char *const *lines, size_t count)
{
    buf_reset(ss->reply);
    smtp_reply_format(ss->reply, code, dsn, lines, count);
    smtpd_send(ss, code);
}

/*
 * Log the last reply as a rejection, in Postfix's shape:
 * "QID: reject: RCPT from name[addr]: 554 5.7.1 <x@y>: Relay access denied;
 *  from=<s> to=<x@y> proto=ESMTP helo=<h>"
 */
void smtpd_log_reject(struct smtpd_session *ss, const char *verb, const char *rcpt)
{
    struct buf *b = buf_create(200);
    const char *text = buf_str(ss->reply);
    const char *last = strrchr(text, '\n');

    if (last != NULL) /* a multi-line reply: its last line */
        text = last + 1;
    buf_printf(b, "%s: reject: %s from %s: %s;", *ss->qid ? ss->qid : "NOQUEUE", verb,
               ss->peer.namaddr, text);
    if (ss->sender != NULL)
        buf_printf(b, " from=<%s>", ss->sender);
    if (rcpt != NULL)
        buf_printf(b, " to=<%s>", rcpt);
    else if (ss->nrcpt > 0)
        buf_printf(b, " to=<%s>", ss->rcpts[0].address);
    buf_printf(b, " proto=%s", ss->protocol);
    if (ss->helo != NULL)
        buf_printf(b, " helo=<%s>", ss->helo);
    msg_info("%s", buf_str(b));
    buf_free(&b);
}

/* True when reading from the client failed (EOF, error or timeout). */
bool smtpd_io_failed(struct smtpd_session *ss)
{
    return stream_eof(ss->s) || stream_timed_out(ss->s) || stream_error(ss->s);
}

/* The client went away or timed out: say so (and 421 on a timeout) and end. */
void smtpd_lost(struct smtpd_session *ss)
{
    struct buf *where = buf_create(40);

    buf_puts(where, ss->where);
    if (ss->state == SMTPD_ST_DATA || ss->state == SMTPD_ST_BDAT)
        buf_printf(where, " (%llu bytes)", ss->data_bytes);
    if (stream_timed_out(ss->s)) {
        smtpd_reply(ss, 421, "4.4.2", "%s Error: timeout exceeded", ss->set->myhostname);
        (void)stream_flush(ss->s);
        msg_info("timeout after %s from %s", buf_str(where), ss->peer.namaddr);
    } else if (stream_eof(ss->s)) {
        msg_info("lost connection after %s from %s", buf_str(where), ss->peer.namaddr);
    } else {
        msg_info("lost connection after %s from %s: %s", buf_str(where), ss->peer.namaddr,
                 stream_strerror(ss->s));
    }
    buf_free(&where);
    ss->state = SMTPD_ST_QUIT;
}

/* Log that the client sent ahead of a reply, once per session. */
static void smtpd_log_ill_pipelining(struct smtpd_session *ss)
{
    if (ss->ill_pipelining)
        return;
    ss->ill_pipelining = true;
    msg_info("improper command pipelining after %s from %s", ss->where, ss->peer.namaddr);
}

/* Take one command line apart and run it. */
static void smtpd_dispatch(struct smtpd_session *ss)
{
    struct smtp_cmd cmd;
    struct smtp_resp resp;
    const struct smtpd_cmd_def *def;
    size_t idx;

    if (msg_verbose)
        msg_debug("< %s: %s (state %s)", ss->peer.namaddr, buf_str(ss->line),
                  smtpd_state_names[ss->state]);
    if (smtp_cmd_split(buf_str(ss->line), buf_len(ss->line), &cmd, &resp) < 0) {
        ss->unknown_total++;
        ss->where = "UNKNOWN";
        smtpd_reply_resp(ss, &resp);
        return;
    }
    if ((def = smtpd_cmd_find(cmd.verb)) == NULL) {
        ss->unknown_total++;
        ss->where = "UNKNOWN";
        smtpd_reply(ss, 502, "5.5.2", "Error: command not recognized");
        return;
    }
    idx = (size_t)(def - smtpd_cmd_table);
    ss->cmd_total[idx]++;
    ss->where = def->verb;
    if ((def->flags & SMTPD_CMD_JUNK) && ++ss->junk > ss->set->junk_command_limit)
        ss->errors++;
    if ((def->flags & SMTPD_CMD_LAST) && stream_input_pending(ss->s)) {
        smtpd_log_ill_pipelining(ss);
        if (ss->set->forbid_unauth_pipelining) {
            smtpd_reply(ss, 554, "5.5.0", "Error: SMTP protocol synchronization");
            ss->state = SMTPD_ST_QUIT;
            return;
        }
    }
    if (smtpd_cmd_check(def, ss->state, ss->helo != NULL, ss->set->helo_required, &resp) < 0) {
        smtpd_reply_resp(ss, &resp);
        return;
    }
    ss->last_code = 0;
    def->fn(ss, &cmd);
    /* done when its last reply was 2xx (a 354 without the end of data is not) */
    if (ss->last_code >= 200 && ss->last_code < 300)
        ss->cmd_ok[idx]++;
    if (def->flags & SMTPD_CMD_LAST)
        (void)stream_flush(ss->s);
}

/* The "disconnect from" line with the command counts, Postfix style. */
static void smtpd_log_disconnect(struct smtpd_session *ss)
{
    struct buf *b = buf_create(200);
    unsigned total = 0, ok = 0;

    buf_printf(b, "disconnect from %s", ss->peer.namaddr);
    for (size_t i = 0; i < smtpd_cmd_count; i++) {
        char verb[8];

        if (ss->cmd_total[i] == 0)
            continue;
        total += ss->cmd_total[i];
        ok += ss->cmd_ok[i];
        for (size_t k = 0; k < sizeof(verb); k++) {
            char c = smtpd_cmd_table[i].verb[k];

            verb[k] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            if (c == '\0')
                break;
        }
        verb[sizeof(verb) - 1] = '\0';
        if (ss->cmd_ok[i] == ss->cmd_total[i])
            buf_printf(b, " %s=%u", verb, ss->cmd_total[i]);
        else
            buf_printf(b, " %s=%u/%u", verb, ss->cmd_ok[i], ss->cmd_total[i]);
    }
    if (ss->unknown_total > 0) {
        buf_printf(b, " unknown=0/%u", ss->unknown_total);
        total += ss->unknown_total;
    }
    if (ok == total)
        buf_printf(b, " commands=%u", total);
    else
        buf_printf(b, " commands=%u/%u", ok, total);
    msg_info("%s", buf_str(b));
    buf_free(&b);
}

/* Run the session: banner, commands until QUIT, hang-up or timeout; the log lines. */
void smtpd_session_run(struct smtpd_session *ss)
{
    enum stream_line_end end;

    ss->where = "CONNECT";
    msg_info("connect from %s", ss->peer.namaddr);
    smtpd_reply(ss, 220, NULL, "%s", ss->set->banner);
    (void)stream_flush(ss->s);
    while (ss->state != SMTPD_ST_QUIT) {
        int r;

        if (ss->errors >= ss->set->hard_error_limit) {
            msg_info("too many errors after %s from %s", ss->where, ss->peer.namaddr);
            smtpd_reply(ss, 421, "4.7.0", "%s Error: too many errors", ss->set->myhostname);
            break;
        }
        r = stream_read_line(ss->s, ss->line, ss->set->line_length_limit, &end);
        if (r <= 0 || end == STREAM_LINE_EOF) {
            smtpd_lost(ss);
            break;
        }
        if (end == STREAM_LINE_TOO_LONG) {
            if (stream_skip_line(ss->s) <= 0) {
                smtpd_lost(ss);
                break;
            }
            ss->unknown_total++;
            smtpd_reply(ss, 500, "5.5.2", "Error: line too long");
            continue;
        }
        smtpd_dispatch(ss);
    }
    (void)stream_flush(ss->s);
    smtpd_transaction_reset(ss);
    smtpd_log_disconnect(ss);
}
