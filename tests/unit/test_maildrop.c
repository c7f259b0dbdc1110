/*
 * Unit tests for lib/mail/maildrop: the maildrop record format (writer and
 * strict incremental reader, fed whole, byte at a time and in random
 * pieces), the value checks, and the typed-text to queue conversion.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mail/maildrop.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "tests/unit/test.h"

/* ------------------------------------------------------------ helpers */

struct collect {
    struct buf *content;
    int env_calls;
    int env_at_content; /* content bytes seen when env_fn ran */
    int fail_env;
    int fail_data_after; /* fail when content grows past this (-1: never) */
    char sender[1100];
    size_t rcpts;
};

static int collect_env(void *ctx, const struct maildrop_envelope *env)
{
    struct collect *c = ctx;

    c->env_calls++;
    c->env_at_content = (int)buf_len(c->content);
    snprintf(c->sender, sizeof(c->sender), "%s", env->sender);
    c->rcpts = env->rcpt_count;
    return c->fail_env ? -1 : 0;
}

static int collect_data(void *ctx, const char *data, size_t len)
{
    struct collect *c = ctx;

    if (c->fail_data_after >= 0 && buf_len(c->content) + len > (size_t)c->fail_data_after)
        return -1;
    buf_append(c->content, data, len);
    return 0;
}

/* How to cut the input when feeding it. */
enum feed_mode { FEED_WHOLE, FEED_BYTES, FEED_RANDOM };

/*
 * Feed in[0..len) to a new reader in pieces; returns the final result
 * (1 = end record read and finish ok, -1 error) and fills *err, *used.
 */
static int run_reader(const char *in, size_t len, const struct maildrop_limits *lim,
                      enum feed_mode mode, struct collect *c, enum maildrop_error *err,
                      size_t *used_total, char *why_out, size_t why_size,
                      struct maildrop_reader **keep)
{
    struct maildrop_reader *r = maildrop_reader_create(lim, collect_env, collect_data, c);
    const char *why = NULL;
    size_t off = 0;
    int ret = 0;

    while (off < len) {
        size_t n = len - off, used = 0;
        if (mode == FEED_BYTES)
            n = 1;
        else if (mode == FEED_RANDOM)
            n = 1 + (size_t)rand() % (n < 97 ? n : 97);
        ret = maildrop_reader_feed(r, in + off, n, &used, &why);
        off += used;
        if (ret != 0)
            break;
        if (used != n) {
            ret = -2; /* the reader must take everything while it wants more */
            break;
        }
    }
    if (ret == 0)
        ret = maildrop_reader_finish(r, &why) == 0 ? 1 : -1;
    *err = maildrop_reader_error(r);
    *used_total = off;
    if (why_out)
        snprintf(why_out, why_size, "%s", ret < 0 && why ? why : "");
    if (keep)
        *keep = r;
    else
        maildrop_reader_free(&r);
    return ret;
}

static void collect_init(struct collect *c)
{
    memset(c, 0, sizeof(*c));
    c->content = buf_create(0);
    c->fail_data_after = -1;
}

/* A valid stream with every record type. */
static void good_stream(struct buf *b)
{
    maildrop_put_magic(b);
    maildrop_put_str(b, MAILDROP_REC_SENDER, "alice");
    maildrop_put_str(b, MAILDROP_REC_FULLNAME, "Alice Ä. Example");
    maildrop_put_str(b, MAILDROP_REC_ENVID, "env id 42");
    maildrop_put_str(b, MAILDROP_REC_RET, "hdrs");
    maildrop_put_str(b, MAILDROP_REC_BODY, "8BITMIME");
    maildrop_put(b, MAILDROP_REC_SMTPUTF8, "", 0);
    maildrop_put_str(b, MAILDROP_REC_NOTIFY, "SUCCESS,DELAY");
    maildrop_put_str(b, MAILDROP_REC_ORCPT, "rfc822;bob+x2Bfoo@example.com");
    maildrop_put_str(b, MAILDROP_REC_RCPT, "bob@example.com");
    maildrop_put_str(b, MAILDROP_REC_RCPT, "\"john doe\"@example.org");
    maildrop_put_str(b, MAILDROP_REC_NOTIFY, "never");
    maildrop_put_str(b, MAILDROP_REC_RCPT, "carol@[192.0.2.1]");
    maildrop_put_str(b, MAILDROP_REC_RCPT, "dörte@bücher.example");
    maildrop_put_str(b, MAILDROP_REC_DATA, "Subject: hi\n\n");
    maildrop_put(b, MAILDROP_REC_DATA, "", 0);
    maildrop_put(b, MAILDROP_REC_DATA, "body\0with NUL\n\xff\n", 16);
    maildrop_put(b, MAILDROP_REC_END, "", 0);
}

