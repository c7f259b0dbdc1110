/*
 * Unit tests for lib/dict: every table type (build, hit, miss, folding,
 * update/delete/sequence where supported, missing and corrupt files are
 * DICT_ERROR), cidr/regexp/pcre rule semantics, inline and static syntax,
 * change detection and reopen, and the byte-at-a-time line reader.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dict/dict.h"
#include "lib/dict/dict_lines.h"
#include "lib/dict/dict_util.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "tests/unit/test.h"

static char tmpdir[256];
static struct buf *warnings; /* every warning logged, one per line */

/* Capture log lines, so tests can check warnings with file and line. */
static void capture(enum msg_level level, const char *text)
{
    if (level >= MSG_WARN) {
        buf_puts(warnings, text);
        buf_putc(warnings, '\n');
    }
}

/* A path in the test directory. */
static const char *tpath(const char *name)
{
    static char paths[8][512];
    static int n;
    char *p = paths[n++ % 8];

    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

/* Write text to a file. */
static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    if (fp == NULL) {
        perror(path);
        exit(2);
    }
    fputs(text, fp);
    fclose(fp);
}

/* Build type:path from text the way postmap does. 0 or -1. */
static int build(const char *type, const char *path, const char *text, int flags)
{
    char spec[600];
    struct dict *d;
    struct dict_source *src;
    struct buf *k = buf_create(10), *v = buf_create(10);
    const char *why, *line;
    int lineno, rc = 0;

    write_file(path, text);
    snprintf(spec, sizeof(spec), "%s:%s", type, path);
    if ((d = dict_open(spec, DICT_FLAG_CREATE | flags, &why)) == NULL) {
        fprintf(stderr, "build %s: %s\n", spec, why);
        return -1;
    }
    src = dict_source_open(path, &why);
    while (dict_source_next(src, &line, &lineno, &why) == 1) {
        if (dict_split_key_value(line, k, v, &why) < 0)
            continue;
        if (dict_update(d, buf_str(k), buf_str(v), &why) < 0) {
            fprintf(stderr, "update: %s\n", why);
            rc = -1;
        }
    }
    dict_source_close(&src);
    if (dict_commit(d, &why) < 0) {
        fprintf(stderr, "commit: %s\n", why);
        rc = -1;
    }
    dict_close(&d);
    buf_free(&k);
    buf_free(&v);
    return rc;
}

/* Open type:path or fail the test. */
static struct dict *open_ok(const char *type, const char *path, int flags)
{
    char spec[600];
    const char *why = NULL;
    struct dict *d;

    snprintf(spec, sizeof(spec), "%s:%s", type, path);
    d = dict_open(spec, flags, &why);
    if (d == NULL)
        fprintf(stderr, "  open %s: %s\n", spec, why);
    return d;
}

/* Look up key: the value, "" for not found, "ERROR" for an error. */
static const char *look(struct dict *d, const char *key)
{
    static char out[4096];
    const char *v, *why;
    int rc = dict_lookup(d, key, &v, &why);

    if (rc == DICT_FOUND)
        snprintf(out, sizeof(out), "%s", v);
    else if (rc == DICT_NOTFOUND)
        out[0] = '\0';
    else
        snprintf(out, sizeof(out), "ERROR");
    return out;
}

