/*
 * dns - MX, A, AAAA, CNAME, PTR and TXT lookups through glibc's resolver,
 * with the outcomes kept apart that mail routing needs (see dns.h).
 *
 * Owns: the reply parser (dns_parse_reply), the CNAME chase, MX ordering.
 * The resolver state lives only for one lookup: res_ninit reads
 * /etc/resolv.conf each time, so its current contents always apply.
 *
 * Why res_nmkquery + res_nsend rather than res_nquery: res_nquery turns
 * every non-NOERROR reply into -1 and h_errno, and a reply without records
 * into -1 as well; the reply code itself (NXDOMAIN bounces, SERVFAIL
 * defers) is what the caller needs, and taking it from the packet keeps
 * all decisions in one function that the unit tests drive with canned
 * packets. res_nsend still does the retries, the server rotation and the
 * TCP fallback after a truncated UDP reply.
 *
 * Security notes: the packet is hostile input. ns_initparse/ns_parserr
 * check every section against the packet end, dn_expand checks every
 * compressed name (pointer loops included); rdata lengths are checked per
 * type; names in record data must be valid host names; the question must
 * be the one asked; only records on the CNAME chain of the name asked for
 * are used; at most DNS_RR_MAX records are kept.
 */
#include "config.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "lib/mail/dns.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

#define DNS_PACKET_MAX 65536

/* "A", "AAAA", "MX", ... */
const char *dns_type_name(int type)
{
    static char other[16];

    switch (type) {
    case DNS_T_A:
        return "A";
    case DNS_T_AAAA:
        return "AAAA";
    case DNS_T_MX:
        return "MX";
    case DNS_T_CNAME:
        return "CNAME";
    case DNS_T_PTR:
        return "PTR";
    case DNS_T_TXT:
        return "TXT";
    }
    snprintf(other, sizeof(other), "TYPE%d", type);
    return other;
}

/* True when name is a valid host name (an optional final dot is allowed). */
bool dns_name_valid(const char *name)
{
    size_t len = strlen(name), label = 0;

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > DNS_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c == '.') {
            if (label == 0 || name[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!(isalnum(c) || c == '_' || (c == '-' && label > 0)))
            return false;
        if (++label > DNS_LABEL_MAX)
            return false;
    }
    return label > 0 && name[len - 1] != '-';
}

/* A copy of name in lower case without a final dot; "." (the root) becomes "". */
static char *dns_name_norm(const char *name)
{
    size_t len = strlen(name);
    char *copy;

    if (len > 0 && name[len - 1] == '.')
        len--;
    copy = mem_strndup(name, len);
    for (char *cp = copy; *cp; cp++)
        *cp = (char)tolower((unsigned char)*cp);
    return copy;
}

/* True when two names (any case, optional final dots) are the same. */
static bool dns_name_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la > 0 && a[la - 1] == '.')
        la--;
    if (lb > 0 && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* Free an answer. */
void dns_answer_free(struct dns_answer **ap)
{
    struct dns_answer *a = *ap;

    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++)
        mem_free(a->rrs[i].data);
    mem_free(a->rrs);
    mem_free(a->qname);
    mem_free(a->canon);
    mem_free(a);
    *ap = NULL;
}

/* Expand the compressed name at src inside the packet; its length, or -1. */
static int dns_expand(const ns_msg *h, const unsigned char *src, char *out, size_t size)
{
    int n = dn_expand(ns_msg_base(*h), ns_msg_end(*h), src, out, (int)size);

    if (n < 0)
        return -1;
    if (strcmp(out, ".") == 0)
        out[0] = 0;
    return n;
}

/*
 * Decode the rdata of one record of the type asked for into rr. 1 kept,
 * 0 skipped (an invalid name in the data), -1 malformed.
 */
static int dns_rdata(const ns_msg *h, const ns_rr *r, int type, struct dns_rr *rr)
{
    const unsigned char *rd = ns_rr_rdata(*r);
    size_t rdlen = ns_rr_rdlen(*r);
    char name[NS_MAXDNAME];
    struct buf *txt;
    int n;

    memset(rr, 0, sizeof(*rr));
    rr->type = type;
    rr->ttl = (unsigned)ns_rr_ttl(*r);
    switch (type) {
    case DNS_T_A:
        if (rdlen != 4)
            return -1;
        rr->family = AF_INET;
        memcpy(rr->addr, rd, 4);
        return 1;
    case DNS_T_AAAA:
        if (rdlen != 16)
            return -1;
        rr->family = AF_INET6;
        memcpy(rr->addr, rd, 16);
        return 1;
    case DNS_T_MX:
        if (rdlen < 3)
            return -1;
        rr->pref = ns_get16(rd);
        n = dns_expand(h, rd + 2, name, sizeof(name));
        if (n < 0 || (size_t)n != rdlen - 2)
            return -1;
        if (name[0] != 0 && !dns_name_valid(name)) {
            msg_warn("DNS: ignoring MX record with invalid exchange name \"%.100s\"", name);
            return 0;
        }
        rr->data = dns_name_norm(name);
        return 1;
    case DNS_T_CNAME:
    case DNS_T_PTR:
        n = dns_expand(h, rd, name, sizeof(name));
        if (n < 0 || (size_t)n != rdlen)
            return -1;
        if (!dns_name_valid(name)) {
            msg_warn("DNS: ignoring %s record with invalid name \"%.100s\"", dns_type_name(type),
                     name);
            return 0;
        }
        rr->data = dns_name_norm(name);
        return 1;
    case DNS_T_TXT:
        txt = buf_create(64);
        for (size_t off = 0; off < rdlen;) {
            size_t l = rd[off];

            if (off + 1 + l > rdlen || buf_len(txt) + l > DNS_TXT_MAX) {
                buf_free(&txt);
                return -1;
            }
            buf_append(txt, rd + off + 1, l);
            off += 1 + l;
        }
        if (memchr(buf_str(txt), 0, buf_len(txt)) != NULL) {
            buf_free(&txt);
            return 0;
        }
        rr->data = buf_export(&txt);
        return 1;
    }
    return 0;
}

