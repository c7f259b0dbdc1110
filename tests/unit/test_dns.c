/*
 * test_dns - lib/mail/dns.c: replies taken apart from canned wire-format
 * packets (MX order and shuffling, Null MX, CNAME chains, reply codes,
 * truncated and malformed packets), and host name validity.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mail/dns.h"
#include "lib/util/msg.h"
#include "tests/unit/test.h"

/* ---- a small DNS packet builder ---- */

#define F_QR 0x8000
#define F_TC 0x0200
#define F_RD 0x0100
#define F_RA 0x0080

struct pkt {
    unsigned char b[4096];
    size_t len;
};

static void put8(struct pkt *p, unsigned v)
{
    p->b[p->len++] = (unsigned char)v;
}

static void put16(struct pkt *p, unsigned v)
{
    put8(p, v >> 8);
    put8(p, v & 0xff);
}

static void put32(struct pkt *p, unsigned long v)
{
    put16(p, (unsigned)(v >> 16));
    put16(p, (unsigned)(v & 0xffff));
}

/* An uncompressed name; "" is the root. */
static void put_name(struct pkt *p, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);

        put8(p, (unsigned)l);
        memcpy(p->b + p->len, name, l);
        p->len += l;
        name += l;
        if (*name == '.')
            name++;
    }
    put8(p, 0);
}

static void header(struct pkt *p, unsigned flags, unsigned rcode, unsigned an)
{
    p->len = 0;
    put16(p, 0x1234);
    put16(p, flags | rcode);
    put16(p, 1);
    put16(p, an);
    put16(p, 0);
    put16(p, 0);
}

static void question(struct pkt *p, const char *name, unsigned type)
{
    put_name(p, name);
    put16(p, type);
    put16(p, 1);
}

/* A reply header and question: flags QR|RD|RA. */
static void reply(struct pkt *p, unsigned rcode, unsigned an, const char *qname, unsigned qtype)
{
    header(p, F_QR | F_RD | F_RA, rcode, an);
    question(p, qname, qtype);
}

static void rr_head(struct pkt *p, const char *owner, unsigned type, unsigned rdlen)
{
    put_name(p, owner);
    put16(p, type);
    put16(p, 1);
    put32(p, 3600);
    put16(p, rdlen);
}

static size_t name_len(const char *name)
{
    return *name ? strlen(name) + 2 : 1;
}

static void rr_mx(struct pkt *p, const char *owner, unsigned pref, const char *exch)
{
    rr_head(p, owner, DNS_T_MX, (unsigned)(2 + name_len(exch)));
    put16(p, pref);
    put_name(p, exch);
}

static void rr_cname(struct pkt *p, const char *owner, const char *target)
{
    rr_head(p, owner, DNS_T_CNAME, (unsigned)name_len(target));
    put_name(p, target);
}

static void rr_a(struct pkt *p, const char *owner, unsigned a, unsigned b, unsigned c, unsigned d)
{
    rr_head(p, owner, DNS_T_A, 4);
    put8(p, a), put8(p, b), put8(p, c), put8(p, d);
}

static void rr_raw(struct pkt *p, const char *owner, unsigned type, const void *data, size_t len)
{
    rr_head(p, owner, type, (unsigned)len);
    memcpy(p->b + p->len, data, len);
    p->len += len;
}

static int parse(const struct pkt *p, const char *qname, int qtype, struct dns_answer **a_r,
                 const char **why_r)
{
    return dns_parse_reply(p->b, p->len, qname, qtype, a_r, why_r);
}

/* ---- tests ---- */

/* Deterministic "random" numbers for the sort. */
static unsigned long seq_rnd(void *ctx)
{
    unsigned long *state = ctx;

    *state = *state * 6364136223846793005UL + 1442695040888963407UL;
    return *state >> 33;
}

