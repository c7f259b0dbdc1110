/*
 * Unit tests for lib/mail/cleanup: header pass-through, removal and
 * insertion, the header/body separator, the final line end, header size
 * limit, hop counting, write errors, the date format and address
 * qualification. Every message is fed whole, byte by byte and in random
 * pieces, and the three outputs must agree.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/mail/cleanup.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "tests/unit/test.h"

#define ARRIVAL 1700000000 /* Tue, 14 Nov 2023 22:13:20 +0000 */

struct sink {
    struct buf *out;
    size_t fail_after; /* fail writes once this many bytes are stored; 0 = never */
};

/* write_fn that collects the output. */
static int sink_write(void *ctx, const char *data, size_t len)
{
    struct sink *s = ctx;

    if (s->fail_after && buf_len(s->out) + len > s->fail_after)
        return -1;
    buf_append(s->out, data, len);
    return 0;
}

/* Run one message through cleanup; mode 0 whole, 1 byte by byte, 2 random pieces. */
static unsigned run(const char *prepend, const char *msg, size_t len, unsigned flags, int hop_limit,
                    size_t hdr_limit, int mode, struct buf *out)
{
    struct cleanup_opts opts = {
        .queue_id = "1K0TESTQUEUEID00",
        .myhostname = "mail.example.com",
        .sender = "sender@example.org",
        .arrival = ARRIVAL,
        .header_size_limit = hdr_limit,
        .hopcount_limit = hop_limit,
        .flags = flags,
    };
    struct sink sink = {.out = out};
    struct cleanup *c = cleanup_create(&opts, sink_write, &sink);
    unsigned status;

    buf_reset(out);
    if (prepend != NULL)
        cleanup_prepend(c, prepend);
    if (mode == 0) {
        cleanup_feed(c, msg, len);
    } else {
        for (size_t i = 0; i < len;) {
            size_t n = mode == 1 ? 1 : 1 + (size_t)(rand() % 7);

            if (n > len - i)
                n = len - i;
            cleanup_feed(c, msg + i, n);
            i += n;
        }
    }
    cleanup_finish(c);
    status = cleanup_status(c);
    CHECK_INTEQ(cleanup_size(c), buf_len(out));
    cleanup_free(&c);
    CHECK(c == NULL);
    return status;
}

/* Check that msg becomes want (all three feeding modes) with the given status. */
static void expect(const char *prepend, const char *msg, unsigned flags, const char *want,
                   unsigned want_status)
{
    struct buf *out = buf_create(256);

    for (int mode = 0; mode < 3; mode++) {
        unsigned st = run(prepend, msg, strlen(msg), flags, 50, 0, mode, out);

        if (strcmp(buf_str(out), want) != 0)
            fprintf(stderr, "  mode %d input:\n%s\n  got:\n%s\n  want:\n%s\n", mode, msg,
                    buf_str(out), want);
        CHECK_STREQ(buf_str(out), want);
        CHECK_INTEQ(st, want_status);
    }
    buf_free(&out);
}

static void test_pass_through(void)
{
    /* a well-formed message comes out byte for byte */
    expect(NULL, "Subject: hi\nFrom: a@b\n\nbody\n.\n\nend\n", 0,
           "Subject: hi\nFrom: a@b\n\nbody\n.\n\nend\n", 0);
    expect("Received: from x (y [1.2.3.4])\n\tby z", "Subject: hi\n\nbody\n", 0,
           "Received: from x (y [1.2.3.4])\n\tby z\nSubject: hi\n\nbody\n", 0);
    /* folded headers stay folded */
    expect(NULL, "Subject: a\n  b\n\tc\nX: y\n\nbody\n", 0, "Subject: a\n  b\n\tc\nX: y\n\nbody\n",
           0);
    /* 8-bit and NUL-free binary-ish bytes pass */
    expect(NULL, "Subject: \xc3\xa9t\xc3\xa9\n\n\xff\xfe body\n", 0,
           "Subject: \xc3\xa9t\xc3\xa9\n\n\xff\xfe body\n", 0);
    /* no headers at all: the empty first line is the separator */
    expect(NULL, "\nbody only\n", 0, "\nbody only\n", 0);
    /* an empty message stays empty */
    expect(NULL, "", 0, "", 0);
}