/* Count the files in the test directory whose name starts with prefix. */
static int count_files(const char *prefix)
{
    DIR *dir = opendir(tmpdir);
    struct dirent *e;
    int n = 0;

    while ((e = readdir(dir)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(dir);
    return n;
}

static const char *const file_types[] = {
#ifdef HAVE_BDB
    "hash", "btree",
#endif
#ifdef HAVE_LMDB
    "lmdb",
#endif
#ifdef HAVE_CDB
    "cdb",
#endif
    NULL,
};

static const char source_text[] = "# a comment\n"
                                  "alice@example.com   alice\n"
                                  "Bob@Example.COM bob,\n"
                                  "    robert\n"
                                  "\n"
                                  "\"quoted key\"@example.com quoted\n"
                                  "alice@example.com second\n";

/* Build, lookup hit/miss, folding, continuation, duplicates, sequence for each built type. */
static void test_built_types(void)
{
    for (int i = 0; file_types[i] != NULL; i++) {
        const char *type = file_types[i];
        char name[64];
        struct dict *d;
        const char *k, *v, *why;
        int n = 0, rc;

        snprintf(name, sizeof(name), "built_%s", type);
        CHECK_INTEQ(build(type, tpath(name), source_text, DICT_FLAG_FOLD_KEYS), 0);
        if ((d = open_ok(type, tpath(name), DICT_FLAG_FOLD_KEYS)) == NULL) {
            CHECK(0);
            continue;
        }
        CHECK_STREQ(look(d, "alice@example.com"), "alice");
        CHECK_STREQ(look(d, "ALICE@example.com"), "alice");
        CHECK_STREQ(look(d, "bob@example.com"), "bob,    robert");
        CHECK_STREQ(look(d, "\"quoted key\"@example.com"), "quoted");
        CHECK_STREQ(look(d, "nobody@example.com"), "");
        CHECK_STREQ(look(d, ""), "");
        for (rc = dict_sequence(d, true, &k, &v, &why); rc == DICT_FOUND;
             rc = dict_sequence(d, false, &k, &v, &why))
            n++;
        CHECK_INTEQ(rc, DICT_NOTFOUND);
        CHECK_INTEQ(n, 3);
        CHECK(dict_update(d, "x", "y", &why) == DICT_ERROR); /* opened read-only */
        dict_close(&d);

        /* Without folding, the upper-case key stays as written. */
        CHECK_INTEQ(build(type, tpath(name), source_text, 0), 0);
        d = open_ok(type, tpath(name), 0);
        CHECK(d != NULL);
        if (d != NULL) {
            CHECK_STREQ(look(d, "bob@example.com"), "");
            CHECK_STREQ(look(d, "Bob@Example.COM"), "bob,    robert");
            dict_close(&d);
        }
        snprintf(name, sizeof(name), "built_%s.", type);
        CHECK_INTEQ(count_files(name), 1); /* no temporary file left */
    }
}

/* Update, duplicate handling and delete in place (hash, btree, lmdb). */
static void test_update_delete(void)
{
    for (int i = 0; file_types[i] != NULL; i++) {
        const char *type = file_types[i];
        char name[64];
        struct dict *d;
        const char *why;

        if (strcmp(type, "cdb") == 0)
            continue;
        snprintf(name, sizeof(name), "upd_%s", type);
        CHECK_INTEQ(build(type, tpath(name), "a 1\nb 2\n", DICT_FLAG_FOLD_KEYS), 0);
        d = open_ok(type, tpath(name), DICT_FLAG_WRITE | DICT_FLAG_FOLD_KEYS);
        if (d == NULL) {
            CHECK(0);
            continue;
        }
        CHECK_INTEQ(dict_update(d, "C", "3", &why), 0);
        CHECK_INTEQ(dict_update(d, "a", "changed", &why), 1); /* kept the first */
        CHECK_INTEQ(dict_delete(d, "B", &why), DICT_FOUND);
        CHECK_INTEQ(dict_delete(d, "b", &why), DICT_NOTFOUND);
        CHECK_INTEQ(dict_commit(d, &why), 0);
        dict_close(&d);

        d = open_ok(type, tpath(name), DICT_FLAG_WRITE | DICT_FLAG_DUP_REPLACE);
        CHECK(d != NULL);
        if (d != NULL) {
            CHECK_INTEQ(dict_update(d, "a", "replaced", &why), 0);
            dict_close(&d);
        }
        d = open_ok(type, tpath(name), DICT_FLAG_FOLD_KEYS);
        CHECK(d != NULL);
        if (d != NULL) {
            CHECK_STREQ(look(d, "a"), "replaced");
            CHECK_STREQ(look(d, "b"), "");
            CHECK_STREQ(look(d, "c"), "3");
            dict_close(&d);
        }
        /* DICT_FLAG_WRITE creates a missing table. */
        snprintf(name, sizeof(name), "new_%s", type);
        d = open_ok(type, tpath(name), DICT_FLAG_WRITE);
        CHECK(d != NULL);
        if (d != NULL) {
            CHECK_INTEQ(dict_update(d, "k", "v", &why), 0);
            CHECK_STREQ(look(d, "k"), "v");
            dict_close(&d);
        }
    }
#ifdef HAVE_CDB
    {
        const char *why;

        CHECK(dict_open("cdb:/nonexistent/x", DICT_FLAG_WRITE, &why) == NULL);
        CHECK(strstr(why, "cannot be updated") != NULL);
    }
#endif
}

/* A missing or corrupt table is DICT_ERROR with a reason, never "not found". */
static void test_missing_and_corrupt(void)
{
    static const char *const text_types[] = {"texthash", "cidr", "regexp", "pcre", NULL};
    char spec[600];
    const char *why;

    for (int i = 0; file_types[i] != NULL; i++) {
        snprintf(spec, sizeof(spec), "%s:%s", file_types[i], tpath("missing"));
        why = NULL;
        CHECK(dict_open(spec, DICT_FLAG_FOLD_KEYS, &why) == NULL);
        CHECK(why != NULL && strstr(why, "No such file") != NULL);
        CHECK(why != NULL && strstr(why, "missing") != NULL);
    }
    for (int i = 0; text_types[i] != NULL; i++) {
        snprintf(spec, sizeof(spec), "%s:%s", text_types[i], tpath("missing"));
        if (!dict_type_known(text_types[i]))
            continue;
        why = NULL;
        CHECK(dict_open(spec, 0, &why) == NULL);
        CHECK(why != NULL && strstr(why, "No such file") != NULL);
    }
    /* A FIFO or a directory is not a table source (and must not block the open). */
    CHECK(mkfifo(tpath("fifo"), 0600) == 0);
    snprintf(spec, sizeof(spec), "texthash:%s", tpath("fifo"));
    CHECK(dict_open(spec, 0, &why) == NULL);
    CHECK(strstr(why, "not a regular file") != NULL);
    snprintf(spec, sizeof(spec), "cidr:%s", tmpdir);
    CHECK(dict_open(spec, 0, &why) == NULL);
    CHECK(strstr(why, "not a regular file") != NULL);
    /* Garbage where a database should be. */
    write_file(tpath("corrupt.db"), "this is not a Berkeley DB file at all\n");
    write_file(tpath("corrupt.lmdb"), "this is not an LMDB file, not even close, no.\n");
    write_file(tpath("corrupt.cdb"), "short\n");
    for (int i = 0; file_types[i] != NULL; i++) {
        snprintf(spec, sizeof(spec), "%s:%s", file_types[i], tpath("corrupt"));
        why = NULL;
        CHECK(dict_open(spec, 0, &why) == NULL);
        CHECK(why != NULL && strstr(why, "corrupt") != NULL);
    }
    /* An empty file where an LMDB table should be. */
    write_file(tpath("empty.lmdb"), "");
#ifdef HAVE_LMDB
    CHECK(dict_open("lmdb:/nonexistent-dir/x", 0, &why) == NULL);
    snprintf(spec, sizeof(spec), "lmdb:%s", tpath("empty"));
    CHECK(dict_open(spec, 0, &why) == NULL);
#endif
#ifdef HAVE_BDB
    /* A hash file opened as btree is an error too. */
    CHECK_INTEQ(build("hash", tpath("ashash"), "a b\n", 0), 0);
    snprintf(spec, sizeof(spec), "btree:%s", tpath("ashash"));
    CHECK(dict_open(spec, 0, &why) == NULL);
#endif
}

/* Unknown types and malformed specs. */
static void test_bad_specs(void)
{
    static const struct {
        const char *spec;
        const char *why_part;
    } cases[] = {
        {"nosuchtype:/etc/x", "unsupported table type \"nosuchtype\""},
        {"/etc/x", "type:name"},
        {":x", "type:name"},
        {"hash:", "empty"},
        {"cidr:x", "No such file"},
        {"inline:a=b", "expected inline:{"},
        {"inline:{a}", "expected \"key=value\""},
        {"inline:{ {a=b }", "missing '}'"},
        {"static:{abc", "missing '}'"},
    };
    const char *why;
    struct dict *d;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        why = NULL;
        d = dict_open(cases[i].spec, 0, &why);
        CHECK(d == NULL);
        if (why == NULL || strstr(why, cases[i].why_part) == NULL)
            fprintf(stderr, "  spec %s: why=%s\n", cases[i].spec, why ? why : "(null)");
        CHECK(why != NULL && strstr(why, cases[i].why_part) != NULL);
        dict_close(&d);
    }
    CHECK(!dict_type_known("nosuchtype"));
    CHECK(dict_type_known("static"));
    CHECK(dict_type_buildable("cdb") == dict_type_known("cdb"));
    CHECK(!dict_type_buildable("cidr"));
    CHECK(dict_open("cidr:/x", DICT_FLAG_CREATE, &why) == NULL);
    CHECK(strstr(why, "cannot be built") != NULL);
}

/* static: and inline: */
static void test_static_inline(void)
{
    const char *why, *k, *v;
    struct dict *d;
    int n = 0;

    d = dict_open("static:{ value with spaces }", 0, &why);
    CHECK(d != NULL);
    CHECK_STREQ(look(d, "anything"), "value with spaces");
    dict_close(&d);
    d = dict_open("static:OK", 0, &why);
    CHECK_STREQ(look(d, "x"), "OK");
    dict_close(&d);

    d = dict_open("inline:{ Key1=value1, { key2 = value with, comma }, k3=v3,k4=}", 
                  DICT_FLAG_FOLD_KEYS, &why);
    CHECK(d != NULL);
    if (d == NULL) {
        fprintf(stderr, "  %s\n", why);
        return;
    }
    CHECK_STREQ(look(d, "key1"), "value1");
    CHECK_STREQ(look(d, "KEY1"), "value1");
    CHECK_STREQ(look(d, "key2"), "value with, comma");
    CHECK_STREQ(look(d, "k3"), "v3");
    CHECK_STREQ(look(d, "k4"), "");
    CHECK_STREQ(look(d, "k5"), "");
    for (int rc = dict_sequence(d, true, &k, &v, &why); rc == DICT_FOUND;
         rc = dict_sequence(d, false, &k, &v, &why))
        n++;
    CHECK_INTEQ(n, 4);
    dict_close(&d);
    /* Nested braces inside a braced item are kept in the value. */
    d = dict_open("inline:{{a = {x}}}", 0, &why);
    CHECK(d != NULL);
    if (d != NULL) {
        CHECK_STREQ(look(d, "a"), "{x}");
        dict_close(&d);
    }
}

/* texthash: folding, continuation, duplicates warned with file and line. */
static void test_texthash(void)
{
    struct dict *d;

    write_file(tpath("th"), "A 1\nb 2\n  more\na 3\nbad\n");
    buf_reset(warnings);
    d = open_ok("texthash", tpath("th"), DICT_FLAG_FOLD_KEYS);
    CHECK(d != NULL);
    if (d == NULL)
        return;
    CHECK_STREQ(look(d, "a"), "1");
    CHECK_STREQ(look(d, "B"), "2  more");
    CHECK(strstr(buf_str(warnings), "th, line 4: duplicate entry") != NULL);
    CHECK(strstr(buf_str(warnings), "th, line 5: expected format: key whitespace value") != NULL);
    dict_close(&d);
}

/* cidr: first match wins, IPv4 and IPv6, bare addresses, bad rules with file and line. */
static void test_cidr(void)
{
    static const char text[] = "192.168.1.1        one\n"
                               "192.168.1.0/24     net24\n"
                               "192.168.0.0/16     net16\n"
                               "10.0.0.1/8         hostbits\n"
                               "10.0.0.0/33        badprefix\n"
                               "bogus              bad\n"
                               "2001:db8::/32      v6net\n"
                               "[2001:db8:1::1]    never, the /32 above wins\n"
                               "::1                v6lo\n"
                               "if 127.0.0.0/8\n"
                               "0.0.0.0/0          inside-lo\n"
                               "endif\n"
                               "172.16.0.0/12      private-172\n"
                               "!172.16.0.0/12     not-private-172\n";
    static const struct {
        const char *key, *want;
    } cases[] = {
        {"192.168.1.1", "one"},
        {"192.168.1.2", "net24"},
        {"192.168.2.2", "net16"},
        {"10.0.0.1", "not-private-172"},
        {"2001:db8:1::1", "v6net"},
        {"2001:DB8:1:0::1", "v6net"},
        {"::1", "v6lo"},
        {"127.0.0.1", "inside-lo"},
        {"172.16.5.5", "private-172"},
        {"not-an-address", ""},
        {"1.2.3.4.5", ""},
        {"2001:db9::1", "not-private-172"},
    };
    struct dict *d;

    write_file(tpath("cidr"), text);
    buf_reset(warnings);
    d = open_ok("cidr", tpath("cidr"), 0);
    CHECK(d != NULL);
    if (d == NULL)
        return;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = look(d, cases[i].key);

        if (strcmp(got, cases[i].want) != 0)
            fprintf(stderr, "  cidr %s: got \"%s\" want \"%s\"\n", cases[i].key, got,
                    cases[i].want);
        CHECK_STREQ(got, cases[i].want);
    }
    CHECK(strstr(buf_str(warnings), "cidr, line 4: non-null host address bits") != NULL);
    CHECK(strstr(buf_str(warnings), "cidr, line 5: network prefix must be 0..32") != NULL);
    CHECK(strstr(buf_str(warnings), "cidr, line 6: bad IPv4 network address") != NULL);
    dict_close(&d);
}

