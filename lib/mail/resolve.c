/*
 * resolve - the address resolver: myorigin and canonical rewriting,
 * virtual alias expansion, and the transport decision (see resolve.h for
 * the rules; they follow Postfix's canonical(5), virtual(5), transport(5)).
 *
 * This module owns the resolver's table lists (maps.h, and the domain
 * classes of domain_class.h that smtpd shares: opened once, re-opened when
 * postmap replaces them) and a copy of the parameters it was made with. It
 * does no I/O besides table lookups, so it is tested table-driven with
 * inline: and static: tables.
 *
 * Security notes: addresses come from the network (through the queue
 * file). Every address and every table result is bounded
 * (RESOLVE_ADDR_MAX); virtual expansion is bounded in depth, in output
 * size and in work (each address is expanded at most once per call), so a
 * hostile or mistaken table cannot make qmgr loop or grow without limit.
 * Every failure is temporary: a table that cannot be read never turns into
 * a bounce.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "lib/dict/dict.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/domain_class.h"
#include "lib/mail/domain_list.h"
#include "lib/mail/maps.h"
#include "lib/mail/param.h"
#include "lib/mail/resolve.h"
#include "lib/proto/mailbox.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"

struct resolver {
    char *myhostname, *mydomain, *myorigin, *relayhost, *delimiters;
    char *local_transport, *relay_transport, *default_transport;
    bool append_at_myorigin, append_dot_mydomain;
    bool propagate_canonical, propagate_virtual;
    int expansion_limit, recursion_limit;
    struct domain_class *domains; /* mydestination, own addresses, relay_domains */
    struct maps *canonical, *sender_canonical, *recipient_canonical, *virtual_alias, *transport;
    char why[512];
};

