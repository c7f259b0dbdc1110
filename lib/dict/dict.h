/*
 * dict - lookup tables behind one interface, named "type:name".
 *
 * Types: hash: btree: (Berkeley DB, name.db), lmdb: (name.lmdb), cdb:
 * (name.cdb), texthash: (text file read into memory), cidr:, regexp:,
 * pcre:, static:, inline:{ k=v, ... }, and more later (passwd-file:, pgsql:).
 *
 * Three outcomes of every lookup, never confused: found, not found, and
 * error (a table that cannot be read). An error must make the caller
 * defer (4xx), never reject.
 */
#ifndef POSTEL_DICT_DICT_H
#define POSTEL_DICT_DICT_H

#include <stdbool.h>

#define DICT_FOUND 1
#define DICT_NOTFOUND 0
#define DICT_ERROR (-1)

/* dict_open flags */
#define DICT_FLAG_FOLD_KEYS 0x01 /* fold keys to lower case (default for postmap/aliases) */
#define DICT_FLAG_CREATE 0x02    /* create/truncate for writing (postmap build) */
#define DICT_FLAG_WRITE 0x04     /* open for update/delete */
#define DICT_FLAG_DUP_WARN 0x08  /* warn about duplicate keys, keep the first */
#define DICT_FLAG_DUP_REPLACE 0x10 /* duplicate keys: keep the last */
#define DICT_FLAG_DUP_IGNORE 0x20  /* duplicate keys: keep the first, silently */
#define DICT_FLAG_NUL_ON 0x40      /* store keys and values with their terminating NUL */
#define DICT_FLAG_NUL_OFF 0x80     /* store keys and values without the NUL */

/* Bounds: a longer key is refused by every call, a longer value by dict_update. */
#define DICT_KEY_MAX (128 * 1024)
#define DICT_VALUE_MAX (1024 * 1024)

struct dict;

/*
 * Open "type:name". NULL with *why_r (valid until the next failed open) on an
 * unknown type or an unreadable table. DICT_FLAG_WRITE creates a missing
 * hash/btree/lmdb file.
 */
struct dict *dict_open(const char *spec, int flags, const char **why_r);
void dict_close(struct dict **dp);

/* DICT_FOUND with *value_r (valid until the next call on d), DICT_NOTFOUND, or DICT_ERROR with *why_r. */
int dict_lookup(struct dict *d, const char *key, const char **value_r, const char **why_r);
/*
 * Store key => value: 0 stored, 1 the key existed and was kept (without
 * DICT_FLAG_DUP_REPLACE; DICT_FLAG_DUP_WARN also logs a warning), or
 * DICT_ERROR with *why_r (read-only type, write error, key or value too long).
 */
int dict_update(struct dict *d, const char *key, const char *value, const char **why_r);
/* DICT_FOUND (deleted), DICT_NOTFOUND, or DICT_ERROR. */
int dict_delete(struct dict *d, const char *key, const char **why_r);
/* Walk all entries: first=true starts over. DICT_FOUND, DICT_NOTFOUND (end), DICT_ERROR. */
int dict_sequence(struct dict *d, bool first, const char **key_r, const char **value_r,
                  const char **why_r);

/*
 * True when the table's file was replaced (postmap rebuilt it) or changed in
 * place (postmap -i, -d) since open; for a table opened with DICT_FLAG_WRITE,
 * only a replacement counts. A daemon calls dict_reopen_if_changed() before
 * it uses a table (Berkeley DB readers must: their cache does not follow
 * changes made in place by another process; LMDB and cdb readers see a
 * consistent table either way).
 */
bool dict_changed(struct dict *d);
/* Re-open d in place if dict_changed(); 0, or DICT_ERROR with *why_r (d keeps the old data). */
int dict_reopen_if_changed(struct dict *d, const char **why_r);

/*
 * A table opened with DICT_FLAG_CREATE is built in a temporary file next to
 * its target: dict_commit() flushes it to disk and renames it into place, so
 * a reader sees the old table or the new one, never half of one. Closing
 * without a commit removes the temporary file. For a table opened with
 * DICT_FLAG_WRITE, dict_commit() flushes the updates to disk and the table
 * stays open. 0, or DICT_ERROR with *why_r.
 */
int dict_commit(struct dict *d, const char **why_r);
/* Permissions (and owner, when uid/gid are not -1) the file gets at dict_commit(). */
void dict_set_create_mode(struct dict *d, unsigned int mode, long uid, long gid);

/* The file that holds the data (name.db, the regexp file, ...), or NULL. */
const char *dict_file(const struct dict *d);

/* The "type:name" this table was opened with. */
const char *dict_spec(const struct dict *d);
/* True when the type is known (compiled in). */
bool dict_type_known(const char *type);
/* True when postmap/postalias can build the type from a text file (hash btree lmdb cdb). */
bool dict_type_buildable(const char *type);
/* Names of all compiled-in types, for postconf -m. NULL-terminated, static. */
const char *const *dict_type_names(void);

#endif
