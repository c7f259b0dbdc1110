/*
 * sendmail_smtp - "sendmail -bs": a local SMTP session on standard input
 * and output, for programs that speak SMTP to a pipe (some MUAs, mail
 * filters, Exim- and Sendmail-style scripts).
 *
 * The dialogue is RFC 5321 with PIPELINING, SIZE, 8BITMIME, DSN, SMTPUTF8
 * and ENHANCEDSTATUSCODES, parsed by the same lib/proto code as smtpd
 * (smtp_cmd, smtp_data). Each accepted message is written through
 * postdrop into the maildrop queue, exactly like a message given to
 * "sendmail -t"; the reply to DATA is 250 only after postdrop committed the
 * file. No relay or policy decision is made here: the user could submit
 * the same message with plain sendmail.
 *
 * Security notes: runs with the user's privileges; command lines are
 * bounded (SMTP_CMD_LINE_MAX), the message by message_size_limit,
 * recipients by MAILDROP_RCPT_HARD_MAX, and every wait by a timeout.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/maildrop.h"
#include "lib/proto/smtp_cmd.h"
#include "lib/proto/smtp_data.h"
#include "lib/proto/smtp_reply.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"
#include "tools/sendmail.h"

#define SMTP_CMD_LINE_MAX 2048          /* a command line, without CRLF */
#define SMTP_DATA_LINE_PIECE 8192       /* DATA is read in pieces of at most this */
#define SM_SMTP_TIMEOUT_MS (300 * 1000) /* every wait for the client */
#define SM_SMTP_ERRORS_MAX 50           /* errors before the session is closed */

/* The session's state (explicit, for the replies and the log). */
enum sm_smtp_state { SMS_START, SMS_MAIL, SMS_RCPT };

/* One session. */
struct sm_smtp {
    const struct sm_settings *set;
    struct stream *in, *out;
    enum sm_smtp_state state;
    unsigned ext; /* extensions offered (after EHLO) */
    bool esmtp;
    struct buf *env; /* envelope records of the transaction */
    size_t rcpts;
    bool smtputf8;
    int errors;
    struct buf *reply;
};

