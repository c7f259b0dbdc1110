/* Unit tests for lib/proto/addrlist: RFC 5322 address lists. */
#include "config.h"

#include <string.h>

#include "lib/proto/addrlist.h"
#include "lib/util/buf.h"
#include "tests/unit/test.h"

/* Render a list as "addr{display}[group]" entries separated by " | ". */
static const char *render(const struct addr_list *l, const char *in)
{
    static char out[4096];
    struct buf *b = buf_create(0);

    for (size_t i = 0; i < l->count; i++) {
        const struct addr_entry *e = &l->v[i];
        if (i)
            buf_puts(b, " | ");
        buf_puts(b, e->addr);
        if (e->display)
            buf_printf(b, "{%s}", e->display);
        if (e->group)
            buf_printf(b, "[%s]", e->group);
        /* the span must cover the address as written */
        if (e->start + e->len > strlen(in))
            buf_puts(b, "(bad span)");
    }
    snprintf(out, sizeof(out), "%s", buf_str(b));
    buf_free(&b);
    return out;
}

static void test_parse(void)
{
    static const struct {
        const char *in;
        int ret;
        const char *out;
    } t[] = {
        {"user@example.com", 0, "user@example.com"},
        {"  user@example.com  ", 0, "user@example.com"},
        {"John Doe <jdoe@example.com>", 0, "jdoe@example.com{John Doe}"},
        {"\"Doe, John\" <jdoe@example.com>", 0, "jdoe@example.com{Doe, John}"},
        {"\"Joe Q. Public\" <john.q.public@example.com>", 0,
         "john.q.public@example.com{Joe Q. Public}"},
        {"Joe Q. Public <jqp@example.com>", 0, "jqp@example.com{Joe Q. Public}"},
        {"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>", 0,
         "mary@x.test{Mary Smith} | jdoe@example.org | one@y.test{Who?}"},
        {"<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>", 0,
         "boss@nil.test | sysservices@example.net{Giant; \"Big\" Box}"},
        {"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;", 0,
         "c@a.test{Ed Jones}[A Group] | joe@where.test[A Group] | jdoe@one.test{John}[A Group]"},
        {"Undisclosed recipients:;", 0, ""},
        {"undisclosed-recipients:;, a@b.c", 0, "a@b.c"},
        {"g1: a@b.c;, d@e.f, g2: h@i.j;", 0, "a@b.c[g1] | d@e.f | h@i.j[g2]"},
        {"g: a@b.c", 0, "a@b.c[g]"}, /* missing ";" at the end */
        {"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", 0,
         "pete@silly.test{Pete}"},
        {"jdoe@example.org (John Doe)", 0, "jdoe@example.org{John Doe}"},
        {"(Comment (nested)) jdoe@example.org", 0, "jdoe@example.org"},
        {"\"john doe\"@example.com", 0, "\"john doe\"@example.com"},
        {"\"john\"@example.com", 0, "john@example.com"},
        {"\"a\\\"b\"@x.test", 0, "\"a\\\"b\"@x.test"},
        {"john . doe @ example . com", 0, "john.doe@example.com"},
        {"john..doe@example.com", 0, "\"john..doe\"@example.com"},
        {"user@[192.0.2.1]", 0, "user@[192.0.2.1]"},
        {"user@[IPv6:2001:db8::1]", 0, "user@[IPv6:2001:db8::1]"},
        {"<@route.test,@two.test:user@example.com>", 0, "user@example.com"},
        {"Name <@route.test:user@example.com>", 0, "user@example.com{Name}"},
        {"user", 0, "user"},
        {"user, other", 0, "user | other"},
        {"<user>", 0, "user"},
        {"<>", 0, ""},
        {"Mailer Daemon <>", 0, "{Mailer Daemon}"},
        {",,a@b.c,,", 0, "a@b.c"},
        {"", 0, ""},
        {"   ", 0, ""},
        {"a@b.c,\n\tc@d.e", 0, "a@b.c | c@d.e"},
        {"=?UTF-8?Q?J=C3=B6rg?= <j@x.test>", 0, "j@x.test{=?UTF-8?Q?J=C3=B6rg?=}"},
        {"J\xc3\xb6rg <j\xc3\xb6rg@b\xc3\xbc" "cher.test>", 0,
         "j\xc3\xb6rg@b\xc3\xbc" "cher.test{J\xc3\xb6rg}"},
        {"\"\"@x.test", 0, "\"\"@x.test"},
        /* errors; good entries are kept */
        {"a@b.c, <broken@x.test, d@e.f", -1, "a@b.c | d@e.f"},
        {"a@b.c, John Smith, d@e.f", -1, "a@b.c | d@e.f"},
        {"\"unterminated@x.test", -1, ""},
        {"(unterminated comment a@b.c", -1, ""},
        {"a@[1.2.3.4", -1, ""},
        {"a@, b@c.d", -1, "b@c.d"},
        {"a@b., c@d.e", -1, "c@d.e"},
        {"@b.c, x@y.z", -1, "x@y.z"},
        {"a@b.c d@e.f", -1, ""}, /* a malformed element yields nothing */
        {"g: h: a@b.c;;", -1, ""},
        {"Name <a@b.c> junk, x@y.z", -1, "x@y.z"},
        {"a\x01@b.c", -1, ""},
        {"<a@b.c", -1, ""},
        {"a@b@c", -1, ""},
        {"John <a@b.c>>", -1, ""},
        {"@", -1, ""},
        {">", -1, ""},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct addr_list *l = addr_list_create();
        const char *why = NULL;
        int ret = addr_list_parse(l, t[i].in, strlen(t[i].in), 0, &why);
        const char *got = render(l, t[i].in);
        if (ret != t[i].ret || strcmp(got, t[i].out) != 0)
            fprintf(stderr, "  case %zu \"%s\": ret %d (%s) got \"%s\"\n", i, t[i].in, ret,
                    why ? why : "", got);
        CHECK_INTEQ(ret, t[i].ret);
        CHECK_STREQ(got, t[i].out);
        if (ret < 0)
            CHECK(why != NULL);
        addr_list_free(&l);
        CHECK(l == NULL);
    }
}

