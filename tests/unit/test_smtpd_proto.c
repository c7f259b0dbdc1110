/*
 * Unit tests for the pure parts of smtpd: the command table and the state
 * rules (every command in every state, with and without HELO and
 * smtpd_helo_required), the EHLO keyword table and the extensions it
 * enables, the ETRN argument parser, and the Received: header.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/mail/qmgr_nudge.h"
#include "lib/proto/smtp_cmd.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/msg.h"
#include "smtpd/smtpd.h"
#include "tests/unit/test.h"

/* Expected outcome of smtpd_cmd_check per verb and state: 0 allowed, else the 503 text. */
struct state_case {
    const char *verb;
    enum smtpd_state state;
    bool greeted, helo_required;
    int code; /* 0 allowed, 503 refused */
    const char *text;
};

static void test_state_rules(void)
{
    static const struct state_case cases[] = {
        {"MAIL", SMTPD_ST_IDLE, true, false, 0, NULL},
        {"MAIL", SMTPD_ST_IDLE, false, false, 0, NULL},
        {"MAIL", SMTPD_ST_IDLE, false, true, 503, "Error: send HELO/EHLO first"},
        {"MAIL", SMTPD_ST_MAIL, true, false, 503, "Error: nested MAIL command"},
        {"MAIL", SMTPD_ST_RCPT, true, false, 503, "Error: nested MAIL command"},
        {"RCPT", SMTPD_ST_IDLE, true, false, 503, "Error: need MAIL command"},
        {"RCPT", SMTPD_ST_MAIL, true, false, 0, NULL},
        {"RCPT", SMTPD_ST_RCPT, true, false, 0, NULL},
        {"DATA", SMTPD_ST_IDLE, true, false, 503, "Error: need RCPT command"},
        {"DATA", SMTPD_ST_MAIL, true, false, 0, NULL}, /* the handler: no valid recipients */
        {"DATA", SMTPD_ST_RCPT, true, false, 0, NULL},
        {"DATA", SMTPD_ST_BDAT, true, false, 503, "Error: DATA not allowed between BDAT chunks"},
        {"MAIL", SMTPD_ST_BDAT, true, false, 503, "Error: MAIL not allowed between BDAT chunks"},
        {"EHLO", SMTPD_ST_BDAT, true, false, 503, "Error: EHLO not allowed between BDAT chunks"},
        /* BDAT decides for itself: it must read its chunk even when refused */
        {"BDAT", SMTPD_ST_IDLE, false, true, 0, NULL},
        {"BDAT", SMTPD_ST_MAIL, true, false, 0, NULL},
        {"BDAT", SMTPD_ST_BDAT, true, false, 0, NULL},
        {"RSET", SMTPD_ST_BDAT, true, false, 0, NULL},
        {"QUIT", SMTPD_ST_BDAT, true, false, 0, NULL},
        {"NOOP", SMTPD_ST_BDAT, true, false, 0, NULL},
        {"HELO", SMTPD_ST_RCPT, true, false, 0, NULL},
        {"EHLO", SMTPD_ST_IDLE, false, true, 0, NULL},
        {"QUIT", SMTPD_ST_IDLE, false, true, 0, NULL},
        {"NOOP", SMTPD_ST_IDLE, false, true, 0, NULL},
        {"RSET", SMTPD_ST_IDLE, false, true, 0, NULL},
        {"HELP", SMTPD_ST_IDLE, false, true, 0, NULL},
        {"VRFY", SMTPD_ST_IDLE, false, true, 503, "Error: send HELO/EHLO first"},
        {"VRFY", SMTPD_ST_IDLE, false, false, 0, NULL},
        {"EXPN", SMTPD_ST_IDLE, false, true, 503, "Error: send HELO/EHLO first"},
        {"RCPT", SMTPD_ST_MAIL, false, true, 503, "Error: send HELO/EHLO first"},
        {"DATA", SMTPD_ST_RCPT, false, true, 503, "Error: send HELO/EHLO first"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct state_case *c = &cases[i];
        const struct smtpd_cmd_def *def = smtpd_cmd_find(c->verb);
        struct smtp_resp resp;
        int r;

        CHECK(def != NULL);
        if (def == NULL)
            continue;
        r = smtpd_cmd_check(def, c->state, c->greeted, c->helo_required, &resp);
        if ((r == 0) != (c->code == 0))
            fprintf(stderr, "  case %zu: %s in %s: got %d (%s)\n", i, c->verb,
                    smtpd_state_names[c->state], r, resp.text);
        CHECK_INTEQ(r, c->code == 0 ? 0 : -1);
        if (c->code != 0) {
            CHECK_INTEQ(resp.code, 503);
            CHECK_STREQ(resp.dsn, "5.5.1");
            CHECK_STREQ(resp.text, c->text);
        } else {
            CHECK_INTEQ(resp.code, 0);
        }
    }
}

static void test_table(void)
{
    static const char *const verbs[] = {"HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET",
                                        "NOOP", "VRFY", "EXPN", "ETRN", "HELP", "QUIT"};

    CHECK_INTEQ(smtpd_cmd_count, sizeof(verbs) / sizeof(verbs[0]));
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        const struct smtpd_cmd_def *def = smtpd_cmd_find(verbs[i]);

        CHECK(def != NULL && def->fn != NULL);
        /* every command may run in some state, and never inside DATA or after QUIT */
        CHECK(def != NULL && def->states != 0);
        CHECK(def != NULL && !(def->states & SMTPD_ST_BIT(SMTPD_ST_DATA)));
        CHECK(def != NULL && !(def->states & SMTPD_ST_BIT(SMTPD_ST_QUIT)));
    }
    CHECK(smtpd_cmd_find("mail") == NULL); /* verbs arrive upper-cased */
    CHECK(smtpd_cmd_find("TURN") == NULL);
    /* ETRN: only outside a mail transaction, and its reply is flushed at once */
    CHECK(smtpd_cmd_find("ETRN")->states == SMTPD_ST_BIT(SMTPD_ST_IDLE));
    CHECK(smtpd_cmd_find("ETRN")->flags & SMTPD_CMD_LAST);
    CHECK_STREQ(smtpd_cmd_find("ETRN")->refusal, "Error: MAIL transaction in progress");
    CHECK(smtpd_cmd_find("") == NULL);
    /* RFC 2920 3.1: these end a pipelined group */
    CHECK(smtpd_cmd_find("EHLO")->flags & SMTPD_CMD_LAST);
    CHECK(smtpd_cmd_find("DATA")->flags & SMTPD_CMD_LAST);
    CHECK(smtpd_cmd_find("QUIT")->flags & SMTPD_CMD_LAST);
    CHECK(smtpd_cmd_find("NOOP")->flags & SMTPD_CMD_LAST);
    CHECK(smtpd_cmd_find("VRFY")->flags & SMTPD_CMD_LAST);
    CHECK(!(smtpd_cmd_find("MAIL")->flags & SMTPD_CMD_LAST));
    CHECK(!(smtpd_cmd_find("RCPT")->flags & SMTPD_CMD_LAST));
    CHECK(!(smtpd_cmd_find("BDAT")->flags & SMTPD_CMD_LAST));
    CHECK(!(smtpd_cmd_find("RSET")->flags & SMTPD_CMD_LAST));
    /* Postfix's junk commands */
    CHECK(smtpd_cmd_find("NOOP")->flags & SMTPD_CMD_JUNK);
    CHECK(smtpd_cmd_find("RSET")->flags & SMTPD_CMD_JUNK);
    CHECK(smtpd_cmd_find("VRFY")->flags & SMTPD_CMD_JUNK);
    CHECK(!(smtpd_cmd_find("MAIL")->flags & SMTPD_CMD_JUNK));
    for (int st = 0; st < SMTPD_ST_COUNT; st++)
        CHECK(smtpd_state_names[st] != NULL);
}

