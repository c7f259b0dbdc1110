/*
 * Unit tests for lib/proto/smtp_data: dot-unstuffing, the end of data, bare
 * CR/LF, SMTP smuggling variants, limits, BDAT. Every input is fed whole,
 * one byte at a time and in pseudo-random pieces; all must agree.
 */
#include "config.h"

#include <string.h>

#include "lib/proto/smtp_data.h"
#include "lib/util/buf.h"
#include "tests/unit/test.h"

/* Result of one decoding run. */
struct run {
    struct buf *out;
    int done;
    size_t used;
    struct smtp_data_stats st;
};

/* Small deterministic generator for chunk sizes. */
static unsigned long rng_next(unsigned long *s)
{
    *s = *s * 6364136223846793005UL + 1442695040888963407UL;
    return *s >> 33;
}

/*
 * Decode in[0..len) in pieces: mode 0 whole, 1 byte by byte, otherwise
 * random pieces of 1..17 bytes from seed mode. Stops feeding at the end.
 */
static void decode(const char *in, size_t len, const struct smtp_data_opts *opts, unsigned long mode,
                   struct run *r)
{
    struct smtp_data *d = smtp_data_create(opts);
    unsigned long seed = mode;
    size_t pos = 0;

    r->out = buf_create(0);
    r->done = 0;
    while (pos < len && !r->done) {
        size_t n = mode == 0 ? len - pos : mode == 1 ? 1 : 1 + rng_next(&seed) % 17;
        size_t used = 0;
        if (n > len - pos)
            n = len - pos;
        r->done = smtp_data_feed(d, in + pos, n, &used, r->out);
        if (!r->done && used != n)
            fprintf(stderr, "  partial use without end\n"), test_case_failed = 1;
        pos += used;
    }
    r->used = pos;
    r->st = *smtp_data_stats(d);
    smtp_data_free(&d);
}

/* Decode whole, byte-at-a-time and in 20 random splittings; check all agree. */
static void decode_all_ways(const char *in, size_t len, const struct smtp_data_opts *opts,
                            struct run *whole)
{
    decode(in, len, opts, 0, whole);
    for (unsigned long mode = 1; mode < 22; mode++) {
        struct run r;
        decode(in, len, opts, mode, &r);
        if (r.done != whole->done || r.used != whole->used ||
            buf_len(r.out) != buf_len(whole->out) ||
            memcmp(buf_str(r.out), buf_str(whole->out), buf_len(r.out)) != 0 ||
            memcmp(&r.st, &whole->st, sizeof(r.st)) != 0) {
            fprintf(stderr, "  split mode %lu differs from whole input\n", mode);
            test_case_failed = 1;
        }
        buf_free(&r.out);
    }
}

#define NEXT "QUIT\r\n"

