/*
 * test_attr - typed attribute messages (lib/mail/attr.c) and the delivery
 * protocol built on them (lib/mail/deliver.c): round trips, byte-at-a-time
 * parsing, strictness (missing, extra, misnamed, mistyped, out-of-range
 * and oversized fields), malformed wire input, and stream I/O.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/mail/attr.h"
#include "lib/mail/deliver.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"
#include "tests/unit/test.h"

/* Parse all of data in chunks of step bytes (0 = all at once); expect exactly one message. */
static struct attr_msg *parse_one(const char *data, size_t len, size_t step, const char **why_r)
{
    struct attr_parser *p = attr_parser_create(NULL);
    struct attr_msg *m = NULL;
    size_t off = 0;

    *why_r = NULL;
    while (off < len) {
        size_t n = step == 0 || len - off < step ? len - off : step, used = 0;
        int r = attr_parser_feed(p, data + off, n, &used, &m, why_r);

        if (r < 0)
            break;
        off += used;
        if (r == 1) {
            if (off != len) {
                *why_r = "bytes left after the message";
                attr_msg_free(&m);
            }
            break;
        }
    }
    if (m == NULL && *why_r == NULL)
        *why_r = "incomplete";
    attr_parser_free(&p);
    return m;
}

/* A message with every field type. */
static void build_sample(struct buf *b)
{
    attr_put_begin(b, "sample", 3);
    attr_put_str(b, "name", "joe@example.com");
    attr_put_str(b, "empty", "");
    attr_put_str(b, "null", NULL);
    attr_put_data(b, "bin", "a\0b\nc", 5);
    attr_put_int(b, "count", -42);
    attr_put_int(b, "zero", 0);
    attr_put_long(b, "big", 9000000000000000000LL);
    attr_put_long(b, "small", INT64_MIN);
    attr_put_end(b);
}

/* Read the sample back and check every value. */
static void check_sample(struct attr_msg *m)
{
    const char *s = NULL, *why = NULL;
    size_t len = 0;
    int i = 1;
    long long l = 0;

    CHECK_STREQ(attr_msg_type(m), "sample");
    CHECK_INTEQ(attr_msg_version(m), 3);
    CHECK_INTEQ(attr_msg_count(m), 8);
    CHECK_INTEQ(attr_get_begin(m, "sample", 3), 0);
    CHECK_INTEQ(attr_get_str(m, "name", &s), 0);
    CHECK_STREQ(s, "joe@example.com");
    CHECK_INTEQ(attr_get_str(m, "empty", &s), 0);
    CHECK_STREQ(s, "");
    CHECK_INTEQ(attr_get_str(m, "null", &s), 0);
    CHECK_STREQ(s, "");
    CHECK_INTEQ(attr_get_data(m, "bin", &s, &len), 0);
    CHECK_INTEQ(len, 5);
    CHECK(memcmp(s, "a\0b\nc", 5) == 0);
    CHECK_INTEQ(attr_get_int(m, "count", &i), 0);
    CHECK_INTEQ(i, -42);
    CHECK_INTEQ(attr_get_int_range(m, "zero", 0, 0, &i), 0);
    CHECK_INTEQ(i, 0);
    CHECK_INTEQ(attr_get_long(m, "big", &l), 0);
    CHECK_INTEQ(l, 9000000000000000000LL);
    CHECK_STREQ(attr_peek_name(m), "small");
    CHECK_INTEQ(attr_get_long(m, "small", &l), 0);
    CHECK(l == INT64_MIN);
    CHECK(attr_peek_name(m) == NULL);
    CHECK_INTEQ(attr_get_end(m, &why), 0);
    /* Rewound, a failed read is forgotten and the fields can be read again. */
    attr_get_rewind(m);
    CHECK_INTEQ(attr_get_int(m, "name", &i), -1);
    CHECK_INTEQ(attr_get_end(m, &why), -1);
    attr_get_rewind(m);
    CHECK_INTEQ(attr_get_begin(m, "sample", 3), 0);
    CHECK_INTEQ(attr_get_str(m, "name", &s), 0);
    CHECK_STREQ(s, "joe@example.com");
}

