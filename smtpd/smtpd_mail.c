/*
 * smtpd_mail - MAIL, RCPT and RSET: the mail transaction up to DATA.
 *
 * MAIL FROM and RCPT TO are parsed by lib/proto/smtp_cmd (paths, SIZE,
 * BODY, SMTPUTF8, DSN RET/ENVID/NOTIFY/ORCPT), with only the parameters of
 * the extensions EHLO offered. Addresses without a domain are qualified
 * with myorigin (cleanup_qualify). Each recipient passes the recipient
 * policy (smtpd_check.c); the queue file is created with the first
 * accepted recipient, as Postfix does, so the log shows "QID: client=..."
 * only for mail that may be queued.
 *
 * Duplicate recipients (same address, ORCPT and NOTIFY) are accepted but
 * stored once.
 */
#include "config.h"

#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "lib/mail/cleanup.h"
#include "lib/mail/queue_file.h"
#include "lib/proto/smtp_cmd.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "smtpd/smtpd.h"

/* End the mail transaction: forget sender and recipients, drop the queue file. */
void smtpd_transaction_reset(struct smtpd_session *ss)
{
    smtpd_queue_abort(ss);
    smtp_mail_args_free(&ss->mail);
    MEM_FREE(&ss->sender);
    for (size_t i = 0; i < ss->nrcpt; i++) {
        mem_free(ss->rcpts[i].address);
        mem_free(ss->rcpts[i].orig);
        mem_free(ss->rcpts[i].orcpt);
    }
    ss->nrcpt = 0;
    ss->data_bytes = 0;
    ss->content_failed = false;
    ss->bdat_refused = false;
    if (ss->state != SMTPD_ST_QUIT)
        ss->state = SMTPD_ST_IDLE;
}

/* The parser options for this session. */
static void smtpd_cmd_opts(const struct smtpd_session *ss, struct smtp_cmd_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->ext = ss->ext;
    opts->strict = ss->set->strict_envelopes;
    opts->size_limit = ss->set->message_size_limit;
}

/*
 * Is there room in the queue for a message of size bytes (0: unknown)?
 * As Postfix: the free space must stay above queue_minfree, and the
 * message may take at most half of what is free. 0, or -1 when not.
 */
static int smtpd_mail_space(const struct smtpd_session *ss, unsigned long long size)
{
    struct statvfs fs;
    unsigned long long avail, minfree = ss->set->queue_minfree;

    /* the process runs in queue_directory */
    if (statvfs(QUEUE_DIR_INCOMING, &fs) < 0) {
        msg_warn("statvfs %s: %m", QUEUE_DIR_INCOMING);
        return 0; /* the queue file write will tell */
    }
    avail = (unsigned long long)fs.f_bavail * (unsigned long long)fs.f_frsize;
    if (avail <= minfree || size >= avail - minfree || size >= avail / 2) {
        msg_warn("not enough free space in the mail queue: %llu bytes free, %llu kept free "
                 "(queue_minfree), %llu announced",
                 avail, minfree, size);
        return -1;
    }
    return 0;
}

/* MAIL FROM:<path> [parameters] */
void smtpd_cmd_mail(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    struct smtp_cmd_opts opts;
    struct smtp_mail_args *mail;
    struct smtp_resp resp;
    struct buf *b;

    smtpd_cmd_opts(ss, &opts);
    if (smtp_cmd_mail(cmd->arg, cmd->arg_len, &opts, &mail, &resp) < 0) {
        smtpd_reply_resp(ss, &resp);
        if (resp.code == 552)
            smtpd_log_reject(ss, "MAIL", NULL);
        return;
    }
    if (smtpd_mail_space(ss, mail->has_size ? mail->size : 0) < 0) {
        smtp_mail_args_free(&mail);
        smtpd_reply(ss, 452, "4.3.1", "Insufficient system storage");
        smtpd_log_reject(ss, "MAIL", NULL);
        return;
    }
    b = buf_create(64);
    cleanup_qualify(b, mail->path.null ? "" : mail->path.addr, ss->set->myorigin);
    ss->sender = buf_export(&b);
    ss->mail = mail;
    ss->arrival = time(NULL);
    ss->state = SMTPD_ST_MAIL;
    smtpd_reply(ss, 250, "2.1.0", "Ok");
}

/* True when an identical recipient was accepted before. */
static bool smtpd_rcpt_dup(const struct smtpd_session *ss, const char *address, const char *orcpt,
                           unsigned notify)
{
    for (size_t i = 0; i < ss->nrcpt; i++) {
        const struct smtpd_rcpt *r = &ss->rcpts[i];

        if (strcmp(r->address, address) == 0 && r->notify == notify &&
            ((r->orcpt == NULL && orcpt == NULL) ||
             (r->orcpt != NULL && orcpt != NULL && strcmp(r->orcpt, orcpt) == 0)))
            return true;
    }
    return false;
}

