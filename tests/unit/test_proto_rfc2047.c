/* Unit tests for lib/proto/rfc2047: encoded-word decoding and encoding. */
#include "config.h"

#include <string.h>

#include "lib/proto/mailbox.h"
#include "lib/proto/rfc2047.h"
#include "lib/util/buf.h"
#include "tests/unit/test.h"

static void test_decode(void)
{
    static const struct {
        const char *in;
        int words;
        const char *out;
    } t[] = {
        /* RFC 2047 section 8 examples */
        {"=?ISO-8859-1?Q?a?=", 1, "a"},
        {"=?ISO-8859-1?Q?a?= b", 1, "a b"},
        {"=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", 2, "ab"},
        {"=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=", 2, "ab"},
        {"=?ISO-8859-1?Q?a?=\n    =?ISO-8859-1?Q?b?=", 2, "ab"},
        {"=?ISO-8859-1?Q?a_b?=", 1, "a b"},
        {"=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=", 2, "a b"},
        {"(=?ISO-8859-1?Q?a?=)", 1, "(a)"},
        {"=?US-ASCII?Q?Keith_Moore?=", 1, "Keith Moore"},
        {"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=", 1, "Keld J\xc3\xb8rn Simonsen"},
        {"=?ISO-8859-1?Q?Andr=E9?= Pirard", 1, "Andr\xc3\xa9 Pirard"},
        {"=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=", 1, "If you can read this yo"},
        {"=?utf-8?b?SsO2cmc=?=", 1, "J\xc3\xb6rg"},
        {"=?UTF-8?B?SsO2cmc?=", 1, "J\xc3\xb6rg"}, /* missing padding */
        {"=?UTF-8*de?Q?J=C3=B6rg?=", 1, "J\xc3\xb6rg"}, /* RFC 2231 language */
        {"=?ISO-8859-15?Q?=A4?=", 1, "\xe2\x82\xac"},   /* via iconv */
        {"=?KOI8-R?B?8NLJ18XU?=", 1, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"},
        {"Re: =?UTF-8?Q?caf=C3=A9?= time", 1, "Re: caf\xc3\xa9 time"},
        {"x=?UTF-8?Q?y?=z", 1, "xyz"}, /* lenient: touching text */
        /* not encoded-words: left alone */
        {"=?UTF-8?X?abc?=", 0, "=?UTF-8?X?abc?="},
        {"=?UTF-8?Q?abc", 0, "=?UTF-8?Q?abc"},
        {"=??Q?abc?=", 0, "=??Q?abc?="},
        {"=?UTF-8?Q?a b?=", 0, "=?UTF-8?Q?a b?="},
        {"=?NO-SUCH-CHARSET?Q?abc?=", 0, "=?NO-SUCH-CHARSET?Q?abc?="},
        {"=?UTF-8?B?!!!?=", 0, "=?UTF-8?B?!!!?="},
        {"=?UTF-8?Q?=ZZ?=", 0, "=?UTF-8?Q?=ZZ?="},
        {"=?UTF-8?Q?=4?=", 0, "=?UTF-8?Q?=4?="},
        {"plain text", 0, "plain text"},
        {"", 0, ""},
        {"=?", 0, "=?"},
        {"a=?b", 0, "a=?b"},
        /* decoded controls and bad UTF-8 cannot get through */
        {"=?UTF-8?Q?a=0D=0Ab=00c?=", 1, "a??b?c"},
        {"=?UTF-8?Q?=C3?=", 1, "\xef\xbf\xbd"},
        {"=?UTF-8?Q?=ED=A0=80?=", 1, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"raw \xff byte", 0, "raw \xef\xbf\xbd byte"},
        {"folded\n text", 0, "folded text"},
        {"=?UTF-8?Q?a?= \n plain", 1, "a  plain"},
    };
    struct buf *b = buf_create(0);

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        buf_set(b, "");
        int words = rfc2047_decode(b, t[i].in, strlen(t[i].in));
        if (words != t[i].words || strcmp(buf_str(b), t[i].out) != 0)
            fprintf(stderr, "  case %zu \"%s\": %d \"%s\"\n", i, t[i].in, words, buf_str(b));
        CHECK_INTEQ(words, t[i].words);
        CHECK_STREQ(buf_str(b), t[i].out);
    }
    buf_free(&b);
}