/* Record why and return -1. */
static int resolve_fail(struct resolver *r, const char **why_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int resolve_fail(struct resolver *r, const char **why_r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
    *why_r = r->why;
    return -1;
}

/* "local", "relay", "default". */
const char *resolve_class_name(enum resolve_class class)
{
    switch (class) {
    case RESOLVE_CLASS_LOCAL:
        return "local";
    case RESOLVE_CLASS_RELAY:
        return "relay";
    case RESOLVE_CLASS_DEFAULT:
        return "default";
    }
    return "unknown";
}

/* ---- tables ---- */

/* Open a table list parameter (every table must open now). */
static int resolve_maps_open(struct maps **m_r, const char *param, const char *value,
                             const char **why_r)
{
    return maps_create(param, value ? value : "", DICT_FLAG_FOLD_KEYS | MAPS_FLAG_STRICT, m_r,
                       why_r);
}

/* Lower-case copy of a domain without a trailing dot. */
static char *resolve_domain_norm(const char *domain)
{
    char *d = mem_strdup(domain);
    size_t len = strlen(d);

    if (len > 1 && d[len - 1] == '.')
        d[len - 1] = '\0';
    str_lower(d);
    return d;
}

/* ---- addresses ---- */

/* Split an address at its last '@' outside quotes. */
void resolve_split(const char *addr, char **local_r, char **domain_r)
{
    ssize_t at = mailbox_at_sign(addr, strlen(addr));

    if (at < 0) {
        *local_r = mem_strdup(addr);
        *domain_r = mem_strdup("");
    } else {
        *local_r = mem_strndup(addr, (size_t)at);
        *domain_r = mem_strdup(addr + at + 1);
    }
}

/* True when addr has an '@' outside quotes. */
static bool resolve_has_at(const char *addr)
{
    return mailbox_at_sign(addr, strlen(addr)) >= 0;
}

/*
 * Split the extension off a local part: position of the first delimiter
 * character (not the first byte), or 0 when there is none.
 */
static size_t resolve_ext_pos(const struct resolver *r, const char *local)
{
    if (*r->delimiters == '\0' || *local == '\0')
        return 0;
    for (size_t i = 1; local[i]; i++)
        if (strchr(r->delimiters, local[i]) != NULL)
            return i;
    return 0;
}

/* 1 when domain (any case) is local (domain_class.h), 0 when not, -1 on table error. */
int resolve_domain_is_local(struct resolver *r, const char *domain, const char **why_r)
{
    return domain_class_is_local(r->domains, domain, why_r);
}

/* 1 when domain is $myorigin or local (the "user" key form applies), 0, -1. */
static int resolve_domain_is_mine(struct resolver *r, const char *domain, const char **why_r)
{
    if (*domain == '\0' || str_eq_icase(domain, r->myorigin))
        return 1;
    return resolve_domain_is_local(r, domain, why_r);
}

/* Put ext ("+foo") into address before its '@'. */
static void resolve_add_ext(struct buf *out, const char *address, const char *ext)
{
    char *local, *domain;

    resolve_split(address, &local, &domain);
    buf_set(out, local);
    buf_puts(out, ext);
    if (resolve_has_at(address)) {
        buf_putc(out, '@');
        buf_puts(out, domain);
    }
    mem_free(local);
    mem_free(domain);
}

/*
 * Canonical/virtual-style lookup of addr in m (see resolve.h for the key
 * order). DICT_FOUND with the raw value in *value_r and, when the match
 * was on a key without the extension, *ext_r = "+ext" (else ""); the
 * local part of addr in *local_r (caller frees both). DICT_NOTFOUND or
 * DICT_ERROR otherwise.
 */
static int resolve_addr_lookup(struct resolver *r, struct maps *m, const char *addr,
                               const char **value_r, char **local_r, char **ext_r,
                               const char **why_r)
{
    char *local, *domain;
    struct buf *key;
    size_t ext_pos;
    bool stripped = false;
    int rc, mine = 0;

    *ext_r = mem_strdup("");
    *local_r = NULL;
    if (maps_count(m) == 0)
        return DICT_NOTFOUND;
    key = buf_create(64);
    resolve_split(addr, &local, &domain);
    ext_pos = resolve_ext_pos(r, local);

    /* user+ext@domain, then user@domain */
    rc = maps_find(m, addr, value_r, why_r);
    if (rc == DICT_NOTFOUND && ext_pos > 0 && *domain != '\0') {
        buf_reset(key);
        buf_append(key, local, ext_pos);
        buf_printf(key, "@%s", domain);
        rc = maps_find(m, buf_str(key), value_r, why_r);
        stripped = rc == DICT_FOUND;
    }
    /* user+ext, then user: only for our own domains */
    if (rc == DICT_NOTFOUND && *local != '\0' &&
        (mine = resolve_domain_is_mine(r, domain, why_r)) < 0)
        rc = DICT_ERROR;
    if (rc == DICT_NOTFOUND && mine > 0) {
        rc = maps_find(m, local, value_r, why_r);
        if (rc == DICT_NOTFOUND && ext_pos > 0) {
            buf_reset(key);
            buf_append(key, local, ext_pos);
            rc = maps_find(m, buf_str(key), value_r, why_r);
            stripped = rc == DICT_FOUND;
        }
    }
    /* @domain */
    if (rc == DICT_NOTFOUND && *domain != '\0') {
        buf_set(key, "@");
        buf_puts(key, domain);
        rc = maps_find(m, buf_str(key), value_r, why_r);
    }
    if (stripped) {
        mem_free(*ext_r);
        *ext_r = mem_strdup(local + ext_pos);
    }
    buf_free(&key);
    mem_free(domain);
    *local_r = local;
    return rc;
}

/*
 * Complete one table result: "@domain" gets the local part, a bare name
 * gets "@$myorigin", a propagated extension goes back in. Into out.
 */
static void resolve_complete(struct resolver *r, const char *item, const char *local,
                             const char *ext, bool propagate, struct buf *out)
{
    if (item[0] == '@') {
        buf_set(out, local);
        buf_puts(out, item);
    } else {
        char *l, *d;

        resolve_split(item, &l, &d);
        if (!resolve_has_at(item) && *r->myorigin != '\0')
            buf_printf(out, "%s@%s", item, r->myorigin);
        else
            buf_set(out, item);
        if (propagate && *ext != '\0' && resolve_ext_pos(r, l) == 0) {
            char *copy = mem_strdup(buf_str(out));

            resolve_add_ext(out, copy, ext);
            mem_free(copy);
        }
        mem_free(l);
        mem_free(d);
    }
}

/* ---- step 1: rewrite ---- */

/* Apply one canonical map until the address stops changing. */
static int resolve_canonical(struct resolver *r, struct maps *m, struct buf *addr,
                             const char **why_r)
{
    for (int round = 0; round < RESOLVE_CANONICAL_MAX; round++) {
        const char *value;
        char *local = NULL, *ext = NULL;
        int rc = resolve_addr_lookup(r, m, buf_str(addr), &value, &local, &ext, why_r);

        if (rc == DICT_FOUND) {
            struct argv *items = param_list_split(value);
            struct buf *next = buf_create(64);
            bool same;

            if (items->argc == 0) {
                argv_free(&items);
                buf_free(&next);
                mem_free(local);
                mem_free(ext);
                return resolve_fail(r, why_r, "%s: empty result for \"%s\"", maps_title(m),
                                    buf_str(addr));
            }
            resolve_complete(r, items->argv[0], local, ext, r->propagate_canonical, next);
            argv_free(&items);
            same = strcmp(buf_str(next), buf_str(addr)) == 0;
            if (buf_len(next) > RESOLVE_ADDR_MAX) {
                buf_free(&next);
                rc = resolve_fail(r, why_r, "%s: result for \"%s\" too long", maps_title(m),
                                  buf_str(addr));
            } else {
                buf_set(addr, buf_str(next));
                buf_free(&next);
            }
            mem_free(local);
            mem_free(ext);
            if (rc < 0)
                return -1;
            if (same)
                return 0;
            continue;
        }
        mem_free(local);
        mem_free(ext);
        return rc == DICT_ERROR ? -1 : 0;
    }
    return resolve_fail(r, why_r, "%s: more than %d rounds of rewriting for \"%s\" (a loop?)",
                        maps_title(m), RESOLVE_CANONICAL_MAX, buf_str(addr));
}

/* myorigin/mydomain and canonical rewriting. */
int resolve_rewrite(struct resolver *r, enum resolve_who who, const char *addr, struct buf *out,
                    const char **why_r)
{
    char *local, *domain;

    if (strlen(addr) > RESOLVE_ADDR_MAX)
        return resolve_fail(r, why_r, "address too long (%zu bytes)", strlen(addr));
    buf_set(out, addr);
    if (*addr == '\0')
        return 0;
    resolve_split(addr, &local, &domain);
    if (!resolve_has_at(addr)) {
        if (r->append_at_myorigin && *r->myorigin != '\0')
            buf_printf(out, "@%s", r->myorigin);
    } else if (r->append_dot_mydomain && *domain != '\0' && domain[0] != '[' &&
               strchr(domain, '.') == NULL && *r->mydomain != '\0') {
        buf_printf(out, ".%s", r->mydomain);
    }
    mem_free(local);
    mem_free(domain);
    if (resolve_canonical(r, who == RESOLVE_SENDER ? r->sender_canonical : r->recipient_canonical,
                          out, why_r) < 0 ||
        resolve_canonical(r, r->canonical, out, why_r) < 0)
        return -1;
    return 0;
}

/* ---- step 2: virtual ---- */

/* True when list holds s (ASCII case-insensitive). */
static bool resolve_argv_has(const struct argv *list, const char *s)
{
    for (size_t i = 0; i < list->argc; i++)
        if (str_eq_icase(list->argv[i], s))
            return true;
    return false;
}

/* State of one virtual expansion. */
struct resolve_vstate {
    struct argv *out;       /* final addresses, no duplicates */
    struct argv *ancestors; /* the chain from the original to here */
    struct argv *done;      /* addresses already expanded in this call */
    size_t produced;        /* final addresses so far */
};

/* Expand addr at depth into st->out. */
static int resolve_expand(struct resolver *r, struct resolve_vstate *st, const char *addr,
                          int depth, const char **why_r)
{
    const char *value;
    char *local = NULL, *ext = NULL;
    struct argv *items;
    int rc;

    if (depth > r->recursion_limit)
        return resolve_fail(r, why_r, "virtual_alias_recursion_limit (%d) exceeded for \"%s\"",
                            r->recursion_limit, addr);
    rc = resolve_addr_lookup(r, r->virtual_alias, addr, &value, &local, &ext, why_r);
    if (rc == DICT_ERROR) {
        mem_free(local);
        mem_free(ext);
        return -1;
    }
    if (rc == DICT_NOTFOUND) {
        mem_free(local);
        mem_free(ext);
        if (!resolve_argv_has(st->out, addr)) {
            if (st->out->argc >= (size_t)r->expansion_limit)
                return resolve_fail(r, why_r, "virtual_alias_expansion_limit (%d) exceeded",
                                    r->expansion_limit);
            argv_add(st->out, addr);
        }
        return 0;
    }
    argv_add(st->done, addr);
    items = param_list_split(value);
    if (items->argc == 0)
        rc = resolve_fail(r, why_r, "virtual_alias_maps: empty result for \"%s\"", addr);
    argv_add(st->ancestors, addr);
    for (size_t i = 0; i < items->argc && rc >= 0; i++) {
        struct buf *next = buf_create(64);

        resolve_complete(r, items->argv[i], local, ext, r->propagate_virtual, next);
        if (buf_len(next) > RESOLVE_ADDR_MAX) {
            rc = resolve_fail(r, why_r, "virtual_alias_maps: result for \"%s\" too long", addr);
        } else if (resolve_argv_has(st->ancestors, buf_str(next))) {
            /* The loop guard: an address in its own expansion is delivered as is. */
            if (!resolve_argv_has(st->out, buf_str(next))) {
                if (st->out->argc >= (size_t)r->expansion_limit)
                    rc = resolve_fail(r, why_r, "virtual_alias_expansion_limit (%d) exceeded",
                                      r->expansion_limit);
                else
                    argv_add(st->out, buf_str(next));
            }
        } else if (!resolve_argv_has(st->done, buf_str(next))) {
            rc = resolve_expand(r, st, buf_str(next), depth + 1, why_r);
        }
        buf_free(&next);
    }
    argv_truncate(st->ancestors, st->ancestors->argc - 1);
    argv_free(&items);
    mem_free(local);
    mem_free(ext);
    return rc < 0 ? -1 : 0;
}

/* Virtual alias expansion of a rewritten recipient. */
int resolve_virtual(struct resolver *r, const char *addr, struct argv *out, const char **why_r)
{
    struct resolve_vstate st = {
        .out = argv_create(4), .ancestors = argv_create(8), .done = argv_create(8)};
    int rc;

    if (strlen(addr) > RESOLVE_ADDR_MAX)
        rc = resolve_fail(r, why_r, "address too long (%zu bytes)", strlen(addr));
    else if (maps_count(r->virtual_alias) == 0 || *addr == '\0') {
        argv_add(st.out, addr);
        rc = 0;
    } else
        rc = resolve_expand(r, &st, addr, 0, why_r);
    if (rc == 0)
        for (size_t i = 0; i < st.out->argc; i++)
            argv_add(out, st.out->argv[i]);
    argv_free(&st.out);
    argv_free(&st.ancestors);
    argv_free(&st.done);
    return rc;
}

/* Rewrite and expand a recipient. */
int resolve_recipient(struct resolver *r, const char *addr, struct argv *out, const char **why_r)
{
    struct buf *b = buf_create(64);
    int rc = resolve_rewrite(r, RESOLVE_RECIPIENT, addr, b, why_r);

    if (rc == 0)
        rc = resolve_virtual(r, buf_str(b), out, why_r);
    buf_free(&b);
    return rc;
}

/* ---- step 3: route ---- */

/* Free the strings of a route. */
void resolve_route_clear(struct resolve_route *route)
{
    MEM_FREE(&route->transport);
    MEM_FREE(&route->nexthop);
    MEM_FREE(&route->mailbox);
    MEM_FREE(&route->domain);
}

/* Split "transport:nexthop" (either part may be empty) into new strings. */
static void resolve_split_transport(const char *spec, char **transport_r, char **nexthop_r)
{
    const char *colon = strchr(spec, ':');
    char *t = colon ? mem_strndup(spec, (size_t)(colon - spec)) : mem_strdup(spec);
    char *n = mem_strdup(colon ? colon + 1 : "");

    *transport_r = mem_strdup(str_trim(t));
    *nexthop_r = mem_strdup(str_trim(n));
    mem_free(t);
    mem_free(n);
}

/* Look the address up in transport_maps; DICT_FOUND with *value_r, ... */
static int resolve_transport_lookup(struct resolver *r, const char *addr, const char *local,
                                    const char *domain, const char **value_r, const char **why_r)
{
    struct buf *key = buf_create(64);
    size_t ext_pos = resolve_ext_pos(r, local);
    int rc;

    if (maps_count(r->transport) == 0) {
        buf_free(&key);
        return DICT_NOTFOUND;
    }
    rc = maps_find(r->transport, addr, value_r, why_r);
    if (rc == DICT_NOTFOUND && ext_pos > 0 && *domain != '\0') {
        buf_reset(key);
        buf_append(key, local, ext_pos);
        buf_printf(key, "@%s", domain);
        rc = maps_find(r->transport, buf_str(key), value_r, why_r);
    }
    if (rc == DICT_NOTFOUND && *domain != '\0')
        rc = maps_find(r->transport, domain, value_r, why_r);
    for (const char *dot = strchr(domain, '.'); rc == DICT_NOTFOUND && dot != NULL && dot[1];
         dot = strchr(dot + 1, '.'))
        rc = maps_find(r->transport, dot, value_r, why_r);
    if (rc == DICT_NOTFOUND)
        rc = maps_find(r->transport, "*", value_r, why_r);
    buf_free(&key);
    return rc;
}

/* The transport decision. */
int resolve_route(struct resolver *r, const char *addr, struct resolve_route *route,
                  const char **why_r)
{
    char *local, *raw_domain, *domain, *transport = NULL, *nexthop = NULL, *ltransport, *lnext;
    const char *class_spec, *value = NULL;
    size_t ext_pos;
    int rc;

    memset(route, 0, sizeof(*route));
    if (strlen(addr) > RESOLVE_ADDR_MAX)
        return resolve_fail(r, why_r, "address too long (%zu bytes)", strlen(addr));
    resolve_split(addr, &local, &raw_domain);
    domain = resolve_domain_norm(raw_domain);
    mem_free(raw_domain);

    /* The class of the domain: the same decision as smtpd's relay control. */
    rc = *domain == '\0' ? DOMAIN_CLASS_LOCAL : domain_class_find(r->domains, domain, why_r);
    if (rc < 0)
        goto fail;
    route->class = rc == DOMAIN_CLASS_LOCAL   ? RESOLVE_CLASS_LOCAL
                   : rc == DOMAIN_CLASS_RELAY ? RESOLVE_CLASS_RELAY
                                              : RESOLVE_CLASS_DEFAULT;
    class_spec = route->class == RESOLVE_CLASS_LOCAL   ? r->local_transport
                 : route->class == RESOLVE_CLASS_RELAY ? r->relay_transport
                                                       : r->default_transport;
    resolve_split_transport(class_spec, &transport, &nexthop);
    if (*nexthop == '\0') {
        mem_free(nexthop);
        nexthop = mem_strdup(route->class == RESOLVE_CLASS_LOCAL ? r->myhostname
                             : *r->relayhost != '\0'             ? r->relayhost
                                                                 : domain);
    }

    /* transport_maps overrides either part. */
    rc = resolve_transport_lookup(r, addr, local, domain, &value, why_r);
    if (rc == DICT_ERROR)
        goto fail;
    if (rc == DICT_FOUND) {
        char *t, *n;

        if (strlen(value) > RESOLVE_ADDR_MAX) {
            rc = resolve_fail(r, why_r, "transport_maps: result for \"%s\" too long", addr);
            goto fail;
        }
        resolve_split_transport(value, &t, &n);
        if (*t != '\0') {
            mem_free(transport);
            transport = t;
            /* A different transport's own default nexthop: the domain (smtp) or text. */
            if (strcmp(transport, "error") == 0 || strcmp(transport, "discard") == 0) {
                mem_free(nexthop);
                nexthop = mem_strdup("");
            }
        } else {
            mem_free(t);
        }
        if (*n != '\0') {
            mem_free(nexthop);
            nexthop = n;
        } else {
            mem_free(n);
        }
    }
    if (*transport == '\0') {
        rc = resolve_fail(r, why_r, "empty transport name for \"%s\"", addr);
        goto fail;
    }

    route->transport = transport;
    route->nexthop = nexthop;
    route->domain = domain;
    resolve_split_transport(r->local_transport, &ltransport, &lnext);
    route->local = strcmp(transport, ltransport) == 0;
    mem_free(ltransport);
    mem_free(lnext);
    ext_pos = resolve_ext_pos(r, local);
    if (route->local) {
        route->mailbox = ext_pos ? mem_strndup(local, ext_pos) : mem_strdup(local);
        str_lower(route->mailbox);
    } else {
        route->mailbox = mem_strdup("");
    }
    mem_free(local);
    return 0;

fail:
    mem_free(transport);
    mem_free(nexthop);
    mem_free(local);
    mem_free(domain);
    memset(route, 0, sizeof(*route));
    return -1;
}

/* ---- life cycle ---- */

/* Does the propagate_unmatched_extensions list name class? */
static bool resolve_list_has(const char *list, const char *word)
{
    struct argv *items = param_list_split(list ? list : "");
    bool found = false;

    for (size_t i = 0; i < items->argc; i++)
        if (str_eq_icase(items->argv[i], word))
            found = true;
    argv_free(&items);
    return found;
}

/* Open the tables and keep a copy of the parameters. */
struct resolver *resolver_create(const struct resolve_params *p, const char **why_r)
{
    struct resolver *r = mem_alloc(sizeof(*r));
    const struct {
        struct maps **m_r;
        const char *param, *value;
    } lists[] = {
        {&r->canonical, "canonical_maps", p->canonical_maps},
        {&r->sender_canonical, "sender_canonical_maps", p->sender_canonical_maps},
        {&r->recipient_canonical, "recipient_canonical_maps", p->recipient_canonical_maps},
        {&r->virtual_alias, "virtual_alias_maps", p->virtual_alias_maps},
        {&r->transport, "transport_maps", p->transport_maps},
    };
    int rc;

#define RESOLVE_STR(x) mem_strdup(p->x ? p->x : "")
    r->myhostname = RESOLVE_STR(myhostname);
    r->mydomain = RESOLVE_STR(mydomain);
    r->myorigin = RESOLVE_STR(myorigin);
    r->relayhost = RESOLVE_STR(relayhost);
    r->delimiters = RESOLVE_STR(recipient_delimiter);
    r->local_transport = RESOLVE_STR(local_transport);
    r->relay_transport = RESOLVE_STR(relay_transport);
    r->default_transport = RESOLVE_STR(default_transport);
#undef RESOLVE_STR
    r->append_at_myorigin = p->append_at_myorigin;
    r->append_dot_mydomain = p->append_dot_mydomain;
    r->propagate_canonical = resolve_list_has(p->propagate_unmatched_extensions, "canonical");
    r->propagate_virtual = resolve_list_has(p->propagate_unmatched_extensions, "virtual");
    r->expansion_limit =
        p->virtual_alias_expansion_limit > 0 ? p->virtual_alias_expansion_limit : 1000;
    r->recursion_limit =
        p->virtual_alias_recursion_limit > 0 ? p->virtual_alias_recursion_limit : 1000;
    if (*r->local_transport == '\0')
        r->local_transport = (mem_free(r->local_transport), mem_strdup("local"));
    if (*r->relay_transport == '\0')
        r->relay_transport = (mem_free(r->relay_transport), mem_strdup("relay"));
    if (*r->default_transport == '\0')
        r->default_transport = (mem_free(r->default_transport), mem_strdup("smtp"));

    rc = domain_class_create(p->mydestination, p->relay_domains, p->own_addresses,
                             DOMAIN_LIST_STRICT, &r->domains, why_r);
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]) && rc == 0; i++)
        rc = resolve_maps_open(lists[i].m_r, lists[i].param, lists[i].value, why_r);
    if (rc < 0) {
        static char why[sizeof(r->why)];

        snprintf(why, sizeof(why), "%s", *why_r);
        *why_r = why;
        resolver_free(&r);
        return NULL;
    }
    return r;
}