/* Build, parse whole, check. */
static void test_round_trip(void)
{
    struct buf *b = buf_create(0);
    const char *why;
    struct attr_msg *m;

    build_sample(b);
    m = parse_one(buf_str(b), buf_len(b), 0, &why);
    CHECK(m != NULL);
    if (m)
        check_sample(m);
    attr_msg_free(&m);
    buf_free(&b);
}

/* The same bytes fed one at a time, and in every chunk size up to 17. */
static void test_byte_at_a_time(void)
{
    struct buf *b = buf_create(0);

    build_sample(b);
    for (size_t step = 1; step <= 17; step++) {
        const char *why;
        struct attr_msg *m = parse_one(buf_str(b), buf_len(b), step, &why);

        CHECK(m != NULL);
        if (m)
            check_sample(m);
        attr_msg_free(&m);
    }
    buf_free(&b);
}

/* Two messages in one buffer: the first feed stops at the end of the first. */
static void test_two_messages(void)
{
    struct buf *b = buf_create(0);
    struct attr_parser *p = attr_parser_create(NULL);
    struct attr_msg *m = NULL;
    size_t used = 0, first_len;
    const char *why, *s;

    attr_put_begin(b, "one", 1);
    attr_put_str(b, "a", "x");
    attr_put_end(b);
    first_len = buf_len(b);
    attr_put_begin(b, "two", 1);
    attr_put_str(b, "b", "y");
    attr_put_end(b);

    CHECK(attr_parser_idle(p));
    CHECK_INTEQ(attr_parser_feed(p, buf_str(b), buf_len(b), &used, &m, &why), 1);
    CHECK_INTEQ(used, first_len);
    CHECK(attr_parser_idle(p));
    CHECK_STREQ(attr_msg_type(m), "one");
    attr_msg_free(&m);
    CHECK_INTEQ(attr_parser_feed(p, buf_str(b) + used, buf_len(b) - used, &used, &m, &why), 1);
    CHECK_INTEQ(used, buf_len(b) - first_len);
    CHECK_STREQ(attr_msg_type(m), "two");
    CHECK_INTEQ(attr_get_begin(m, "two", 1), 0);
    CHECK_INTEQ(attr_get_str(m, "b", &s), 0);
    CHECK_INTEQ(attr_get_end(m, &why), 0);
    attr_msg_free(&m);
    /* Half a message: not idle. */
    CHECK_INTEQ(attr_parser_feed(p, "@x 1\n", 5, &used, &m, &why), 0);
    CHECK(!attr_parser_idle(p));
    attr_parser_free(&p);
    buf_free(&b);
}

/* What a reader does wrong, and the message that says so. */
enum strict_op { OP_STR, OP_INT, OP_LONG, OP_RANGE, OP_END };

static const struct strict_case {
    const char *label;
    const char *msgtype;
    int version;
    enum strict_op ops[4];
    const char *names[4];
    const char *why_part;
} strict_cases[] = {
    {"all fields read", "t", 1, {OP_STR, OP_INT, OP_END}, {"s", "i"}, NULL},
    {"missing field",
     "t",
     1,
     {OP_STR, OP_INT, OP_STR, OP_END},
     {"s", "i", "more"},
     "field \"more\": missing"},
    {"leftover field", "t", 1, {OP_STR, OP_END}, {"s"}, "unexpected field \"i\""},
    {"wrong name", "t", 1, {OP_STR, OP_INT, OP_END}, {"s", "j"}, "expected \"j\", got \"i\""},
    {"string read as int", "t", 1, {OP_INT, OP_END}, {"s"}, "type 's', expected 'i'"},
    {"int read as string", "t", 1, {OP_STR, OP_STR, OP_END}, {"s", "i"}, "type 'i'"},
    {"int read as long", "t", 1, {OP_STR, OP_LONG, OP_END}, {"s", "i"}, "type 'i'"},
    {"int out of range", "t", 1, {OP_STR, OP_RANGE, OP_END}, {"s", "i"}, "out of range 0..5"},
    {"wrong message type", "u", 1, {OP_END}, {NULL}, "expected message type \"u\""},
    {"wrong version", "t", 2, {OP_END}, {NULL}, "protocol version 1, expected 2"},
};