/* regexp: and pcre: captures, negation, flags, if/endif, bad rules. */
static void test_regexp(void)
{
    static const char text[] = "/^(.*)@(example\\.com)$/    user=$1 domain=${2} cost=$$5\n"
                               "/^CaseSensitive$/i          exact\n"
                               "!/\\./                      no-dot\n"
                               "if /^if-/\n"
                               "/^if-(yes)/                 inside $1\n"
                               "endif\n"
                               "/^if-no/                    outside\n"
                               "#/commented/                no\n"
                               "/(unclosed/                 bad\n"
                               "/^x(y)$/                    $2\n"
                               "!/neg(x)/                   $1\n"
                               "/^multi/                    line one\n"
                               "    continued\n"
                               "|pipe|                      pipe-delimited\n"
                               "/^q(.)/z                    unknown flag\n";
    static const struct {
        const char *key, *want;
    } cases[] = {
        {"Joe@Example.com", "user=Joe domain=Example.com cost=$5"},
        {"CaseSensitive", "exact"},
        {"casesensitive", "no-dot"},
        {"if-yes.x", "inside yes"},
        {"if-no.x", "outside"},
        {"multi.x", "line one    continued"},
        {"a.pipe", "pipe-delimited"},
        {"xy", "no-dot"},
        {"a.b", ""},
    };
    static const char *const types[] = {"regexp", "pcre", NULL};

    write_file(tpath("re"), text);
    for (int t = 0; types[t] != NULL; t++) {
        struct dict *d;

        if (!dict_type_known(types[t]))
            continue;
        buf_reset(warnings);
        d = open_ok(types[t], tpath("re"), DICT_FLAG_FOLD_KEYS);
        CHECK(d != NULL);
        if (d == NULL)
            continue;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const char *got = look(d, cases[i].key);

            if (strcmp(got, cases[i].want) != 0)
                fprintf(stderr, "  %s %s: got \"%s\" want \"%s\"\n", types[t], cases[i].key,
                        got, cases[i].want);
            CHECK_STREQ(got, cases[i].want);
        }
        CHECK(strstr(buf_str(warnings), "re, line 9: pattern error") != NULL);
        CHECK(strstr(buf_str(warnings), "re, line 10: $number out of range") != NULL);
        CHECK(strstr(buf_str(warnings), "re, line 11: $number in the result of a negated")
              != NULL);
        CHECK(strstr(buf_str(warnings), "re, line 15: unknown pattern flag") != NULL);
        dict_close(&d);
    }
    /* regexp: "/a/!/b/" and pcre-only flags. */
    write_file(tpath("re2"), "/^a/!/b/  a-not-b\n/^s.x/s dotall\n");
    {
        struct dict *d = open_ok("regexp", tpath("re2"), 0);

        if (d != NULL) {
            CHECK_STREQ(look(d, "ax"), "a-not-b");
            CHECK_STREQ(look(d, "ab"), "");
            dict_close(&d);
        }
        d = open_ok("pcre", tpath("re2"), 0);
        if (d != NULL) {
            CHECK_STREQ(look(d, "s\nx"), "dotall");
            dict_close(&d);
        }
    }
}