static void test_mx_order(void)
{
    struct pkt p;
    struct dns_answer *a;
    const char *why = NULL;
    unsigned long state = 1;

    reply(&p, 0, 4, "example.com", DNS_T_MX);
    rr_mx(&p, "example.com", 20, "mx20.example.com");
    rr_mx(&p, "example.com", 10, "mx10a.example.com");
    rr_mx(&p, "EXAMPLE.com", 30, "MX30.example.com");
    rr_mx(&p, "example.com", 10, "mx10b.example.com");
    CHECK_INTEQ(parse(&p, "example.com", DNS_T_MX, &a, &why), DNS_OK);
    if (a == NULL)
        return;
    CHECK_INTEQ(a->count, 4);
    CHECK_STREQ(a->canon, "example.com");
    dns_mx_sort(a, seq_rnd, &state);
    CHECK_INTEQ(a->rrs[0].pref, 10);
    CHECK_INTEQ(a->rrs[1].pref, 10);
    CHECK_INTEQ(a->rrs[2].pref, 20);
    CHECK_INTEQ(a->rrs[3].pref, 30);
    CHECK_STREQ(a->rrs[2].data, "mx20.example.com");
    CHECK_STREQ(a->rrs[3].data, "mx30.example.com"); /* names are folded to lower case */
    CHECK(!dns_mx_is_null(a));
    dns_answer_free(&a);
    CHECK(a == NULL);
}

/* Equal preferences come out in both orders; different ones never swap. */
static void test_mx_shuffle(void)
{
    struct pkt p;
    int first_a = 0, first_b = 0, bad = 0;

    reply(&p, 0, 3, "example.com", DNS_T_MX);
    rr_mx(&p, "example.com", 5, "a.example.com");
    rr_mx(&p, "example.com", 5, "b.example.com");
    rr_mx(&p, "example.com", 1, "best.example.com");
    for (int i = 0; i < 200; i++) {
        struct dns_answer *a;
        const char *why;

        if (parse(&p, "example.com", DNS_T_MX, &a, &why) != DNS_OK) {
            bad++;
            continue;
        }
        dns_mx_sort(a, NULL, NULL);
        if (strcmp(a->rrs[0].data, "best.example.com") != 0)
            bad++;
        if (strcmp(a->rrs[1].data, "a.example.com") == 0)
            first_a++;
        else
            first_b++;
        dns_answer_free(&a);
    }
    CHECK_INTEQ(bad, 0);
    CHECK(first_a > 20);
    CHECK(first_b > 20);
}

static void test_null_mx(void)
{
    struct pkt p;
    struct dns_answer *a;
    const char *why;

    reply(&p, 0, 1, "nomail.example", DNS_T_MX);
    rr_mx(&p, "nomail.example", 0, "");
    CHECK_INTEQ(parse(&p, "nomail.example", DNS_T_MX, &a, &why), DNS_OK);
    CHECK(dns_mx_is_null(a));
    if (a)
        CHECK_STREQ(a->rrs[0].data, "");
    dns_answer_free(&a);

    /* A root exchange next to a real one is no Null MX. */
    reply(&p, 0, 2, "mixed.example", DNS_T_MX);
    rr_mx(&p, "mixed.example", 0, "");
    rr_mx(&p, "mixed.example", 10, "mx.mixed.example");
    CHECK_INTEQ(parse(&p, "mixed.example", DNS_T_MX, &a, &why), DNS_OK);
    CHECK(!dns_mx_is_null(a));
    dns_answer_free(&a);
    CHECK(!dns_mx_is_null(NULL));
}

