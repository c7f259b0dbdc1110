/*
 * Unit tests for lib/mail/param.c and lib/mail/config.c: main.cf syntax,
 * $name expansion, type and range checks, warnings, per-transport
 * parameters, reload and overrides.
 * Every case writes a real main.cf into a fresh temporary directory.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/param.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "tests/unit/test.h"

static char test_dir[] = "/tmp/test_config.XXXXXX";
static struct buf *warnings; /* every warning since the last reset, one per line */

/* msg hook: collect warnings. */
static void hook(enum msg_level level, const char *text)
{
    if (level == MSG_WARN) {
        buf_puts(warnings, text);
        buf_putc(warnings, '\n');
    }
}

/* Write main.cf (or master.cf) with the given content. */
static void write_file(const char *name, const char *text, size_t len)
{
    char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", test_dir, name);
    fp = fopen(path, "w");
    if (fp == NULL) {
        perror(path);
        exit(1);
    }
    fwrite(text, 1, len, fp);
    fclose(fp);
}

/* Reset state, write main.cf and read it. Returns config_read()'s result. */
static int load(const char *text, const char **why_r)
{
    config_reset();
    buf_reset(warnings);
    write_file("main.cf", text, strlen(text));
    return config_read(test_dir, why_r);
}

/* Like load() but the read must succeed. */
static void load_ok(const char *text)
{
    const char *why = NULL;

    if (load(text, &why) != 0) {
        fprintf(stderr, "  unexpected error: %s\n", why);
        CHECK(0);
    }
}

/* The error text of a failing read, with the temp dir replaced by "DIR". */
static char *load_err(const char *text)
{
    const char *why = NULL;
    struct buf *b = buf_create(100);
    size_t dlen = strlen(test_dir);

    if (load(text, &why) == 0) {
        buf_puts(b, "(no error)");
        return buf_export(&b);
    }
    for (const char *cp = why; *cp;) {
        if (strncmp(cp, test_dir, dlen) == 0) {
            buf_puts(b, "DIR");
            cp += dlen;
        } else {
            buf_putc(b, *cp++);
        }
    }
    return buf_export(&b);
}

/* The collected warnings with the temp dir replaced by "DIR". */
static char *warned(void)
{
    struct buf *b = buf_create(100);
    size_t dlen = strlen(test_dir);

    for (const char *cp = buf_str(warnings); *cp;) {
        if (strncmp(cp, test_dir, dlen) == 0) {
            buf_puts(b, "DIR");
            cp += dlen;
        } else {
            buf_putc(b, *cp++);
        }
    }
    return buf_export(&b);
}

#define CHECK_ERR(text, expect)                                                        \
    do {                                                                               \
        char *err_ = load_err(text);                                                   \
        CHECK_STREQ(err_, expect);                                                     \
        mem_free(err_);                                                                \
    } while (0)

#define CHECK_WARNED(expect)                                                           \
    do {                                                                               \
        char *w_ = warned();                                                           \
        CHECK_STREQ(w_, expect);                                                       \
        mem_free(w_);                                                                  \
    } while (0)

/* ---------------------------------------------------------------- table */

static void test_table_sane(void)
{
    const char *why;

    CHECK(param_count > 30);
    for (size_t i = 0; i < param_count; i++) {
        const struct param_def *p = &param_table[i];

        CHECK(param_find(p->name) == p);
        CHECK(p->help != NULL && p->help[0] != '\0');
        /* Every default is valid for its own type (after expansion: config_read checks). */
        if (strchr(param_default(p), '$') == NULL && param_check(p, param_default(p), &why) != 0) {
            fprintf(stderr, "  default of %s: %s\n", p->name, why);
            CHECK(0);
        }
    }
    for (size_t i = 1; i < param_count; i++)
        CHECK(strcmp(param_sorted(i - 1)->name, param_sorted(i)->name) < 0);
    CHECK(param_find("no_such_parameter") == NULL);
    CHECK(param_find("") == NULL);
}