/* ------------------------------------------------------------ reader */

static void test_reader_roundtrip(void)
{
    struct buf *b = buf_create(0);
    static const char want[] = "Subject: hi\n\nbody\0with NUL\n\xff\n";
    enum feed_mode modes[] = {FEED_WHOLE, FEED_BYTES, FEED_RANDOM, FEED_RANDOM, FEED_RANDOM};

    good_stream(b);
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        struct collect c;
        struct maildrop_reader *r;
        enum maildrop_error err;
        size_t used;
        char why[300];
        const struct maildrop_envelope *env;

        collect_init(&c);
        CHECK_INTEQ(run_reader(buf_str(b), buf_len(b), NULL, modes[m], &c, &err, &used, why,
                               sizeof(why), &r),
                    1);
        CHECK_STREQ(why, "");
        CHECK_INTEQ(err, MAILDROP_ERR_NONE);
        CHECK_INTEQ(used, buf_len(b));
        CHECK_INTEQ(c.env_calls, 1);
        CHECK_INTEQ(c.env_at_content, 0);
        CHECK_INTEQ(buf_len(c.content), sizeof(want) - 1);
        CHECK(memcmp(buf_str(c.content), want, sizeof(want) - 1) == 0);
        CHECK_INTEQ(maildrop_reader_content_size(r), sizeof(want) - 1);
        CHECK_INTEQ(maildrop_reader_offset(r), buf_len(b));
        env = maildrop_reader_envelope(r);
        CHECK_STREQ(env->sender, "alice");
        CHECK_STREQ(env->fullname, "Alice Ä. Example");
        CHECK_STREQ(env->envid, "env id 42");
        CHECK_INTEQ(env->ret, QUEUE_RET_HDRS);
        CHECK_INTEQ(env->body, QUEUE_BODY_8BITMIME);
        CHECK(env->smtputf8);
        CHECK_INTEQ(env->rcpt_count, 4);
        if (env->rcpt_count == 4) {
            CHECK_STREQ(env->rcpts[0].address, "bob@example.com");
            CHECK_STREQ(env->rcpts[0].orcpt, "rfc822;bob+x2Bfoo@example.com");
            CHECK_INTEQ(env->rcpts[0].notify, QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_DELAY);
            CHECK_STREQ(env->rcpts[1].address, "\"john doe\"@example.org");
            CHECK(env->rcpts[1].orcpt == NULL);
            CHECK_INTEQ(env->rcpts[1].notify, 0);
            CHECK_INTEQ(env->rcpts[2].notify, QUEUE_NOTIFY_NEVER);
            CHECK_STREQ(env->rcpts[3].address, "dörte@bücher.example");
        }
        maildrop_reader_free(&r);
        CHECK(r == NULL);
        buf_free(&c.content);
    }
    buf_free(&b);
}

static void test_reader_minimal_and_null_sender(void)
{
    struct buf *b = buf_create(0);
    struct collect c;
    enum maildrop_error err;
    size_t used;
    struct maildrop_reader *r;

    maildrop_put_magic(b);
    maildrop_put(b, MAILDROP_REC_SENDER, "", 0);
    maildrop_put_str(b, MAILDROP_REC_RCPT, "root");
    maildrop_put(b, MAILDROP_REC_END, "", 0);
    collect_init(&c);
    CHECK_INTEQ(run_reader(buf_str(b), buf_len(b), NULL, FEED_BYTES, &c, &err, &used, NULL, 0, &r),
                1);
    CHECK_INTEQ(c.env_calls, 1);
    CHECK_STREQ(maildrop_reader_envelope(r)->sender, "");
    CHECK_INTEQ(buf_len(c.content), 0);
    maildrop_reader_free(&r);
    buf_free(&c.content);
    buf_free(&b);
}

