/*
 * Unit tests for lib/proto/hdr: the incremental header scanner (fed whole,
 * line by line, byte by byte and in random pieces), limits, header lists,
 * names and unfolding.
 */
#include "config.h"

#include <string.h>

#include "lib/proto/hdr.h"
#include "lib/util/buf.h"
#include "tests/unit/test.h"

/* Callback: log each header as "[name|value|lines|T]" into a buffer. */
static void log_field(void *ctx, const struct hdr_field *f)
{
    struct buf *b = ctx;

    buf_putc(b, '[');
    buf_append(b, f->name, f->name_len);
    buf_putc(b, '|');
    buf_append(b, f->value, f->value_len);
    buf_printf(b, "|%zu%s]", f->lines, f->truncated ? "|T" : "");
    /* raw must be name ... value */
    if (f->value + f->value_len != f->raw + f->raw_len || f->name != f->raw)
        buf_puts(b, "(bad raw)");
}

struct scan_result {
    struct buf *log;
    int ret;
    size_t body; /* offset of the body's first byte */
    size_t ntrunc;
};

static unsigned long rng_next(unsigned long *s)
{
    *s = *s * 6364136223846793005UL + 1442695040888963407UL;
    return *s >> 33;
}

/*
 * Scan in[0..len): mode 0 whole, 1 byte by byte, 2 line by line, else
 * random pieces. Feeding stops at the end of the header block.
 */
static void scan(const char *in, size_t len, size_t limit, unsigned long mode,
                 struct scan_result *r)
{
    struct hdr_scan *s;
    unsigned long seed = mode;
    size_t pos = 0, prefix = 0;

    r->log = buf_create(0);
    s = hdr_scan_create(limit, log_field, r->log);
    r->ret = HDR_SCAN_MORE;
    while (pos < len && r->ret == HDR_SCAN_MORE) {
        size_t n, used;
        if (mode == 0) {
            n = len - pos;
        } else if (mode == 1) {
            n = 1;
        } else if (mode == 2) {
            const char *nl = memchr(in + pos, '\n', len - pos);
            n = nl ? (size_t)(nl - (in + pos)) + 1 : len - pos;
        } else {
            n = 1 + rng_next(&seed) % 11;
            if (n > len - pos)
                n = len - pos;
        }
        r->ret = hdr_scan_feed(s, in + pos, n, &used);
        if (r->ret == HDR_SCAN_MORE && used != n)
            test_case_failed = 1, fprintf(stderr, "  MORE without taking everything\n");
        pos += used;
    }
    if (r->ret == HDR_SCAN_MORE)
        r->ret = hdr_scan_finish(s);
    hdr_scan_body_prefix(s, &prefix);
    r->body = r->ret == HDR_SCAN_MORE ? len : pos - prefix;
    r->ntrunc = hdr_scan_truncated(s);
    hdr_scan_free(&s);
}

/* Scan every way; all must agree. Returns the whole-input result. */
static void scan_all_ways(const char *in, size_t len, size_t limit, struct scan_result *whole)
{
    scan(in, len, limit, 0, whole);
    for (unsigned long mode = 1; mode < 16; mode++) {
        struct scan_result r;
        scan(in, len, limit, mode, &r);
        if (r.ret != whole->ret || r.body != whole->body || r.ntrunc != whole->ntrunc ||
            strcmp(buf_str(r.log), buf_str(whole->log)) != 0) {
            fprintf(stderr, "  mode %lu differs: %d/%d body %zu/%zu\n    %s\n    %s\n", mode,
                    r.ret, whole->ret, r.body, whole->body, buf_str(r.log), buf_str(whole->log));
            test_case_failed = 1;
        }
        buf_free(&r.log);
    }
}

