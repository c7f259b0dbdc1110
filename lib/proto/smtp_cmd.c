/*
 * smtp_cmd - take SMTP command lines apart: verb + argument, and the MAIL
 * FROM / RCPT TO argument (path and ESMTP parameters).
 *
 * Strict mode is RFC 5321: "FROM:<path>" with no space after the colon,
 * angle brackets required, dot-strings without empty atoms, domains by the
 * book. Lenient mode (Postfix smtpd_strict_rfc821_envelopes = no, the
 * default there and here) also takes "FROM: <path>", "FROM:addr" without
 * brackets, "john..doe@" style local parts, domain-less addresses (policy
 * decides about those later), "_" in domains. In both modes the source
 * route "@a,@b:" is checked and dropped, <> is the null reverse-path and
 * <postmaster> is a valid forward-path.
 *
 * ESMTP parameters are accepted only for extensions the session offered
 * (opts->ext); others get 555 5.5.4. Parameter errors are reported in the
 * order the parameters appear, after any address error; SIZE is compared
 * with the limit last, as Postfix does.
 *
 * Security: input is the client's line, taken as (pointer, length), never
 * assumed NUL-terminated; NUL and control characters are refused. Lengths
 * follow RFC 5321 section 4.5.3.1 (local part 64, domain 255, path 256),
 * ENVID 100 and ORCPT 500 (RFC 3461). UTF-8 is accepted only with SMTPUTF8
 * and is checked to be well-formed. Decoded xtext values must be printable
 * (no NUL or CR/LF can reach a queue file or a log line).
 */
#include "config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "lib/proto/mailbox.h"
#include "lib/proto/smtp_cmd.h"
#include "lib/proto/xtext.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"

#define ENVID_MAX 100  /* RFC 3461 section 4.4 */
#define ORCPT_MAX 500  /* RFC 3461 section 4.2 */
#define AUTH_MAX  500  /* RFC 4954 section 5 has no limit; a path is 256 */
#define PARAM_MAX 32   /* parameters on one command */
#define SIZE_DIGITS 20 /* RFC 1870 size-value = 1*20DIGIT */

#define IS_WSP(c) ((c) == ' ' || (c) == '\t')

/* Set resp->why and return -1. */
static int failed(struct smtp_resp *r, const char *why)
{
    r->why = why;
    return -1;
}

/*
 * Split a command line (its CRLF already removed) into an upper-case verb
 * and the argument after it. Returns 0, or -1 with the reply in resp_r.
 */
int smtp_cmd_split(const char *line, size_t len, struct smtp_cmd *cmd_r,
                   struct smtp_resp *resp_r)
{
    size_t i = 0, n = 0;

    smtp_resp_clear(resp_r);
    cmd_r->verb[0] = 0;
    cmd_r->arg = line + len;
    cmd_r->arg_len = 0;
    if (memchr(line, 0, len) != NULL) {
        smtp_resp_set(resp_r, 500, "5.5.2", "Error: bad syntax");
        return failed(resp_r, "NUL byte in command");
    }
    /* a stray CR before the stripped LF, and trailing blanks */
    while (len > 0 && (IS_WSP(line[len - 1]) || line[len - 1] == '\r'))
        len--;
    while (i < len && IS_WSP(line[i]))
        i++;
    if (i == len) {
        smtp_resp_set(resp_r, 500, "5.5.2", "Error: bad syntax");
        return failed(resp_r, "empty command");
    }
    for (; i < len && !IS_WSP(line[i]); i++, n++) {
        unsigned char c = (unsigned char)line[i];
        if (n >= SMTP_VERB_MAX || !(isascii(c) && (isalnum(c) || c == '-'))) {
            smtp_resp_set(resp_r, 500, "5.5.2", "Error: command not recognized");
            cmd_r->verb[0] = 0;
            return failed(resp_r, "malformed command verb");
        }
        cmd_r->verb[n] = (char)toupper(c);
    }
    cmd_r->verb[n] = 0;
    while (i < len && IS_WSP(line[i]))
        i++;
    cmd_r->arg = line + i;
    cmd_r->arg_len = len - i;
    return 0;
}

/* Free the strings of a path and clear it. */
void smtp_path_clear(struct smtp_path *path)
{
    MEM_FREE(&path->addr);
    MEM_FREE(&path->local);
    MEM_FREE(&path->domain);
    path->null = path->utf8 = path->route = false;
}