/* Map DSN NOTIFY bits of the parser to the queue file's. */
static unsigned smtpd_notify_bits(int notify)
{
    unsigned bits = 0;

    if (notify & SMTP_NOTIFY_NEVER)
        bits |= QUEUE_NOTIFY_NEVER;
    if (notify & SMTP_NOTIFY_SUCCESS)
        bits |= QUEUE_NOTIFY_SUCCESS;
    if (notify & SMTP_NOTIFY_FAILURE)
        bits |= QUEUE_NOTIFY_FAILURE;
    if (notify & SMTP_NOTIFY_DELAY)
        bits |= QUEUE_NOTIFY_DELAY;
    return bits;
}

/* Store an accepted recipient (memory and queue file). 0, or -1 with resp_r. */
static int smtpd_rcpt_store(struct smtpd_session *ss, const struct smtp_rcpt_args *rcpt,
                            const char *address, struct smtp_resp *resp_r)
{
    unsigned notify = smtpd_notify_bits(rcpt->notify);
    const char *orig = strcmp(rcpt->path.addr, address) != 0 ? rcpt->path.addr : NULL;
    const char *why;
    struct smtpd_rcpt *r;

    if (smtpd_rcpt_dup(ss, address, rcpt->orcpt, notify))
        return 0;
    if (ss->qf == NULL && smtpd_queue_open(ss, resp_r) < 0)
        return -1;
    if (queue_file_add_rcpt(ss->qf, address, orig, rcpt->orcpt, notify, &why) < 0) {
        enum queue_error err = queue_file_error(ss->qf);

        msg_warn("%s: store recipient %s: %s", ss->qid, address, why);
        if (err == QUEUE_ERR_LIMIT)
            smtp_resp_set(resp_r, 452, "4.5.3", "Error: too many recipients");
        else if (err == QUEUE_ERR_NOSPACE)
            smtp_resp_set(resp_r, 452, "4.3.1", "Insufficient system storage");
        else
            smtp_resp_set(resp_r, 451, "4.3.0", "Error: queue file write error");
        /* a failed queue file is gone: so is everything stored in it */
        if (err != QUEUE_ERR_LIMIT && err != QUEUE_ERR_INVALID)
            smtpd_transaction_reset(ss);
        return -1;
    }
    if (ss->nrcpt == ss->rcpt_size) {
        ss->rcpt_size = ss->rcpt_size ? 2 * ss->rcpt_size : 8;
        ss->rcpts = mem_realloc_array(ss->rcpts, ss->rcpt_size, sizeof(*ss->rcpts));
    }
    r = &ss->rcpts[ss->nrcpt++];
    r->address = mem_strdup(address);
    r->orig = orig ? mem_strdup(orig) : NULL;
    r->orcpt = rcpt->orcpt ? mem_strdup(rcpt->orcpt) : NULL;
    r->notify = notify;
    return 0;
}

/* RCPT TO:<path> [parameters] */
void smtpd_cmd_rcpt(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    struct smtp_cmd_opts opts;
    struct smtp_rcpt_args *rcpt;
    struct smtp_resp resp;
    struct buf *addr;

    smtpd_cmd_opts(ss, &opts);
    if (smtp_cmd_rcpt(cmd->arg, cmd->arg_len, ss->mail->smtputf8, &opts, &rcpt, &resp) < 0) {
        smtpd_reply_resp(ss, &resp);
        return;
    }
    addr = buf_create(64);
    cleanup_qualify(addr, rcpt->path.addr, ss->set->myorigin);
    if (ss->nrcpt >= (size_t)ss->set->recipient_limit) {
        smtpd_reply(ss, 452, "4.5.3", "Error: too many recipients");
    } else if (smtpd_check_rcpt(ss, &rcpt->path, &resp) < 0 ||
               smtpd_rcpt_store(ss, rcpt, buf_str(addr), &resp) < 0) {
        smtpd_reply_resp(ss, &resp);
        smtpd_log_reject(ss, "RCPT", buf_str(addr));
    } else {
        ss->state = SMTPD_ST_RCPT;
        smtpd_reply(ss, 250, "2.1.5", "Ok");
    }
    buf_free(&addr);
    smtp_rcpt_args_free(&rcpt);
}

/* RSET */
void smtpd_cmd_rset(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    if (cmd->arg_len > 0) {
        smtpd_reply(ss, 501, "5.5.4", "Syntax: RSET");
        return;
    }
    smtpd_transaction_reset(ss);
    smtpd_reply(ss, 250, "2.0.0", "Ok");
}
