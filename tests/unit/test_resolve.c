/*
 * test_resolve - the address resolver (lib/mail/resolve.c), table-driven:
 * myorigin/mydomain, canonical maps (sender, recipient, both; lookup order,
 * extensions, @domain forms, loops), virtual alias expansion (recursion,
 * loop guard, limits, duplicates), the transport decision (mydestination,
 * relay_domains, relayhost, transport_maps forms), the domain classes that
 * smtpd and the resolver share (both must agree), and table errors as
 * temporary failures.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mail/domain_class.h"
#include "lib/mail/domain_list.h"
#include "lib/mail/resolve.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "tests/unit/test.h"

/* The site every case starts from; a case overrides some fields. */
static struct resolve_params base_params(void)
{
    struct resolve_params p = {
        .myhostname = "mail.example.com",
        .mydomain = "example.com",
        .myorigin = "example.com",
        .mydestination = "mail.example.com, localhost.example.com, localhost, example.com",
        .own_addresses = "127.0.0.1 ::1 192.0.2.7 2001:db8::7",
        .relay_domains = "relay.example",
        .relayhost = "",
        .recipient_delimiter = "+",
        .local_transport = "local:mail.example.com",
        .relay_transport = "relay",
        .default_transport = "smtp",
        .propagate_unmatched_extensions = "canonical, virtual",
        .append_at_myorigin = true,
        .append_dot_mydomain = false,
        .virtual_alias_expansion_limit = 1000,
        .virtual_alias_recursion_limit = 1000,
    };

    return p;
}

/* Parameter overrides of one case, by name; NULL fields keep the base. */
struct overrides {
    const char *canonical, *sender_canonical, *recipient_canonical, *virtual_alias, *transport;
    const char *relayhost, *default_transport, *mydestination, *propagate, *delimiter;
    int no_myorigin, dot_mydomain, expansion_limit, recursion_limit;
};

static struct resolver *make_resolver(const struct overrides *o, const char **why_r)
{
    struct resolve_params p = base_params();

    if (o->canonical)
        p.canonical_maps = o->canonical;
    if (o->sender_canonical)
        p.sender_canonical_maps = o->sender_canonical;
    if (o->recipient_canonical)
        p.recipient_canonical_maps = o->recipient_canonical;
    if (o->virtual_alias)
        p.virtual_alias_maps = o->virtual_alias;
    if (o->transport)
        p.transport_maps = o->transport;
    if (o->relayhost)
        p.relayhost = o->relayhost;
    if (o->default_transport)
        p.default_transport = o->default_transport;
    if (o->mydestination)
        p.mydestination = o->mydestination;
    if (o->propagate)
        p.propagate_unmatched_extensions = o->propagate;
    if (o->delimiter)
        p.recipient_delimiter = o->delimiter;
    if (o->no_myorigin)
        p.append_at_myorigin = false;
    if (o->dot_mydomain)
        p.append_dot_mydomain = true;
    if (o->expansion_limit)
        p.virtual_alias_expansion_limit = o->expansion_limit;
    if (o->recursion_limit)
        p.virtual_alias_recursion_limit = o->recursion_limit;
    return resolver_create(&p, why_r);
}

/* ---- step 1 ---- */

