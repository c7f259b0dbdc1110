/*
 * dict_mem - in-memory tables: the store behind texthash: and inline:, and
 * the static: type.
 *
 * Owns: a hash table with chaining that keeps insertion order for
 * dict_sequence(); texthash: (a postmap source file read into memory at
 * open, same syntax and warnings as postmap), inline:{ k=v, { k = v } }
 * and static:value / static:{ value with spaces }.
 *
 * Security: the texthash file is read through dict_lines (bounded lines);
 * inline: and static: text comes from main.cf and is bounded by the
 * configuration reader and DICT_VALUE_MAX.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "lib/dict/dict_lines.h"
#include "lib/dict/dict_priv.h"
#include "lib/dict/dict_util.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"

struct dict_mem_entry {
    char *key;
    char *value;
    struct dict_mem_entry *next; /* hash chain */
    bool deleted;
};

struct dict_mem {
    struct dict_mem_entry **bucket;
    size_t nbucket;
    size_t count;
    struct dict_mem_entry **order; /* insertion order, deleted entries included */
    size_t norder, order_size;
    size_t cursor;
};

/* The bucket of key in a table of n buckets. */
static size_t dict_mem_hash(const char *key, size_t n)
{
    return (size_t)(str_hash(key) % n);
}

/* Create an empty table. */
struct dict_mem *dict_mem_create(void)
{
    struct dict_mem *m = mem_alloc(sizeof(*m));

    m->nbucket = 64;
    m->bucket = mem_alloc_array(m->nbucket, sizeof(*m->bucket));
    return m;
}

/* Destroy a table. */
void dict_mem_free(struct dict_mem **mp)
{
    struct dict_mem *m = *mp;

    if (m == NULL)
        return;
    for (size_t i = 0; i < m->norder; i++) {
        mem_free(m->order[i]->key);
        mem_free(m->order[i]->value);
        mem_free(m->order[i]);
    }
    mem_free(m->order);
    mem_free(m->bucket);
    mem_free(m);
    *mp = NULL;
}

/* Find the live entry for key. */
static struct dict_mem_entry *dict_mem_find(const struct dict_mem *m, const char *key)
{
    struct dict_mem_entry *e = m->bucket[dict_mem_hash(key, m->nbucket)];

