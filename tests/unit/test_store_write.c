/*
 * test_store_write - the mailbox output filters (mboxrd quoting, CR LF to
 * LF), the mbox scanner and the unquoting, each fed whole, one byte at a
 * time and split at every position.
 */
#include "config.h"

#include <string.h>

#include "lib/store/mbox.h"
#include "lib/store/store_write.h"
#include "lib/util/buf.h"
#include "tests/unit/test.h"

struct filter_case {
    int flags;
    const char *in;
    const char *out;
};

static const struct filter_case filter_cases[] = {
    {STORE_WRITE_QUOTE_FROM, "", ""},
    {STORE_WRITE_QUOTE_FROM, "From x\n", ">From x\n"},
    {STORE_WRITE_QUOTE_FROM, ">From x\n", ">>From x\n"},
    {STORE_WRITE_QUOTE_FROM, ">>From x\n", ">>>From x\n"},
    {STORE_WRITE_QUOTE_FROM, "Fromx\n", "Fromx\n"},
    {STORE_WRITE_QUOTE_FROM, "From\n", "From\n"},
    {STORE_WRITE_QUOTE_FROM, ">From\n", ">From\n"},
    {STORE_WRITE_QUOTE_FROM, "> From x\n", "> From x\n"},
    {STORE_WRITE_QUOTE_FROM, " From x\n", " From x\n"},
    {STORE_WRITE_QUOTE_FROM, "from x\n", "from x\n"},
    {STORE_WRITE_QUOTE_FROM, "FFrom x\n", "FFrom x\n"},
    {STORE_WRITE_QUOTE_FROM, "a\nFrom b\n", "a\n>From b\n"},
    {STORE_WRITE_QUOTE_FROM, "xFrom y\nFrom z", "xFrom y\n>From z"},
    {STORE_WRITE_QUOTE_FROM, "\n\nFrom \n", "\n\n>From \n"},
    {STORE_WRITE_QUOTE_FROM, "From ", ">From "},
    {STORE_WRITE_QUOTE_FROM, ">>>", ">>>"},
    {STORE_WRITE_QUOTE_FROM, ">>Fro", ">>Fro"},
    {STORE_WRITE_QUOTE_FROM, ">>Fro\n>", ">>Fro\n>"},
    {STORE_WRITE_QUOTE_FROM, "From a\n>From b\n>>From c\n>>>From d\nFrom\n",
     ">From a\n>>From b\n>>>From c\n>>>>From d\nFrom\n"},
    {STORE_WRITE_QUOTE_FROM, "a\r\nFrom b\r\n", "a\r\n>From b\r\n"},
    {STORE_WRITE_CRLF_TO_LF, "a\r\nb\r\n", "a\nb\n"},
    {STORE_WRITE_CRLF_TO_LF, "a\rb\r\r\n", "a\rb\r\n"},
    {STORE_WRITE_CRLF_TO_LF, "abc\r", "abc\r"},
    {STORE_WRITE_CRLF_TO_LF, "\r\r\r\n\n", "\r\r\n\n"},
    {STORE_WRITE_CRLF_TO_LF, "From x\r\n", "From x\n"},
    {STORE_WRITE_QUOTE_FROM | STORE_WRITE_CRLF_TO_LF, "From x\r\nFrom y\r\n", ">From x\n>From y\n"},
    {STORE_WRITE_QUOTE_FROM | STORE_WRITE_CRLF_TO_LF, "\r\nFrom", "\nFrom"},
    {STORE_WRITE_QUOTE_FROM | STORE_WRITE_CRLF_TO_LF, "a\r>From x", "a\r>From x"},
    {STORE_WRITE_QUOTE_FROM | STORE_WRITE_CRLF_TO_LF, "a\r\r\n>From x\r", "a\r\n>>From x\r"},
    {0, "From x\r\n", "From x\r\n"},
};

/* Run data through a filter, split into pieces of at most step bytes (0: at split). */
static void filter_run(int flags, const char *in, size_t len, size_t step, size_t split,
                       struct buf *out)
{
    struct store_write *w = store_write_create(-1, out, flags, 0);
    struct store_err err;
    size_t i, n;