/* One case per entry (reads better than one field per line). */
/* clang-format off */
static const struct rewrite_case {
    const char *label;
    struct overrides o;
    enum resolve_who who;
    const char *in;
    const char *out;      /* NULL: expect a temporary error */
    const char *why_part; /* with out NULL: part of the reason */
} rewrite_cases[] = {
    {"bare name gets myorigin", {0}, RESOLVE_RECIPIENT, "joe", "joe@example.com", NULL},
    {"null sender stays null", {0}, RESOLVE_SENDER, "", "", NULL},
    {"full address unchanged", {0}, RESOLVE_RECIPIENT, "joe@host", "joe@host", NULL},
    {"append_at_myorigin no", {.no_myorigin = 1}, RESOLVE_RECIPIENT, "joe", "joe", NULL},
    {"append_dot_mydomain", {.dot_mydomain = 1}, RESOLVE_RECIPIENT, "joe@host",
     "joe@host.example.com", NULL},
    {"append_dot_mydomain: dotted", {.dot_mydomain = 1}, RESOLVE_RECIPIENT, "joe@a.b", "joe@a.b",
     NULL},
    {"append_dot_mydomain: literal", {.dot_mydomain = 1}, RESOLVE_RECIPIENT, "joe@[192.0.2.1]",
     "joe@[192.0.2.1]", NULL},
    {"quoted @ is not a domain", {0}, RESOLVE_RECIPIENT, "\"a@b\"", "\"a@b\"@example.com", NULL},
    {"quoted local part kept", {0}, RESOLVE_RECIPIENT, "\"joe smith\"@example.org",
     "\"joe smith\"@example.org", NULL},
    {"canonical: full address", {.canonical = "inline:{ joe@example.com=Joe.Smith@example.com }"},
     RESOLVE_RECIPIENT, "joe@example.com", "Joe.Smith@example.com", NULL},
    {"canonical: key case folded",
     {.canonical = "inline:{ joe@example.com=Joe.Smith@example.com }"}, RESOLVE_RECIPIENT,
     "JOE@Example.COM", "Joe.Smith@example.com", NULL},
    {"canonical: bare name first gets myorigin",
     {.canonical = "inline:{ joe@example.com=Joe.Smith@example.com }"}, RESOLVE_SENDER, "joe",
     "Joe.Smith@example.com", NULL},
    {"canonical: extension propagated",
     {.canonical = "inline:{ joe@example.com=Joe.Smith@example.com }"}, RESOLVE_RECIPIENT,
     "joe+foo@example.com", "Joe.Smith+foo@example.com", NULL},
    {"canonical: extension not propagated",
     {.canonical = "inline:{ joe@example.com=Joe.Smith@example.com }", .propagate = "virtual"},
     RESOLVE_RECIPIENT, "joe+foo@example.com", "Joe.Smith@example.com", NULL},
    {"canonical: exact key with extension wins",
     {.canonical = "inline:{ joe@example.com=a@example.com, joe+foo@example.com=b@example.com }"},
     RESOLVE_RECIPIENT, "joe+foo@example.com", "b@example.com", NULL},
    {"canonical: no delimiter, no extension",
     {.canonical = "inline:{ joe@example.com=a@example.com }", .delimiter = ""},
     RESOLVE_RECIPIENT, "joe+foo@example.com", "joe+foo@example.com", NULL},
    {"canonical: user form, local domain", {.canonical = "inline:{ joe=jsmith@example.org }"},
     RESOLVE_RECIPIENT, "joe@mail.example.com", "jsmith@example.org", NULL},
    {"canonical: user form, remote domain", {.canonical = "inline:{ joe=jsmith@example.org }"},
     RESOLVE_RECIPIENT, "joe@other.example", "joe@other.example", NULL},
    {"canonical: user form with extension", {.canonical = "inline:{ joe=jsmith@example.org }"},
     RESOLVE_RECIPIENT, "joe+x@localhost", "jsmith+x@example.org", NULL},
    {"canonical: @domain to @domain keeps the user",
     {.canonical = "inline:{ @old.example=@new.example }"}, RESOLVE_RECIPIENT,
     "Joe@old.example", "Joe@new.example", NULL},
    {"canonical: @domain to an address",
     {.canonical = "inline:{ @old.example=catchall@new.example }"}, RESOLVE_RECIPIENT,
     "joe@old.example", "catchall@new.example", NULL},
    {"canonical: full address beats @domain",
     {.canonical = "inline:{ @old.example=@new.example, joe@old.example=joe@elsewhere.example }"},
     RESOLVE_RECIPIENT, "joe@old.example", "joe@elsewhere.example", NULL},
    {"canonical: bare result gets myorigin", {.canonical = "inline:{ joe@example.com=joe.smith }"},
     RESOLVE_RECIPIENT, "joe@example.com", "joe.smith@example.com", NULL},
    {"sender map for the sender",
     {.sender_canonical = "inline:{ joe@example.com=s@example.com }",
      .recipient_canonical = "inline:{ joe@example.com=r@example.com }"},
     RESOLVE_SENDER, "joe@example.com", "s@example.com", NULL},
    {"recipient map for the recipient",
     {.sender_canonical = "inline:{ joe@example.com=s@example.com }",
      .recipient_canonical = "inline:{ joe@example.com=r@example.com }"},
     RESOLVE_RECIPIENT, "joe@example.com", "r@example.com", NULL},
    {"recipient map, then canonical_maps",
     {.recipient_canonical = "inline:{ a@example.com=b@example.com }",
      .canonical = "inline:{ b@example.com=c@example.com }"},
     RESOLVE_RECIPIENT, "a@example.com", "c@example.com", NULL},
    {"canonical chain resolves",
     {.canonical = "inline:{ a@x.example=b@x.example, b@x.example=c@x.example }"},
     RESOLVE_RECIPIENT, "a@x.example", "c@x.example", NULL},
    {"canonical loop is a temporary error",
     {.canonical = "inline:{ a@x.example=b@x.example, b@x.example=a@x.example }"},
     RESOLVE_RECIPIENT, "a@x.example", NULL, "rounds of rewriting"},
    {"canonical: first table wins",
     {.canonical = "inline:{ a@x.example=first@x.example } inline:{ a@x.example=second@x.example }"},
     RESOLVE_RECIPIENT, "a@x.example", "first@x.example", NULL},
};
/* clang-format on */

