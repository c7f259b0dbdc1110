/*
 * domain_class - local, relay or other: the class of a destination domain
 * for smtpd and the resolver (see domain_class.h).
 *
 * Owns the mydestination and relay_domains lists (domain_list.h) and the
 * canonical text of this host's addresses.
 *
 * Security: this decides what anyone may relay through this host (smtpd)
 * and where mail goes (qmgr), so both must read it the same way; a table
 * error is returned as an error, never as "not local" or "not relay".
 */
#include "config.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/domain_class.h"
#include "lib/mail/domain_list.h"
#include "lib/mail/mynetworks.h"
#include "lib/mail/param.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/sock.h"

struct domain_class {
    struct domain_list *mydestination;
    struct domain_list *relay_domains;
    struct argv *own_addrs; /* canonical text of this host's addresses */
};

/* Build the classifier; -1 with *why_r. */
int domain_class_create(const char *mydestination, const char *relay_domains,
                        const char *own_addresses, int flags, struct domain_class **dc_r,
                        const char **why_r)
{
    struct domain_class *dc = mem_alloc(sizeof(*dc));
    struct argv *items = param_list_split(own_addresses ? own_addresses : "");

    flags &= DOMAIN_LIST_STRICT;
    dc->own_addrs = argv_create(8);
    for (size_t i = 0; i < items->argc; i++) {
        char canon[SOCK_ADDR_MAX];

        if (mynetworks_normalize_addr(items->argv[i], canon, sizeof(canon)) == 0)
            argv_add(dc->own_addrs, canon);
    }
    argv_free(&items);
    *dc_r = NULL;
    if (domain_list_create("mydestination", mydestination ? mydestination : "", flags,
                           &dc->mydestination, why_r) < 0 ||
        domain_list_create("relay_domains", relay_domains ? relay_domains : "",
                           flags | DOMAIN_LIST_PARENT, &dc->relay_domains, why_r) < 0) {
        domain_class_free(&dc);
        return -1;
    }
    *dc_r = dc;
    return 0;
}

/* This host's addresses: loopbacks, interfaces, inet_interfaces (as a list). */
char *domain_class_own_addresses(void)
{
    struct buf *b = buf_create(128);
    struct ifaddrs *ifs = NULL;
    struct argv *items;

    buf_puts(b, "127.0.0.1 ::1");
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *ifa = ifs; ifa != NULL; ifa = ifa->ifa_next) {
            char text[SOCK_ADDR_MAX];
            socklen_t len;

            if (ifa->ifa_addr == NULL)
                continue;
            if (ifa->ifa_addr->sa_family == AF_INET)
                len = sizeof(struct sockaddr_in);
            else if (ifa->ifa_addr->sa_family == AF_INET6)
                len = sizeof(struct sockaddr_in6);
            else
                continue;
            if (sock_addr_text(ifa->ifa_addr, len, text, sizeof(text), NULL) == 0)
                buf_printf(b, " %s", text);
        }
        freeifaddrs(ifs);
    }
    items = config_list("inet_interfaces");
    for (size_t i = 0; i < items->argc; i++)
        buf_printf(b, " %s", items->argv[i]);
    argv_free(&items);
    return buf_export(&b);
}

/* The classifier with main.cf's values. */
int domain_class_create_from_config(int flags, struct domain_class **dc_r, const char **why_r)
{
    char *own = domain_class_own_addresses();
    int rc = domain_class_create(config_str("mydestination"), config_str("relay_domains"), own,
                                 flags, dc_r, why_r);

    mem_free(own);
    return rc;
}

/* Free the classifier; clear the caller's pointer. */
void domain_class_free(struct domain_class **dcp)
{
    struct domain_class *dc = *dcp;

    if (dc == NULL)
        return;
    domain_list_free(&dc->mydestination);
    domain_list_free(&dc->relay_domains);
    argv_free(&dc->own_addrs);
    mem_free(dc);
    *dcp = NULL;
}

/* True when domain is an address literal of this host. */
static bool domain_class_own_literal(const struct domain_class *dc, const char *domain)
{
    char canon[SOCK_ADDR_MAX];

    if (domain[0] != '[' || mynetworks_normalize_addr(domain, canon, sizeof(canon)) < 0)
        return false;
    for (size_t i = 0; i < dc->own_addrs->argc; i++)
        if (strcmp(dc->own_addrs->argv[i], canon) == 0)
            return true;
    return false;
}

/* 1 when domain is in mydestination or an address literal of this host, 0, -1. */
int domain_class_is_local(struct domain_class *dc, const char *domain, const char **why_r)
{
    int r = domain_list_match(dc->mydestination, domain, why_r);

    if (r == 0 && domain_class_own_literal(dc, domain))
        r = 1;
    return r;
}

/* DOMAIN_CLASS_LOCAL, _RELAY, _OTHER, or -1 with *why_r. */
int domain_class_find(struct domain_class *dc, const char *domain, const char **why_r)
{
    int r;

    if ((r = domain_class_is_local(dc, domain, why_r)) != 0)
        return r < 0 ? -1 : DOMAIN_CLASS_LOCAL;
    if ((r = domain_list_match(dc->relay_domains, domain, why_r)) != 0)
        return r < 0 ? -1 : DOMAIN_CLASS_RELAY;
    return DOMAIN_CLASS_OTHER;
}

/* Re-open rebuilt tables and retry failed ones now. */
int domain_class_refresh(struct domain_class *dc, const char **why_r)
{
    if (domain_list_refresh(dc->mydestination, why_r) < 0 ||
        domain_list_refresh(dc->relay_domains, why_r) < 0)
        return -1;
    return 0;
}
