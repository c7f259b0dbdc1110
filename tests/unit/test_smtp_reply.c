/*
 * Unit tests for lib/proto/smtp_reply (formatting) and smtp_reply_reader
 * (client-side parsing, EHLO). The reader is fed whole and byte by byte.
 */
#include "config.h"

#include <string.h>

#include "lib/proto/smtp_reply.h"
#include "lib/proto/smtp_reply_reader.h"
#include "lib/util/buf.h"
#include "tests/unit/test.h"

static void test_format(void)
{
    struct buf *b = buf_create(0);
    static const char *const lines[] = {"mail.example.com", "PIPELINING", "SIZE 10240000",
                                        "8BITMIME"};
    struct smtp_resp r;

    smtp_reply_format(b, 250, NULL, lines, 4);
    CHECK_STREQ(buf_str(b), "250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                            "250 8BITMIME\r\n");
    buf_set(b, "");
    smtp_reply_format(b, 250, "2.1.0", lines + 1, 2);
    CHECK_STREQ(buf_str(b), "250-2.1.0 PIPELINING\r\n250 2.1.0 SIZE 10240000\r\n");
    buf_set(b, "");
    smtp_reply_printf(b, 550, "5.7.1", "Rejected: %s\nsee %s", "spam", "http://x/");
    CHECK_STREQ(buf_str(b), "550-5.7.1 Rejected: spam\r\n550 5.7.1 see http://x/\r\n");
    buf_set(b, "");
    smtp_reply_printf(b, 354, NULL, "End data with <CR><LF>.<CR><LF>");
    CHECK_STREQ(buf_str(b), "354 End data with <CR><LF>.<CR><LF>\r\n");
    buf_set(b, "");
    smtp_reply_printf(b, 250, NULL, "%s", "");
    CHECK_STREQ(buf_str(b), "250\r\n");
    buf_set(b, "");
    smtp_reply_printf(b, 250, "2.0.0", "%s", "");
    CHECK_STREQ(buf_str(b), "250 2.0.0\r\n");
    buf_set(b, "");
    /* client data with CR, LF, NUL cannot break the reply into lines */
    smtp_reply_line(b, 501, true, "5.5.4", "a\r\n250 ok\x00z\x7f", 12);
    CHECK_STREQ(buf_str(b), "501 5.5.4 a??250 ok?z?\r\n");
    buf_set(b, "");
    smtp_resp_set(&r, 501, "5.1.7", "Bad sender address syntax");
    smtp_resp_format(b, &r);
    CHECK_STREQ(buf_str(b), "501 5.1.7 Bad sender address syntax\r\n");
    buf_free(&b);
}

static void test_format_long(void)
{
    struct buf *b = buf_create(0);
    char text[1000];

    memset(text, 'x', sizeof(text));
    smtp_reply_line(b, 250, true, "2.0.0", text, sizeof(text));
    CHECK_INTEQ(buf_len(b), SMTP_REPLY_LINE_MAX);
    CHECK(memcmp(buf_str(b) + buf_len(b) - 2, "\r\n", 2) == 0);
    /* a cut never splits a UTF-8 sequence: 2-byte chars with an odd room */
    buf_set(b, "");
    for (size_t i = 0; i + 1 < sizeof(text); i += 2)
        text[i] = '\xc3', text[i + 1] = '\xa9';
    smtp_reply_line(b, 250, true, NULL, text, sizeof(text));
    CHECK(buf_len(b) <= SMTP_REPLY_LINE_MAX);
    CHECK(((unsigned char)buf_str(b)[buf_len(b) - 3]) == 0xa9);
    buf_free(&b);
}

static void test_dsn_valid(void)
{
    CHECK(smtp_dsn_valid("2.0.0", 5));
    CHECK(smtp_dsn_valid("5.7.1", 5));
    CHECK(smtp_dsn_valid("4.123.456", 9));
    CHECK(!smtp_dsn_valid("3.0.0", 5));
    CHECK(!smtp_dsn_valid("5.0", 3));
    CHECK(!smtp_dsn_valid("5.0.", 4));
    CHECK(!smtp_dsn_valid("5.1234.0", 8));
    CHECK(!smtp_dsn_valid("5..0", 4));
    CHECK(!smtp_dsn_valid("5.0.0x", 6));
}

/* Feed whole or byte by byte; return the feed result and the bytes used. */
static int feed(struct smtp_reply_reader *r, const char *in, size_t len, bool bytewise,
                size_t *used_r, const char **why_r)
{
    size_t pos = 0, used;
    int ret = 0;

    if (!bytewise) {
        ret = smtp_reply_reader_feed(r, in, len, used_r, why_r);
        return ret;
    }
    while (pos < len) {
        ret = smtp_reply_reader_feed(r, in + pos, 1, &used, why_r);
        if (ret < 0)
            break;
        pos += used;
        if (ret == 1)
            break;
    }
    *used_r = pos;
    return ret;
}

static void test_reader(void)
{
    static const struct {
        const char *in;
        int ret;
        int code;
        const char *dsn;
        int nlines;
        const char *text;
    } t[] = {
        {"220 mx.example ESMTP\r\n", 1, 220, "", 1, "220 mx.example ESMTP"},
        {"250 2.1.0 Ok\r\n", 1, 250, "2.1.0", 1, "250 2.1.0 Ok"},
        {"250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n", 1, 250, "", 3,
         "250 mx.example PIPELINING 8BITMIME"},
        {"550-5.7.1 No\r\n550-5.7.1 way\r\n550 5.7.1 Jose\r\n", 1, 550, "5.7.1", 3,
         "550 5.7.1 No way Jose"},
        {"250\r\n", 1, 250, "", 1, "250"},
        {"250 ok\n", 1, 250, "", 1, "250 ok"},            /* bare LF accepted */
        {"451 4.3.0 x\r\n", 1, 451, "4.3.0", 1, "451 4.3.0 x"},
        {"550 4.3.0 x\r\n", 1, 550, "", 1, "550 4.3.0 x"}, /* class mismatch: not a dsn */
        {"250 2.0 x\r\n", 1, 250, "", 1, "250 2.0 x"},
        {"250 2.0.0\r\n", 1, 250, "2.0.0", 1, "250 2.0.0"},
        {"354 go ahead\r\n", 1, 354, "", 1, "354 go ahead"},
        {"250 a\x01z\r\n", 1, 250, "", 1, "250 a?z"},
        {"250 a\rz\r\n", 1, 250, "", 1, "250 a?z"},
        {"250-a\r\n251 b\r\n", -1, 0, "", 0, NULL},
        {"25 x\r\n", -1, 0, "", 0, NULL},
        {"abc\r\n", -1, 0, "", 0, NULL},
        {"250x\r\n", -1, 0, "", 0, NULL},
        {"150 x\r\n", -1, 0, "", 0, NULL},
        {"650 x\r\n", -1, 0, "", 0, NULL},
        {"\r\n", -1, 0, "", 0, NULL},
        {"250-a\r\n", 0, 0, "", 0, NULL},
        {"250 a", 0, 0, "", 0, NULL},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct smtp_reply_reader *r = smtp_reply_reader_create(0, 0);
            const char *why = NULL;
            size_t used = 0;
            int ret = feed(r, t[i].in, strlen(t[i].in), bytewise, &used, &why);
            if (ret != t[i].ret)
                fprintf(stderr, "  case %zu bytewise %d: %d\n", i, bytewise, ret);
            CHECK_INTEQ(ret, t[i].ret);
            if (ret == 1) {
                const struct smtp_reply *rep = smtp_reply_reader_reply(r);
                CHECK(rep != NULL);
                CHECK_INTEQ(used, strlen(t[i].in));
                CHECK_INTEQ(rep->code, t[i].code);
                CHECK_STREQ(rep->dsn, t[i].dsn);
                CHECK_INTEQ(rep->lines->argc, t[i].nlines);
                CHECK_STREQ(buf_str(rep->text), t[i].text);
            } else if (ret < 0) {
                CHECK(why != NULL);
                /* sticky */
                CHECK_INTEQ(smtp_reply_reader_feed(r, "250 ok\r\n", 8, &used, NULL), -1);
            } else {
                CHECK(smtp_reply_reader_reply(r) == NULL);
            }
            smtp_reply_reader_free(&r);
        }
    }
}