static void test_rewrite(void)
{
    for (size_t c = 0; c < sizeof(rewrite_cases) / sizeof(rewrite_cases[0]); c++) {
        const struct rewrite_case *tc = &rewrite_cases[c];
        const char *why = NULL;
        struct resolver *r = make_resolver(&tc->o, &why);
        struct buf *out = buf_create(0);
        int rc;

        if (r == NULL) {
            fprintf(stderr, "  %s: resolver: %s\n", tc->label, why);
            CHECK(0);
            buf_free(&out);
            continue;
        }
        rc = resolve_rewrite(r, tc->who, tc->in, out, &why);
        if (tc->out != NULL) {
            if (rc != 0 || strcmp(buf_str(out), tc->out) != 0) {
                fprintf(stderr, "  %s: \"%s\" -> rc %d \"%s\" (%s), want \"%s\"\n", tc->label,
                        tc->in, rc, buf_str(out), rc ? why : "", tc->out);
                CHECK(0);
            }
        } else if (rc != -1 || strstr(why, tc->why_part) == NULL) {
            fprintf(stderr, "  %s: rc %d why \"%s\"\n", tc->label, rc, rc ? why : "");
            CHECK(0);
        }
        buf_free(&out);
        resolver_free(&r);
    }
}

/* ---- step 2 ---- */

/* One case per entry (reads better than one field per line). */
/* clang-format off */
static const struct virtual_case {
    const char *label;
    struct overrides o;
    const char *in;
    const char *out;      /* final addresses joined with " "; NULL: temporary error */
    const char *why_part;
} virtual_cases[] = {
    {"no tables", {0}, "joe@example.com", "joe@example.com", NULL},
    {"no match", {.virtual_alias = "inline:{ info@example.com=joe@example.com }"},
     "bob@example.com", "bob@example.com", NULL},
    {"one to one", {.virtual_alias = "inline:{ info@example.com=joe@example.com }"},
     "info@example.com", "joe@example.com", NULL},
    {"one to many",
     {.virtual_alias = "inline:{ { team@example.com = a@example.com, b@example.org } }"},
     "team@example.com", "a@example.com b@example.org", NULL},
    {"recursive",
     {.virtual_alias = "inline:{ { team@example.com = a@example.com, grp@example.com },"
                       " { grp@example.com = c@example.com d@example.com } }"},
     "team@example.com", "a@example.com c@example.com d@example.com", NULL},
    {"self in own expansion is kept",
     {.virtual_alias = "inline:{ { joe@example.com = joe@example.com, archive@example.org } }"},
     "joe@example.com", "joe@example.com archive@example.org", NULL},
    {"mutual loop stops",
     {.virtual_alias = "inline:{ a@example.com=b@example.com, b@example.com=a@example.com }"},
     "a@example.com", "a@example.com", NULL},
    {"duplicates removed",
     {.virtual_alias = "inline:{ { t@example.com = a@example.com, a@example.com, "
                       "A@Example.com, b@example.com } }"},
     "t@example.com", "a@example.com b@example.com", NULL},
    {"diamond expands each address once",
     {.virtual_alias = "inline:{ { t@x.example = l@x.example, r@x.example }, "
                       "l@x.example=m@x.example, r@x.example=m@x.example, "
                       "{ m@x.example = p@x.example, q@x.example } }"},
     "t@x.example", "p@x.example q@x.example", NULL},
    {"recursion limit",
     {.virtual_alias = "inline:{ a@x.example=b@x.example, b@x.example=c@x.example, "
                       "c@x.example=d@x.example, d@x.example=e@x.example }",
      .recursion_limit = 2},
     "a@x.example", NULL, "virtual_alias_recursion_limit (2)"},
    {"recursion within limit",
     {.virtual_alias = "inline:{ a@x.example=b@x.example, b@x.example=c@x.example }",
      .recursion_limit = 2},
     "a@x.example", "c@x.example", NULL},
    {"expansion limit",
     {.virtual_alias = "inline:{ { t@x.example = a@x.example, b@x.example, c@x.example } }",
      .expansion_limit = 2},
     "t@x.example", NULL, "virtual_alias_expansion_limit (2)"},
    {"extension propagated",
     {.virtual_alias = "inline:{ joe@example.com=jsmith@example.org }"}, "joe+x@example.com",
     "jsmith+x@example.org", NULL},
    {"extension not propagated",
     {.virtual_alias = "inline:{ joe@example.com=jsmith@example.org }", .propagate = "canonical"},
     "joe+x@example.com", "jsmith@example.org", NULL},
    {"@domain catch-all", {.virtual_alias = "inline:{ @example.net=catch@example.com }"},
     "anyone@example.net", "catch@example.com", NULL},
    {"@domain to @domain", {.virtual_alias = "inline:{ @example.net=@example.com }"},
     "anyone+x@example.net", "anyone+x@example.com", NULL},
    {"user form for a local domain",
     {.virtual_alias = "inline:{ postmaster=admin@example.org }"}, "postmaster@localhost",
     "admin@example.org", NULL},
    {"user form not for a remote domain",
     {.virtual_alias = "inline:{ postmaster=admin@example.org }"}, "postmaster@remote.example",
     "postmaster@remote.example", NULL},
    {"bare result gets myorigin", {.virtual_alias = "inline:{ info@example.com=joe }"},
     "info@example.com", "joe@example.com", NULL},
    {"empty result is an error", {.virtual_alias = "inline:{ { info@example.com = , } }"},
     "info@example.com", NULL, "empty result"},
};
/* clang-format on */