static void test_separator_and_final_newline(void)
{
    /* a line that is no header ends the headers: an empty line is inserted */
    expect(NULL, "Subject: x\nthis is body\nmore\n", 0, "Subject: x\n\nthis is body\nmore\n", 0);
    /* a message that starts with body text */
    expect(NULL, "hello world\n", 0, "\nhello world\n", 0);
    /* a continuation line before any header starts the body, after our header */
    expect("Received: by x", " folded?\n", 0, "Received: by x\n\n folded?\n", 0);
    /* headers only, no final line end */
    expect(NULL, "Subject: x", 0, "Subject: x\n", 0);
    /* body without a final line end */
    expect(NULL, "Subject: x\n\nbody", 0, "Subject: x\n\nbody\n", 0);
    /* a long header name-like run that is no header */
    {
        struct buf *in = buf_create(2000), *want = buf_create(2000);

        for (int i = 0; i < 1500; i++)
            buf_putc(in, 'a');
        buf_puts(in, "\n");
        buf_putc(want, '\n');
        buf_append(want, buf_str(in), buf_len(in));
        expect(NULL, buf_str(in), 0, buf_str(want), 0);
        buf_free(&in);
        buf_free(&want);
    }
}

static void test_removed_headers(void)
{
    expect(NULL, "Return-Path: <x@y>\nSubject: s\nContent-Length: 12\nBcc: c@d\n\nbody\n", 0,
           "Subject: s\nBcc: c@d\n\nbody\n", 0);
    expect(NULL, "return-path: <x@y>\nBCC: c@d,\n e@f\nSubject: s\n\nbody\n",
           CLEANUP_FLAG_STRIP_BCC, "Subject: s\n\nbody\n", 0);
    expect(NULL, "Resent-Bcc: c@d\nResent-To: e@f\n\nbody\n", CLEANUP_FLAG_STRIP_BCC,
           "Resent-To: e@f\n\nbody\n", 0);
    expect(NULL, "Resent-Bcc: c@d\n\nbody\n", 0, "Resent-Bcc: c@d\n\nbody\n", 0);
}

static void test_added_headers(void)
{
    struct buf *out = buf_create(256);
    const char *id = "Message-ID: <20231114221320.1K0TESTQUEUEID00@mail.example.com>\n";
    const char *date = "Date: Tue, 14 Nov 2023 22:13:20 +0000 (UTC)\n";
    char want[600];

    snprintf(want, sizeof(want), "Subject: s\n%s%sFrom: sender@example.org\n\nbody\n", id, date);
    expect(NULL, "Subject: s\n\nbody\n", CLEANUP_FLAG_ADD_HEADERS, want, 0);
    /* nothing is added without the flag */
    expect(NULL, "Subject: s\n\nbody\n", 0, "Subject: s\n\nbody\n", 0);
    /* present ones are kept, in any case of the name */
    expect(NULL, "message-id: <a@b>\nDATE: x\nfrom: y\n\nbody\n", CLEANUP_FLAG_ADD_HEADERS,
           "message-id: <a@b>\nDATE: x\nfrom: y\n\nbody\n", 0);
    /* headers only, no separator: added at the end, still no separator */
    snprintf(want, sizeof(want), "Subject: s\n%s%sFrom: sender@example.org\n", id, date);
    expect(NULL, "Subject: s\n", CLEANUP_FLAG_ADD_HEADERS, want, 0);
    /* missing separator: added headers, then the inserted empty line */
    snprintf(want, sizeof(want), "Subject: s\n%s%sFrom: sender@example.org\n\nbody\n", id, date);
    expect(NULL, "Subject: s\nbody\n", CLEANUP_FLAG_ADD_HEADERS, want, 0);
    /* the null sender: From: MAILER-DAEMON */
    {
        struct cleanup_opts opts = {.queue_id = "Q",
                                    .myhostname = "h.example",
                                    .sender = "",
                                    .arrival = ARRIVAL,
                                    .flags = CLEANUP_FLAG_ADD_HEADERS};
        struct sink sink = {.out = out};
        struct cleanup *c = cleanup_create(&opts, sink_write, &sink);

        cleanup_feed(c, "Subject: s\nMessage-Id: <x@y>\nDate: d\n\nb\n", 40);
        cleanup_finish(c);
        CHECK(strstr(buf_str(out), "\nFrom: MAILER-DAEMON@h.example\n\nb\n") != NULL);
        cleanup_free(&c);
    }
    buf_free(&out);
}