/* Strict reading: every mistake is reported by attr_get_end, the first one wins. */
static void test_strict(void)
{
    for (size_t c = 0; c < sizeof(strict_cases) / sizeof(strict_cases[0]); c++) {
        const struct strict_case *tc = &strict_cases[c];
        struct buf *b = buf_create(0);
        const char *why = NULL, *s;
        struct attr_msg *m;
        int iv, r = 0;
        long long lv;

        attr_put_begin(b, "t", 1);
        attr_put_str(b, "s", "text");
        attr_put_int(b, "i", 7);
        attr_put_end(b);
        m = parse_one(buf_str(b), buf_len(b), 0, &why);
        CHECK(m != NULL);
        if (m == NULL) {
            buf_free(&b);
            continue;
        }
        attr_get_begin(m, tc->msgtype, tc->version);
        for (int k = 0; k < 4 && r == 0; k++) {
            switch (tc->ops[k]) {
            case OP_STR:
                attr_get_str(m, tc->names[k], &s);
                break;
            case OP_INT:
                attr_get_int(m, tc->names[k], &iv);
                break;
            case OP_LONG:
                attr_get_long(m, tc->names[k], &lv);
                break;
            case OP_RANGE:
                attr_get_int_range(m, tc->names[k], 0, 5, &iv);
                break;
            case OP_END:
                r = attr_get_end(m, &why) < 0 ? -1 : 1;
                break;
            }
        }
        if (tc->why_part == NULL) {
            if (r != 1)
                fprintf(stderr, "  case %s: %s\n", tc->label, why);
            CHECK_INTEQ(r, 1);
        } else {
            CHECK_INTEQ(r, -1);
            if (r < 0 && strstr(why, tc->why_part) == NULL) {
                fprintf(stderr, "  case %s: got \"%s\"\n", tc->label, why);
                CHECK(0);
            }
        }
        attr_msg_free(&m);
        buf_free(&b);
    }
}

/* Malformed wire input: each must fail, whole and byte at a time. */
static const struct bad_case {
    const char *label;
    const char *data;
} bad_cases[] = {
    {"no @", "x"},
    {"upper case type", "@Bad 1\n"},
    {"empty type", "@ 1\n"},
    {"version 0", "@t 0\n"},
    {"version leading zero", "@t 01\n"},
    {"version too big", "@t 10000\n"},
    {"version not a number", "@t x\n"},
    {"CR in header", "@t 1\r\n"},
    {"unknown field type", "@t 1\nqa 1:x\n"},
    {"empty name", "@t 1\ns 1:x\n"},
    {"bad name byte", "@t 1\nsA 1:x\n"},
    {"name too long", "@t 1\nsaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1:x\n"},
    {"length leading zero", "@t 1\nsa 01:x\n"},
    {"length not a number", "@t 1\nsa x:x\n"},
    {"empty length", "@t 1\nsa :x\n"},
    {"length too big", "@t 1\nsa 65537:"},
    {"length huge", "@t 1\nsa 99999999999999999999999:"},
    {"value longer than length", "@t 1\nsa 1:xy\n"},
    {"int not a number", "@t 1\nia 3:abc\n"},
    {"int overflow", "@t 1\nia 10:2147483648\n"},
    {"int leading zero", "@t 1\nia 2:07\n"},
    {"int minus zero", "@t 1\nia 2:-0\n"},
    {"int empty", "@t 1\nia 0:\n"},
    {"long overflow", "@t 1\nla 19:9223372036854775808\n"},
    {"long plus sign", "@t 1\nla 2:+1\n"},
    {"junk after end", "@t 1\n.x"},
    {"dot without newline", "@t 1\n.\r"},
};

static void test_malformed(void)
{
    for (size_t c = 0; c < sizeof(bad_cases) / sizeof(bad_cases[0]); c++) {
        const struct bad_case *tc = &bad_cases[c];

        for (size_t step = 0; step <= 1; step++) {
            struct attr_parser *p = attr_parser_create(NULL);
            struct attr_msg *m = NULL;
            const char *why = NULL;
            size_t len = strlen(tc->data), off = 0, used;
            int r = 0;

            while (off < len && r == 0) {
                r = attr_parser_feed(p, tc->data + off, step ? 1 : len - off, &used, &m, &why);
                off += used;
            }
            if (r != -1) {
                fprintf(stderr, "  case \"%s\" (step %zu): r=%d\n", tc->label, step, r);
                CHECK(0);
            }
            attr_msg_free(&m);
            /* An error is sticky. */
            CHECK_INTEQ(attr_parser_feed(p, "@t 1\n.\n", 7, &used, &m, &why), -1);
            CHECK(m == NULL);
            attr_parser_free(&p);
        }
    }
}