static void test_reader_pipelined(void)
{
    const char *in = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data\r\n";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct smtp_reply_reader *r = smtp_reply_reader_create(0, 0);
        size_t pos = 0, used;
        int codes[3], n = 0;
        while (pos < strlen(in) && n < 3) {
            CHECK_INTEQ(feed(r, in + pos, strlen(in) - pos, bytewise, &used, NULL), 1);
            codes[n++] = smtp_reply_reader_reply(r)->code;
            pos += used;
        }
        CHECK_INTEQ(n, 3);
        CHECK_INTEQ(pos, strlen(in));
        CHECK_INTEQ(codes[0], 250);
        CHECK_INTEQ(codes[1], 250);
        CHECK_INTEQ(codes[2], 354);
        CHECK_STREQ(smtp_reply_reader_reply(r)->lines->argv[0], "End data");
        smtp_reply_reader_free(&r);
    }
}

static void test_reader_limits(void)
{
    struct smtp_reply_reader *r;
    struct buf *b = buf_create(0);
    const char *why = NULL;
    size_t used;

    /* line length: 20 octets ok, 21 too long, CR not counted */
    r = smtp_reply_reader_create(20, 3);
    CHECK_INTEQ(smtp_reply_reader_feed(r, "250 6789012345678901\r\n", 22, &used, NULL), 1);
    CHECK_INTEQ(smtp_reply_reader_feed(r, "250 6789012345678901\n", 21, &used, NULL), 1);
    CHECK_INTEQ(smtp_reply_reader_feed(r, "250 67890123456789012\r\n", 23, &used, &why), -1);
    CHECK_STREQ(why, "reply line too long");
    smtp_reply_reader_free(&r);

    /* an endless line without LF fails as soon as it is too long */
    r = smtp_reply_reader_create(20, 3);
    for (int i = 0; i < 30; i++)
        buf_putc(b, '5');
    CHECK_INTEQ(smtp_reply_reader_feed(r, buf_str(b), buf_len(b), &used, NULL), -1);
    smtp_reply_reader_free(&r);

    /* line count: 3 ok, 4 too many */
    r = smtp_reply_reader_create(20, 3);
    CHECK_INTEQ(smtp_reply_reader_feed(r, "250-a\r\n250-b\r\n250 c\r\n", 21, &used, NULL), 1);
    CHECK_INTEQ(smtp_reply_reader_feed(r, "250-a\r\n250-b\r\n250-c\r\n250 d\r\n", 28, &used,
                                       &why),
                -1);
    CHECK_STREQ(why, "too many reply lines");
    smtp_reply_reader_free(&r);
    buf_free(&b);
}