/* A record with a raw head: type and a length that may lie. */
static void put_raw(struct buf *b, int type, uint32_t len, const char *data, size_t dlen)
{
    unsigned char h[5] = {(unsigned char)type, (unsigned char)(len >> 24),
                          (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                          (unsigned char)len};
    buf_append(b, h, 5);
    buf_append(b, data, dlen);
}

/* Invalid streams: each builds on "magic S R" unless it says otherwise. */
struct bad_case {
    const char *name;
    const char *recs; /* compact: "S:addr|R:addr|M:text|E:" ; '#' = raw special */
    enum maildrop_error err;
    const char *why; /* substring of the reason */
};

static const struct bad_case bad_cases[] = {
    {"no magic", "!nomagic", MAILDROP_ERR_FORMAT, "bad magic"},
    {"unknown type", "S:a|R:b|X:zz|E:", MAILDROP_ERR_FORMAT, "unknown record type"},
    {"sender twice", "S:a|S:b|R:c|E:", MAILDROP_ERR_FORMAT, "repeated"},
    {"no sender", "R:c|E:", MAILDROP_ERR_FORMAT, "no sender"},
    {"no recipient", "S:a|M:x\n|E:", MAILDROP_ERR_FORMAT, "no recipient"},
    {"notify dangling", "S:a|R:b|N:never|E:", MAILDROP_ERR_FORMAT, "without a recipient"},
    {"orcpt dangling", "S:a|R:b|O:rfc822;x|M:x|E:", MAILDROP_ERR_FORMAT, "without a recipient"},
    {"notify twice", "S:a|N:never|N:delay|R:b|E:", MAILDROP_ERR_FORMAT, "two NOTIFY"},
    {"orcpt twice", "S:a|O:rfc822;a|O:rfc822;b|R:b|E:", MAILDROP_ERR_FORMAT, "two ORCPT"},
    {"notify never+success", "S:a|N:never,success|R:b|E:", MAILDROP_ERR_FORMAT, "NEVER"},
    {"notify junk", "S:a|N:sometimes|R:b|E:", MAILDROP_ERR_FORMAT, "bad NOTIFY"},
    {"ret junk", "S:a|T:partial|R:b|E:", MAILDROP_ERR_FORMAT, "bad RET"},
    {"body junk", "S:a|B:binarymime|R:b|E:", MAILDROP_ERR_FORMAT, "bad BODY"},
    {"envid control", "S:a|V:a\tb|R:b|E:", MAILDROP_ERR_FORMAT, "bad ENVID"},
    {"envid empty", "S:a|V:|R:b|E:", MAILDROP_ERR_FORMAT, "bad ENVID"},
    {"fullname newline", "S:a|F:Eve\nBcc: x@y|R:b|E:", MAILDROP_ERR_FORMAT, "control"},
    {"fullname bad utf8", "S:a|F:\xc3(|R:b|E:", MAILDROP_ERR_FORMAT, "UTF-8"},
    {"orcpt no type", "S:a|O:;x|R:b|E:", MAILDROP_ERR_FORMAT, "bad ORCPT"},
    {"orcpt space", "S:a|O:rfc822;a b|R:b|E:", MAILDROP_ERR_FORMAT, "bad ORCPT"},
    {"empty recipient", "S:a|R:|E:", MAILDROP_ERR_FORMAT, "bad recipient"},
    {"recipient space", "S:a|R:a b@example.com|E:", MAILDROP_ERR_FORMAT, "bad recipient"},
    {"recipient two ats", "S:a|R:a@b@example.com|E:", MAILDROP_ERR_FORMAT, "bad recipient"},
    {"recipient bad domain", "S:a|R:a@-x.example|E:", MAILDROP_ERR_FORMAT, "bad recipient"},
    {"recipient newline", "S:a|R:a\n@x|E:", MAILDROP_ERR_FORMAT, "bad recipient"},
    {"recipient bad literal", "S:a|R:a@[300.1.1.1]|E:", MAILDROP_ERR_FORMAT, "bad recipient"},
    {"sender angle", "S:<a@b>|R:b|E:", MAILDROP_ERR_FORMAT, "bad sender"},
    {"envelope after data", "S:a|R:b|M:x\n|R:c|E:", MAILDROP_ERR_FORMAT, "after the message"},
    {"smtputf8 with data", "S:a|U:x|R:b|E:", MAILDROP_ERR_FORMAT, "too long"},
    {"end with data", "S:a|R:b|E:x", MAILDROP_ERR_FORMAT, "too long"},
    {"huge length", "S:a|R:b|!hugedata", MAILDROP_ERR_FORMAT, "too long"},
    {"long sender", "!longsender", MAILDROP_ERR_FORMAT, "too long"},
    {"truncated head", "S:a|R:b|!halfhead", MAILDROP_ERR_FORMAT, "premature end"},
    {"truncated data", "S:a|R:b|!halfdata", MAILDROP_ERR_FORMAT, "premature end"},
    {"no end", "S:a|R:b|M:x\n", MAILDROP_ERR_FORMAT, "premature end"},
    {"too many recipients", "S:a|R:b|R:c|R:d|E:", MAILDROP_ERR_LIMIT, "too many"},
    {"too big", "S:a|R:b|M:0123456789|M:0123456789|E:", MAILDROP_ERR_TOOBIG, "too big"},
    {"env refused", "S:a|R:b|!failenv", MAILDROP_ERR_CALLBACK, "envelope refused"},
    {"data refused", "S:a|R:b|M:0123|!faildata", MAILDROP_ERR_CALLBACK, "refused"},
};

/* Build a stream from a compact description; sets flags for the callbacks. */
static void build(struct buf *b, const char *recs, struct collect *c)
{
    char *copy = mem_strdup(recs), *p = copy, *tok;

    if (strcmp(recs, "!nomagic") == 0) {
        buf_puts(b, "POSTEL-MAILDROP 2\n");
        mem_free(copy);
        return;
    }
    if (strcmp(recs, "!longsender") == 0) {
        maildrop_put_magic(b);
        put_raw(b, 'S', MAILDROP_ADDR_MAX + 1, "", 0);
        mem_free(copy);
        return;
    }
    maildrop_put_magic(b);
    while ((tok = strsep(&p, "|")) != NULL) {
        if (strcmp(tok, "!hugedata") == 0) {
            put_raw(b, 'M', 0xffffffffu, "", 0);
        } else if (strcmp(tok, "!halfhead") == 0) {
            buf_append(b, "M\0\0", 3);
        } else if (strcmp(tok, "!halfdata") == 0) {
            put_raw(b, 'M', 10, "abc", 3);
        } else if (strcmp(tok, "!failenv") == 0) {
            c->fail_env = 1;
            maildrop_put(b, 'E', "", 0);
        } else if (strcmp(tok, "!faildata") == 0) {
            c->fail_data_after = 2;
            maildrop_put(b, 'E', "", 0);
        } else if (tok[0] == 'X') {
            put_raw(b, 'X', 2, "zz", 2);
        } else if ((tok[0] == 'U' || tok[0] == 'E') && tok[2] != '\0') {
            put_raw(b, tok[0], (uint32_t)strlen(tok + 2), tok + 2, strlen(tok + 2));
        } else {
            maildrop_put_str(b, tok[0], tok + 2);
        }
    }
    mem_free(copy);
}

static void test_reader_rejects(void)
{
    struct maildrop_limits lim = {.rcpt_max = 2, .content_max = 15};
    enum feed_mode modes[] = {FEED_WHOLE, FEED_BYTES, FEED_RANDOM};

    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
            const struct bad_case *bc = &bad_cases[i];
            struct buf *b = buf_create(0);
            struct collect c;
            enum maildrop_error err;
            size_t used;
            char why[300];
            int ret;

            collect_init(&c);
            build(b, bc->recs, &c);
            ret = run_reader(buf_str(b), buf_len(b), &lim, modes[m], &c, &err, &used, why,
                             sizeof(why), NULL);
            if (ret != -1 || err != bc->err || strstr(why, bc->why) == NULL) {
                fprintf(stderr, "  case \"%s\" mode %zu: ret %d err %d why \"%s\"\n", bc->name, m,
                        ret, (int)err, why);
                test_case_failed = 1;
            }
            buf_free(&c.content);
            buf_free(&b);
        }
    }
}