/* The EHLO lines for a settings variant, joined with '|'. */
static unsigned ehlo(struct smtpd_settings *set, struct buf *out)
{
    struct argv *lines = argv_create(10);
    unsigned ext = smtpd_ehlo_keywords(set, lines);

    buf_reset(out);
    for (size_t i = 0; i < lines->argc; i++)
        buf_printf(out, "%s%s", i ? "|" : "", lines->argv[i]);
    argv_free(&lines);
    return ext;
}

static void test_ehlo_keywords(void)
{
    struct smtpd_settings set;
    struct buf *b = buf_create(200);
    unsigned ext;

    memset(&set, 0, sizeof(set));
    set.message_size_limit = 10240000;
    set.smtputf8_enable = true;
    ext = ehlo(&set, b);
    CHECK_STREQ(buf_str(b), "PIPELINING|SIZE 10240000|VRFY|ETRN|ENHANCEDSTATUSCODES|8BITMIME|DSN|"
                            "SMTPUTF8|CHUNKING");
    CHECK_INTEQ(ext, SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_DSN | SMTP_EXT_SMTPUTF8);

    set.message_size_limit = 0;
    set.disable_vrfy = true;
    set.smtputf8_enable = false;
    ext = ehlo(&set, b);
    CHECK_STREQ(buf_str(b), "PIPELINING|SIZE|ETRN|ENHANCEDSTATUSCODES|8BITMIME|DSN|CHUNKING");
    CHECK_INTEQ(ext, SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_DSN);

    set.discard_ehlo = argv_split("dsn, Chunking 8bitmime etrn", ", ");
    ext = ehlo(&set, b);
    CHECK_STREQ(buf_str(b), "PIPELINING|SIZE|ENHANCEDSTATUSCODES");
    CHECK_INTEQ(ext, SMTP_EXT_SIZE);
    argv_free(&set.discard_ehlo);
    buf_free(&b);
}