/* dict_changed() and dict_reopen_if_changed() after a rebuild by rename. */
static void test_changed_reopen(void)
{
    static const char *const types[] = {"hash", "lmdb", "cdb", "texthash", "cidr", "pcre", NULL};

    for (int i = 0; types[i] != NULL; i++) {
        const char *type = types[i];
        char name[64], spec[600];
        struct dict *d;
        const char *why;
        bool text = dict_type_buildable(type) == false;

        if (!dict_type_known(type))
            continue;
        snprintf(name, sizeof(name), "chg_%s", type);
        if (strcmp(type, "cidr") == 0 || strcmp(type, "pcre") == 0) {
            write_file(tpath(name), strcmp(type, "cidr") == 0 ? "10.0.0.1 old\n" : "/^10/ old\n");
        } else if (text) {
            write_file(tpath(name), "10.0.0.1 old\n");
        } else {
            CHECK_INTEQ(build(type, tpath(name), "10.0.0.1 old\n", 0), 0);
        }
        d = open_ok(type, tpath(name), 0);
        if (d == NULL) {
            CHECK(0);
            continue;
        }
        CHECK(!dict_changed(d));
        CHECK_INTEQ(dict_reopen_if_changed(d, &why), 0);
        CHECK_STREQ(look(d, "10.0.0.1"), "old");
        /* Replace the file by rename, as postmap (or an editor) does. */
        if (text) {
            char tmp[600];

            snprintf(tmp, sizeof(tmp), "%s.new", tpath(name));
            write_file(tmp, strcmp(type, "pcre") == 0 ? "/^10/ new\n" : "10.0.0.1 new\n");
            CHECK(rename(tmp, tpath(name)) == 0);
        } else {
            CHECK_INTEQ(build(type, tpath(name), "10.0.0.1 new\n", 0), 0);
        }
        CHECK(dict_changed(d));
        CHECK_STREQ(look(d, "10.0.0.1"), "old"); /* the old data until reopened */
        CHECK_INTEQ(dict_reopen_if_changed(d, &why), 0);
        CHECK(!dict_changed(d));
        CHECK_STREQ(look(d, "10.0.0.1"), "new");
        snprintf(spec, sizeof(spec), "%s:%s", type, tpath(name));
        CHECK_STREQ(dict_spec(d), spec);
        /* A replacement that cannot be opened leaves the old table in use. */
        if (!text) {
            const char *file = dict_file(d);
            char tmp[600];

            snprintf(tmp, sizeof(tmp), "%s.bad", file);
            write_file(tmp, "garbage garbage garbage\n");
            CHECK(rename(tmp, file) == 0);
            CHECK(dict_changed(d));
            CHECK_INTEQ(dict_reopen_if_changed(d, &why), DICT_ERROR);
            CHECK(strstr(why, "corrupt") != NULL);
            CHECK_STREQ(look(d, "10.0.0.1"), "new");
        } else {
            CHECK(unlink(tpath(name)) == 0);
            CHECK(dict_changed(d));
            CHECK_INTEQ(dict_reopen_if_changed(d, &why), DICT_ERROR);
            CHECK_STREQ(look(d, "10.0.0.1"), "new");
        }
        dict_close(&d);
    }
}

