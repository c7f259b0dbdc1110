/*
 * addrlist - RFC 5322 section 3.4 address-list parser, with the obsolete
 * forms of section 4.4 that real mail still carries.
 *
 * The text is first cut into tokens (atoms, quoted strings, domain
 * literals, comments, specials), then parsed:
 *   address-list = address *("," address), empty elements allowed
 *   address      = mailbox / group
 *   group        = phrase ":" [mailbox-list] ";"
 *   mailbox      = [phrase] "<" [route ":"] addr-spec ">" / addr-spec
 *   addr-spec    = local-part ["@" domain]
 * Leniencies (what Postfix's tokenizer and sendmail -t users expect): an
 * address without "@domain" (the caller appends myorigin), "<>", a
 * dot-string local part with empty atoms, a group without its ";" at the
 * end of the text, and an old-style "addr (Full Name)" whose comment
 * becomes the display name. Display names are returned with quotes and
 * escapes removed and white space collapsed; encoded-words are left as
 * they are.
 *
 * An element that does not parse is skipped up to the next "," and the
 * parse goes on; the first error is returned with the good entries kept,
 * so one bad address does not hide the others.
 *
 * Security: no recursion (groups cannot nest; comments are counted, not
 * recursed into), everything is length-bounded, the entry count is capped
 * by the caller's max, and control characters are refused.
 */
#include "config.h"

#include <string.h>

#include "lib/proto/addrlist.h"
#include "lib/proto/mailbox.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"

enum tok_type { T_ATOM, T_QSTR, T_DLIT, T_COMMENT, T_SPECIAL };

struct tok {
    enum tok_type type;
    char ch;           /* the special character */
    size_t start, end; /* span in the input */
    size_t off, len;   /* decoded text in the parser's text buffer */
    bool space_before; /* white space or a comment came before it */
};

struct parser {
    const char *in;
    struct tok *toks;
    size_t n, size;
    struct buf *text; /* decoded token text */
    struct addr_list *list;
    size_t max;
    const char *why; /* first error */
};

#define IS_SPECIAL(c) ((c) != 0 && strchr("()<>[]:;@\\,.\"", (c)) != NULL)

/* Append a token. */
static struct tok *tok_add(struct parser *ps, enum tok_type type, size_t start, bool space)
{
    struct tok *t;

    if (ps->n == ps->size) {
        ps->size = ps->size ? ps->size * 2 : 32;
        ps->toks = mem_realloc_array(ps->toks, ps->size, sizeof(*ps->toks));
    }
    t = &ps->toks[ps->n++];
    memset(t, 0, sizeof(*t));
    t->type = type;
    t->start = start;
    t->off = buf_len(ps->text);
    t->space_before = space;
    return t;
}

/*
 * Read a delimited token (quoted string, comment or domain literal) from
 * in[i], the opening character. Backslash escapes the next byte, line
 * breaks are folding and dropped; comments nest. Returns the index after
 * the closing character, or 0 when it is missing.
 */
