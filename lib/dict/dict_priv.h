/*
 * dict_priv - what a table type implements behind lib/dict/dict.h.
 *
 * A type is one entry of the registry in dict.c: a name, the suffix of its
 * file (".db") when it is built by postmap, and an open function that fills
 * in d->ops and d->priv. dict.c does everything common to all types: spec
 * parsing, key folding and length bounds, the temporary file and rename of
 * a build, change detection, reopen, and the storage of error text.
 *
 * Within a backend, key and value pointers handed to ops are already folded
 * and bounded; errors are reported with dict_why(d, fmt, ...), which formats
 * into the table's own buffer and returns DICT_ERROR.
 */
#ifndef POSTEL_DICT_DICT_PRIV_H
#define POSTEL_DICT_DICT_PRIV_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "lib/dict/dict.h"
#include "lib/util/buf.h"

struct dict_ops {
    int (*lookup)(struct dict *d, const char *key, const char **value_r);
    int (*update)(struct dict *d, const char *key, const char *value); /* 0, 1 dup kept, -1 */
    int (*del)(struct dict *d, const char *key);                       /* 1, 0, -1 */
    int (*sequence)(struct dict *d, bool first, const char **key_r, const char **value_r);
    int (*finish)(struct dict *d); /* build: flush everything to the file; 0 or -1 */
    void (*close)(struct dict *d); /* release d->priv */
};

#define DICT_TYPE_BUILD 0x01 /* postmap can build it from a text file */
#define DICT_TYPE_FIXED 0x02 /* fixed-string keys: DICT_FLAG_FOLD_KEYS applies */
#define DICT_TYPE_FILE 0x04  /* name is a file (text source) watched for changes */

struct dict_type {
    const char *name;
    const char *suffix; /* appended to name for the data file, or NULL */
    int type_flags;
    /* Open path (name+suffix, or the temporary file of a build, or name). */
    int (*open)(struct dict *d, const char *path, int flags);
};

struct dict {
    char *spec; /* "type:name" */
    char *name; /* after the colon */
    const struct dict_type *type;
    int flags;
    const struct dict_ops *ops;
    void *priv;

    char *file;        /* the data file watched for changes, or NULL */
    bool have_stat;
    struct stat st;    /* of file at open time */

    struct buf *keybuf; /* folded key */
    struct buf *why;    /* text of the last error */

    /* DICT_FLAG_CREATE: build in tmp_path, rename to file at commit. */
    char *tmp_path;
    int tmp_fd;
    unsigned int create_mode;
    long create_uid, create_gid;
    bool committed;
};

/* Format the error text of d; returns DICT_ERROR. */
int dict_why(struct dict *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Remember the identity of the data file (call with the fstat of what was opened). */
void dict_note_file(struct dict *d, const char *path, const struct stat *st);

/* Shared helpers for backends. */
bool dict_store_nul(const struct dict *d, bool type_default);

/* Type registry entries (each backend file). */
extern const struct dict_type dict_type_hash, dict_type_btree, dict_type_lmdb, dict_type_cdb;
extern const struct dict_type dict_type_texthash, dict_type_inline, dict_type_static;
extern const struct dict_type dict_type_cidr, dict_type_regexp, dict_type_pcre;
extern const struct dict_type dict_type_unix;

/* In-memory table used by texthash: and inline: (dict_mem.c). */
struct dict_mem;
struct dict_mem *dict_mem_create(void);
void dict_mem_free(struct dict_mem **mp);
/* 0 stored, 1 key exists (kept unless replace). */
int dict_mem_put(struct dict_mem *m, const char *key, const char *value, bool replace);
const char *dict_mem_get(const struct dict_mem *m, const char *key);
int dict_mem_del(struct dict_mem *m, const char *key);
/* Entries in insertion order: 1 with key/value, 0 at the end. */
int dict_mem_next(struct dict_mem *m, bool first, const char **key_r, const char **value_r);
/* ops for a d->priv that is a struct dict_mem */
extern const struct dict_ops dict_mem_ops;

#endif
