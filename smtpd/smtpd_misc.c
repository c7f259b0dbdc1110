/*
 * smtpd_misc - the commands that do not touch the mail transaction: NOOP,
 * QUIT, HELP, VRFY, EXPN and ETRN.
 *
 * VRFY never says whether a user exists (that would hand out the list of
 * local users): with disable_vrfy_command = no it answers 252 ("cannot
 * verify, but will accept"), as RFC 5321 section 3.5.3 allows; with yes it
 * is refused. EXPN (mailing list expansion) is always refused.
 *
 * ETRN (RFC 1985) asks that the deferred mail for a domain be delivered
 * now: served for domains in fast_flush_domains only, by a site flush
 * request to qmgr (qmgr_nudge.h), answered before the flush is done. The
 * "@domain" form is taken as "domain"; "#queue" names are not supported.
 *
 * Security notes: the ETRN argument is bounded and restricted to
 * host-name characters before it is logged or sent to qmgr, and a remote
 * client can only advance retry times of mail for the listed domains.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "lib/mail/domain_list.h"
#include "lib/mail/qmgr_nudge.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"
#include "smtpd/smtpd.h"

/* NOOP [string] */
void smtpd_cmd_noop(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    (void)cmd; /* RFC 5321 4.1.1.9: a parameter is allowed and ignored */
    smtpd_reply(ss, 250, "2.0.0", "Ok");
}

/* QUIT */
void smtpd_cmd_quit(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtpd_reply(ss, 221, "2.0.0", "Bye");
    (void)stream_flush(ss->s);
    smtpd_transaction_reset(ss);
    ss->state = SMTPD_ST_QUIT;
}

/* HELP [topic] */
void smtpd_cmd_help(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtpd_reply(ss, 214, "2.0.0",
                "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY ETRN\n"
                "See RFC 5321 for details");
}

/* VRFY string */
void smtpd_cmd_vrfy(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    if (ss->set->disable_vrfy) {
        smtpd_reply(ss, 502, "5.5.1", "VRFY command is disabled");
        return;
    }
    if (cmd->arg_len == 0) {
        smtpd_reply(ss, 501, "5.5.4", "Syntax: VRFY address");
        return;
    }
    smtpd_reply(ss, 252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
}

/* EXPN string */
void smtpd_cmd_expn(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtpd_reply(ss, 502, "5.5.1", "EXPN command is disabled");
}

/* Classify an ETRN argument; a domain goes to domain_r (size bytes, NUL-terminated). */
enum smtpd_etrn_form smtpd_etrn_parse(const char *arg, size_t len, char *domain_r, size_t size)
{
    *domain_r = '\0';
    if (len > 0 && arg[0] == '#')
        return SMTPD_ETRN_QUEUE;
    if (len > 0 && arg[0] == '@') {
        arg++;
        len--;
    }
    if (len > 1 && arg[len - 1] == '.')
        len--;
    if (len >= size || !qmgr_site_valid(arg, len) || memchr(arg, '_', len) != NULL)
        return SMTPD_ETRN_BAD;
    memcpy(domain_r, arg, len);
    domain_r[len] = '\0';
    return SMTPD_ETRN_DOMAIN;
}

/* ETRN domain | @domain | #queue */
void smtpd_cmd_etrn(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    char domain[QMGR_SITE_MAX + 1];
    const char *why;
    int r;

    /* Before HELO/EHLO even when smtpd_helo_required is off, as in Postfix. */
    if (ss->helo == NULL) {
        smtpd_reply(ss, 503, "5.5.1", "Error: send HELO/EHLO first");
        return;
    }
    switch (smtpd_etrn_parse(cmd->arg, cmd->arg_len, domain, sizeof(domain))) {
    case SMTPD_ETRN_BAD:
        smtpd_reply(ss, 501, "5.5.4", "Syntax: ETRN domain");
        return;
    case SMTPD_ETRN_QUEUE:
        smtpd_reply(ss, 458, "4.5.4", "Unable to queue messages: queue names are not supported");
        smtpd_log_reject(ss, "ETRN", NULL);
        return;
    case SMTPD_ETRN_DOMAIN:
        break;
    }
    r = domain_list_match(ss->set->fast_flush, domain, &why);
    if (r < 0) {
        msg_warn("fast_flush_domains: %s", why);
        smtpd_reply(ss, 458, "4.3.0", "Unable to queue messages for node <%s>", domain);
        smtpd_log_reject(ss, "ETRN", NULL);
        return;
    }
    if (r == 0) {
        smtpd_reply(ss, 459, "4.7.1", "<%s>: Unable to service ETRN request", domain);
        smtpd_log_reject(ss, "ETRN", NULL);
        return;
    }
    if (qmgr_flush_site(NULL, domain, &why) < 0) {
        msg_warn("ETRN %s: cannot reach the queue manager: %s", domain, why);
        smtpd_reply(ss, 458, "4.3.0", "Unable to queue messages for node <%s>", domain);
        return;
    }
    msg_info("%s: ETRN %s", ss->peer.namaddr, domain);
    smtpd_reply(ss, 250, NULL, "Queuing started");
}
