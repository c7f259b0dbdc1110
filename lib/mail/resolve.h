/*
 * resolve - the address resolver (the router): every envelope address
 * that qmgr delivers passes through here (DESIGN.md section 3).
 *
 * Three steps, as Postfix's cleanup(8) and trivial-rewrite(8) do them:
 *
 * 1. Rewrite (resolve_rewrite): a bare name "joe" gets "@$myorigin"
 *    (append_at_myorigin), "joe@host" gets ".$mydomain"
 *    (append_dot_mydomain, off by default), then canonical(5) mapping:
 *    sender_canonical_maps or recipient_canonical_maps, then
 *    canonical_maps. Each map is applied until the address stops changing
 *    (at most RESOLVE_CANONICAL_MAX rounds).
 *
 * 2. Virtual alias expansion (resolve_virtual, recipients only):
 *    virtual_alias_maps turns one address into one or more; each result is
 *    expanded again (virtual_alias_recursion_limit deep, at most
 *    virtual_alias_expansion_limit addresses in all). An address that
 *    appears in its own expansion is delivered as it is (the loop guard:
 *    "joe@x -> joe@x, archive@y" keeps joe@x).
 *
 *    Lookup order for canonical and virtual tables (canonical(5),
 *    virtual(5)), keys folded to lower case; with recipient_delimiter
 *    "+", for user+ext@domain:
 *        user+ext@domain, user@domain       the whole address
 *        user+ext, user                     only when domain is $myorigin
 *                                           or in $mydestination
 *        @domain                            the whole domain
 *    A result "@otherdomain" keeps the local part. When the match was on
 *    a key without the extension and propagate_unmatched_extensions names
 *    the map class, the extension is put back into the result.
 *
 * 3. Route (resolve_route): the transport decision, in this order:
 *    transport_maps (lookups: user+ext@domain, user@domain, domain, then
 *    ".parent" for each parent domain, then "*"); otherwise by the
 *    domain's class:
 *        $mydestination, or an address     local_transport, mailbox = the
 *        literal of this host ([192.0.2.1]) local part without extension
 *        $relay_domains (and subdomains)   relay_transport
 *        anything else                     default_transport
 *    A transport_maps result is "transport:nexthop": an empty transport
 *    keeps the class's transport, an empty nexthop keeps the class's
 *    nexthop. For relay and default the nexthop is $relayhost when set,
 *    else the domain; a nexthop inside local_transport, relay_transport or
 *    default_transport ("smtp:[mx.example]:587") overrides both.
 *    "error:text" makes the address bounce with text, "discard:text" drops
 *    it as delivered.
 *
 * Local aliases (alias_maps), .forward, :include:, |command and /file are
 * NOT expanded here: the local delivery agent does that as Postfix's
 * local(8) does, so that commands and files run with the rights of the
 * alias owner or the user and .forward is read as that user.
 *
 * Errors: a table that cannot be read, a recursion or expansion beyond the
 * limits, an address longer than RESOLVE_ADDR_MAX: all are temporary
 * (-1 with *why_r; the caller defers, never bounces).
 */
#ifndef POSTEL_MAIL_RESOLVE_H
#define POSTEL_MAIL_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util/argv.h"
#include "lib/util/buf.h"

#define RESOLVE_ADDR_MAX 4096    /* bytes in one address */
#define RESOLVE_CANONICAL_MAX 10 /* rounds of one canonical map */

/* The parameters the resolver uses; NULL strings mean empty. */
struct resolve_params {
    const char *myhostname;
    const char *mydomain;
    const char *myorigin;
    const char *mydestination; /* list; items may be type:table */
    const char *own_addresses; /* list: this host's IP addresses (literals) */
    const char *relay_domains; /* list; items may be type:table */
    const char *relayhost;
    const char *recipient_delimiter; /* any one of these characters */
    const char *canonical_maps;      /* lists of type:table */
    const char *sender_canonical_maps;
    const char *recipient_canonical_maps;
    const char *virtual_alias_maps;
    const char *transport_maps;
    const char *local_transport;                /* "local:$myhostname" */
    const char *relay_transport;                /* "relay" */
    const char *default_transport;              /* "smtp" */
    const char *propagate_unmatched_extensions; /* "canonical, virtual" */
    bool append_at_myorigin;
    bool append_dot_mydomain;
    int virtual_alias_expansion_limit;
    int virtual_alias_recursion_limit;
};

/* Which envelope address is being rewritten. */
enum resolve_who { RESOLVE_SENDER, RESOLVE_RECIPIENT };

/* The class of a destination domain. */
enum resolve_class {
    RESOLVE_CLASS_LOCAL,   /* mydestination */
    RESOLVE_CLASS_RELAY,   /* relay_domains */
    RESOLVE_CLASS_DEFAULT, /* everything else */
};

/* Where one address goes. Strings belong to the struct (resolve_route_clear). */
struct resolve_route {
    enum resolve_class class;
    char *transport; /* master.cf service: "local", "smtp", "error", "discard", ... */
    char *nexthop;   /* transport-specific; for error/discard the text */
    char *mailbox;   /* local class: lower-case local part without extension; else "" */
    char *domain;    /* lower-case domain of the address ("" for none) */
    bool local;      /* transport is local_transport's (one logical queue per mailbox) */
};

struct resolver;

/*
 * Open the tables and keep a copy of the parameters. NULL with *why_r when
 * a table cannot be opened (the caller retries later: temporary).
 */
struct resolver *resolver_create(const struct resolve_params *params, const char **why_r);
/*
 * The same with the values of main.cf (mail_conf.h); own_addresses are the
 * addresses of the interfaces, of inet_interfaces, and the loopbacks.
 */
struct resolver *resolver_create_from_config(const char **why_r);
void resolver_free(struct resolver **rp);
/*
 * Re-open tables that postmap replaced, now rather than at their next
 * lookup. 0, or -1 with *why_r (lookups that reach that table fail, as
 * temporary errors, until it opens).
 */
int resolver_refresh(struct resolver *r, const char **why_r);

/*
 * Step 1: myorigin/mydomain and canonical rewriting of addr into out
 * (replaced). 0, or -1 with *why_r (temporary). "" (the null sender) stays "".
 */
int resolve_rewrite(struct resolver *r, enum resolve_who who, const char *addr, struct buf *out,
                    const char **why_r);

/*
 * Step 2: virtual alias expansion of a rewritten recipient. Appends the
 * final addresses to out (at least one; without a match, addr itself).
 * 0, or -1 with *why_r (temporary: table error or limits exceeded).
 */
int resolve_virtual(struct resolver *r, const char *addr, struct argv *out, const char **why_r);

/* Steps 1 and 2 for a recipient: the final addresses. 0, or -1 with *why_r. */
int resolve_recipient(struct resolver *r, const char *addr, struct argv *out, const char **why_r);

/* Step 3: the transport decision. 0 with *route filled, or -1 with *why_r. */
int resolve_route(struct resolver *r, const char *addr, struct resolve_route *route,
                  const char **why_r);
void resolve_route_clear(struct resolve_route *route);

/*
 * 1 when domain (any case) is in mydestination or is an address literal of
 * this host, 0 when not, -1 on table error.
 */
int resolve_domain_is_local(struct resolver *r, const char *domain, const char **why_r);

/*
 * Split an address at its last '@' outside quotes: *local_r (may be empty)
 * and *domain_r ("" without '@'), both allocated.
 */
void resolve_split(const char *addr, char **local_r, char **domain_r);

/* "local", "relay", "default". */
const char *resolve_class_name(enum resolve_class class);

#endif
