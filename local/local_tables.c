/*
 * local_tables - the lookup tables of local(8): alias_maps and
 * local_mailbox_maps, opened once (as root, before any delivery) and kept
 * open, re-opened when postalias/postmap replaced them, and retried when
 * they could not be opened (a fresh system before its first newaliases):
 * until then, a lookup says "error" and the recipient is deferred, never
 * bounced.
 *
 * Each table also knows the owner of its file: deliveries to commands and
 * files from an alias run with the rights of that owner (default_privs
 * when it is root or when the table has no file), as in Postfix.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/dict/dict.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "local/local.h"

/* Note who owns the file of table t. */
static void local_table_owner(struct local_table *t)
{
    const char *file;
    struct stat st;

    t->owned = false;
    if ((file = dict_file(t->d)) != NULL && stat(file, &st) == 0) {
        t->owned = true;
        t->owner = st.st_uid;
    }
}

/* (Re)open table t; on failure remember why. */
static void local_table_open(struct local_table *t)
{
    const char *why;

    mem_free(t->why);
    t->why = NULL;
    t->owned = false;
    if ((t->d = dict_open(t->spec, DICT_FLAG_FOLD_KEYS, &why)) == NULL) {
        t->why = mem_strdup(why);
        msg_warn("table %s is unavailable: %s", t->spec, why);
        return;
    }
    local_table_owner(t);
}

/* Open every table of specs into ts (failures are remembered, not fatal). */
void local_tables_open(struct local_tables *ts, const struct argv *specs)
{
    memset(ts, 0, sizeof(*ts));
    ts->n = specs ? specs->argc : 0;
    ts->t = mem_alloc_array(ts->n + 1, sizeof(*ts->t));
    for (size_t i = 0; i < ts->n; i++) {
        ts->t[i].spec = mem_strdup(specs->argv[i]);
        local_table_open(&ts->t[i]);
    }
}

/* Before a request: follow rebuilt tables, retry failed ones. */
void local_tables_refresh(struct local_tables *ts)
{
    const char *why;

    for (size_t i = 0; i < ts->n; i++) {
        struct local_table *t = &ts->t[i];

        if (t->d == NULL) {
            local_table_open(t);
        } else if (dict_changed(t->d)) {
            /* On failure the old contents stay in use; try again next time. */
            if (dict_reopen_if_changed(t->d, &why) < 0)
                msg_warn("table %s: re-open failed: %s", t->spec, why);
            else
                local_table_owner(t);
        }
    }
}

/* Close every table. */
void local_tables_close(struct local_tables *ts)
{
    for (size_t i = 0; i < ts->n; i++) {
        dict_close(&ts->t[i].d);
        mem_free(ts->t[i].spec);
        mem_free(ts->t[i].why);
    }
    mem_free(ts->t);
    memset(ts, 0, sizeof(*ts));
}

/* Look key up in each table in order: 1 found, 0 nowhere, -1 a table failed (*why_r). */
int local_tables_lookup(struct local_tables *ts, const char *key, const char **value_r,
                        const struct local_table **table_r, const char **why_r)
{
    static char why[512];
    const char *err;

    for (size_t i = 0; i < ts->n; i++) {
        struct local_table *t = &ts->t[i];
        int r;

        if (t->d == NULL) {
            snprintf(why, sizeof(why), "table %s is unavailable: %s", t->spec,
                     t->why ? t->why : "not open");
            *why_r = why;
            return -1;
        }
        r = dict_lookup(t->d, key, value_r, &err);
        if (r == DICT_FOUND) {
            *table_r = t;
            return 1;
        }
        if (r == DICT_ERROR) {
            snprintf(why, sizeof(why), "table %s lookup error: %s", t->spec, err);
            *why_r = why;
            return -1;
        }
    }
    return 0;
}
