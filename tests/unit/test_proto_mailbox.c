/* Unit tests for lib/proto/mailbox: local parts, domains, literals, UTF-8, quoting. */
#include "config.h"

#include <string.h>

#include "lib/proto/mailbox.h"
#include "lib/util/buf.h"
#include "tests/unit/test.h"

#define S MAILBOX_ERR_SYNTAX
#define E8 MAILBOX_ERR_8BIT
#define TL MAILBOX_ERR_TOOLONG
#define U MAILBOX_UTF8
#define L MAILBOX_LENIENT

static void test_utf8_valid(void)
{
    static const struct {
        const char *s;
        bool ok;
    } t[] = {
        {"", true},
        {"plain ascii", true},
        {"caf\xc3\xa9", true},                 /* é */
        {"\xe2\x82\xac", true},                /* € */
        {"\xf0\x9f\x98\x80", true},            /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", true},            /* U+10FFFF */
        {"\xc3", false},                       /* truncated */
        {"\xe2\x82", false},                   /* truncated */
        {"\xc0\xaf", false},                   /* overlong '/' */
        {"\xc1\xbf", false},                   /* overlong */
        {"\xe0\x80\xaf", false},               /* overlong */
        {"\xf0\x80\x80\xaf", false},           /* overlong */
        {"\xed\xa0\x80", false},               /* surrogate D800 */
        {"\xed\xbf\xbf", false},               /* surrogate DFFF */
        {"\xf4\x90\x80\x80", false},           /* above 10FFFF */
        {"\xf5\x80\x80\x80", false},           /* invalid lead */
        {"\xff", false},
        {"\x80", false},                       /* lone continuation */
        {"a\xc3\xa9\xc3", false},
        {"\xc3\x28", false},                   /* bad continuation */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        bool ok = mailbox_utf8_valid(t[i].s, strlen(t[i].s));
        if (ok != t[i].ok)
            fprintf(stderr, "  case %zu\n", i);
        CHECK(ok == t[i].ok);
    }
}

static void test_local_parse(void)
{
    static const struct {
        const char *in;
        int flags;
        int ret;
        const char *internal;
        size_t used;
    } t[] = {
        {"user", 0, 0, "user", 4},
        {"user@example.com", 0, 0, "user", 4},
        {"first.last@x", 0, 0, "first.last", 10},
        {"a+tag@x", 0, 0, "a+tag", 5},
        {"!#$%&'*+-/=?^_`{|}~@x", 0, 0, "!#$%&'*+-/=?^_`{|}~", 19},
        {"\"john doe\"@x", 0, 0, "john doe", 10},
        {"\"a\\\"b\"@x", 0, 0, "a\"b", 6},
        {"\"a\\\\b\"@x", 0, 0, "a\\b", 6},
        {"\"a@b\"@x", 0, 0, "a@b", 5},
        {"\"\"@x", 0, 0, "", 2},
        {"\"a\\ b\"@x", 0, 0, "a b", 6},
        {"\"a\\\x01\"@x", 0, S, NULL, 0},      /* quoted-pair of a control */
        {"\"a\x01\"@x", 0, S, NULL, 0},        /* control in qtext */
        {"\"abc@x", 0, S, NULL, 0},            /* unterminated */
        {"\"abc\\", 0, S, NULL, 0},
        {"\"abc\"x@x", 0, S, NULL, 0},         /* garbage after quote */
        {"a..b@x", 0, S, NULL, 0},
        {"a..b@x", L, 0, "a..b", 4},
        {".a@x", 0, S, NULL, 0},
        {".a@x", L, 0, ".a", 2},
        {"a.@x", 0, S, NULL, 0},
        {"a.@x", L, 0, "a.", 2},
        {"@x", 0, S, NULL, 0},
        {"", 0, S, NULL, 0},
        {"a b@x", 0, S, NULL, 0},
        {"a(b)@x", L, S, NULL, 0},
        {"a,b@x", L, S, NULL, 0},
        {"j\xc3\xb6rg@x", 0, E8, NULL, 0},
        {"j\xc3\xb6rg@x", U, 0, "j\xc3\xb6rg", 5},
        {"j\xc3rg@x", U, S, NULL, 0},           /* malformed UTF-8 */
        {"\"j\xc3\xb6 rg\"@x", U, 0, "j\xc3\xb6 rg", 8},
        {"\"j\xc3\xb6rg\"@x", 0, E8, NULL, 0},
        {"\"\\\xc3\xb6\"@x", U, S, NULL, 0},    /* quoted-pair is ASCII only */
        /* 64 octets is the limit, 65 is too long */
        {"1234567890123456789012345678901234567890123456789012345678901234@x", 0, 0,
         "1234567890123456789012345678901234567890123456789012345678901234", 64},
        {"12345678901234567890123456789012345678901234567890123456789012345@x", 0, TL, NULL,
         0},
        {"\"123456789012345678901234567890123456789012345678901234567890123\"@x", 0, TL, NULL,
         0},
    };
    struct buf *b = buf_create(0);

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t used = 999;
        const char *why = NULL;
        buf_set(b, "");
        int ret = mailbox_local_parse(t[i].in, strlen(t[i].in), t[i].flags, b, &used, &why);
        if (ret != t[i].ret)
            fprintf(stderr, "  case %zu \"%s\": %d (%s)\n", i, t[i].in, ret, why ? why : "");
        CHECK_INTEQ(ret, t[i].ret);
        if (ret == 0) {
            CHECK_STREQ(buf_str(b), t[i].internal);
            CHECK_INTEQ(used, t[i].used);
        } else {
            CHECK(why != NULL);
            CHECK_INTEQ(buf_len(b), 0);
        }
    }
    buf_free(&b);
}

