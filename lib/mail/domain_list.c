/*
 * domain_list - domain match lists such as mydestination and relay_domains
 * (see domain_list.h).
 *
 * Owns the parsed items: lower-case names (a leading '.' for "subdomains
 * only"), tables as one-table maps(3) lists, negation flags.
 *
 * Security: relay_domains decides what anyone may relay to, so a table
 * error is an error (the caller defers), never "not in the list" and never
 * "in the list". Lookup keys are bounded by the domain length limit.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "lib/dict/dict.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/domain_list.h"
#include "lib/mail/maps.h"
#include "lib/mail/param.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/str.h"

#define DOMAIN_LIST_FILE_MAX (1024 * 1024)
#define DOMAIN_LIST_DEPTH_MAX 4
#define DOMAIN_MAX 255

struct dl_item {
    bool negate;
    char *name;         /* lower case; ".x" = subdomains of x only; NULL for a table */
    struct maps *table; /* or NULL */
};

struct domain_list {
    char *title;
    int flags;
    struct dl_item *v;
    size_t count, size;
    struct buf *why;
};

static struct buf *dl_create_why;

/* Append an empty item. */
static struct dl_item *dl_add(struct domain_list *dl)
{
    if (dl->count == dl->size) {
        dl->size = dl->size ? 2 * dl->size : 8;
        dl->v = mem_realloc_array(dl->v, dl->size, sizeof(*dl->v));
    }
    memset(&dl->v[dl->count], 0, sizeof(dl->v[0]));
    return &dl->v[dl->count++];
}

/* True when item is "type:name" with a known type. */
static bool dl_is_table(const char *item)
{
    const char *colon = strchr(item, ':');
    char type[32];
    size_t len;

    if (colon == NULL)
        return false;
    len = (size_t)(colon - item);
    if (len == 0 || len >= sizeof(type))
        return false;
    memcpy(type, item, len);
    type[len] = '\0';
    return dict_type_known(type);
}

static int dl_add_items(struct domain_list *dl, const char *value, int depth);

/* Add one item. */
static int dl_add_item(struct domain_list *dl, const char *item, int depth)
{
    bool negate = false;
    const char *why;
    struct dl_item *it;

    while (*item == '!') {
        negate = !negate;
        item++;
    }
    if (*item == '/') {
        char *text;
        size_t len;
        int r;

        if (negate || depth >= DOMAIN_LIST_DEPTH_MAX) {
            buf_printf(dl->why, "%s: \"%s\": %s", dl->title, item,
                       negate ? "a file name cannot be negated" : "files nested too deeply");
            return -1;
        }
        r = config_load_file(item, DOMAIN_LIST_FILE_MAX, &text, &len, &why);
        if (r <= 0) {
            buf_printf(dl->why, "%s: \"%s\": %s", dl->title, item, r == 0 ? "no such file" : why);
            return -1;
        }
        for (char *cp = text; (cp = strchr(cp, '#')) != NULL;)
            while (*cp != '\0' && *cp != '\n')
                *cp++ = ' ';
        r = dl_add_items(dl, text, depth + 1);
        mem_free(text);
        return r;
    }
    if (dl_is_table(item)) {
        struct maps *m;

        int flags = DICT_FLAG_FOLD_KEYS | (dl->flags & DOMAIN_LIST_STRICT ? MAPS_FLAG_STRICT : 0);

        if (maps_create(dl->title, item, flags, &m, &why) < 0) {
            buf_set(dl->why, why);
            return -1;
        }
        it = dl_add(dl);
        it->table = m;
        it->negate = negate;
        return 0;
    }
    if (*item == '\0' || strlen(item) > DOMAIN_MAX || strchr(item, ':') != NULL) {
        buf_printf(dl->why, "%s: bad domain \"%s\"%s", dl->title, item,
                   strchr(item, ':') ? " (unknown table type?)" : "");
        return -1;
    }
    it = dl_add(dl);
    it->negate = negate;
    it->name = mem_strdup(item);
    str_lower(it->name);
    if (strlen(it->name) > 1 && it->name[strlen(it->name) - 1] == '.')
        it->name[strlen(it->name) - 1] = '\0';
    return 0;
}