/* Check and skip a source route "@a,@b:" at s; sets *used_r. */
static int route_skip(const char *s, size_t len, int flags, size_t *used_r, const char **why_r)
{
    size_t i = 0;

    for (;;) {
        size_t start;
        int ret;
        if (i >= len || s[i] != '@') {
            *why_r = "malformed source route";
            return MAILBOX_ERR_SYNTAX;
        }
        start = ++i;
        while (i < len && s[i] != ',' && s[i] != ':')
            i++;
        if ((ret = mailbox_domain_check(s + start, i - start, flags, why_r)) != 0)
            return ret;
        if (i >= len) {
            *why_r = "malformed source route";
            return MAILBOX_ERR_SYNTAX;
        }
        if (s[i++] == ':')
            break;
    }
    *used_r = i;
    return 0;
}

/*
 * Parse the text between the angle brackets of a path: empty (<>), an
 * optional source route, then a Mailbox; rcpt allows <postmaster>. flags
 * are MAILBOX_*. Returns 0 (path_r filled) or a MAILBOX_ERR_* with why_r.
 */
int smtp_path_parse(const char *s, size_t len, int flags, bool rcpt, struct smtp_path *path_r,
                    const char **why_r)
{
    struct buf *local = buf_create(64), *addr;
    size_t used = 0, skip = 0;
    const char *dom = NULL;
    size_t dom_len = 0;
    bool route = false;
    int ret;

    memset(path_r, 0, sizeof(*path_r));
    if (len == 0) {
        buf_free(&local);
        if (rcpt) {
            *why_r = "null recipient address";
            return MAILBOX_ERR_SYNTAX;
        }
        path_r->addr = mem_strdup("");
        path_r->local = mem_strdup("");
        path_r->null = true;
        return 0;
    }
    if (s[0] == '@') {
        if ((ret = route_skip(s, len, flags, &skip, why_r)) != 0)
            goto out;
        s += skip, len -= skip;
        route = true;
    }
    if ((ret = mailbox_local_parse(s, len, flags, local, &used, why_r)) != 0)
        goto out;
    if (used < len) {
        /* s[used] == '@' */
        dom = s + used + 1;
        dom_len = len - used - 1;
        if ((ret = mailbox_domain_check(dom, dom_len, flags, why_r)) != 0)
            goto out;
    } else if (!((rcpt && s[0] != '"' && strcasecmp(buf_str(local), "postmaster") == 0) ||
                 (flags & MAILBOX_LENIENT))) {
        *why_r = "address has no domain";
        ret = MAILBOX_ERR_SYNTAX;
        goto out;
    }
    addr = buf_create(len);
    mailbox_quote_local(addr, buf_str(local), buf_len(local), flags);
    if (dom) {
        buf_putc(addr, '@');
        buf_append(addr, dom, dom_len);
        path_r->domain = mem_strndup(dom, dom_len);
    }
    path_r->addr = buf_export(&addr);
    path_r->local = buf_export(&local);
    path_r->utf8 = mailbox_has_8bit(s, len);
    path_r->route = route;
    return 0;
out:
    buf_free(&local);
    return ret;
}

/*
 * Find the path in arg: "<...>" (the '>' outside quotes) or, lenient, a
 * bare word. Sets *start_r and *len_r to the inside and *end_r past the path.
 * Returns 0, or -1 when there is no path at all.
 */
static int path_find(const char *arg, size_t len, bool strict, size_t *start_r, size_t *len_r,
                     size_t *end_r)
{
    bool quoted = false;
    size_t i;

    if (len > 0 && arg[0] == '<') {
        for (i = 1; i < len; i++) {
            if (quoted && arg[i] == '\\' && i + 1 < len)
                i++;
            else if (arg[i] == '"')
                quoted = !quoted;
            else if (arg[i] == '>' && !quoted)
                break;
        }
        if (i >= len)
            return -1;
        *start_r = 1;
        *len_r = i - 1;
        *end_r = i + 1;
        return 0;
    }
    if (strict)
        return -1;
    for (i = 0; i < len && (quoted || !IS_WSP(arg[i])); i++) {
        if (quoted && arg[i] == '\\' && i + 1 < len)
            i++;
        else if (arg[i] == '"')
            quoted = !quoted;
    }
    if (i == 0)
        return -1;
    *start_r = 0;
    *len_r = i;
    *end_r = i;
    return 0;
}

