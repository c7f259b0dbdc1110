/*
 * local_dups - the duplicate filter of one delivery request: the keys of
 * destinations already delivered ("mailbox /var/mail/joe", "command 1000
 * /usr/bin/x", ...), so that a mailbox reached through two aliases gets
 * one copy (Postfix's been_here with duplicate_filter_limit).
 *
 * Owns struct local_dups: an open-addressing hash set of strings that
 * stops remembering at its limit (a limit of 0 remembers nothing). Pure.
 */
#include "config.h"

#include <string.h>

#include "lib/util/mem.h"
#include "lib/util/str.h"
#include "local/local.h"

struct local_dups {
    char **slots;
    size_t size; /* power of two, > 2 * limit */
    size_t count;
    size_t limit;
};

/* A filter that remembers up to limit keys. */
struct local_dups *local_dups_create(int limit)
{
    struct local_dups *d = mem_alloc(sizeof(*d));

    d->limit = limit > 0 ? (size_t)limit : 0;
    for (d->size = 16; d->size <= 2 * d->limit; d->size *= 2)
        ;
    d->slots = mem_alloc_array(d->size, sizeof(*d->slots));
    return d;
}

/* Free *dp and clear it. */
void local_dups_free(struct local_dups **dp)
{
    struct local_dups *d = *dp;

    if (d == NULL)
        return;
    for (size_t i = 0; i < d->size; i++)
        mem_free(d->slots[i]);
    mem_free(d->slots);
    MEM_FREE(dp);
}

/* True when key was seen before; otherwise remember it (below the limit). */
bool local_dups_seen(struct local_dups *d, const char *key)
{
    size_t mask = d->size - 1;
    size_t i = (size_t)str_hash(key) & mask;

    for (; d->slots[i] != NULL; i = (i + 1) & mask)
        if (strcmp(d->slots[i], key) == 0)
            return true;
    if (d->count < d->limit) {
        d->slots[i] = mem_strdup(key);
        d->count++;
    }
    return false;
}