/* Limits: value size, field count and message size are enforced by the parser. */
static void test_limits(void)
{
    struct attr_limits lim = {.value_max = 10, .fields_max = 3, .msg_max = 50};
    static const struct {
        const char *data;
        int expect; /* 1 parsed, -1 refused */
    } cases[] = {
        {"@t 1\nsa 10:0123456789\n.\n", 1},
        {"@t 1\nsa 11:01234567890\n.\n", -1},
        {"@t 1\nsa 1:x\nsb 1:x\nsc 1:x\n.\n", 1},
        {"@t 1\nsa 10:0123456789\nsb 10:0123456789\n.\n", 1},
        {"@t 1\nsa 1:x\nsb 1:x\nsc 1:x\nsd 1:x\n.\n", -1},
        {"@t 1\nsa 10:0123456789\nsb 10:0123456789\nsc 10:0123456789\n.\n", -1},
    };

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        for (int step = 0; step <= 1; step++) {
            struct attr_parser *p = attr_parser_create(&lim);
            struct attr_msg *m = NULL;
            const char *why, *data = cases[c].data;
            size_t len = strlen(data), off = 0, used;
            int r = 0;

            while (off < len && r == 0) {
                r = attr_parser_feed(p, data + off, step ? 1 : len - off, &used, &m, &why);
                off += used;
            }
            if (r != cases[c].expect) {
                fprintf(stderr, "  limits case %zu step %d: r=%d\n", c, step, r);
                CHECK(0);
            }
            attr_msg_free(&m);
            attr_parser_free(&p);
        }
    }
}

/* The writer refuses what a reader would refuse: a bug, so it panics. Not run (abort). */

/* attr_read on a stream: clean EOF is 0, EOF inside a message is an error. */
static void test_stream_eof(void)
{
    int sv[2];
    struct stream *s;
    struct attr_parser *p = attr_parser_create(NULL);
    struct attr_msg *m = NULL;
    const char *why;

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(write(sv[0], "@t 1\n.\n@t 1\nsa 5:ab", 20) == 20);
    close(sv[0]);
    s = stream_open(sv[1], 0);
    stream_set_timeout(s, 2000);
    CHECK_INTEQ(attr_read(s, p, &m, &why), 1);
    CHECK(m != NULL && strcmp(attr_msg_type(m), "t") == 0);
    attr_msg_free(&m);
    CHECK_INTEQ(attr_read(s, p, &m, &why), -1);
    CHECK(strstr(why, "middle of a message") != NULL);
    stream_free(&s);
    attr_parser_free(&p);

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    close(sv[0]);
    s = stream_open(sv[1], 0);
    p = attr_parser_create(NULL);
    CHECK_INTEQ(attr_read(s, p, &m, &why), 0);
    stream_free(&s);
    attr_parser_free(&p);
}

/* A request with two recipients. */
static struct deliver_request *sample_request(void)
{
    struct deliver_request *req = deliver_request_create();

    deliver_set(&req->queue_id, "0ABCDEFGHJK12345");
    deliver_set(&req->queue_file, "active/0ABCDEFGHJK12345.msg");
    req->content_offset = 96;
    req->content_length = 1234;
    deliver_set(&req->sender, "sender@example.org");
    deliver_set(&req->envid, "abc+2Bdef");
    req->ret = 2;
    req->body = 2;
    req->smtputf8 = true;
    req->arrival_us = 1700000000000000LL;
    req->active_us = 1700000000500000LL;
    deliver_set(&req->transport, "local");
    deliver_set(&req->nexthop, "joe");
    deliver_request_add_rcpt(req, 0, "joe+x@example.com", "Joe+x@Example.COM",
                             "rfc822;Joe+x@Example.COM", 0x02 | 0x04);
    deliver_request_add_rcpt(req, 7, "joe@example.com", NULL, NULL, 0);
    return req;
}