static void test_ehlo(void)
{
    const char *in = "250-mx.example.com Hello client [192.0.2.1]\r\n"
                     "250-PIPELINING\r\n"
                     "250-SIZE 10240000\r\n"
                     "250-VRFY\r\n"
                     "250-ETRN\r\n"
                     "250-starttls\r\n"
                     "250-AUTH PLAIN LOGIN\r\n"
                     "250-AUTH=LOGIN CRAM-MD5\r\n"
                     "250-ENHANCEDSTATUSCODES\r\n"
                     "250-8BITMIME\r\n"
                     "250-DSN\r\n"
                     "250-SMTPUTF8\r\n"
                     "250-CHUNKING\r\n"
                     "250-X-FOO bar baz\r\n"
                     "250-garbage! line\r\n"
                     "250 BINARYMIME\r\n";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct smtp_reply_reader *r = smtp_reply_reader_create(0, 0);
        struct smtp_ehlo *e;
        size_t used;

        CHECK_INTEQ(feed(r, in, strlen(in), bytewise, &used, NULL), 1);
        CHECK_INTEQ(smtp_ehlo_parse(smtp_reply_reader_reply(r), &e, NULL), 0);
        CHECK_STREQ(e->domain, "mx.example.com");
        CHECK_INTEQ(e->ext, SMTP_EHLO_PIPELINING | SMTP_EHLO_SIZE | SMTP_EHLO_VRFY |
                                SMTP_EHLO_ETRN | SMTP_EHLO_STARTTLS | SMTP_EHLO_AUTH |
                                SMTP_EHLO_ENHANCEDSTATUSCODES | SMTP_EHLO_8BITMIME |
                                SMTP_EHLO_DSN | SMTP_EHLO_SMTPUTF8 | SMTP_EHLO_CHUNKING |
                                SMTP_EHLO_BINARYMIME);
        CHECK_INTEQ(e->size, 10240000);
        CHECK_INTEQ(e->auth->argc, 3);
        CHECK_STREQ(e->auth->argv[0], "PLAIN");
        CHECK_STREQ(e->auth->argv[1], "LOGIN");
        CHECK_STREQ(e->auth->argv[2], "CRAM-MD5");
        CHECK_STREQ(smtp_ehlo_find(e, "size"), "10240000");
        CHECK_STREQ(smtp_ehlo_find(e, "STARTTLS"), "");
        CHECK_STREQ(smtp_ehlo_find(e, "x-foo"), "bar baz");
        CHECK_STREQ(smtp_ehlo_find(e, "AUTH"), "PLAIN LOGIN");
        CHECK(smtp_ehlo_find(e, "X-FO") == NULL);
        CHECK(smtp_ehlo_find(e, "REQUIRETLS") == NULL);
        CHECK(smtp_ehlo_find(e, "garbage!") == NULL);
        smtp_ehlo_free(&e);
        CHECK(e == NULL);
        smtp_reply_reader_free(&r);
    }
    /* not a 250 reply */
    {
        struct smtp_reply_reader *r = smtp_reply_reader_create(0, 0);
        struct smtp_ehlo *e;
        size_t used;
        CHECK_INTEQ(smtp_reply_reader_feed(r, "502 5.5.1 no\r\n", 14, &used, NULL), 1);
        CHECK_INTEQ(smtp_ehlo_parse(smtp_reply_reader_reply(r), &e, NULL), -1);
        CHECK(e == NULL);
        smtp_reply_reader_free(&r);
    }
    /* SIZE without a number, single-line reply */
    {
        struct smtp_reply_reader *r = smtp_reply_reader_create(0, 0);
        struct smtp_ehlo *e;
        size_t used;
        CHECK_INTEQ(smtp_reply_reader_feed(r, "250-x\r\n250 SIZE\r\n", 17, &used, NULL), 1);
        CHECK_INTEQ(smtp_ehlo_parse(smtp_reply_reader_reply(r), &e, NULL), 0);
        CHECK_INTEQ(e->ext, SMTP_EHLO_SIZE);
        CHECK_INTEQ(e->size, 0);
        smtp_ehlo_free(&e);
        CHECK_INTEQ(smtp_reply_reader_feed(r, "250 x\r\n", 7, &used, NULL), 1);
        CHECK_INTEQ(smtp_ehlo_parse(smtp_reply_reader_reply(r), &e, NULL), 0);
        CHECK_INTEQ(e->ext, 0);
        CHECK_INTEQ(e->keywords->argc, 0);
        smtp_ehlo_free(&e);
        smtp_reply_reader_free(&r);
    }
}

