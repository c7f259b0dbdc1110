/*
 * test_local_addr - local(8): recipients taken apart (extension rules),
 * $name expansion of forward_path/mailbox_command with filtering, the
 * mailbox path of an account, and the prepended header lines.
 */
#include "config.h"

#include <string.h>

#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "local/local.h"
#include "tests/unit/test.h"

static void test_split(void)
{
    static const struct {
        const char *address, *delims;
        bool ownreq;
        const char *local, *domain, *user, *ext;
    } cases[] = {
        {"joe@Example.COM", "", true, "joe", "example.com", "joe", NULL},
        {"Joe@example.com.", "+", true, "joe", "example.com", "joe", NULL},
        {"joe+news@example.com", "+", true, "joe+news", "example.com", "joe", "news"},
        {"joe+news@example.com", "", true, "joe+news", "example.com", "joe+news", NULL},
        {"joe-news+x@h", "+-", true, "joe-news+x", "h", "joe", "news+x"},
        {"joe+a+b@h", "+", true, "joe+a+b", "h", "joe", "a+b"},
        {"+news@h", "+", true, "+news", "h", "+news", NULL},
        {"joe+@h", "+", true, "joe+", "h", "joe", ""},
        {"owner-list@h", "-", true, "owner-list", "h", "owner-list", NULL},
        {"owner-list@h", "-", false, "owner-list", "h", "owner", "list"},
        {"list-request@h", "-", true, "list-request", "h", "list-request", NULL},
        {"list-request@h", "+", true, "list-request", "h", "list-request", NULL},
        {"joe+../../etc@h", "+", true, "joe+../../etc", "h", "joe", NULL},
        {"postmaster@h", "s", true, "postmaster", "h", "postmaster", NULL},
        {"\"John Doe\"@h", "+", true, "john doe", "h", "john doe", NULL},
        {"a@b@c", "", true, "a@b", "c", "a@b", NULL},
        {"nodomain", "+", true, "nodomain", "", "nodomain", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct local_addr a;
        const char *why;

        CHECK_INTEQ(local_addr_split(cases[i].address, cases[i].delims, cases[i].ownreq, &a, &why),
                    0);
        CHECK_STREQ(a.address, cases[i].address);
        CHECK_STREQ(a.local, cases[i].local);
        CHECK_STREQ(a.domain, cases[i].domain);
        CHECK_STREQ(a.user, cases[i].user);
        if (cases[i].ext == NULL)
            CHECK(a.extension == NULL);
        else
            CHECK_STREQ(a.extension, cases[i].ext);
        CHECK((a.delim != 0) == (a.extension != NULL));
        local_addr_clear(&a);
    }
    {
        struct local_addr a;
        const char *why = NULL;

        CHECK_INTEQ(local_addr_split("@example.com", "+", true, &a, &why), -1);
        CHECK(why != NULL);
        local_addr_clear(&a);
    }
}

static void test_expand(void)
{
    static const struct {
        const char *pattern;
        const char *want; /* NULL: error */
    } cases[] = {
        {"$home/.forward", "/home/joe/.forward"},
        {"${home}/.forward", "/home/joe/.forward"},
        {"$home/.forward${recipient_delimiter}${extension}", "/home/joe/.forward+a_b"},
        {"$home/.forward${extension?+}$extension", "/home/joe/.forward+a_b"},
        {"${shell:none}|${nothing}", NULL},
        {"${domain?@$domain}", "@example.com"},
        {"${local}", "joe+a_b"},
        {"$recipient", "joe+a_b@example.com"},
        {"$$home", "$home"},
        {"x$", NULL},
        {"${home", NULL},
        {"${home?unclosed", NULL},
        {"$unknown", NULL},
        {"${user}${shell}", "joe/bin/sh"},
        {"${extension?$extension/}x", "a_b/x"},
        {"$user.$domain", "joe.example.com"},
        {"${extension:{x}}", ""},
        {"${shell:x}$shell", "/bin/sh"},
    };
    struct local_expand_attrs x = {
        .user = "joe",
        .home = "/home/joe",
        .shell = "/bin/sh",
        .recipient = "joe+a;b@example.com",
        .extension = "a;b",
        .domain = "example.com",
        .local = "joe+a;b",
        .recipient_delimiter = "+",
    };
    const char *filter = "abcdefghijklmnopqrstuvwxyz@.+-_/";

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf *out = buf_create(64);
        const char *why = NULL;
        int r = local_expand(out, cases[i].pattern, &x, filter, &why);

        if (cases[i].want == NULL) {
            CHECK_INTEQ(r, -1);
            CHECK(why != NULL);
        } else {
            CHECK_INTEQ(r, 0);
            CHECK_STREQ(buf_str(out), cases[i].want);
        }
        buf_free(&out);
    }
    /* Without an extension: the conditional parts vanish. */
    {
        struct buf *out = buf_create(64);
        const char *why;

        x.extension = NULL;
        x.recipient_delimiter = NULL;
        CHECK_INTEQ(
            local_expand(out, "$home/.forward${recipient_delimiter}${extension}", &x, NULL, &why),
            0);
        CHECK_STREQ(buf_str(out), "/home/joe/.forward");
        buf_reset(out);
        CHECK_INTEQ(local_expand(out, "${extension:default}", &x, NULL, &why), 0);
        CHECK_STREQ(buf_str(out), "default");
        buf_free(&out);
    }
    /* Bounded: deep nesting and huge results fail instead of running away. */
    {
        struct buf *out = buf_create(64), *pat = buf_create(64);
        const char *why;

        for (int i = 0; i < 20; i++)
            buf_puts(pat, "${home?");
        for (int i = 0; i < 20; i++)
            buf_puts(pat, "}");
        CHECK_INTEQ(local_expand(out, buf_str(pat), &x, NULL, &why), -1);
        buf_reset(pat);
        for (int i = 0; i < 1000; i++)
            buf_puts(pat, "$home");
        buf_reset(out);
        CHECK_INTEQ(local_expand(out, buf_str(pat), &x, NULL, &why), -1);
        buf_free(&out);
        buf_free(&pat);
    }
}