/* Keys and values are bounded. */
static void test_bounds(void)
{
    char *big = mem_alloc(DICT_VALUE_MAX + 2);
    struct dict *d;
    const char *why, *v;

    memset(big, 'a', DICT_VALUE_MAX + 1);
    d = dict_open("static:x", 0, &why);
    CHECK_INTEQ(dict_lookup(d, big, &v, &why), DICT_ERROR);
    CHECK(strstr(why, "too long") != NULL);
    dict_close(&d);
#ifdef HAVE_BDB
    {
        char spec[600];

        snprintf(spec, sizeof(spec), "hash:%s", tpath("bounds"));
        d = dict_open(spec, DICT_FLAG_WRITE, &why);
        CHECK(d != NULL);
        CHECK_INTEQ(dict_update(d, "k", big, &why), DICT_ERROR);
        CHECK(strstr(why, "value too long") != NULL);
        big[DICT_KEY_MAX + 1] = '\0';
        CHECK_INTEQ(dict_update(d, big, "v", &why), DICT_ERROR);
        CHECK_INTEQ(dict_update(d, "", "v", &why), DICT_ERROR);
        dict_close(&d);
    }
#endif
    mem_free(big);
}

/* An abandoned build leaves nothing behind and does not touch the old table. */
static void test_abandoned_build(void)
{
    for (int i = 0; file_types[i] != NULL; i++) {
        char name[64], spec[600];
        struct dict *d;
        const char *why;

        snprintf(name, sizeof(name), "aband_%s", file_types[i]);
        CHECK_INTEQ(build(file_types[i], tpath(name), "k old\n", 0), 0);
        snprintf(spec, sizeof(spec), "%s:%s", file_types[i], tpath(name));
        d = dict_open(spec, DICT_FLAG_CREATE, &why);
        CHECK(d != NULL);
        if (d == NULL)
            continue;
        CHECK_INTEQ(dict_update(d, "k", "new", &why), 0);
        dict_close(&d);
        snprintf(name, sizeof(name), "aband_%s.", file_types[i]);
        CHECK_INTEQ(count_files(name), 1);
        d = dict_open(spec, 0, &why);
        CHECK_STREQ(look(d, "k"), "old");
        dict_close(&d);
    }
}