static void test_virtual(void)
{
    for (size_t c = 0; c < sizeof(virtual_cases) / sizeof(virtual_cases[0]); c++) {
        const struct virtual_case *tc = &virtual_cases[c];
        const char *why = NULL;
        struct resolver *r = make_resolver(&tc->o, &why);
        struct argv *out = argv_create(4);
        struct buf *joined = buf_create(0);
        int rc;

        if (r == NULL) {
            fprintf(stderr, "  %s: resolver: %s\n", tc->label, why);
            CHECK(0);
            argv_free(&out);
            buf_free(&joined);
            continue;
        }
        rc = resolve_virtual(r, tc->in, out, &why);
        for (size_t i = 0; i < out->argc; i++)
            buf_printf(joined, "%s%s", i ? " " : "", out->argv[i]);
        if (tc->out != NULL) {
            if (rc != 0 || strcmp(buf_str(joined), tc->out) != 0) {
                fprintf(stderr, "  %s: rc %d \"%s\" (%s), want \"%s\"\n", tc->label, rc,
                        buf_str(joined), rc ? why : "", tc->out);
                CHECK(0);
            }
        } else if (rc != -1 || strstr(why, tc->why_part) == NULL || out->argc != 0) {
            fprintf(stderr, "  %s: rc %d why \"%s\" out \"%s\"\n", tc->label, rc, rc ? why : "",
                    buf_str(joined));
            CHECK(0);
        }
        argv_free(&out);
        buf_free(&joined);
        resolver_free(&r);
    }
}

/* resolve_recipient = rewrite + virtual. */
static void test_recipient(void)
{
    struct overrides o = {.canonical = "inline:{ info@example.com=team@example.com }",
                          .virtual_alias = "inline:{ { team@example.com = a, b@example.org } }"};
    const char *why = NULL;
    struct resolver *r = make_resolver(&o, &why);
    struct argv *out = argv_create(4);

    CHECK(r != NULL);
    if (r == NULL)
        return;
    CHECK_INTEQ(resolve_recipient(r, "info", out, &why), 0);
    CHECK_INTEQ(out->argc, 2);
    if (out->argc == 2) {
        CHECK_STREQ(out->argv[0], "a@example.com");
        CHECK_STREQ(out->argv[1], "b@example.org");
    }
    argv_free(&out);
    resolver_free(&r);
}

/* ---- step 3 ---- */

