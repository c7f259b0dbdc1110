/*
 * dns - DNS lookups for mail: MX, A, AAAA, CNAME, PTR and TXT records
 * through glibc's resolver (res_nmkquery + res_nsend, answers taken apart
 * with ns_initparse/ns_parserr), with the outcomes that mail routing needs
 * kept apart: found, no such name, no record of that type, and "try again".
 *
 * Resolver settings come from /etc/resolv.conf, read again for every
 * lookup (res_ninit), so a changed file (or one bind-mounted over it by a
 * test) applies to the next lookup without a restart. Names are looked up
 * as given (no search list: mail domains are fully qualified).
 *
 * CNAMEs are followed (at most DNS_CNAME_MAX links), inside one answer and
 * by asking again for the canonical name when an answer holds only the
 * chain; the records returned belong to the end of the chain and
 * answer->canon names it. Records whose owner is not on the chain are
 * ignored.
 *
 * Security: answers come from the network. Every length is checked against
 * the packet (ns_initparse/ns_parserr/dn_expand), the question must be the
 * one asked, names in the data must be valid host names (MX, CNAME, PTR;
 * others are skipped with a warning), and the number of records kept is
 * bounded (DNS_RR_MAX).
 */
#ifndef POSTEL_MAIL_DNS_H
#define POSTEL_MAIL_DNS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util/buf.h"

/* Lookup outcomes. */
#define DNS_OK 0       /* records found: answer->count >= 1 */
#define DNS_NODATA 1   /* the name exists, no record of the type (or Null MX tested apart) */
#define DNS_NOTFOUND 2 /* no such name (NXDOMAIN) */
#define DNS_BADNAME 3  /* the name asked for is not a valid domain name */
#define DNS_RETRY (-1) /* temporary: SERVFAIL, REFUSED, timeout, malformed or truncated reply */

/* Record types (the values of RFC 1035 and RFC 3596). */
#define DNS_T_A 1
#define DNS_T_CNAME 5
#define DNS_T_PTR 12
#define DNS_T_MX 15
#define DNS_T_TXT 16
#define DNS_T_AAAA 28

#define DNS_NAME_MAX 253 /* characters in a domain name, without the final dot */
#define DNS_LABEL_MAX 63 /* characters in one label */
#define DNS_CNAME_MAX 10 /* CNAME links followed */
#define DNS_RR_MAX 100   /* records kept from one answer */
#define DNS_TXT_MAX 4096 /* bytes of one TXT record (its strings joined) */

/* One record of the answer. */
struct dns_rr {
    int type; /* DNS_T_* */
    unsigned ttl;
    unsigned pref; /* MX preference */
    char *data;    /* MX exchange ("" = the root: Null MX), CNAME/PTR target, TXT text */
    int family;    /* A: AF_INET, AAAA: AF_INET6, else 0 */
    unsigned char addr[16];
};

struct dns_answer {
    char *qname; /* the name asked for (lower case, no final dot) */
    int qtype;
    char *canon; /* the end of the CNAME chain (= qname without CNAMEs) */
    size_t count;
    struct dns_rr *rrs;
};

/*
 * Look up name's records of type. DNS_OK with *answer_r (caller frees),
 * or another outcome with *answer_r = NULL and a one-line reason in why
 * (replaced) such as "Host not found, try again".
 */
int dns_lookup(const char *name, int type, struct dns_answer **answer_r, struct buf *why);

/*
 * Take a reply packet apart (the pure part of dns_lookup, for tests).
 * qname/qtype are the question that was asked. DNS_OK with *answer_r;
 * DNS_NODATA also gives *answer_r (count 0, canon set: the caller may ask
 * again for canon when it differs from qname); other outcomes set *answer_r
 * to NULL. *why_r explains every outcome but DNS_OK.
 */
int dns_parse_reply(const unsigned char *pkt, size_t len, const char *qname, int qtype,
                    struct dns_answer **answer_r, const char **why_r);

void dns_answer_free(struct dns_answer **ap);

/*
 * MX records in the order to try them: by preference, and in random order
 * among equal preferences (RFC 5321 section 5.1). rnd(ctx) returns a
 * random number; NULL uses random().
 */
void dns_mx_sort(struct dns_answer *a, unsigned long (*rnd)(void *ctx), void *ctx);

/* True for a Null MX (RFC 7505): one MX record, its exchange the root. */
bool dns_mx_is_null(const struct dns_answer *a);

/* True when name is a valid host name: labels of letters, digits, '-' and '_'. */
bool dns_name_valid(const char *name);

/* "A", "AAAA", "MX", ... or "TYPE<n>". */
const char *dns_type_name(int type);

/* The address of an A/AAAA record as text (buf of at least 46 bytes). */
const char *dns_rr_addr_text(const struct dns_rr *rr, char *buf, size_t size);

#endif