/* Parameter handlers share this context. */
struct param_ctx {
    const struct smtp_cmd_opts *opts;
    bool smtputf8;
    struct smtp_mail_args *mail;
    struct smtp_rcpt_args *rcpt;
    struct smtp_resp *resp;
};

/* True when v[0..len) is printable US-ASCII (space allowed). */
static bool printable(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
            return false;
    return true;
}

/* SIZE=n (RFC 1870): digits only; the limit is checked after all parameters. */
static int param_size(struct param_ctx *c, const char *v, size_t len)
{
    unsigned long long n = 0;
    bool overflow = false;

    if (len > SIZE_DIGITS) {
        smtp_resp_set(c->resp, 501, "5.5.4", "Bad SIZE parameter value");
        return failed(c->resp, "SIZE value longer than 20 digits");
    }
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') {
            smtp_resp_set(c->resp, 501, "5.5.4", "Bad SIZE parameter value");
            return failed(c->resp, "SIZE value is not a number");
        }
        if (n > (~0ULL - (unsigned)(v[i] - '0')) / 10)
            overflow = true;
        else
            n = n * 10 + (unsigned)(v[i] - '0');
    }
    c->mail->has_size = true;
    c->mail->size = overflow ? ~0ULL : n;
    return 0;
}

/* BODY=7BIT|8BITMIME|BINARYMIME (RFC 6152, RFC 3030). */
static int param_body(struct param_ctx *c, const char *v, size_t len)
{
    if (len == 4 && strncasecmp(v, "7BIT", 4) == 0) {
        c->mail->body = SMTP_BODY_7BIT;
    } else if (len == 8 && strncasecmp(v, "8BITMIME", 8) == 0) {
        c->mail->body = SMTP_BODY_8BITMIME;
    } else if (len == 10 && strncasecmp(v, "BINARYMIME", 10) == 0) {
        if (!(c->opts->ext & SMTP_EXT_BINARYMIME)) {
            smtp_resp_set(c->resp, 555, "5.5.4", "Unsupported option: BODY=BINARYMIME");
            return failed(c->resp, "BINARYMIME not offered");
        }
        c->mail->body = SMTP_BODY_BINARYMIME;
    } else {
        smtp_resp_set(c->resp, 501, "5.5.4", "Bad BODY parameter value");
        return failed(c->resp, "unknown BODY value");
    }
    return 0;
}

/* SMTPUTF8 (RFC 6531): no value. */
static int param_smtputf8(struct param_ctx *c, const char *v, size_t len)
{
    c->mail->smtputf8 = true;
    return 0;
}

/* REQUIRETLS (RFC 8689): no value. */
static int param_requiretls(struct param_ctx *c, const char *v, size_t len)
{
    c->mail->requiretls = true;
    return 0;
}

/* RET=FULL|HDRS (RFC 3461 section 4.3). */
static int param_ret(struct param_ctx *c, const char *v, size_t len)
{
    if (len == 4 && strncasecmp(v, "FULL", 4) == 0) {
        c->mail->ret = SMTP_RET_FULL;
    } else if (len == 4 && strncasecmp(v, "HDRS", 4) == 0) {
        c->mail->ret = SMTP_RET_HDRS;
    } else {
        smtp_resp_set(c->resp, 501, "5.5.4", "Bad RET parameter value");
        return failed(c->resp, "RET is neither FULL nor HDRS");
    }
    return 0;
}

/* Decode an xtext value that must come out printable; NULL on failure. */
static char *xtext_printable(const char *v, size_t len, const char **why_r)
{
    struct buf *b = buf_create(len);

    if (xtext_decode(b, v, len, why_r) < 0) {
        buf_free(&b);
        return NULL;
    }
    if (!printable(buf_str(b), buf_len(b))) {
        *why_r = "decoded xtext is not printable";
        buf_free(&b);
        return NULL;
    }
    return buf_export(&b);
}

/* ENVID=xtext (RFC 3461 section 4.4), at most 100 characters. */
static int param_envid(struct param_ctx *c, const char *v, size_t len)
{
    const char *why = "ENVID longer than 100 characters";

    if (len > ENVID_MAX || (c->mail->envid = xtext_printable(v, len, &why)) == NULL) {
        smtp_resp_set(c->resp, 501, "5.5.4", "Bad ENVID parameter value");
        return failed(c->resp, why);
    }
    return 0;
}