/* One case per entry (reads better than one field per line). */
/* clang-format off */
static const struct route_case {
    const char *label;
    struct overrides o;
    const char *relay_domains; /* NULL: base */
    const char *in;
    enum resolve_class class;
    const char *transport;
    const char *nexthop;
    const char *mailbox;
} route_cases[] = {
    {"local domain", {0}, NULL, "joe@mail.example.com", RESOLVE_CLASS_LOCAL, "local",
     "mail.example.com", "joe"},
    {"localhost, case and extension", {0}, NULL, "Joe+Ext@LOCALHOST", RESOLVE_CLASS_LOCAL,
     "local", "mail.example.com", "joe"},
    {"trailing dot", {0}, NULL, "joe@localhost.example.com.", RESOLVE_CLASS_LOCAL, "local",
     "mail.example.com", "joe"},
    {"no domain is local", {0}, NULL, "joe", RESOLVE_CLASS_LOCAL, "local", "mail.example.com",
     "joe"},
    {"subdomain of a local domain is not local", {0}, NULL, "joe@sub.example.com",
     RESOLVE_CLASS_DEFAULT, "smtp", "sub.example.com", ""},
    {"remote domain", {0}, NULL, "joe@Remote.Example", RESOLVE_CLASS_DEFAULT, "smtp",
     "remote.example", ""},
    {"relayhost", {.relayhost = "[relay.isp.example]:587"}, NULL, "joe@remote.example",
     RESOLVE_CLASS_DEFAULT, "smtp", "[relay.isp.example]:587", ""},
    {"relay domain", {0}, NULL, "joe@relay.example", RESOLVE_CLASS_RELAY, "relay",
     "relay.example", ""},
    {"relay subdomain", {0}, NULL, "joe@sub.relay.example", RESOLVE_CLASS_RELAY, "relay",
     "sub.relay.example", ""},
    {"relay domain with relayhost", {.relayhost = "gw.example"}, NULL, "joe@relay.example",
     RESOLVE_CLASS_RELAY, "relay", "gw.example", ""},
    {"relay_domains .domain form", {0}, ".only-subs.example", "joe@a.only-subs.example",
     RESOLVE_CLASS_RELAY, "relay", "a.only-subs.example", ""},
    {"relay_domains .domain not the domain", {0}, ".only-subs.example", "joe@only-subs.example",
     RESOLVE_CLASS_DEFAULT, "smtp", "only-subs.example", ""},
    {"relay_domains table", {0}, "inline:{ table-relay.example=yes }",
     "joe@table-relay.example", RESOLVE_CLASS_RELAY, "relay", "table-relay.example", ""},
    {"relay_domains table, parent", {0}, "inline:{ table-relay.example=yes }",
     "joe@a.table-relay.example", RESOLVE_CLASS_RELAY, "relay", "a.table-relay.example", ""},
    {"default_transport nexthop beats relayhost",
     {.relayhost = "gw.example", .default_transport = "smtp:[out.example]"}, NULL,
     "joe@remote.example", RESOLVE_CLASS_DEFAULT, "smtp", "[out.example]", ""},
    {"transport_maps domain to local", {.transport = "inline:{ example.tst=local: }"}, NULL,
     "Joe+x@example.tst", RESOLVE_CLASS_DEFAULT, "local", "example.tst", "joe"},
    {"transport_maps .domain",
     {.transport = "inline:{ .example.tst=smtp:[gw.example]:2525 }"}, NULL, "a@sub.example.tst",
     RESOLVE_CLASS_DEFAULT, "smtp", "[gw.example]:2525", ""},
    {"transport_maps .domain does not match the domain",
     {.transport = "inline:{ .example.tst=smtp:[gw.example]:2525 }"}, NULL, "a@example.tst",
     RESOLVE_CLASS_DEFAULT, "smtp", "example.tst", ""},
    {"transport_maps error:",
     {.transport = "inline:{ { example.tst = error:5.1.1 mailbox unavailable } }"}, NULL,
     "a@example.tst", RESOLVE_CLASS_DEFAULT, "error", "5.1.1 mailbox unavailable", ""},
    {"transport_maps discard:", {.transport = "inline:{ example.tst=discard: }"}, NULL,
     "a@example.tst", RESOLVE_CLASS_DEFAULT, "discard", "", ""},
    {"transport_maps full address",
     {.transport = "inline:{ joe@remote.example=smtp:[special.example] }"}, NULL,
     "joe@remote.example", RESOLVE_CLASS_DEFAULT, "smtp", "[special.example]", ""},
    {"transport_maps full address, other user",
     {.transport = "inline:{ joe@remote.example=smtp:[special.example] }"}, NULL,
     "bob@remote.example", RESOLVE_CLASS_DEFAULT, "smtp", "remote.example", ""},
    {"transport_maps address without extension",
     {.transport = "inline:{ joe@remote.example=relay: }"}, NULL, "joe+x@remote.example",
     RESOLVE_CLASS_DEFAULT, "relay", "remote.example", ""},
    {"transport_maps wildcard", {.transport = "inline:{ *=smtp:[smarthost.example] }"}, NULL,
     "a@remote.example", RESOLVE_CLASS_DEFAULT, "smtp", "[smarthost.example]", ""},
    {"transport_maps domain beats wildcard",
     {.transport = "inline:{ *=smtp:[smarthost.example], remote.example=relay: }"}, NULL,
     "a@remote.example", RESOLVE_CLASS_DEFAULT, "relay", "remote.example", ""},
    {"transport_maps empty transport keeps the class's",
     {.transport = "inline:{ { remote.example = :[other.example] } }"}, NULL,
     "a@remote.example", RESOLVE_CLASS_DEFAULT, "smtp", "[other.example]", ""},
    {"transport_maps empty result keeps both",
     {.transport = "inline:{ { remote.example = : } }", .relayhost = "gw.example"}, NULL,
     "a@remote.example", RESOLVE_CLASS_DEFAULT, "smtp", "gw.example", ""},
    {"transport_maps local domain to smtp",
     {.transport = "inline:{ localhost=smtp:[127.0.0.1]:10025 }"}, NULL, "joe@localhost",
     RESOLVE_CLASS_LOCAL, "smtp", "[127.0.0.1]:10025", ""},
    {"address literal of this host", {0}, NULL, "joe@[192.0.2.7]", RESOLVE_CLASS_LOCAL, "local",
     "mail.example.com", "joe"},
    {"IPv6 address literal of this host", {0}, NULL, "joe@[IPv6:2001:DB8:0::7]",
     RESOLVE_CLASS_LOCAL, "local", "mail.example.com", "joe"},
    {"loopback literal", {0}, NULL, "joe@[127.0.0.1]", RESOLVE_CLASS_LOCAL, "local",
     "mail.example.com", "joe"},
    {"other address literal", {0}, NULL, "joe@[192.0.2.8]", RESOLVE_CLASS_DEFAULT, "smtp",
     "[192.0.2.8]", ""},
    {"not an address in brackets", {0}, NULL, "joe@[nonsense]", RESOLVE_CLASS_DEFAULT, "smtp",
     "[nonsense]", ""},
    {"mydestination table",
     {.mydestination = "localhost, inline:{ table-local.example=yes }"}, NULL,
     "joe@Table-Local.example", RESOLVE_CLASS_LOCAL, "local", "mail.example.com", "joe"},
};
/* clang-format on */