/* ETRN arguments: the form and the domain taken. */
static void test_etrn_parse(void)
{
    static const struct {
        const char *arg;
        enum smtpd_etrn_form form;
        const char *domain;
    } cases[] = {
        {"example.com", SMTPD_ETRN_DOMAIN, "example.com"},
        {"Example.COM", SMTPD_ETRN_DOMAIN, "Example.COM"},
        {"@example.com", SMTPD_ETRN_DOMAIN, "example.com"},
        {"example.com.", SMTPD_ETRN_DOMAIN, "example.com"},
        {"a", SMTPD_ETRN_DOMAIN, "a"},
        {"xn--bcher-kva.example", SMTPD_ETRN_DOMAIN, "xn--bcher-kva.example"},
        {"#queue1", SMTPD_ETRN_QUEUE, ""},
        {"#", SMTPD_ETRN_QUEUE, ""},
        {"", SMTPD_ETRN_BAD, ""},
        {"@", SMTPD_ETRN_BAD, ""},
        {"@@example.com", SMTPD_ETRN_BAD, ""},
        {".", SMTPD_ETRN_BAD, ""},
        {".example.com", SMTPD_ETRN_BAD, ""},
        {"example..com", SMTPD_ETRN_BAD, ""},
        {"example.com..", SMTPD_ETRN_BAD, ""},
        {"exa mple.com", SMTPD_ETRN_BAD, ""},
        {"exa_mple.com", SMTPD_ETRN_BAD, ""},
        {"[192.0.2.1]", SMTPD_ETRN_BAD, ""},
        {"example.com\n", SMTPD_ETRN_BAD, ""},
        {"b\303\274cher.example", SMTPD_ETRN_BAD, ""},
    };
    char domain[QMGR_SITE_MAX + 1];
    char *long_arg = malloc(300);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum smtpd_etrn_form form =
            smtpd_etrn_parse(cases[i].arg, strlen(cases[i].arg), domain, sizeof(domain));

        CHECK_INTEQ(form, cases[i].form);
        CHECK_STREQ(domain, cases[i].domain);
    }
    /* 255 bytes are taken, 256 are not; the length counts, not a NUL. */
    memset(long_arg, 'a', 300);
    CHECK_INTEQ(smtpd_etrn_parse(long_arg, 255, domain, sizeof(domain)), SMTPD_ETRN_DOMAIN);
    CHECK_INTEQ(strlen(domain), 255);
    CHECK_INTEQ(smtpd_etrn_parse(long_arg, 256, domain, sizeof(domain)), SMTPD_ETRN_BAD);
    CHECK_INTEQ(smtpd_etrn_parse("example.com", 7, domain, sizeof(domain)), SMTPD_ETRN_DOMAIN);
    CHECK_STREQ(domain, "example");
    /* a domain that does not fit the caller's buffer is refused, not cut */
    CHECK_INTEQ(smtpd_etrn_parse("example.com", 11, domain, 11), SMTPD_ETRN_BAD);
    free(long_arg);
}

static void test_received(void)
{
    struct buf *b = buf_create(300);
    struct smtpd_received r = {
        .helo = "client.example",
        .name = "host.example",
        .rfc_addr = "192.0.2.1",
        .myhostname = "mail.example.com",
        .mail_name = "Postel",
        .protocol = "ESMTP",
        .queue_id = "1K0TESTQUEUEID00",
        .rcpt = "user@example.com",
        .when = 1700000000,
    };

    setenv("TZ", "UTC", 1);
    tzset();
    smtpd_received_format(b, &r);
    CHECK_STREQ(buf_str(b), "Received: from client.example (host.example [192.0.2.1])\n"
                            "\tby mail.example.com (Postel) with ESMTP id 1K0TESTQUEUEID00\n"
                            "\tfor <user@example.com>; Tue, 14 Nov 2023 22:13:20 +0000 (UTC)");
    /* several recipients: no "for"; no HELO: the client name stands in */
    buf_reset(b);
    r.rcpt = NULL;
    r.helo = NULL;
    r.name = "unknown";
    r.rfc_addr = "IPv6:2001:db8::1";
    r.protocol = "SMTP";
    smtpd_received_format(b, &r);
    CHECK_STREQ(buf_str(b), "Received: from unknown (unknown [IPv6:2001:db8::1])\n"
                            "\tby mail.example.com (Postel) with SMTP id 1K0TESTQUEUEID00;\n"
                            "\tTue, 14 Nov 2023 22:13:20 +0000 (UTC)");
    buf_free(&b);
}

int main(void)
{
    msg_init("test_smtpd_proto", MSG_TO_STDERR);
    TEST_RUN(test_state_rules);
    TEST_RUN(test_table);
    TEST_RUN(test_ehlo_keywords);
    TEST_RUN(test_etrn_parse);
    TEST_RUN(test_received);
    return test_summary();
}