static size_t tok_delimited(struct parser *ps, const char *in, size_t len, size_t i, char close,
                            bool keep_delims)
{
    char open = in[i];
    int depth = 1;

    if (keep_delims)
        buf_putc(ps->text, open);
    for (i++; i < len; i++) {
        char c = in[i];
        if (c == '\\' && i + 1 < len) {
            c = in[++i];
            if (keep_delims)
                buf_putc(ps->text, '\\');
        } else if (c == '\r' || c == '\n') {
            continue;
        } else if (c == close && --depth == 0) {
            if (keep_delims)
                buf_putc(ps->text, c);
            return i + 1;
        } else if (open == '(' && c == '(') {
            depth++;
        }
        if (((unsigned char)c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
        buf_putc(ps->text, c);
    }
    return 0;
}

/* Cut in[0..len) into tokens. Returns 0 or -1 (ps->why). */
static int tokenize(struct parser *ps, const char *in, size_t len)
{
    bool space = false;
    size_t i = 0;

    while (i < len) {
        unsigned char c = (unsigned char)in[i];
        struct tok *t;
        size_t next;

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = true;
            i++;
            continue;
        }
        if (c == '"' || c == '(' || c == '[') {
            t = tok_add(ps, c == '"' ? T_QSTR : c == '(' ? T_COMMENT : T_DLIT, i, space);
            next = tok_delimited(ps, in, len, i, c == '"' ? '"' : c == '(' ? ')' : ']',
                                 c == '[');
            if (next == 0) {
                ps->why = c == '"'   ? "unterminated quoted string"
                          : c == '(' ? "unterminated comment"
                                     : "unterminated domain literal";
                return -1;
            }
            t->len = buf_len(ps->text) - t->off;
            t->end = i = next;
            space = t->type == T_COMMENT;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            ps->why = "control character in address list";
            return -1;
        }
        if (IS_SPECIAL(c)) {
            t = tok_add(ps, T_SPECIAL, i, space);
            t->ch = (char)c;
            t->end = ++i;
            space = false;
            continue;
        }
        t = tok_add(ps, T_ATOM, i, space);
        while (i < len && !IS_SPECIAL(in[i]) && (unsigned char)in[i] > 0x20 && in[i] != 0x7f)
            buf_putc(ps->text, in[i++]);
        t->len = buf_len(ps->text) - t->off;
        t->end = i;
        space = false;
    }
    return 0;
}

/* True when token p is the special ch. */
static bool is_special(const struct parser *ps, size_t p, char ch)
{
    return p < ps->n && ps->toks[p].type == T_SPECIAL && ps->toks[p].ch == ch;
}

/* Skip comments at p. */
static size_t skip_comments(const struct parser *ps, size_t p)
{
    while (p < ps->n && ps->toks[p].type == T_COMMENT)
        p++;
    return p;
}

/* Build a display name from tokens [p, end): words and dots; NULL if empty. */
static int phrase(struct parser *ps, size_t p, size_t end, char **out_r)
{
    struct buf *b = buf_create(64);

    *out_r = NULL;
    for (; p < end; p++) {
        const struct tok *t = &ps->toks[p];
        if (t->type == T_COMMENT)
            continue;
        if (t->type != T_ATOM && t->type != T_QSTR && !(t->type == T_SPECIAL && t->ch == '.')) {
            buf_free(&b);
            ps->why = "invalid character in display name";
            return -1;
        }
        if (buf_len(b) > 0 && t->space_before)
            buf_putc(b, ' ');
        if (t->type == T_SPECIAL)
            buf_putc(b, t->ch);
        else
            buf_append(b, buf_str(ps->text) + t->off, t->len);
    }
    if (buf_len(b) > 0)
        *out_r = buf_export(&b);
    else
        buf_free(&b);
    return 0;
}

/* Free the strings of one entry. */
static void entry_free(struct addr_entry *e)
{
    mem_free(e->addr);
    mem_free(e->local);
    mem_free(e->domain);
    mem_free(e->display);
    mem_free(e->group);
}

/* Add an entry; takes ownership of display. Returns 0 or -1 when full. */
static int entry_add(struct parser *ps, struct buf *local, const char *domain, size_t dlen,
                     char *display, const char *group, size_t start, size_t end)
{
    struct addr_list *l = ps->list;
    struct addr_entry *e;
    struct buf *addr;
    int flags = 0;

    if (l->count >= ps->max) {
        mem_free(display);
        ps->why = "too many addresses";
        return -1;
    }
    if (l->count == l->size) {
        l->size = l->size ? l->size * 2 : 8;
        l->v = mem_realloc_array(l->v, l->size, sizeof(*l->v));
    }
    e = &l->v[l->count++];
    memset(e, 0, sizeof(*e));
    addr = buf_create(64);
    if (local) {
        if (mailbox_utf8_valid(buf_str(local), buf_len(local)))
            flags |= MAILBOX_UTF8;
        mailbox_quote_local(addr, buf_str(local), buf_len(local), flags);
        e->local = mem_strndup(buf_str(local), buf_len(local));
    } else {
        e->local = mem_strdup("");
    }
    if (domain) {
        buf_putc(addr, '@');
        buf_append(addr, domain, dlen);
        e->domain = mem_strndup(domain, dlen);
    }
    e->addr = buf_export(&addr);
    e->display = display;
    e->group = group ? mem_strdup(group) : NULL;
    e->start = start;
    e->len = end - start;
    return 0;
}

/*
 * Parse an addr-spec at *pp up to a token that is not part of it. Fills
 * local (internal form), domain (appended to dom, *has_domain_r), span and
 * the last comment seen (old-style name). Returns 0 or -1.
 */
static int addr_spec(struct parser *ps, size_t *pp, struct buf *local, struct buf *dom,
                     bool *has_domain_r, size_t *start_r, size_t *end_r, size_t *comment_r)
{
    size_t p = skip_comments(ps, *pp);
    bool need_word = true, any_word = false;

    *has_domain_r = false;
    *comment_r = (size_t)-1;
    if (p >= ps->n || (ps->toks[p].type != T_ATOM && ps->toks[p].type != T_QSTR &&
                       !is_special(ps, p, '.'))) {
        ps->why = "missing local part";
        return -1;
    }
    *start_r = ps->toks[p].start;
    /* local-part: words and dots (empty atoms tolerated) */
    for (; p < ps->n; p++) {
        const struct tok *t = &ps->toks[p];
        if (t->type == T_COMMENT) {
            *comment_r = p;
            continue;
        }
        if (t->type == T_ATOM || t->type == T_QSTR) {
            if (!need_word)
                break; /* two words in a row: not part of this address */
            buf_append(local, buf_str(ps->text) + t->off, t->len);
            need_word = false;
            any_word = true;
        } else if (t->type == T_SPECIAL && t->ch == '.') {
            buf_putc(local, '.');
            need_word = true;
        } else {
            break;
        }
        *end_r = t->end;
    }
    if (!any_word) {
        ps->why = "empty local part";
        return -1;
    }
    if (is_special(ps, p, '@')) {
        p = skip_comments(ps, p + 1);
        if (p < ps->n && ps->toks[p].type == T_DLIT) {
            buf_append(dom, buf_str(ps->text) + ps->toks[p].off, ps->toks[p].len);
            *end_r = ps->toks[p++].end;
        } else {
            need_word = true;
            for (; p < ps->n; p++) {
                const struct tok *t = &ps->toks[p];
                if (t->type == T_COMMENT) {
                    *comment_r = p;
                    continue;
                }
                if (t->type == T_ATOM && need_word) {
                    buf_append(dom, buf_str(ps->text) + t->off, t->len);
                    need_word = false;
                } else if (t->type == T_SPECIAL && t->ch == '.' && !need_word) {
                    buf_putc(dom, '.');
                    need_word = true;
                } else {
                    break;
                }
                *end_r = t->end;
            }
            if (need_word) {
                ps->why = buf_len(dom) ? "domain ends with a dot" : "missing domain";
                return -1;
            }
        }
        *has_domain_r = true;
    }
    for (; p < ps->n && ps->toks[p].type == T_COMMENT; p++)
        *comment_r = p;
    *pp = p;
    return 0;
}

/* Parse "<" [route ":"] [addr-spec] ">" at *pp (on the "<"). */
static int angle_addr(struct parser *ps, size_t *pp, char *display, const char *group)
{
    struct buf *local = buf_create(64), *dom = buf_create(64);
    size_t p = *pp + 1, start, end, comment;
    bool has_domain;
    int ret = -1;

    p = skip_comments(ps, p);
    if (is_special(ps, p, '>')) {
        /* <> */
        ret = entry_add(ps, NULL, NULL, 0, display, group, ps->toks[*pp].start,
                        ps->toks[p].end);
        display = NULL;
        *pp = p + 1;
        goto out;
    }
    if (is_special(ps, p, '@')) {
        /* obs-route: "@a,@b:" is dropped */
        while (p < ps->n && !is_special(ps, p, ':') && !is_special(ps, p, '>'))
            p++;
        if (!is_special(ps, p, ':')) {
            ps->why = "malformed route";
            goto out;
        }
        p++;
    }
    if (addr_spec(ps, &p, local, dom, &has_domain, &start, &end, &comment) < 0)
        goto out;
    if (!is_special(ps, p, '>')) {
        ps->why = p < ps->n ? "garbage in angle address" : "missing >";
        goto out;
    }
    ret = entry_add(ps, local, has_domain ? buf_str(dom) : NULL, buf_len(dom), display, group,
                    start, end);
    display = NULL;
    *pp = p + 1;
out:
    mem_free(display);
    buf_free(&local);
    buf_free(&dom);
    return ret;
}

/* Parse one mailbox at *pp: name-addr or addr-spec. */
static int mailbox(struct parser *ps, size_t *pp, const char *group)
{
    size_t p = *pp, q;
    char *display;

    /* a "<" before the next "," / ";" / "@" makes this a name-addr */
    for (q = p; q < ps->n; q++) {
        const struct tok *t = &ps->toks[q];
        if (t->type == T_SPECIAL && strchr("<,;@:>", t->ch))
            break;
    }
    if (is_special(ps, q, '<')) {
        if (phrase(ps, p, q, &display) < 0)
            return -1;
        *pp = q;
        return angle_addr(ps, pp, display, group);
    }
    {
        struct buf *local = buf_create(64), *dom = buf_create(64);
        size_t start, end, comment;
        bool has_domain;
        int ret = addr_spec(ps, &p, local, dom, &has_domain, &start, &end, &comment);
        if (ret == 0) {
            display = NULL;
            if (comment != (size_t)-1 && ps->toks[comment].len > 0)
                display = mem_strndup(buf_str(ps->text) + ps->toks[comment].off,
                                      ps->toks[comment].len);
            ret = entry_add(ps, local, has_domain ? buf_str(dom) : NULL, buf_len(dom), display,
                            group, start, end);
            *pp = p;
        }
        buf_free(&local);
        buf_free(&dom);
        return ret;
    }
}

/* Skip to the next "," (or ";" in a group) after an error. */
static size_t recover(const struct parser *ps, size_t p, bool in_group)
{
    while (p < ps->n && !is_special(ps, p, ',') && !(in_group && is_special(ps, p, ';')))
        p++;
    return p;
}

/* Parse the whole token list. */
static int parse(struct parser *ps)
{
    const char *first = NULL;
    char *group = NULL;
    size_t p = 0;

    while (p < ps->n) {
        size_t q;
        p = skip_comments(ps, p);
        if (p >= ps->n)
            break;
        if (is_special(ps, p, ',')) {
            p++;
            continue;
        }
        if (group && is_special(ps, p, ';')) {
            MEM_FREE(&group);
            p++;
            continue;
        }
        /* a ":" before any "<", "@", "," or ";" starts a group */
        for (q = p; q < ps->n; q++) {
            const struct tok *t = &ps->toks[q];
            if (t->type == T_SPECIAL && strchr("<@,;:", t->ch))
                break;
        }
        if (is_special(ps, q, ':')) {
            if (group) {
                ps->why = "group inside a group";
            } else if (phrase(ps, p, q, &group) == 0) {
                if (group == NULL)
                    group = mem_strdup("");
                p = q + 1;
                continue;
            }
        } else {
            size_t count = ps->list->count;
            if (mailbox(ps, &p, group) == 0) {
                p = skip_comments(ps, p);
                if (p >= ps->n || is_special(ps, p, ',') || (group && is_special(ps, p, ';')))
                    continue;
                ps->why = "garbage after address";
                /* "John Smith": do not keep "John" as an address */
                while (ps->list->count > count)
                    entry_free(&ps->list->v[--ps->list->count]);
            }
        }
        if (!first)
            first = ps->why;
        if (ps->list->count >= ps->max)
            break;
        p = recover(ps, p + 1, group != NULL);
    }
    mem_free(group);
    ps->why = first;
    return first ? -1 : 0;
}

/* Create an empty address list. */
struct addr_list *addr_list_create(void)
{
    return mem_alloc(sizeof(struct addr_list));
}

/* Free an address list; clear the caller's pointer. */
void addr_list_free(struct addr_list **lp)
{
    struct addr_list *l = *lp;

    if (l == NULL)
        return;
    for (size_t i = 0; i < l->count; i++)
        entry_free(&l->v[i]);
    mem_free(l->v);
    mem_free(l);
    *lp = NULL;
}

/*
 * Parse the address list in[0..len) (a header value, folding allowed) and
 * append its addresses to l, at most max in all (0: ADDRLIST_MAX). Returns
 * 0, or -1 with the first problem in *why_r; entries that parsed are kept.
 */
int addr_list_parse(struct addr_list *l, const char *in, size_t len, size_t max,
                    const char **why_r)
{
    struct parser ps = {.in = in, .list = l, .max = max ? max : ADDRLIST_MAX};
    int ret;

    ps.text = buf_create(len + 1);
    ret = tokenize(&ps, in, len);
    if (ret == 0)
        ret = parse(&ps);
    if (ret < 0 && why_r)
        *why_r = ps.why;
    mem_free(ps.toks);
    buf_free(&ps.text);
    return ret;
}
