/* Unit tests for lib/util/str: bounded copies, case folding, trimming, parsers. */
#include "config.h"

#include <ctype.h>
#include <limits.h>

#include "lib/util/str.h"
#include "tests/unit/test.h"

static void test_copy(void)
{
    char b[6];

    CHECK_INTEQ(str_copy(b, sizeof(b), "hello"), 0);
    CHECK_STREQ(b, "hello");
    CHECK_INTEQ(str_copy(b, sizeof(b), "hello!"), -1);
    CHECK_STREQ(b, "hello");
    CHECK_INTEQ(str_copy(b, sizeof(b), ""), 0);
    CHECK_STREQ(b, "");
    CHECK_INTEQ(str_copy(b, 1, "x"), -1);
    CHECK_STREQ(b, "");
    b[0] = 'Q';
    CHECK_INTEQ(str_copy(b, 0, "x"), -1);
    CHECK(b[0] == 'Q');
    CHECK_INTEQ(str_copyn(b, sizeof(b), "abcdefgh", 3), 0);
    CHECK_STREQ(b, "abc");
    CHECK_INTEQ(str_copyn(b, sizeof(b), "ab\0cd", 5), 0);
    CHECK_STREQ(b, "ab");
    CHECK_INTEQ(str_copyn(b, sizeof(b), "abcdefgh", 6), -1);
    CHECK_STREQ(b, "abcde");

    str_copy(b, sizeof(b), "ab");
    CHECK_INTEQ(str_append(b, sizeof(b), "cd"), 0);
    CHECK_STREQ(b, "abcd");
    CHECK_INTEQ(str_append(b, sizeof(b), "e"), 0);
    CHECK_STREQ(b, "abcde");
    CHECK_INTEQ(str_append(b, sizeof(b), "f"), -1);
    CHECK_STREQ(b, "abcde");
    memset(b, 'x', sizeof(b)); /* unterminated: refused, untouched */
    CHECK_INTEQ(str_append(b, sizeof(b), "f"), -1);
    CHECK(b[5] == 'x');
}

static void test_icase(void)
{
    CHECK(str_eq_icase("MAIL FROM", "mail from"));
    CHECK(!str_eq_icase("MAIL", "MAILX"));
    CHECK(!str_eq_icase("", "a"));
    CHECK(str_eq_icase("", ""));
    CHECK(str_cmp_icase("a", "B") < 0);
    CHECK(str_cmp_icase("b", "A") > 0);
    /* Bytes above 0x7f are not folded and compare as unsigned. */
    CHECK(!str_eq_icase("\xc4", "\xe4"));
    CHECK(str_cmp_icase("\xff", "a") > 0);
    CHECK_INTEQ(str_ncmp_icase("HELOx", "helo", 4), 0);
    CHECK(str_ncmp_icase("HEL", "helo", 4) < 0);
    CHECK_INTEQ(str_ncmp_icase("abc", "xyz", 0), 0);
    CHECK(str_has_prefix("AUTH PLAIN", "AUTH "));
    CHECK(!str_has_prefix("auth PLAIN", "AUTH "));
    CHECK(str_has_prefix_icase("auth PLAIN", "AUTH "));
    CHECK(!str_has_prefix_icase("AUT", "AUTH"));
    CHECK(str_has_suffix_icase("mx.Example.COM", ".example.com"));
    CHECK(str_has_suffix_icase("example.com", "example.com"));
    CHECK(!str_has_suffix_icase("com", ".example.com"));
    CHECK(!str_has_suffix_icase("badexample.com", ".example.com"));
    CHECK_STREQ(str_find_icase("Content-Type: Text/Plain", "text/"), "Text/Plain");
    CHECK(str_find_icase("abc", "abcd") == NULL);
    CHECK(str_find_icase("aaab", "AAB") != NULL);
    CHECK_STREQ(str_find_icase("abc", ""), "abc");
}

static void test_trim_case(void)
{
    char a[] = " \t value with  space \r\n";
    char b[] = "   ";
    char c[] = "x";
    char d[] = "MiXeD 123 \xc4";

    CHECK_STREQ(str_trim(a), "value with  space");
    CHECK_STREQ(str_trim(b), "");
    CHECK_STREQ(str_trim(c), "x");
    str_lower(d);
    CHECK_STREQ(d, "mixed 123 \xc4");
    str_upper(d);
    CHECK_STREQ(d, "MIXED 123 \xc4");
}