#ifdef HAVE_LMDB
/* An lmdb build bigger than the initial map grows it. */
static void test_lmdb_growth(void)
{
    char spec[600], key[32];
    char *value = mem_alloc(2001);
    struct dict *d, *reader;
    const char *why;
    int n = 12000;

    memset(value, 'v', 2000);
    snprintf(spec, sizeof(spec), "lmdb:%s", tpath("big"));
    d = dict_open(spec, DICT_FLAG_CREATE, &why);
    CHECK(d != NULL);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        if (dict_update(d, key, value, &why) != 0) {
            fprintf(stderr, "  update %d: %s\n", i, why);
            CHECK(0);
            break;
        }
    }
    CHECK_INTEQ(dict_commit(d, &why), 0);
    dict_close(&d);
    d = dict_open(spec, 0, &why);
    CHECK(d != NULL);
    if (d != NULL) {
        CHECK_INTEQ(strlen(look(d, "key0")), 2000);
        CHECK_INTEQ(strlen(look(d, "key11999")), 2000);
        dict_close(&d);
    }
    /* Growth in place, one write transaction per update, while a reader has it open. */
    reader = dict_open(spec, 0, &why);
    CHECK(reader != NULL);
    d = dict_open(spec, DICT_FLAG_WRITE, &why);
    for (int i = n; i < n + 4000 && d != NULL; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        if (dict_update(d, key, value, &why) != 0) {
            fprintf(stderr, "  update %d: %s\n", i, why);
            CHECK(0);
            break;
        }
    }
    CHECK(!dict_changed(d)); /* its own updates do not count for a writer */
    dict_close(&d);
    if (reader != NULL) {
        CHECK_INTEQ(strlen(look(reader, "key15999")), 2000);
        CHECK_INTEQ(strlen(look(reader, "key1")), 2000);
        CHECK(dict_changed(reader));
        dict_close(&reader);
    }
    mem_free(value);
}
#endif

