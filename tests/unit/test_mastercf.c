/*
 * Unit tests for lib/mail/mastercf.c: columns, defaults, continuation
 * lines, -o arguments, "{ }" groups and every error with file and line.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/mastercf.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "tests/unit/test.h"

static char test_dir[] = "/tmp/test_mastercf.XXXXXX";

/* The error text for text, or "(no error)". */
static char *parse_err(const char *text)
{
    const char *why = NULL;
    struct mastercf *m = mastercf_parse(text, "master.cf", &why);

    if (m != NULL) {
        mastercf_free(&m);
        return mem_strdup("(no error)");
    }
    return mem_strdup(why);
}

#define CHECK_ERR(text, expect)                                                        \
    do {                                                                               \
        char *err_ = parse_err(text);                                                  \
        CHECK_STREQ(err_, expect);                                                     \
        mem_free(err_);                                                                \
    } while (0)

static const char good[] =
    "# Postel master.cf\n"
    "#\n"
    "# service type  private unpriv  chroot  wakeup  maxproc command + args\n"
    "smtp      inet  n       -       y       -       -       smtpd\n"
    "submission inet n       -       n       -       -       smtpd\n"
    "  -o syslog_name=postel/submission\n"
    "  # a comment between continuation lines\n"
    "\n"
    "  -o smtpd_tls_security_level=encrypt\n"
    "  -o { smtpd_client_restrictions = permit_sasl_authenticated, reject }\n"
    "pickup    unix  n       -       n       60      1       pickup\n"
    "qmgr      unix  n       -       n       300?    1       qmgr\n"
    "local     unix  -       n       n       -       -       local\n"
    "127.0.0.1:10025 inet n  -       n       -       10      smtpd -o content_filter=\n"
    "flush     fifo  y       y       n       1000?   0       flush -v { a b }\r\n"
    "relay     unix  -       -       -       -       -       smtp";

static void test_good_file(void)
{
    const char *why = NULL;
    struct mastercf *m = mastercf_parse(good, "master.cf", &why);
    const struct mastercf_entry *e;

    CHECK(m != NULL);
    if (m == NULL) {
        fprintf(stderr, "  %s\n", why);
        return;
    }
    CHECK_INTEQ(m->count, 8);
    if (m->count != 8) {
        mastercf_free(&m);
        return;
    }
    e = &m->entries[0];
    CHECK_STREQ(e->service, "smtp");
    CHECK(e->type == MASTERCF_INET);
    CHECK(!e->private_);
    CHECK(e->unpriv);
    CHECK(e->chroot);
    CHECK_INTEQ(e->wakeup, 0);
    CHECK(!e->wakeup_if_running);
    CHECK(e->maxproc_default);
    CHECK_INTEQ(e->args->argc, 1);
    CHECK_STREQ(e->args->argv[0], "smtpd");
    CHECK_STREQ(e->file, "master.cf");
    CHECK_INTEQ(e->line, 4);

    e = &m->entries[1];
    CHECK_STREQ(e->service, "submission");
    CHECK_INTEQ(e->line, 5);
    CHECK(!e->chroot);
    CHECK_INTEQ(e->args->argc, 7);
    if (e->args->argc == 7) {
        CHECK_STREQ(e->args->argv[0], "smtpd");
        CHECK_STREQ(e->args->argv[1], "-o");
        CHECK_STREQ(e->args->argv[2], "syslog_name=postel/submission");
        CHECK_STREQ(e->args->argv[4], "smtpd_tls_security_level=encrypt");
        CHECK_STREQ(e->args->argv[6],
                    "smtpd_client_restrictions=permit_sasl_authenticated, reject");
    }

    e = &m->entries[2];
    CHECK(e->type == MASTERCF_UNIX);
    CHECK(!e->private_);
    CHECK_INTEQ(e->wakeup, 60);
    CHECK(!e->maxproc_default);
    CHECK_INTEQ(e->maxproc, 1);
    CHECK_INTEQ(e->line, 11);

    e = &m->entries[3];
    CHECK_INTEQ(e->wakeup, 300);
    CHECK(e->wakeup_if_running);

    e = &m->entries[4];
    CHECK(e->private_); /* '-' for unix is y */
    CHECK(!e->unpriv);

    e = &m->entries[5];
    CHECK_STREQ(e->service, "127.0.0.1:10025");
    CHECK_INTEQ(e->maxproc, 10);
    CHECK_INTEQ(e->args->argc, 3);
    if (e->args->argc == 3)
        CHECK_STREQ(e->args->argv[2], "content_filter=");

    e = &m->entries[6];
    CHECK(e->type == MASTERCF_FIFO);
    CHECK(e->private_);
    CHECK_INTEQ(e->wakeup, 1000);
    CHECK_INTEQ(e->maxproc, 0);
    CHECK_INTEQ(e->args->argc, 3);
    if (e->args->argc == 3) {
        CHECK_STREQ(e->args->argv[1], "-v");
        CHECK_STREQ(e->args->argv[2], "a b");
    }

    e = &m->entries[7];
    CHECK_STREQ(e->service, "relay");
    CHECK(e->private_);
    CHECK(e->unpriv);
    CHECK(!e->chroot);
    CHECK(e->maxproc_default);
    CHECK_INTEQ(e->line, 16);
    mastercf_free(&m);
    CHECK(m == NULL);
}

