/*
 * maps - a list of lookup tables searched in order (see maps.h).
 *
 * Owns the dict handles of the list and the retry of tables that could not
 * be opened. A table error is never "not found": maps_find() returns -1 so
 * that the caller answers 4xx.
 */
#include "config.h"

#include <string.h>

#include "lib/dict/dict.h"
#include "lib/mail/maps.h"
#include "lib/mail/param.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

struct maps_entry {
    char *spec;        /* "type:name" */
    struct dict *dict; /* NULL while it cannot be opened */
    bool warned;       /* the open failure was logged */
};

struct maps {
    char *title;
    int flags;
    struct maps_entry *v;
    size_t count;
    struct buf *why;
};

/* The reason of the last failed maps_create(). */
static struct buf *maps_create_why;

/* Record "title: why" as the list's reason; -1. */
static int maps_fail(struct maps *m, const char *why, const char **why_r)
{
    buf_reset(m->why);
    buf_printf(m->why, "%s: %s", m->title, why);
    *why_r = buf_str(m->why);
    return -1;
}

/* Open one entry now; on failure log once (not for a strict list) and leave dict NULL. */
static int maps_open_entry(struct maps *m, struct maps_entry *e, const char **why_r)
{
    const char *why;

    e->dict = dict_open(e->spec, m->flags & ~MAPS_FLAG_STRICT, &why);
    if (e->dict != NULL) {
        if (e->warned)
            msg_info("%s: table %s is available again", m->title, e->spec);
        e->warned = false;
        return 0;
    }
    if (!e->warned && !(m->flags & MAPS_FLAG_STRICT))
        msg_warn("%s: table %s is unavailable: %s", m->title, e->spec, why);
    e->warned = true;
    return maps_fail(m, why, why_r);
}

/* Make an entry ready for a lookup: open it, or re-open it when it was rebuilt. */
static int maps_ready_entry(struct maps *m, struct maps_entry *e, const char **why_r)
{
    const char *why;

    if (e->dict == NULL)
        return maps_open_entry(m, e, why_r);
    if (dict_reopen_if_changed(e->dict, &why) < 0)
        return maps_fail(m, why, why_r);
    return 0;
}

/* Create the list from a parameter value; -1 on a malformed item. */
int maps_create(const char *title, const char *value, int dict_flags, struct maps **maps_r,
                const char **why_r)
{
    struct argv *items = param_list_split(value);
    struct maps *m = mem_alloc(sizeof(*m));
    const char *why;

    m->title = mem_strdup(title);
    m->flags = dict_flags;
    m->why = buf_create(100);
    m->v = mem_alloc_array(items->argc ? items->argc : 1, sizeof(*m->v));
    *maps_r = NULL;
    for (size_t i = 0; i < items->argc; i++) {
        const char *spec = items->argv[i];
        const char *colon = strchr(spec, ':');
        char type[64];

        if (colon == NULL || colon == spec || colon[1] == '\0' ||
            (size_t)(colon - spec) >= sizeof(type)) {
            buf_reset(m->why);
            buf_printf(m->why, "%s: \"%s\" is not a table (expected type:name)", title, spec);
            goto bad;
        }
        memcpy(type, spec, (size_t)(colon - spec));
        type[colon - spec] = '\0';
        if (!dict_type_known(type)) {
            buf_reset(m->why);
            buf_printf(m->why, "%s: unsupported table type \"%s\" in \"%s\"", title, type, spec);
            goto bad;
        }
        m->v[m->count].spec = mem_strdup(spec);
        if (maps_open_entry(m, &m->v[m->count++], &why) < 0 && (dict_flags & MAPS_FLAG_STRICT))
            goto bad;
    }
    argv_free(&items);
    *maps_r = m;
    return 0;
bad:
    /* m goes away: keep the reason where the caller can read it */
    if (maps_create_why == NULL)
        maps_create_why = buf_create(100);
    buf_set(maps_create_why, buf_str(m->why));
    *why_r = buf_str(maps_create_why);
    argv_free(&items);
    maps_free(&m);
    return -1;
}

/* Close every table; clear the caller's pointer. */
void maps_free(struct maps **mp)
{
    struct maps *m = *mp;

    if (m == NULL)
        return;
    for (size_t i = 0; i < m->count; i++) {
        dict_close(&m->v[i].dict);
        mem_free(m->v[i].spec);
    }
    mem_free(m->v);
    mem_free(m->title);
    buf_free(&m->why);
    mem_free(m);
    *mp = NULL;
}

/* Look key up in each table in turn: 1 found, 0 not found, -1 table error. */
int maps_find(struct maps *m, const char *key, const char **value_r, const char **why_r)
{
    const struct dict *dict;

    return maps_find_dict(m, key, value_r, &dict, why_r);
}

/* maps_find(), and the table that had the key. */
int maps_find_dict(struct maps *m, const char *key, const char **value_r,
                   const struct dict **dict_r, const char **why_r)
{
    *value_r = NULL;
    *dict_r = NULL;
    for (size_t i = 0; i < m->count; i++) {
        struct maps_entry *e = &m->v[i];
        const char *why;
        int rc;

        if (maps_ready_entry(m, e, why_r) < 0)
            return -1;
        rc = dict_lookup(e->dict, key, value_r, &why);
        if (rc == DICT_FOUND) {
            *dict_r = e->dict;
            return 1;
        }
        if (rc == DICT_ERROR)
            return maps_fail(m, why, why_r);
    }
    return 0;
}

/* Re-open rebuilt tables and retry failed ones now; -1 at the first failure. */
int maps_refresh(struct maps *m, const char **why_r)
{
    for (size_t i = 0; i < m->count; i++)
        if (maps_ready_entry(m, &m->v[i], why_r) < 0)
            return -1;
    return 0;
}

/* The number of tables in the list. */
size_t maps_count(const struct maps *m)
{
    return m->count;
}

/* The title given at creation. */
const char *maps_title(const struct maps *m)
{
    return m->title;
}
