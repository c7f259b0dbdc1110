/*
 * dict_cidr - cidr: tables: "network/prefix result" lines, first match wins.
 *
 * Owns: parsing a cidr file (IPv4 and IPv6, a bare address meaning /32 or
 * /128, IPv6 optionally in [brackets], "!network/prefix result" negation,
 * and if/endif blocks as in Postfix's cidr_table(5)), and matching a
 * lookup key that is an IP address against the rules in file order.
 *
 * A bad rule (unparsable address, prefix out of range, host bits set past
 * the prefix, missing result) is logged with file and line and skipped, as
 * Postfix does; the rest of the table stays in force. A key that is not an
 * IP address is simply not found.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dict/dict_lines.h"
#include "lib/dict/dict_priv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

struct cidr_rule {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char net[16];  /* network, host bits zero */
    int prefix;
    bool negate;
    bool is_if;             /* an "if" line: on no match jump to skip_to */
    size_t skip_to;         /* index after the matching endif */
    char *result;           /* NULL for if/endif */
    int lineno;
};

struct dict_cidr {
    struct cidr_rule *rules;
    size_t count, size;
};

/* Parse "addr[/prefix]" into family/net/prefix. NULL on success, else the reason. */
static const char *cidr_parse(const char *text, int *family_r, unsigned char *net,
                              int *prefix_r)
{
    char addr[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    int bits, prefix;

    if (alen >= 2 && text[0] == '[' && text[alen - 1] == ']') {
        text++;
        alen -= 2;
        if (memchr(text, ':', alen) == NULL)
            return "brackets are only for IPv6 addresses";
    }
    if (alen == 0 || alen >= sizeof(addr))
        return "bad network address";
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    memset(net, 0, 16);
    if (strchr(addr, ':') != NULL) {
        if (inet_pton(AF_INET6, addr, net) != 1)
            return "bad IPv6 network address";
        *family_r = AF_INET6;
        bits = 128;
    } else {
        if (inet_pton(AF_INET, addr, net) != 1)
            return "bad IPv4 network address";
        *family_r = AF_INET;
        bits = 32;
    }
    if (slash == NULL) {
        prefix = bits;
    } else {
        char *end;
        long v;

        if (!isdigit((unsigned char)slash[1]))
            return "bad network prefix";
        v = strtol(slash + 1, &end, 10);
        if (*end != '\0' || v < 0 || v > bits)
            return bits == 32 ? "network prefix must be 0..32" : "network prefix must be 0..128";
        prefix = (int)v;
    }
    /* Host bits past the prefix must be zero (Postfix: "non-null host address bits"). */
    for (int i = prefix; i < bits; i++)
        if (net[i / 8] & (0x80 >> (i % 8)))
            return "non-null host address bits after the network prefix";
    *prefix_r = prefix;
    return NULL;
}

/* True when addr (of family) is inside the rule's network. */
static bool cidr_match(const struct cidr_rule *r, int family, const unsigned char *addr)
{
    int full = r->prefix / 8, rest = r->prefix % 8;

    if (family != r->family)
        return false;
    if (memcmp(addr, r->net, (size_t)full) != 0)
        return false;
    if (rest != 0 && ((addr[full] ^ r->net[full]) & (0xff << (8 - rest)) & 0xff) != 0)
        return false;
    return true;
}

/* ops: the first rule that matches key. */
static int cidr_lookup(struct dict *d, const char *key, const char **value_r)
{
    struct dict_cidr *c = d->priv;
    unsigned char addr[16];
    int family;

    memset(addr, 0, sizeof(addr));
    if (strchr(key, ':') != NULL) {
        if (inet_pton(AF_INET6, key, addr) != 1)
            return DICT_NOTFOUND;
        family = AF_INET6;
    } else {
        if (inet_pton(AF_INET, key, addr) != 1)
            return DICT_NOTFOUND;
        family = AF_INET;
    }
    for (size_t i = 0; i < c->count;) {
        const struct cidr_rule *r = &c->rules[i];

        if (r->result == NULL && !r->is_if) { /* endif */
            i++;
            continue;
        }
        bool m = cidr_match(r, family, addr) != r->negate;

        if (r->is_if) {
            i = m ? i + 1 : r->skip_to;
            continue;
        }
        if (m) {
            *value_r = r->result;
            return DICT_FOUND;
        }
        i++;
    }
    return DICT_NOTFOUND;
}

/* ops: release the rules. */
static void cidr_close(struct dict *d)
{
    struct dict_cidr *c = d->priv;

    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++)
        mem_free(c->rules[i].result);
    mem_free(c->rules);
    mem_free(c);
    d->priv = NULL;
}