/* Send a reply line. */
static void sms_reply(struct sm_smtp *s, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void sms_reply(struct sm_smtp *s, int code, const char *dsn, const char *fmt, ...)
{
    char text[SMTP_RESP_TEXT_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    buf_reset(s->reply);
    smtp_reply_line(s->reply, code, true, dsn, text, strlen(text));
    (void)stream_write(s->out, buf_str(s->reply), buf_len(s->reply));
    if (code >= 400)
        s->errors++;
}

/* Send a reply that a parser prepared. */
static void sms_resp(struct sm_smtp *s, const struct smtp_resp *r)
{
    buf_reset(s->reply);
    smtp_resp_format(s->reply, r);
    (void)stream_write(s->out, buf_str(s->reply), buf_len(s->reply));
    if (r->code >= 400)
        s->errors++;
}

/* Forget the transaction. */
static void sms_reset(struct sm_smtp *s)
{
    buf_reset(s->env);
    s->rcpts = 0;
    s->smtputf8 = false;
    s->state = SMS_START;
}

/* EHLO and HELO. */
static void sms_helo(struct sm_smtp *s, const struct smtp_cmd *cmd, bool ehlo)
{
    unsigned long long limit = sm_size_limit();
    const char *host = config_str("myhostname");

    if (cmd->arg_len == 0) {
        sms_reply(s, 501, "5.5.4", "Syntax: %s hostname", ehlo ? "EHLO" : "HELO");
        return;
    }
    sms_reset(s);
    if (!ehlo) {
        s->ext = 0;
        s->esmtp = false;
        sms_reply(s, 250, NULL, "%s", host);
        return;
    }
    s->esmtp = true;
    s->ext = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_DSN | SMTP_EXT_SMTPUTF8;
    buf_reset(s->reply);
    smtp_reply_line(s->reply, 250, false, NULL, host, strlen(host));
    smtp_reply_line(s->reply, 250, false, NULL, "PIPELINING", 10);
    if (limit > 0) {
        char size[40];
        int n = snprintf(size, sizeof(size), "SIZE %llu", limit);
        smtp_reply_line(s->reply, 250, false, NULL, size, (size_t)n);
    } else {
        smtp_reply_line(s->reply, 250, false, NULL, "SIZE", 4);
    }
    smtp_reply_line(s->reply, 250, false, NULL, "ENHANCEDSTATUSCODES", 19);
    smtp_reply_line(s->reply, 250, false, NULL, "8BITMIME", 8);
    smtp_reply_line(s->reply, 250, false, NULL, "DSN", 3);
    smtp_reply_line(s->reply, 250, true, NULL, "SMTPUTF8", 8);
    (void)stream_write(s->out, buf_str(s->reply), buf_len(s->reply));
}

/* MAIL FROM. */
static void sms_mail(struct sm_smtp *s, const struct smtp_cmd *cmd)
{
    struct smtp_cmd_opts opts = {.ext = s->ext, .strict = false, .size_limit = sm_size_limit()};
    struct smtp_mail_args *mail = NULL;
    struct smtp_resp resp;
    const char *why = NULL;

    if (s->state != SMS_START) {
        sms_reply(s, 503, "5.5.1", "Error: nested MAIL command");
        return;
    }
    if (smtp_cmd_mail(cmd->arg, cmd->arg_len, &opts, &mail, &resp) < 0) {
        sms_resp(s, &resp);
        return;
    }
    if (maildrop_check_address(mail->path.addr, strlen(mail->path.addr), true, &why) < 0) {
        sms_reply(s, 553, "5.1.7", "Bad sender address syntax");
        smtp_mail_args_free(&mail);
        return;
    }
    buf_reset(s->env);
    maildrop_put_str(s->env, MAILDROP_REC_SENDER, mail->path.addr);
    if (mail->envid != NULL && maildrop_check_envid(mail->envid, strlen(mail->envid), NULL) == 0)
        maildrop_put_str(s->env, MAILDROP_REC_ENVID, mail->envid);
    if (mail->ret != SMTP_RET_NONE)
        maildrop_put_str(s->env, MAILDROP_REC_RET, mail->ret == SMTP_RET_FULL ? "FULL" : "HDRS");
    if (mail->body == SMTP_BODY_7BIT || mail->body == SMTP_BODY_8BITMIME)
        maildrop_put_str(s->env, MAILDROP_REC_BODY,
                         mail->body == SMTP_BODY_7BIT ? "7BIT" : "8BITMIME");
    s->smtputf8 = mail->smtputf8;
    if (mail->smtputf8)
        maildrop_put(s->env, MAILDROP_REC_SMTPUTF8, "", 0);
    smtp_mail_args_free(&mail);
    s->state = SMS_MAIL;
    sms_reply(s, 250, "2.1.0", "Ok");
}

/* RCPT TO. */
static void sms_rcpt(struct sm_smtp *s, const struct smtp_cmd *cmd)
{
    struct smtp_cmd_opts opts = {.ext = s->ext, .strict = false, .size_limit = sm_size_limit()};
    struct smtp_rcpt_args *rcpt = NULL;
    struct smtp_resp resp;
    const char *addr;

    if (s->state == SMS_START) {
        sms_reply(s, 503, "5.5.1", "Error: need MAIL command");
        return;
    }
    if (s->rcpts >= MAILDROP_RCPT_HARD_MAX) {
        sms_reply(s, 452, "4.5.3", "Error: too many recipients");
        return;
    }
    if (smtp_cmd_rcpt(cmd->arg, cmd->arg_len, s->smtputf8, &opts, &rcpt, &resp) < 0) {
        sms_resp(s, &resp);
        return;
    }
    addr = rcpt->path.addr;
    if (maildrop_check_address(addr, strlen(addr), false, NULL) < 0) {
        sms_reply(s, 553, "5.1.3", "Bad recipient address syntax");
        smtp_rcpt_args_free(&rcpt);
        return;
    }
    if (rcpt->notify) {
        struct buf *n = buf_create(32);
        /* SMTP_NOTIFY_* and QUEUE_NOTIFY_* share their values (RFC 3461 order). */
        maildrop_format_notify(n, (unsigned)rcpt->notify);
        maildrop_put(s->env, MAILDROP_REC_NOTIFY, buf_str(n), buf_len(n));
        buf_free(&n);
    }
    if (rcpt->orcpt != NULL && maildrop_check_orcpt(rcpt->orcpt, strlen(rcpt->orcpt), NULL) == 0)
        maildrop_put_str(s->env, MAILDROP_REC_ORCPT, rcpt->orcpt);
    maildrop_put_str(s->env, MAILDROP_REC_RCPT, addr);
    s->rcpts++;
    s->state = SMS_RCPT;
    smtp_rcpt_args_free(&rcpt);
    sms_reply(s, 250, "2.1.5", "Ok");
}

/* The reply for a postdrop exit status. */
static void sms_data_status(struct sm_smtp *s, int status)
{
    switch (status) {
    case EX_OK:
        sms_reply(s, 250, "2.0.0", "Ok: queued");
        break;
    case EX_NOPERM:
        sms_reply(s, 550, "5.7.1", "Error: not allowed to submit mail");
        break;
    case EX_DATAERR:
        sms_reply(s, 554, "5.6.0", "Error: message refused");
        break;
    default:
        sms_reply(s, 451, "4.3.0", "Error: queue file write error");
        break;
    }
}

/* DATA: read the message and hand it to postdrop. Returns -1 when the client went away. */
static int sms_data(struct sm_smtp *s, const struct smtp_cmd *cmd)
{
    struct smtp_data_opts dopts = {.bare = SMTP_DATA_BARE_NORMALIZE, .size_limit = sm_size_limit()};
    struct smtp_data *d;
    struct buf *line, *text, *rec;
    struct sm_submit sub;
    const char *why = NULL;
    bool started = false, done = false;
    int ret = 0;

    if (cmd->arg_len > 0) {
        sms_reply(s, 501, "5.5.4", "Syntax: DATA");
        return 0;
    }
    if (s->state != SMS_RCPT) {
        sms_reply(s, 503, "5.5.1", "Error: need %s command",
                  s->state == SMS_START ? "MAIL" : "RCPT");
        return 0;
    }
    if (sm_submit_start(s->set, &sub, &why) < 0) {
        msg_error("cannot run postdrop: %s", why);
        sms_reply(s, 451, "4.3.0", "Error: queue file write error");
        sms_reset(s);
        return 0;
    }
    started = true;
    (void)sm_submit_write(&sub, buf_str(s->env), buf_len(s->env));
    sms_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
    (void)stream_flush(s->out);

    d = smtp_data_create(&dopts);
    line = buf_create(SMTP_DATA_LINE_PIECE + 2);
    text = buf_create(SMTP_DATA_LINE_PIECE * 2);
    rec = buf_create(MAILDROP_DATA_MAX + 16);
    while (!done) {
        enum stream_line_end end;
        size_t used = 0;
        int r = stream_read_line(s->in, line, SMTP_DATA_LINE_PIECE, &end);

        if (r <= 0) {
            ret = -1;
            break;
        }
        /* Put the line end back: the decoder sees the bytes as sent. */
        if (end == STREAM_LINE_CRLF)
            buf_append(line, "\r\n", 2);
        else if (end == STREAM_LINE_LF)
            buf_append(line, "\n", 1);
        done = smtp_data_feed(d, buf_str(line), buf_len(line), &used, text) == 1;
        if (end == STREAM_LINE_EOF && !done) {
            ret = -1;
            break;
        }
        /* Send what was decoded in records no larger than the format allows. */
        while (buf_len(text) >= MAILDROP_DATA_MAX || (done && buf_len(text) > 0)) {
            size_t n = buf_len(text) < MAILDROP_DATA_MAX ? buf_len(text) : MAILDROP_DATA_MAX;
            buf_reset(rec);
            maildrop_put(rec, MAILDROP_REC_DATA, buf_str(text), n);
            (void)sm_submit_write(&sub, buf_str(rec), buf_len(rec));
            memmove(text->data, text->data + n, buf_len(text) - n);
            buf_truncate(text, buf_len(text) - n);
        }
    }
    if (ret < 0) {
        (void)sm_submit_end(&sub, false);
    } else if (smtp_data_stats(d)->too_big) {
        (void)sm_submit_end(&sub, false);
        sms_reply(s, 552, "5.3.4", "Error: message file too big");
    } else if (started) {
        sms_data_status(s, sm_submit_end(&sub, true));
    }
    smtp_data_free(&d);
    buf_free(&line);
    buf_free(&text);
    buf_free(&rec);
    sms_reset(s);
    return ret;
}

/* Run the session. */
int sm_smtp_session(const struct sm_settings *set)
{
    struct sm_smtp s;
    struct buf *line = buf_create(SMTP_CMD_LINE_MAX + 1);

    memset(&s, 0, sizeof(s));
    s.set = set;
    s.in = stream_open(STDIN_FILENO, STREAM_NOCLOSE);
    s.out = stream_open(STDOUT_FILENO, STREAM_NOCLOSE);
    stream_set_timeout(s.in, SM_SMTP_TIMEOUT_MS);
    stream_set_timeout(s.out, SM_SMTP_TIMEOUT_MS);
    s.env = buf_create(256);
    s.reply = buf_create(256);
    sms_reply(&s, 220, NULL, "%s ESMTP %s", config_str("myhostname"), config_str("mail_name"));

    for (;;) {
        struct smtp_cmd cmd;
        struct smtp_resp resp;
        enum stream_line_end end;
        int r;

        if (!stream_input_pending(s.in))
            (void)stream_flush(s.out);
        if (stream_error(s.out))
            break;
        if (s.errors >= SM_SMTP_ERRORS_MAX) {
            sms_reply(&s, 421, "4.7.0", "%s Error: too many errors", config_str("myhostname"));
            break;
        }
        r = stream_read_line(s.in, line, SMTP_CMD_LINE_MAX, &end);
        if (r <= 0)
            break;
        if (end == STREAM_LINE_TOO_LONG) {
            (void)stream_skip_line(s.in);
            sms_reply(&s, 500, "5.5.2", "Error: line too long");
            continue;
        }
        if (smtp_cmd_split(buf_str(line), buf_len(line), &cmd, &resp) < 0) {
            sms_resp(&s, &resp);
            continue;
        }
        if (strcmp(cmd.verb, "EHLO") == 0) {
            sms_helo(&s, &cmd, true);
        } else if (strcmp(cmd.verb, "HELO") == 0) {
            sms_helo(&s, &cmd, false);
        } else if (strcmp(cmd.verb, "MAIL") == 0) {
            sms_mail(&s, &cmd);
        } else if (strcmp(cmd.verb, "RCPT") == 0) {
            sms_rcpt(&s, &cmd);
        } else if (strcmp(cmd.verb, "DATA") == 0) {
            if (sms_data(&s, &cmd) < 0)
                break;
        } else if (strcmp(cmd.verb, "RSET") == 0) {
            sms_reset(&s);
            sms_reply(&s, 250, "2.0.0", "Ok");
        } else if (strcmp(cmd.verb, "NOOP") == 0) {
            sms_reply(&s, 250, "2.0.0", "Ok");
        } else if (strcmp(cmd.verb, "VRFY") == 0) {
            sms_reply(&s, 252, "2.0.0", "Send mail and see");
        } else if (strcmp(cmd.verb, "QUIT") == 0) {
            sms_reply(&s, 221, "2.0.0", "Bye");
            break;
        } else {
            sms_reply(&s, 502, "5.5.2", "Error: command not recognized");
        }
    }
    (void)stream_flush(s.out);
    stream_free(&s.in);
    stream_free(&s.out);
    buf_free(&s.env);
    buf_free(&s.reply);
    buf_free(&line);
    return EX_OK;
}