static void test_reader_error_is_sticky_and_trailing(void)
{
    struct buf *b = buf_create(0);
    struct maildrop_reader *r = maildrop_reader_create(NULL, NULL, NULL, NULL);
    const char *why = NULL;
    size_t used = 99;

    /* Bytes after the end record are left to the caller. */
    maildrop_put_magic(b);
    maildrop_put_str(b, 'S', "a");
    maildrop_put_str(b, 'R', "b");
    maildrop_put(b, 'E', "", 0);
    buf_puts(b, "trailing");
    CHECK_INTEQ(maildrop_reader_feed(r, buf_str(b), buf_len(b), &used, &why), 1);
    CHECK_INTEQ(used, buf_len(b) - 8);
    CHECK_INTEQ(maildrop_reader_feed(r, "x", 1, &used, &why), 1);
    CHECK_INTEQ(used, 0);
    CHECK_INTEQ(maildrop_reader_finish(r, &why), 0);
    maildrop_reader_free(&r);

    /* After an error, the same error. */
    r = maildrop_reader_create(NULL, NULL, NULL, NULL);
    CHECK_INTEQ(maildrop_reader_feed(r, "garbage!", 8, &used, &why), -1);
    CHECK(strstr(why, "offset 0") != NULL);
    CHECK_INTEQ(maildrop_reader_feed(r, MAILDROP_MAGIC, MAILDROP_MAGIC_LEN, &used, &why), -1);
    CHECK_INTEQ(used, 0);
    CHECK_INTEQ(maildrop_reader_finish(r, &why), -1);
    CHECK(strstr(why, "bad magic") != NULL);
    maildrop_reader_free(&r);
    buf_free(&b);
}

