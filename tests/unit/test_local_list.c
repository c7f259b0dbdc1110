/*
 * test_local_list - local(8): .forward and :include: file text, the
 * duplicate filter, and Delivered-To: loop detection (byte at a time).
 */
#include "config.h"

#include <string.h>

#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "local/local.h"
#include "tests/unit/test.h"

static struct buf *warnings;

/* Collects "line N: why;" for the checks. */
static void warn(void *ctx, int line, const char *why)
{
    (void)ctx;
    buf_printf(warnings, "line %d: %s;", line, why);
}

/* Values joined with "|". */
static char *parse(const char *text, size_t line_max)
{
    struct argv *v = argv_create(4);
    struct buf *out = buf_create(64);
    size_t n;

    buf_reset(warnings);
    n = local_list_parse(text, strlen(text), line_max, v, warn, NULL);
    CHECK_INTEQ(n, v->argc);
    for (size_t i = 0; i < v->argc; i++) {
        if (i)
            buf_putc(out, '|');
        buf_puts(out, v->argv[i]);
    }
    argv_free(&v);
    return buf_export(&out);
}

static void test_forward_files(void)
{
    static const struct {
        const char *text;
        const char *values;
        const char *warnings;
    } cases[] = {
        {"", "", ""},
        {"\n\n", "", ""},
        {"# only a comment\n", "", ""},
        {"joe\n", "joe", ""},
        {"joe", "joe", ""},
        {"joe@example.com, \\joe\n", "joe@example.com|joe", ""},
        {"a, b\nc\n", "a|b|c", ""},
        {"a,\n  b,\n\tc\nd\n", "a|b|c|d", ""},
        {"  # indented comment\nx\n", "x", ""},
        {"\"|/usr/bin/procmail -f-\"\n", "|/usr/bin/procmail -f-", ""},
        {"|/usr/bin/vacation joe\n", "|/usr/bin/vacation joe", ""},
        {"/var/mail/joe.copy, :include:/etc/list\n", "/var/mail/joe.copy|:include:/etc/list", ""},
        {"a\r\nb\r\n", "a|b", ""},
        {"ok\n\"unbalanced\nafter\n", "ok|after", "line 2: "},
        {"x\n#comment\n  continues-the-comment\ny\n", "x|y", ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = parse(cases[i].text, 2048);

        CHECK_STREQ(got, cases[i].values);
        if (*cases[i].warnings == 0)
            CHECK_STREQ(buf_str(warnings), "");
        else
            CHECK(strncmp(buf_str(warnings), cases[i].warnings, strlen(cases[i].warnings)) == 0);
        if (strcmp(got, cases[i].values) != 0)
            fprintf(stderr, "  case %zu\n", i);
        mem_free(got);
    }
}

/* A line longer than the limit is skipped with a warning; the others count. */
static void test_long_lines(void)
{
    struct buf *text = buf_create(256);
    char *got;

    buf_puts(text, "first\n");
    for (int i = 0; i < 50; i++)
        buf_puts(text, "abcdefghij");
    buf_puts(text, "\nlast\n");
    got = parse(buf_str(text), 100);
    CHECK_STREQ(got, "first|last");
    CHECK_STREQ(buf_str(warnings), "line 2: line too long; skipped;");
    mem_free(got);

    /* Continuation lines count towards the limit of their logical line. */
    buf_set(text, "a,\n");
    for (int i = 0; i < 30; i++)
        buf_puts(text, " bbbbbbbbb,\n");
    buf_puts(text, "c\n");
    got = parse(buf_str(text), 100);
    CHECK_STREQ(got, "c");
    CHECK_STREQ(buf_str(warnings), "line 1: line too long; skipped;");
    mem_free(got);

    /* Exactly at the limit is fine. */
    buf_reset(text);
    for (int i = 0; i < 10; i++)
        buf_puts(text, "abcdefghij");
    got = parse(buf_str(text), 100);
    CHECK_INTEQ(strlen(got), 100);
    mem_free(got);
    buf_free(&text);
}

static void test_dups(void)
{
    struct local_dups *d = local_dups_create(3);
    struct local_dups *none = local_dups_create(0);
    struct local_dups *big = local_dups_create(5000);
    char key[32];

    CHECK(!local_dups_seen(d, "mailbox /a"));
    CHECK(local_dups_seen(d, "mailbox /a"));
    CHECK(!local_dups_seen(d, "mailbox /b"));
    CHECK(!local_dups_seen(d, "mailbox /c"));
    /* The limit is reached: new keys are no longer remembered. */
    CHECK(!local_dups_seen(d, "mailbox /d"));
    CHECK(!local_dups_seen(d, "mailbox /d"));
    CHECK(local_dups_seen(d, "mailbox /b"));
    CHECK(!local_dups_seen(none, "x"));
    CHECK(!local_dups_seen(none, "x"));
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        CHECK(!local_dups_seen(big, key));
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        CHECK(local_dups_seen(big, key));
    }
    local_dups_free(&d);
    local_dups_free(&none);
    local_dups_free(&big);
    CHECK(d == NULL);
}

/* Feed msg to a new loop set in pieces of step bytes; returns it. */
static struct local_loop *loop_feed(const char *msg, size_t step)
{
    struct local_loop *l = local_loop_create();
    size_t len = strlen(msg);
    bool done = false;

    for (size_t pos = 0; pos < len && !done; pos += step)
        local_loop_feed(l, msg + pos, len - pos < step ? len - pos : step, &done);
    if (!done)
        local_loop_feed(l, "", 0, &done);
    CHECK(done);
    return l;
}

static void test_loop_detection(void)
{
    static const char msg[] = "Received: from x\n"
                              "Delivered-To: Joe@Example.COM\n"
                              "delivered-to:   <list@example.com>  \n"
                              "DELIVERED-TO:\n folded@example.com\n"
                              "X-Delivered-To: notme@example.com\n"
                              "Delivered-To-X: notme2@example.com\n"
                              "Subject: hi\n"
                              "\n"
                              "Delivered-To: body@example.com\n";
    static const char *const found[] = {"joe@example.com", "JOE@example.com", "list@example.com",
                                        "folded@example.com"};
    static const char *const absent[] = {
        "notme@example.com", "notme2@example.com", "body@example.com", "joe", "example.com", ""};

    for (size_t step = 1; step <= sizeof(msg); step++) {
        struct local_loop *l = loop_feed(msg, step);

        CHECK_INTEQ(local_loop_count(l), 3);
        for (size_t i = 0; i < sizeof(found) / sizeof(found[0]); i++)
            CHECK(local_loop_find(l, found[i]));
        for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
            CHECK(!local_loop_find(l, absent[i]));
        local_loop_free(&l);
    }
}

/* A message without a body, with CR LF, and one whose "headers" are a body. */
static void test_loop_edges(void)
{
    struct local_loop *l;

    l = loop_feed("Delivered-To: a@x\r\nSubject: s\r\n", 3);
    CHECK(local_loop_find(l, "a@x"));
    local_loop_free(&l);

    l = loop_feed("this is no header\nDelivered-To: a@x\n", 1);
    CHECK_INTEQ(local_loop_count(l), 0);
    local_loop_free(&l);

    l = loop_feed("", 1);
    CHECK_INTEQ(local_loop_count(l), 0);
    local_loop_free(&l);
}

int main(void)
{
    warnings = buf_create(64);
    TEST_RUN(test_forward_files);
    TEST_RUN(test_long_lines);
    TEST_RUN(test_dups);
    TEST_RUN(test_loop_detection);
    TEST_RUN(test_loop_edges);
    buf_free(&warnings);
    return test_summary();
}
