/* Unit tests for lib/proto/smtp_cmd: command split, MAIL/RCPT paths and ESMTP parameters. */
#include "config.h"

#include <string.h>

#include "lib/proto/smtp_cmd.h"
#include "lib/util/buf.h"
#include "tests/unit/test.h"

#define ALL_EXT                                                                                \
    (SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_BINARYMIME | SMTP_EXT_SMTPUTF8 |            \
     SMTP_EXT_DSN | SMTP_EXT_AUTH | SMTP_EXT_REQUIRETLS)
#define BASIC_EXT (SMTP_EXT_SIZE | SMTP_EXT_8BITMIME)

/* Render a reply without its CRLF. */
static const char *resp_str(const struct smtp_resp *r)
{
    static char out[600];
    struct buf *b = buf_create(0);

    smtp_resp_format(b, r);
    buf_trim_crlf(b);
    snprintf(out, sizeof(out), "%s", buf_str(b));
    buf_free(&b);
    return out;
}

/* Render parsed MAIL arguments as one comparable line. */
static const char *mail_str(const struct smtp_mail_args *m)
{
    static const char *body[] = {"", " body=7BIT", " body=8BITMIME", " body=BINARYMIME"};
    static const char *ret[] = {"", " ret=FULL", " ret=HDRS"};
    static char out[1200];
    struct buf *b = buf_create(0);

    buf_printf(b, "<%s> local=%s domain=%s", m->path.addr, m->path.local,
               m->path.domain ? m->path.domain : "-");
    if (m->path.null)
        buf_puts(b, " null");
    if (m->path.route)
        buf_puts(b, " route");
    if (m->path.utf8)
        buf_puts(b, " utf8");
    if (m->has_size)
        buf_printf(b, " size=%llu", m->size);
    buf_puts(b, body[m->body]);
    if (m->smtputf8)
        buf_puts(b, " SMTPUTF8");
    if (m->requiretls)
        buf_puts(b, " REQUIRETLS");
    buf_puts(b, ret[m->ret]);
    if (m->envid)
        buf_printf(b, " envid=%s", m->envid);
    if (m->auth)
        buf_printf(b, " auth=%s", m->auth);
    snprintf(out, sizeof(out), "%s", buf_str(b));
    buf_free(&b);
    return out;
}

/* Render parsed RCPT arguments as one comparable line. */
static const char *rcpt_str(const struct smtp_rcpt_args *r)
{
    static char out[1200];
    struct buf *b = buf_create(0);

    buf_printf(b, "<%s> local=%s domain=%s", r->path.addr, r->path.local,
               r->path.domain ? r->path.domain : "-");
    if (r->path.route)
        buf_puts(b, " route");
    if (r->path.utf8)
        buf_puts(b, " utf8");
    if (r->notify) {
        buf_puts(b, " notify=");
        if (r->notify & SMTP_NOTIFY_NEVER)
            buf_puts(b, "N");
        if (r->notify & SMTP_NOTIFY_SUCCESS)
            buf_puts(b, "S");
        if (r->notify & SMTP_NOTIFY_FAILURE)
            buf_puts(b, "F");
        if (r->notify & SMTP_NOTIFY_DELAY)
            buf_puts(b, "D");
    }
    if (r->orcpt)
        buf_printf(b, " orcpt=%s type=%s addr=%s", r->orcpt, r->orcpt_type, r->orcpt_addr);
    snprintf(out, sizeof(out), "%s", buf_str(b));
    buf_free(&b);
    return out;
}