static void test_mailbox_path(void)
{
    static const struct {
        const char *spool, *home_mailbox, *home, *want;
    } cases[] = {
        {"/var/mail", "", "/home/joe", "/var/mail/joe"},
        {"/var/mail/", "", "/home/joe", "/var/mail/joe/"},
        {"/var/spool/mail", "Maildir/", "/home/joe", "/home/joe/Maildir/"},
        {"/var/mail", "Mailbox", "/home/joe/", "/home/joe/Mailbox"},
        {"/var/mail", "mail/inbox/", "/", "/mail/inbox/"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct local_settings s;
        struct buf *out = buf_create(64);

        memset(&s, 0, sizeof(s));
        s.mail_spool_directory = (char *)cases[i].spool;
        s.home_mailbox = (char *)cases[i].home_mailbox;
        local_mailbox_path(out, &s, "joe", cases[i].home);
        CHECK_STREQ(buf_str(out), cases[i].want);
        buf_free(&out);
    }
}

static void test_prepend_and_filter(void)
{
    struct buf *b = buf_create(64);

    local_prepend_headers(b, "a@example.org", "Joe+X@Example.COM");
    CHECK_STREQ(buf_str(b), "Return-Path: <a@example.org>\nDelivered-To: joe+x@example.com\n");
    buf_reset(b);
    local_prepend_headers(b, "", "joe@h");
    CHECK_STREQ(buf_str(b), "Return-Path: <>\nDelivered-To: joe@h\n");
    buf_reset(b);
    local_prepend_headers(b, "evil\r\nX-Injected: 1", NULL);
    CHECK_STREQ(buf_str(b), "Return-Path: <evil__X-Injected: 1>\n");
    buf_reset(b);
    local_prepend_headers(b, NULL, "Joe@H");
    CHECK_STREQ(buf_str(b), "Delivered-To: joe@h\n");
    buf_reset(b);
    local_filter(b, "a`b$(c) d", "abcd");
    CHECK_STREQ(buf_str(b), "a_b__c__d");
    buf_free(&b);
}

static void test_word_lists(void)
{
    struct argv *w = argv_split("alias, Forward include", ", ");
    unsigned bits;
    int lock;
    const char *why;

    CHECK_INTEQ(local_classes_parse(w, &bits, &why), 0);
    CHECK_INTEQ(bits, LOCAL_EXP_ALIAS | LOCAL_EXP_FORWARD | LOCAL_EXP_INCLUDE);
    argv_free(&w);
    w = argv_split("alias, bogus", ", ");
    CHECK_INTEQ(local_classes_parse(w, &bits, &why), -1);
    CHECK(strstr(why, "bogus") != NULL);
    argv_free(&w);
    w = argv_split("", ", ");
    CHECK_INTEQ(local_classes_parse(w, &bits, &why), 0);
    CHECK_INTEQ(bits, 0);
    argv_free(&w);
    w = argv_split("file command", ", ");
    CHECK_INTEQ(local_prepend_parse(w, &bits, &why), 0);
    CHECK_INTEQ(bits, LOCAL_PREPEND_FILE | LOCAL_PREPEND_COMMAND);
    argv_free(&w);
    w = argv_split("fcntl,dotlock", ", ");
    CHECK_INTEQ(local_lock_parse(w, &lock, &why), 0);
    CHECK_INTEQ(lock, LOCAL_LOCK_FCNTL | LOCAL_LOCK_DOTLOCK);
    argv_free(&w);
    w = argv_split("flock", ", ");
    CHECK_INTEQ(local_lock_parse(w, &lock, &why), -1);
    argv_free(&w);
}

int main(void)
{
    TEST_RUN(test_split);
    TEST_RUN(test_expand);
    TEST_RUN(test_mailbox_path);
    TEST_RUN(test_prepend_and_filter);
    TEST_RUN(test_word_lists);
    return test_summary();
}
