/* Unit tests for the master/child status records and master's service building. */
#include "config.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/master_proto.h"
#include "lib/mail/mastercf.h"
#include "lib/mail/server.h"
#include "lib/util/mem.h"
#include "master/master.h"
#include "tests/unit/test.h"

static void test_status_roundtrip(void)
{
    struct master_status_rec in = {.pid = 4711, .generation = 3, .status = MASTER_STATUS_BUSY};
    struct master_status_rec out;
    char buf[MASTER_STATUS_MAX + 1];
    const char *why;
    size_t len = master_status_format(buf, sizeof(buf), &in);

    CHECK_STREQ(buf, "1 4711 3 busy");
    CHECK_INTEQ(master_status_parse(buf, len, &out, &why), 0);
    CHECK_INTEQ(out.pid, 4711);
    CHECK_INTEQ(out.generation, 3);
    CHECK_INTEQ(out.status, MASTER_STATUS_BUSY);
    CHECK_INTEQ(master_status_parse("1 2 0 idle", 10, &out, &why), 0);
    CHECK_INTEQ(out.status, MASTER_STATUS_IDLE);
    CHECK_INTEQ(out.generation, 0);
}

static void test_status_malformed(void)
{
    static const char *const bad[] = {
        "",
        "1",
        "1 ",
        "1 4711",
        "1 4711 3",
        "1 4711 3 ",
        "2 4711 3 idle",  /* unknown version */
        "1 0 3 idle",     /* pid 0 */
        "1 -5 3 idle",    /* sign */
        "1 4711 3 idle ", /* trailing space */
        "1 4711 3 idlex",
        "1 4711 3 IDLE",
        "1  4711 3 idle", /* double space */
        "1 4711 x3 idle",
        "1 99999999999 3 idle", /* pid out of range */
        "1 4711 3 busy\n",
        "1 4711 99999999999999999999 idle", /* generation too long */
    };
    struct master_status_rec out;
    const char *why;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        if (master_status_parse(bad[i], strlen(bad[i]), &out, &why) != -1 || why == NULL) {
            fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
            CHECK(0);
        }
    }
    /* An embedded NUL and an over-long record. */
    CHECK_INTEQ(master_status_parse("1 4711\0003 idle", 13, &out, &why), -1);
    {
        char big[MASTER_STATUS_MAX + 2];

        memset(big, '1', sizeof(big));
        CHECK_INTEQ(master_status_parse(big, sizeof(big), &out, &why), -1);
    }
    /* Every proper prefix of a good record is malformed. */
    {
        const char *good = "1 123 45 busy";

        for (size_t n = 0; n < strlen(good); n++)
            CHECK_INTEQ(master_status_parse(good, n, &out, &why), -1);
        CHECK_INTEQ(master_status_parse(good, strlen(good), &out, &why), 0);
    }
}

static void test_inet_port(void)
{
    const char *why;
    int port = 0;

    CHECK_INTEQ(master_inet_port("25", &port, &why), 0);
    CHECK_INTEQ(port, 25);
    CHECK_INTEQ(master_inet_port("65535", &port, &why), 0);
    CHECK_INTEQ(master_inet_port("0", &port, &why), -1);
    CHECK_INTEQ(master_inet_port("65536", &port, &why), -1);
    CHECK_INTEQ(master_inet_port("25x", &port, &why), -1);
    CHECK_INTEQ(master_inet_port("no-such-service-name", &port, &why), -1);
    CHECK(why && strstr(why, "no-such-service-name") != NULL);
}

/* The addresses of service as text, space separated; "ERR" on failure. */
static void addrs_text(const char *service, char *out, size_t size)
{
    struct master_addr *addrs = NULL;
    size_t count = 0;
    const char *why;

    out[0] = '\0';
    if (master_inet_addrs(service, &addrs, &count, &why) < 0) {
        snprintf(out, size, "ERR");
        return;
    }
    for (size_t i = 0; i < count; i++) {
        char text[80];

        master_addr_text(&addrs[i], text, sizeof(text));
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? " " : "", text);
    }
    mem_free(addrs);
}

static void test_inet_addrs(void)
{
    static const struct {
        const char *interfaces, *protocols, *service, *want;
    } cases[] = {
        {"all", "ipv4", "2525", "0.0.0.0:2525"},
        {"all", "all", "2525", "0.0.0.0:2525 [::]:2525"},
        {"all", "ipv6", "2525", "[::]:2525"},
        {"loopback-only", "all", "2525", "127.0.0.1:2525 [::1]:2525"},
        {"127.0.0.1", "all", "2525", "127.0.0.1:2525"},
        {"127.0.0.1, ::1", "all", "25", "127.0.0.1:25 [::1]:25"},
        {"127.0.0.1 127.0.0.1", "all", "25", "127.0.0.1:25"},
        {"all", "all", "127.0.0.2:2525", "127.0.0.2:2525"},
        {"all", "all", "*:2525", "0.0.0.0:2525 [::]:2525"},
        {"all", "all", "[::1]:2525", "[::1]:2525"},
        {"all", "ipv4", "[::1]:2525", "ERR"},
        {"::1", "ipv4", "2525", "ERR"},
        {"all", "all", "127.0.0.1:", "ERR"},
        {"all", "all", "127.0.0.1:0", "ERR"},
        {"all", "all", "[::1:25", "ERR"},
    };
    const char *why;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char got[512];

        CHECK_INTEQ(config_override("inet_interfaces", cases[i].interfaces, &why), 0);
        CHECK_INTEQ(config_override("inet_protocols", cases[i].protocols, &why), 0);
        addrs_text(cases[i].service, got, sizeof(got));
        CHECK_STREQ(got, cases[i].want);
    }
    CHECK_INTEQ(config_override("inet_interfaces", "all", &why), 0);
    CHECK_INTEQ(config_override("inet_protocols", "all", &why), 0);
}

