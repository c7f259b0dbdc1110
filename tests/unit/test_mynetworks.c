/*
 * Unit tests for the client and domain match lists of lib/mail:
 * mynetworks (IPv4, IPv6, IPv4-mapped IPv6, prefixes, host bits, cidr:
 * tables, files, negation, table errors), domain_list (mydestination and
 * relay_domains semantics, tables with parent domains), maps (order,
 * unavailable tables are errors and are retried, strict lists, the table
 * that had the key, rebuilt tables) and the unix: table.
 */
#include "config.h"

#include <dirent.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dict/dict.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/domain_list.h"
#include "lib/mail/maps.h"
#include "lib/mail/mynetworks.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "tests/unit/test.h"

static char tmpdir[256];

/* Swallow warnings (tables that are missing on purpose). */
static void quiet(enum msg_level level, const char *text)
{
    (void)level;
    (void)text;
}

/* A path in the test directory. */
static const char *tpath(const char *name)
{
    static char paths[4][512];
    static int n;
    char *p = paths[n++ % 4];

    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

/* Write text to a file in the test directory; returns its path. */
static const char *write_file(const char *name, const char *text)
{
    const char *path = tpath(name);
    FILE *fp = fopen(path, "w");

    if (fp == NULL) {
        perror(path);
        exit(2);
    }
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* Match addr against a list built from value: 1, 0, -1; -2 when the list is refused. */
static int mn(const char *value, const char *addr)
{
    struct mynetworks *m;
    const char *why;
    int r;

    if (mynetworks_create("mynetworks", value, &m, &why) < 0)
        return -2;
    r = mynetworks_match(m, addr, &why);
    mynetworks_free(&m);
    return r;
}

static void test_mynetworks_ipv4(void)
{
    static const struct {
        const char *list, *addr;
        int want;
    } cases[] = {
        {"127.0.0.0/8", "127.0.0.1", 1},
        {"127.0.0.0/8", "127.255.255.255", 1},
        {"127.0.0.0/8", "128.0.0.1", 0},
        {"127.0.0.1/32", "127.0.0.2", 0},
        {"127.0.0.1/32", "127.0.0.1", 1},
        {"127.0.0.1", "127.0.0.1", 1},
        {"192.0.2.0/25", "192.0.2.127", 1},
        {"192.0.2.0/25", "192.0.2.128", 0},
        {"192.0.2.0/31", "192.0.2.1", 1},
        {"192.0.2.0/31", "192.0.2.2", 0},
        {"0.0.0.0/0", "203.0.113.9", 1},
        {"10.0.0.0/8, 192.0.2.0/24", "192.0.2.200", 1},
        {"10.0.0.0/8 192.0.2.0/24", "11.0.0.1", 0},
        {"", "127.0.0.1", 0},
        {"127.0.0.0/8", "not-an-address", 0},
        {"127.0.0.0/8", "unknown", 0},
        /* IPv4-mapped IPv6 clients match IPv4 networks */
        {"127.0.0.0/8", "::ffff:127.0.0.1", 1},
        {"192.0.2.0/24", "::ffff:192.0.2.77", 1},
        {"192.0.2.0/24", "::ffff:192.0.3.77", 0},
        {"[::ffff:192.0.2.0]/120", "192.0.2.5", 1},
        {"[::ffff:192.0.2.0]/120", "192.0.3.5", 0},
        /* negation: first match wins */
        {"!192.0.2.1 192.0.2.0/24", "192.0.2.1", 0},
        {"!192.0.2.1 192.0.2.0/24", "192.0.2.2", 1},
        {"192.0.2.0/24 !192.0.2.1", "192.0.2.1", 1},
        /* malformed lists are refused */
        {"192.0.2.1/24", "192.0.2.1", -2},
        {"192.0.2.0/33", "192.0.2.1", -2},
        {"192.0.2.0/-1", "192.0.2.1", -2},
        {"192.0.2", "192.0.2.1", -2},
        {"example.com", "192.0.2.1", -2},
        {"nosuchtype:/x", "192.0.2.1", -2},
        {"!", "192.0.2.1", -2},
        {"[::ffff:192.0.2.0]/64", "192.0.2.5", -2},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = mn(cases[i].list, cases[i].addr);

        if (r != cases[i].want)
            fprintf(stderr, "  case %zu: \"%s\" ~ %s: got %d want %d\n", i, cases[i].list,
                    cases[i].addr, r, cases[i].want);
        CHECK_INTEQ(r, cases[i].want);
    }
}

static void test_mynetworks_ipv6(void)
{
    static const struct {
        const char *list, *addr;
        int want;
    } cases[] = {
        {"[::1]/128", "::1", 1},
        {"[::1]/128", "::2", 0},
        {"[::1]", "::1", 1},
        {"[2001:db8::]/32", "2001:db8:ffff::1", 1},
        {"[2001:db8::]/32", "2001:db9::1", 0},
        {"[2001:db8::]/33", "2001:db8:7fff::1", 1},
        {"[2001:db8::]/33", "2001:db8:8000::1", 0},
        {"[2001:DB8::]/32", "2001:db8::5", 1},
        {"2001:db8::/32", "2001:db8::5", 1},
        {"[2001:db8::1]", "[2001:db8::1]", 1},
        {"[fe80::]/10", "fe80::1%eth0", 1},
        {"[2001:db8::]/32", "192.0.2.1", 0},
        {"192.0.2.0/24", "2001:db8::1", 0},
        {"[::]/0", "2001:db8::1", 1},
        {"[::]/0", "192.0.2.1", 0},
        {"[2001:db8::1]/32", "2001:db8::1", -2},
        {"[2001:db8::]/129", "2001:db8::1", -2},
        {"[2001:db8::g]/32", "2001:db8::1", -2},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = mn(cases[i].list, cases[i].addr);

        if (r != cases[i].want)
            fprintf(stderr, "  case %zu: \"%s\" ~ %s: got %d want %d\n", i, cases[i].list,
                    cases[i].addr, r, cases[i].want);
        CHECK_INTEQ(r, cases[i].want);
    }
}

static void test_mynetworks_tables_and_files(void)
{
    char list[600];
    const char *cidr = write_file("nets.cidr", "192.0.2.0/24 OK\n[2001:db8::]/32 OK\n");
    const char *file = write_file("nets.txt", "# trusted networks\n198.51.100.0/24 # lab\n"
                                              "\n203.0.113.7\n");

    snprintf(list, sizeof(list), "cidr:%s", cidr);
    CHECK_INTEQ(mn(list, "192.0.2.9"), 1);
    CHECK_INTEQ(mn(list, "::ffff:192.0.2.9"), 1);
    CHECK_INTEQ(mn(list, "2001:db8::9"), 1);
    CHECK_INTEQ(mn(list, "198.51.100.1"), 0);
    snprintf(list, sizeof(list), "!cidr:%s 0.0.0.0/0", cidr);
    CHECK_INTEQ(mn(list, "192.0.2.9"), 0);
    CHECK_INTEQ(mn(list, "198.51.100.1"), 1);

    snprintf(list, sizeof(list), "127.0.0.1, %s", file);
    CHECK_INTEQ(mn(list, "198.51.100.200"), 1);
    CHECK_INTEQ(mn(list, "203.0.113.7"), 1);
    CHECK_INTEQ(mn(list, "203.0.113.8"), 0);
    CHECK_INTEQ(mn(list, "127.0.0.1"), 1);
    CHECK_INTEQ(mn(tpath("no-such-file"), "127.0.0.1"), -2);

    /* A table that cannot be read is an error, not a "no". */
    snprintf(list, sizeof(list), "cidr:%s", tpath("missing.cidr"));
    CHECK_INTEQ(mn(list, "192.0.2.9"), -1);
    /* ...unless an earlier item already decided. */
    snprintf(list, sizeof(list), "192.0.2.0/24 cidr:%s", tpath("missing.cidr"));
    CHECK_INTEQ(mn(list, "192.0.2.9"), 1);
    CHECK_INTEQ(mn(list, "198.51.100.1"), -1);
}

static void test_mynetworks_normalize(void)
{
    static const struct {
        const char *in, *out;
        int rc;
    } cases[] = {
        {"127.0.0.1", "127.0.0.1", 0},
        {"::ffff:127.0.0.1", "127.0.0.1", 0},
        {"::FFFF:7f00:1", "127.0.0.1", 0},
        {"2001:DB8:0:0::1", "2001:db8::1", 0},
        {"[IPv6:2001:db8::1]", "2001:db8::1", 0},
        {"[192.0.2.1]", "192.0.2.1", 0},
        {"fe80::1%eth0", "fe80::1", 0},
        {"unknown", "unknown", -1},
        {"", "", -1},
        {"1.2.3", "1.2.3", -1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[80];

        CHECK_INTEQ(mynetworks_normalize_addr(cases[i].in, out, sizeof(out)), cases[i].rc);
        CHECK_STREQ(out, cases[i].out);
    }
}

/* Match domain against a domain list from value (flags): 1, 0, -1; -2 when refused. */
static int dl(const char *value, int flags, const char *domain)
{
    struct domain_list *l;
    const char *why;
    int r;

    if (domain_list_create("test", value, flags, &l, &why) < 0)
        return -2;
    r = domain_list_match(l, domain, &why);
    domain_list_free(&l);
    return r;
}

static void test_domain_list(void)
{
    char list[600];

    CHECK_INTEQ(dl("example.com", 0, "example.com"), 1);
    CHECK_INTEQ(dl("example.com", 0, "EXAMPLE.Com."), 1);
    CHECK_INTEQ(dl("Example.COM.", 0, "example.com"), 1);
    CHECK_INTEQ(dl("example.com", 0, "sub.example.com"), 0);
    CHECK_INTEQ(dl("example.com", DOMAIN_LIST_PARENT, "sub.example.com"), 1);
    CHECK_INTEQ(dl("example.com", DOMAIN_LIST_PARENT, "a.b.example.com"), 1);
    CHECK_INTEQ(dl("example.com", DOMAIN_LIST_PARENT, "badexample.com"), 0);
    CHECK_INTEQ(dl(".example.com", 0, "sub.example.com"), 1);
    CHECK_INTEQ(dl(".example.com", 0, "example.com"), 0);
    CHECK_INTEQ(dl("a.example, b.example", 0, "b.example"), 1);
    CHECK_INTEQ(dl("", 0, "example.com"), 0);
    CHECK_INTEQ(dl("!sub.example.com example.com", DOMAIN_LIST_PARENT, "sub.example.com"), 0);
    CHECK_INTEQ(dl("!sub.example.com example.com", DOMAIN_LIST_PARENT, "x.example.com"), 1);
    CHECK_INTEQ(dl("nosuchtype:foo", 0, "example.com"), -2);
    CHECK_INTEQ(dl("example.com", 0, ""), 0);

    snprintf(list, sizeof(list), "inline:{ example.org=ok }");
    CHECK_INTEQ(dl(list, 0, "example.org"), 1);
    CHECK_INTEQ(dl(list, 0, "EXAMPLE.ORG"), 1);
    CHECK_INTEQ(dl(list, 0, "sub.example.org"), 0);
    CHECK_INTEQ(dl(list, DOMAIN_LIST_PARENT, "sub.example.org"), 1);
    snprintf(list, sizeof(list), "inline:{ .example.org=ok }");
    CHECK_INTEQ(dl(list, 0, "sub.example.org"), 1);
    CHECK_INTEQ(dl(list, 0, "example.org"), 0);
    snprintf(list, sizeof(list), "texthash:%s", tpath("missing-domains"));
    CHECK_INTEQ(dl(list, 0, "example.org"), -1);
    snprintf(list, sizeof(list), "example.org texthash:%s", tpath("missing-domains"));
    CHECK_INTEQ(dl(list, 0, "example.org"), 1);
    snprintf(list, sizeof(list), "%s",
             write_file("domains", "# local domains\nexample.net\n.example.net\n"));
    CHECK_INTEQ(dl(list, 0, "example.net"), 1);
    CHECK_INTEQ(dl(list, 0, "x.example.net"), 1);
    CHECK_INTEQ(dl(list, 0, "example.com"), 0);
}

static void test_maps(void)
{
    struct maps *m;
    const char *value, *why;
    const char *path = tpath("late-table");
    char spec[600];

    CHECK_INTEQ(maps_create("t", "inline:{ a=1 } inline:{ a=2, b=3 }", 0, &m, &why), 0);
    CHECK_INTEQ(maps_count(m), 2);
    CHECK_INTEQ(maps_find(m, "a", &value, &why), 1);
    CHECK_STREQ(value, "1");
    CHECK_INTEQ(maps_find(m, "b", &value, &why), 1);
    CHECK_STREQ(value, "3");
    CHECK_INTEQ(maps_find(m, "c", &value, &why), 0);
    maps_free(&m);
    CHECK(m == NULL);

    CHECK_INTEQ(maps_create("t", "", 0, &m, &why), 0);
    CHECK_INTEQ(maps_count(m), 0);
    CHECK_INTEQ(maps_find(m, "a", &value, &why), 0);
    maps_free(&m);

    CHECK_INTEQ(maps_create("t", "notatable", 0, &m, &why), -1);
    CHECK(strstr(why, "notatable") != NULL);
    CHECK_INTEQ(maps_create("t", "bogus:x", 0, &m, &why), -1);
    CHECK(strstr(why, "bogus") != NULL);

    /* A table that is missing at start is an error, then found once it exists. */
    unlink(path);
    snprintf(spec, sizeof(spec), "inline:{ a=1 } texthash:%s", path);
    CHECK_INTEQ(maps_create("local_recipient_maps", spec, 0, &m, &why), 0);
    CHECK_INTEQ(maps_find(m, "a", &value, &why), 1);
    CHECK_INTEQ(maps_find(m, "z", &value, &why), -1);
    CHECK(strstr(why, "local_recipient_maps") != NULL);
    write_file("late-table", "z found\n");
    CHECK_INTEQ(maps_find(m, "z", &value, &why), 1);
    CHECK_STREQ(value, "found");
    maps_free(&m);
}

/* Strict lists, the table that had the key, refresh, and rebuilt tables. */
static void test_maps_tables(void)
{
    const char *path = tpath("rebuilt-table");
    const struct dict *d;
    struct maps *m;
    const char *value, *why;
    char spec[600];

    /* MAPS_FLAG_STRICT: a table that cannot be opened fails the creation. */
    unlink(path);
    snprintf(spec, sizeof(spec), "inline:{ a=1 } texthash:%s", path);
    CHECK_INTEQ(maps_create("transport_maps", spec, MAPS_FLAG_STRICT, &m, &why), -1);
    CHECK(m == NULL);
    CHECK(strncmp(why, "transport_maps: ", 16) == 0);

    /* Lenient: maps_refresh() reports the missing table until it is there. */
    CHECK_INTEQ(maps_create("alias_maps", spec, DICT_FLAG_FOLD_KEYS, &m, &why), 0);
    CHECK_INTEQ(maps_refresh(m, &why), -1);
    CHECK(strstr(why, "alias_maps") != NULL);
    write_file("rebuilt-table", "b old\n");
    CHECK_INTEQ(maps_refresh(m, &why), 0);

    /* maps_find_dict() names the table that had the key. */
    CHECK_INTEQ(maps_find_dict(m, "A", &value, &d, &why), 1);
    CHECK_STREQ(value, "1");
    CHECK_STREQ(dict_spec(d), "inline:{ a=1 }");
    CHECK(dict_file(d) == NULL);
    CHECK_INTEQ(maps_find_dict(m, "b", &value, &d, &why), 1);
    CHECK_STREQ(value, "old");
    CHECK_STREQ(dict_file(d), path);
    CHECK_INTEQ(maps_find_dict(m, "c", &value, &d, &why), 0);
    CHECK(d == NULL);

    /* A rebuilt table is read again before the next lookup. */
    write_file("rebuilt-table", "b new value\n");
    CHECK_INTEQ(maps_find(m, "b", &value, &why), 1);
    CHECK_STREQ(value, "new value");
    maps_free(&m);

    CHECK_INTEQ(maps_create("t", spec, MAPS_FLAG_STRICT, &m, &why), 0);
    CHECK_INTEQ(maps_count(m), 2);
    maps_free(&m);
}

static void test_dict_unix(void)
{
    struct dict *d;
    const char *value, *why;
    struct passwd *pw = getpwuid(0);

    d = dict_open("unix:passwd.byname", DICT_FLAG_FOLD_KEYS, &why);
    CHECK(d != NULL);
    if (d == NULL)
        return;
    if (pw != NULL) {
        char want[300];

        snprintf(want, sizeof(want), "%s:", pw->pw_name);
        CHECK_INTEQ(dict_lookup(d, pw->pw_name, &value, &why), DICT_FOUND);
        CHECK(value != NULL && strncmp(value, want, strlen(want)) == 0);
        CHECK(value != NULL && strstr(value, ":0:") != NULL);
    }
    CHECK_INTEQ(dict_lookup(d, "no-such-user-xq9", &value, &why), DICT_NOTFOUND);
    CHECK_INTEQ(dict_lookup(d, "", &value, &why), DICT_NOTFOUND);
    CHECK_INTEQ(dict_lookup(d, "user@example.com", &value, &why), DICT_NOTFOUND);
    dict_close(&d);

    d = dict_open("unix:group.byname", 0, &why);
    CHECK(d != NULL);
    if (d != NULL) {
        CHECK_INTEQ(dict_lookup(d, "root", &value, &why), DICT_FOUND);
        CHECK(value != NULL && strncmp(value, "root:", 5) == 0);
        dict_close(&d);
    }
    CHECK(dict_open("unix:shadow.byname", 0, &why) == NULL);
    CHECK(dict_type_known("unix"));
}

static void test_mynetworks_config_value(void)
{
    const char *why;
    char *v;

    config_reset();
    v = mynetworks_config_value(); /* computed: loopback first */
    CHECK(strncmp(v, "127.0.0.0/8 [::1]/128", 21) == 0);
    mem_free(v);
    CHECK_INTEQ(config_override("mynetworks_style", "subnet", &why), 0);
    v = mynetworks_config_value();
    CHECK(strncmp(v, "127.0.0.0/8 [::1]/128", 21) == 0);
    mem_free(v);
    CHECK_INTEQ(config_override("mynetworks", "192.0.2.0/24, cidr:/x", &why), 0);
    v = mynetworks_config_value();
    CHECK_STREQ(v, "192.0.2.0/24, cidr:/x");
    mem_free(v);
    config_reset();
}

/* Remove the test directory. */
static void cleanup_tmpdir(void)
{
    DIR *dir = opendir(tmpdir);
    struct dirent *de;

    while (dir != NULL && (de = readdir(dir)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            unlink(tpath(de->d_name));
    if (dir != NULL)
        closedir(dir);
    rmdir(tmpdir);
}

int main(void)
{
    const char *base = getenv("TMPDIR");

    msg_init("test_mynetworks", MSG_TO_STDERR);
    msg_set_hook(quiet);
    msg_set_flags(0);
    snprintf(tmpdir, sizeof(tmpdir), "%s/test_mynetworks.XXXXXX", base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    TEST_RUN(test_mynetworks_ipv4);
    TEST_RUN(test_mynetworks_ipv6);
    TEST_RUN(test_mynetworks_tables_and_files);
    TEST_RUN(test_mynetworks_normalize);
    TEST_RUN(test_domain_list);
    TEST_RUN(test_maps);
    TEST_RUN(test_maps_tables);
    TEST_RUN(test_dict_unix);
    TEST_RUN(test_mynetworks_config_value);
    cleanup_tmpdir();
    return test_summary();
}
