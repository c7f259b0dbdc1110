/* Unit tests for lib/proto/xtext: RFC 3461 xtext and RFC 6533 utf-8-addr forms. */
#include "config.h"

#include <string.h>

#include "lib/proto/xtext.h"
#include "lib/util/buf.h"
#include "tests/unit/test.h"

static void test_xtext_encode(void)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } t[] = {
        {"user@example.com", 16, "user@example.com"},
        {"a+b=c", 5, "a+2Bb+3Dc"},
        {"a b", 3, "a+20b"},
        {"\x01\x7f\xff", 3, "+01+7F+FF"},
        {"", 0, ""},
        {"x\0y", 3, "x+00y"},
        {"!~", 2, "!~"},
    };
    struct buf *b = buf_create(0);

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        buf_set(b, "");
        xtext_encode(b, t[i].in, t[i].len);
        CHECK_STREQ(buf_str(b), t[i].out);
    }
    buf_free(&b);
}

static void test_xtext_decode(void)
{
    static const struct {
        const char *in;
        int ret;
        const char *out;
        size_t out_len;
    } t[] = {
        {"user@example.com", 0, "user@example.com", 16},
        {"a+2Bb+3Dc", 0, "a+b=c", 5},
        {"a+2bb", 0, "a+b", 3}, /* lower-case hex accepted */
        {"+00", 0, "\0", 1},
        {"", 0, "", 0},
        {"a+2", -1, NULL, 0},
        {"a+", -1, NULL, 0},
        {"a+G0", -1, NULL, 0},
        {"a=b", -1, NULL, 0},
        {"a b", -1, NULL, 0},
        {"a\x7f", -1, NULL, 0},
        {"a\xc3\xa9", -1, NULL, 0},
    };
    struct buf *b = buf_create(0);

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const char *why = NULL;
        buf_set(b, "pre");
        int ret = xtext_decode(b, t[i].in, strlen(t[i].in), &why);
        CHECK_INTEQ(ret, t[i].ret);
        if (ret == 0) {
            CHECK_INTEQ(buf_len(b), 3 + t[i].out_len);
            CHECK(memcmp(buf_str(b) + 3, t[i].out, t[i].out_len) == 0);
        } else {
            CHECK(why != NULL);
            CHECK_STREQ(buf_str(b), "pre"); /* restored */
        }
    }
    buf_free(&b);
}

static void test_xtext_round_trip(void)
{
    struct buf *enc = buf_create(0), *dec = buf_create(0);
    char all[256];

    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    xtext_encode(enc, all, sizeof(all));
    for (size_t i = 0; i < buf_len(enc); i++)
        CHECK(buf_str(enc)[i] >= '!' && buf_str(enc)[i] <= '~' && buf_str(enc)[i] != '=');
    CHECK_INTEQ(xtext_decode(dec, buf_str(enc), buf_len(enc), NULL), 0);
    CHECK_INTEQ(buf_len(dec), 256);
    CHECK(memcmp(buf_str(dec), all, 256) == 0);
    buf_free(&enc);
    buf_free(&dec);
}

static void test_utf8_decode(void)
{
    static const struct {
        const char *in;
        bool unitext;
        int ret;
        const char *out;
    } t[] = {
        {"user@example.com", false, 0, "user@example.com"},
        {"j\\x{F6}rg@example.com", false, 0, "j\xc3\xb6rg@example.com"},
        {"j\\x{f6}rg@example.com", false, 0, "j\xc3\xb6rg@example.com"},
        {"\\x{20AC}@x", false, 0, "\xe2\x82\xac@x"},
        {"\\x{1F600}@x", false, 0, "\xf0\x9f\x98\x80@x"},
        {"\\x{10FFFF}", false, 0, "\xf4\x8f\xbf\xbf"},
        {"a\\x{2B}b", false, 0, "a+b"},
        {"a\\x{5C}b", false, 0, "a\\b"},
        {"a+2Bb", false, 0, "a+b"},
        {"j\xc3\xb6rg@x", true, 0, "j\xc3\xb6rg@x"},
        {"j\xc3\xb6rg@x", false, -1, NULL}, /* raw UTF-8 only in unitext */
        {"j\xc3rg@x", true, -1, NULL},      /* malformed raw UTF-8 */
        {"\\x{110000}", false, -1, NULL},
        {"\\x{D800}", false, -1, NULL},
        {"\\x{0}", false, -1, NULL},
        {"\\x{}", false, -1, NULL},
        {"\\x{1234567}", false, -1, NULL},
        {"\\x{41", false, -1, NULL},
        {"\\x41", false, -1, NULL},
        {"\\y{41}", false, -1, NULL},
        {"\\", false, -1, NULL},
        {"a=b", false, -1, NULL},
        {"a b", false, -1, NULL},
        {"+C3+B6", false, 0, "\xc3\xb6"},
        {"+C3", false, -1, NULL}, /* decodes to malformed UTF-8 */
    };
    struct buf *b = buf_create(0);

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const char *why = NULL;
        buf_set(b, "");
        int ret = xtext_utf8_decode(b, t[i].in, strlen(t[i].in), t[i].unitext, &why);
        if (ret != t[i].ret)
            fprintf(stderr, "  case %zu \"%s\"\n", i, t[i].in);
        CHECK_INTEQ(ret, t[i].ret);
        if (ret == 0)
            CHECK_STREQ(buf_str(b), t[i].out);
        else
            CHECK(buf_len(b) == 0 && why != NULL);
    }
    buf_free(&b);
}

static void test_utf8_encode(void)
{
    static const struct {
        const char *in;
        const char *out;
    } t[] = {
        {"user@example.com", "user@example.com"},
        {"j\xc3\xb6rg@x", "j\\x{F6}rg@x"},
        {"a+b=c\\d e", "a\\x{2B}b\\x{3D}c\\x{5C}d\\x{20}e"},
        {"\xe2\x82\xac", "\\x{20AC}"},
        {"\xf0\x9f\x98\x80", "\\x{1F600}"},
        {"\x01", "\\x{01}"},
    };
    struct buf *b = buf_create(0), *d = buf_create(0);

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        buf_set(b, "");
        CHECK_INTEQ(xtext_utf8_encode(b, t[i].in, strlen(t[i].in), NULL), 0);
        CHECK_STREQ(buf_str(b), t[i].out);
        buf_set(d, "");
        CHECK_INTEQ(xtext_utf8_decode(d, buf_str(b), buf_len(b), false, NULL), 0);
        CHECK_STREQ(buf_str(d), t[i].in);
    }
    buf_set(b, "");
    CHECK_INTEQ(xtext_utf8_encode(b, "\xc3", 1, NULL), -1);
    CHECK_INTEQ(buf_len(b), 0);
    buf_free(&b);
    buf_free(&d);
}

int main(void)
{
    TEST_RUN(test_xtext_encode);
    TEST_RUN(test_xtext_decode);
    TEST_RUN(test_xtext_round_trip);
    TEST_RUN(test_utf8_decode);
    TEST_RUN(test_utf8_encode);
    return test_summary();
}