/* The CNAME target of owner in the answer section, copied into out; 1, 0 none, -1 malformed. */
static int dns_cname_of(ns_msg *h, const char *owner, char *out, size_t size)
{
    int count = ns_msg_count(*h, ns_s_an);
    ns_rr r;

    for (int i = 0; i < count; i++) {
        if (ns_parserr(h, ns_s_an, i, &r) < 0)
            return -1;
        if (ns_rr_type(r) != ns_t_cname || ns_rr_class(r) != ns_c_in ||
            !dns_name_eq(ns_rr_name(r), owner))
            continue;
        int n = dns_expand(h, ns_rr_rdata(r), out, size);
        if (n < 0 || (size_t)n != ns_rr_rdlen(r) || !dns_name_valid(out))
            return -1;
        return 1;
    }
    return 0;
}

/* Take a reply packet apart. */
int dns_parse_reply(const unsigned char *pkt, size_t len, const char *qname, int qtype,
                    struct dns_answer **answer_r, const char **why_r)
{
    struct dns_answer *a;
    char canon[NS_MAXDNAME], next[NS_MAXDNAME];
    ns_msg h;
    ns_rr r;
    int rcode, count, links = 0;

    *answer_r = NULL;
    if (len < NS_HFIXEDSZ || len > DNS_PACKET_MAX || ns_initparse(pkt, (int)len, &h) < 0) {
        *why_r = "malformed DNS reply";
        return DNS_RETRY;
    }
    if (!ns_msg_getflag(h, ns_f_qr)) {
        *why_r = "malformed DNS reply (not a response)";
        return DNS_RETRY;
    }
    if (ns_msg_getflag(h, ns_f_tc)) {
        *why_r = "truncated DNS reply";
        return DNS_RETRY;
    }
    if (ns_msg_count(h, ns_s_qd) != 1 || ns_parserr(&h, ns_s_qd, 0, &r) < 0 ||
        !dns_name_eq(ns_rr_name(r), qname) || (int)ns_rr_type(r) != qtype ||
        ns_rr_class(r) != ns_c_in) {
        *why_r = "DNS reply does not match the question";
        return DNS_RETRY;
    }
    rcode = ns_msg_getflag(h, ns_f_rcode);
    switch (rcode) {
    case ns_r_noerror:
        break;
    case ns_r_nxdomain:
        *why_r = "Host not found";
        return DNS_NOTFOUND;
    case ns_r_servfail:
        *why_r = "Host not found, try again";
        return DNS_RETRY;
    default:
        *why_r = "Name server error, try again";
        return DNS_RETRY;
    }

    /* Follow the CNAME chain from the name asked for. */
    snprintf(canon, sizeof(canon), "%s", qname);
    if (qtype != DNS_T_CNAME) {
        for (;;) {
            int c = dns_cname_of(&h, canon, next, sizeof(next));

            if (c < 0) {
                *why_r = "malformed DNS reply";
                return DNS_RETRY;
            }
            if (c == 0)
                break;
            if (++links > DNS_CNAME_MAX) {
                *why_r = "CNAME chain too long or a CNAME loop";
                return DNS_RETRY;
            }
            snprintf(canon, sizeof(canon), "%s", next);
        }
    }

    a = mem_alloc(sizeof(*a));
    a->qname = dns_name_norm(qname);
    a->qtype = qtype;
    a->canon = dns_name_norm(canon);
    count = ns_msg_count(h, ns_s_an);
    for (int i = 0; i < count; i++) {
        struct dns_rr rr;
        int k;

        if (ns_parserr(&h, ns_s_an, i, &r) < 0) {
            dns_answer_free(&a);
            *why_r = "malformed DNS reply";
            return DNS_RETRY;
        }
        if ((int)ns_rr_type(r) != qtype || ns_rr_class(r) != ns_c_in ||
            !dns_name_eq(ns_rr_name(r), canon))
            continue;
        k = dns_rdata(&h, &r, qtype, &rr);
        if (k < 0) {
            dns_answer_free(&a);
            *why_r = "malformed DNS reply";
            return DNS_RETRY;
        }
        if (k == 0 || a->count >= DNS_RR_MAX) {
            mem_free(rr.data);
            continue;
        }
        a->rrs = mem_realloc_array(a->rrs, a->count + 1, sizeof(*a->rrs));
        a->rrs[a->count++] = rr;
    }
    if (a->count == 0) {
        *why_r = "Host found but no data record of requested type";
        *answer_r = a;
        return DNS_NODATA;
    }
    *answer_r = a;
    return DNS_OK;
}

