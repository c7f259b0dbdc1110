/*
 * smtp_xfer - one mail transaction of smtp(8) on a ready session: MAIL
 * FROM with the ESMTP parameters the server offers (SIZE, BODY=8BITMIME,
 * SMTPUTF8, RET and ENVID), RCPT TO for each recipient without a result
 * (NOTIFY and ORCPT with DSN), DATA, the content, and the reply to the
 * final ".". With PIPELINING, MAIL, the RCPTs and DATA go out as one
 * group (RFC 2920) and the replies are read in order afterwards.
 *
 * Checks before MAIL FROM, per server: a message larger than the server's
 * SIZE bounces (5.3.4); SMTPUTF8 mail for a server without SMTPUTF8
 * bounces (5.6.7); 8-bit content for a server without 8BITMIME is
 * converted to quoted-printable, or bounced (5.6.3) when
 * disable_mime_output_conversion says so.
 *
 * Each recipient's result goes to qmgr as soon as it is known; a soft
 * failure on a server that is not the last one to try keeps the recipient
 * for the next server (smtp_rcpt_fail).
 *
 * Security notes: addresses and DSN values come from the queue file,
 * which smtpd or pickup checked; CR and LF are refused here anyway so
 * that nothing from the envelope can add a command line.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "lib/mail/maps.h"
#include "lib/mail/queue_file.h"
#include "lib/proto/xtext.h"
#include "lib/util/buf.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"
#include "smtp/smtp.h"

/* True when s can go on a command line (no CR, LF or NUL; bounded). */
static bool smtp_cmd_safe(const char *s)
{
    return strpbrk(s, "\r\n") == NULL && strlen(s) < 2048;
}