static void test_scan(void)
{
    static const struct {
        const char *in;
        int ret;
        const char *log;
        const char *body; /* what follows the headers */
    } t[] = {
        {"From: a@b\nTo: c@d,\n e@f\nSubject: hi\n\nbody\n", HDR_SCAN_END,
         "[From| a@b|1][To| c@d,\n e@f|2][Subject| hi|1]", "body\n"},
        {"A: 1\r\nB: 2\r\n\tmore\r\n\r\nbody", HDR_SCAN_END, "[A| 1|1][B| 2\n\tmore|2]", "body"},
        {"Subject : obsolete\n\n", HDR_SCAN_END, "[Subject| obsolete|1]", ""},
        {"Subject\t:x\n\n", HDR_SCAN_END, "[Subject|x|1]", ""},
        {"X:\n\n", HDR_SCAN_END, "[X||1]", ""},
        {"X:\n \n\n", HDR_SCAN_END, "[X|\n |2]", ""},
        {"\nbody", HDR_SCAN_END, "", "body"},
        {"\r\nbody", HDR_SCAN_END, "", "body"},
        {"From: a\nthis is body\n", HDR_SCAN_BODY, "[From| a|1]", "this is body\n"},
        {"From: a\n:colon first\n", HDR_SCAN_BODY, "[From| a|1]", ":colon first\n"},
        {" leading space\nX: y\n", HDR_SCAN_BODY, "", " leading space\nX: y\n"},
        {"From: a\n\rx\n", HDR_SCAN_BODY, "[From| a|1]", "\rx\n"},
        {"From: a\nno colon\n", HDR_SCAN_BODY, "[From| a|1]", "no colon\n"},
        {"From: a\nnocolon\n", HDR_SCAN_BODY, "[From| a|1]", "nocolon\n"},
        {"From: a\nX-\xc3\xa9: y\n", HDR_SCAN_BODY, "[From| a|1]", "X-\xc3\xa9: y\n"},
        {"From: a\nFrom sender Mon\n", HDR_SCAN_BODY, "[From| a|1]", "From sender Mon\n"},
        {"A: b\nC: d", HDR_SCAN_MORE, "[A| b|1][C| d|1]", ""},
        {"A: b\n", HDR_SCAN_MORE, "[A| b|1]", ""},
        {"A: b\n c", HDR_SCAN_MORE, "[A| b\n c|2]", ""},
        {"A: b\nxyz", HDR_SCAN_BODY, "[A| b|1]", "xyz"},
        {"A: b\n\r", HDR_SCAN_BODY, "[A| b|1]", "\r"},
        {"", HDR_SCAN_MORE, "", ""},
        {"A: x\0y\n\n", HDR_SCAN_END, "[A| x", ""}, /* NUL kept; the log stops there */
        {"A: \xc3\xa9\xff\n\n", HDR_SCAN_END, "[A| \xc3\xa9\xff|1]", ""},
        {"A: a\rb\n\n", HDR_SCAN_END, "[A| a\rb|1]", ""},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct scan_result r;
        size_t len = strlen(t[i].in);
        if (i == 22)
            len = 8; /* "A: x\0y\n\n" */
        scan_all_ways(t[i].in, len, 0, &r);
        if (r.ret != t[i].ret || strcmp(buf_str(r.log), t[i].log) != 0)
            fprintf(stderr, "  case %zu: ret %d log %s\n", i, r.ret, buf_str(r.log));
        CHECK_INTEQ(r.ret, t[i].ret);
        CHECK_STREQ(buf_str(r.log), t[i].log);
        CHECK_INTEQ(len - r.body, strlen(t[i].body));
        CHECK(memcmp(t[i].in + r.body, t[i].body, strlen(t[i].body)) == 0);
        buf_free(&r.log);
    }
}

static void test_limits(void)
{
    struct scan_result r;
    const char *in = "X: 12345678901234567890\n more\nY: z\n\nbody";
    struct buf *b = buf_create(0);

    /* limit 20: X is cut at 20 bytes, the scan goes on */
    scan_all_ways(in, strlen(in), 20, &r);
    CHECK_INTEQ(r.ret, HDR_SCAN_END);
    CHECK_STREQ(buf_str(r.log), "[X| 12345678901234567|2|T][Y| z|1]");
    CHECK_INTEQ(r.ntrunc, 1);
    CHECK_STREQ(in + r.body, "body");
    buf_free(&r.log);

    /* exactly at the limit is not truncated */
    scan_all_ways("X: 123\n\n", 8, 6, &r);
    CHECK_STREQ(buf_str(r.log), "[X| 123|1]");
    CHECK_INTEQ(r.ntrunc, 0);
    buf_free(&r.log);

    /* a field name of HDR_NAME_MAX is a header, one longer is body */
    for (int i = 0; i < HDR_NAME_MAX; i++)
        buf_putc(b, 'n');
    buf_puts(b, ": v\n\n");
    scan_all_ways(buf_str(b), buf_len(b), 0, &r);
    CHECK_INTEQ(r.ret, HDR_SCAN_END);
    buf_free(&r.log);
    buf_set(b, "");
    for (int i = 0; i < HDR_NAME_MAX + 1; i++)
        buf_putc(b, 'n');
    buf_puts(b, ": v\n\n");
    scan_all_ways(buf_str(b), buf_len(b), 0, &r);
    CHECK_INTEQ(r.ret, HDR_SCAN_BODY);
    CHECK_INTEQ(r.body, 0);
    CHECK_STREQ(buf_str(r.log), "");
    buf_free(&r.log);

    /* a huge folded header stays within the limit in memory */
    buf_set(b, "Big: x\n");
    for (int i = 0; i < 20000; i++)
        buf_puts(b, " continuation line\n");
    buf_puts(b, "\n");
    scan(buf_str(b), buf_len(b), 1000, 0, &r);
    CHECK_INTEQ(r.ret, HDR_SCAN_END);
    CHECK_INTEQ(r.ntrunc, 1);
    CHECK(buf_len(r.log) < 1100);
    buf_free(&r.log);
    buf_free(&b);
}