static void test_basic(void)
{
    static const struct {
        const char *in;
        const char *out;
    } t[] = {
        {"Hello\r\n.\r\n", "Hello\n"},
        {".\r\n", ""},
        {"\r\n.\r\n", "\n"},
        {"a\r\nb\r\n\r\nc\r\n.\r\n", "a\nb\n\nc\n"},
        {"..\r\n.\r\n", ".\n"},
        {"..foo\r\n.\r\n", ".foo\n"},
        {"...\r\n.\r\n", "..\n"},
        {".foo\r\n.\r\n", "foo\n"}, /* RFC 5321 4.5.2: the first dot always goes */
        {"a.\r\n.b\r\n. \r\n.\r\n", "a.\nb\n \n"},
        {"x\r\n..\r\n.\r\n", "x\n.\n"},
        {"\x80\xff\r\n.\r\n", "\x80\xff\n"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct buf *in = buf_create(0);
        struct run r;
        buf_puts(in, t[i].in);
        buf_puts(in, NEXT);
        decode_all_ways(buf_str(in), buf_len(in), NULL, &r);
        CHECK_INTEQ(r.done, 1);
        CHECK_INTEQ(r.used, strlen(t[i].in));
        CHECK_STREQ(buf_str(r.out), t[i].out);
        CHECK_INTEQ(r.st.bare_lf + r.st.bare_cr + r.st.fake_dots, 0);
        buf_free(&r.out);
        buf_free(&in);
    }
}

static void test_incomplete(void)
{
    static const char *t[] = {
        "", "abc", "abc\r\n", "abc\r\n.", "abc\r\n.\r", "abc\r\n.\n", "abc\n.\r\n",
        ".\n", ".\r", ".\rx\r\n", "\r.\r\n",
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct run r;
        decode_all_ways(t[i], strlen(t[i]), NULL, &r);
        CHECK_INTEQ(r.done, 0);
        CHECK_INTEQ(r.used, strlen(t[i]));
        CHECK(!r.st.done);
        buf_free(&r.out);
    }
}

/* Every SMTP smuggling variant: the fake terminator and what follows stay inside. */
static void test_smuggling(void)
{
    static const struct {
        const char *fake;   /* between "A\r\n" and the smuggled command */
        const char *stored; /* full expected output */
        int bare_lf, bare_cr;
    } t[] = {
        {"\n.\n", "A\n\n.\nMAIL FROM:<evil@x>\n", 2, 0},
        {"\r.\r", "A\n\r.\rMAIL FROM:<evil@x>\n", 0, 2},
        {"\n.\r\n", "A\n\n.\nMAIL FROM:<evil@x>\n", 1, 0},
        {"\r\n.\n", "A\n\n.\nMAIL FROM:<evil@x>\n", 1, 0},
        {"\r.\n", "A\n\r.\nMAIL FROM:<evil@x>\n", 1, 1},
        {"\r\n.\r\r\n", "A\n\n\r\nMAIL FROM:<evil@x>\n", 0, 1},
        {"\r\n.\r", "A\n\n\rMAIL FROM:<evil@x>\n", 0, 1},
        {"\n.\r", "A\n\n.\rMAIL FROM:<evil@x>\n", 1, 1},
        {"\r.\r\n", "A\n\r.\nMAIL FROM:<evil@x>\n", 0, 1},
        {".\n", "A\n.\nMAIL FROM:<evil@x>\n", 1, 0},
        {".\r", "A\n\rMAIL FROM:<evil@x>\n", 0, 1},
        {"\r\n.\n\r\n", "A\n\n.\n\nMAIL FROM:<evil@x>\n", 1, 0},
        {"\r\n\n.\n", "A\n\n\n.\nMAIL FROM:<evil@x>\n", 2, 0},
        {"\r\r\n.\r\r\n", "A\n\r\n\r\nMAIL FROM:<evil@x>\n", 0, 2},
        {"\n\r.\r\n", "A\n\n\r.\nMAIL FROM:<evil@x>\n", 1, 1},
        {"\r\n\r.\r\n", "A\n\n\r.\nMAIL FROM:<evil@x>\n", 0, 1},
        {"\r\n.\r.\r\n", "A\n\n\r.\nMAIL FROM:<evil@x>\n", 0, 1},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        for (int policy = 0; policy < 2; policy++) {
            struct smtp_data_opts opts = {.bare = policy ? SMTP_DATA_BARE_NORMALIZE
                                                         : SMTP_DATA_BARE_REJECT};
            struct buf *in = buf_create(0);
            struct smtp_data *d;
            struct smtp_resp resp;
            struct run r;
            size_t msg_len;

            buf_puts(in, "A\r\n");
            buf_puts(in, t[i].fake);
            buf_puts(in, "MAIL FROM:<evil@x>\r\n.\r\n");
            msg_len = buf_len(in);
            buf_puts(in, NEXT);
            decode_all_ways(buf_str(in), buf_len(in), &opts, &r);
            if (strcmp(buf_str(r.out), t[i].stored) != 0)
                fprintf(stderr, "  smuggling case %zu\n", i);
            CHECK_INTEQ(r.done, 1);
            CHECK_INTEQ(r.used, msg_len);
            CHECK_INTEQ(buf_len(r.out), strlen(t[i].stored));
            CHECK(memcmp(buf_str(r.out), t[i].stored, buf_len(r.out)) == 0);
            CHECK_INTEQ(r.st.bare_lf, t[i].bare_lf);
            CHECK_INTEQ(r.st.bare_cr, t[i].bare_cr);
            CHECK(r.st.fake_dots >= 1);
            buf_free(&r.out);

            /* the verdict the caller prints */
            d = smtp_data_create(&opts);
            CHECK_INTEQ(smtp_data_feed(d, buf_str(in), buf_len(in), NULL, (r.out = buf_create(0))),
                        1);
            if (policy == 0) {
                CHECK_INTEQ(smtp_data_check(d, &resp), -1);
                CHECK_INTEQ(resp.code, 550);
                CHECK_STREQ(resp.dsn, "5.5.2");
                CHECK_STREQ(resp.text, t[i].bare_lf ? "bare <LF> received" : "bare <CR> received");
            } else {
                CHECK_INTEQ(smtp_data_check(d, &resp), 0);
            }
            smtp_data_free(&d);
            buf_free(&r.out);
            buf_free(&in);
        }
    }
}

/* A smuggled second message: its "end" is data, only the real end counts. */
static void test_smuggled_message(void)
{
    const char *in = "Subject: one\r\n\r\nbody\n.\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\n"
                     "Subject: two\n\nevil\n.\n";
    struct run r;
    size_t len = strlen(in);

    /* no real end yet: all of it is (unfinished) message text */
    decode_all_ways(in, len, NULL, &r);
    CHECK_INTEQ(r.done, 0);
    CHECK_INTEQ(r.used, len);
    CHECK(strstr(buf_str(r.out), "MAIL FROM:<a@b>\n") != NULL);
    CHECK(strstr(buf_str(r.out), "evil\n.\n") != NULL);
    CHECK_INTEQ(r.st.fake_dots, 2);
    buf_free(&r.out);
}

static void test_line_limit(void)
{
    struct smtp_data_opts opts = {.line_limit = 10};
    struct run r;
    const char *in = "1234567890\r\n12345678901\r\n.12345678901\r\n..123456789\r\n.\r\n";

    decode_all_ways(in, strlen(in), &opts, &r);
    CHECK_INTEQ(r.done, 1);
    CHECK_INTEQ(r.st.long_lines, 2);
    CHECK_INTEQ(r.st.max_line, 11);
    CHECK_INTEQ(r.st.lines, 4);
    CHECK_STREQ(buf_str(r.out), "1234567890\n12345678901\n12345678901\n.123456789\n");
    buf_free(&r.out);

    /* default limit 998: a 998-octet line is fine, 999 is long; both kept whole */
    {
        struct buf *b = buf_create(0);
        for (int i = 0; i < 998; i++)
            buf_putc(b, 'x');
        buf_puts(b, "\r\n");
        for (int i = 0; i < 999; i++)
            buf_putc(b, 'y');
        buf_puts(b, "\r\n.\r\n");
        decode_all_ways(buf_str(b), buf_len(b), NULL, &r);
        CHECK_INTEQ(r.st.long_lines, 1);
        CHECK_INTEQ(r.st.max_line, 999);
        CHECK_INTEQ(buf_len(r.out), 998 + 1 + 999 + 1);
        buf_free(&r.out);
        buf_free(&b);
    }
}

static void test_size(void)
{
    /* RFC 1870 size: line ends count as CRLF, stuffing dots do not count */
    const char *in = "abc\r\n..d\r\n\r\n.\r\n";
    struct smtp_data_opts opts = {0};
    struct run r;

    decode_all_ways(in, strlen(in), &opts, &r);
    CHECK_INTEQ(r.st.size, 5 + 4 + 2);
    CHECK_INTEQ(r.st.stored, 4 + 3 + 1);
    CHECK(!r.st.too_big);
    buf_free(&r.out);

    /* exactly at the limit: accepted */
    opts.size_limit = 11;
    decode_all_ways(in, strlen(in), &opts, &r);
    CHECK(!r.st.too_big);
    CHECK_STREQ(buf_str(r.out), "abc\n.d\n\n");
    buf_free(&r.out);

    /* one below: too big, nothing stored past the limit, end still found */
    opts.size_limit = 10;
    {
        struct buf *in2 = buf_create(0);
        struct smtp_resp resp;
        struct smtp_data *d = smtp_data_create(&opts);
        struct buf *out = buf_create(0);
        buf_puts(in2, in);
        buf_puts(in2, NEXT);
        decode_all_ways(buf_str(in2), buf_len(in2), &opts, &r);
        CHECK(r.st.too_big);
        CHECK_INTEQ(r.done, 1);
        CHECK_INTEQ(r.used, strlen(in));
        CHECK(r.st.stored <= 10);
        CHECK_INTEQ(r.st.size, 11);
        CHECK_INTEQ(buf_len(r.out), r.st.stored);
        buf_free(&r.out);
        smtp_data_feed(d, buf_str(in2), buf_len(in2), NULL, out);
        CHECK_INTEQ(smtp_data_check(d, &resp), -1);
        CHECK_INTEQ(resp.code, 552);
        CHECK_STREQ(resp.dsn, "5.3.4");
        CHECK_STREQ(resp.text, "Message size exceeds fixed limit");
        smtp_data_free(&d);
        buf_free(&out);
        buf_free(&in2);
    }

    /* the cut is at the limit exactly, however the input is split */
    opts.size_limit = 10;
    decode_all_ways("aaaaaaaaaaaaaaaaaaaa\r\nbbb\r\n.\r\n", 30, &opts, &r);
    CHECK(r.st.too_big);
    CHECK_STREQ(buf_str(r.out), "aaaaaaaaaa");
    CHECK_INTEQ(r.st.size, 27);
    buf_free(&r.out);
    opts.size_limit = 5;
    decode_all_ways("abcd\r\nxy\r\n.\r\n", 13, &opts, &r);
    CHECK(r.st.too_big);
    CHECK_STREQ(buf_str(r.out), "abcd"); /* the CR of the CRLF is the 5th byte */
    buf_free(&r.out);

    /* a large message past the limit keeps memory bounded */
    {
        struct smtp_data *d;
        struct buf *out = buf_create(0);
        char chunk[4096];
        int done = 0;
        opts.size_limit = 10000;
        d = smtp_data_create(&opts);
        memset(chunk, 'z', sizeof(chunk));
        for (int i = 0; i < 1000 && !done; i++)
            done = smtp_data_feed(d, chunk, sizeof(chunk), NULL, out);
        CHECK(!done);
        CHECK(buf_len(out) <= 10000);
        CHECK_INTEQ(smtp_data_feed(d, "\r\n.\r\n", 5, NULL, out), 1);
        CHECK(smtp_data_stats(d)->too_big);
        CHECK_INTEQ(smtp_data_stats(d)->size, 4096 * 1000ULL + 2);
        smtp_data_free(&d);
        buf_free(&out);
    }
}

static void test_stats(void)
{
    const char *in = "a\0b\r\n\xc3\xa9\r\n.\r\n";
    struct run r;

    decode_all_ways(in, 12, NULL, &r);
    CHECK_INTEQ(r.done, 1);
    CHECK_INTEQ(r.st.nul, 1);
    CHECK(r.st.eightbit);
    CHECK_INTEQ(buf_len(r.out), 7);
    CHECK(memcmp(buf_str(r.out), "a\0b\n\xc3\xa9\n", 7) == 0);
    buf_free(&r.out);
}

static void test_reset_and_after_done(void)
{
    struct smtp_data *d = smtp_data_create(NULL);
    struct buf *out = buf_create(0);
    size_t used;

    CHECK_INTEQ(smtp_data_feed(d, "x\r\n.\r\nMORE", 10, &used, out), 1);
    CHECK_INTEQ(used, 6);
    CHECK_INTEQ(smtp_data_feed(d, "MORE", 4, &used, out), 1);
    CHECK_INTEQ(used, 0);
    CHECK_STREQ(buf_str(out), "x\n");
    smtp_data_reset(d);
    buf_set(out, "");
    CHECK(!smtp_data_stats(d)->done);
    CHECK_INTEQ(smtp_data_feed(d, ".\r\n", 3, &used, out), 1);
    CHECK_INTEQ(buf_len(out), 0);
    smtp_data_free(&d);
    CHECK(d == NULL);
    buf_free(&out);
}

/* Decode BDAT chunk bytes split into pieces of the given sizes. */
static void bdat_decode(const char *in, size_t len, unsigned long mode, struct run *r)
{
    struct smtp_data *d = smtp_data_create(NULL);
    unsigned long seed = mode;
    size_t pos = 0;

    r->out = buf_create(0);
    while (pos < len) {
        size_t n = mode == 0 ? len - pos : mode == 1 ? 1 : 1 + rng_next(&seed) % 7;
        if (n > len - pos)
            n = len - pos;
        smtp_bdat_feed(d, in + pos, n, r->out);
        pos += n;
    }
    smtp_bdat_end(d, r->out);
    r->st = *smtp_data_stats(d);
    r->done = r->st.done;
    smtp_data_free(&d);
}

static void test_bdat(void)
{
    static const struct {
        const char *in;
        const char *out;
        int bare_lf, bare_cr;
        bool partial;
    } t[] = {
        {"a\r\nb\r\n", "a\nb\n", 0, 0, false},
        {".\r\n..x\r\n", ".\n..x\n", 0, 0, false}, /* no unstuffing, no end marker */
        {"a\nb\r\n", "a\nb\n", 1, 0, false},
        {"a\rb\r\n", "a\rb\n", 0, 1, false},
        {"a\r\r\n", "a\r\n", 0, 1, false},
        {"a\r\nb", "a\nb", 0, 0, true},
        {"a\r", "a\r", 0, 1, true},
        {"", "", 0, 0, false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct run whole;
        bdat_decode(t[i].in, strlen(t[i].in), 0, &whole);
        CHECK_STREQ(buf_str(whole.out), t[i].out);
        CHECK_INTEQ(whole.st.bare_lf, t[i].bare_lf);
        CHECK_INTEQ(whole.st.bare_cr, t[i].bare_cr);
        CHECK(whole.st.partial_line == t[i].partial);
        CHECK(whole.done);
        for (unsigned long mode = 1; mode < 12; mode++) {
            struct run r;
            bdat_decode(t[i].in, strlen(t[i].in), mode, &r);
            CHECK_STREQ(buf_str(r.out), buf_str(whole.out));
            CHECK(memcmp(&r.st, &whole.st, sizeof(r.st)) == 0);
            buf_free(&r.out);
        }
        buf_free(&whole.out);
    }
    /* a CRLF split across two chunks is one line end */
    {
        struct smtp_data *d = smtp_data_create(NULL);
        struct buf *out = buf_create(0);
        smtp_bdat_feed(d, "a\r", 2, out);
        smtp_bdat_feed(d, "\nb\r\n", 4, out);
        smtp_bdat_end(d, out);
        CHECK_STREQ(buf_str(out), "a\nb\n");
        CHECK_INTEQ(smtp_data_stats(d)->bare_cr, 0);
        CHECK_INTEQ(smtp_data_stats(d)->size, 6);
        smtp_data_free(&d);
        buf_free(&out);
    }
}

/* Random input over a tiny alphabet: splitting never changes the result. */
static void test_random_inputs(void)
{
    static const char alphabet[] = "\r\n.\r\n.x";
    unsigned long seed = 12345;
    char in[64];

    for (int n = 0; n < 3000; n++) {
        size_t len = 1 + rng_next(&seed) % sizeof(in);
        struct run r;
        for (size_t i = 0; i < len; i++)
            in[i] = alphabet[rng_next(&seed) % (sizeof(alphabet) - 1)];
        decode_all_ways(in, len, NULL, &r);
        /* it ends exactly after the first <CRLF>.<CRLF> (DATA's CRLF counts) */
        {
            const char *end = NULL;
            if (len >= 3 && memcmp(in, ".\r\n", 3) == 0)
                end = in + 3;
            else if ((end = memmem(in, len, "\r\n.\r\n", 5)) != NULL)
                end += 5;
            CHECK_INTEQ(r.done, end != NULL);
            CHECK_INTEQ(r.used, end ? (size_t)(end - in) : len);
        }
        buf_free(&r.out);
        if (test_case_failed)
            break;
    }
}

/* Encode whole or byte by byte. */
static void encode(const char *in, size_t len, bool stuff, size_t limit, bool bytewise,
                   struct buf *out)
{
    struct smtp_data_enc *e = smtp_data_enc_create(stuff, limit);

    if (bytewise)
        for (size_t i = 0; i < len; i++)
            smtp_data_enc_feed(e, in + i, 1, out);
    else
        smtp_data_enc_feed(e, in, len, out);
    smtp_data_enc_end(e, out);
    smtp_data_enc_end(e, out); /* idempotent */
    smtp_data_enc_free(&e);
    CHECK(e == NULL);
}

static void test_encode(void)
{
    static const struct {
        const char *in;
        bool stuff;
        size_t limit;
        const char *out;
    } t[] = {
        {"Hello\n", true, 0, "Hello\r\n.\r\n"},
        {"", true, 0, ".\r\n"},
        {"", false, 0, ""},
        {"no newline", true, 0, "no newline\r\n.\r\n"},
        {".\n..x\na.b\n", true, 0, "..\r\n...x\r\na.b\r\n.\r\n"},
        {".\n..x\n", false, 0, ".\r\n..x\r\n"},
        {"a\rb\n", true, 0, "a\rb\r\n.\r\n"},
        {"a\r\n", true, 0, "a\r\r\n.\r\n"},
        {"\n\n", true, 0, "\r\n\r\n.\r\n"},
        {"abcdefgh\n", true, 4, "abcd\r\nefgh\r\n.\r\n"},
        {"abcdefghi\n", true, 4, "abcd\r\nefgh\r\ni\r\n.\r\n"},
        {"abcd.efg\n", true, 4, "abcd\r\n..efg\r\n.\r\n"}, /* the break starts a line */
        {"ab\ncd\n", true, 2, "ab\r\ncd\r\n.\r\n"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct buf *out = buf_create(0);
            encode(t[i].in, strlen(t[i].in), t[i].stuff, t[i].limit, bytewise, out);
            if (strcmp(buf_str(out), t[i].out) != 0)
                fprintf(stderr, "  encode case %zu bytewise %d\n", i, bytewise);
            CHECK_STREQ(buf_str(out), t[i].out);
            buf_free(&out);
        }
    }
}

/* decode(encode(x)) == x for random queue content, DATA and BDAT. */
static void test_encode_round_trip(void)
{
    static const char alphabet[] = "\n\r.x.\n";
    unsigned long seed = 777;
    char in[80];

    for (int n = 0; n < 3000 && !test_case_failed; n++) {
        size_t len = rng_next(&seed) % sizeof(in);
        struct buf *wire = buf_create(0), *back = buf_create(0), *expect = buf_create(0);
        struct smtp_data *d = smtp_data_create(NULL);
        size_t used;
        for (size_t i = 0; i < len; i++)
            in[i] = alphabet[rng_next(&seed) % (sizeof(alphabet) - 1)];
        buf_append(expect, in, len);
        if (len > 0 && in[len - 1] != '\n')
            buf_putc(expect, '\n');

        encode(in, len, true, 0, false, wire);
        CHECK_INTEQ(smtp_data_feed(d, buf_str(wire), buf_len(wire), &used, back), 1);
        CHECK_INTEQ(used, buf_len(wire));
        CHECK_INTEQ(smtp_data_stats(d)->bare_lf, 0);
        CHECK_INTEQ(buf_len(back), buf_len(expect));
        CHECK(memcmp(buf_str(back), buf_str(expect), buf_len(back)) == 0);

        buf_reset(wire);
        buf_reset(back);
        smtp_data_reset(d);
        encode(in, len, false, 0, false, wire);
        smtp_bdat_feed(d, buf_str(wire), buf_len(wire), back);
        smtp_bdat_end(d, back);
        CHECK_INTEQ(buf_len(back), buf_len(expect));
        CHECK(memcmp(buf_str(back), buf_str(expect), buf_len(back)) == 0);
        CHECK(!smtp_data_stats(d)->partial_line);

        smtp_data_free(&d);
        buf_free(&wire);
        buf_free(&back);
        buf_free(&expect);
    }
}

int main(void)
{
    TEST_RUN(test_basic);
    TEST_RUN(test_incomplete);
    TEST_RUN(test_smuggling);
    TEST_RUN(test_smuggled_message);
    TEST_RUN(test_line_limit);
    TEST_RUN(test_size);
    TEST_RUN(test_stats);
    TEST_RUN(test_reset_and_after_done);
    TEST_RUN(test_bdat);
    TEST_RUN(test_random_inputs);
    TEST_RUN(test_encode);
    TEST_RUN(test_encode_round_trip);
    return test_summary();
}