static void test_required_params(void)
{
    static const char *const names[] = {
        "config_directory", "queue_directory", "data_directory", "daemon_directory",
        "command_directory", "process_id_directory", "mail_owner", "setgid_group", "mail_name",
        "mail_version", "myhostname", "mydomain", "myorigin", "mydestination", "mynetworks",
        "mynetworks_style", "inet_interfaces", "inet_protocols", "maillog_file", "syslog_name",
        "syslog_facility", "default_process_limit", "max_use", "max_idle", "daemon_timeout",
        "ipc_timeout", "service_throttle_time", "default_database_type", "alias_maps",
        "alias_database", "debug_peer_level", "debug_peer_list", "import_environment",
        "export_environment", "line_length_limit", "in_flow_delay", "smtputf8_enable",
        "relay_domains", "biff",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (param_find(names[i]) == NULL) {
            fprintf(stderr, "  missing %s\n", names[i]);
            CHECK(0);
        }
}

static void test_parse_int(void)
{
    static const struct {
        const char *in;
        int ok;
        long long out;
    } cases[] = {
        {"0", 0, 0},       {"42", 0, 42},      {"-7", 0, -7},   {"+7", 0, 7},
        {"10x", -1, 0},    {"", -1, 0},        {"x", -1, 0},    {" 1", -1, 0},
        {"1 ", -1, 0},     {"99999999999999999999", -1, 0},     {"-", -1, 0},
        {"9223372036854775807", 0, 9223372036854775807LL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long n = 0;
        const char *why;
        int rc = param_parse_int(cases[i].in, &n, &why);

        CHECK_INTEQ(rc, cases[i].ok);
        if (rc == 0)
            CHECK_INTEQ(n, cases[i].out);
    }
}

static void test_parse_time(void)
{
    static const struct {
        const char *in;
        char unit;
        int ok;
        long long out;
    } cases[] = {
        {"10", 's', 0, 10},     {"10s", 's', 0, 10},   {"10m", 's', 0, 600},
        {"2h", 's', 0, 7200},   {"1d", 's', 0, 86400}, {"1w", 's', 0, 604800},
        {"5", 'd', 0, 432000},  {"5", 'm', 0, 300},    {"0", 's', 0, 0},
        {"5q", 's', -1, 0},     {"s", 's', -1, 0},     {"", 's', -1, 0},
        {"-1", 's', -1, 0},     {"1ss", 's', -1, 0},   {"1.5h", 's', -1, 0},
        {"1S", 's', -1, 0},     {"99999999999999999w", 's', -1, 0},
        {"9999999999999999", 'w', -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long long n = 0;
        const char *why;
        int rc = param_parse_time(cases[i].in, cases[i].unit, &n, &why);

        if (rc != cases[i].ok)
            fprintf(stderr, "  case %s\n", cases[i].in);
        CHECK_INTEQ(rc, cases[i].ok);
        if (rc == 0)
            CHECK_INTEQ(n, cases[i].out);
    }
}

static void test_parse_size_bool(void)
{
    static const struct {
        const char *in;
        int ok;
        long long out;
    } sizes[] = {
        {"0", 0, 0},   {"1024", 0, 1024},   {"1k", 0, 1024},  {"2K", 0, 2048},
        {"3m", 0, 3145728}, {"1g", 0, 1073741824}, {"1t", -1, 0}, {"-5", -1, 0},
        {"5kb", -1, 0}, {"", -1, 0},        {"99999999999999999999", -1, 0},
        {"9999999999999999g", -1, 0},
    };
    static const struct {
        const char *in;
        int ok;
        bool out;
    } bools[] = {
        {"yes", 0, true}, {"YES", 0, true}, {"true", 0, true}, {"on", 0, true},
        {"1", 0, true},   {"no", 0, false}, {"False", 0, false}, {"off", 0, false},
        {"0", 0, false},  {"y", -1, false}, {"", -1, false},  {"yes ", -1, false},
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        long long n = 0;
        const char *why;
        int rc = param_parse_size(sizes[i].in, &n, &why);

        CHECK_INTEQ(rc, sizes[i].ok);
        if (rc == 0)
            CHECK_INTEQ(n, sizes[i].out);
    }
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        bool b = false;
        const char *why;
        int rc = param_parse_bool(bools[i].in, &b, &why);

        CHECK_INTEQ(rc, bools[i].ok);
        if (rc == 0)
            CHECK(b == bools[i].out);
    }
}

static void test_list_split(void)
{
    struct argv *a = param_list_split(" a, b\tc,,d ,inline:{ x=1, y=2 } , {e f}");

    CHECK_INTEQ(a->argc, 6);
    if (a->argc == 6) {
        CHECK_STREQ(a->argv[0], "a");
        CHECK_STREQ(a->argv[3], "d");
        CHECK_STREQ(a->argv[4], "inline:{ x=1, y=2 }");
        CHECK_STREQ(a->argv[5], "{e f}");
    }
    argv_free(&a);
    a = param_list_split("");
    CHECK_INTEQ(a->argc, 0);
    argv_free(&a);
}

static void test_domain_of(void)
{
    char *d = param_domain_of("mail.example.com");

    CHECK_STREQ(d, "example.com");
    mem_free(d);
    d = param_domain_of("localhost");
    CHECK_STREQ(d, "localdomain");
    mem_free(d);
}

/* ---------------------------------------------------------------- main.cf syntax */

static void test_defaults(void)
{
    config_reset();
    CHECK_INTEQ(config_int("default_process_limit"), 100);
    CHECK_INTEQ(config_time("max_idle"), 100);
    CHECK_INTEQ(config_time("daemon_timeout"), 18000);
    CHECK(!config_bool("biff"));
    CHECK(config_bool("smtputf8_enable"));
    CHECK_STREQ(config_str("mail_owner"), "postel");
    CHECK_STREQ(config_str("process_id_directory"), "pid");
    CHECK_STREQ(config_str("myorigin"), config_str("myhostname"));
    CHECK(config_raw("myorigin") == NULL);
    CHECK(!config_is_set("myorigin"));
    CHECK(config_file() == NULL);
    config_reset();
}

static void test_missing_main_cf(void)
{
    const char *why;

    config_reset();
    unlink("/tmp/nonexistent-postel-dir/main.cf");
    CHECK_INTEQ(config_read("/tmp/nonexistent-postel-dir", &why), 0);
    CHECK_STREQ(config_str("config_directory"), "/tmp/nonexistent-postel-dir");
    CHECK_INTEQ(config_int("max_use"), 100);
    config_reset();
}

static void test_basic_read(void)
{
    load_ok("# comment\n"
            "\n"
            "max_use = 7\n"
            "   # indented comment\n"
            "myhostname=mail.example.org\n"
            "mydestination = $myhostname,\n"
            "    localhost.$mydomain\n"
            "\t# comment inside a definition\n"
            "\n"
            "    other.example\n"
            "biff = yes   \n"
            "max_idle = 5m\r\n"
            "message_size_limit = 10m\n");
    CHECK_WARNED("");
    CHECK_INTEQ(config_int("max_use"), 7);
    CHECK_STREQ(config_str("myhostname"), "mail.example.org");
    CHECK_STREQ(config_str("mydomain"), "example.org");
    CHECK_STREQ(config_raw("mydestination"), "$myhostname, localhost.$mydomain other.example");
    CHECK_STREQ(config_str("mydestination"),
                "mail.example.org, localhost.example.org other.example");
    CHECK(config_bool("biff"));
    CHECK_INTEQ(config_time("max_idle"), 300);
    CHECK_INTEQ(config_size("message_size_limit"), 10 * 1024 * 1024);
    {
        struct argv *a = config_list("mydestination");

        CHECK_INTEQ(a->argc, 3);
        if (a->argc == 3)
            CHECK_STREQ(a->argv[2], "other.example");
        argv_free(&a);
    }
    CHECK(config_is_set("max_use"));
    CHECK(!config_is_set("ipc_timeout"));
    CHECK(config_file() != NULL && strstr(config_file(), "/main.cf") != NULL);
    {
        struct argv *names = config_names_set();

        CHECK_INTEQ(names->argc, 6);
        if (names->argc == 6) {
            CHECK_STREQ(names->argv[0], "biff");
            CHECK_STREQ(names->argv[5], "myhostname");
        }
        argv_free(&names);
    }
    config_reset();
}

static void test_last_definition_wins(void)
{
    load_ok("max_use = 1\nmax_use = 2\n");
    CHECK_INTEQ(config_int("max_use"), 2);
    config_reset();
}

static void test_no_final_newline(void)
{
    load_ok("max_use = 3");
    CHECK_INTEQ(config_int("max_use"), 3);
    load_ok("mail_name = 3\n  4");
    CHECK_STREQ(config_raw("mail_name"), "3 4");
    config_reset();
}

static void test_empty_value(void)
{
    load_ok("relayhost =\nmyorigin=\n");
    CHECK_STREQ(config_str("relayhost"), "");
    CHECK(config_is_set("relayhost"));
    CHECK_STREQ(config_str("myorigin"), "");
    config_reset();
}

static void test_garbage_lines(void)
{
    CHECK_ERR("max_use = 1\nthis is garbage\n",
              "DIR/main.cf, line 2: missing \"=\" after \"this\"");
    CHECK_ERR("max_use = 1\n\n= 5\n", "DIR/main.cf, line 3: missing parameter name before \"=\"");
    CHECK_ERR("  max_use = 1\n",
              "DIR/main.cf, line 1: line starts with white space but no parameter definition "
              "precedes it");
    CHECK_ERR("max-use = 1\n",
              "DIR/main.cf, line 1: bad parameter name \"max-use\" (expected letters, digits and _)");
    CHECK_ERR("justaword\n", "DIR/main.cf, line 1: missing \"=\" after \"justaword\"");
    config_reset();
}

static void test_nul_byte(void)
{
    const char *why = NULL;

    config_reset();
    write_file("main.cf", "max_use = 1\nbi\0ff = yes\n", 24);
    CHECK_INTEQ(config_read(test_dir, &why), -1);
    CHECK(why != NULL && strstr(why, "main.cf, line 2: NUL byte") != NULL);
    config_reset();
}

static void test_long_lines(void)
{
    size_t big = 1024 * 1024;
    char *text = mem_alloc(big + 64);
    const char *why = NULL;

    /* A 1 MB physical line. */
    strcpy(text, "max_use = 1\nmyhostname = ");
    memset(text + strlen(text), 'a', big);
    config_reset();
    write_file("main.cf", text, strlen(text));
    CHECK_INTEQ(config_read(test_dir, &why), -1);
    CHECK(why != NULL && strstr(why, "main.cf, line 2: line longer than 65536 bytes") != NULL);

    /* Many continuation lines that add up to more than CONFIG_VALUE_MAX. */
    {
        struct buf *b = buf_create(big);

        buf_puts(b, "mydestination = a\n");
        while (buf_len(b) < (size_t)CONFIG_VALUE_MAX + 100000)
            buf_puts(b, "    example.com, example.org, example.net, example.edu\n");
        config_reset();
        write_file("main.cf", buf_str(b), buf_len(b));
        CHECK_INTEQ(config_read(test_dir, &why), -1);
        CHECK(why != NULL && strstr(why, "main.cf, line 1: definition longer than") != NULL);
        buf_free(&b);
    }

    /* A file over the size limit. */
    {
        size_t n = CONFIG_FILE_MAX + 10;
        char *huge = mem_alloc(n + 1);

        memset(huge, '#', n);
        config_reset();
        write_file("main.cf", huge, n);
        CHECK_INTEQ(config_read(test_dir, &why), -1);
        CHECK(why != NULL && strstr(why, "file larger than") != NULL);
        mem_free(huge);
    }

    /* A long but acceptable line works. */
    memset(text, 0, big + 64);
    strcpy(text, "mydestination = ");
    memset(text + strlen(text), 'b', 60000);
    load_ok(text);
    CHECK_INTEQ(strlen(config_str("mydestination")), 60000);
    mem_free(text);
    config_reset();
}

/* ---------------------------------------------------------------- expansion */

static void test_expansion_forms(void)
{
    load_ok("myhostname = host.example.com\n"
            "a = A\n"
            "empty =\n"
            "mail_name = [$a][${a}][$(a)][$$a][$$$a][$empty]\n"
            "syslog_name = [${a?yes}][${a:no}][${empty?yes}][${empty:no}]\n"
            "recipient_delimiter = [${a?{x y}}][${empty:{z}}][${a?{t}:{f}}][${empty?{t}:{f}}]\n"
            "relayhost = [${a?$myhostname}][${empty:${a}-$a}][$]\n");
    CHECK_WARNED("");
    CHECK_STREQ(config_str("mail_name"), "[A][A][A][$a][$A][]");
    CHECK_STREQ(config_str("syslog_name"), "[yes][][][no]");
    CHECK_STREQ(config_str("recipient_delimiter"), "[x y][z][t][f]");
    CHECK_STREQ(config_str("relayhost"), "[host.example.com][A-A][$]");
    CHECK_STREQ(config_raw("mail_name"), "[$a][${a}][$(a)][$$a][$$$a][$empty]");
    {
        char *e = config_expand("x $mail_owner ${a} $$");

        CHECK_STREQ(e, "x postel A $");
        mem_free(e);
    }
    config_reset();
}

static void test_expansion_errors(void)
{
    CHECK_ERR("mail_name = ${a\n",
              "DIR/main.cf, line 1: parameter \"mail_name\": missing \"}\" after \"${a\"");
    CHECK_ERR("mail_name = ${a?xx\n",
              "DIR/main.cf, line 1: parameter \"mail_name\": missing \"}\" in \"${a?...\"");
    CHECK_ERR("mail_name = ${}\n",
              "DIR/main.cf, line 1: parameter \"mail_name\": missing parameter name after \"${\"");
    CHECK_ERR("mail_name = ${mail_owner?{x}\n",
              "DIR/main.cf, line 1: parameter \"mail_name\": missing \"}\" after "
              "\"${mail_owner?{...}\"");
    CHECK_ERR("mail_name = ${mail_owner!x}\n",
              "DIR/main.cf, line 1: parameter \"mail_name\": bad character after \"${mail_owner\"");
    config_reset();
}

static void test_recursion(void)
{
    CHECK_ERR("a = $b\nb = $a\n", "DIR/main.cf, line 1: parameter a: recursive definition");
    CHECK_ERR("mail_name = $mail_name\n",
              "DIR/main.cf, line 1: parameter mail_name: recursive definition");
    CHECK_ERR("myhostname = x.$mydomain\n",
              "DIR/main.cf, line 1: parameter myhostname: recursive definition");
    CHECK_ERR("x = ${x?{a}}\n", "DIR/main.cf, line 1: parameter x: recursive definition");
    config_reset();
}

static void test_expansion_bomb(void)
{
    /* Each level multiplies by 8: 8^10 bytes if nothing stopped it. */
    const char *text = "a0 = xxxxxxxxxxxxxxxx\n"
                       "a1 = $a0$a0$a0$a0$a0$a0$a0$a0\n"
                       "a2 = $a1$a1$a1$a1$a1$a1$a1$a1\n"
                       "a3 = $a2$a2$a2$a2$a2$a2$a2$a2\n"
                       "a4 = $a3$a3$a3$a3$a3$a3$a3$a3\n"
                       "a5 = $a4$a4$a4$a4$a4$a4$a4$a4\n"
                       "a6 = $a5$a5$a5$a5$a5$a5$a5$a5\n"
                       "a7 = $a6$a6$a6$a6$a6$a6$a6$a6\n"
                       "mail_name = $a7\n";
    char *err = load_err(text);

    CHECK(strstr(err, "after $name expansion") != NULL);
    mem_free(err);
    config_reset();
}

static void test_deep_nesting(void)
{
    struct buf *b = buf_create(1000);

    for (int i = 0; i < 300; i++)
        buf_printf(b, "p%d = $p%d\n", i, i + 1);
    buf_puts(b, "p300 = end\n");
    {
        char *err = load_err(buf_str(b));

        CHECK(strstr(err, "nested more than") != NULL);
        mem_free(err);
    }
    buf_free(&b);
    config_reset();
}

static void test_undefined_reference(void)
{
    load_ok("mail_name = a${nosuch}b\n");
    CHECK_STREQ(config_str("mail_name"), "ab");
    CHECK_WARNED("warning: DIR/main.cf, line 1: parameter \"mail_name\": reference to undefined "
                 "parameter \"$nosuch\"\n");
    /* A known parameter that is empty is not a warning. */
    load_ok("mail_name = a${relayhost}b\n");
    CHECK_STREQ(config_str("mail_name"), "ab");
    CHECK_WARNED("");
    config_reset();
}

static void test_unknown_names(void)
{
    load_ok("max_use = 5\n"
            "\n"
            "foo = bar\n"
            "my_networks = 10.0.0.0/8\n"
            "used_elsewhere = 1.2.3.4\n"
            "mynetworks = $used_elsewhere\n");
    CHECK_WARNED("warning: DIR/main.cf, line 3: unknown parameter \"foo\"\n"
                 "warning: DIR/main.cf, line 4: unknown parameter \"my_networks\"\n");
    CHECK_STREQ(config_str("mynetworks"), "1.2.3.4");
    CHECK_STREQ(config_raw("foo"), "bar");

    /* A name referenced only from master.cf is not reported either. */
    config_reset();
    buf_reset(warnings);
    write_file("master.cf", "submission inet n - n - - smtpd\n"
                            "  -o smtpd_client_restrictions=$mua_client_restrictions\n", 88);
    write_file("main.cf", "mua_client_restrictions = permit_sasl_authenticated, reject\n", strlen("mua_client_restrictions = permit_sasl_authenticated, reject\n"));
    CHECK_INTEQ(config_read(test_dir, &(const char *){NULL}), 0);
    CHECK_WARNED("");
    {
        char path[256];

        snprintf(path, sizeof(path), "%s/master.cf", test_dir);
        unlink(path);
    }
    config_reset();
}

/* Remove master.cf from the test directory. */
static void remove_master_cf(void)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/master.cf", test_dir);
    unlink(path);
}

/* <service>_<suffix>: known for master.cf services, typed like the generic parameter. */
static void test_per_transport(void)
{
    static const char master_cf[] = "smtp inet n - n - - smtpd\n"
                                    "relay unix - - n - - smtp\n"
                                    "  -o syslog_name=postel/$relay_tag\n"
                                    "local unix - n n - - local\n"
                                    "slow unix - - n - 5 smtp\n";
    const char *why = NULL;

    write_file("master.cf", master_cf, strlen(master_cf));
    load_ok("relay_destination_recipient_limit = 7\n"
            "slow_destination_concurrency_limit = $slow_limit\n"
            "slow_limit = 3\n"
            "nosuch_destination_recipient_limit = 9\n"
            "relay_unknown_suffix = 1\n"
            "default_destination_concurrency_limit = 11\n");
    CHECK_WARNED("warning: DIR/main.cf, line 4: unknown parameter "
                 "\"nosuch_destination_recipient_limit\"\n"
                 "warning: DIR/main.cf, line 5: unknown parameter \"relay_unknown_suffix\"\n");
    CHECK_INTEQ(config_int("relay_destination_recipient_limit"), 7);
    CHECK_INTEQ(config_int("slow_destination_concurrency_limit"), 3);
    /* Not set: the generic parameter's value (default "$<generic>"). */
    CHECK_INTEQ(config_int("relay_destination_concurrency_limit"), 11);
    CHECK_INTEQ(config_int("smtp_destination_recipient_limit"), 50);
    CHECK_STREQ(config_str("smtp_destination_recipient_limit"), "50");
    /* Table parameters keep their own defaults. */
    CHECK_INTEQ(config_int("local_destination_concurrency_limit"), 2);
    CHECK_INTEQ(config_int("local_destination_recipient_limit"), 1);
    /* A service that master.cf does not have: set but unknown, so the generic value. */
    CHECK_INTEQ(config_int("nosuch_destination_recipient_limit"), 50);
    CHECK_STREQ(config_raw("nosuch_destination_recipient_limit"), "9");

    /* Values are checked with the generic parameter's type and range. */
    CHECK_ERR("relay_destination_recipient_limit = 0\n",
              "DIR/main.cf, line 1: parameter \"relay_destination_recipient_limit\": bad value "
              "\"0\" (expected integer in range 1..1000)");
    CHECK_ERR("x = many\nslow_destination_concurrency_limit = $x\n",
              "DIR/main.cf, line 2: parameter \"slow_destination_concurrency_limit\": bad value "
              "\"many\" (expected integer in range 1..10000)");
    CHECK_ERR("nosuch_destination_recipient_limit = many\n", "(no error)");

    /* -o works the same way. */
    load_ok("");
    CHECK_INTEQ(config_override("relay_destination_concurrency_limit", "4", &why), 0);
    CHECK_INTEQ(config_int("relay_destination_concurrency_limit"), 4);
    CHECK_INTEQ(config_override("relay_destination_concurrency_limit", "x", &why), -1);
    CHECK(strstr(why, "relay_destination_concurrency_limit") != NULL);
    CHECK_INTEQ(config_int("relay_destination_concurrency_limit"), 4);
    CHECK_WARNED("");

    /* Without master.cf there are no services: unknown. */
    remove_master_cf();
    load_ok("relay_destination_recipient_limit = 7\n");
    CHECK_WARNED("warning: DIR/main.cf, line 1: unknown parameter "
                 "\"relay_destination_recipient_limit\"\n");
    CHECK_INTEQ(config_int("relay_destination_recipient_limit"), 50);

    /* The suffix table names existing parameters; a suffix alone is no name. */
    for (size_t i = 0; i < param_suffix_count; i++)
        CHECK(param_find(param_suffix_table[i].generic) != NULL);
    CHECK(param_transport_generic("destination_recipient_limit", NULL) == NULL);
    CHECK(param_transport_generic("_destination_recipient_limit", NULL) == NULL);
    CHECK(param_transport_generic("local_destination_recipient_limit", NULL) == NULL);
    CHECK(param_transport_generic("x_destination_recipient_limit", NULL) ==
          param_find("default_destination_recipient_limit"));
    config_reset();
}

/* ---------------------------------------------------------------- values */

static void test_bad_values(void)
{
    CHECK_ERR("\nmax_use = 10x\n",
              "DIR/main.cf, line 2: parameter \"max_use\": bad value \"10x\" (expected integer in "
              "range 1..1000000)");
    CHECK_ERR("max_use = -1\n",
              "DIR/main.cf, line 1: parameter \"max_use\": bad value \"-1\" (expected integer in "
              "range 1..1000000)");
    CHECK_ERR("ipc_timeout = 5q\n",
              "DIR/main.cf, line 1: parameter \"ipc_timeout\": bad value \"5q\" (expected time in "
              "range 1s..1d)");
    CHECK_ERR("ipc_timeout = 2d\n",
              "DIR/main.cf, line 1: parameter \"ipc_timeout\": bad value \"2d\" (expected time in "
              "range 1s..1d)");
    CHECK_ERR("in_flow_delay = -1\n",
              "DIR/main.cf, line 1: parameter \"in_flow_delay\": bad value \"-1\" (expected time "
              "in range 0s..10s)");
    CHECK_ERR("biff = maybe\n",
              "DIR/main.cf, line 1: parameter \"biff\": bad value \"maybe\" (expected yes or no)");
    CHECK_ERR("message_size_limit = 10 MB\n",
              "DIR/main.cf, line 1: parameter \"message_size_limit\": bad value \"10 MB\" "
              "(expected size in range 0..4g)");
    CHECK_ERR("mailbox_size_limit = -5\n",
              "DIR/main.cf, line 1: parameter \"mailbox_size_limit\": bad value \"-5\" (expected "
              "size in range 0..)");
    CHECK_ERR("mynetworks_style = class\n",
              "DIR/main.cf, line 1: parameter \"mynetworks_style\": bad value \"class\" (expected "
              "one of host, subnet)");
    CHECK_ERR("inet_protocols = ipv4, ipv5\n",
              "DIR/main.cf, line 1: parameter \"inet_protocols\": bad value \"ipv4, ipv5\" "
              "(expected a list of all, ipv4, ipv6)");
    /* The check applies after expansion. */
    CHECK_ERR("n = 12abc\nmax_use = $n\n",
              "DIR/main.cf, line 2: parameter \"max_use\": bad value \"12abc\" (expected integer "
              "in range 1..1000000)");
    /* A default that becomes bad through a setting it references. */
    CHECK_ERR("max_idle = 5m\nmax_use = 2\nmyorigin = ok\n", "(no error)");
    load_ok("inet_protocols = ipv4, ipv6\nmax_use = ${max_use_x:5}\n");
    CHECK_INTEQ(config_int("max_use"), 5);
    config_reset();
}

static void test_long_bad_value_quoted_bounded(void)
{
    struct buf *b = buf_create(1000);
    char *err;

    buf_puts(b, "max_use = ");
    for (int i = 0; i < 500; i++)
        buf_putc(b, 'z');
    err = load_err(buf_str(b));
    CHECK(strlen(err) < 300);
    CHECK(strstr(err, "zzz...\" (expected integer") != NULL);
    mem_free(err);
    buf_free(&b);
    config_reset();
}

static void test_reload_keeps_old(void)
{
    const char *why = NULL;
    const char *old;

    load_ok("max_use = 9\nmail_name = First\n");
    CHECK_INTEQ(config_int("max_use"), 9);
    write_file("main.cf", "max_use = 9x\nmail_name = Second\n", strlen("max_use = 9x\nmail_name = Second\n"));
    CHECK_INTEQ(config_read(test_dir, &why), -1);
    CHECK_INTEQ(config_int("max_use"), 9);
    old = config_str("mail_name");
    CHECK_STREQ(old, "First");
    write_file("main.cf", "max_use = 11\n", strlen("max_use = 11\n"));
    CHECK_INTEQ(config_read(test_dir, &why), 0);
    CHECK_INTEQ(config_int("max_use"), 11);
    CHECK_STREQ(config_str("mail_name"), "Postel");
    config_reset();
}

static void test_overrides(void)
{
    const char *why = NULL;

    load_ok("max_use = 9\nmail_name = M$max_use\n");
    CHECK_STREQ(config_str("mail_name"), "M9");
    CHECK_INTEQ(config_override("max_use", "12", &why), 0);
    CHECK_INTEQ(config_int("max_use"), 12);
    CHECK_STREQ(config_str("mail_name"), "M12");
    CHECK_STREQ(config_raw("max_use"), "12");
    /* A bad override is refused and changes nothing. */
    CHECK_INTEQ(config_override("max_use", "0", &why), -1);
    CHECK_STREQ(why, "-o override: parameter \"max_use\": bad value \"0\" (expected integer in "
                     "range 1..1000000)");
    CHECK_INTEQ(config_int("max_use"), 12);
    CHECK_INTEQ(config_override("bad name", "1", &why), -1);
    CHECK_INTEQ(config_override("mail_name", "$mail_name", &why), -1);
    CHECK_STREQ(config_str("mail_name"), "M12");
    /* User-defined names are fine, and usable from others. */
    CHECK_INTEQ(config_override("my_limit", "33", &why), 0);
    CHECK_INTEQ(config_override("default_process_limit", "$my_limit", &why), 0);
    CHECK_INTEQ(config_int("default_process_limit"), 33);
    /* Overrides survive a re-read and still win over main.cf. */
    write_file("main.cf", "max_use = 1\n", strlen("max_use = 1\n"));
    CHECK_INTEQ(config_read(test_dir, &why), 0);
    CHECK_INTEQ(config_int("max_use"), 12);
    CHECK_WARNED("");
    config_reset();
}

static void test_check_text(void)
{
    char path[256];
    const char *why = NULL;

    config_reset();
    snprintf(path, sizeof(path), "%s/main.cf", test_dir);
    CHECK_INTEQ(config_check_text(path, "max_use = 3\n", 12, &why), 0);
    CHECK_INTEQ(config_check_text(path, "max_use = x\n", 12, &why), -1);
    CHECK(strstr(why, "main.cf, line 1: parameter \"max_use\": bad value") != NULL);
    /* Nothing changed. */
    CHECK_INTEQ(config_int("max_use"), 100);
    config_reset();
}

static void test_config_dir_default(void)
{
    setenv("POSTEL_CONFIG_DIR", "/somewhere/else", 1);
    CHECK_STREQ(config_dir_default(), "/somewhere/else");
    setenv("POSTEL_CONFIG_DIR", "", 1);
    CHECK_STREQ(config_dir_default(), DEF_CONFIG_DIR);
    unsetenv("POSTEL_CONFIG_DIR");
    CHECK_STREQ(config_dir_default(), DEF_CONFIG_DIR);
}

static void test_not_regular(void)
{
    const char *why = NULL;
    char path[256];

    config_reset();
    snprintf(path, sizeof(path), "%s/main.cf", test_dir);
    unlink(path);
    CHECK_INTEQ(mkdir(path, 0700), 0);
    CHECK_INTEQ(config_read(test_dir, &why), -1);
    CHECK(why != NULL && strstr(why, "not a regular file") != NULL);
    rmdir(path);
    config_reset();
}

int main(void)
{
    char path[256];

    if (mkdtemp(test_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    warnings = buf_create(256);
    msg_set_hook(hook);
    msg_set_flags(0);

    TEST_RUN(test_table_sane);
    TEST_RUN(test_required_params);
    TEST_RUN(test_parse_int);
    TEST_RUN(test_parse_time);
    TEST_RUN(test_parse_size_bool);
    TEST_RUN(test_list_split);
    TEST_RUN(test_domain_of);
    TEST_RUN(test_defaults);
    TEST_RUN(test_missing_main_cf);
    TEST_RUN(test_basic_read);
    TEST_RUN(test_last_definition_wins);
    TEST_RUN(test_no_final_newline);
    TEST_RUN(test_empty_value);
    TEST_RUN(test_garbage_lines);
    TEST_RUN(test_nul_byte);
    TEST_RUN(test_long_lines);
    TEST_RUN(test_expansion_forms);
    TEST_RUN(test_expansion_errors);
    TEST_RUN(test_recursion);
    TEST_RUN(test_expansion_bomb);
    TEST_RUN(test_deep_nesting);
    TEST_RUN(test_undefined_reference);
    TEST_RUN(test_unknown_names);
    TEST_RUN(test_per_transport);
    TEST_RUN(test_bad_values);
    TEST_RUN(test_long_bad_value_quoted_bounded);
    TEST_RUN(test_reload_keeps_old);
    TEST_RUN(test_overrides);
    TEST_RUN(test_check_text);
    TEST_RUN(test_config_dir_default);
    TEST_RUN(test_not_regular);

    snprintf(path, sizeof(path), "%s/main.cf", test_dir);
    unlink(path);
    rmdir(test_dir);
    buf_free(&warnings);
    return test_summary();
}
