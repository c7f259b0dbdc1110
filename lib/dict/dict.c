/*
 * dict - the lookup table front end: the type registry and everything that
 * every type shares.
 *
 * Owns: parsing "type:name", the registry (add a type by adding a line to
 * dict_types[]), key folding and length bounds, building into a temporary
 * file that dict_commit() renames into place, and change detection by the
 * identity (device, inode, size, mtime) of the data file, with reopen in
 * place so a long-running daemon picks up a table that postmap rebuilt.
 *
 * Security: keys and values are bounded (DICT_KEY_MAX, DICT_VALUE_MAX); a
 * table that cannot be read is always DICT_ERROR with the reason, never
 * "not found", so callers defer instead of rejecting. The temporary file of
 * a build is created with mkstemp() (O_EXCL) next to the target.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dict/dict.h"
#include "lib/dict/dict_priv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

/* The registry. A new type (passwd-file:, pgsql:) is one more line. */
static const struct dict_type *const dict_types[] = {
#ifdef HAVE_BDB
    &dict_type_hash,
    &dict_type_btree,
#endif
#ifdef HAVE_LMDB
    &dict_type_lmdb,
#endif
#ifdef HAVE_CDB
    &dict_type_cdb,
#endif
    &dict_type_texthash,
    &dict_type_cidr,
#ifdef HAVE_PCRE2
    &dict_type_regexp,
    &dict_type_pcre,
#endif
    &dict_type_static,
    &dict_type_inline,
    &dict_type_unix,
    NULL,
};

/* Error text of the last failed dict_open() (there is no table to hold it). */
static struct buf *dict_open_why;

/* Find a type by name; NULL when unknown. */
static const struct dict_type *dict_type_find(const char *name, size_t len)
{
    for (size_t i = 0; dict_types[i] != NULL; i++)
        if (strlen(dict_types[i]->name) == len && strncmp(dict_types[i]->name, name, len) == 0)
            return dict_types[i];
    return NULL;
}

/* True when the type is known (compiled in). */
bool dict_type_known(const char *type)
{
    return dict_type_find(type, strlen(type)) != NULL;
}

/* True when postmap/postalias can build the type from a text file. */
bool dict_type_buildable(const char *type)
{
    const struct dict_type *t = dict_type_find(type, strlen(type));

    return t != NULL && (t->type_flags & DICT_TYPE_BUILD) != 0;
}

/* Names of all compiled-in types. */
const char *const *dict_type_names(void)
{
    static const char *names[sizeof(dict_types) / sizeof(dict_types[0])];

    for (size_t i = 0; dict_types[i] != NULL; i++)
        names[i] = dict_types[i]->name;
    return names;
}

/* Format the error text of d; returns DICT_ERROR. */
int dict_why(struct dict *d, const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    buf_reset(d->why);
    va_start(ap, fmt);
    errno = saved;
    buf_vprintf(d->why, fmt, ap);
    va_end(ap);
    errno = saved;
    return DICT_ERROR;
}

/* Remember the identity of the data file, for dict_changed(). */
void dict_note_file(struct dict *d, const char *path, const struct stat *st)
{
    if (d->tmp_path != NULL)
        return; /* a build: the target is watched only after dict_commit() */
    if (d->file == NULL || strcmp(d->file, path) != 0) {
        mem_free(d->file);
        d->file = mem_strdup(path);
    }
    d->st = *st;
    d->have_stat = true;
}

/* Whether updates store the terminating NUL (-N/-n, else the type's habit). */
bool dict_store_nul(const struct dict *d, bool type_default)
{
    if (d->flags & DICT_FLAG_NUL_ON)
        return true;
    if (d->flags & DICT_FLAG_NUL_OFF)
        return false;
    return type_default;
}

/* Release everything of d except the struct itself. */
static void dict_release(struct dict *d)
{
    if (d->ops != NULL && d->ops->close != NULL)
        d->ops->close(d);
    d->ops = NULL;
    d->priv = NULL;
    if (d->tmp_path != NULL) {
        if (!d->committed)
            (void)unlink(d->tmp_path);
        MEM_FREE(&d->tmp_path);
    }
    if (d->tmp_fd >= 0) {
        (void)close(d->tmp_fd);
        d->tmp_fd = -1;
    }
    MEM_FREE(&d->file);
    d->have_stat = false;
}