static void test_token(void)
{
    char text[] = ",, a, b  c,,";
    char *p = text;
    char *t;
    const char *want[] = {"a", "b", "c"};
    size_t n = 0;

    while ((t = str_token(&p, ", ")) != NULL) {
        CHECK(n < 3);
        if (n < 3)
            CHECK_STREQ(t, want[n]);
        n++;
    }
    CHECK_INTEQ(n, 3);
    CHECK(str_token(&p, ", ") == NULL);
    {
        char empty[] = "";
        char *q = empty;

        CHECK(str_token(&q, " ") == NULL);
    }
}

struct ll_case {
    const char *in;
    long long min, max;
    int ret;
    long long val;
    const char *why;
};

static const struct ll_case ll_cases[] = {
    {"0", 0, 10, 0, 0, NULL},
    {"10", 0, 10, 0, 10, NULL},
    {"11", 0, 10, -1, 0, "out of range"},
    {"-1", 0, 10, -1, 0, "out of range"},
    {"-1", -1, 10, 0, -1, NULL},
    {"+7", 0, 10, 0, 7, NULL},
    {"007", 0, 10, 0, 7, NULL},
    {"9223372036854775807", LLONG_MIN, LLONG_MAX, 0, LLONG_MAX, NULL},
    {"-9223372036854775808", LLONG_MIN, LLONG_MAX, 0, LLONG_MIN, NULL},
    {"9223372036854775808", LLONG_MIN, LLONG_MAX, -1, 0, "out of range"},
    {"-9223372036854775809", LLONG_MIN, LLONG_MAX, -1, 0, "out of range"},
    {"99999999999999999999999", 0, 10, -1, 0, "out of range"},
    {"", 0, 10, -1, 0, "not a number"},
    {"-", 0, 10, -1, 0, "not a number"},
    {"+", 0, 10, -1, 0, "not a number"},
    {" 1", 0, 10, -1, 0, "not a number"},
    {"1 ", 0, 10, -1, 0, "not a number"},
    {"1x", 0, 10, -1, 0, "not a number"},
    {"0x10", 0, 100, -1, 0, "not a number"},
    {"--1", -10, 10, -1, 0, "not a number"},
    {"1.5", 0, 10, -1, 0, "not a number"},
    {"abc", 0, 10, -1, 0, "not a number"},
};

static void test_parse_ll(void)
{
    for (size_t i = 0; i < sizeof(ll_cases) / sizeof(ll_cases[0]); i++) {
        const struct ll_case *c = &ll_cases[i];
        long long v = 12345;
        const char *why = NULL;
        int r = str_parse_ll(c->in, c->min, c->max, &v, &why);

        if (r != c->ret) {
            fprintf(stderr, "  \"%s\": ret %d want %d\n", c->in, r, c->ret);
            test_case_failed = 1;
            continue;
        }
        if (r == 0)
            CHECK_INTEQ(v, c->val);
        else {
            CHECK_STREQ(why, c->why);
            CHECK_INTEQ(v, 12345); /* untouched on failure */
        }
    }
    {
        int v = 0;
        const char *why = NULL;

        CHECK_INTEQ(str_parse_int("2147483647", INT_MIN, INT_MAX, &v, &why), 0);
        CHECK_INTEQ(v, INT_MAX);
        CHECK_INTEQ(str_parse_int("2147483648", INT_MIN, INT_MAX, &v, &why), -1);
        CHECK_STREQ(why, "out of range");
        CHECK_INTEQ(str_parse_int("-2147483648", INT_MIN, INT_MAX, &v, &why), 0);
        CHECK_INTEQ(v, INT_MIN);
    }
}

static void test_parse_bool(void)
{
    bool v = false;
    const char *why = NULL;

    CHECK_INTEQ(str_parse_bool("YES", &v, &why), 0);
    CHECK(v);
    CHECK_INTEQ(str_parse_bool("off", &v, &why), 0);
    CHECK(!v);
    CHECK_INTEQ(str_parse_bool("1", &v, &why), 0);
    CHECK(v);
    CHECK_INTEQ(str_parse_bool("False", &v, &why), 0);
    CHECK(!v);
    CHECK_INTEQ(str_parse_bool("yess", &v, &why), -1);
    CHECK(why != NULL);
    CHECK_INTEQ(str_parse_bool("", &v, &why), -1);
}