static void test_encode(void)
{
    static const struct {
        const char *in;
        size_t col;
        const char *out;
    } t[] = {
        {"Hello world", 9, "Hello world"},
        {"  Hello   world  ", 9, "Hello world"},
        {"caf\xc3\xa9", 9, "=?UTF-8?Q?caf=C3=A9?="},
        {"Re: caf\xc3\xa9 time", 9, "Re: =?UTF-8?Q?caf=C3=A9?= time"},
        {"caf\xc3\xa9 cr\xc3\xa8me", 9, "=?UTF-8?Q?caf=C3=A9_cr=C3=A8me?="},
        {"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", 9, "=?UTF-8?B?0J/RgNC40LLQtdGC?="},
        {"not =?encoded?= really", 9, "not =?UTF-8?Q?=3D=3Fencoded=3F=3D?= really"},
        {"", 9, ""},
    };
    struct buf *b = buf_create(0);

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        buf_set(b, "");
        rfc2047_encode(b, t[i].in, strlen(t[i].in), t[i].col);
        CHECK_STREQ(buf_str(b), t[i].out);
    }
    buf_free(&b);
}

/* Check line lengths of an encoded value and the 75-character word limit. */
static void check_shape(const char *v, size_t col)
{
    const char *p = v;

    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t line = nl ? (size_t)(nl - p) : strlen(p);
        /* a line may exceed only when it is one long plain word */
        if (col + line > RFC2047_LINE_MAX && memchr(p, ' ', line) && strstr(p, "=?"))
            test_case_failed = 1, fprintf(stderr, "  long line: %.*s\n", (int)line, p);
        if (!nl)
            break;
        CHECK(nl[1] == ' ');
        p = nl + 1;
        col = 0;
    }
    for (p = v; (p = strstr(p, "=?UTF-8?")) != NULL;) {
        const char *end = strstr(p + 10, "?=");
        CHECK(end != NULL);
        if (!end)
            break;
        CHECK((size_t)(end + 2 - p) <= RFC2047_WORD_MAX);
        p = end + 2;
    }
}

static unsigned long rng_next(unsigned long *s)
{
    *s = *s * 6364136223846793005UL + 1442695040888963407UL;
    return *s >> 33;
}

/* encode then decode gives the text back (white space normalised). */
static void test_round_trip(void)
{
    static const char *const pieces[] = {"a",        "word",         "\xc3\xa9", "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80", "=?",  "_",        "?",
                                         "\xd0\xb8\xd0\xb8", "x\xc3\xa9y", "long-plain-word"};
    unsigned long seed = 99;
    struct buf *in = buf_create(0), *enc = buf_create(0), *dec = buf_create(0);

    for (int n = 0; n < 2000 && !test_case_failed; n++) {
        size_t words = 1 + rng_next(&seed) % 30;
        buf_reset(in);
        for (size_t w = 0; w < words; w++) {
            size_t parts = 1 + rng_next(&seed) % 4;
            if (w)
                buf_putc(in, ' ');
            for (size_t k = 0; k < parts; k++)
                buf_puts(in, pieces[rng_next(&seed) % (sizeof(pieces) / sizeof(pieces[0]))]);
        }
        buf_reset(enc);
        buf_reset(dec);
        rfc2047_encode(enc, buf_str(in), buf_len(in), 9);
        CHECK(!mailbox_has_8bit(buf_str(enc), buf_len(enc)));
        check_shape(buf_str(enc), 9);
        rfc2047_decode(dec, buf_str(enc), buf_len(enc));
        if (strcmp(buf_str(dec), buf_str(in)) != 0)
            fprintf(stderr, "  in  %s\n  enc %s\n  dec %s\n", buf_str(in), buf_str(enc),
                    buf_str(dec));
        CHECK_STREQ(buf_str(dec), buf_str(in));
    }
    buf_free(&in);
    buf_free(&enc);
    buf_free(&dec);
}

int main(void)
{
    TEST_RUN(test_decode);
    TEST_RUN(test_encode);
    TEST_RUN(test_round_trip);
    return test_summary();
}