/* Compare two requests field by field. */
static void check_same_request(const struct deliver_request *a, const struct deliver_request *b)
{
    CHECK_STREQ(a->queue_id, b->queue_id);
    CHECK_STREQ(a->queue_file, b->queue_file);
    CHECK_INTEQ(a->content_offset, b->content_offset);
    CHECK_INTEQ(a->content_length, b->content_length);
    CHECK_STREQ(a->sender, b->sender);
    CHECK_STREQ(a->envid, b->envid);
    CHECK_INTEQ(a->ret, b->ret);
    CHECK_INTEQ(a->body, b->body);
    CHECK_INTEQ(a->smtputf8, b->smtputf8);
    CHECK_INTEQ(a->arrival_us, b->arrival_us);
    CHECK_INTEQ(a->active_us, b->active_us);
    CHECK_STREQ(a->transport, b->transport);
    CHECK_STREQ(a->nexthop, b->nexthop);
    CHECK_INTEQ(a->rcpt_count, b->rcpt_count);
    for (size_t i = 0; i < a->rcpt_count && i < b->rcpt_count; i++) {
        CHECK_INTEQ(a->rcpts[i].index, b->rcpts[i].index);
        CHECK_STREQ(a->rcpts[i].address, b->rcpts[i].address);
        CHECK_STREQ(a->rcpts[i].orig, b->rcpts[i].orig);
        CHECK_STREQ(a->rcpts[i].orcpt, b->rcpts[i].orcpt);
        CHECK_INTEQ(a->rcpts[i].notify, b->rcpts[i].notify);
    }
}

/* Request: format, parse whole and byte at a time. */
static void test_deliver_request(void)
{
    struct deliver_request *req = sample_request(), *back = NULL;
    struct buf *b = buf_create(0);
    const char *why = NULL;

    CHECK_INTEQ(deliver_request_check(req, &why), 0);
    deliver_request_format(req, b);
    for (size_t step = 0; step <= 1; step++) {
        struct attr_msg *m = parse_one(buf_str(b), buf_len(b), step, &why);

        CHECK(m != NULL);
        if (m == NULL)
            continue;
        CHECK_INTEQ(deliver_request_parse(m, &back, &why), 0);
        if (back)
            check_same_request(req, back);
        deliver_request_free(&back);
        attr_msg_free(&m);
    }
    buf_free(&b);
    deliver_request_free(&req);
}

/* A request that breaks a rule is refused by the check and by the receiver. */
static void test_deliver_request_bad(void)
{
    static const char *const bad_wire[] = {
        /* no recipients */
        "@deliver_request 1\nsqueue_id 1:Q\nsqueue_file 8:active/Q\nlcontent_offset 1:0\n"
        "lcontent_length 1:0\nssender 0:\nsenvid 0:\niret 1:0\nibody 1:0\nismtputf8 1:0\n"
        "larrival 1:0\nlactive 1:0\nstransport 5:local\nsnexthop 0:\nircpt_count 1:0\n.\n",
        /* ret out of range */
        "@deliver_request 1\nsqueue_id 1:Q\nsqueue_file 8:active/Q\nlcontent_offset 1:0\n"
        "lcontent_length 1:0\nssender 0:\nsenvid 0:\niret 1:3\nibody 1:0\nismtputf8 1:0\n"
        "larrival 1:0\nlactive 1:0\nstransport 5:local\nsnexthop 0:\nircpt_count 1:1\n"
        "lindex 1:0\nsaddress 1:a\nsorig 0:\nsorcpt 0:\ninotify 1:0\n.\n",
        /* path escapes the queue */
        "@deliver_request 1\nsqueue_id 1:Q\nsqueue_file 9:../etc/pw\nlcontent_offset 1:0\n"
        "lcontent_length 1:0\nssender 0:\nsenvid 0:\niret 1:0\nibody 1:0\nismtputf8 1:0\n"
        "larrival 1:0\nlactive 1:0\nstransport 5:local\nsnexthop 0:\nircpt_count 1:1\n"
        "lindex 1:0\nsaddress 1:a\nsorig 0:\nsorcpt 0:\ninotify 1:0\n.\n",
        /* count says 2, one recipient */
        "@deliver_request 1\nsqueue_id 1:Q\nsqueue_file 8:active/Q\nlcontent_offset 1:0\n"
        "lcontent_length 1:0\nssender 0:\nsenvid 0:\niret 1:0\nibody 1:0\nismtputf8 1:0\n"
        "larrival 1:0\nlactive 1:0\nstransport 5:local\nsnexthop 0:\nircpt_count 1:2\n"
        "lindex 1:0\nsaddress 1:a\nsorig 0:\nsorcpt 0:\ninotify 1:0\n.\n",
        /* negative index */
        "@deliver_request 1\nsqueue_id 1:Q\nsqueue_file 8:active/Q\nlcontent_offset 1:0\n"
        "lcontent_length 1:0\nssender 0:\nsenvid 0:\niret 1:0\nibody 1:0\nismtputf8 1:0\n"
        "larrival 1:0\nlactive 1:0\nstransport 5:local\nsnexthop 0:\nircpt_count 1:1\n"
        "lindex 2:-1\nsaddress 1:a\nsorig 0:\nsorcpt 0:\ninotify 1:0\n.\n",
        /* version 2 */
        "@deliver_request 2\n.\n",
    };
    struct deliver_request *req = sample_request(), *back = NULL;
    const char *why;

    for (size_t c = 0; c < sizeof(bad_wire) / sizeof(bad_wire[0]); c++) {
        struct attr_msg *m = parse_one(bad_wire[c], strlen(bad_wire[c]), 0, &why);

        CHECK(m != NULL);
        if (m == NULL) {
            fprintf(stderr, "  bad request %zu: %s\n", c, why);
            continue;
        }
        if (deliver_request_parse(m, &back, &why) != -1) {
            fprintf(stderr, "  bad request %zu accepted\n", c);
            CHECK(0);
        }
        deliver_request_free(&back);
        attr_msg_free(&m);
    }
    /* Duplicate recipient index. */
    req->rcpts[1].index = 0;
    CHECK_INTEQ(deliver_request_check(req, &why), -1);
    deliver_request_free(&req);
}