/* Set the error text of a failed open. */
static struct dict *dict_open_fail(struct dict *d, const char *text, const char **why_r)
{
    if (dict_open_why == NULL)
        dict_open_why = buf_create(100);
    buf_set(dict_open_why, text);
    if (why_r != NULL)
        *why_r = buf_str(dict_open_why);
    if (d != NULL)
        dict_close(&d);
    return NULL;
}

/* Create the temporary file of a build next to path. 0 or -1 (d->why set). */
static int dict_create_tmp(struct dict *d, const char *path)
{
    struct buf *tmpl = buf_create(strlen(path) + 16);
    mode_t mask;

    buf_printf(tmpl, "%s.XXXXXX", path);
    d->tmp_fd = mkstemp(buf_str(tmpl));
    if (d->tmp_fd < 0) {
        dict_why(d, "create temporary file %s: %m", buf_str(tmpl));
        buf_free(&tmpl);
        return -1;
    }
    (void)fcntl(d->tmp_fd, F_SETFD, FD_CLOEXEC);
    d->tmp_path = buf_export(&tmpl);
    /* Default mode 0644 less the umask, as if created with open(). */
    mask = umask(022);
    umask(mask);
    d->create_mode = 0644 & ~mask;
    d->create_uid = -1;
    d->create_gid = -1;
    return 0;
}

/* Open "type:name". NULL with *why_r on an unknown type or an unreadable table. */
struct dict *dict_open(const char *spec, int flags, const char **why_r)
{
    const char *colon;
    const struct dict_type *t;
    struct dict *d;
    struct buf *path;
    int rc;

    if (spec == NULL || (colon = strchr(spec, ':')) == NULL || colon == spec)
        return dict_open_fail(NULL, "table name must have the form type:name", why_r);
    if ((t = dict_type_find(spec, (size_t)(colon - spec))) == NULL) {
        struct buf *b = buf_create(64);
        struct dict *none = NULL;

        buf_printf(b, "unsupported table type \"%.*s\" in \"%s\"", (int)(colon - spec), spec,
                   spec);
        none = dict_open_fail(none, buf_str(b), why_r);
        buf_free(&b);
        return none;
    }
    if (colon[1] == '\0')
        return dict_open_fail(NULL, "table name is empty after the type", why_r);
    if ((flags & DICT_FLAG_CREATE) && !(t->type_flags & DICT_TYPE_BUILD)) {
        struct buf *b = buf_create(64);

        buf_printf(b, "%s: table type %s cannot be built from a text file (use hash, btree, "
                      "lmdb or cdb)", spec, t->name);
        dict_open_fail(NULL, buf_str(b), why_r);
        buf_free(&b);
        return NULL;
    }

    d = mem_alloc(sizeof(*d));
    d->spec = mem_strdup(spec);
    d->name = d->spec + (colon - spec) + 1;
    d->type = t;
    d->flags = flags;
    d->tmp_fd = -1;
    d->keybuf = buf_create(64);
    d->why = buf_create(100);

    path = buf_create(strlen(d->name) + 8);
    buf_puts(path, d->name);
    if (t->suffix != NULL)
        buf_puts(path, t->suffix);
    if ((flags & DICT_FLAG_CREATE) && dict_create_tmp(d, buf_str(path)) < 0) {
        buf_free(&path);
        dict_open_fail(d, buf_str(d->why), why_r);
        return NULL;
    }
    if (t->suffix != NULL || (t->type_flags & DICT_TYPE_FILE)) {
        d->file = mem_strdup(buf_str(path));
    }
    rc = t->open(d, d->tmp_path != NULL ? d->tmp_path : buf_str(path), flags);
    buf_free(&path);
    if (rc < 0) {
        struct buf *text = buf_create(buf_len(d->why) + 1);

        buf_puts(text, buf_str(d->why));
        dict_open_fail(d, buf_str(text), why_r);
        buf_free(&text);
        return NULL;
    }
    if (d->tmp_path != NULL)
        d->have_stat = false; /* the build target does not exist yet */
    return d;
}

/* Close d (removing the temporary file of an uncommitted build). */
void dict_close(struct dict **dp)
{
    struct dict *d = *dp;

    if (d == NULL)
        return;
    dict_release(d);
    buf_free(&d->keybuf);
    buf_free(&d->why);
    mem_free(d->spec);
    mem_free(d);
    *dp = NULL;
}