static void test_cname_chain(void)
{
    struct pkt p;
    struct dns_answer *a;
    const char *why;

    reply(&p, 0, 5, "mail.example", DNS_T_MX);
    rr_mx(&p, "evil.example", 1, "attacker.example"); /* not on the chain: ignored */
    rr_cname(&p, "mail.example", "a.example");
    rr_cname(&p, "a.example", "b.example");
    rr_mx(&p, "b.example", 10, "mx.b.example");
    rr_mx(&p, "mail.example", 1, "stale.example"); /* owner has a CNAME: not its data */
    CHECK_INTEQ(parse(&p, "mail.example", DNS_T_MX, &a, &why), DNS_OK);
    if (a) {
        CHECK_INTEQ(a->count, 1);
        CHECK_STREQ(a->rrs[0].data, "mx.b.example");
        CHECK_STREQ(a->canon, "b.example");
        CHECK_STREQ(a->qname, "mail.example");
    }
    dns_answer_free(&a);

    /* Only the chain: NODATA with the end of the chain to ask for. */
    reply(&p, 0, 1, "mail.example", DNS_T_MX);
    rr_cname(&p, "mail.example", "c.example");
    CHECK_INTEQ(parse(&p, "mail.example", DNS_T_MX, &a, &why), DNS_NODATA);
    if (a) {
        CHECK_INTEQ(a->count, 0);
        CHECK_STREQ(a->canon, "c.example");
    }
    dns_answer_free(&a);

    /* A loop. */
    reply(&p, 0, 2, "x.example", DNS_T_A);
    rr_cname(&p, "x.example", "y.example");
    rr_cname(&p, "y.example", "x.example");
    CHECK_INTEQ(parse(&p, "x.example", DNS_T_A, &a, &why), DNS_RETRY);
    CHECK(a == NULL);

    /* Asking for the CNAME itself does not follow it. */
    reply(&p, 0, 1, "x.example", DNS_T_CNAME);
    rr_cname(&p, "x.example", "y.example");
    CHECK_INTEQ(parse(&p, "x.example", DNS_T_CNAME, &a, &why), DNS_OK);
    if (a)
        CHECK_STREQ(a->rrs[0].data, "y.example");
    dns_answer_free(&a);
}

static void test_rcodes(void)
{
    static const struct {
        unsigned rcode;
        int expect;
    } cases[] = {
        {0, DNS_NODATA}, {3, DNS_NOTFOUND}, {2, DNS_RETRY},
        {5, DNS_RETRY},  {1, DNS_RETRY},    {4, DNS_RETRY},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pkt p;
        struct dns_answer *a = NULL;
        const char *why = NULL;

        reply(&p, cases[i].rcode, 0, "example.org", DNS_T_A);
        CHECK_INTEQ(parse(&p, "example.org", DNS_T_A, &a, &why), cases[i].expect);
        CHECK(why != NULL);
        CHECK((a != NULL) == (cases[i].expect == DNS_NODATA));
        dns_answer_free(&a);
    }
}

static void test_addresses_and_txt(void)
{
    static const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                         0,    0,    0,    0,    0, 0, 0, 0x25};
    static const unsigned char txt[] = "\x0bv=spf1 -all\x05 more";
    struct pkt p;
    struct dns_answer *a;
    const char *why;
    char text[64];

    reply(&p, 0, 2, "h.example", DNS_T_A);
    rr_a(&p, "h.example", 192, 0, 2, 1);
    rr_a(&p, "h.example", 192, 0, 2, 2);
    CHECK_INTEQ(parse(&p, "h.example.", DNS_T_A, &a, &why), DNS_OK);
    if (a) {
        CHECK_INTEQ(a->count, 2);
        CHECK_STREQ(dns_rr_addr_text(&a->rrs[1], text, sizeof(text)), "192.0.2.2");
    }
    dns_answer_free(&a);

    reply(&p, 0, 1, "h.example", DNS_T_AAAA);
    rr_raw(&p, "h.example", DNS_T_AAAA, v6, sizeof(v6));
    CHECK_INTEQ(parse(&p, "h.example", DNS_T_AAAA, &a, &why), DNS_OK);
    if (a)
        CHECK_STREQ(dns_rr_addr_text(&a->rrs[0], text, sizeof(text)), "2001:db8::25");
    dns_answer_free(&a);

    reply(&p, 0, 1, "h.example", DNS_T_TXT);
    rr_raw(&p, "h.example", DNS_T_TXT, txt, sizeof(txt) - 1);
    CHECK_INTEQ(parse(&p, "h.example", DNS_T_TXT, &a, &why), DNS_OK);
    if (a)
        CHECK_STREQ(a->rrs[0].data, "v=spf1 -all more");
    dns_answer_free(&a);
}