/* RFC 3463 codes and their class. */
static void test_dsn_valid(void)
{
    static const struct {
        const char *dsn;
        enum deliver_status status;
        bool ok;
    } cases[] = {
        {"2.0.0", DELIVER_SENT, true},        {"4.4.1", DELIVER_DEFERRED, true},
        {"5.1.1", DELIVER_BOUNCED, true},     {"5.123.456", DELIVER_BOUNCED, true},
        {"5.1.1", DELIVER_DEFERRED, false},   {"2.0.0", DELIVER_BOUNCED, false},
        {"5.1", DELIVER_BOUNCED, false},      {"5.1.1.1", DELIVER_BOUNCED, false},
        {"5.1234.1", DELIVER_BOUNCED, false}, {"", DELIVER_SENT, false},
        {"5..1", DELIVER_BOUNCED, false},     {"5.1.x", DELIVER_BOUNCED, false},
        {"3.0.0", DELIVER_SENT, false},       {"5.1.1 ", DELIVER_BOUNCED, false},
    };

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
        if (deliver_dsn_valid(cases[c].dsn, cases[c].status) != cases[c].ok) {
            fprintf(stderr, "  dsn \"%s\" status %d\n", cases[c].dsn, (int)cases[c].status);
            CHECK(0);
        }
}

