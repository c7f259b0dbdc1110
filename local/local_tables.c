/*
 * local_tables - lookups in the tables of local(8), alias_maps and
 * local_mailbox_maps: maps(3) lists (opened once as root, before any
 * delivery; re-opened when postalias/postmap replaced them; retried when
 * they could not be opened, as on a fresh system before its first
 * newaliases: until then a lookup is an error and the recipient is
 * deferred, never bounced), plus the owner of the table file that had the
 * key.
 *
 * Deliveries to commands and files from an alias, and mailboxes from
 * local_mailbox_maps, run with the rights of that owner (default_privs
 * when it is root or when the table has no file), as in Postfix.
 */
#include "config.h"

#include <sys/stat.h>

#include "lib/dict/dict.h"
#include "lib/mail/maps.h"
#include "local/local.h"

/* maps_find() in m; a hit also fills *t_r with the table and the owner of its file. */
int local_tables_find(struct maps *m, const char *key, const char **value_r,
                      struct local_table *t_r, const char **why_r)
{
    const struct dict *d;
    const char *file;
    struct stat st;
    int r;

    t_r->spec = NULL;
    t_r->owned = false;
    t_r->owner = 0;
    if ((r = maps_find_dict(m, key, value_r, &d, why_r)) <= 0)
        return r;
    t_r->spec = dict_spec(d);
    if ((file = dict_file(d)) != NULL && stat(file, &st) == 0) {
        t_r->owned = true;
        t_r->owner = st.st_uid;
    }
    return 1;
}
