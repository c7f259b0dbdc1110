/*
 * smtpd_misc - the commands that do not touch the mail transaction: NOOP,
 * QUIT, HELP, VRFY and EXPN.
 *
 * VRFY never says whether a user exists (that would hand out the list of
 * local users): with disable_vrfy_command = no it answers 252 ("cannot
 * verify, but will accept"), as RFC 5321 section 3.5.3 allows; with yes it
 * is refused. EXPN (mailing list expansion) is always refused.
 */
#include "config.h"

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
                "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY\n"
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