/* Random garbage and mutations of a good stream never crash the reader. */
static void test_reader_mutations(void)
{
    struct buf *good = buf_create(0);

    good_stream(good);
    for (int n = 0; n < 3000; n++) {
        struct buf *b = buf_create(0);
        struct collect c;
        enum maildrop_error err;
        size_t used;
        int ret;

        buf_append(b, buf_str(good), buf_len(good));
        for (int k = 0; k < 1 + n % 4; k++)
            b->data[(size_t)rand() % buf_len(b)] = (char)(rand() & 0xff);
        if (n % 5 == 0)
            buf_truncate(b, (size_t)rand() % buf_len(b));
        collect_init(&c);
        ret = run_reader(buf_str(b), buf_len(b), NULL, n % 2 ? FEED_RANDOM : FEED_WHOLE, &c, &err,
                         &used, NULL, 0, NULL);
        CHECK(ret == 1 || ret == -1);
        CHECK(ret == 1 ? err == MAILDROP_ERR_NONE : err != MAILDROP_ERR_NONE);
        CHECK(c.env_calls <= 1);
        buf_free(&c.content);
        buf_free(&b);
    }
    buf_free(&good);
}

/* ------------------------------------------------------------ values */

static void test_check_address(void)
{
    static const struct {
        const char *addr;
        bool null_ok;
        int ok;
    } cases[] = {
        {"user", false, 1},
        {"user@example.com", false, 1},
        {"first.last+tag@sub.example.com", false, 1},
        {"\"john doe\"@example.com", false, 1},
        {"\"a@b\"@example.com", false, 1},
        {"\"a\\\"b\"", false, 1},
        {"user@[192.0.2.7]", false, 1},
        {"user@[IPv6:2001:db8::1]", false, 1},
        {"jörg@müller.example", false, 1},
        {"", true, 1},
        {"", false, 0},
        {"a b@example.com", false, 0},
        {"user@", false, 0},
        {"@example.com", false, 0},
        {"a..b@example.com", false, 0},
        {".a@example.com", false, 0},
        {"user@example..com", false, 0},
        {"user@exa mple.com", false, 0},
        {"<user@example.com>", false, 0},
        {"user@example.com\n", false, 0},
        {"Name <user@example.com>", false, 0},
        {"\"unterminated@example.com", false, 0},
        {"\xff@example.com", false, 0},
    };
    char longlocal[200];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        int r =
            maildrop_check_address(cases[i].addr, strlen(cases[i].addr), cases[i].null_ok, &why);
        if ((r == 0) != cases[i].ok) {
            fprintf(stderr, "  address \"%s\": got %d (%s)\n", cases[i].addr, r, why ? why : "");
            test_case_failed = 1;
        }
    }
    /* SRS and VERP local parts longer than 64 octets are accepted. */
    memset(longlocal, 'a', 100);
    strcpy(longlocal + 100, "@example.com");
    CHECK_INTEQ(maildrop_check_address(longlocal, strlen(longlocal), false, NULL), 0);
    CHECK_INTEQ(maildrop_check_address("a\0b", 3, false, NULL), -1);
}

