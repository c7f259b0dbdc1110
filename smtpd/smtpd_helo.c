/*
 * smtpd_helo - HELO and EHLO (RFC 5321 section 4.1.1.1), and the table of
 * EHLO keywords (extensions) this server offers.
 *
 * The keyword table decides both what EHLO announces and which MAIL/RCPT
 * parameters the parser then accepts (SMTP_EXT_* bits): an extension that
 * is not offered, because it is switched off or listed in
 * smtpd_discard_ehlo_keywords, has its parameters refused with
 * "555 5.5.4 Unsupported option". STARTTLS and AUTH become rows here.
 *
 * Both commands end any mail transaction (RFC 5321 section 4.1.4).
 */
#include "config.h"

#include <string.h>

#include "lib/proto/mailbox.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/str.h"
#include "smtpd/smtpd.h"

#define SMTPD_HELO_MAX 255 /* longest HELO/EHLO argument taken */

struct smtpd_ehlo_kw {
    const char *name;
    unsigned ext;                                                   /* SMTP_EXT_* it enables */
    bool (*offer)(const struct smtpd_settings *s);                  /* NULL: always offered */
    void (*text)(const struct smtpd_settings *s, struct buf *line); /* NULL: the name */
};

/* SIZE with the limit, or without a number when there is none (RFC 1870). */
static void smtpd_ehlo_size(const struct smtpd_settings *set, struct buf *line)
{
    if (set->message_size_limit > 0)
        buf_printf(line, "SIZE %llu", set->message_size_limit);
    else
        buf_puts(line, "SIZE");
}

/* VRFY is announced when it does something. */
static bool smtpd_ehlo_vrfy(const struct smtpd_settings *set)
{
    return !set->disable_vrfy;
}

/* SMTPUTF8 follows smtputf8_enable. */
static bool smtpd_ehlo_utf8(const struct smtpd_settings *set)
{
    return set->smtputf8_enable;
}

/* In Postfix's order. */
static const struct smtpd_ehlo_kw smtpd_ehlo_table[] = {
    {"PIPELINING", 0, NULL, NULL},
    {"SIZE", SMTP_EXT_SIZE, NULL, smtpd_ehlo_size},
    {"VRFY", 0, smtpd_ehlo_vrfy, NULL},
    {"ETRN", 0, NULL, NULL},
    {"ENHANCEDSTATUSCODES", 0, NULL, NULL},
    {"8BITMIME", SMTP_EXT_8BITMIME, NULL, NULL},
    {"DSN", SMTP_EXT_DSN, NULL, NULL},
    {"SMTPUTF8", SMTP_EXT_SMTPUTF8, smtpd_ehlo_utf8, NULL},
    {"CHUNKING", 0, NULL, NULL},
};

/* True when the keyword is in smtpd_discard_ehlo_keywords. */
static bool smtpd_ehlo_discarded(const struct smtpd_settings *set, const char *name)
{
    for (size_t i = 0; set->discard_ehlo != NULL && i < set->discard_ehlo->argc; i++)
        if (str_eq_icase(set->discard_ehlo->argv[i], name))
            return true;
    return false;
}

/*
 * Append the keyword lines EHLO announces to lines (after the greeting
 * line) and return the SMTP_EXT_* bits they enable.
 */
unsigned smtpd_ehlo_keywords(const struct smtpd_settings *set, struct argv *lines)
{
    struct buf *line = buf_create(40);
    unsigned ext = 0;

    for (size_t i = 0; i < sizeof(smtpd_ehlo_table) / sizeof(smtpd_ehlo_table[0]); i++) {
        const struct smtpd_ehlo_kw *kw = &smtpd_ehlo_table[i];

        if ((kw->offer != NULL && !kw->offer(set)) || smtpd_ehlo_discarded(set, kw->name))
            continue;
        buf_reset(line);
        if (kw->text != NULL)
            kw->text(set, line);
        else
            buf_puts(line, kw->name);
        argv_add(lines, buf_str(line));
        ext |= kw->ext;
    }
    buf_free(&line);
    return ext;
}

/* Check the HELO/EHLO argument; 0, or -1 after replying. */
static int smtpd_helo_check(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    bool ok = cmd->arg_len > 0 && cmd->arg_len <= SMTPD_HELO_MAX &&
              mailbox_utf8_valid(cmd->arg, cmd->arg_len);

    for (size_t i = 0; ok && i < cmd->arg_len; i++) {
        unsigned char c = (unsigned char)cmd->arg[i];

        if (c < 0x20 || c == 0x7f)
            ok = false;
    }
    if (!ok) {
        smtpd_reply(ss, 501, "5.5.4", "Syntax: %s hostname", cmd->verb);
        return -1;
    }
    return 0;
}

/* Remember the new greeting; end any transaction. */
static void smtpd_helo_set(struct smtpd_session *ss, const struct smtp_cmd *cmd, bool esmtp)
{
    smtpd_transaction_reset(ss);
    mem_free(ss->helo);
    ss->helo = mem_strndup(cmd->arg, cmd->arg_len);
    ss->protocol = esmtp ? "ESMTP" : "SMTP";
}

/* HELO hostname */
void smtpd_cmd_helo(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    if (smtpd_helo_check(ss, cmd) < 0)
        return;
    smtpd_helo_set(ss, cmd, false);
    ss->ext = 0;
    smtpd_reply(ss, 250, NULL, "%s", ss->set->myhostname);
}

/* EHLO hostname */
void smtpd_cmd_ehlo(struct smtpd_session *ss, const struct smtp_cmd *cmd)
{
    struct argv *lines;

    if (smtpd_helo_check(ss, cmd) < 0)
        return;
    smtpd_helo_set(ss, cmd, true);
    lines = argv_create(12);
    argv_add(lines, ss->set->myhostname);
    ss->ext = smtpd_ehlo_keywords(ss->set, lines);
    smtpd_reply_lines(ss, 250, NULL, (const char *const *)lines->argv, lines->argc);
    argv_free(&lines);
}