    for (; e != NULL; e = e->next)
        if (!e->deleted && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Double the bucket array when the table gets full. */
static void dict_mem_grow(struct dict_mem *m)
{
    size_t n = m->nbucket * 2;
    struct dict_mem_entry **b = mem_alloc_array(n, sizeof(*b));

    for (size_t i = 0; i < m->norder; i++) {
        struct dict_mem_entry *e = m->order[i];

        if (e->deleted)
            continue;
        size_t h = dict_mem_hash(e->key, n);

        e->next = b[h];
        b[h] = e;
    }
    mem_free(m->bucket);
    m->bucket = b;
    m->nbucket = n;
}

/* Store key => value: 0 stored, 1 the key exists (replaced when replace). */
int dict_mem_put(struct dict_mem *m, const char *key, const char *value, bool replace)
{
    struct dict_mem_entry *e = dict_mem_find(m, key);
    size_t h;

    if (e != NULL) {
        if (replace) {
            mem_free(e->value);
            e->value = mem_strdup(value);
        }
        return 1;
    }
    if (m->count + 1 > m->nbucket)
        dict_mem_grow(m);
    e = mem_alloc(sizeof(*e));
    e->key = mem_strdup(key);
    e->value = mem_strdup(value);
    h = dict_mem_hash(key, m->nbucket);
    e->next = m->bucket[h];
    m->bucket[h] = e;
    if (m->norder == m->order_size) {
        m->order_size = m->order_size ? m->order_size * 2 : 16;
        m->order = mem_realloc_array(m->order, m->order_size, sizeof(*m->order));
    }
    m->order[m->norder++] = e;
    m->count++;
    return 0;
}

/* The value of key, or NULL. */
const char *dict_mem_get(const struct dict_mem *m, const char *key)
{
    struct dict_mem_entry *e = dict_mem_find(m, key);

    return e != NULL ? e->value : NULL;
}

/* Delete key: 1 deleted, 0 not there. The entry stays allocated until free. */
int dict_mem_del(struct dict_mem *m, const char *key)
{
    struct dict_mem_entry *e = dict_mem_find(m, key);
    struct dict_mem_entry **pp;

    if (e == NULL)
        return 0;
    for (pp = &m->bucket[dict_mem_hash(key, m->nbucket)]; *pp != e; pp = &(*pp)->next)
        ;
    *pp = e->next;
    e->next = NULL;
    e->deleted = true;
    m->count--;
    return 1;
}

/* Entries in insertion order. */
int dict_mem_next(struct dict_mem *m, bool first, const char **key_r, const char **value_r)
{
    if (first)
        m->cursor = 0;
    while (m->cursor < m->norder && m->order[m->cursor]->deleted)
        m->cursor++;
    if (m->cursor >= m->norder)
        return 0;
    *key_r = m->order[m->cursor]->key;
    *value_r = m->order[m->cursor]->value;
    m->cursor++;
    return 1;
}

/* ops: lookup in a dict_mem. */
static int mem_lookup(struct dict *d, const char *key, const char **value_r)
{
    *value_r = dict_mem_get(d->priv, key);
    return *value_r != NULL ? DICT_FOUND : DICT_NOTFOUND;
}

/* ops: update a dict_mem (the table lives only in this process). */
static int mem_update(struct dict *d, const char *key, const char *value)
{
    return dict_mem_put(d->priv, key, value, (d->flags & DICT_FLAG_DUP_REPLACE) != 0);
}

/* ops: delete from a dict_mem. */
static int mem_del(struct dict *d, const char *key)
{
    return dict_mem_del(d->priv, key) ? DICT_FOUND : DICT_NOTFOUND;
}

/* ops: walk a dict_mem. */
static int mem_sequence(struct dict *d, bool first, const char **key_r, const char **value_r)
{
    return dict_mem_next(d->priv, first, key_r, value_r) ? DICT_FOUND : DICT_NOTFOUND;
}

/* ops: release a dict_mem. */
static void mem_close(struct dict *d)
{
    struct dict_mem *m = d->priv;

    dict_mem_free(&m);
}

const struct dict_ops dict_mem_ops = {
    .lookup = mem_lookup,
    .update = mem_update,
    .del = mem_del,
    .sequence = mem_sequence,
    .close = mem_close,
};

/* Fold key when the table folds keys. Returns key or the folded copy in b. */
static const char *mem_fold(struct dict *d, struct buf *b, const char *key)
{
    if (!(d->flags & DICT_FLAG_FOLD_KEYS))
        return key;
    buf_set(b, key);
    buf_lower(b);
    return buf_str(b);
}

/* texthash: read a postmap source file into memory. */
static int texthash_open(struct dict *d, const char *path, int flags)
{
    struct dict_source *src;
    struct dict_mem *m;
    struct buf *kb, *vb, *fk;
    const char *line, *why;
    int lineno, rc;

    if ((src = dict_source_open(path, &why)) == NULL)
        return dict_why(d, "%s", why);
    m = dict_mem_create();
    kb = buf_create(64);
    vb = buf_create(64);
    fk = buf_create(64);
    while ((rc = dict_source_next(src, &line, &lineno, &why)) == 1) {
        if (dict_split_key_value(line, kb, vb, &why) < 0) {
            msg_warn("%s, line %d: %s", path, lineno, why);
            continue;
        }
        if (dict_mem_put(m, mem_fold(d, fk, buf_str(kb)), buf_str(vb),
                         (flags & DICT_FLAG_DUP_REPLACE) != 0) == 1
            && !(flags & (DICT_FLAG_DUP_REPLACE | DICT_FLAG_DUP_IGNORE)))
            msg_warn("%s, line %d: duplicate entry: \"%s\"", path, lineno, buf_str(kb));
    }
    buf_free(&kb);
    buf_free(&vb);
    buf_free(&fk);
    if (rc < 0) {
        dict_why(d, "%s", why);
        dict_source_close(&src);
        dict_mem_free(&m);
        return DICT_ERROR;
    }
    dict_note_file(d, path, dict_source_stat(src));
    dict_source_close(&src);
    d->priv = m;
    d->ops = &dict_mem_ops;
    return 0;
}

const struct dict_type dict_type_texthash = {
    .name = "texthash",
    .type_flags = DICT_TYPE_FIXED | DICT_TYPE_FILE,
    .open = texthash_open,
};

/* Strip one level of { } around text (after trimming); *len_r updated. */
static const char *mem_unbrace(const char *s, size_t *len_r, bool *braced_r)
{
    size_t len = *len_r;

    while (len > 0 && isspace((unsigned char)*s))
        s++, len--;
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    *braced_r = len >= 2 && s[0] == '{' && s[len - 1] == '}';
    if (*braced_r) {
        s++;
        len -= 2;
        while (len > 0 && isspace((unsigned char)*s))
            s++, len--;
        while (len > 0 && isspace((unsigned char)s[len - 1]))
            len--;
    }
    *len_r = len;
    return s;
}

/* Add one "key=value" item of an inline table. 0 or -1 (d->why set). */
static int inline_item(struct dict *d, struct dict_mem *m, struct buf *fk, const char *item,
                       size_t len)
{
    bool braced;
    const char *s = mem_unbrace(item, &len, &braced);
    const char *eq = memchr(s, '=', len);
    size_t klen, vstart;
    char *key, *value;

    if (eq == NULL || eq == s)
        return dict_why(d, "%s: expected \"key=value\" or \"{ key = value }\" at \"%.*s\"",
                        d->spec, (int)len, s);
    klen = (size_t)(eq - s);
    while (klen > 0 && isspace((unsigned char)s[klen - 1]))
        klen--;
    vstart = (size_t)(eq - s) + 1;
    while (vstart < len && isspace((unsigned char)s[vstart]))
        vstart++;
    if (klen == 0)
        return dict_why(d, "%s: empty key in \"%.*s\"", d->spec, (int)len, s);
    key = mem_strndup(s, klen);
    value = mem_strndup(s + vstart, len - vstart);
    if (dict_mem_put(m, mem_fold(d, fk, key), value, false) == 1)
        msg_warn("%s: duplicate entry: \"%s\"", d->spec, key);
    mem_free(key);
    mem_free(value);
    return 0;
}

/* inline:{ key=value, { key = value with, comma } } */
static int inline_open(struct dict *d, const char *name, int flags)
{
    size_t len = strlen(name);
    bool braced;
    const char *s = mem_unbrace(name, &len, &braced);
    struct dict_mem *m;
    struct buf *fk;
    size_t i = 0;

    if (!braced)
        return dict_why(d, "%s: expected inline:{ key=value, ... }", d->spec);
    m = dict_mem_create();
    fk = buf_create(64);
    while (i < len) {
        size_t start;

        while (i < len && (isspace((unsigned char)s[i]) || s[i] == ','))
            i++;
        if (i >= len)
            break;
        start = i;
        if (s[i] == '{') {
            int depth = 0;

            for (; i < len; i++) {
                if (s[i] == '{')
                    depth++;
                else if (s[i] == '}' && --depth == 0)
                    break;
            }
            if (i >= len) {
                dict_why(d, "%s: missing '}' after \"%.*s\"", d->spec, (int)(len - start),
                         s + start);
                goto bad;
            }
            i++;
            if (i < len && !isspace((unsigned char)s[i]) && s[i] != ',') {
                dict_why(d, "%s: text after '}' in \"%.*s\"", d->spec, (int)(len - start),
                         s + start);
                goto bad;
            }
        } else {
            while (i < len && !isspace((unsigned char)s[i]) && s[i] != ',') {
                if (s[i] == '{' || s[i] == '}') {
                    dict_why(d, "%s: unexpected '%c' in \"%.*s\"", d->spec, s[i],
                             (int)(len - start), s + start);
                    goto bad;
                }
                i++;
            }
        }
        if (inline_item(d, m, fk, s + start, i - start) < 0)
            goto bad;
    }
    buf_free(&fk);
    d->priv = m;
    d->ops = &dict_mem_ops;
    return 0;
bad:
    buf_free(&fk);
    dict_mem_free(&m);
    return DICT_ERROR;
}

const struct dict_type dict_type_inline = {
    .name = "inline",
    .type_flags = DICT_TYPE_FIXED,
    .open = inline_open,
};

/* static: every key finds the same value. */
static int static_lookup(struct dict *d, const char *key, const char **value_r)
{
    *value_r = d->priv;
    return DICT_FOUND;
}

/* static: release the value. */
static void static_close(struct dict *d)
{
    mem_free(d->priv);
}

static const struct dict_ops static_ops = {
    .lookup = static_lookup,
    .close = static_close,
};

/* static:value or static:{ value with spaces } */
static int static_open(struct dict *d, const char *name, int flags)
{
    size_t len = strlen(name);
    bool braced;
    const char *s = name;

    if (*name == '{') {
        s = mem_unbrace(name, &len, &braced);
        if (!braced)
            return dict_why(d, "%s: missing '}'", d->spec);
    }
    if (len > DICT_VALUE_MAX)
        return dict_why(d, "%s: value too long", d->spec);
    d->priv = mem_strndup(s, len);
    d->ops = &static_ops;
    return 0;
}

const struct dict_type dict_type_static = {
    .name = "static",
    .open = static_open,
};