/* Bound and (for fixed-key types) fold a key. NULL with d->why set when too long. */
static const char *dict_key(struct dict *d, const char *key)
{
    size_t len = strlen(key);

    if (len > DICT_KEY_MAX) {
        dict_why(d, "%s: lookup key too long (%zu bytes, limit %d)", d->spec, len, DICT_KEY_MAX);
        return NULL;
    }
    if ((d->flags & DICT_FLAG_FOLD_KEYS) && (d->type->type_flags & DICT_TYPE_FIXED)) {
        buf_set(d->keybuf, key);
        buf_lower(d->keybuf);
        return buf_str(d->keybuf);
    }
    return key;
}

/* Check that the table is usable for op (open, not yet committed). */
static int dict_usable(struct dict *d, const char *op)
{
    if (d->ops == NULL)
        return dict_why(d, "%s: table is closed (%s after commit or failed reopen)", d->spec, op);
    return 0;
}

/* Look up key: DICT_FOUND with *value_r, DICT_NOTFOUND, or DICT_ERROR with *why_r. */
int dict_lookup(struct dict *d, const char *key, const char **value_r, const char **why_r)
{
    const char *k;
    int rc;

    *value_r = NULL;
    if (dict_usable(d, "lookup") < 0 || (k = dict_key(d, key)) == NULL) {
        rc = DICT_ERROR;
    } else {
        rc = d->ops->lookup(d, k, value_r);
    }
    if (rc == DICT_ERROR && why_r != NULL)
        *why_r = buf_str(d->why);
    if (rc != DICT_FOUND)
        *value_r = NULL;
    return rc;
}

/* Store key => value: 0 stored, 1 duplicate kept, or DICT_ERROR. */
int dict_update(struct dict *d, const char *key, const char *value, const char **why_r)
{
    const char *k;
    size_t vlen = strlen(value);
    int rc;

    if (dict_usable(d, "update") < 0 || (k = dict_key(d, key)) == NULL) {
        rc = DICT_ERROR;
    } else if (*k == '\0') {
        rc = dict_why(d, "%s: empty key", d->spec);
    } else if (vlen > DICT_VALUE_MAX) {
        rc = dict_why(d, "%s: value too long (%zu bytes, limit %d)", d->spec, vlen,
                      DICT_VALUE_MAX);
    } else if (d->ops->update == NULL || !(d->flags & (DICT_FLAG_CREATE | DICT_FLAG_WRITE))) {
        rc = dict_why(d, "%s: table is read-only%s", d->spec,
                      d->type->type_flags & DICT_TYPE_BUILD ? "" : " (this type cannot be updated)");
    } else {
        rc = d->ops->update(d, k, value);
        if (rc == 1 && (d->flags & DICT_FLAG_DUP_WARN))
            msg_warn("%s: duplicate entry: \"%s\"", d->spec, k);
    }
    if (rc == DICT_ERROR && why_r != NULL)
        *why_r = buf_str(d->why);
    return rc;
}

/* Delete key: DICT_FOUND (deleted), DICT_NOTFOUND, or DICT_ERROR. */
int dict_delete(struct dict *d, const char *key, const char **why_r)
{
    const char *k;
    int rc;

    if (dict_usable(d, "delete") < 0 || (k = dict_key(d, key)) == NULL) {
        rc = DICT_ERROR;
    } else if (d->ops->del == NULL || !(d->flags & (DICT_FLAG_CREATE | DICT_FLAG_WRITE))) {
        rc = dict_why(d, "%s: table is read-only%s", d->spec,
                      d->ops->del == NULL ? " (this type does not support deletion)" : "");
    } else {
        rc = d->ops->del(d, k);
    }
    if (rc == DICT_ERROR && why_r != NULL)
        *why_r = buf_str(d->why);
    return rc;
}

/* Walk all entries. DICT_FOUND, DICT_NOTFOUND (end), DICT_ERROR. */
int dict_sequence(struct dict *d, bool first, const char **key_r, const char **value_r,
                  const char **why_r)
{
    int rc;

    *key_r = *value_r = NULL;
    if (dict_usable(d, "sequence") < 0)
        rc = DICT_ERROR;
    else if (d->ops->sequence == NULL)
        rc = dict_why(d, "%s: table type %s does not support listing its entries", d->spec,
                      d->type->name);
    else
        rc = d->ops->sequence(d, first, key_r, value_r);
    if (rc == DICT_ERROR && why_r != NULL)
        *why_r = buf_str(d->why);
    return rc;
}

/* Permissions and owner that the built file gets at dict_commit(). */
void dict_set_create_mode(struct dict *d, unsigned int mode, long uid, long gid)
{
    d->create_mode = mode & 07777;
    d->create_uid = uid;
    d->create_gid = gid;
}