static void test_type_names(void)
{
    CHECK_STREQ(mastercf_type_names[MASTERCF_INET], "inet");
    CHECK_STREQ(mastercf_type_names[MASTERCF_UNIX], "unix");
    CHECK_STREQ(mastercf_type_names[MASTERCF_UNIX_DGRAM], "unix-dgram");
    CHECK_STREQ(mastercf_type_names[MASTERCF_FIFO], "fifo");
    CHECK_STREQ(mastercf_type_names[MASTERCF_PASS], "pass");
    CHECK_ERR("a unix-dgram - - - - - x\nb pass - - - - - y\n", "(no error)");
}

static void test_empty(void)
{
    const char *why;
    struct mastercf *m = mastercf_parse("# nothing\n\n   \n", "master.cf", &why);

    CHECK(m != NULL);
    if (m != NULL)
        CHECK_INTEQ(m->count, 0);
    mastercf_free(&m);
}

static void test_errors(void)
{
    CHECK_ERR("smtp inet n - y - - \n",
              "master.cf, line 1: expected at least 8 columns (service type private unpriv "
              "chroot wakeup maxproc command), found 7");
    CHECK_ERR("# c\nsmtp inet\n", "master.cf, line 2: expected at least 8 columns (service type "
                                  "private unpriv chroot wakeup maxproc command), found 2");
    CHECK_ERR("smtp tcp n - y - - smtpd\n",
              "master.cf, line 1: unknown service type \"tcp\" (expected inet, unix, unix-dgram, "
              "fifo or pass)");
    CHECK_ERR("smtp inet x - y - - smtpd\n",
              "master.cf, line 1: column \"private\": bad value \"x\" (expected y, n or -)");
    CHECK_ERR("smtp inet n yes y - - smtpd\n",
              "master.cf, line 1: column \"unpriv\": bad value \"yes\" (expected y, n or -)");
    CHECK_ERR("smtp inet n - Y - - smtpd\n",
              "master.cf, line 1: column \"chroot\": bad value \"Y\" (expected y, n or -)");
    CHECK_ERR("smtp inet y - n - - smtpd\n",
              "master.cf, line 1: column \"private\": an inet service cannot be private (use n "
              "or -)");
    CHECK_ERR("q unix - - n 10x - qmgr\n",
              "master.cf, line 1: column \"wakeup\": bad value \"10x\" (expected a number "
              "0..604800 with an optional ? or -)");
    CHECK_ERR("q unix - - n -1 - qmgr\n",
              "master.cf, line 1: column \"wakeup\": bad value \"-1\" (expected a number "
              "0..604800 with an optional ? or -)");
    CHECK_ERR("q unix - - n 99999999999999999999 - qmgr\n",
              "master.cf, line 1: column \"wakeup\": bad value \"99999999999999999999\" (expected "
              "a number 0..604800 with an optional ? or -)");
    CHECK_ERR("q unix - - n - 1? qmgr\n",
              "master.cf, line 1: column \"maxproc\": bad value \"1?\" (expected a number "
              "0..100000 or -)");
    CHECK_ERR("q unix - - n - 100001 qmgr\n",
              "master.cf, line 1: column \"maxproc\": bad value \"100001\" (expected a number "
              "0..100000 or -)");
    CHECK_ERR("smtp inet n - n - - smtpd\n\nsmtp inet n - n - - smtpd\n",
              "master.cf, line 3: duplicate service \"smtp/inet\" (first defined at line 1)");
    CHECK_ERR("smtp inet n - n - - smtpd\nsmtp unix - - n - - smtp\n", "(no error)");
    CHECK_ERR("  smtp inet n - n - - smtpd\n",
              "master.cf, line 1: line starts with white space but no service entry precedes it");
    CHECK_ERR("../x unix - - n - - smtpd\n",
              "master.cf, line 1: bad unix service name \"../x\" (it becomes a file name: no "
              "\"/\", not \".\" or \"..\")");
    CHECK_ERR(".. fifo - - n - - smtpd\n",
              "master.cf, line 1: bad fifo service name \"..\" (it becomes a file name: no "
              "\"/\", not \".\" or \"..\")");
    CHECK_ERR("smtp inet n - n - - smtpd -o\n", "master.cf, line 1: \"-o\" without name=value");
    CHECK_ERR("smtp inet n - n - - smtpd\n  -o foo\n",
              "master.cf, line 1: -o \"foo\": expected name=value");
    CHECK_ERR("smtp inet n - n - - smtpd -o bad-name=1\n",
              "master.cf, line 1: -o \"bad-name=1\": bad parameter name \"bad-name\"");
    CHECK_ERR("smtp inet n - n - - smtpd -o =1\n",
              "master.cf, line 1: -o \"=1\": bad parameter name \"\"");
    CHECK_ERR("smtp inet n - n - - smtpd -o { a = b\n",
              "master.cf, line 1: missing \"}\" after \"{ a = b\"");
    /* "-o" as the command itself is not an option. */
    CHECK_ERR("x unix - - n - - -o\n", "(no error)");
}