/* Add every item of a list text. */
static int dl_add_items(struct domain_list *dl, const char *value, int depth)
{
    struct argv *items = param_list_split(value);
    int r = 0;

    for (size_t i = 0; i < items->argc && r == 0; i++)
        r = dl_add_item(dl, items->argv[i], depth);
    argv_free(&items);
    return r;
}

/* Build the list; -1 with *why_r. */
int domain_list_create(const char *title, const char *value, int flags, struct domain_list **dl_r,
                       const char **why_r)
{
    struct domain_list *dl = mem_alloc(sizeof(*dl));

    dl->title = mem_strdup(title);
    dl->flags = flags;
    dl->why = buf_create(100);
    *dl_r = NULL;
    if (dl_add_items(dl, value, 0) < 0) {
        if (dl_create_why == NULL)
            dl_create_why = buf_create(100);
        buf_set(dl_create_why, buf_str(dl->why));
        *why_r = buf_str(dl_create_why);
        domain_list_free(&dl);
        return -1;
    }
    *dl_r = dl;
    return 0;
}

/* Free the list; clear the caller's pointer. */
void domain_list_free(struct domain_list **dlp)
{
    struct domain_list *dl = *dlp;

    if (dl == NULL)
        return;
    for (size_t i = 0; i < dl->count; i++) {
        mem_free(dl->v[i].name);
        maps_free(&dl->v[i].table);
    }
    mem_free(dl->v);
    mem_free(dl->title);
    buf_free(&dl->why);
    mem_free(dl);
    *dlp = NULL;
}

/* Does the name item match the (lower-case) domain? */
static bool dl_name_match(const struct domain_list *dl, const char *name, const char *domain)
{
    size_t nlen = strlen(name), dlen = strlen(domain);

    if (name[0] == '.')
        return dlen > nlen && strcmp(domain + dlen - nlen, name) == 0;
    if (strcmp(name, domain) == 0)
        return true;
    return (dl->flags & DOMAIN_LIST_PARENT) && dlen > nlen + 1 && domain[dlen - nlen - 1] == '.' &&
           strcmp(domain + dlen - nlen, name) == 0;
}

/* Look the domain and its parents up in a table: 1, 0, -1. */
static int dl_table_match(struct domain_list *dl, struct maps *m, const char *domain,
                          const char **why_r)
{
    const char *value;
    int r = maps_find(m, domain, &value, why_r);

    for (const char *cp = domain; r == 0 && (cp = strchr(cp + 1, '.')) != NULL;)
        r = maps_find(m, dl->flags & DOMAIN_LIST_PARENT ? cp + 1 : cp, &value, why_r);
    return r;
}

/* 1 when domain is in the list, 0 when not, -1 on a table error. */
int domain_list_match(struct domain_list *dl, const char *domain, const char **why_r)
{
    char key[DOMAIN_MAX + 2];
    size_t len = strlen(domain);

    if (len > 1 && domain[len - 1] == '.')
        len--;
    if (len == 0 || len > DOMAIN_MAX)
        return 0;
    memcpy(key, domain, len);
    key[len] = '\0';
    str_lower(key);
    for (size_t i = 0; i < dl->count; i++) {
        struct dl_item *it = &dl->v[i];
        int r;

        if (it->table != NULL) {
            if ((r = dl_table_match(dl, it->table, key, why_r)) < 0)
                return -1;
        } else {
            r = dl_name_match(dl, it->name, key);
        }
        if (r > 0)
            return it->negate ? 0 : 1;
    }
    return 0;
}

/* Re-open rebuilt tables and retry failed ones now; -1 at the first failure. */
int domain_list_refresh(struct domain_list *dl, const char **why_r)
{
    for (size_t i = 0; i < dl->count; i++)
        if (dl->v[i].table != NULL && maps_refresh(dl->v[i].table, why_r) < 0)
            return -1;
    return 0;
}
