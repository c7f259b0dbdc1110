/*
 * smtpd_state - the command table and the state rules of the SMTP server.
 *
 * Owns the table {verb, handler, flags, states, refusal} and the one check
 * every command passes before its handler runs: is the command allowed in
 * this state, and before HELO/EHLO when smtpd_helo_required is set. The
 * handlers then check their own syntax and policy and reply themselves.
 *
 * BDAT is allowed in every state here: its handler must read the chunk
 * that follows the command even when it refuses it, or the chunk's bytes
 * would be taken for commands.
 */
#include "config.h"

#include <string.h>

#include "smtpd/smtpd.h"

const char *const smtpd_state_names[SMTPD_ST_COUNT] = {
    [SMTPD_ST_IDLE] = "IDLE", [SMTPD_ST_MAIL] = "MAIL", [SMTPD_ST_RCPT] = "RCPT",
    [SMTPD_ST_DATA] = "DATA", [SMTPD_ST_BDAT] = "BDAT", [SMTPD_ST_QUIT] = "QUIT",
};

#define ST(x) SMTPD_ST_BIT(SMTPD_ST_##x)
#define ST_SESSION (ST(IDLE) | ST(MAIL) | ST(RCPT))
#define ST_ANY (ST_SESSION | ST(BDAT))

/*
 * The order of the rows is the order of the counters in the "disconnect"
 * log line, as in Postfix.
 */
const struct smtpd_cmd_def smtpd_cmd_table[] = {
    {"HELO", smtpd_cmd_helo, SMTPD_CMD_PRE_HELO | SMTPD_CMD_LAST, ST_SESSION, NULL},
    {"EHLO", smtpd_cmd_ehlo, SMTPD_CMD_PRE_HELO | SMTPD_CMD_LAST, ST_SESSION, NULL},
    {"MAIL", smtpd_cmd_mail, 0, ST(IDLE), "Error: nested MAIL command"},
    {"RCPT", smtpd_cmd_rcpt, 0, ST(MAIL) | ST(RCPT), "Error: need MAIL command"},
    {"DATA", smtpd_cmd_data, SMTPD_CMD_LAST, ST(MAIL) | ST(RCPT), "Error: need RCPT command"},
    {"BDAT", smtpd_cmd_bdat, SMTPD_CMD_PRE_HELO, ST_ANY, NULL},
    {"RSET", smtpd_cmd_rset, SMTPD_CMD_PRE_HELO | SMTPD_CMD_JUNK, ST_ANY, NULL},
    {"NOOP", smtpd_cmd_noop, SMTPD_CMD_PRE_HELO | SMTPD_CMD_LAST | SMTPD_CMD_JUNK, ST_ANY, NULL},
    {"VRFY", smtpd_cmd_vrfy, SMTPD_CMD_LAST | SMTPD_CMD_JUNK, ST_SESSION, NULL},
    {"EXPN", smtpd_cmd_expn, SMTPD_CMD_LAST | SMTPD_CMD_JUNK, ST_SESSION, NULL},
    {"ETRN", smtpd_cmd_etrn, SMTPD_CMD_LAST, ST(IDLE), "Error: MAIL transaction in progress"},
    {"HELP", smtpd_cmd_help, SMTPD_CMD_PRE_HELO | SMTPD_CMD_LAST | SMTPD_CMD_JUNK, ST_ANY, NULL},
    {"QUIT", smtpd_cmd_quit, SMTPD_CMD_PRE_HELO | SMTPD_CMD_LAST, ST_ANY, NULL},
};

const size_t smtpd_cmd_count = sizeof(smtpd_cmd_table) / sizeof(smtpd_cmd_table[0]);

/* The table row of an upper-case verb, or NULL. */
const struct smtpd_cmd_def *smtpd_cmd_find(const char *verb)
{
    for (size_t i = 0; i < smtpd_cmd_count; i++)
        if (strcmp(smtpd_cmd_table[i].verb, verb) == 0)
            return &smtpd_cmd_table[i];
    return NULL;
}

/*
 * May the command run now? 0, or -1 with the refusal in resp_r. greeted
 * says whether HELO or EHLO was accepted.
 */
int smtpd_cmd_check(const struct smtpd_cmd_def *def, enum smtpd_state state, bool greeted,
                    bool helo_required, struct smtp_resp *resp_r)
{
    smtp_resp_clear(resp_r);
    if (helo_required && !greeted && !(def->flags & SMTPD_CMD_PRE_HELO)) {
        smtp_resp_set(resp_r, 503, "5.5.1", "Error: send HELO/EHLO first");
        resp_r->why = "command before HELO/EHLO";
        return -1;
    }
    if (!(def->states & SMTPD_ST_BIT(state))) {
        if (state == SMTPD_ST_BDAT)
            smtp_resp_set(resp_r, 503, "5.5.1", "Error: %s not allowed between BDAT chunks",
                          def->verb);
        else if (def->refusal != NULL)
            smtp_resp_set(resp_r, 503, "5.5.1", "%s", def->refusal);
        else
            smtp_resp_set(resp_r, 503, "5.5.1", "Error: %s not allowed now", def->verb);
        resp_r->why = "command out of sequence";
        return -1;
    }
    return 0;
}