    buf_reset(out);
    if (step == 0) {
        store_write_text(w, in, split);
        store_write_text(w, in + split, len - split);
    } else {
        for (i = 0; i < len; i += n) {
            n = len - i < step ? len - i : step;
            store_write_text(w, in + i, n);
        }
    }
    store_write_end_text(w);
    CHECK_INTEQ(store_write_flush(w, &err), 0);
    CHECK_INTEQ(store_write_size(w), buf_len(out));
    store_write_free(&w);
    CHECK(w == NULL);
}

/* Every filter case: whole, byte at a time, and split at each position. */
static void test_filter_table(void)
{
    struct buf *out = buf_create(64);
    size_t i, split, len;

    for (i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
        const struct filter_case *c = &filter_cases[i];

        len = strlen(c->in);
        filter_run(c->flags, c->in, len, len ? len : 1, 0, out);
        CHECK_STREQ(buf_str(out), c->out);
        filter_run(c->flags, c->in, len, 1, 0, out);
        CHECK_STREQ(buf_str(out), c->out);
        for (split = 0; split <= len; split++) {
            filter_run(c->flags, c->in, len, 0, split, out);
            if (strcmp(buf_str(out), c->out) != 0) {
                fprintf(stderr, "  case %zu split %zu: \"%s\"\n", i, split, buf_str(out));
                CHECK_STREQ(buf_str(out), c->out);
            }
        }
    }
    buf_free(&out);
}

/* Quoting then unquoting gives back the original, for every split. */
static void test_unquote_roundtrip(void)
{
    struct buf *quoted = buf_create(64), *back = buf_create(64);
    struct mbox_unquote uq;
    size_t i, split, len;

    for (i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
        const struct filter_case *c = &filter_cases[i];

        if (c->flags != STORE_WRITE_QUOTE_FROM)
            continue;
        len = strlen(c->in);
        filter_run(c->flags, c->in, len, 0, len, quoted);
        for (split = 0; split <= buf_len(quoted); split++) {
            buf_reset(back);
            mbox_unquote_init(&uq);
            mbox_unquote_feed(&uq, back, buf_str(quoted), split);
            mbox_unquote_feed(&uq, back, buf_str(quoted) + split, buf_len(quoted) - split);
            mbox_unquote_end(&uq, back);
            CHECK_STREQ(buf_str(back), c->in);
        }
        /* Byte at a time. */
        buf_reset(back);
        mbox_unquote_init(&uq);
        for (split = 0; split < buf_len(quoted); split++)
            mbox_unquote_feed(&uq, back, buf_str(quoted) + split, 1);
        mbox_unquote_end(&uq, back);
        CHECK_STREQ(buf_str(back), c->in);
    }
    buf_free(&quoted);
    buf_free(&back);
}

/* Direct unquoting cases. */
static void test_unquote_table(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {">From x\n", "From x\n"},
        {">>From x\n", ">From x\n"},
        {">>From\n", ">>From\n"},
        {"From x\n", "From x\n"},
        {"> From x\n", "> From x\n"},
        {"a>From x\n", "a>From x\n"},
        {"x\n>From y", "x\nFrom y"},
        {">>>", ">>>"},
        {">Fr", ">Fr"},
        {"", ""},
    };
    struct buf *out = buf_create(32);
    struct mbox_unquote uq;
    size_t i, j;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(out);
        mbox_unquote_init(&uq);
        for (j = 0; cases[i].in[j]; j++)
            mbox_unquote_feed(&uq, out, cases[i].in + j, 1);
        mbox_unquote_end(&uq, out);
        CHECK_STREQ(buf_str(out), cases[i].out);
    }
    buf_free(&out);
}