/* Requests and results through a socket pair, as qmgr and an agent use them. */
static void test_deliver_stream(void)
{
    int sv[2];
    struct stream *qmgr, *agent;
    struct attr_parser *qp = attr_parser_create(NULL), *ap = attr_parser_create(NULL);
    struct deliver_request *req = sample_request(), *got = NULL;
    struct deliver_result res;
    const char *why = NULL;

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    qmgr = stream_open(sv[0], 0);
    agent = stream_open(sv[1], 0);
    stream_set_timeout(qmgr, 2000);
    stream_set_timeout(agent, 2000);

    CHECK_INTEQ(deliver_request_send(qmgr, req, &why), 0);
    CHECK_INTEQ(deliver_request_recv(agent, ap, &got, &why), 1);
    if (got == NULL) {
        CHECK(0);
        goto out;
    }
    check_same_request(req, got);
    CHECK_INTEQ(deliver_result_send(agent, got, &got->rcpts[1], DELIVER_BOUNCED, "5.1.1", NULL,
                                    "local", 0, 3, "unknown user: \"joe\"", &why),
                0);
    CHECK_INTEQ(deliver_result_send(agent, got, &got->rcpts[0], DELIVER_SENT, "2.0.0", "delivered",
                                    "local", 0, 12, "delivered to maildir", &why),
                0);
    /* A result whose code does not match its status is refused before it is sent. */
    CHECK_INTEQ(deliver_result_send(agent, got, &got->rcpts[0], DELIVER_SENT, "5.0.0", NULL,
                                    "local", 0, 0, "x", &why),
                -1);
    CHECK_INTEQ(deliver_result_send(agent, got, &got->rcpts[0], DELIVER_DEFERRED, "4.0.0",
                                    "delivered", "local", 0, 0, "x", &why),
                -1);

    CHECK_INTEQ(deliver_result_recv(qmgr, qp, &res, &why), 1);
    CHECK_INTEQ(res.index, 7);
    CHECK_INTEQ(res.status, DELIVER_BOUNCED);
    CHECK_STREQ(res.dsn, "5.1.1");
    CHECK_STREQ(res.action, "");
    CHECK_STREQ(res.text, "unknown user: \"joe\"");
    CHECK_STREQ(res.relay, "local");
    CHECK_INTEQ(res.xfer_ms, 3);
    deliver_result_clear(&res);
    CHECK_INTEQ(deliver_result_recv(qmgr, qp, &res, &why), 1);
    CHECK_INTEQ(res.index, 0);
    CHECK_INTEQ(res.status, DELIVER_SENT);
    CHECK_STREQ(res.action, "delivered");
    CHECK_STREQ(res.address, "joe+x@example.com");
    deliver_result_clear(&res);
    /* qmgr closes: the agent sees a clean end. */
    stream_free(&qmgr);
    CHECK_INTEQ(deliver_request_recv(agent, ap, &got, &why), 0);
out:
    stream_free(&qmgr);
    stream_free(&agent);
    deliver_request_free(&req);
    deliver_request_free(&got);
    attr_parser_free(&qp);
    attr_parser_free(&ap);
}

/* A result with a mismatched class on the wire is refused by the receiver. */
static void test_deliver_result_bad(void)
{
    static const char *const bad_wire[] = {
        "@deliver_result 1\nlindex 1:0\nsaddress 1:a\nistatus 1:0\nsdsn 5:5.0.0\nsaction 0:\n"
        "stext 0:\nsrelay 0:\nlconn_ms 1:0\nlxfer_ms 1:0\niflags 1:0\n.\n",
        "@deliver_result 1\nlindex 1:0\nsaddress 1:a\nistatus 1:3\nsdsn 5:5.0.0\nsaction 0:\n"
        "stext 0:\nsrelay 0:\nlconn_ms 1:0\nlxfer_ms 1:0\niflags 1:0\n.\n",
        "@deliver_result 1\nlindex 1:0\nsaddress 1:a\nistatus 1:2\nsdsn 5:5.0.0\nsaction "
        "7:relayed\n"
        "stext 0:\nsrelay 0:\nlconn_ms 1:0\nlxfer_ms 1:0\niflags 1:0\n.\n",
        "@deliver_result 1\nlindex 1:0\nsaddress 1:a\nistatus 1:0\nsdsn 5:2.0.0\nsaction 3:foo\n"
        "stext 0:\nsrelay 0:\nlconn_ms 1:0\nlxfer_ms 1:0\niflags 1:0\n.\n",
        "@deliver_result 1\nlindex 1:0\nsaddress 1:a\nistatus 1:0\nsdsn 5:2.0.0\nsaction 0:\n"
        "stext 0:\nsrelay 0:\nlconn_ms 2:-5\nlxfer_ms 1:0\niflags 1:0\n.\n",
        "@deliver_result 1\nlindex 1:0\nsaddress 1:a\nistatus 1:0\nsdsn 5:2.0.0\nsaction 0:\n"
        "stext 0:\nsrelay 0:\nlconn_ms 1:0\n.\n",
        /* the next hop flag only with a deferral; unknown flags */
        "@deliver_result 1\nlindex 1:0\nsaddress 1:a\nistatus 1:0\nsdsn 5:2.0.0\nsaction 0:\n"
        "stext 0:\nsrelay 0:\nlconn_ms 1:0\nlxfer_ms 1:0\niflags 1:1\n.\n",
        "@deliver_result 1\nlindex 1:0\nsaddress 1:a\nistatus 1:1\nsdsn 5:4.0.0\nsaction 0:\n"
        "stext 0:\nsrelay 0:\nlconn_ms 1:0\nlxfer_ms 1:0\niflags 1:2\n.\n",
    };
    const char *good =
        "@deliver_result 1\nlindex 1:0\nsaddress 1:a\nistatus 1:0\nsdsn 5:2.0.0\n"
        "saction 0:\nstext 0:\nsrelay 0:\nlconn_ms 1:0\nlxfer_ms 1:0\niflags 1:0\n.\n";
    const char *site =
        "@deliver_result 1\nlindex 1:0\nsaddress 1:a\nistatus 1:1\nsdsn 5:4.4.1\n"
        "saction 0:\nstext 0:\nsrelay 0:\nlconn_ms 1:0\nlxfer_ms 1:0\niflags 1:1\n.\n";
    struct deliver_result res;
    const char *why;
    struct attr_msg *m = parse_one(good, strlen(good), 0, &why);

    CHECK(m != NULL && deliver_result_parse(m, &res, &why) == 0);
    deliver_result_clear(&res);
    attr_msg_free(&m);
    m = parse_one(site, strlen(site), 0, &why);
    CHECK(m != NULL && deliver_result_parse(m, &res, &why) == 0);
    CHECK_INTEQ(res.flags, DELIVER_FLAG_NEXTHOP);
    deliver_result_clear(&res);
    attr_msg_free(&m);
    for (size_t c = 0; c < sizeof(bad_wire) / sizeof(bad_wire[0]); c++) {
        m = parse_one(bad_wire[c], strlen(bad_wire[c]), 0, &why);
        CHECK(m != NULL);
        if (m != NULL && deliver_result_parse(m, &res, &why) != -1) {
            fprintf(stderr, "  bad result %zu accepted\n", c);
            CHECK(0);
            deliver_result_clear(&res);
        }
        attr_msg_free(&m);
    }
}