static const struct dict_ops cidr_ops = {
    .lookup = cidr_lookup,
    .close = cidr_close,
};

/* Append a rule. */
static struct cidr_rule *cidr_add(struct dict_cidr *c)
{
    if (c->count == c->size) {
        c->size = c->size ? 2 * c->size : 16;
        c->rules = mem_realloc_array(c->rules, c->size, sizeof(*c->rules));
    }
    memset(&c->rules[c->count], 0, sizeof(c->rules[0]));
    return &c->rules[c->count++];
}

/* cidr: read the rules of path. */
static int cidr_open(struct dict *d, const char *path, int flags)
{
    struct dict_source *src;
    struct dict_cidr *c = mem_alloc(sizeof(*c));
    size_t *ifstack = NULL, depth = 0, ifsize = 0;
    const char *line, *why;
    int lineno, rc;

    d->priv = c;
    d->ops = &cidr_ops;
    if ((src = dict_source_open(path, &why)) == NULL)
        return dict_why(d, "%s", why);
    while ((rc = dict_source_next(src, &line, &lineno, &why)) == 1) {
        const char *p = line, *net;
        size_t nlen;
        bool negate = false, is_if = false;
        struct cidr_rule r;
        const char *err;
        char *nettext;

        if (strncasecmp(p, "endif", 5) == 0 && (p[5] == '\0' || isspace((unsigned char)p[5]))) {
            if (depth == 0) {
                msg_warn("cidr map %s, line %d: ignoring ENDIF without matching IF", path,
                         lineno);
                continue;
            }
            cidr_add(c)->lineno = lineno;
            c->rules[ifstack[--depth]].skip_to = c->count;
            continue;
        }
        if (strncasecmp(p, "if", 2) == 0 && isspace((unsigned char)p[2])) {
            is_if = true;
            p += 2;
            while (isspace((unsigned char)*p))
                p++;
        }
        if (*p == '!') {
            negate = true;
            p++;
        }
        net = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        nlen = (size_t)(p - net);
        while (isspace((unsigned char)*p))
            p++;
        nettext = mem_strndup(net, nlen);
        memset(&r, 0, sizeof(r));
        err = cidr_parse(nettext, &r.family, r.net, &r.prefix);
        if (err != NULL) {
            msg_warn("cidr map %s, line %d: %s: \"%s\" -- skipping this rule", path, lineno, err,
                     nettext);
            mem_free(nettext);
            if (is_if) {
                /* Keep the block structure: an if that never matches. */
                struct cidr_rule *ir = cidr_add(c);

                ir->is_if = true;
                ir->family = -1;
                ir->lineno = lineno;
                if (depth == ifsize) {
                    ifsize = ifsize ? 2 * ifsize : 8;
                    ifstack = mem_realloc_array(ifstack, ifsize, sizeof(*ifstack));
                }
                ifstack[depth++] = c->count - 1;
            }
            continue;
        }
        mem_free(nettext);
        if (is_if) {
            if (*p != '\0')
                msg_warn("cidr map %s, line %d: ignoring text after IF address", path, lineno);
        } else if (*p == '\0') {
            msg_warn("cidr map %s, line %d: no result after \"%.*s\" -- skipping this rule", path,
                     lineno, (int)nlen, net);
            continue;
        }
        struct cidr_rule *nr = cidr_add(c);

        *nr = r;
        nr->negate = negate;
        nr->is_if = is_if;
        nr->lineno = lineno;
        if (is_if) {
            if (depth == ifsize) {
                ifsize = ifsize ? 2 * ifsize : 8;
                ifstack = mem_realloc_array(ifstack, ifsize, sizeof(*ifstack));
            }
            ifstack[depth++] = c->count - 1;
        } else {
            size_t len = strlen(p);

            while (len > 0 && isspace((unsigned char)p[len - 1]))
                len--;
            nr->result = mem_strndup(p, len);
        }
    }
    while (depth > 0) {
        size_t i = ifstack[--depth];

        msg_warn("cidr map %s, line %d: IF has no matching ENDIF", path, c->rules[i].lineno);
        c->rules[i].skip_to = c->count;
    }
    mem_free(ifstack);
    if (rc < 0) {
        dict_source_close(&src);
        return dict_why(d, "%s", why);
    }
    dict_note_file(d, path, dict_source_stat(src));
    dict_source_close(&src);
    return 0;
}

const struct dict_type dict_type_cidr = {
    .name = "cidr",
    .type_flags = DICT_TYPE_FILE,
    .open = cidr_open,
};
