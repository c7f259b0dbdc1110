/*
 * smtp_addr - the server addresses to try for a next hop, in order
 * (RFC 5321 section 5.1, RFC 7505):
 *
 *   [192.0.2.1]        the address itself
 *   [host]             host's addresses (no MX lookup)
 *   domain, host:port  the MX hosts by preference, random order among
 *                      equal preferences; each MX host's addresses; without
 *                      MX records the domain's own addresses (implicit MX);
 *                      a Null MX bounces (5.1.10)
 *
 * Addresses: A and AAAA as inet_protocols allows, in the order of
 * smtp_address_preference (any: random), looked up in DNS or through the
 * system resolver (smtp_host_lookup). At most smtp_mx_address_limit.
 *
 * Backup MX: when this host is one of the exchangers (its name is
 * myhostname, or one of its addresses is ours: inet_interfaces, or every
 * interface address with "all"), only the exchangers with a better
 * preference are used; when there are none, the mail loops: bounced with
 * "5.4.6 mail for DOMAIN loops back to myself".
 *
 * Errors: no such domain bounces (5.4.4 "Host or domain name not found");
 * a temporary DNS failure defers (4.4.3) unless another address works.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/mail/dns.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"
#include "smtp/smtp.h"

struct smtp_self {
    char *myhostname;
    struct sockaddr_storage *addrs;
    size_t count;
};

/* ------------------------------------------------------------ address lists */

/* Free a list. */
void smtp_addr_list_free(struct smtp_addr_list **lp)
{
    struct smtp_addr_list *l = *lp;

    if (l == NULL)
        return;
    for (size_t i = 0; i < l->count; i++)
        mem_free(l->v[i].host);
    mem_free(l->v);
    mem_free(l);
    *lp = NULL;
}

/* Append an address (port 0; the session sets it). */
void smtp_addr_list_add(struct smtp_addr_list *l, const char *host, unsigned pref,
                        const struct sockaddr *sa, socklen_t salen)
{
    struct smtp_addr *a;

    l->v = mem_realloc_array(l->v, l->count + 1, sizeof(*l->v));
    a = &l->v[l->count++];
    memset(a, 0, sizeof(*a));
    a->host = mem_strdup(host);
    a->pref = pref;
    memcpy(&a->sa, sa, salen);
    a->salen = salen;
    if (sock_addr_text(sa, salen, a->addr, sizeof(a->addr), NULL) < 0)
        snprintf(a->addr, sizeof(a->addr), "?");
}

/* Shuffle entries [from, to) of the list. */
static void smtp_addr_shuffle(struct smtp_addr_list *l, size_t from, size_t to)
{
    for (size_t i = to; i > from + 1; i--) {
        size_t j = from + (size_t)random() % (i - from);
        struct smtp_addr t = l->v[i - 1];

        l->v[i - 1] = l->v[j];
        l->v[j] = t;
    }
}

/* ------------------------------------------------------------ this host */

/* Add one address. */
static void smtp_self_add(struct smtp_self *self, const struct sockaddr *sa, socklen_t salen)
{
    self->addrs = mem_realloc_array(self->addrs, self->count + 1, sizeof(*self->addrs));
    memset(&self->addrs[self->count], 0, sizeof(self->addrs[0]));
    memcpy(&self->addrs[self->count++], sa, salen);
}