/* fsync the directory that holds path, so a rename survives a crash. */
static int dict_sync_dir(struct dict *d, const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash == NULL ? mem_strdup(".")
                              : mem_strndup(path, slash == path ? 1 : (size_t)(slash - path));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0 || fsync(fd) < 0)
        rc = dict_why(d, "sync directory %s: %m", dir);
    if (fd >= 0)
        (void)close(fd);
    mem_free(dir);
    return rc;
}

/* Flush a build to disk and rename it into place. 0 or DICT_ERROR. */
int dict_commit(struct dict *d, const char **why_r)
{
    int rc = 0;
    struct stat st;

    if (d->tmp_path == NULL && (d->flags & DICT_FLAG_WRITE) && d->ops != NULL) {
        /* An update in place: just flush it. */
        if (d->ops->finish != NULL && d->ops->finish(d) < 0)
            rc = DICT_ERROR;
        goto out;
    }
    if (d->tmp_path == NULL || d->committed) {
        rc = dict_why(d, "%s: dict_commit without a build in progress", d->spec);
        goto out;
    }
    if (d->ops->finish != NULL && d->ops->finish(d) < 0) {
        rc = DICT_ERROR;
        goto out;
    }
    if (d->ops->close != NULL)
        d->ops->close(d);
    d->ops = NULL;
    d->priv = NULL;
    if (fchmod(d->tmp_fd, d->create_mode) < 0) {
        rc = dict_why(d, "chmod %s: %m", d->tmp_path);
        goto out;
    }
    if ((d->create_uid != -1 || d->create_gid != -1)
        && fchown(d->tmp_fd, (uid_t)d->create_uid, (gid_t)d->create_gid) < 0) {
        rc = dict_why(d, "chown %s: %m", d->tmp_path);
        goto out;
    }
    if (fsync(d->tmp_fd) < 0) {
        rc = dict_why(d, "sync %s: %m", d->tmp_path);
        goto out;
    }
    if (fstat(d->tmp_fd, &st) < 0) {
        rc = dict_why(d, "fstat %s: %m", d->tmp_path);
        goto out;
    }
    if (rename(d->tmp_path, d->file) < 0) {
        rc = dict_why(d, "rename %s to %s: %m", d->tmp_path, d->file);
        goto out;
    }
    d->committed = true;
    MEM_FREE(&d->tmp_path);
    (void)close(d->tmp_fd);
    d->tmp_fd = -1;
    dict_note_file(d, d->file, &st);
    rc = dict_sync_dir(d, d->file);
out:
    if (rc == DICT_ERROR && why_r != NULL)
        *why_r = buf_str(d->why);
    return rc;
}

/* The file that holds the data, or NULL. */
const char *dict_file(const struct dict *d)
{
    return d->file;
}

/* True when the table's file was replaced or modified since open. */
bool dict_changed(struct dict *d)
{
    struct stat st;

    if (d->file == NULL || d->tmp_path != NULL)
        return false;
    if (stat(d->file, &st) < 0)
        return d->have_stat; /* it went away (or never was there) */
    if (!d->have_stat)
        return true;
    /* A writer changes its own file in place: only a replacement counts. */
    if (d->flags & DICT_FLAG_WRITE)
        return st.st_dev != d->st.st_dev || st.st_ino != d->st.st_ino;
    return st.st_dev != d->st.st_dev || st.st_ino != d->st.st_ino || st.st_size != d->st.st_size
           || st.st_mtim.tv_sec != d->st.st_mtim.tv_sec
           || st.st_mtim.tv_nsec != d->st.st_mtim.tv_nsec;
}

/* Re-open d in place if dict_changed(); on failure d keeps the old data. */
int dict_reopen_if_changed(struct dict *d, const char **why_r)
{
    struct dict *nd;
    const char *why;
    struct dict tmp;

    if (d->tmp_path != NULL || (d->flags & DICT_FLAG_CREATE) || !dict_changed(d))
        return 0;
    if ((nd = dict_open(d->spec, d->flags, &why)) == NULL) {
        dict_why(d, "%s", why);
        if (why_r != NULL)
            *why_r = buf_str(d->why);
        return DICT_ERROR;
    }
    /* Swap the contents: the caller's pointer stays valid. */
    tmp = *d;
    *d = *nd;
    *nd = tmp;
    /* Keep spec/name storage with the struct it belongs to. */
    dict_close(&nd);
    return 0;
}

/* The "type:name" this table was opened with. */
const char *dict_spec(const struct dict *d)
{
    return d->spec;
}