/* A compressed exchange name (pointer to the question name) is expanded. */
static void test_compression(void)
{
    struct pkt p;
    struct dns_answer *a;
    const char *why;

    reply(&p, 0, 1, "example.net", DNS_T_MX);
    put16(&p, 0xc00c); /* owner: pointer to the question name at offset 12 */
    put16(&p, DNS_T_MX);
    put16(&p, 1);
    put32(&p, 60);
    put16(&p, 2 + 4 + 2);
    put16(&p, 10);
    put8(&p, 3);
    memcpy(p.b + p.len, "mx1", 3);
    p.len += 3;
    put16(&p, 0xc00c); /* "mx1" + pointer: mx1.example.net */
    CHECK_INTEQ(parse(&p, "example.net", DNS_T_MX, &a, &why), DNS_OK);
    if (a)
        CHECK_STREQ(a->rrs[0].data, "mx1.example.net");
    dns_answer_free(&a);

    /* A pointer that points at itself. */
    reply(&p, 0, 1, "example.net", DNS_T_MX);
    put16(&p, 0xc00c);
    put16(&p, DNS_T_MX);
    put16(&p, 1);
    put32(&p, 60);
    put16(&p, 4);
    put16(&p, 10);
    put16(&p, (unsigned)(0xc000 | p.len));
    a = NULL;
    CHECK_INTEQ(parse(&p, "example.net", DNS_T_MX, &a, &why), DNS_RETRY);
    CHECK(a == NULL);
}

/* Every cut of a good packet, a bad rdata length, TC, a wrong question. */
static void test_malformed(void)
{
    static const unsigned char a5[5] = {1, 2, 3, 4, 5};
    struct pkt p, q;
    struct dns_answer *a;
    const char *why;
    int bad = 0;

    reply(&p, 0, 2, "example.com", DNS_T_MX);
    rr_mx(&p, "example.com", 10, "mx1.example.com");
    rr_mx(&p, "example.com", 20, "mx2.example.com");
    for (size_t len = 0; len < p.len; len++) {
        a = NULL;
        if (dns_parse_reply(p.b, len, "example.com", DNS_T_MX, &a, &why) != DNS_RETRY || a != NULL)
            bad++;
        dns_answer_free(&a);
    }
    CHECK_INTEQ(bad, 0);

    /* Junk after the last record makes the packet malformed. */
    q = p;
    q.b[q.len++] = 0x55;
    CHECK_INTEQ(parse(&q, "example.com", DNS_T_MX, &a, &why), DNS_RETRY);
    CHECK(a == NULL);

    reply(&p, 0, 1, "h.example", DNS_T_A);
    rr_raw(&p, "h.example", DNS_T_A, a5, sizeof(a5));
    CHECK_INTEQ(parse(&p, "h.example", DNS_T_A, &a, &why), DNS_RETRY);
    CHECK_STREQ(why, "malformed DNS reply");

    /* MX rdata whose name ends before the rdata does. */
    reply(&p, 0, 1, "h.example", DNS_T_MX);
    rr_head(&p, "h.example", DNS_T_MX, 2 + 4 + 2);
    put16(&p, 10);
    put_name(&p, "mx");
    put16(&p, 0);
    CHECK_INTEQ(parse(&p, "h.example", DNS_T_MX, &a, &why), DNS_RETRY);

    header(&p, F_QR | F_TC, 0, 0);
    question(&p, "h.example", DNS_T_A);
    CHECK_INTEQ(parse(&p, "h.example", DNS_T_A, &a, &why), DNS_RETRY);
    CHECK_STREQ(why, "truncated DNS reply");

    header(&p, 0, 0, 0); /* a query, not a response */
    question(&p, "h.example", DNS_T_A);
    CHECK_INTEQ(parse(&p, "h.example", DNS_T_A, &a, &why), DNS_RETRY);

    reply(&p, 0, 1, "other.example", DNS_T_A);
    rr_a(&p, "other.example", 192, 0, 2, 9);
    CHECK_INTEQ(parse(&p, "h.example", DNS_T_A, &a, &why), DNS_RETRY);
    CHECK_STREQ(why, "DNS reply does not match the question");
    CHECK_INTEQ(parse(&p, "other.example", DNS_T_MX, &a, &why), DNS_RETRY);
    CHECK(a == NULL);
}