/* Add the addresses of a name or address text. */
static void smtp_self_add_text(struct smtp_self *self, const char *text)
{
    struct addrinfo hints, *res = NULL;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(text, NULL, &hints, &res) != 0) {
        msg_warn("inet_interfaces: cannot find the addresses of \"%.100s\"; mail loops to it "
                 "are not recognised by address",
                 text);
        return;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
        smtp_self_add(self, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(res);
}

/* This host's names and addresses. */
struct smtp_self *smtp_self_create(const char *myhostname, const struct argv *inet_interfaces)
{
    struct smtp_self *self = mem_alloc(sizeof(*self));
    struct ifaddrs *ifa = NULL;

    self->myhostname = mem_strdup(myhostname);
    for (size_t i = 0; inet_interfaces != NULL && i < inet_interfaces->argc; i++) {
        const char *item = inet_interfaces->argv[i];

        if (str_eq_icase(item, "all")) {
            if (getifaddrs(&ifa) < 0) {
                msg_warn("getifaddrs: %m");
                continue;
            }
            for (struct ifaddrs *p = ifa; p != NULL; p = p->ifa_next) {
                if (p->ifa_addr == NULL)
                    continue;
                if (p->ifa_addr->sa_family == AF_INET)
                    smtp_self_add(self, p->ifa_addr, sizeof(struct sockaddr_in));
                else if (p->ifa_addr->sa_family == AF_INET6)
                    smtp_self_add(self, p->ifa_addr, sizeof(struct sockaddr_in6));
            }
            freeifaddrs(ifa);
        } else if (str_eq_icase(item, "loopback-only")) {
            smtp_self_add_text(self, "127.0.0.1");
            smtp_self_add_text(self, "::1");
        } else {
            smtp_self_add_text(self, item);
        }
    }
    return self;
}

/* A fixed list (tests). */
struct smtp_self *smtp_self_create_fixed(const char *myhostname, const char *const *addrs)
{
    struct smtp_self *self = mem_alloc(sizeof(*self));

    self->myhostname = mem_strdup(myhostname);
    for (size_t i = 0; addrs != NULL && addrs[i] != NULL; i++)
        smtp_self_add_text(self, addrs[i]);
    return self;
}

/* Free this host's list. */
void smtp_self_free(struct smtp_self **sp)
{
    struct smtp_self *self = *sp;

    if (self == NULL)
        return;
    mem_free(self->myhostname);
    mem_free(self->addrs);
    mem_free(self);
    *sp = NULL;
}

/* True when name is this host's name. */
bool smtp_self_is_name(const struct smtp_self *self, const char *name)
{
    size_t len = strlen(name);

    if (len > 0 && name[len - 1] == '.')
        len--;
    return strlen(self->myhostname) == len && str_ncmp_icase(self->myhostname, name, len) == 0;
}

/* The raw address bytes of sa (IPv4-mapped IPv6 as IPv4); family or 0. */
static int smtp_sa_bytes(const struct sockaddr *sa, unsigned char *out)
{
    if (sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(out, &a6->s6_addr[12], 4);
            return AF_INET;
        }
        memcpy(out, a6, 16);
        return AF_INET6;
    }
    return 0;
}