static void test_header_size_limit(void)
{
    struct buf *in = buf_create(5000), *out = buf_create(5000);
    unsigned st;

    buf_puts(in, "X-Long: ");
    for (int i = 0; i < 3000; i++)
        buf_putc(in, 'a' + i % 26);
    buf_puts(in, "\n\tmore\nSubject: after\n\nbody\n");
    for (int mode = 0; mode < 3; mode++) {
        const char *s;

        st = run(NULL, buf_str(in), buf_len(in), 0, 50, 1024, mode, out);
        CHECK_INTEQ(st, 0);
        s = buf_str(out);
        /* the long header is cut at 1024 bytes, the rest is intact */
        CHECK(strncmp(s, "X-Long: abc", 11) == 0);
        CHECK(strchr(s, '\n') - s == 1024);
        CHECK(strstr(s, "\nSubject: after\n\nbody\n") != NULL);
        CHECK(strstr(s, "more") == NULL);
    }
    buf_free(&in);
    buf_free(&out);
}

static void test_hops(void)
{
    struct buf *in = buf_create(5000), *out = buf_create(5000);

    /* 48 in the message + 1 prepended = 49 < 50: fine */
    for (int i = 0; i < 48; i++)
        buf_printf(in, "Received: from h%d\n\tby x\n", i);
    buf_puts(in, "Subject: loop\n\nbody\n");
    for (int mode = 0; mode < 3; mode++)
        CHECK_INTEQ(run("Received: by me", buf_str(in), buf_len(in), 0, 50, 0, mode, out), 0);
    /* one more: 50 = hopcount_limit: a loop */
    {
        struct buf *more = buf_create(5000);

        buf_puts(more, "received: from extra\n");
        buf_append(more, buf_str(in), buf_len(in));
        for (int mode = 0; mode < 3; mode++)
            CHECK_INTEQ(run("Received: by me", buf_str(more), buf_len(more), 0, 50, 0, mode, out),
                        CLEANUP_STAT_HOPS);
        /* no limit: fine */
        CHECK_INTEQ(run("Received: by me", buf_str(more), buf_len(more), 0, 0, 0, 0, out), 0);
        buf_free(&more);
    }
    /* Received: in the body does not count */
    buf_reset(in);
    buf_puts(in, "Subject: x\n\n");
    for (int i = 0; i < 60; i++)
        buf_puts(in, "Received: quoted\n");
    CHECK_INTEQ(run("Received: by me", buf_str(in), buf_len(in), 0, 50, 0, 0, out), 0);
    {
        const char *dsn, *text;

        cleanup_reason(CLEANUP_STAT_HOPS, &dsn, &text);
        CHECK_STREQ(dsn, "5.4.6");
        CHECK_STREQ(text, "Too many hops");
        cleanup_reason(CLEANUP_STAT_WRITE, &dsn, &text);
        CHECK_STREQ(dsn, "4.3.0");
    }
    buf_free(&in);
    buf_free(&out);
}

static void test_write_error(void)
{
    struct cleanup_opts opts = {
        .queue_id = "Q", .myhostname = "h", .sender = "s@h", .arrival = ARRIVAL};
    struct buf *out = buf_create(100);
    struct sink sink = {.out = out, .fail_after = 20};
    struct cleanup *c = cleanup_create(&opts, sink_write, &sink);

    cleanup_prepend(c, "Received: by me");
    cleanup_feed(c, "Subject: a long enough subject\n\nbody\n", 37);
    cleanup_finish(c);
    CHECK_INTEQ(cleanup_status(c), CLEANUP_STAT_WRITE);
    CHECK(buf_len(out) <= 20);
    cleanup_free(&c);
    buf_free(&out);
}