/* The resolver with main.cf's values. */
struct resolver *resolver_create_from_config(const char **why_r)
{
    char *own = domain_class_own_addresses();
    struct resolver *r;
    struct resolve_params p = {
        .myhostname = config_str("myhostname"),
        .mydomain = config_str("mydomain"),
        .myorigin = config_str("myorigin"),
        .mydestination = config_str("mydestination"),
        .relay_domains = config_str("relay_domains"),
        .relayhost = config_str("relayhost"),
        .recipient_delimiter = config_str("recipient_delimiter"),
        .canonical_maps = config_str("canonical_maps"),
        .sender_canonical_maps = config_str("sender_canonical_maps"),
        .recipient_canonical_maps = config_str("recipient_canonical_maps"),
        .virtual_alias_maps = config_str("virtual_alias_maps"),
        .transport_maps = config_str("transport_maps"),
        .local_transport = config_str("local_transport"),
        .relay_transport = config_str("relay_transport"),
        .default_transport = config_str("default_transport"),
        .propagate_unmatched_extensions = config_str("propagate_unmatched_extensions"),
        .append_at_myorigin = config_bool("append_at_myorigin"),
        .append_dot_mydomain = config_bool("append_dot_mydomain"),
        .virtual_alias_expansion_limit = (int)config_int("virtual_alias_expansion_limit"),
        .virtual_alias_recursion_limit = (int)config_int("virtual_alias_recursion_limit"),
        .own_addresses = own,
    };