static void test_long_line(void)
{
    size_t big = 1024 * 1024;
    char *text = mem_alloc(big + 100);
    char *err;

    strcpy(text, "smtp inet n - n - - smtpd ");
    memset(text + strlen(text), 'a', big);
    err = parse_err(text);
    CHECK_STREQ(err, "master.cf, line 1: line longer than 65536 bytes");
    mem_free(err);
    mem_free(text);
}

static void test_read_file(void)
{
    char path[256];
    const char *why = NULL;
    struct mastercf *m;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/master.cf", test_dir);
    m = mastercf_read(path, &why);
    CHECK(m == NULL);
    CHECK(why != NULL && strstr(why, "No such file") != NULL);

    fp = fopen(path, "w");
    fputs(good, fp);
    fclose(fp);
    m = mastercf_read(path, &why);
    CHECK(m != NULL);
    if (m != NULL) {
        CHECK_INTEQ(m->count, 8);
        CHECK_STREQ(m->entries[0].file, path);
    }
    mastercf_free(&m);

    fp = fopen(path, "w");
    fputs("smtp inet n - n - - smtpd\nfoo bar\n", fp);
    fclose(fp);
    m = mastercf_read(path, &why);
    CHECK(m == NULL);
    if (m == NULL) {
        char expect[600];

        snprintf(expect, sizeof(expect), "%s, line 2: expected at least 8 columns (service type "
                 "private unpriv chroot wakeup maxproc command), found 2", path);
        CHECK_STREQ(why, expect);
    }

    fp = fopen(path, "w");
    fwrite("smtp inet n - n - - smtpd\nx\0y", 1, 29, fp);
    fclose(fp);
    m = mastercf_read(path, &why);
    CHECK(m == NULL);
    CHECK(why != NULL && strstr(why, "master.cf, line 2: NUL byte") != NULL);
    unlink(path);
}

int main(void)
{
    if (mkdtemp(test_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    msg_set_flags(0);
    TEST_RUN(test_good_file);
    TEST_RUN(test_type_names);
    TEST_RUN(test_empty);
    TEST_RUN(test_errors);
    TEST_RUN(test_long_line);
    TEST_RUN(test_read_file);
    rmdir(test_dir);
    config_reset();
    return test_summary();
}