/* AUTH=xtext mailbox or <> (RFC 4954 section 5). */
static int param_auth(struct param_ctx *c, const char *v, size_t len)
{
    const char *why = "AUTH value too long";
    struct buf *b;

    if (len > AUTH_MAX) {
        smtp_resp_set(c->resp, 501, "5.5.4", "Bad AUTH parameter value");
        return failed(c->resp, why);
    }
    b = buf_create(len);
    if (xtext_decode(b, v, len, &why) == 0) {
        bool ok = c->smtputf8 ? mailbox_utf8_valid(buf_str(b), buf_len(b)) : true;
        for (size_t i = 0; ok && i < buf_len(b); i++) {
            unsigned char ch = (unsigned char)buf_str(b)[i];
            ok = ch >= 0x20 && ch != 0x7f && (ch < 0x80 || c->smtputf8);
        }
        if (ok && buf_len(b) > 0) {
            c->mail->auth = buf_export(&b);
            return 0;
        }
        why = "AUTH value is not a mailbox";
    }
    buf_free(&b);
    smtp_resp_set(c->resp, 501, "5.5.4", "Bad AUTH parameter value");
    return failed(c->resp, why);
}

/* NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY (RFC 3461 section 4.1). */
static int param_notify(struct param_ctx *c, const char *v, size_t len)
{
    static const struct {
        const char *name;
        int bit;
    } words[] = {{"NEVER", SMTP_NOTIFY_NEVER},
                 {"SUCCESS", SMTP_NOTIFY_SUCCESS},
                 {"FAILURE", SMTP_NOTIFY_FAILURE},
                 {"DELAY", SMTP_NOTIFY_DELAY}};
    int bits = 0;
    size_t i = 0;

    while (i <= len) {
        size_t start = i, wlen, k;
        while (i < len && v[i] != ',')
            i++;
        wlen = i - start;
        for (k = 0; k < sizeof(words) / sizeof(words[0]); k++)
            if (strlen(words[k].name) == wlen && strncasecmp(v + start, words[k].name, wlen) == 0)
                break;
        if (k == sizeof(words) / sizeof(words[0])) {
            smtp_resp_set(c->resp, 501, "5.5.4", "Bad NOTIFY parameter value");
            return failed(c->resp, "unknown NOTIFY keyword");
        }
        bits |= words[k].bit;
        i++;
    }
    if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER) {
        smtp_resp_set(c->resp, 501, "5.5.4", "Bad NOTIFY parameter value");
        return failed(c->resp, "NOTIFY=NEVER combined with other keywords");
    }
    c->rcpt->notify = bits;
    return 0;
}