static void test_fields(void)
{
    const char *in = "Joe <\"joe q\"@[10.0.0.1]>, bob";
    struct addr_list *l = addr_list_create();

    CHECK_INTEQ(addr_list_parse(l, in, strlen(in), 0, NULL), 0);
    CHECK_INTEQ(l->count, 2);
    CHECK_STREQ(l->v[0].local, "joe q");
    CHECK_STREQ(l->v[0].domain, "[10.0.0.1]");
    CHECK_STREQ(l->v[0].addr, "\"joe q\"@[10.0.0.1]");
    CHECK_STREQ(l->v[0].display, "Joe");
    /* the span is the addr-spec as written, for rewriting in place */
    CHECK_INTEQ(l->v[0].len, strlen("\"joe q\"@[10.0.0.1]"));
    CHECK(memcmp(in + l->v[0].start, "\"joe q\"@[10.0.0.1]", l->v[0].len) == 0);
    CHECK_STREQ(l->v[1].local, "bob");
    CHECK(l->v[1].domain == NULL);
    CHECK(memcmp(in + l->v[1].start, "bob", 3) == 0 && l->v[1].len == 3);
    /* <> spans the brackets */
    addr_list_free(&l);
    l = addr_list_create();
    CHECK_INTEQ(addr_list_parse(l, "x <>", 4, 0, NULL), 0);
    CHECK_INTEQ(l->v[0].start, 2);
    CHECK_INTEQ(l->v[0].len, 2);
    addr_list_free(&l);
}

static void test_limit(void)
{
    struct addr_list *l = addr_list_create();
    struct buf *b = buf_create(0);
    const char *why = NULL;

    for (int i = 0; i < 20; i++)
        buf_printf(b, "u%d@x.test, ", i);
    CHECK_INTEQ(addr_list_parse(l, buf_str(b), buf_len(b), 10, &why), -1);
    CHECK_STREQ(why, "too many addresses");
    CHECK_INTEQ(l->count, 10);
    addr_list_free(&l);
    /* appending to a list continues the count */
    l = addr_list_create();
    CHECK_INTEQ(addr_list_parse(l, "a@b.c", 5, 0, NULL), 0);
    CHECK_INTEQ(addr_list_parse(l, "d@e.f", 5, 0, NULL), 0);
    CHECK_INTEQ(l->count, 2);
    addr_list_free(&l);
    buf_free(&b);
}

int main(void)
{
    TEST_RUN(test_parse);
    TEST_RUN(test_fields);
    TEST_RUN(test_limit);
    return test_summary();
}