/* Build services from master.cf text; the error text or "" on success. */
static const char *build(const char *text, struct master_serv **list_r)
{
    struct mastercf *cf;
    const char *why;

    *list_r = NULL;
    if ((cf = mastercf_parse(text, "master.cf", &why)) == NULL)
        return why;
    if (master_conf_build(cf, list_r, &why) < 0) {
        mastercf_free(&cf);
        return why;
    }
    mastercf_free(&cf);
    return "";
}

static void test_conf_build(void)
{
    struct master_serv *list;
    const char *why;
    const char *err;

    CHECK_INTEQ(config_override("daemon_directory", "/usr/lib/postel", &why), 0);
    CHECK_INTEQ(config_override("queue_directory", "/var/spool/postel", &why), 0);
    CHECK_INTEQ(config_override("default_process_limit", "7", &why), 0);
    CHECK_INTEQ(config_override("inet_interfaces", "127.0.0.1", &why), 0);

    err = build("127.0.0.1:2525 inet n - n - - smtpd -o x=y\n"
                "qmgr unix n - n 300 1 qmgr\n"
                "pickup fifo n - n 60 1 /opt/pickup\n",
                &list);
    CHECK_STREQ(err, "");
    if (list) {
        CHECK_STREQ(list->name, "127.0.0.1:2525");
        CHECK_STREQ(list->path, "/usr/lib/postel/smtpd");
        CHECK_INTEQ(list->max_proc, 7);
        CHECK_STREQ(list->listen_key, "inet 127.0.0.1:2525");
        CHECK_INTEQ(list->argv->argc, 3);
        CHECK_INTEQ(list->wakeup, 0);
        CHECK(list->next != NULL);
    }
    if (list && list->next) {
        struct master_serv *q = list->next;

        CHECK_STREQ(q->sock_path, "/var/spool/postel/public/qmgr");
        CHECK_INTEQ(q->max_proc, 1);
        CHECK_INTEQ(q->wakeup, 300);
        CHECK(q->next && strcmp(q->next->path, "/opt/pickup") == 0);
    }
    master_serv_free_list(&list);

    err = build("smtp inet n - n - - smtpd\nsmtp inet n - n - - smtpd\n", &list);
    CHECK(strstr(err, "line 2") && strstr(err, "duplicate service"));
    err = build("../x unix n - n - - smtpd\n", &list);
    CHECK(strstr(err, "line 1") && strstr(err, "service name"));
    err = build("x pass n - n - - smtpd\n", &list);
    CHECK(strstr(err, "line 1") && strstr(err, "not supported"));
    err = build("\n\nno-such-port-name inet n - n - - smtpd\n", &list);
    CHECK(strstr(err, "line 3") && strstr(err, "no-such-port-name"));
    CHECK(list == NULL);
}

/* In a child: drop to 65534 and check the result; as non-root the drop must fail. */
static void test_drop_privileges(void)
{
    pid_t pid = fork();
    int status = 0;

    CHECK(pid >= 0);
    if (pid == 0) {
        const char *why = NULL;
        bool root = geteuid() == 0;
        int r = server_drop_privileges(65534, 65534, &why);
        uid_t ru, eu, su;
        gid_t rg, eg, sg;

        if (!root)
            _exit(r == -1 && why && strstr(why, "setgroups") ? 0 : 10);
        if (r != 0)
            _exit(11);
        if (getresuid(&ru, &eu, &su) < 0 || ru != 65534 || eu != 65534 || su != 65534)
            _exit(12);
        if (getresgid(&rg, &eg, &sg) < 0 || rg != 65534 || eg != 65534 || sg != 65534)
            _exit(13);
        if (setuid(0) == 0 || seteuid(0) == 0)
            _exit(14);
        _exit(0);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_INTEQ(WEXITSTATUS(status), 0);
}

int main(void)
{
    TEST_RUN(test_status_roundtrip);
    TEST_RUN(test_status_malformed);
    TEST_RUN(test_inet_port);
    TEST_RUN(test_inet_addrs);
    TEST_RUN(test_conf_build);
    TEST_RUN(test_drop_privileges);
    return test_summary();
}