    r = resolver_create(&p, why_r);
    mem_free(own);
    return r;
}

/* Close the tables and free the resolver. */
void resolver_free(struct resolver **rp)
{
    struct resolver *r = *rp;

    if (r == NULL)
        return;
    domain_class_free(&r->domains);
    maps_free(&r->canonical);
    maps_free(&r->sender_canonical);
    maps_free(&r->recipient_canonical);
    maps_free(&r->virtual_alias);
    maps_free(&r->transport);
    mem_free(r->myhostname);
    mem_free(r->mydomain);
    mem_free(r->myorigin);
    mem_free(r->relayhost);
    mem_free(r->delimiters);
    mem_free(r->local_transport);
    mem_free(r->relay_transport);
    mem_free(r->default_transport);
    mem_free(r);
    *rp = NULL;
}

/* Re-open tables that postmap replaced. */
int resolver_refresh(struct resolver *r, const char **why_r)
{
    if (domain_class_refresh(r->domains, why_r) < 0 || maps_refresh(r->canonical, why_r) < 0 ||
        maps_refresh(r->sender_canonical, why_r) < 0 ||
        maps_refresh(r->recipient_canonical, why_r) < 0 ||
        maps_refresh(r->virtual_alias, why_r) < 0 || maps_refresh(r->transport, why_r) < 0)
        return -1;
    return 0;
}