/* The line reader: same logical lines whole and byte-at-a-time. */
static void test_lines(void)
{
    static const struct {
        const char *input;
        const char *want; /* "lineno:text|" ..., or "lineno!|" for a bad line */
    } cases[] = {
        {"", ""},
        {"a b\n", "1:a b|"},
        {"a b", "1:a b|"},
        {"a b\r\nc d\r\n", "1:a b|2:c d|"},
        {"# c\n\na 1\n  2\n# mid\n\t3\nb 4\n", "3:a 1  2\t3|7:b 4|"},
        {"  lead\na 1\n", "1!|2:a 1|"},
        {"  # c\na 1\n", "2:a 1|"},
        {"a 1\n   \n  x\n", "1:a 1  x|"},
        {"toolongline\nok 1\n  tooooooolong\nz 1\n", "1!|2!|4:z 1|"},
        {"ok 1\n  2345678\nz 1\n", "1!|3:z 1|"},
        {"n\0ul 1\nok 2\n", "1!|2:ok 2|"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* The last case has a NUL byte inside: its length is given by hand. */
        size_t len = i == sizeof(cases) / sizeof(cases[0]) - 1 ? 12 : strlen(cases[i].input);

        for (int mode = 0; mode < 2; mode++) {
            struct dict_lines *l = dict_lines_create();
            struct buf *got = buf_create(64);
            const char *line, *why;
            int lineno, rc;

            dict_lines_set_max(l, 10);
            if (mode == 0) {
                dict_lines_feed(l, cases[i].input, len);
            } else {
                for (size_t j = 0; j < len; j++) {
                    dict_lines_feed(l, cases[i].input + j, 1);
                    while ((rc = dict_lines_next(l, &line, &lineno, &why)) != 0) {
                        if (rc > 0)
                            buf_printf(got, "%d:%s|", lineno, line);
                        else
                            buf_printf(got, "%d!|", lineno);
                    }
                }
            }
            dict_lines_end(l);
            while ((rc = dict_lines_next(l, &line, &lineno, &why)) != 0) {
                if (rc > 0)
                    buf_printf(got, "%d:%s|", lineno, line);
                else
                    buf_printf(got, "%d!|", lineno);
            }
            if (strcmp(buf_str(got), cases[i].want) != 0)
                fprintf(stderr, "  lines case %zu mode %d: got \"%s\"\n", i, mode, buf_str(got));
            CHECK_STREQ(buf_str(got), cases[i].want);
            buf_free(&got);
            dict_lines_free(&l);
        }
    }
}

/* Splitting "key whitespace value". */
static void test_split(void)
{
    static const struct {
        const char *line, *key, *value;
    } cases[] = {
        {"a b", "a", "b"},
        {"a \t b c  ", "a", "b c"},
        {"\"a b\"@x v", "\"a b\"@x", "v"},
        {"a\\ b v", "a\\ b", "v"},
        {"keyonly", NULL, NULL},
        {"key   ", NULL, NULL},
        {"\"unbalanced v", NULL, NULL},
    };
    struct buf *k = buf_create(8), *v = buf_create(8);
    const char *why;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = dict_split_key_value(cases[i].line, k, v, &why);

        if (cases[i].key == NULL) {
            CHECK_INTEQ(rc, -1);
        } else {
            CHECK_INTEQ(rc, 0);
            CHECK_STREQ(buf_str(k), cases[i].key);
            CHECK_STREQ(buf_str(v), cases[i].value);
        }
    }
    buf_free(&k);
    buf_free(&v);
}