/* One query and its reply. */
static int dns_query_once(res_state st, const char *name, int type, unsigned char *ans,
                          struct dns_answer **answer_r, struct buf *why)
{
    unsigned char query[NS_PACKETSZ];
    const char *reason;
    int qlen, alen, rc;

    qlen =
        res_nmkquery(st, ns_o_query, name, ns_c_in, type, NULL, 0, NULL, query, (int)sizeof(query));
    if (qlen < 0) {
        buf_set(why, "Invalid domain name");
        return DNS_BADNAME;
    }
    errno = 0;
    alen = res_nsend(st, query, qlen, ans, DNS_PACKET_MAX);
    if (alen < 0) {
        /* No server answered (timeout, refused, unreachable): temporary. */
        buf_set(why, "Host not found, try again");
        return DNS_RETRY;
    }
    rc = dns_parse_reply(ans, (size_t)alen, name, type, answer_r, &reason);
    if (rc != DNS_OK)
        buf_set(why, reason);
    return rc;
}

/* Look up name's records of type, following CNAMEs. */
int dns_lookup(const char *name, int type, struct dns_answer **answer_r, struct buf *why)
{
    struct __res_state st;
    unsigned char *ans;
    char *cur;
    int rc;

    *answer_r = NULL;
    if (!dns_name_valid(name)) {
        buf_set(why, "Invalid domain name");
        return DNS_BADNAME;
    }
    memset(&st, 0, sizeof(st));
    if (res_ninit(&st) < 0) {
        buf_set(why, "cannot initialize the resolver, try again");
        return DNS_RETRY;
    }
    /* Names are fully qualified: no search list, no local domain appended. */
    st.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
    ans = mem_alloc(DNS_PACKET_MAX);
    cur = mem_strdup(name);
    for (int hops = 0;; hops++) {
        struct dns_answer *a = NULL;

        rc = dns_query_once(&st, cur, type, ans, &a, why);
        /* An answer with only (part of) a CNAME chain: ask for the chain's end. */
        if (rc == DNS_NODATA && a != NULL && strcmp(a->canon, a->qname) != 0 &&
            type != DNS_T_CNAME && hops < DNS_CNAME_MAX) {
            mem_free(cur);
            cur = mem_strdup(a->canon);
            dns_answer_free(&a);
            continue;
        }
        if (rc == DNS_OK) {
            /* Report the name asked for first, not the last link asked for. */
            mem_free(a->qname);
            a->qname = dns_name_norm(name);
            *answer_r = a;
        } else {
            dns_answer_free(&a);
        }
        break;
    }
    mem_free(cur);
    mem_free(ans);
    res_nclose(&st);
    return rc;
}

/* Default random source for dns_mx_sort. */
static unsigned long dns_random(void *ctx)
{
    (void)ctx;
    return (unsigned long)random();
}

/* MX records by preference, shuffled among equal preferences. */
void dns_mx_sort(struct dns_answer *a, unsigned long (*rnd)(void *ctx), void *ctx)
{
    if (rnd == NULL)
        rnd = dns_random;
    /* Fisher-Yates shuffle, then a stable insertion sort by preference. */
    for (size_t i = a->count; i > 1; i--) {
        size_t j = (size_t)(rnd(ctx) % i);
        struct dns_rr t = a->rrs[i - 1];

        a->rrs[i - 1] = a->rrs[j];
        a->rrs[j] = t;
    }
    for (size_t i = 1; i < a->count; i++) {
        struct dns_rr t = a->rrs[i];
        size_t j = i;

        while (j > 0 && a->rrs[j - 1].pref > t.pref) {
            a->rrs[j] = a->rrs[j - 1];
            j--;
        }
        a->rrs[j] = t;
    }
}

/* True for a Null MX: one MX record whose exchange is the root. */
bool dns_mx_is_null(const struct dns_answer *a)
{
    return a != NULL && a->qtype == DNS_T_MX && a->count == 1 && a->rrs[0].data != NULL &&
           a->rrs[0].data[0] == 0;
}

/* The address of an A/AAAA record as text. */
const char *dns_rr_addr_text(const struct dns_rr *rr, char *buf, size_t size)
{
    if (rr->family == 0 || inet_ntop(rr->family, rr->addr, buf, (socklen_t)size) == NULL)
        snprintf(buf, size, "?");
    return buf;
}
