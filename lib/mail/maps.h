/*
 * maps - a list of lookup tables named by one parameter, searched in order
 * (Postfix's maps(3)): "local_recipient_maps = unix:passwd.byname
 * hash:/etc/aliases".
 *
 * Tables are opened when the list is created (in a daemon's pre_init, while
 * it may still be root). A table that cannot be opened then is not fatal:
 * it is logged once and every lookup that reaches it fails with a table
 * error (and retries the open), so the caller defers (4xx) instead of
 * rejecting, and a table that appears later is picked up without a
 * restart. A table that postmap rebuilt is reopened before its next use;
 * when that re-open fails, the lookup is a table error (the old contents
 * are not used).
 */
#ifndef POSTEL_MAIL_MAPS_H
#define POSTEL_MAIL_MAPS_H

#include <stdbool.h>
#include <stddef.h>

struct dict;
struct maps;

/*
 * maps_create() flag, beside the dict_open() flags: every table must open
 * now, else maps_create() fails with the reason (nothing is logged; the
 * caller reports it and tries again later).
 */
#define MAPS_FLAG_STRICT 0x10000

/*
 * Create the list from a parameter value (items separated by white space
 * or commas, as param_list_split). title names the list in messages (the
 * parameter name). flags are dict_open() flags (DICT_FLAG_FOLD_KEYS) and
 * MAPS_FLAG_STRICT. Returns 0, or -1 with *why_r when an item is not
 * "type:name" or its type is unknown (a configuration error), or with
 * MAPS_FLAG_STRICT when a table cannot be opened.
 */
int maps_create(const char *title, const char *value, int dict_flags, struct maps **maps_r,
                const char **why_r);
void maps_free(struct maps **mp);

/*
 * Look key up in each table in turn. 1 with *value_r (valid until the next
 * lookup) from the first table that has it, 0 when none has it, -1 with
 * *why_r when a table failed before any table found the key.
 */
int maps_find(struct maps *m, const char *key, const char **value_r, const char **why_r);
/*
 * The same, and *dict_r is the table that had the key (for dict_file(),
 * dict_spec()); it stays valid as long as the list.
 */
int maps_find_dict(struct maps *m, const char *key, const char **value_r,
                   const struct dict **dict_r, const char **why_r);

/*
 * Re-open the tables that postmap replaced and retry those that could not
 * be opened, now rather than at the next lookup (a daemon calls it before
 * a batch of work to hear of problems early). 0, or -1 with *why_r naming
 * the first table that failed.
 */
int maps_refresh(struct maps *m, const char **why_r);

/* The number of tables in the list (0 for an empty parameter). */
size_t maps_count(const struct maps *m);
/* The title given at creation. */
const char *maps_title(const struct maps *m);

#endif