static void test_route(void)
{
    for (size_t c = 0; c < sizeof(route_cases) / sizeof(route_cases[0]); c++) {
        const struct route_case *tc = &route_cases[c];
        struct resolve_params p = base_params();
        const struct overrides *o = &tc->o;
        struct resolve_route route;
        const char *why = NULL;
        struct resolver *r;
        int rc;

        if (o->transport)
            p.transport_maps = o->transport;
        if (o->relayhost)
            p.relayhost = o->relayhost;
        if (o->default_transport)
            p.default_transport = o->default_transport;
        if (o->mydestination)
            p.mydestination = o->mydestination;
        if (tc->relay_domains)
            p.relay_domains = tc->relay_domains;
        r = resolver_create(&p, &why);
        if (r == NULL) {
            fprintf(stderr, "  %s: resolver: %s\n", tc->label, why);
            CHECK(0);
            continue;
        }
        rc = resolve_route(r, tc->in, &route, &why);
        if (rc != 0) {
            fprintf(stderr, "  %s: %s\n", tc->label, why);
            CHECK(0);
        } else if (route.class != tc->class || strcmp(route.transport, tc->transport) != 0 ||
                   strcmp(route.nexthop, tc->nexthop) != 0 ||
                   strcmp(route.mailbox, tc->mailbox) != 0 ||
                   route.local != (strcmp(tc->transport, "local") == 0)) {
            fprintf(stderr, "  %s: got %s %s:%s mailbox \"%s\" local %d\n", tc->label,
                    resolve_class_name(route.class), route.transport, route.nexthop, route.mailbox,
                    route.local);
            CHECK(0);
        }
        resolve_route_clear(&route);
        resolver_free(&r);
    }
}

