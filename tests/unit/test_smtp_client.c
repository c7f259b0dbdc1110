/*
 * test_smtp_client - the pure decisions of smtp(8): server replies into
 * recipient outcomes (sent/deferred/bounced, status code, Postfix's
 * texts), next-hop syntax, the backup-MX rule and loops, SASL security
 * options, and smtp_generic_maps rewriting of addresses and headers.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dict/dict.h"
#include "lib/mail/maps.h"
#include "lib/proto/smtp_reply_reader.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "smtp/smtp.h"
#include "tests/unit/test.h"

/* Parse a reply given as text ("550-a\r\n550 b\r\n"), byte by byte. */
static struct smtp_reply_reader *reply_of(const char *text)
{
    struct smtp_reply_reader *r = smtp_reply_reader_create(0, 0);
    const char *why;
    int rc = 0;

    for (size_t i = 0; text[i] && rc == 0; i++)
        rc = smtp_reply_reader_feed(r, text + i, 1, NULL, &why);
    CHECK_INTEQ(rc, 1);
    return r;
}

static void test_reply_outcomes(void)
{
    static const struct {
        const char *reply;
        enum smtp_stage stage;
        enum deliver_status status;
        const char *dsn;
        const char *text;
    } cases[] = {
        {"250 2.0.0 Ok: queued as 4XyZ\r\n", SMTP_STAGE_DOT, DELIVER_SENT, "2.0.0",
         "250 2.0.0 Ok: queued as 4XyZ"},
        {"250 Ok\r\n", SMTP_STAGE_DOT, DELIVER_SENT, "2.0.0", "250 Ok"},
        {"550 5.1.1 <bob@example.com>: Recipient address rejected\r\n", SMTP_STAGE_RCPT,
         DELIVER_BOUNCED, "5.1.1",
         "host mx.example.com[192.0.2.1] said: 550 5.1.1 <bob@example.com>: Recipient address "
         "rejected (in reply to RCPT TO command)"},
        {"451-4.7.1 Greylisted,\r\n451 4.7.1 try later\r\n", SMTP_STAGE_RCPT, DELIVER_DEFERRED,
         "4.7.1",
         "host mx.example.com[192.0.2.1] said: 451 4.7.1 Greylisted, try later (in reply to RCPT "
         "TO command)"},
        {"554 no thanks\r\n", SMTP_STAGE_MAIL, DELIVER_BOUNCED, "5.0.0",
         "host mx.example.com[192.0.2.1] said: 554 no thanks (in reply to MAIL FROM command)"},
        {"452 4.3.1 Insufficient system storage\r\n", SMTP_STAGE_DATA, DELIVER_DEFERRED, "4.3.1",
         "host mx.example.com[192.0.2.1] said: 452 4.3.1 Insufficient system storage (in reply to "
         "DATA command)"},
        {"552 5.3.4 Message too big\r\n", SMTP_STAGE_DOT, DELIVER_BOUNCED, "5.3.4",
         "host mx.example.com[192.0.2.1] said: 552 5.3.4 Message too big (in reply to end of DATA "
         "command)"},
        /* A code of the wrong class is not taken as the status. */
        {"550 4.1.1 odd\r\n", SMTP_STAGE_RCPT, DELIVER_BOUNCED, "5.0.0",
         "host mx.example.com[192.0.2.1] said: 550 4.1.1 odd (in reply to RCPT TO command)"},
        /* A 3xx where a 2xx belongs: temporary. */
        {"354 go ahead\r\n", SMTP_STAGE_MAIL, DELIVER_DEFERRED, "4.0.0",
         "host mx.example.com[192.0.2.1] said: 354 go ahead (in reply to MAIL FROM command)"},
        /* Control characters from the server are made harmless by the reader. */
        {"550 5.7.1 bad\x01text\r\n", SMTP_STAGE_RCPT, DELIVER_BOUNCED, "5.7.1",
         "host mx.example.com[192.0.2.1] said: 550 5.7.1 bad?text (in reply to RCPT TO command)"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct smtp_reply_reader *r = reply_of(cases[i].reply);
        struct smtp_outcome o;

        smtp_outcome_init(&o);
        if (smtp_reply_reader_reply(r) != NULL) {
            smtp_reply_outcome(smtp_reply_reader_reply(r), "mx.example.com[192.0.2.1]",
                               cases[i].stage, &o);
            CHECK_INTEQ(o.status, cases[i].status);
            CHECK_STREQ(o.dsn, cases[i].dsn);
            CHECK_STREQ(buf_str(o.text), cases[i].text);
            CHECK(deliver_dsn_valid(o.dsn, o.status));
        }
        smtp_outcome_clear(&o);
        smtp_reply_reader_free(&r);
    }
}

static void test_io_outcomes(void)
{
    struct smtp_outcome o;

    smtp_outcome_init(&o);
    smtp_io_outcome(false, "h[192.0.2.9]", SMTP_STAGE_GREETING, &o);
    CHECK_INTEQ(o.status, DELIVER_DEFERRED);
    CHECK_STREQ(o.dsn, "4.4.2");
    CHECK_STREQ(buf_str(o.text),
                "lost connection with h[192.0.2.9] while receiving the initial server greeting");
    smtp_io_outcome(true, "h[192.0.2.9]", SMTP_STAGE_RCPT, &o);
    CHECK_STREQ(buf_str(o.text), "conversation with h[192.0.2.9] timed out while sending RCPT TO");
    smtp_io_outcome(false, "h[192.0.2.9]", SMTP_STAGE_DOT, &o);
    CHECK_STREQ(buf_str(o.text), "lost connection with h[192.0.2.9] while sending end of data -- "
                                 "message may be sent more than once");

    smtp_outcome_set(&o, DELIVER_BOUNCED, "5.0.0", "host %s refused to talk to me", "x[1.2.3.4]");
    smtp_outcome_soften(&o);
    CHECK_INTEQ(o.status, DELIVER_DEFERRED);
    CHECK_STREQ(o.dsn, "4.0.0");
    CHECK(deliver_dsn_valid(o.dsn, o.status));
    smtp_outcome_clear(&o);
}

static void test_nexthop(void)
{
    static const struct {
        const char *in;
        int rc;
        const char *host;
        unsigned port;
        bool mx, literal;
    } cases[] = {
        {"example.com", 0, "example.com", 25, true, false},
        {"Example.COM.", 0, "example.com", 25, true, false},
        {"[mail.example.com]", 0, "mail.example.com", 25, false, false},
        {"[mail.example.com]:587", 0, "mail.example.com", 587, false, false},
        {"mail.example.com:2525", 0, "mail.example.com", 2525, true, false},
        {"[192.0.2.1]", 0, "192.0.2.1", 25, false, true},
        {"[192.0.2.1]:465", 0, "192.0.2.1", 465, false, true},
        {"[ipv6:2001:db8::1]:26", 0, "2001:db8::1", 26, false, true},
        {"[2001:db8::1]", 0, "2001:db8::1", 25, false, true},
        {"[mail.example.com]:smtp", 0, "mail.example.com", 25, false, false},
        {"", -1, NULL, 0, false, false},
        {"[mail.example.com", -1, NULL, 0, false, false},
        {"[]:25", -1, NULL, 0, false, false},
        {"[a.example]x", -1, NULL, 0, false, false},
        {"a.example:0", -1, NULL, 0, false, false},
        {"a.example:70000", -1, NULL, 0, false, false},
        {"a.example:nosuchservice", -1, NULL, 0, false, false},
        {"bad host.example", -1, NULL, 0, false, false},
        {"[ipv6:not-an-address]", -1, NULL, 0, false, false},
        {":25", -1, NULL, 0, false, false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct smtp_nexthop nh;
        const char *why = NULL;
        int rc = smtp_nexthop_parse(cases[i].in, &nh, &why);

        if (rc != cases[i].rc)
            fprintf(stderr, "  nexthop \"%s\"\n", cases[i].in);
        CHECK_INTEQ(rc, cases[i].rc);
        if (rc == 0 && cases[i].rc == 0) {
            CHECK_STREQ(nh.host, cases[i].host);
            CHECK_INTEQ(nh.port, cases[i].port);
            CHECK_INTEQ(nh.mx, cases[i].mx);
            CHECK_INTEQ(nh.literal, cases[i].literal);
        } else if (rc < 0) {
            CHECK(why != NULL);
        }
        smtp_nexthop_clear(&nh);
    }
}

/* A list of (host, pref, address). */
static struct smtp_addr_list *addr_list(const char *const *spec)
{
    struct smtp_addr_list *l = mem_alloc(sizeof(*l));

    for (size_t i = 0; spec[i] != NULL; i += 3) {
        struct sockaddr_in sin = {.sin_family = AF_INET};

        inet_pton(AF_INET, spec[i + 2], &sin.sin_addr);
        smtp_addr_list_add(l, spec[i], (unsigned)atoi(spec[i + 1]), (struct sockaddr *)&sin,
                           sizeof(sin));
    }
    return l;
}

static void test_backup_mx(void)
{
    static const char *const me[] = {"192.0.2.10", NULL};
    static const char *const mx_list[] = {"mx1.example.com",
                                          "10",
                                          "192.0.2.1",
                                          "mx2.example.com",
                                          "20",
                                          "192.0.2.2",
                                          "mail.example.com",
                                          "30",
                                          "192.0.2.3",
                                          "mx4.example.com",
                                          "40",
                                          "192.0.2.4",
                                          NULL};
    static const char *const by_addr[] = {"mx1.example.com",
                                          "10",
                                          "192.0.2.1",
                                          "alias.example.com",
                                          "20",
                                          "192.0.2.10",
                                          "mx3.example.com",
                                          "20",
                                          "192.0.2.3",
                                          NULL};
    static const char *const primary[] = {
        "mail.example.com", "10", "192.0.2.3", "mx2.example.com", "20", "192.0.2.2", NULL};
    static const char *const other[] = {"mx1.example.com", "10", "192.0.2.1", NULL};
    struct smtp_self *self = smtp_self_create_fixed("mail.example.com", me);
    struct smtp_addr_list *l;
    struct smtp_outcome o;

    smtp_outcome_init(&o);
    CHECK(smtp_self_is_name(self, "MAIL.example.com."));
    CHECK(!smtp_self_is_name(self, "mail.example.co"));

    /* We are MX 30: only 10 and 20 are tried. */
    l = addr_list(mx_list);
    CHECK_INTEQ(smtp_addr_trim_self(l, self, "example.com", &o), 0);
    CHECK_INTEQ(l->count, 2);
    CHECK_STREQ(l->v[1].host, "mx2.example.com");
    smtp_addr_list_free(&l);

    /* Recognised by address; the other MX 20 goes too. */
    l = addr_list(by_addr);
    CHECK_INTEQ(smtp_addr_trim_self(l, self, "example.com", &o), 0);
    CHECK_INTEQ(l->count, 1);
    CHECK_STREQ(l->v[0].host, "mx1.example.com");
    smtp_addr_list_free(&l);

    /* The best MX is this host: a loop, not a storm. */
    l = addr_list(primary);
    CHECK_INTEQ(smtp_addr_trim_self(l, self, "example.com", &o), -1);
    CHECK_INTEQ(o.status, DELIVER_BOUNCED);
    CHECK_STREQ(o.dsn, "5.4.6");
    CHECK_STREQ(buf_str(o.text), "mail for example.com loops back to myself");
    CHECK_INTEQ(l->count, 0);
    smtp_addr_list_free(&l);

    /* Not us at all: unchanged. */
    l = addr_list(other);
    CHECK_INTEQ(smtp_addr_trim_self(l, self, "example.com", &o), 0);
    CHECK_INTEQ(l->count, 1);
    CHECK_STREQ(l->v[0].addr, "192.0.2.1");
    smtp_addr_list_free(&l);

    smtp_outcome_clear(&o);
    smtp_self_free(&self);
}

static void test_sasl_options(void)
{
    unsigned bits = 99;
    const char *why;

    CHECK_INTEQ(smtp_sasl_options_parse("noplaintext, noanonymous", &bits, &why), 0);
    CHECK_INTEQ(bits, SMTP_SASL_NOPLAINTEXT | SMTP_SASL_NOANONYMOUS);
    CHECK_INTEQ(smtp_sasl_options_parse("", &bits, &why), 0);
    CHECK_INTEQ(bits, 0);
    CHECK_INTEQ(smtp_sasl_options_parse("NOANONYMOUS nodictionary", &bits, &why), 0);
    CHECK_INTEQ(bits, SMTP_SASL_NOANONYMOUS);
    CHECK_INTEQ(smtp_sasl_options_parse("noplaintext bogus", &bits, &why), -1);
}

static void test_generic(void)
{
    struct maps *m = NULL;
    struct buf *out = buf_create(64);
    const char *why;

    CHECK_INTEQ(maps_create("smtp_generic_maps",
                            "inline:{ alice@home.lan=alice.smith@provider.example, "
                            "@home.lan=@provider.example }",
                            DICT_FLAG_FOLD_KEYS, &m, &why),
                0);
    if (m == NULL) {
        buf_free(&out);
        return;
    }
    CHECK_INTEQ(smtp_generic_address(m, "alice@home.lan", out, &why), 1);
    CHECK_STREQ(buf_str(out), "alice.smith@provider.example");
    CHECK_INTEQ(smtp_generic_address(m, "Alice@HOME.lan", out, &why), 1);
    CHECK_STREQ(buf_str(out), "alice.smith@provider.example");
    CHECK_INTEQ(smtp_generic_address(m, "bob@home.lan", out, &why), 1);
    CHECK_STREQ(buf_str(out), "bob@provider.example");
    CHECK_INTEQ(smtp_generic_address(m, "carol@elsewhere.example", out, &why), 0);
    CHECK_STREQ(buf_str(out), "carol@elsewhere.example");
    CHECK_INTEQ(smtp_generic_address(m, "", out, &why), 0);
    CHECK_STREQ(buf_str(out), "");

    {
        static const char from[] = "From: \"Alice S.\" <alice@home.lan>\n";
        static const char to[] = "To: bob@home.lan,\n  carol@elsewhere.example, (c) Dan "
                                 "<dan@home.lan>\n";
        static const char subj[] = "Subject: alice@home.lan\n";
        static const char bad[] = "Cc: <<<alice@home.lan\n";

        CHECK_INTEQ(smtp_generic_header(m, from, sizeof(from) - 1, out, &why), 1);
        CHECK_STREQ(buf_str(out), "From: \"Alice S.\" <alice.smith@provider.example>\n");
        CHECK_INTEQ(smtp_generic_header(m, to, sizeof(to) - 1, out, &why), 1);
        CHECK_STREQ(buf_str(out), "To: bob@provider.example,\n  carol@elsewhere.example, (c) Dan "
                                  "<dan@provider.example>\n");
        CHECK_INTEQ(smtp_generic_header(m, subj, sizeof(subj) - 1, out, &why), 0);
        CHECK_INTEQ(smtp_generic_header(m, bad, sizeof(bad) - 1, out, &why), 0);
    }

    /* Through the content pipeline: top-level headers only. */
    {
        static const char in[] = "From: alice@home.lan\nSubject: hi\nReply-To:\n alice@home.lan\n\n"
                                 "From: alice@home.lan\n";
        static const char want[] = "From: alice.smith@provider.example\r\nSubject: hi\r\n"
                                   "Reply-To:\r\n alice.smith@provider.example\r\n\r\n"
                                   "From: alice@home.lan\r\n.\r\n";
        struct smtp_content_opts opts = {.generic_maps = m};

        for (size_t step = 1; step < sizeof(in); step++) {
            struct smtp_content *c = smtp_content_create(&opts);

            buf_reset(out);
            for (size_t i = 0; i < sizeof(in) - 1; i += step)
                CHECK_INTEQ(smtp_content_feed(c, in + i,
                                              sizeof(in) - 1 - i < step ? sizeof(in) - 1 - i : step,
                                              out, &why),
                            0);
            CHECK_INTEQ(smtp_content_end(c, out, &why), 0);
            CHECK_STREQ(buf_str(out), want);
            smtp_content_free(&c);
        }
    }
    maps_free(&m);
    buf_free(&out);
}

int main(void)
{
    msg_init("test_smtp_client", 0);
    TEST_RUN(test_reply_outcomes);
    TEST_RUN(test_io_outcomes);
    TEST_RUN(test_nexthop);
    TEST_RUN(test_backup_mx);
    TEST_RUN(test_sasl_options);
    TEST_RUN(test_generic);
    return test_summary();
}