/* The byte limit stops output and reports 5.2.2; sizes count bare LFs. */
static void test_limit_and_sizes(void)
{
    struct buf *out = buf_create(64);
    struct store_write *w;
    struct store_err err;

    w = store_write_create(-1, out, 0, 10);
    store_write_text(w, "12345", 5);
    CHECK(!store_write_failed(w));
    store_write_text(w, "67890x", 6);
    CHECK(store_write_failed(w));
    CHECK_INTEQ(store_write_flush(w, &err), -1);
    CHECK_STREQ(err.dsn, "5.2.2");
    CHECK_INTEQ(err.temporary, 0);
    CHECK_STREQ(buf_str(out), "12345");
    store_write_free(&w);

    buf_reset(out);
    w = store_write_create(-1, out, 0, 0);
    store_write_text(w, "a\nb\r\n", 5);
    store_write_text(w, "\r", 1);
    store_write_text(w, "\n\n", 2);
    store_write_end_text(w);
    CHECK_INTEQ(store_write_flush(w, &err), 0);
    CHECK_INTEQ(store_write_size(w), 8);
    CHECK_INTEQ(store_write_lf_count(w), 2); /* "a\n" and the last "\n" */
    CHECK_INTEQ(store_write_last(w), '\n');
    store_write_free(&w);
    buf_free(&out);
}

struct scan_case {
    const char *in;
    int ok;
    size_t count;
    long long spans[3][3];
};

static const struct scan_case scan_cases[] = {
    {"", 1, 0, {{0}}},
    {"From a\nbody\n\nFrom b\nx\n\n", 1, 2, {{0, 7, 12}, {13, 20, 22}}},
    {"From a\nFrom b\n", 1, 1, {{0, 7, 14}}},
    {"From a\n\n\nFrom b\n", 1, 2, {{0, 7, 8}, {9, 16, 16}}},
    {"From a\n\nFrom b\n\n", 1, 2, {{0, 7, 7}, {8, 15, 15}}},
    {"From a", 1, 1, {{0, 6, 6}}},
    {"From a\nx", 1, 1, {{0, 7, 8}}},
    {"From a\nx\n>From y\n\nFromage\n", 1, 1, {{0, 7, 26}}},
    {"From a\n\nFrom b\n\nFrom c\ny\n", 1, 3, {{0, 7, 7}, {8, 15, 15}, {16, 23, 25}}},
    {"hello\n", 0, 0, {{0}}},
    {"\nFrom a\n", 0, 0, {{0}}},
    {"Fro", 0, 0, {{0}}},
    {"From\n", 0, 0, {{0}}},
};

/* Scan one input with pieces of step bytes (0 = whole); compare with the case. */
static void scan_check(const struct scan_case *c, size_t step)
{
    struct mbox_scan *scan = mbox_scan_create();
    const char *why = NULL;
    size_t len = strlen(c->in), i, n;
    int ret = 0;

    if (step == 0)
        step = len ? len : 1;
    for (i = 0; i < len && ret == 0; i += n) {
        n = len - i < step ? len - i : step;
        ret = mbox_scan_feed(scan, c->in + i, n, &why);
    }
    if (ret == 0)
        ret = mbox_scan_end(scan, &why);
    CHECK_INTEQ(ret == 0, c->ok);
    if (ret < 0)
        CHECK(why != NULL && strstr(why, "not an mbox") != NULL);
    if (c->ok) {
        CHECK_INTEQ(mbox_scan_count(scan), c->count);
        for (i = 0; i < c->count && i < mbox_scan_count(scan); i++) {
            const struct mbox_span *s = mbox_scan_get(scan, i);

            CHECK_INTEQ(s->from_offset, c->spans[i][0]);
            CHECK_INTEQ(s->body_offset, c->spans[i][1]);
            CHECK_INTEQ(s->end_offset, c->spans[i][2]);
        }
        CHECK(mbox_scan_get(scan, c->count) == NULL);
    }
    mbox_scan_free(&scan);
    CHECK(scan == NULL);
}

/* The scanner table, whole and byte at a time and in 2- and 3-byte pieces. */
static void test_scan_table(void)
{
    size_t i;

    for (i = 0; i < sizeof(scan_cases) / sizeof(scan_cases[0]); i++) {
        scan_check(&scan_cases[i], 0);
        scan_check(&scan_cases[i], 1);
        scan_check(&scan_cases[i], 2);
        scan_check(&scan_cases[i], 3);
    }
}

int main(void)
{
    TEST_RUN(test_filter_table);
    TEST_RUN(test_unquote_roundtrip);
    TEST_RUN(test_unquote_table);
    TEST_RUN(test_limit_and_sizes);
    TEST_RUN(test_scan_table);
    return test_summary();
}