static void test_domain_check(void)
{
    char long_label[80], long_dom[300];
    static const struct {
        const char *in;
        int flags;
        int ret;
    } t[] = {
        {"example.com", 0, 0},
        {"EXAMPLE.COM", 0, 0},
        {"a", 0, 0},
        {"a-b.c-d.e", 0, 0},
        {"1.2.3.4", 0, 0}, /* syntactically a domain */
        {"xn--bcher-kva.example", 0, 0},
        {"-a.com", 0, S},
        {"-a.com", L, 0},
        {"a-.com", 0, S},
        {"a_b.com", 0, S},
        {"a_b.com", L, 0},
        {"a..com", 0, S},
        {"a..com", L, S},
        {".a.com", 0, S},
        {"a.com.", 0, S},
        {"", 0, S},
        {"a b.com", 0, S},
        {"a@b.com", 0, S},
        {"b\xc3\xbc" "cher.example", 0, E8},
        {"b\xc3\xbc" "cher.example", U, 0},
        {"b\xc3" "cher.example", U, S},
        {"[1.2.3.4]", 0, 0},
        {"[255.255.255.255]", 0, 0},
        {"[001.002.003.004]", 0, 0},
        {"[256.1.1.1]", 0, S},
        {"[1.2.3]", 0, S},
        {"[1.2.3.4.5]", 0, S},
        {"[1.2.3.4", 0, S},
        {"[1..3.4]", 0, S},
        {"[1.2.3.1234]", 0, S},
        {"[IPv6:::1]", 0, 0},
        {"[ipv6:2001:db8::1]", 0, 0},
        {"[IPv6:2001:0db8:0000:0000:0000:0000:0000:0001]", 0, 0},
        {"[IPv6:::ffff:192.0.2.1]", 0, 0},
        {"[IPv6:2001:db8::1::2]", 0, S},
        {"[IPv6:2001:db8:1:2:3:4:5:6:7]", 0, S},
        {"[IPv6:12345::1]", 0, S},
        {"[IPv6:]", 0, S},
        {"[IPv6:g::1]", 0, S},
        {"[IPv6:1.2.3.4]", 0, S},
        {"[x-tag:foo]", 0, S},
        {"[]", 0, S},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const char *why = NULL;
        int ret = mailbox_domain_check(t[i].in, strlen(t[i].in), t[i].flags, &why);
        if (ret != t[i].ret)
            fprintf(stderr, "  case %zu \"%s\": %d (%s)\n", i, t[i].in, ret, why ? why : "");
        CHECK_INTEQ(ret, t[i].ret);
    }
    /* 63-octet label ok, 64 too long */
    memset(long_label, 'a', 63);
    strcpy(long_label + 63, ".com");
    CHECK_INTEQ(mailbox_domain_check(long_label, strlen(long_label), 0, NULL), 0);
    memset(long_label, 'a', 64);
    strcpy(long_label + 64, ".com");
    CHECK_INTEQ(mailbox_domain_check(long_label, strlen(long_label), 0, NULL), TL);
    /* 255 octets ok, 256 too long */
    for (int i = 0; i < 256; i++)
        long_dom[i] = i % 2 ? '.' : 'a';
    long_dom[255] = 0; /* "a.a. ... a" ends with 'a' at index 254 */
    CHECK_INTEQ(mailbox_domain_check(long_dom, 255, 0, NULL), 0);
    long_dom[255] = 'b';
    long_dom[256] = 0;
    long_dom[254] = 'a';
    CHECK_INTEQ(mailbox_domain_check(long_dom, 256, 0, NULL), TL);
}