static void test_split(void)
{
    static const struct {
        const char *line;
        int ret;
        const char *verb;
        const char *arg;
        const char *reply;
    } t[] = {
        {"EHLO client.example", 0, "EHLO", "client.example", NULL},
        {"ehlo client.example", 0, "EHLO", "client.example", NULL},
        {"mail FROM:<a@b>", 0, "MAIL", "FROM:<a@b>", NULL},
        {"QUIT", 0, "QUIT", "", NULL},
        {"QUIT   ", 0, "QUIT", "", NULL},
        {"QUIT\r", 0, "QUIT", "", NULL},
        {"  NOOP  x  ", 0, "NOOP", "x", NULL},
        {"RCPT\tTO:<a@b>", 0, "RCPT", "TO:<a@b>", NULL},
        {"STARTTLS", 0, "STARTTLS", "", NULL},
        {"X-FOO bar", 0, "X-FOO", "bar", NULL},
        {"", -1, "", "", "500 5.5.2 Error: bad syntax"},
        {"   ", -1, "", "", "500 5.5.2 Error: bad syntax"},
        {"ABCDEFGHIJKLMNOPQ x", -1, "", "", "500 5.5.2 Error: command not recognized"},
        {"ABCDEFGHIJKLMNOP x", 0, "ABCDEFGHIJKLMNOP", "x", NULL},
        {"MA\x01IL x", -1, "", "", "500 5.5.2 Error: command not recognized"},
        {"M\xc3\xa4IL x", -1, "", "", "500 5.5.2 Error: command not recognized"},
        {"GET / HTTP/1.0", 0, "GET", "/ HTTP/1.0", NULL},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct smtp_cmd cmd;
        struct smtp_resp resp;
        int ret = smtp_cmd_split(t[i].line, strlen(t[i].line), &cmd, &resp);
        CHECK_INTEQ(ret, t[i].ret);
        if (ret == 0) {
            CHECK_STREQ(cmd.verb, t[i].verb);
            CHECK_INTEQ(cmd.arg_len, strlen(t[i].arg));
            CHECK(memcmp(cmd.arg, t[i].arg, cmd.arg_len) == 0);
            CHECK_INTEQ(resp.code, 0);
        } else {
            CHECK_STREQ(resp_str(&resp), t[i].reply);
            CHECK(resp.why != NULL);
        }
    }
    /* a NUL byte inside the line */
    {
        struct smtp_cmd cmd;
        struct smtp_resp resp;
        CHECK_INTEQ(smtp_cmd_split("NOOP\0x", 6, &cmd, &resp), -1);
        CHECK_STREQ(resp_str(&resp), "500 5.5.2 Error: bad syntax");
    }
}

#define STRICT 1
#define LENIENT 0

struct mail_case {
    const char *arg;
    unsigned ext;
    int strict;
    unsigned long long limit;
    const char *expect; /* mail_str() or the reply line */
};