static void test_notify(void)
{
    static const struct {
        const char *in;
        int ok;
        unsigned mask;
        const char *canon;
    } cases[] = {
        {"never", 1, QUEUE_NOTIFY_NEVER, "NEVER"},
        {"NEVER", 1, QUEUE_NOTIFY_NEVER, "NEVER"},
        {"success,failure", 1, QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE, "SUCCESS,FAILURE"},
        {"Delay,Success,Failure", 1, QUEUE_NOTIFY_ALL & ~QUEUE_NOTIFY_NEVER,
         "SUCCESS,FAILURE,DELAY"},
        {"delay", 1, QUEUE_NOTIFY_DELAY, "DELAY"},
        {"", 0, 0, NULL},
        {"success,", 0, 0, NULL},
        {",success", 0, 0, NULL},
        {"success,success", 0, 0, NULL},
        {"never,delay", 0, 0, NULL},
        {"success failure", 0, 0, NULL},
        {"sucess", 0, 0, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned mask = 0;
        const char *why = NULL;
        int r = maildrop_parse_notify(cases[i].in, strlen(cases[i].in), &mask, &why);

        if ((r == 0) != cases[i].ok || (r == 0 && mask != cases[i].mask)) {
            fprintf(stderr, "  notify \"%s\": got %d mask %u\n", cases[i].in, r, mask);
            test_case_failed = 1;
        }
        if (r == 0) {
            struct buf *b = buf_create(0);
            maildrop_format_notify(b, mask);
            CHECK_STREQ(buf_str(b), cases[i].canon);
            buf_free(&b);
        }
    }
}

static void test_ret_body_envid_orcpt(void)
{
    enum queue_ret ret;
    enum queue_body body;
    char envid[102];

    CHECK_INTEQ(maildrop_parse_ret("full", 4, &ret, NULL), 0);
    CHECK_INTEQ(ret, QUEUE_RET_FULL);
    CHECK_INTEQ(maildrop_parse_ret("HDRS", 4, &ret, NULL), 0);
    CHECK_INTEQ(ret, QUEUE_RET_HDRS);
    CHECK_INTEQ(maildrop_parse_ret("hdr", 3, &ret, NULL), -1);
    CHECK_INTEQ(maildrop_parse_body("7bit", 4, &body, NULL), 0);
    CHECK_INTEQ(body, QUEUE_BODY_7BIT);
    CHECK_INTEQ(maildrop_parse_body("8BitMime", 8, &body, NULL), 0);
    CHECK_INTEQ(body, QUEUE_BODY_8BITMIME);
    CHECK_INTEQ(maildrop_parse_body("8bit", 4, &body, NULL), -1);
    memset(envid, 'x', sizeof(envid));
    CHECK_INTEQ(maildrop_check_envid(envid, 100, NULL), 0);
    CHECK_INTEQ(maildrop_check_envid(envid, 101, NULL), -1);
    CHECK_INTEQ(maildrop_check_envid("a b", 3, NULL), 0);
    CHECK_INTEQ(maildrop_check_envid("a\x7f", 2, NULL), -1);
    CHECK_INTEQ(maildrop_check_orcpt("rfc822;a@b", 10, NULL), 0);
    CHECK_INTEQ(maildrop_check_orcpt("utf-8;a@b", 9, NULL), 0);
    CHECK_INTEQ(maildrop_check_orcpt("rfc822;", 7, NULL), -1);
    CHECK_INTEQ(maildrop_check_orcpt("rfc_822;a", 9, NULL), -1);
    CHECK_INTEQ(maildrop_check_fullname("", 0, NULL), 0);
    CHECK_INTEQ(maildrop_check_fullname("A\rB", 3, NULL), -1);
}

/* ------------------------------------------------------------ message text */

struct text_case {
    const char *name;
    const char *in;
    size_t in_len; /* 0: strlen */
    int flags;
    const char *out;
    size_t out_len; /* 0: strlen */
    int ended;      /* a "." line ended it */
    size_t used;    /* input taken when ended (0: all) */
};

static const struct text_case text_cases[] = {
    {"empty", "", 0, MAILDROP_TEXT_DOT, "", 0, 0, 0},
    {"lf", "a\nb\n", 0, 0, "a\nb\n", 0, 0, 0},
    {"crlf", "a\r\nb\r\n", 0, 0, "a\nb\n", 0, 0, 0},
    {"mixed", "a\r\nb\nc\r\n", 0, 0, "a\nb\nc\n", 0, 0, 0},
    {"bare cr kept", "a\rb\r\n", 0, 0, "a\rb\n", 0, 0, 0},
    {"cr cr lf", "a\r\r\n", 0, 0, "a\r\n", 0, 0, 0},
    {"no final newline", "a\nlast", 0, 0, "a\nlast\n", 0, 0, 0},
    {"final cr", "a\r", 0, 0, "a\n", 0, 0, 0},
    {"dot ends", "a\n.\nafter\n", 0, MAILDROP_TEXT_DOT, "a\n", 0, 1, 4},
    {"dot crlf ends", "a\r\n.\r\nafter", 0, MAILDROP_TEXT_DOT, "a\n", 0, 1, 6},
    {"dot at eof ends", "a\n.", 0, MAILDROP_TEXT_DOT, "a\n", 0, 1, 0},
    {"dot cr at eof ends", "a\n.\r", 0, MAILDROP_TEXT_DOT, "a\n", 0, 1, 0},
    {"dot kept with -i", "a\n.\nb\n", 0, 0, "a\n.\nb\n", 0, 0, 0},
    {"first line dot", ".\nrest\n", 0, MAILDROP_TEXT_DOT, "", 0, 1, 2},
    {"dotdot not unstuffed", "..\n.x\n", 0, MAILDROP_TEXT_DOT, "..\n.x\n", 0, 0, 0},
    {"dot space", ". \n", 0, MAILDROP_TEXT_DOT, ". \n", 0, 0, 0},
    {"dot bare cr", ".\rx\n", 0, MAILDROP_TEXT_DOT, ".\rx\n", 0, 0, 0},
    {"dot cr cr lf", ".\r\r\n", 0, MAILDROP_TEXT_DOT, ".\r\n", 0, 0, 0},
    {"dot mid line", "a.\n", 0, MAILDROP_TEXT_DOT, "a.\n", 0, 0, 0},
    {"8bit and nul", "\xc3\xa4\0\xff\n", 5, 0, "\xc3\xa4\0\xff\n", 5, 0, 0},
    {"empty lines", "\n\r\n\n", 0, MAILDROP_TEXT_DOT, "\n\n\n", 0, 0, 0},
};

static void test_text(void)
{
    for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
        const struct text_case *tc = &text_cases[i];
        size_t in_len = tc->in_len ? tc->in_len : strlen(tc->in);
        size_t out_len = tc->out_len ? tc->out_len : strlen(tc->out);

        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct maildrop_text *t = maildrop_text_create(tc->flags);
            struct buf *out = buf_create(0);
            size_t off = 0, used = 0;
            int ended = 0;

            while (off < in_len && !ended) {
                size_t n = bytewise ? 1 : in_len - off;
                ended = maildrop_text_feed(t, tc->in + off, n, &used, out);
                off += used;
            }
            if (!ended) {
                maildrop_text_finish(t, out);
                /* a "." on the last line without a line end also ends it */
                ended = maildrop_text_feed(t, "", 0, &used, out);
            }
            if (buf_len(out) != out_len || memcmp(buf_str(out), tc->out, out_len) != 0 ||
                ended != tc->ended || (tc->used && off != tc->used) ||
                maildrop_text_size(t) != out_len) {
                fprintf(stderr, "  text case \"%s\" (%s): ended %d used %zu out[%zu] \"%s\"\n",
                        tc->name, bytewise ? "bytes" : "whole", ended, off, buf_len(out),
                        buf_str(out));
                test_case_failed = 1;
            }
            maildrop_text_free(&t);
            CHECK(t == NULL);
            buf_free(&out);
        }
    }
}

int main(void)
{
    srand(12345);
    TEST_RUN(test_reader_roundtrip);
    TEST_RUN(test_reader_minimal_and_null_sender);
    TEST_RUN(test_reader_rejects);
    TEST_RUN(test_reader_error_is_sticky_and_trailing);
    TEST_RUN(test_reader_mutations);
    TEST_RUN(test_check_address);
    TEST_RUN(test_notify);
    TEST_RUN(test_ret_body_envid_orcpt);
    TEST_RUN(test_text);
    return test_summary();
}