static void test_nameval(void)
{
    struct {
        const char *in;
        int ret;
        const char *name, *value;
    } cases[] = {
        {"myhostname = mail.example.com", 0, "myhostname", "mail.example.com"},
        {"  a=b  ", 0, "a", "b"},
        {"a =", 0, "a", ""},
        {"a = b = c", 0, "a", "b = c"},
        {"x\t=\t y z \r\n", 0, "x", "y z"},
        {"= b", -1, NULL, NULL},
        {"   = b", -1, NULL, NULL},
        {"no equals", -1, NULL, NULL},
        {"two words = x", -1, NULL, NULL},
        {"", -1, NULL, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char line[128];
        char *name = NULL, *value = NULL;
        const char *why = NULL;
        int r;

        str_copy(line, sizeof(line), cases[i].in);
        r = str_split_nameval(line, &name, &value, &why);
        if (r != cases[i].ret) {
            fprintf(stderr, "  \"%s\": ret %d want %d\n", cases[i].in, r, cases[i].ret);
            test_case_failed = 1;
            continue;
        }
        if (r == 0) {
            CHECK_STREQ(name, cases[i].name);
            CHECK_STREQ(value, cases[i].value);
        } else {
            CHECK(why != NULL && *why != '\0');
        }
    }
}

/* Hex digits of either case; nothing else. */
static void test_hexval(void)
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++) {
        CHECK_INTEQ(str_hexval(digits[i]), i);
        CHECK_INTEQ(str_hexval(toupper((unsigned char)digits[i])), i);
    }
    CHECK_INTEQ(str_hexval('g'), -1);
    CHECK_INTEQ(str_hexval('G'), -1);
    CHECK_INTEQ(str_hexval('/'), -1);
    CHECK_INTEQ(str_hexval(':'), -1);
    CHECK_INTEQ(str_hexval('@'), -1);
    CHECK_INTEQ(str_hexval('`'), -1);
    CHECK_INTEQ(str_hexval(0), -1);
    CHECK_INTEQ(str_hexval(0xff), -1);
}

/* UTF-8 sequences: lengths, and every way to be malformed. */
static void test_utf8_len(void)
{
    static const struct {
        const char *s;
        size_t len, want;
    } cases[] = {
        {"a", 1, 1},
        {"\x7f", 1, 1},
        {"\xc3\xa9", 2, 2},             /* U+00E9 */
        {"\xe2\x82\xac", 3, 3},         /* U+20AC */
        {"\xf0\x9f\x98\x80", 4, 4},     /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, 4},     /* U+10FFFF */
        {"\xc3\xa9", 1, 0},             /* cut short by len */
        {"\xe2\x82", 2, 0},
        {"\x80", 1, 0},                 /* continuation byte first */
        {"\xc0\x80", 2, 0},             /* overlong */
        {"\xc1\xbf", 2, 0},
        {"\xe0\x80\x80", 3, 0},         /* overlong */
        {"\xf0\x80\x80\x80", 4, 0},     /* overlong */
        {"\xed\xa0\x80", 3, 0},         /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 0},     /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 0},
        {"\xc3\x28", 2, 0},             /* bad continuation */
        {"\xff", 1, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t got = str_utf8_len(cases[i].s, cases[i].len);

        if (got != cases[i].want) {
            fprintf(stderr, "  case %zu: %zu, expected %zu\n", i, got, cases[i].want);
            CHECK(0);
        }
    }
}

/* FNV-1a: the published test values, and no byte ignored. */
static void test_hash(void)
{
    CHECK(str_hash("") == 0xcbf29ce484222325ULL);
    CHECK(str_hash("a") == 0xaf63dc4c8601ec8cULL);
    CHECK(str_hash("foobar") == 0x85944171f73967e8ULL);
    CHECK(str_hash("ab") != str_hash("ba"));
    CHECK(str_hash("\xff") != str_hash("\x7f"));
}

int main(void)
{
    TEST_RUN(test_copy);
    TEST_RUN(test_icase);
    TEST_RUN(test_trim_case);
    TEST_RUN(test_token);
    TEST_RUN(test_parse_ll);
    TEST_RUN(test_parse_bool);
    TEST_RUN(test_nameval);
    TEST_RUN(test_hexval);
    TEST_RUN(test_utf8_len);
    TEST_RUN(test_hash);
    return test_summary();
}
