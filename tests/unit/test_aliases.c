/*
 * Unit tests for lib/dict/alias_parse: every syntax form of aliases(5),
 * errors with line numbers, the stored form round trip, and the same
 * results when the file is fed whole or one byte at a time.
 */
#include "config.h"

#include "lib/dict/alias_parse.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "tests/unit/test.h"

/* Parse one line into "name=v1|v2|..." or "ERR:why". */
static const char *parse(const char *line)
{
    static char out[1024];
    char *name;
    struct argv *values;
    const char *why;

    if (alias_parse_line(line, &name, &values, &why) < 0) {
        snprintf(out, sizeof(out), "ERR:%s", why);
        return out;
    }
    struct buf *b = buf_create(64);

    buf_printf(b, "%s=", name);
    for (size_t i = 0; i < values->argc; i++)
        buf_printf(b, "%s%s", i ? "|" : "", values->argv[i]);
    snprintf(out, sizeof(out), "%s", buf_str(b));
    buf_free(&b);
    mem_free(name);
    argv_free(&values);
    return out;
}

/* Every syntax form of a line. */
static void test_lines(void)
{
    static const struct {
        const char *line, *want;
    } cases[] = {
        {"root: admin", "root=admin"},
        {"postmaster: root", "postmaster=root"},
        {"owner-list: joe", "owner-list=joe"},
        {"team: a, b@example.com,c", "team=a|b@example.com|c"},
        {"team :a,,b,", "team=a|b"},
        {"Root: Admin", "Root=Admin"},
        {"prog: |/usr/bin/prog", "prog=|/usr/bin/prog"},
        {"prog: \"|/usr/bin/prog -a x, y\"", "prog=|/usr/bin/prog -a x, y"},
        {"prog: |\"/usr/bin/prog -a\"", "prog=|/usr/bin/prog -a"},
        {"prog: |/usr/bin/prog -a", "prog=|/usr/bin/prog -a"},
        {"file: /var/log/mail.archive", "file=/var/log/mail.archive"},
        {"list: :include:/etc/mail/list.txt", "list=:include:/etc/mail/list.txt"},
        {"list: :INCLUDE: /etc/mail/list.txt", "list=:include:/etc/mail/list.txt"},
        {"\"joe smith\": joe", "joe smith=joe"},
        {"\"a:b\": c", "a:b=c"},
        {"quoted: \"joe smith\"@example.com", "quoted=joe smith@example.com"},
        {"esc: a\\,b", "esc=a,b"},
        {"tab:\tx\t,\ty", "tab=x|y"},
        {"nocolon value", "ERR:expected format: name: value, value, ..."},
        {": value", "ERR:missing alias name before ':'"},
        {"\"\": value", "ERR:empty alias name"},
        {"name:", "ERR:missing alias value after ':'"},
        {"name: , ,", "ERR:missing alias value after ':'"},
        {"two words: x", "ERR:whitespace in alias name (put the name in double quotes)"},
        {"\"open: x", "ERR:unbalanced '\"' in alias name"},
        {"n: \"open", "ERR:unbalanced '\"' in value"},
        {"n: |", "ERR:empty |command"},
        {"n: :include:relative", "ERR::include: needs an absolute file name"},
        {"n: a, \"\"", "ERR:empty quoted value"},
        {"n: a\\", "ERR:backslash at the end of a value"},
        {"n: a b", "ERR:whitespace inside an address (missing comma?)"},
        {"n: /var/my file", "n=/var/my file"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = parse(cases[i].line);

        if (strcmp(got, cases[i].want) != 0)
            fprintf(stderr, "  line \"%s\": got \"%s\"\n", cases[i].line, got);
        CHECK_STREQ(got, cases[i].want);
    }
}

/* Value kinds. */
static void test_kinds(void)
{
    CHECK_INTEQ(alias_value_kind("joe"), ALIAS_ADDRESS);
    CHECK_INTEQ(alias_value_kind("joe@example.com"), ALIAS_ADDRESS);
    CHECK_INTEQ(alias_value_kind("|cmd"), ALIAS_COMMAND);
    CHECK_INTEQ(alias_value_kind("/var/x"), ALIAS_FILE);
    CHECK_INTEQ(alias_value_kind(":include:/x"), ALIAS_INCLUDE);
    CHECK_INTEQ(alias_value_kind(":Include:/x"), ALIAS_INCLUDE);
}

/* The stored form splits back into the same values. */
static void test_join_split(void)
{
    static const char *const lists[][5] = {
        {"a", NULL},
        {"a", "b@example.com", NULL},
        {"|/usr/bin/prog -a x, y", "/var/file", ":include:/etc/list", NULL},
        {"say \"hi\"", "back\\slash", "joe smith@example.com", NULL},
    };
    static const char *const stored[] = {
        "a",
        "a, b@example.com",
        "\"|/usr/bin/prog -a x, y\", /var/file, :include:/etc/list",
        "\"say \\\"hi\\\"\", \"back\\\\slash\", \"joe smith@example.com\"",
    };

    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        struct argv *in = argv_create(4), *out = NULL;
        const char *why;
        char *text;

        for (int j = 0; lists[i][j] != NULL; j++)
            argv_add(in, lists[i][j]);
        text = alias_values_join(in);
        CHECK_STREQ(text, stored[i]);
        CHECK_INTEQ(alias_values_split(text, &out, &why), 0);
        if (out != NULL) {
            CHECK_INTEQ(out->argc, in->argc);
            for (size_t j = 0; j < in->argc && j < out->argc; j++)
                CHECK_STREQ(out->argv[j], in->argv[j]);
        }
        mem_free(text);
        argv_free(&in);
        argv_free(&out);
    }
}