static void test_quote_local(void)
{
    static const struct {
        const char *internal;
        int flags;
        const char *external;
    } t[] = {
        {"user", 0, "user"},
        {"first.last", 0, "first.last"},
        {"john doe", 0, "\"john doe\""},
        {"a\"b", 0, "\"a\\\"b\""},
        {"a\\b", 0, "\"a\\\\b\""},
        {"a..b", 0, "\"a..b\""},
        {".a", 0, "\".a\""},
        {"", 0, "\"\""},
        {"a@b", 0, "\"a@b\""},
        {"j\xc3\xb6rg", U, "j\xc3\xb6rg"},
        {"j\xc3\xb6rg", 0, "\"j\xc3\xb6rg\""},
    };
    struct buf *b = buf_create(0);

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        buf_set(b, "");
        mailbox_quote_local(b, t[i].internal, strlen(t[i].internal), t[i].flags);
        CHECK_STREQ(buf_str(b), t[i].external);
    }
    /* quoting and parsing round trip */
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct buf *in = buf_create(0);
        size_t used;
        buf_set(b, "");
        mailbox_quote_local(b, t[i].internal, strlen(t[i].internal), t[i].flags);
        CHECK_INTEQ(mailbox_local_parse(buf_str(b), buf_len(b), t[i].flags | U, in, &used, NULL),
                    0);
        CHECK_STREQ(buf_str(in), t[i].internal);
        buf_free(&in);
    }
    buf_free(&b);
}

static void test_dot_atom(void)
{
    CHECK(mailbox_is_dot_atom("a.b", 3, 0));
    CHECK(!mailbox_is_dot_atom("a..b", 4, 0));
    CHECK(!mailbox_is_dot_atom("", 0, 0));
    CHECK(!mailbox_is_dot_atom("a.", 2, 0));
    CHECK(!mailbox_is_dot_atom("\xc3\xa9", 2, 0));
    CHECK(mailbox_is_dot_atom("\xc3\xa9", 2, U));
    CHECK(!mailbox_is_dot_atom("\xc3", 1, U));
    CHECK(mailbox_has_8bit("a\x80", 2));
    CHECK(!mailbox_has_8bit("abc", 3));
}

/* The '@' between local part and domain: the last one outside quotes. */
static void test_at_sign(void)
{
    static const struct {
        const char *in;
        ssize_t at;
    } cases[] = {
        {"joe@example.com", 3},
        {"joe", -1},
        {"", -1},
        {"@example.com", 0},
        {"a@b@c", 3},
        {"\"a@b\"@c", 5},
        {"\"a@b\"", -1},
        {"\"a\\\"@b\"@c", 7},   /* "a\"@b"@c: the escaped quote does not end the string */
        {"\"unterminated@x", -1},
        {"a\\@b", 2},            /* a backslash outside quotes escapes nothing */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ssize_t at = mailbox_at_sign(cases[i].in, strlen(cases[i].in));

        if (at != cases[i].at) {
            fprintf(stderr, "  \"%s\": at %zd, expected %zd\n", cases[i].in, at, cases[i].at);
            CHECK(0);
        }
    }
    /* Bounded by len: an '@' after it is not seen. */
    CHECK(mailbox_at_sign("ab@cd", 2) == -1);
    CHECK(mailbox_at_sign("a@b", 2) == 1);
}

int main(void)
{
    TEST_RUN(test_utf8_valid);
    TEST_RUN(test_local_parse);
    TEST_RUN(test_domain_check);
    TEST_RUN(test_quote_local);
    TEST_RUN(test_dot_atom);
    TEST_RUN(test_at_sign);
    return test_summary();
}