/* An exchange with characters no host name has is skipped. */
static void test_invalid_names_skipped(void)
{
    struct pkt p;
    struct dns_answer *a;
    const char *why;

    reply(&p, 0, 2, "example.com", DNS_T_MX);
    rr_mx(&p, "example.com", 10, "bad name.example.com");
    rr_mx(&p, "example.com", 20, "good.example.com");
    CHECK_INTEQ(parse(&p, "example.com", DNS_T_MX, &a, &why), DNS_OK);
    if (a) {
        CHECK_INTEQ(a->count, 1);
        CHECK_STREQ(a->rrs[0].data, "good.example.com");
    }
    dns_answer_free(&a);

    reply(&p, 0, 1, "example.com", DNS_T_MX);
    rr_mx(&p, "example.com", 10, "-bad.example.com");
    CHECK_INTEQ(parse(&p, "example.com", DNS_T_MX, &a, &why), DNS_NODATA);
    dns_answer_free(&a);
}

/* Random packets never crash the parser and never leak. */
static void test_random_packets(void)
{
    struct pkt base;
    unsigned long state = 7;

    reply(&base, 0, 2, "example.com", DNS_T_MX);
    rr_mx(&base, "example.com", 10, "mx1.example.com");
    rr_cname(&base, "example.com", "example.com");
    for (int i = 0; i < 20000; i++) {
        struct pkt p = base;
        struct dns_answer *a = NULL;
        const char *why;
        int flips = 1 + (int)(seq_rnd(&state) % 4);

        for (int k = 0; k < flips; k++)
            p.b[seq_rnd(&state) % p.len] = (unsigned char)seq_rnd(&state);
        (void)parse(&p, "example.com", DNS_T_MX, &a, &why);
        dns_answer_free(&a);
    }
    CHECK(1);
}

static void test_name_valid(void)
{
    static const struct {
        const char *name;
        bool valid;
    } cases[] = {
        {"example.com", true},
        {"example.com.", true},
        {"a", true},
        {"_dmarc.example", true},
        {"x-y.example", true},
        {"", false},
        {".", false},
        {"a..b", false},
        {"-a.example", false},
        {"a-.example", false},
        {"a b.example", false},
        {"a.example..", false},
        {"ex\xc3\xa4mple.com", false},
    };
    char longlabel[80], longname[300];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (dns_name_valid(cases[i].name) != cases[i].valid) {
            fprintf(stderr, "  name \"%s\"\n", cases[i].name);
            CHECK(dns_name_valid(cases[i].name) == cases[i].valid);
        }
    memset(longlabel, 'a', 64);
    longlabel[64] = 0;
    CHECK(!dns_name_valid(longlabel));
    longlabel[63] = 0;
    CHECK(dns_name_valid(longlabel));
    for (size_t i = 0; i < 254; i++)
        longname[i] = (i % 2) ? '.' : 'a';
    longname[253] = 0;
    CHECK(dns_name_valid(longname));
    longname[253] = 'a';
    longname[254] = 0;
    CHECK(!dns_name_valid(longname));
    CHECK_STREQ(dns_type_name(DNS_T_AAAA), "AAAA");
    CHECK_STREQ(dns_type_name(99), "TYPE99");
}

int main(void)
{
    msg_init("test_dns", 0);
    TEST_RUN(test_mx_order);
    TEST_RUN(test_mx_shuffle);
    TEST_RUN(test_null_mx);
    TEST_RUN(test_cname_chain);
    TEST_RUN(test_rcodes);
    TEST_RUN(test_addresses_and_txt);
    TEST_RUN(test_compression);
    TEST_RUN(test_malformed);
    TEST_RUN(test_invalid_names_skipped);
    TEST_RUN(test_random_packets);
    TEST_RUN(test_name_valid);
    return test_summary();
}