/* True when sa is one of this host's addresses. */
bool smtp_self_is_addr(const struct smtp_self *self, const struct sockaddr *sa)
{
    unsigned char a[16], b[16];
    int fa = smtp_sa_bytes(sa, a);

    if (fa == 0)
        return false;
    for (size_t i = 0; i < self->count; i++)
        if (smtp_sa_bytes((const struct sockaddr *)&self->addrs[i], b) == fa &&
            memcmp(a, b, fa == AF_INET ? 4 : 16) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------ lookups */

/* What went wrong while looking up addresses (the worst, and the first text of it). */
struct smtp_lookup_err {
    bool temporary;
    bool any;
    struct buf *text;
};

/* Remember a failed lookup. */
static void smtp_lookup_fail(struct smtp_lookup_err *e, bool temporary, const char *name,
                             const char *type, const char *reason)
{
    if (e->any && (e->temporary || !temporary))
        return;
    e->any = true;
    e->temporary = temporary;
    buf_reset(e->text);
    buf_printf(e->text, "Host or domain name not found. Name service error for name=%s type=%s: %s",
               name, type, reason);
}

/* Append host's addresses of one family from DNS. */
static void smtp_dns_addrs(const char *host, unsigned pref, int type, struct smtp_addr_list *l,
                           struct smtp_lookup_err *err)
{
    struct dns_answer *a = NULL;
    struct buf *why = buf_create(64);
    int rc = dns_lookup(host, type, &a, why);

    if (rc == DNS_OK) {
        for (size_t i = 0; i < a->count; i++) {
            struct sockaddr_storage ss;
            socklen_t len;

            memset(&ss, 0, sizeof(ss));
            if (a->rrs[i].family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

                sin->sin_family = AF_INET;
                memcpy(&sin->sin_addr, a->rrs[i].addr, 4);
                len = sizeof(*sin);
            } else {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

                sin6->sin6_family = AF_INET6;
                memcpy(&sin6->sin6_addr, a->rrs[i].addr, 16);
                len = sizeof(*sin6);
            }
            smtp_addr_list_add(l, host, pref, (struct sockaddr *)&ss, len);
        }
    } else {
        smtp_lookup_fail(err, rc == DNS_RETRY, host, dns_type_name(type), buf_str(why));
    }
    dns_answer_free(&a);
    buf_free(&why);
}

/* Append host's addresses from the system resolver. */
static void smtp_native_addrs(const struct smtp_settings *set, const char *host, unsigned pref,
                              struct smtp_addr_list *l, struct smtp_lookup_err *err)
{
    struct addrinfo hints, *res = NULL;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = set->use_ipv4 && set->use_ipv6 ? AF_UNSPEC
                      : set->use_ipv4                ? AF_INET
                                                     : AF_INET6;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        smtp_lookup_fail(err, rc == EAI_AGAIN || rc == EAI_SYSTEM || rc == EAI_MEMORY, host, "A",
                         rc == EAI_AGAIN ? "Host not found, try again" : gai_strerror(rc));
        return;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
        if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
            smtp_addr_list_add(l, host, pref, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(res);
}

/* Append host's addresses in the preferred order. */
static void smtp_host_addrs(const struct smtp_settings *set, const char *host, unsigned pref,
                            struct smtp_addr_list *l, struct smtp_lookup_err *err)
{
    size_t start = l->count, mid;

    if (set->host_lookup & SMTP_LOOKUP_DNS) {
        bool v6_first = set->address_pref == SMTP_PREF_IPV6;

        if (v6_first ? set->use_ipv6 : set->use_ipv4)
            smtp_dns_addrs(host, pref, v6_first ? DNS_T_AAAA : DNS_T_A, l, err);
        mid = l->count;
        if (v6_first ? set->use_ipv4 : set->use_ipv6)
            smtp_dns_addrs(host, pref, v6_first ? DNS_T_A : DNS_T_AAAA, l, err);
        if (set->address_pref == SMTP_PREF_ANY) {
            smtp_addr_shuffle(l, start, l->count);
        } else {
            smtp_addr_shuffle(l, start, mid);
            smtp_addr_shuffle(l, mid, l->count);
        }
    }
    if (l->count == start && (set->host_lookup & SMTP_LOOKUP_NATIVE)) {
        smtp_native_addrs(set, host, pref, l, err);
        if (set->address_pref != SMTP_PREF_ANY) {
            /* Stable partition: the preferred family first. */
            int first = set->address_pref == SMTP_PREF_IPV6 ? AF_INET6 : AF_INET;
            size_t w = start;

            for (size_t i = start; i < l->count; i++)
                if (l->v[i].sa.ss_family == first) {
                    struct smtp_addr t = l->v[i];

                    memmove(&l->v[w + 1], &l->v[w], (i - w) * sizeof(l->v[0]));
                    l->v[w++] = t;
                }
        }
    }
}

/* Drop entries [from, count). */
static void smtp_addr_list_cut(struct smtp_addr_list *l, size_t from)
{
    for (size_t i = from; i < l->count; i++)
        mem_free(l->v[i].host);
    if (from < l->count)
        l->count = from;
}

/* The backup-MX rule. */
int smtp_addr_trim_self(struct smtp_addr_list *l, const struct smtp_self *self, const char *domain,
                        struct smtp_outcome *o)
{
    bool found = false;
    unsigned best = 0;
    size_t w = 0;

    for (size_t i = 0; i < l->count; i++) {
        const struct smtp_addr *a = &l->v[i];

        if (smtp_self_is_name(self, a->host) ||
            smtp_self_is_addr(self, (const struct sockaddr *)&a->sa))
            if (!found || a->pref < best) {
                best = a->pref;
                found = true;
            }
    }
    if (!found)
        return 0;
    for (size_t i = 0; i < l->count; i++) {
        if (l->v[i].pref < best)
            l->v[w++] = l->v[i];
        else
            mem_free(l->v[i].host);
    }
    l->count = w;
    if (w == 0) {
        smtp_outcome_set(o, DELIVER_BOUNCED, "5.4.6", "mail for %s loops back to myself", domain);
        return -1;
    }
    return 0;
}

/* The outcome of a failed lookup. */
static void smtp_lookup_outcome(const struct smtp_lookup_err *e, struct smtp_outcome *o)
{
    if (e->temporary)
        smtp_outcome_set(o, DELIVER_DEFERRED, "4.4.3", "%s", buf_str(e->text));
    else
        smtp_outcome_set(o, DELIVER_BOUNCED, "5.4.4", "%s", buf_str(e->text));
}

/* The addresses to try for a next hop. */
int smtp_addr_find(const struct smtp_settings *set, const struct smtp_self *self,
                   const struct smtp_nexthop *nh, struct smtp_addr_list **list_r,
                   struct smtp_outcome *o)
{
    struct smtp_addr_list *l = mem_alloc(sizeof(*l));
    struct smtp_lookup_err err = {.text = buf_create(128)};
    int ret = -1;

    *list_r = NULL;
    if (nh->literal) {
        struct addrinfo hints, *res = NULL;

        memset(&hints, 0, sizeof(hints));
        hints.ai_flags = AI_NUMERICHOST;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(nh->host, NULL, &hints, &res) != 0 || res == NULL) {
            smtp_outcome_set(o, DELIVER_DEFERRED, "4.4.3", "bad address literal [%s]", nh->host);
            goto done;
        }
        smtp_addr_list_add(l, nh->host, 0, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
    } else if (nh->mx && (set->host_lookup & SMTP_LOOKUP_DNS)) {
        struct dns_answer *mx = NULL;
        struct buf *why = buf_create(64);
        int rc = dns_lookup(nh->host, DNS_T_MX, &mx, why);

        if (rc == DNS_OK && dns_mx_is_null(mx)) {
            smtp_outcome_set(o, DELIVER_BOUNCED, "5.1.10",
                             "Host or domain name %s does not accept mail (nullMX)", nh->host);
            dns_answer_free(&mx);
            buf_free(&why);
            goto done;
        }
        if (rc == DNS_OK) {
            dns_mx_sort(mx, NULL, NULL);
            for (size_t i = 0; i < mx->count; i++)
                if (mx->rrs[i].data[0] != 0)
                    smtp_host_addrs(set, mx->rrs[i].data, mx->rrs[i].pref, l, &err);
        } else if (rc == DNS_NODATA) {
            /* No MX records: the domain itself, as if MX 0 (RFC 5321 section 5.1). */
            smtp_host_addrs(set, nh->host, 0, l, &err);
        } else {
            smtp_lookup_fail(&err, rc == DNS_RETRY, nh->host, "MX", buf_str(why));
        }
        dns_answer_free(&mx);
        buf_free(&why);
        if (l->count == 0 && !err.any)
            smtp_lookup_fail(&err, false, nh->host, "MX", "no valid mail exchanger");
        if (l->count == 0) {
            smtp_lookup_outcome(&err, o);
            goto done;
        }
        if (smtp_addr_trim_self(l, self, nh->host, o) < 0)
            goto done;
    } else {
        smtp_host_addrs(set, nh->host, 0, l, &err);
        if (l->count == 0) {
            smtp_lookup_outcome(&err, o);
            goto done;
        }
    }
    if (set->mx_address_limit > 0 && l->count > (size_t)set->mx_address_limit)
        smtp_addr_list_cut(l, (size_t)set->mx_address_limit);
    for (size_t i = 0; i < l->count; i++) {
        struct sockaddr *sa = (struct sockaddr *)&l->v[i].sa;

        l->v[i].port = nh->port;
        if (sa->sa_family == AF_INET)
            ((struct sockaddr_in *)sa)->sin_port = htons((unsigned short)nh->port);
        else
            ((struct sockaddr_in6 *)sa)->sin6_port = htons((unsigned short)nh->port);
    }
    *list_r = l;
    l = NULL;
    ret = 0;

done:
    smtp_addr_list_free(&l);
    buf_free(&err.text);
    return ret;
}