/* True when s has a byte >= 0x80. */
static bool smtp_has_8bit(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

/* True when the message needs SMTPUTF8 at this server: UTF-8 in the envelope or headers. */
static bool smtp_needs_utf8(const struct smtp_req *st)
{
    if (!st->req->smtputf8)
        return false;
    if (st->info.header_eightbit || smtp_has_8bit(st->sender))
        return true;
    for (size_t i = 0; i < st->req->rcpt_count; i++)
        if (!st->done[i] && smtp_has_8bit(st->rcpt_addr[i]))
            return true;
    return false;
}

/* The MAIL FROM command with its parameters. */
static void smtp_mail_cmd(const struct smtp_req *st, const struct smtp_session *sess, bool eightbit,
                          struct buf *cmd)
{
    const struct smtp_ehlo *e = sess->ehlo;
    unsigned ext = e ? e->ext : 0;

    buf_printf(cmd, "MAIL FROM:<%s>", st->sender);
    if (ext & SMTP_EHLO_SIZE)
        buf_printf(cmd, " SIZE=%llu", st->info.size);
    if ((ext & SMTP_EHLO_8BITMIME) && eightbit)
        buf_puts(cmd, " BODY=8BITMIME");
    if ((ext & SMTP_EHLO_SMTPUTF8) && st->req->smtputf8)
        buf_puts(cmd, " SMTPUTF8");
    if (ext & SMTP_EHLO_DSN) {
        if (st->req->ret == QUEUE_RET_FULL)
            buf_puts(cmd, " RET=FULL");
        else if (st->req->ret == QUEUE_RET_HDRS)
            buf_puts(cmd, " RET=HDRS");
        if (*st->req->envid && smtp_cmd_safe(st->req->envid) && strchr(st->req->envid, ' ') == NULL)
            buf_printf(cmd, " ENVID=%s", st->req->envid);
    }
}

/* The RCPT TO command of recipient i. */
static void smtp_rcpt_cmd(const struct smtp_req *st, const struct smtp_session *sess, size_t i,
                          struct buf *cmd)
{
    const struct deliver_rcpt *r = &st->req->rcpts[i];
    unsigned ext = sess->ehlo ? sess->ehlo->ext : 0;

    buf_printf(cmd, "RCPT TO:<%s>", st->rcpt_addr[i]);
    if (!(ext & SMTP_EHLO_DSN))
        return;
    if (r->notify & QUEUE_NOTIFY_NEVER) {
        buf_puts(cmd, " NOTIFY=NEVER");
    } else if (r->notify != 0) {
        const char *sep = " NOTIFY=";

        if (r->notify & QUEUE_NOTIFY_SUCCESS)
            buf_puts(cmd, sep), buf_puts(cmd, "SUCCESS"), sep = ",";
        if (r->notify & QUEUE_NOTIFY_FAILURE)
            buf_puts(cmd, sep), buf_puts(cmd, "FAILURE"), sep = ",";
        if (r->notify & QUEUE_NOTIFY_DELAY)
            buf_puts(cmd, sep), buf_puts(cmd, "DELAY");
    }
    if (*r->orcpt && smtp_cmd_safe(r->orcpt) && strchr(r->orcpt, ' ') == NULL) {
        buf_printf(cmd, " ORCPT=%s", r->orcpt);
    } else if (*r->orig && !smtp_has_8bit(r->orig) && smtp_cmd_safe(r->orig)) {
        /* RFC 3461 section 4.2: pass the original recipient on when it is known. */
        buf_puts(cmd, " ORCPT=rfc822;");
        xtext_encode(cmd, r->orig, strlen(r->orig));
    }
}

/* The DSN action of a recipient that the server took. */
static const char *smtp_sent_action(const struct smtp_session *sess)
{
    /*
     * A server with DSN takes over the success notice (we passed NOTIFY
     * on); one without is "relayed" (RFC 3461 section 4.1).
     */
    return sess->ehlo != NULL && (sess->ehlo->ext & SMTP_EHLO_DSN) ? "" : "relayed";
}

/* Fail every recipient accepted in this transaction with o. */
static void smtp_accepted_fail(struct smtp_req *st, const struct smtp_outcome *o, const char *relay)
{
    for (size_t i = 0; i < st->req->rcpt_count; i++)
        if (!st->done[i] && st->accepted[i])
            smtp_rcpt_fail(st, i, o, relay);
}

/* One mail transaction. */
int smtp_xfer(struct smtp_req *st, struct smtp_session *sess)
{
    const struct smtp_settings *set = &st->agent->set;
    const struct smtp_reply *reply;
    unsigned ext = sess->ehlo ? sess->ehlo->ext : 0;
    bool pipelining = (ext & SMTP_EHLO_PIPELINING) != 0;
    bool eightbit = st->info.eightbit || st->req->body == QUEUE_BODY_8BITMIME ||
                    st->req->body == QUEUE_BODY_BINARYMIME;
    struct smtp_content_opts copts;
    struct smtp_outcome o;
    struct buf *cmd = buf_create(256);
    size_t sent_rcpts = 0, accepted = 0;
    bool table_error;
    const char *why;
    int ret = 1;

    smtp_outcome_init(&o);
    memset(&copts, 0, sizeof(copts));
    copts.generic_maps = st->agent->generic_maps;
    copts.line_length_limit = set->line_length_limit;
    for (size_t i = 0; i < st->req->rcpt_count; i++)
        st->accepted[i] = false;

    /* What this server can take. */
    if (smtp_needs_utf8(st) && !(ext & SMTP_EHLO_SMTPUTF8)) {
        smtp_outcome_set(&o, DELIVER_BOUNCED, "5.6.7",
                         "SMTPUTF8 is required, but was not offered by host %s", sess->namaddr);
        smtp_bulk_fail(st, &o, sess->relay);
        goto done;
    }
    if ((ext & SMTP_EHLO_SIZE) && sess->ehlo->size > 0 && st->info.size > sess->ehlo->size) {
        smtp_outcome_set(&o, DELIVER_BOUNCED, "5.3.4",
                         "message size %llu exceeds size limit %llu of server %s", st->info.size,
                         sess->ehlo->size, sess->namaddr);
        smtp_bulk_fail(st, &o, sess->relay);
        goto done;
    }
    if (st->info.eightbit && !(ext & SMTP_EHLO_8BITMIME)) {
        if (!set->mime_conversion) {
            smtp_outcome_set(&o, DELIVER_BOUNCED, "5.6.3",
                             "message has 8-bit content, but host %s does not announce 8BITMIME",
                             sess->namaddr);
            smtp_bulk_fail(st, &o, sess->relay);
            goto done;
        }
        copts.downgrade = true;
    }
    if (!smtp_cmd_safe(st->sender)) {
        smtp_outcome_set(&o, DELIVER_BOUNCED, "5.1.7", "invalid sender address");
        smtp_bulk_fail(st, &o, sess->relay);
        goto done;
    }

    /* MAIL FROM; with PIPELINING the whole group goes out before the first reply is read. */
    smtp_mail_cmd(st, sess, eightbit, cmd);
    smtp_session_cmd(sess, "%s", buf_str(cmd));
    if (!pipelining) {
        if (smtp_session_reply(sess, set, SMTP_STAGE_MAIL, &reply, &o) < 0)
            goto broken;
        if (reply->code / 100 != 2) {
            smtp_reply_outcome(reply, sess->namaddr, SMTP_STAGE_MAIL, &o);
            smtp_bulk_fail(st, &o, sess->relay);
            goto done;
        }
    }
    for (size_t i = 0; i < st->req->rcpt_count; i++) {
        if (st->done[i])
            continue;
        if (!smtp_cmd_safe(st->rcpt_addr[i])) {
            smtp_outcome_set(&o, DELIVER_BOUNCED, "5.1.3", "invalid recipient address");
            smtp_rcpt_fail(st, i, &o, sess->relay);
            continue;
        }
        buf_reset(cmd);
        smtp_rcpt_cmd(st, sess, i, cmd);
        smtp_session_cmd(sess, "%s", buf_str(cmd));
        st->accepted[i] = true; /* "sent"; cleared below unless the server takes it */
        sent_rcpts++;
        if (pipelining)
            continue;
        if (smtp_session_reply(sess, set, SMTP_STAGE_RCPT, &reply, &o) < 0)
            goto broken;
        if (reply->code / 100 == 2) {
            accepted++;
        } else {
            st->accepted[i] = false;
            smtp_reply_outcome(reply, sess->namaddr, SMTP_STAGE_RCPT, &o);
            smtp_rcpt_fail(st, i, &o, sess->relay);
        }
    }
    if (sent_rcpts == 0) {
        /* No recipient could go on a command line: end the transaction. */
        if (pipelining && smtp_session_reply(sess, set, SMTP_STAGE_MAIL, &reply, &o) < 0)
            goto broken;
        ret = smtp_session_rset(sess, set) == 0 ? 1 : 0;
        goto done;
    }
    if (pipelining) {
        struct smtp_outcome mail_o;
        bool mail_failed;

        smtp_session_cmd(sess, "DATA");
        if (smtp_session_reply(sess, set, SMTP_STAGE_MAIL, &reply, &o) < 0)
            goto broken;
        mail_failed = reply->code / 100 != 2;
        smtp_outcome_init(&mail_o);
        if (mail_failed)
            smtp_reply_outcome(reply, sess->namaddr, SMTP_STAGE_MAIL, &mail_o);
        /* One reply per RCPT sent, in order; after a refused MAIL they do not matter. */
        for (size_t i = 0; i < st->req->rcpt_count; i++) {
            if (st->done[i] || !st->accepted[i])
                continue;
            if (smtp_session_reply(sess, set, SMTP_STAGE_RCPT, &reply, &o) < 0) {
                smtp_outcome_clear(&mail_o);
                goto broken;
            }
            if (mail_failed) {
                st->accepted[i] = false;
                smtp_rcpt_fail(st, i, &mail_o, sess->relay);
            } else if (reply->code / 100 == 2) {
                accepted++;
            } else {
                st->accepted[i] = false;
                smtp_reply_outcome(reply, sess->namaddr, SMTP_STAGE_RCPT, &o);
                smtp_rcpt_fail(st, i, &o, sess->relay);
            }
        }
        smtp_outcome_clear(&mail_o);
    } else if (accepted == 0) {
        ret = smtp_session_rset(sess, set) == 0 ? 1 : 0;
        goto done;
    } else {
        smtp_session_cmd(sess, "DATA");
    }

    /* The reply to DATA. */
    if (smtp_session_reply(sess, set, SMTP_STAGE_DATA, &reply, &o) < 0)
        goto broken;
    if (reply->code != 354) {
        if (accepted > 0) {
            smtp_reply_outcome(reply, sess->namaddr, SMTP_STAGE_DATA, &o);
            smtp_accepted_fail(st, &o, sess->relay);
        }
        goto done;
    }
    if (accepted == 0) {
        /* RFC 2920 says a server must refuse DATA without recipients; this one did not. */
        (void)stream_write(sess->s, ".\r\n", 3);
        if (smtp_session_reply(sess, set, SMTP_STAGE_DOT, &reply, &o) < 0)
            goto broken;
        goto done;
    }

    /* The content. */
    stream_set_timeout(sess->s, set->data_xfer_timeout);
    if (smtp_content_send(st->qf, sess->s, &copts, &table_error, &why) < 0) {
        if (table_error) {
            st->agent->table_error = true;
            /* Half a message may be out: only hanging up keeps the server from taking it. */
            smtp_outcome_set(&o, DELIVER_DEFERRED, "4.3.0", "cannot send the message: %s", why);
            st->final_server = true;
            smtp_accepted_fail(st, &o, sess->relay);
            sess->broken = true;
            ret = 0;
            goto done;
        }
        sess->broken = true;
        smtp_io_outcome(stream_timed_out(sess->s), sess->namaddr, SMTP_STAGE_XFER, &o);
        smtp_accepted_fail(st, &o, sess->relay);
        ret = 0;
        goto done;
    }
    if (smtp_session_reply(sess, set, SMTP_STAGE_DOT, &reply, &o) < 0) {
        smtp_accepted_fail(st, &o, sess->relay);
        ret = 0;
        goto done;
    }
    smtp_reply_outcome(reply, sess->namaddr, SMTP_STAGE_DOT, &o);
    for (size_t i = 0; i < st->req->rcpt_count; i++) {
        if (st->done[i] || !st->accepted[i])
            continue;
        if (o.status == DELIVER_SENT)
            smtp_rcpt_result(st, i, DELIVER_SENT, o.dsn, smtp_sent_action(sess), sess->relay,
                             buf_str(o.text));
        else
            smtp_rcpt_fail(st, i, &o, sess->relay);
    }
    goto done;

broken:
    /* Lost connection, timeout or garbage: every recipient still open failed softly. */
    ret = 0;
    for (size_t i = 0; i < st->req->rcpt_count; i++)
        if (!st->done[i])
            smtp_rcpt_fail(st, i, &o, sess->relay);

done:
    buf_free(&cmd);
    smtp_outcome_clear(&o);
    return ret;
}