/* The log line has Postfix's shape. */
static struct buf *logged;

static void capture(enum msg_level level, const char *text)
{
    (void)level;
    buf_set(logged, text);
}

static void test_deliver_log(void)
{
    struct deliver_request *req = sample_request();
    struct deliver_result res = {.index = 0,
                                 .status = DELIVER_SENT,
                                 .dsn = "2.0.0",
                                 .action = "delivered",
                                 .text = "delivered to maildir\n",
                                 .relay = "local",
                                 .conn_ms = 10,
                                 .xfer_ms = 120};

    logged = buf_create(0);
    msg_set_hook(capture);
    deliver_log(req, &req->rcpts[0], &res, req->arrival_us + 1750000);
    CHECK_STREQ(buf_str(logged),
                "0ABCDEFGHJK12345: to=<joe+x@example.com>, orig_to=<Joe+x@Example.COM>, "
                "relay=local, delay=1.75, delays=0.5/1.12/0.01/0.12, dsn=2.0.0, "
                "status=sent (delivered to maildir?)");
    res.status = DELIVER_DEFERRED;
    res.dsn = "4.2.2";
    res.conn_ms = res.xfer_ms = 0;
    deliver_log(req, &req->rcpts[1], &res, req->arrival_us + 25000000);
    CHECK_STREQ(buf_str(logged),
                "0ABCDEFGHJK12345: to=<joe@example.com>, relay=local, delay=25, "
                "delays=0.5/25/0/0, dsn=4.2.2, status=deferred (delivered to maildir?)");
    msg_set_hook(NULL);
    buf_free(&logged);
    deliver_request_free(&req);
}

int main(void)
{
    msg_init("test_attr", 0);
    TEST_RUN(test_round_trip);
    TEST_RUN(test_byte_at_a_time);
    TEST_RUN(test_two_messages);
    TEST_RUN(test_strict);
    TEST_RUN(test_malformed);
    TEST_RUN(test_limits);
    TEST_RUN(test_stream_eof);
    TEST_RUN(test_deliver_request);
    TEST_RUN(test_deliver_request_bad);
    TEST_RUN(test_dsn_valid);
    TEST_RUN(test_deliver_stream);
    TEST_RUN(test_deliver_result_bad);
    TEST_RUN(test_deliver_log);
    return test_summary();
}