static const char file_text[] = "# /etc/aliases\n"
                                "postmaster: root\n"
                                "root: admin,\n"
                                "      backup@example.com\n"
                                "\n"
                                "bad line\n"
                                "  # comment inside\n"
                                "list: :include:/etc/list,\n"
                                "\t\"|/usr/bin/archive -q\"\n"
                                "   \n"
                                "  orphan-continuation-after-blank\n"
                                "last: x";
static const char file_want[] = "2:postmaster=root\n"
                                "3:root=admin|backup@example.com\n"
                                "6:ERR:expected format: name: value, value, ...\n"
                                "8:list=:include:/etc/list||/usr/bin/archive -q "
                                "orphan-continuation-after-blank\n"
                                "12:last=x\n";

/* Drain parser entries into out. */
static void drain(struct alias_parser *p, struct buf *out)
{
    const char *name, *why;
    const struct argv *values;
    int lineno, rc;

    while ((rc = alias_parser_next(p, &name, &values, &lineno, &why)) != 0) {
        if (rc < 0) {
            buf_printf(out, "%d:ERR:%s\n", lineno, why);
            continue;
        }
        buf_printf(out, "%d:%s=", lineno, name);
        for (size_t i = 0; i < values->argc; i++)
            buf_printf(out, "%s%s", i ? "|" : "", values->argv[i]);
        buf_putc(out, '\n');
    }
}

/* A whole file, fed in one piece, one byte at a time, and in pieces of 7. */
static void test_incremental(void)
{
    static const size_t steps[] = {sizeof(file_text), 1, 7};

    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        struct alias_parser *p = alias_parser_create();
        struct buf *out = buf_create(256);
        size_t len = strlen(file_text);

        for (size_t i = 0; i < len; i += steps[s]) {
            size_t n = len - i < steps[s] ? len - i : steps[s];

            alias_parser_feed(p, file_text + i, n);
            drain(p, out);
        }
        alias_parser_end(p);
        drain(p, out);
        if (strcmp(buf_str(out), file_want) != 0)
            fprintf(stderr, "  step %zu: got:\n%s", steps[s], buf_str(out));
        CHECK_STREQ(buf_str(out), file_want);
        buf_free(&out);
        alias_parser_free(&p);
        CHECK(p == NULL);
    }
}

/* CRLF line ends and a continuation before any entry. */
static void test_crlf_and_orphans(void)
{
    struct alias_parser *p = alias_parser_create();
    struct buf *out = buf_create(64);
    static const char text[] = "  orphan\r\na: b\r\n c\r\n";

    alias_parser_feed(p, text, strlen(text));
    alias_parser_end(p);
    drain(p, out);
    CHECK_STREQ(buf_str(out), "1:ERR:continuation line (starting with whitespace) without a "
                              "preceding line\n2:ERR:whitespace inside an address (missing comma?)\n");
    buf_free(&out);
    alias_parser_free(&p);
}

/* Random bytes (with the characters that matter made common) never crash the parser. */
static void test_garbage(void)
{
    static const char alphabet[] = "ab:,\"\\ \t\n\r#|/@:include:\0x{}";
    unsigned int seed = 12345;

    for (int round = 0; round < 200; round++) {
        struct alias_parser *p = alias_parser_create();
        struct buf *out = buf_create(64);
        char text[512];
        size_t len = (size_t)(rand_r(&seed) % sizeof(text));

        for (size_t i = 0; i < len; i++)
            text[i] = (rand_r(&seed) % 4 == 0) ? (char)rand_r(&seed)
                                               : alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
        alias_parser_feed(p, text, len);
        alias_parser_end(p);
        for (;;) {
            const char *name, *why;
            const struct argv *values;
            struct argv *back = NULL;
            int lineno, rc = alias_parser_next(p, &name, &values, &lineno, &why);

            if (rc == 0)
                break;
            if (rc < 0)
                continue;
            /* Whatever was accepted survives the stored form unchanged. */
            char *stored = alias_values_join(values);

            CHECK_INTEQ(alias_values_split(stored, &back, &why), 0);
            if (back != NULL) {
                CHECK_INTEQ(back->argc, values->argc);
                for (size_t i = 0; i < back->argc && i < values->argc; i++)
                    CHECK_STREQ(back->argv[i], values->argv[i]);
            }
            argv_free(&back);
            mem_free(stored);
        }
        buf_free(&out);
        alias_parser_free(&p);
    }
    CHECK(1);
}

int main(void)
{
    TEST_RUN(test_lines);
    TEST_RUN(test_kinds);
    TEST_RUN(test_join_split);
    TEST_RUN(test_incremental);
    TEST_RUN(test_crlf_and_orphans);
    TEST_RUN(test_garbage);
    return test_summary();
}