/* Remove the test directory. */
static void cleanup(void)
{
    DIR *dir = opendir(tmpdir);
    struct dirent *e;

    if (dir == NULL)
        return;
    while ((e = readdir(dir)) != NULL)
        if (e->d_name[0] != '.')
            unlink(tpath(e->d_name));
    closedir(dir);
    rmdir(tmpdir);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    int rc;

    snprintf(tmpdir, sizeof(tmpdir), "%s/test_dict.XXXXXX", base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    msg_init("test_dict", 0);
    warnings = buf_create(256);
    msg_set_hook(capture);

    TEST_RUN(test_built_types);
    TEST_RUN(test_update_delete);
    TEST_RUN(test_missing_and_corrupt);
    TEST_RUN(test_bad_specs);
    TEST_RUN(test_static_inline);
    TEST_RUN(test_texthash);
    TEST_RUN(test_cidr);
    TEST_RUN(test_regexp);
    TEST_RUN(test_changed_reopen);
    TEST_RUN(test_bounds);
    TEST_RUN(test_abandoned_build);
#ifdef HAVE_LMDB
    TEST_RUN(test_lmdb_growth);
#endif
    TEST_RUN(test_lines);
    TEST_RUN(test_split);

    rc = test_summary();
    cleanup();
    buf_free(&warnings);
    return rc;
}