static void test_after_end(void)
{
    struct hdr_scan *s = hdr_scan_create(0, NULL, NULL);
    size_t used, n;

    CHECK_INTEQ(hdr_scan_feed(s, "A: b\n\nrest", 10, &used), HDR_SCAN_END);
    CHECK_INTEQ(used, 6);
    CHECK_INTEQ(hdr_scan_feed(s, "rest", 4, &used), HDR_SCAN_END);
    CHECK_INTEQ(used, 0);
    CHECK_INTEQ(hdr_scan_finish(s), HDR_SCAN_END);
    hdr_scan_body_prefix(s, &n);
    CHECK_INTEQ(n, 0);
    hdr_scan_free(&s);
    CHECK(s == NULL);
}

static void test_name_valid(void)
{
    CHECK(hdr_name_valid("Subject", 7));
    CHECK(hdr_name_valid("X-Spam-Status", 13));
    CHECK(hdr_name_valid("!#~", 3));
    CHECK(!hdr_name_valid("", 0));
    CHECK(!hdr_name_valid("Sub ject", 8));
    CHECK(!hdr_name_valid("Sub:ject", 8));
    CHECK(!hdr_name_valid("Sub\x7fject", 8));
    CHECK(!hdr_name_valid("Sub\xc3\xa9", 5));
}

static void test_unfold(void)
{
    static const struct {
        const char *in;
        bool trim;
        const char *out;
    } t[] = {
        {" a\n b", false, " a b"},
        {" a\n b", true, "a b"},
        {" a\r\n\tb ", true, "a\tb"},
        {" a\n\n b", false, " a\n b"}, /* an empty line is no folding */
        {"a\nb", false, "a\nb"},       /* no WSP after: not folding */
        {"   ", true, ""},
        {"", true, ""},
        {" x\n", false, " x\n"},
    };
    struct buf *b = buf_create(0);

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        buf_set(b, "");
        hdr_unfold(b, t[i].in, strlen(t[i].in), t[i].trim);
        CHECK_STREQ(buf_str(b), t[i].out);
    }
    buf_free(&b);
}

static void test_list(void)
{
    const char *msg = "Received: one\nFrom: a@b\nreceived: two\n\tfolded\nTo: c@d\n\nbody";
    struct hdr_list *l = hdr_list_create();
    struct buf *b = buf_create(0);
    size_t body;
    ssize_t i;

    CHECK_INTEQ(hdr_list_parse(l, msg, strlen(msg), 0, &body), HDR_SCAN_END);
    CHECK_STREQ(msg + body, "body");
    CHECK_INTEQ(l->count, 4);
    CHECK_INTEQ(hdr_list_find(l, "RECEIVED", 0), 0);
    CHECK_INTEQ(hdr_list_find(l, "received", 1), 2);
    CHECK_INTEQ(hdr_list_find(l, "received", 3), -1);
    CHECK_INTEQ(hdr_list_find(l, "Cc", 0), -1);
    CHECK_INTEQ(hdr_list_find(l, "To", 0), 3);
    CHECK_INTEQ(hdr_list_find(l, "T", 0), -1);
    i = hdr_list_find(l, "received", 1);
    hdr_unfold(b, l->fields[i].value, l->fields[i].value_len, true);
    CHECK_STREQ(buf_str(b), "two\tfolded");
    CHECK_INTEQ(l->fields[i].raw_len, strlen("received: two\n\tfolded"));
    CHECK(memcmp(l->fields[i].raw, "received: two\n\tfolded", l->fields[i].raw_len) == 0);
    hdr_list_free(&l);
    CHECK(l == NULL);

    /* body without blank line; all-headers text */
    l = hdr_list_create();
    CHECK_INTEQ(hdr_list_parse(l, "A: b\nbody line\n", 15, 0, &body), HDR_SCAN_BODY);
    CHECK_INTEQ(body, 5);
    CHECK_INTEQ(hdr_list_parse(l, "C: d\n", 5, 0, &body), HDR_SCAN_MORE);
    CHECK_INTEQ(body, 5);
    CHECK_INTEQ(l->count, 2);
    hdr_list_free(&l);
    buf_free(&b);
}

/* Writing raw + "\n" for each header and the rest reproduces the input. */
static void test_round_trip(void)
{
    const char *msg = "Subject : x\nTo: a,\n  b,\n\tc\nX-Empty:\n\nbody\n";
    struct hdr_list *l = hdr_list_create();
    struct buf *b = buf_create(0);
    size_t body;

    hdr_list_parse(l, msg, strlen(msg), 0, &body);
    for (size_t i = 0; i < l->count; i++) {
        buf_append(b, l->fields[i].raw, l->fields[i].raw_len);
        buf_putc(b, '\n');
    }
    buf_putc(b, '\n');
    buf_puts(b, msg + body);
    CHECK_STREQ(buf_str(b), msg);
    hdr_list_free(&l);
    buf_free(&b);
}

int main(void)
{
    TEST_RUN(test_scan);
    TEST_RUN(test_limits);
    TEST_RUN(test_after_end);
    TEST_RUN(test_name_valid);
    TEST_RUN(test_unfold);
    TEST_RUN(test_list);
    TEST_RUN(test_round_trip);
    return test_summary();
}