static const struct mail_case mail_cases[] = {
    /* plain paths */
    {"FROM:<user@example.com>", 0, STRICT, 0, "<user@example.com> local=user domain=example.com"},
    {"from:<user@example.com>", 0, STRICT, 0, "<user@example.com> local=user domain=example.com"},
    {"FROM:<>", 0, STRICT, 0, "<> local= domain=- null"},
    {"FROM:<\"john doe\"@example.com>", 0, STRICT, 0,
     "<\"john doe\"@example.com> local=john doe domain=example.com"},
    {"FROM:<\"john\"@example.com>", 0, STRICT, 0, "<john@example.com> local=john domain=example.com"},
    {"FROM:<\"a\\\"b\"@x.org>", 0, STRICT, 0, "<\"a\\\"b\"@x.org> local=a\"b domain=x.org"},
    {"FROM:<\"a>b\"@x.org>", 0, STRICT, 0, "<\"a>b\"@x.org> local=a>b domain=x.org"},
    {"FROM:<\"a\\>b\"@x.org>", 0, STRICT, 0, "<\"a>b\"@x.org> local=a>b domain=x.org"},
    {"FROM:<u@[192.0.2.1]>", 0, STRICT, 0, "<u@[192.0.2.1]> local=u domain=[192.0.2.1]"},
    {"FROM:<u@[IPv6:2001:db8::1]>", 0, STRICT, 0,
     "<u@[IPv6:2001:db8::1]> local=u domain=[IPv6:2001:db8::1]"},
    {"FROM:<@a.example,@b.example:u@c.example>", 0, STRICT, 0,
     "<u@c.example> local=u domain=c.example route"},
    {"FROM:<@a.example:u@c.example>", 0, STRICT, 0,
     "<u@c.example> local=u domain=c.example route"},
    /* bad paths */
    {"FROM:<@a.example u@c.example>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<@a..example:u@c.example>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<@a.example,b.example:u@c.example>", 0, STRICT, 0,
     "501 5.1.7 Bad sender address syntax"},
    {"FROM:<@a.example>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<user@example.com", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<user@example.com>x", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<user@example.com>x", 0, LENIENT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<user@@example.com>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<user@exa mple.com>", 0, LENIENT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<us er@example.com>", 0, LENIENT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<user@[1.2.3.256]>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<user@[IPv6:1::2::3]>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<user@[foo:bar]>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<user@example.com.>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<user@>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<@>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<a\x01@x.org>", 0, LENIENT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<\"a\x01\"@x.org>", 0, LENIENT, 0, "501 5.1.7 Bad sender address syntax"},
    /* keyword */
    {"FROM <a@b.c>", 0, LENIENT, 0, "501 5.5.4 Syntax: MAIL FROM:<address>"},
    {"FRM:<a@b.c>", 0, LENIENT, 0, "501 5.5.4 Syntax: MAIL FROM:<address>"},
    {"", 0, LENIENT, 0, "501 5.5.4 Syntax: MAIL FROM:<address>"},
    {"FROM:", 0, LENIENT, 0, "501 5.5.4 Syntax: MAIL FROM:<address>"},
    {"FROM:   ", 0, LENIENT, 0, "501 5.5.4 Syntax: MAIL FROM:<address>"},
    /* strict vs lenient */
    {"FROM: <user@example.com>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM: <user@example.com>", 0, LENIENT, 0, "<user@example.com> local=user domain=example.com"},
    {"FROM:user@example.com", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:user@example.com", 0, LENIENT, 0, "<user@example.com> local=user domain=example.com"},
    {"FROM: user@example.com SIZE=5", BASIC_EXT, LENIENT, 0,
     "<user@example.com> local=user domain=example.com size=5"},
    {"FROM:<john..doe@example.com>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<john..doe@example.com>", 0, LENIENT, 0,
     "<\"john..doe\"@example.com> local=john..doe domain=example.com"},
    {"FROM:<user>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<user>", 0, LENIENT, 0, "<user> local=user domain=-"},
    {"FROM:<u@a_b.example>", 0, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    {"FROM:<u@a_b.example>", 0, LENIENT, 0, "<u@a_b.example> local=u domain=a_b.example"},
    {"FROM:<>  ", 0, STRICT, 0, "<> local= domain=- null"},
    /* UTF-8 */
    {"FROM:<j\xc3\xb6rg@example.com>", ALL_EXT, STRICT, 0,
     "553 5.6.7 Non-ASCII sender address needs SMTPUTF8"},
    {"FROM:<j\xc3\xb6rg@example.com> SMTPUTF8", ALL_EXT, STRICT, 0,
     "<j\xc3\xb6rg@example.com> local=j\xc3\xb6rg domain=example.com utf8 SMTPUTF8"},
    {"FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.example> smtputf8", ALL_EXT, STRICT, 0,
     "<j\xc3\xb6rg@b\xc3\xbc" "cher.example> local=j\xc3\xb6rg domain=b\xc3\xbc" "cher.example utf8 SMTPUTF8"},
    {"FROM:<j\xc3\xb6rg@example.com> SMTPUTF8", BASIC_EXT, STRICT, 0,
     "553 5.6.7 Non-ASCII sender address needs SMTPUTF8"},
    {"FROM:<j\xc3rg@example.com> SMTPUTF8", ALL_EXT, STRICT, 0,
     "501 5.1.7 Bad sender address syntax"},
    {"FROM:<j\xed\xa0\x80rg@example.com> SMTPUTF8", ALL_EXT, STRICT, 0,
     "501 5.1.7 Bad sender address syntax"},
    {"FROM:<u@b\xc3\xbc" "cher.example>", ALL_EXT, STRICT, 0,
     "553 5.6.7 Non-ASCII sender address needs SMTPUTF8"},
    {"FROM:<\"j\xc3\xb6 rg\"@example.com> SMTPUTF8", ALL_EXT, STRICT, 0,
     "<\"j\xc3\xb6 rg\"@example.com> local=j\xc3\xb6 rg domain=example.com utf8 SMTPUTF8"},
    /* SIZE */
    {"FROM:<a@b.c> SIZE=1000", BASIC_EXT, STRICT, 0, "<a@b.c> local=a domain=b.c size=1000"},
    {"FROM:<a@b.c> size=0", BASIC_EXT, STRICT, 0, "<a@b.c> local=a domain=b.c size=0"},
    {"FROM:<a@b.c> SIZE=10240000", BASIC_EXT, STRICT, 10240000,
     "<a@b.c> local=a domain=b.c size=10240000"},
    {"FROM:<a@b.c> SIZE=10240001", BASIC_EXT, STRICT, 10240000,
     "552 5.3.4 Message size exceeds fixed limit"},
    {"FROM:<a@b.c> SIZE=99999999999999999999", BASIC_EXT, STRICT, 10240000,
     "552 5.3.4 Message size exceeds fixed limit"},
    {"FROM:<a@b.c> SIZE=99999999999999999999", BASIC_EXT, STRICT, 0,
     "<a@b.c> local=a domain=b.c size=18446744073709551615"},
    {"FROM:<a@b.c> SIZE=123456789012345678901", BASIC_EXT, STRICT, 0,
     "501 5.5.4 Bad SIZE parameter value"},
    {"FROM:<a@b.c> SIZE=12k", BASIC_EXT, STRICT, 0, "501 5.5.4 Bad SIZE parameter value"},
    {"FROM:<a@b.c> SIZE=-1", BASIC_EXT, STRICT, 0, "501 5.5.4 Bad SIZE parameter value"},
    {"FROM:<a@b.c> SIZE", BASIC_EXT, STRICT, 0, "501 5.5.4 Parameter SIZE needs a value"},
    {"FROM:<a@b.c> SIZE=", BASIC_EXT, STRICT, 0, "501 5.5.4 Syntax error in parameters"},
    {"FROM:<a@b.c> SIZE=1 SIZE=2", BASIC_EXT, STRICT, 0, "501 5.5.4 Duplicate parameter: SIZE"},
    {"FROM:<a@b.c> SIZE=1", 0, STRICT, 0, "555 5.5.4 Unsupported option: SIZE"},
    /* BODY */
    {"FROM:<a@b.c> BODY=8BITMIME", BASIC_EXT, STRICT, 0, "<a@b.c> local=a domain=b.c body=8BITMIME"},
    {"FROM:<a@b.c> BODY=7bit", BASIC_EXT, STRICT, 0, "<a@b.c> local=a domain=b.c body=7BIT"},
    {"FROM:<a@b.c> BODY=BINARYMIME", ALL_EXT, STRICT, 0,
     "<a@b.c> local=a domain=b.c body=BINARYMIME"},
    {"FROM:<a@b.c> BODY=BINARYMIME", BASIC_EXT, STRICT, 0,
     "555 5.5.4 Unsupported option: BODY=BINARYMIME"},
    {"FROM:<a@b.c> BODY=9BIT", BASIC_EXT, STRICT, 0, "501 5.5.4 Bad BODY parameter value"},
    {"FROM:<a@b.c> BODY=8BITMIME", SMTP_EXT_SIZE, STRICT, 0, "555 5.5.4 Unsupported option: BODY"},
    {"FROM:<a@b.c> BODY=8BITMIME body=7BIT", BASIC_EXT, STRICT, 0,
     "501 5.5.4 Duplicate parameter: BODY"},
    /* SMTPUTF8, REQUIRETLS */
    {"FROM:<a@b.c> SMTPUTF8", ALL_EXT, STRICT, 0, "<a@b.c> local=a domain=b.c SMTPUTF8"},
    {"FROM:<a@b.c> SMTPUTF8=yes", ALL_EXT, STRICT, 0, "501 5.5.4 Parameter SMTPUTF8 takes no value"},
    {"FROM:<a@b.c> SMTPUTF8", BASIC_EXT, STRICT, 0, "555 5.5.4 Unsupported option: SMTPUTF8"},
    {"FROM:<a@b.c> REQUIRETLS", ALL_EXT, STRICT, 0, "<a@b.c> local=a domain=b.c REQUIRETLS"},
    {"FROM:<a@b.c> REQUIRETLS", BASIC_EXT, STRICT, 0, "555 5.5.4 Unsupported option: REQUIRETLS"},
    /* DSN: RET, ENVID */
    {"FROM:<a@b.c> RET=FULL ENVID=QQ314159", ALL_EXT, STRICT, 0,
     "<a@b.c> local=a domain=b.c ret=FULL envid=QQ314159"},
    {"FROM:<a@b.c> ret=hdrs", ALL_EXT, STRICT, 0, "<a@b.c> local=a domain=b.c ret=HDRS"},
    {"FROM:<a@b.c> RET=BODY", ALL_EXT, STRICT, 0, "501 5.5.4 Bad RET parameter value"},
    {"FROM:<a@b.c> RET=FULL", BASIC_EXT, STRICT, 0, "555 5.5.4 Unsupported option: RET"},
    {"FROM:<a@b.c> ENVID=a+2Bb+20c", ALL_EXT, STRICT, 0, "<a@b.c> local=a domain=b.c envid=a+b c"},
    {"FROM:<a@b.c> ENVID=a+0Db", ALL_EXT, STRICT, 0, "501 5.5.4 Bad ENVID parameter value"},
    {"FROM:<a@b.c> ENVID=a+0", ALL_EXT, STRICT, 0, "501 5.5.4 Bad ENVID parameter value"},
    {"FROM:<a@b.c> ENVID="
     "12345678901234567890123456789012345678901234567890"
     "12345678901234567890123456789012345678901234567890",
     ALL_EXT, STRICT, 0,
     "<a@b.c> local=a domain=b.c envid="
     "12345678901234567890123456789012345678901234567890"
     "12345678901234567890123456789012345678901234567890"},
    {"FROM:<a@b.c> ENVID="
     "12345678901234567890123456789012345678901234567890"
     "123456789012345678901234567890123456789012345678901",
     ALL_EXT, STRICT, 0, "501 5.5.4 Bad ENVID parameter value"},
    {"FROM:<a@b.c> ENVID=x ENVID=y", ALL_EXT, STRICT, 0, "501 5.5.4 Duplicate parameter: ENVID"},
    /* AUTH */
    {"FROM:<a@b.c> AUTH=<>", ALL_EXT, STRICT, 0, "<a@b.c> local=a domain=b.c auth=<>"},
    {"FROM:<a@b.c> AUTH=e+3Dmc2@example.com", ALL_EXT, STRICT, 0,
     "<a@b.c> local=a domain=b.c auth=e=mc2@example.com"},
    {"FROM:<a@b.c> AUTH=a+0A", ALL_EXT, STRICT, 0, "501 5.5.4 Bad AUTH parameter value"},
    {"FROM:<a@b.c> AUTH=<>", BASIC_EXT, STRICT, 0, "555 5.5.4 Unsupported option: AUTH"},
    /* unknown, malformed */
    {"FROM:<a@b.c> FOO", ALL_EXT, STRICT, 0, "555 5.5.4 Unsupported option: FOO"},
    {"FROM:<a@b.c> foo=bar", ALL_EXT, STRICT, 0, "555 5.5.4 Unsupported option: FOO"},
    {"FROM:<a@b.c> NOTIFY=NEVER", ALL_EXT, STRICT, 0, "555 5.5.4 Unsupported option: NOTIFY"},
    {"FROM:<a@b.c> =x", ALL_EXT, STRICT, 0, "501 5.5.4 Syntax error in parameters"},
    {"FROM:<a@b.c> -X=1", ALL_EXT, STRICT, 0, "501 5.5.4 Syntax error in parameters"},
    {"FROM:<a@b.c> A_B=1", ALL_EXT, STRICT, 0, "501 5.5.4 Syntax error in parameters"},
    {"FROM:<a@b.c> X=a=b", ALL_EXT, STRICT, 0, "501 5.5.4 Syntax error in parameters"},
    {"FROM:<a@b.c> X=a\x01", ALL_EXT, STRICT, 0, "501 5.5.4 Syntax error in parameters"},
    {"FROM:<a@b.c> ENVID=\xc3\xa9", ALL_EXT, STRICT, 0, "501 5.5.4 Syntax error in parameters"},
    {"FROM:<a@b.c>  SIZE=1   BODY=7BIT  ", BASIC_EXT, STRICT, 0,
     "<a@b.c> local=a domain=b.c size=1 body=7BIT"},
    {"FROM:<a@b.c> A B C D E F G H I J K L M N O P Q R S T U V W X Y Z 1 2 3 4 5 6 7", ALL_EXT,
     STRICT, 0, "501 5.5.4 Syntax error in parameters"},
    /* an address error is reported before a parameter error */
    {"FROM:<a@@b.c> FOO=1", ALL_EXT, STRICT, 0, "501 5.1.7 Bad sender address syntax"},
    /* parameter errors in order; SIZE limit last */
    {"FROM:<a@b.c> SIZE=999999 FOO=1", ALL_EXT, STRICT, 10, "555 5.5.4 Unsupported option: FOO"},
    {"FROM:<a@b.c> SIZE=1 SMTPUTF8 BODY=8BITMIME RET=HDRS ENVID=x AUTH=<> REQUIRETLS", ALL_EXT,
     STRICT, 0,
     "<a@b.c> local=a domain=b.c size=1 body=8BITMIME SMTPUTF8 REQUIRETLS ret=HDRS envid=x "
     "auth=<>"},
};

static void test_mail(void)
{
    for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
        const struct mail_case *c = &mail_cases[i];
        struct smtp_cmd_opts opts = {.ext = c->ext, .strict = c->strict, .size_limit = c->limit};
        struct smtp_mail_args *m = (void *)1;
        struct smtp_resp resp;
        const char *got;
        int ret = smtp_cmd_mail(c->arg, strlen(c->arg), &opts, &m, &resp);

        if (ret == 0) {
            CHECK(m != NULL);
            got = mail_str(m);
            CHECK_INTEQ(resp.code, 0);
        } else {
            CHECK(m == NULL);
            CHECK(resp.why != NULL);
            got = resp_str(&resp);
        }
        if (strcmp(got, c->expect) != 0)
            fprintf(stderr, "  mail case %zu: \"%s\"\n    got    %s\n    expect %s\n    why %s\n",
                    i, c->arg, got, c->expect, ret ? resp.why : "");
        CHECK_STREQ(got, c->expect);
        smtp_mail_args_free(&m);
        CHECK(m == NULL);
    }
}

static void test_mail_lengths(void)
{
    struct smtp_cmd_opts opts = {.ext = ALL_EXT, .strict = true};
    struct smtp_mail_args *m;
    struct smtp_resp resp;
    struct buf *b = buf_create(0);
    char local[70], label[64];

    /* 64-octet local part ok, 65 too long */
    memset(local, 'l', 64);
    local[64] = 0;
    buf_printf(b, "FROM:<%s@example.com>", local);
    CHECK_INTEQ(smtp_cmd_mail(buf_str(b), buf_len(b), &opts, &m, &resp), 0);
    smtp_mail_args_free(&m);
    buf_set(b, "");
    buf_printf(b, "FROM:<%sl@example.com>", local);
    CHECK_INTEQ(smtp_cmd_mail(buf_str(b), buf_len(b), &opts, &m, &resp), -1);
    CHECK_STREQ(resp_str(&resp), "501 5.1.7 Path too long");

    /* path of 256 octets including < > is fine, 257 is too long:
     * "<" + 64 local + "@" + 189 domain (63.63.61) + ">" */
    memset(label, 'd', 63);
    label[63] = 0;
    buf_set(b, "");
    buf_printf(b, "FROM:<%s@%s.%s.%.61s>", local, label, label, label);
    CHECK_INTEQ(buf_len(b) - strlen("FROM:"), 256);
    CHECK_INTEQ(smtp_cmd_mail(buf_str(b), buf_len(b), &opts, &m, &resp), 0);
    smtp_mail_args_free(&m);
    buf_set(b, "");
    buf_printf(b, "FROM:<%s@%s.%s.%.62s>", local, label, label, label);
    CHECK_INTEQ(smtp_cmd_mail(buf_str(b), buf_len(b), &opts, &m, &resp), -1);
    CHECK_STREQ(resp_str(&resp), "501 5.1.7 Path too long");
    buf_free(&b);
}

struct rcpt_case {
    const char *arg;
    bool smtputf8;
    unsigned ext;
    int strict;
    const char *expect;
};

static const struct rcpt_case rcpt_cases[] = {
    {"TO:<user@example.com>", false, 0, STRICT, "<user@example.com> local=user domain=example.com"},
    {"to:<user@example.com>", false, 0, STRICT, "<user@example.com> local=user domain=example.com"},
    {"TO:<postmaster>", false, 0, STRICT, "<postmaster> local=postmaster domain=-"},
    {"TO:<PostMaster>", false, 0, STRICT, "<PostMaster> local=PostMaster domain=-"},
    {"TO:<postmaster@example.com>", false, 0, STRICT,
     "<postmaster@example.com> local=postmaster domain=example.com"},
    {"TO:<\"postmaster\">", false, 0, STRICT, "501 5.1.3 Bad recipient address syntax"},
    {"TO:<user>", false, 0, STRICT, "501 5.1.3 Bad recipient address syntax"},
    {"TO:<user>", false, 0, LENIENT, "<user> local=user domain=-"},
    {"TO:<>", false, 0, STRICT, "501 5.1.3 Bad recipient address syntax"},
    {"TO:<>", false, 0, LENIENT, "501 5.1.3 Bad recipient address syntax"},
    {"TO:<@hosta.int,@jkl.org:userc@d.bar.org>", false, 0, STRICT,
     "<userc@d.bar.org> local=userc domain=d.bar.org route"},
    {"FROM:<a@b.c>", false, 0, STRICT, "501 5.5.4 Syntax: RCPT TO:<address>"},
    {"TO: <a@b.c>", false, 0, STRICT, "501 5.1.3 Bad recipient address syntax"},
    {"TO: <a@b.c>", false, 0, LENIENT, "<a@b.c> local=a domain=b.c"},
    {"TO:a@b.c", false, 0, LENIENT, "<a@b.c> local=a domain=b.c"},
    {"TO:\"a b\"@c.d NOTIFY=NEVER", false, ALL_EXT, LENIENT,
     "<\"a b\"@c.d> local=a b domain=c.d notify=N"},
    {"TO:<a@[IPv6:::1]>", false, 0, STRICT, "<a@[IPv6:::1]> local=a domain=[IPv6:::1]"},
    /* UTF-8 depends on the transaction's SMTPUTF8 */
    {"TO:<\xd0\xb8@\xd0\xb8.example>", true, ALL_EXT, STRICT,
     "<\xd0\xb8@\xd0\xb8.example> local=\xd0\xb8 domain=\xd0\xb8.example utf8"},
    {"TO:<\xd0\xb8@\xd0\xb8.example>", false, ALL_EXT, STRICT,
     "553 5.6.7 Non-ASCII recipient address needs SMTPUTF8"},
    {"TO:<\xd0\xb8@\xd0\xb8.example>", true, BASIC_EXT, STRICT,
     "553 5.6.7 Non-ASCII recipient address needs SMTPUTF8"},
    {"TO:<\xd0@x.example>", true, ALL_EXT, STRICT, "501 5.1.3 Bad recipient address syntax"},
    {"TO:<a@b.c> SMTPUTF8", true, ALL_EXT, STRICT, "555 5.5.4 Unsupported option: SMTPUTF8"},
    {"TO:<a@b.c> SIZE=1", false, ALL_EXT, STRICT, "555 5.5.4 Unsupported option: SIZE"},
    /* NOTIFY */
    {"TO:<a@b.c> NOTIFY=SUCCESS,FAILURE", false, ALL_EXT, STRICT,
     "<a@b.c> local=a domain=b.c notify=SF"},
    {"TO:<a@b.c> NOTIFY=delay,failure,success", false, ALL_EXT, STRICT,
     "<a@b.c> local=a domain=b.c notify=SFD"},
    {"TO:<a@b.c> NOTIFY=NEVER", false, ALL_EXT, STRICT, "<a@b.c> local=a domain=b.c notify=N"},
    {"TO:<a@b.c> NOTIFY=NEVER,DELAY", false, ALL_EXT, STRICT,
     "501 5.5.4 Bad NOTIFY parameter value"},
    {"TO:<a@b.c> NOTIFY=SUCCESS,", false, ALL_EXT, STRICT, "501 5.5.4 Bad NOTIFY parameter value"},
    {"TO:<a@b.c> NOTIFY=,SUCCESS", false, ALL_EXT, STRICT, "501 5.5.4 Bad NOTIFY parameter value"},
    {"TO:<a@b.c> NOTIFY=SOMETIMES", false, ALL_EXT, STRICT,
     "501 5.5.4 Bad NOTIFY parameter value"},
    {"TO:<a@b.c> NOTIFY", false, ALL_EXT, STRICT, "501 5.5.4 Parameter NOTIFY needs a value"},
    {"TO:<a@b.c> NOTIFY=NEVER NOTIFY=NEVER", false, ALL_EXT, STRICT,
     "501 5.5.4 Duplicate parameter: NOTIFY"},
    {"TO:<a@b.c> NOTIFY=NEVER", false, BASIC_EXT, STRICT, "555 5.5.4 Unsupported option: NOTIFY"},
    /* ORCPT */
    {"TO:<a@b.c> ORCPT=rfc822;a@b.c", false, ALL_EXT, STRICT,
     "<a@b.c> local=a domain=b.c orcpt=rfc822;a@b.c type=rfc822 addr=a@b.c"},
    {"TO:<a@b.c> ORCPT=RFC822;e+3Dmc2+20x@b.c", false, ALL_EXT, STRICT,
     "<a@b.c> local=a domain=b.c orcpt=RFC822;e+3Dmc2+20x@b.c type=rfc822 addr=e=mc2 x@b.c"},
    {"TO:<a@b.c> ORCPT=x-local;joe", false, ALL_EXT, STRICT,
     "<a@b.c> local=a domain=b.c orcpt=x-local;joe type=x-local addr=joe"},
    {"TO:<a@b.c> ORCPT=utf-8;j\\x{F6}rg@b.c", false, ALL_EXT, STRICT,
     "<a@b.c> local=a domain=b.c orcpt=utf-8;j\\x{F6}rg@b.c type=utf-8 addr=j\xc3\xb6rg@b.c"},
    {"TO:<a@b.c> ORCPT=UTF-8;j\xc3\xb6rg@b.c", true, ALL_EXT, STRICT,
     "<a@b.c> local=a domain=b.c orcpt=UTF-8;j\xc3\xb6rg@b.c type=utf-8 addr=j\xc3\xb6rg@b.c"},
    {"TO:<a@b.c> ORCPT=utf-8;j\xc3\xb6rg@b.c", false, ALL_EXT, STRICT,
     "501 5.5.4 Syntax error in parameters"},
    {"TO:<a@b.c> ORCPT=utf-8;j\\x{0A}rg@b.c", false, ALL_EXT, STRICT,
     "501 5.5.4 Bad ORCPT parameter value"},
    {"TO:<a@b.c> ORCPT=utf-8;j\\x{D800}rg@b.c", false, ALL_EXT, STRICT,
     "501 5.5.4 Bad ORCPT parameter value"},
    {"TO:<a@b.c> ORCPT=rfc822;a+0D+0A@b.c", false, ALL_EXT, STRICT,
     "501 5.5.4 Bad ORCPT parameter value"},
    {"TO:<a@b.c> ORCPT=rfc822;a+C3+B6@b.c", false, ALL_EXT, STRICT,
     "501 5.5.4 Bad ORCPT parameter value"},
    {"TO:<a@b.c> ORCPT=a@b.c", false, ALL_EXT, STRICT, "501 5.5.4 Bad ORCPT parameter value"},
    {"TO:<a@b.c> ORCPT=;a@b.c", false, ALL_EXT, STRICT, "501 5.5.4 Bad ORCPT parameter value"},
    {"TO:<a@b.c> ORCPT=rfc822;", false, ALL_EXT, STRICT, "501 5.5.4 Bad ORCPT parameter value"},
    {"TO:<a@b.c> ORCPT=rf(c;a", false, ALL_EXT, STRICT, "501 5.5.4 Bad ORCPT parameter value"},
    {"TO:<a@b.c> ORCPT=rfc822;a+ZZ", false, ALL_EXT, STRICT, "501 5.5.4 Bad ORCPT parameter value"},
    {"TO:<a@b.c> NOTIFY=FAILURE ORCPT=rfc822;x@y.z", false, ALL_EXT, STRICT,
     "<a@b.c> local=a domain=b.c notify=F orcpt=rfc822;x@y.z type=rfc822 addr=x@y.z"},
};

static void test_rcpt(void)
{
    for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
        const struct rcpt_case *c = &rcpt_cases[i];
        struct smtp_cmd_opts opts = {.ext = c->ext, .strict = c->strict};
        struct smtp_rcpt_args *r = (void *)1;
        struct smtp_resp resp;
        const char *got;
        int ret = smtp_cmd_rcpt(c->arg, strlen(c->arg), c->smtputf8, &opts, &r, &resp);

        if (ret == 0) {
            CHECK(r != NULL);
            got = rcpt_str(r);
        } else {
            CHECK(r == NULL);
            got = resp_str(&resp);
        }
        if (strcmp(got, c->expect) != 0)
            fprintf(stderr, "  rcpt case %zu: \"%s\"\n    got    %s\n    expect %s\n    why %s\n",
                    i, c->arg, got, c->expect, ret ? resp.why : "");
        CHECK_STREQ(got, c->expect);
        smtp_rcpt_args_free(&r);
    }
    /* ORCPT of 500 characters ok, 501 too long */
    {
        struct smtp_cmd_opts opts = {.ext = ALL_EXT, .strict = true};
        struct smtp_rcpt_args *r;
        struct smtp_resp resp;
        struct buf *b = buf_create(0);
        buf_puts(b, "TO:<a@b.c> ORCPT=rfc822;");
        for (size_t n = strlen("rfc822;"); n < 500; n++)
            buf_putc(b, 'x');
        CHECK_INTEQ(smtp_cmd_rcpt(buf_str(b), buf_len(b), false, &opts, &r, &resp), 0);
        smtp_rcpt_args_free(&r);
        buf_putc(b, 'x');
        CHECK_INTEQ(smtp_cmd_rcpt(buf_str(b), buf_len(b), false, &opts, &r, &resp), -1);
        CHECK_STREQ(resp_str(&resp), "501 5.5.4 Bad ORCPT parameter value");
        buf_free(&b);
    }
}

/* The argument need not be NUL-terminated: parse a prefix of a longer string. */
static void test_not_terminated(void)
{
    struct smtp_cmd_opts opts = {.ext = ALL_EXT};
    const char *s = "FROM:<a@b.c> SIZE=12XYZ";
    struct smtp_mail_args *m;
    struct smtp_resp resp;

    CHECK_INTEQ(smtp_cmd_mail(s, strlen(s) - 3, &opts, &m, &resp), 0);
    CHECK(m && m->size == 12);
    smtp_mail_args_free(&m);
    CHECK_INTEQ(smtp_cmd_mail(s, 11, &opts, &m, &resp), -1); /* "FROM:<a@b.c" */
    CHECK_STREQ(resp_str(&resp), "501 5.1.7 Bad sender address syntax");
}

int main(void)
{
    TEST_RUN(test_split);
    TEST_RUN(test_mail);
    TEST_RUN(test_mail_lengths);
    TEST_RUN(test_rcpt);
    TEST_RUN(test_not_terminated);
    return test_summary();
}