static void test_date(void)
{
    struct buf *b = buf_create(64);

    setenv("TZ", "UTC", 1);
    tzset();
    cleanup_date(b, 0);
    CHECK_STREQ(buf_str(b), "Thu, 1 Jan 1970 00:00:00 +0000 (UTC)");
    buf_reset(b);
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    cleanup_date(b, 1720000000); /* Wed, 3 Jul 2024 09:46:40 UTC, summer time */
    CHECK_STREQ(buf_str(b), "Wed, 3 Jul 2024 11:46:40 +0200 (CEST)");
    buf_reset(b);
    setenv("TZ", "<-0330>+3:30", 1); /* a zone whose name is no word: no comment */
    tzset();
    cleanup_date(b, 1720000000);
    CHECK_STREQ(buf_str(b), "Wed, 3 Jul 2024 06:16:40 -0330");
    setenv("TZ", "UTC", 1);
    tzset();
    buf_free(&b);
}

static void test_qualify(void)
{
    static const struct {
        const char *in, *origin, *out;
    } cases[] = {
        {"user", "example.com", "user@example.com"},
        {"user@host", "example.com", "user@host"},
        {"", "example.com", ""},
        {"\"a@b\"", "example.com", "\"a@b\"@example.com"},
        {"\"a@b\"@c", "example.com", "\"a@b\"@c"},
        {"\"a\\\"@b\"", "example.com", "\"a\\\"@b\"@example.com"},
        {"postmaster", "example.com", "postmaster@example.com"},
        {"user", "", "user"},
    };
    struct buf *b = buf_create(64);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(b);
        cleanup_qualify(b, cases[i].in, cases[i].origin);
        CHECK_STREQ(buf_str(b), cases[i].out);
    }
    buf_free(&b);
}

static struct buf *logged; /* every log line, one per line */

/* Capture the log (message-id lines, warnings). */
static void capture(enum msg_level level, const char *text)
{
    (void)level;
    buf_puts(logged, text);
    buf_putc(logged, '\n');
}

/* Run a NUL-terminated message with the default limits. */
static void run_text(const char *msg, unsigned flags, int mode, struct buf *out)
{
    (void)run(NULL, msg, strlen(msg), flags, 50, 0, mode, out);
}

static void test_log_message_id(void)
{
    struct buf *out = buf_create(256);

    buf_reset(logged);
    run_text("Subject: s\n\nbody\n", CLEANUP_FLAG_ADD_HEADERS, 0, out);
    CHECK_STREQ(buf_str(logged), "1K0TESTQUEUEID00: message-id="
                                 "<20231114221320.1K0TESTQUEUEID00@mail.example.com>\n");
    buf_reset(logged);
    run_text("Message-ID:\n <a@b>\nMessage-ID: <second@b>\n\nbody\n", 0, 1, out);
    CHECK_STREQ(buf_str(logged), "1K0TESTQUEUEID00: message-id=<a@b>\n");
    buf_reset(logged);
    run_text("Message-ID: <a\x01\x7f@b>\n\nbody\n", 0, 0, out);
    CHECK_STREQ(buf_str(logged), "1K0TESTQUEUEID00: message-id=<a??@b>\n");
    buf_reset(logged);
    run_text("Subject: no id\n\nbody\n", 0, 0, out);
    CHECK_STREQ(buf_str(logged), "");
    buf_free(&out);
}

int main(void)
{
    msg_init("test_cleanup", MSG_TO_STDERR);
    logged = buf_create(256);
    msg_set_hook(capture);
    msg_set_flags(0);
    setenv("TZ", "UTC", 1);
    tzset();
    srand(42);
    TEST_RUN(test_pass_through);
    TEST_RUN(test_separator_and_final_newline);
    TEST_RUN(test_removed_headers);
    TEST_RUN(test_added_headers);
    TEST_RUN(test_header_size_limit);
    TEST_RUN(test_hops);
    TEST_RUN(test_write_error);
    TEST_RUN(test_date);
    TEST_RUN(test_qualify);
    TEST_RUN(test_log_message_id);
    buf_free(&logged);
    return test_summary();
}