/*
 * The class of a domain: smtpd asks domain_class_find() at RCPT time, the
 * resolver routes with resolve_route() and resolve_domain_is_local(); all
 * three must say the same for every domain, or smtpd would accept mail
 * that qmgr then sends elsewhere (or relay what it should not).
 */
static void test_domain_class(void)
{
    static const char mydestination[] = "mail.example.com, localhost, !local.blocked.example, "
                                        ".blocked.example, inline:{ table-local.example=yes }";
    static const char relay_domains[] =
        "relay.example, .subs-only.example, [192.0.2.99], "
        "inline:{ table-relay.example=yes, .dot-relay.example=yes }";
    static const char own[] = "127.0.0.1 ::1 192.0.2.7 2001:db8::7 not-an-address";
    /* clang-format off */
    static const struct {
        const char *domain;
        int class;
    } cases[] = {
        {"mail.example.com", DOMAIN_CLASS_LOCAL},
        {"MAIL.Example.COM.", DOMAIN_CLASS_LOCAL},
        {"sub.mail.example.com", DOMAIN_CLASS_OTHER},  /* no parent matching */
        {"localhost", DOMAIN_CLASS_LOCAL},
        {"table-local.example", DOMAIN_CLASS_LOCAL},
        {"a.table-local.example", DOMAIN_CLASS_OTHER},
        {"x.blocked.example", DOMAIN_CLASS_LOCAL},
        {"local.blocked.example", DOMAIN_CLASS_OTHER}, /* negated */
        {"blocked.example", DOMAIN_CLASS_OTHER},
        {"[192.0.2.7]", DOMAIN_CLASS_LOCAL},
        {"[IPv6:2001:DB8:0::7]", DOMAIN_CLASS_LOCAL},
        {"[127.0.0.1]", DOMAIN_CLASS_LOCAL},
        {"[192.0.2.8]", DOMAIN_CLASS_OTHER},
        {"[192.0.2.99]", DOMAIN_CLASS_RELAY},
        {"[nonsense]", DOMAIN_CLASS_OTHER},
        {"relay.example", DOMAIN_CLASS_RELAY},
        {"a.b.Relay.Example", DOMAIN_CLASS_RELAY},       /* parent matching */
        {"notrelay.example", DOMAIN_CLASS_OTHER},
        {"subs-only.example", DOMAIN_CLASS_OTHER},
        {"x.subs-only.example", DOMAIN_CLASS_RELAY},
        {"table-relay.example", DOMAIN_CLASS_RELAY},
        {"x.table-relay.example", DOMAIN_CLASS_RELAY},
        {"x.dot-relay.example", DOMAIN_CLASS_OTHER},     /* parents are looked up as "parent" */
        {"remote.example", DOMAIN_CLASS_OTHER},
    };
    /* clang-format on */
    static const enum resolve_class route_class[] = {
        [DOMAIN_CLASS_OTHER] = RESOLVE_CLASS_DEFAULT,
        [DOMAIN_CLASS_LOCAL] = RESOLVE_CLASS_LOCAL,
        [DOMAIN_CLASS_RELAY] = RESOLVE_CLASS_RELAY,
    };
    struct resolve_params p = base_params();
    struct domain_class *dc;
    struct resolver *r;
    const char *why = NULL;

    p.mydestination = mydestination;
    p.relay_domains = relay_domains;
    p.own_addresses = own;
    r = resolver_create(&p, &why);
    CHECK(r != NULL);
    CHECK_INTEQ(domain_class_create(mydestination, relay_domains, own, 0, &dc, &why), 0);
    if (r == NULL || dc == NULL) {
        resolver_free(&r);
        domain_class_free(&dc);
        return;
    }
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct buf *addr = buf_create(64);
        struct resolve_route route;
        int smtpd_class = domain_class_find(dc, cases[c].domain, &why);
        int is_local = resolve_domain_is_local(r, cases[c].domain, &why);
        int rc;

        buf_printf(addr, "joe@%s", cases[c].domain);
        rc = resolve_route(r, buf_str(addr), &route, &why);
        if (smtpd_class != cases[c].class || is_local != (cases[c].class == DOMAIN_CLASS_LOCAL) ||
            rc != 0 || route.class != route_class[cases[c].class]) {
            fprintf(stderr, "  %s: smtpd %d, local %d, route %s (expected %d)\n", cases[c].domain,
                    smtpd_class, is_local, rc == 0 ? resolve_class_name(route.class) : why,
                    cases[c].class);
            CHECK(0);
        }
        resolve_route_clear(&route);
        buf_free(&addr);
    }
    resolver_free(&r);
    domain_class_free(&dc);

    /* A bad item is a configuration error; a missing table only with DOMAIN_LIST_STRICT. */
    CHECK_INTEQ(domain_class_create("localhost, bogus:x", "", own, 0, &dc, &why), -1);
    CHECK(dc == NULL && strstr(why, "mydestination") != NULL);
    CHECK_INTEQ(domain_class_create("localhost", "hash:/nonexistent/relay", own, DOMAIN_LIST_STRICT,
                                    &dc, &why),
                -1);
    CHECK(dc == NULL && strstr(why, "relay_domains") != NULL);
    /* Lenient (smtpd): created, and a lookup that reaches the table is an error, never a class. */
    CHECK_INTEQ(domain_class_create("localhost", "hash:/nonexistent/relay", own, 0, &dc, &why), 0);
    CHECK_INTEQ(domain_class_find(dc, "localhost", &why), DOMAIN_CLASS_LOCAL);
    CHECK_INTEQ(domain_class_find(dc, "remote.example", &why), -1);
    CHECK(strstr(why, "relay_domains") != NULL);
    CHECK_INTEQ(domain_class_refresh(dc, &why), -1);
    domain_class_free(&dc);
}