/* ORCPT=addr-type;xtext (RFC 3461 section 4.2, utf-8 type RFC 6533). */
static int param_orcpt(struct param_ctx *c, const char *v, size_t len)
{
    const char *semi = memchr(v, ';', len);
    const char *why = "ORCPT longer than 500 characters";
    struct buf *b;
    size_t tlen, k;
    int ret;

    if (len > ORCPT_MAX)
        goto bad;
    why = "ORCPT without addr-type";
    if (semi == NULL || semi == v)
        goto bad;
    tlen = (size_t)(semi - v);
    for (k = 0; k < tlen; k++) {
        /* addr-type is an RFC 822 atom */
        if (!mailbox_is_atext(v[k], 0))
            goto bad;
    }
    v += tlen + 1, len -= tlen + 1;
    why = "empty ORCPT address";
    if (len == 0)
        goto bad;
    b = buf_create(len);
    if (tlen == 5 && strncasecmp(v - tlen - 1, "utf-8", 5) == 0) {
        ret = xtext_utf8_decode(b, v, len, c->smtputf8, &why);
        for (k = 0; ret == 0 && k < buf_len(b); k++)
            if ((unsigned char)buf_str(b)[k] < 0x20 || buf_str(b)[k] == 0x7f)
                why = "decoded ORCPT is not printable", ret = -1;
    } else {
        ret = xtext_decode(b, v, len, &why);
        if (ret == 0 && !printable(buf_str(b), buf_len(b)))
            why = "decoded ORCPT is not printable US-ASCII", ret = -1;
    }
    if (ret < 0) {
        buf_free(&b);
        goto bad;
    }
    c->rcpt->orcpt_addr = buf_export(&b);
    c->rcpt->orcpt = mem_strndup(v - tlen - 1, tlen + 1 + len);
    c->rcpt->orcpt_type = mem_strndup(v - tlen - 1, tlen);
    for (char *p = c->rcpt->orcpt_type; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
bad:
    smtp_resp_set(c->resp, 501, "5.5.4", "Bad ORCPT parameter value");
    return failed(c->resp, why);
}

#define FOR_MAIL 1
#define FOR_RCPT 2

static const struct param_def {
    const char *name;
    int cmd;        /* FOR_MAIL or FOR_RCPT */
    unsigned ext;   /* extension that must be offered */
    bool value;     /* takes a value (required) or none (forbidden) */
    int (*handler)(struct param_ctx *, const char *, size_t);
} param_table[] = {
    {"SIZE", FOR_MAIL, SMTP_EXT_SIZE, true, param_size},
    {"BODY", FOR_MAIL, SMTP_EXT_8BITMIME, true, param_body},
    {"SMTPUTF8", FOR_MAIL, SMTP_EXT_SMTPUTF8, false, param_smtputf8},
    {"REQUIRETLS", FOR_MAIL, SMTP_EXT_REQUIRETLS, false, param_requiretls},
    {"RET", FOR_MAIL, SMTP_EXT_DSN, true, param_ret},
    {"ENVID", FOR_MAIL, SMTP_EXT_DSN, true, param_envid},
    {"AUTH", FOR_MAIL, SMTP_EXT_AUTH, true, param_auth},
    {"NOTIFY", FOR_RCPT, SMTP_EXT_DSN, true, param_notify},
    {"ORCPT", FOR_RCPT, SMTP_EXT_DSN, true, param_orcpt},
};

/* One esmtp-param, located in the argument. */
struct param {
    const char *key;
    size_t key_len;
    const char *val; /* NULL when there is no "=" */
    size_t val_len;
};

/*
 * Split the parameter part into esmtp-params and check their syntax:
 * keyword (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), value 1*(%d33-60 /
 * %d62-126), plus UTF-8 under SMTPUTF8 (RFC 6531). Returns the count or -1.
 */
static int params_split(const char *s, size_t len, struct param *pv, int max, const char **why_r)
{
    size_t i = 0;
    int n = 0;

    for (;;) {
        struct param *p;
        while (i < len && IS_WSP(s[i]))
            i++;
        if (i >= len)
            return n;
        if (n >= max) {
            *why_r = "too many parameters";
            return -1;
        }
        p = &pv[n++];
        p->key = s + i;
        while (i < len && isascii((unsigned char)s[i]) && (isalnum((unsigned char)s[i]) ||
                                                           (s[i] == '-' && s + i != p->key)))
            i++;
        p->key_len = (size_t)(s + i - p->key);
        p->val = NULL;
        p->val_len = 0;
        if (p->key_len == 0) {
            *why_r = "malformed parameter keyword";
            return -1;
        }
        if (i < len && s[i] == '=') {
            p->val = s + ++i;
            while (i < len && !IS_WSP(s[i])) {
                unsigned char c = (unsigned char)s[i];
                if (c == '=' || c < 33 || c == 127) {
                    *why_r = "malformed parameter value";
                    return -1;
                }
                i++;
            }
            p->val_len = (size_t)(s + i - p->val);
            if (p->val_len == 0) {
                *why_r = "empty parameter value";
                return -1;
            }
        }
        if (i < len && !IS_WSP(s[i])) {
            *why_r = "malformed parameter";
            return -1;
        }
    }
}

/* Copy a keyword into a reply-safe, bounded, upper-case string. */
static void key_copy(char *dst, size_t size, const char *key, size_t len)
{
    size_t n = len < size - 1 ? len : size - 1;

    for (size_t i = 0; i < n; i++)
        dst[i] = (char)toupper((unsigned char)key[i]);
    dst[n] = 0;
}

/* Look up, check and apply each parameter. Returns 0 or -1 (resp set). */
static int params_apply(struct param_ctx *c, const struct param *pv, int n, int cmd)
{
    unsigned seen = 0;
    char name[40];

    for (int i = 0; i < n; i++) {
        const struct param *p = &pv[i];
        size_t k;
        for (k = 0; k < sizeof(param_table) / sizeof(param_table[0]); k++) {
            const struct param_def *d = &param_table[k];
            if (d->cmd == cmd && strlen(d->name) == p->key_len &&
                strncasecmp(d->name, p->key, p->key_len) == 0 && (c->opts->ext & d->ext))
                break;
        }
        key_copy(name, sizeof(name), p->key, p->key_len);
        if (k == sizeof(param_table) / sizeof(param_table[0])) {
            smtp_resp_set(c->resp, 555, "5.5.4", "Unsupported option: %s", name);
            return failed(c->resp, "unknown or not offered parameter");
        }
        if (seen & (1u << k)) {
            smtp_resp_set(c->resp, 501, "5.5.4", "Duplicate parameter: %s", name);
            return failed(c->resp, "parameter given twice");
        }
        seen |= 1u << k;
        if (param_table[k].value && p->val == NULL) {
            smtp_resp_set(c->resp, 501, "5.5.4", "Parameter %s needs a value", name);
            return failed(c->resp, "parameter without value");
        }
        if (!param_table[k].value && p->val != NULL) {
            smtp_resp_set(c->resp, 501, "5.5.4", "Parameter %s takes no value", name);
            return failed(c->resp, "parameter with unexpected value");
        }
        if (p->val && mailbox_has_8bit(p->val, p->val_len) &&
            (!c->smtputf8 || !mailbox_utf8_valid(p->val, p->val_len))) {
            smtp_resp_set(c->resp, 501, "5.5.4", "Syntax error in parameters");
            return failed(c->resp, c->smtputf8 ? "malformed UTF-8 in parameter"
                                               : "non-ASCII parameter without SMTPUTF8");
        }
        if (param_table[k].handler(c, p->val, p->val_len) < 0)
            return -1;
    }
    return 0;
}

/* True when one of the parameters is SMTPUTF8 and the session offers it. */
static bool params_want_utf8(const struct param *pv, int n, const struct smtp_cmd_opts *opts)
{
    if (!(opts->ext & SMTP_EXT_SMTPUTF8))
        return false;
    for (int i = 0; i < n; i++)
        if (pv[i].key_len == 8 && strncasecmp(pv[i].key, "SMTPUTF8", 8) == 0)
            return true;
    return false;
}

/*
 * Common part of MAIL and RCPT: "FROM:"/"TO:", path, parameters. Fills
 * path and the parameter fields through c. Returns 0 or -1 (resp set).
 */
static int cmd_parse(const char *arg, size_t len, int cmd, struct param_ctx *c,
                     struct smtp_path *path)
{
    const char *kw = cmd == FOR_MAIL ? "FROM:" : "TO:";
    size_t kwlen = strlen(kw), pstart, plen, pend, i;
    bool rcpt = cmd == FOR_RCPT;
    bool strict = c->opts->strict;
    struct param pv[PARAM_MAX];
    const char *why = NULL;
    int n, flags, ret;

    if (len < kwlen || strncasecmp(arg, kw, kwlen) != 0) {
        smtp_resp_set(c->resp, 501, "5.5.4", rcpt ? "Syntax: RCPT TO:<address>"
                                                   : "Syntax: MAIL FROM:<address>");
        return failed(c->resp, rcpt ? "no TO:" : "no FROM:");
    }
    arg += kwlen, len -= kwlen;
    i = 0;
    if (!strict)
        while (i < len && IS_WSP(arg[i]))
            i++;
    if (i == len) {
        smtp_resp_set(c->resp, 501, "5.5.4", rcpt ? "Syntax: RCPT TO:<address>"
                                                   : "Syntax: MAIL FROM:<address>");
        return failed(c->resp, "no address");
    }
    if (path_find(arg + i, len - i, strict, &pstart, &plen, &pend) < 0) {
        why = strict && arg[i] != '<' ? "address not in angle brackets" : "malformed path";
        goto bad_addr;
    }
    pstart += i, pend += i;
    if (pend < len && !IS_WSP(arg[pend])) {
        why = "garbage after address";
        goto bad_addr;
    }
    if ((n = params_split(arg + pend, len - pend, pv, PARAM_MAX, &why)) < 0) {
        smtp_resp_set(c->resp, 501, "5.5.4", "Syntax error in parameters");
        return failed(c->resp, why);
    }
    if (cmd == FOR_MAIL)
        c->smtputf8 = params_want_utf8(pv, n, c->opts);
    flags = (c->smtputf8 ? MAILBOX_UTF8 : 0) | (strict ? 0 : MAILBOX_LENIENT);
    if (plen + 2 > MAILBOX_PATH_MAX) {
        why = "path longer than 256 octets";
        ret = MAILBOX_ERR_TOOLONG;
    } else {
        ret = smtp_path_parse(arg + pstart, plen, flags, rcpt, path, &why);
    }
    if (ret == MAILBOX_ERR_TOOLONG) {
        smtp_resp_set(c->resp, 501, rcpt ? "5.1.3" : "5.1.7", "Path too long");
        return failed(c->resp, why);
    }
    if (ret == MAILBOX_ERR_8BIT) {
        smtp_resp_set(c->resp, 553, "5.6.7", "Non-ASCII %s address needs SMTPUTF8",
                      rcpt ? "recipient" : "sender");
        return failed(c->resp, why);
    }
    if (ret != 0)
        goto bad_addr;
    if (params_apply(c, pv, n, cmd) < 0)
        return -1;
    if (cmd == FOR_MAIL && c->mail->has_size && c->opts->size_limit > 0 &&
        c->mail->size > c->opts->size_limit) {
        smtp_resp_set(c->resp, 552, "5.3.4", "Message size exceeds fixed limit");
        return failed(c->resp, "SIZE over message_size_limit");
    }
    return 0;
bad_addr:
    smtp_resp_set(c->resp, 501, rcpt ? "5.1.3" : "5.1.7", "Bad %s address syntax",
                  rcpt ? "recipient" : "sender");
    return failed(c->resp, why);
}

/*
 * Parse the argument of MAIL ("FROM:<path> params"). Returns 0 with
 * *mail_r allocated (free with smtp_mail_args_free), or -1 with the reply
 * in resp_r and *mail_r NULL.
 */
int smtp_cmd_mail(const char *arg, size_t len, const struct smtp_cmd_opts *opts,
                  struct smtp_mail_args **mail_r, struct smtp_resp *resp_r)
{
    struct smtp_mail_args *m = mem_alloc(sizeof(*m));
    struct param_ctx c = {.opts = opts, .mail = m, .resp = resp_r};

    smtp_resp_clear(resp_r);
    *mail_r = NULL;
    if (cmd_parse(arg, len, FOR_MAIL, &c, &m->path) < 0) {
        smtp_mail_args_free(&m);
        return -1;
    }
    *mail_r = m;
    return 0;
}

/*
 * Parse the argument of RCPT ("TO:<path> params"); smtputf8 says whether
 * the transaction's MAIL had SMTPUTF8. Returns 0 with *rcpt_r allocated
 * (free with smtp_rcpt_args_free), or -1 with the reply in resp_r.
 */
int smtp_cmd_rcpt(const char *arg, size_t len, bool smtputf8, const struct smtp_cmd_opts *opts,
                  struct smtp_rcpt_args **rcpt_r, struct smtp_resp *resp_r)
{
    struct smtp_rcpt_args *r = mem_alloc(sizeof(*r));
    struct param_ctx c = {.opts = opts, .rcpt = r, .resp = resp_r};

    c.smtputf8 = smtputf8 && (opts->ext & SMTP_EXT_SMTPUTF8);
    smtp_resp_clear(resp_r);
    *rcpt_r = NULL;
    if (cmd_parse(arg, len, FOR_RCPT, &c, &r->path) < 0) {
        smtp_rcpt_args_free(&r);
        return -1;
    }
    *rcpt_r = r;
    return 0;
}

/* Free parsed MAIL arguments; clear the caller's pointer. */
void smtp_mail_args_free(struct smtp_mail_args **mp)
{
    struct smtp_mail_args *m = *mp;

    if (m == NULL)
        return;
    smtp_path_clear(&m->path);
    mem_free(m->envid);
    mem_free(m->auth);
    mem_free(m);
    *mp = NULL;
}

/* Free parsed RCPT arguments; clear the caller's pointer. */
void smtp_rcpt_args_free(struct smtp_rcpt_args **rp)
{
    struct smtp_rcpt_args *r = *rp;

    if (r == NULL)
        return;
    smtp_path_clear(&r->path);
    mem_free(r->orcpt);
    mem_free(r->orcpt_type);
    mem_free(r->orcpt_addr);
    mem_free(r);
    *rp = NULL;
}