/* Formatting then parsing gives back the same reply. */
static void test_round_trip(void)
{
    static const char *const lines[] = {"first", "", "third line"};
    struct smtp_reply_reader *r = smtp_reply_reader_create(0, 0);
    struct buf *b = buf_create(0);
    const struct smtp_reply *rep;
    size_t used;

    smtp_reply_format(b, 452, "4.5.3", lines, 3);
    CHECK_INTEQ(smtp_reply_reader_feed(r, buf_str(b), buf_len(b), &used, NULL), 1);
    rep = smtp_reply_reader_reply(r);
    CHECK_INTEQ(rep->code, 452);
    CHECK_STREQ(rep->dsn, "4.5.3");
    CHECK_INTEQ(rep->lines->argc, 3);
    CHECK_STREQ(rep->lines->argv[0], "first");
    CHECK_STREQ(rep->lines->argv[1], "");
    CHECK_STREQ(rep->lines->argv[2], "third line");
    smtp_reply_reader_free(&r);
    buf_free(&b);
}

int main(void)
{
    TEST_RUN(test_format);
    TEST_RUN(test_format_long);
    TEST_RUN(test_dsn_valid);
    TEST_RUN(test_reader);
    TEST_RUN(test_reader_pipelined);
    TEST_RUN(test_reader_limits);
    TEST_RUN(test_ehlo);
    TEST_RUN(test_round_trip);
    return test_summary();
}