/* A table that cannot be opened is a temporary error naming the parameter. */
static void test_table_errors(void)
{
    static const struct overrides cases[] = {
        {.transport = "hash:/nonexistent/transport"},
        {.virtual_alias = "lmdb:/nonexistent/virtual"},
        {.canonical = "nosuchtype:/x"},
        {.canonical = "not-a-table"},
        {.mydestination = "localhost, hash:/nonexistent/mydest"},
    };
    static const char *const params[] = {"transport_maps", "virtual_alias_maps", "canonical_maps",
                                         "canonical_maps", "mydestination"};

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const char *why = NULL;
        struct resolver *r = make_resolver(&cases[c], &why);

        CHECK(r == NULL);
        if (r == NULL && (why == NULL || strstr(why, params[c]) == NULL)) {
            fprintf(stderr, "  case %zu: why \"%s\"\n", c, why ? why : "(null)");
            CHECK(0);
        }
        resolver_free(&r);
    }
}

/* Addresses beyond the bound are refused, not truncated. */
static void test_long_address(void)
{
    struct overrides o = {0};
    const char *why = NULL;
    struct resolver *r = make_resolver(&o, &why);
    char *big = malloc(RESOLVE_ADDR_MAX + 32);
    struct buf *out = buf_create(0);
    struct argv *list = argv_create(1);
    struct resolve_route route;

    memset(big, 'a', RESOLVE_ADDR_MAX + 10);
    strcpy(big + RESOLVE_ADDR_MAX + 10, "@x.example");
    CHECK_INTEQ(resolve_rewrite(r, RESOLVE_RECIPIENT, big, out, &why), -1);
    CHECK_INTEQ(resolve_virtual(r, big, list, &why), -1);
    CHECK_INTEQ(resolve_route(r, big, &route, &why), -1);
    CHECK(route.transport == NULL);
    free(big);
    buf_free(&out);
    argv_free(&list);
    resolver_free(&r);
}

/* The split at the last unquoted '@'. */
static void test_split(void)
{
    static const struct {
        const char *in, *local, *domain;
    } cases[] = {
        {"joe@example.com", "joe", "example.com"},
        {"joe", "joe", ""},
        {"\"a@b\"@example.com", "\"a@b\"", "example.com"},
        {"\"a@b\"", "\"a@b\"", ""},
        {"a@b@c", "a@b", "c"},
        {"\"a\\\"@b\"@c", "\"a\\\"@b\"", "c"},
        {"@example.com", "", "example.com"},
        {"", "", ""},
    };

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        char *l, *d;

        resolve_split(cases[c].in, &l, &d);
        CHECK_STREQ(l, cases[c].local);
        CHECK_STREQ(d, cases[c].domain);
        mem_free(l);
        mem_free(d);
    }
}

int main(void)
{
    msg_init("test_resolve", 0);
    TEST_RUN(test_rewrite);
    TEST_RUN(test_virtual);
    TEST_RUN(test_recipient);
    TEST_RUN(test_route);
    TEST_RUN(test_domain_class);
    TEST_RUN(test_table_errors);
    TEST_RUN(test_long_address);
    TEST_RUN(test_split);
    return test_summary();
}
