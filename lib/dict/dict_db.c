/*
 * dict_db - hash: and btree: tables in Berkeley DB 5.3 files (name.db).
 *
 * Owns: opening a .db file without a DB environment (as Postfix does),
 * lookups that accept keys stored with or without the terminating NUL (so
 * files built by Postfix's or Sendmail's tools read fine), updates that
 * store the NUL by default (-n turns it off), deletion, and sequence by
 * cursor.
 *
 * Locking: a separate descriptor on the .db file carries flock() locks:
 * shared around each read, exclusive for as long as a writer (postmap -i,
 * -d) has the table open, so readers never see a half-applied update. A
 * build (DICT_FLAG_CREATE) writes a private temporary file and needs none.
 *
 * Security: Berkeley DB's own error messages are captured and returned as
 * the reason, never printed by the library; a file that is not a DB of the
 * expected type is DICT_ERROR.
 */
#include "config.h"

#ifdef HAVE_BDB

#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dict/dict_priv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

struct dict_db {
    DB *db;
    DBC *cursor;
    int lock_fd;
    bool write_locked;
    struct buf *value; /* copy of the last value handed out */
    struct buf *key;   /* copy of the last key of a sequence */
};

/* Berkeley DB's last error message (it has no per-call error return text). */
static char db_errtext[512];

/* Berkeley DB error callback: remember the text. */
static void db_errcall(const DB_ENV *env, const char *prefix, const char *text)
{
    (void)env;
    (void)prefix;
    snprintf(db_errtext, sizeof(db_errtext), "%s", text);
}

/* Describe a Berkeley DB failure, with the captured detail when there is one. */
static int db_fail(struct dict *d, const char *what, int ret)
{
    if (db_errtext[0] != '\0') {
        dict_why(d, "%s %s: %s (%s)", what, d->file, db_strerror(ret), db_errtext);
        db_errtext[0] = '\0';
    } else {
        dict_why(d, "%s %s: %s", what, d->file, db_strerror(ret));
    }
    return DICT_ERROR;
}

/* Take a shared or exclusive lock for one operation (no-op for writers and builds). */
static int db_lock(struct dict *d, struct dict_db *db, int how)
{
    if (db->lock_fd < 0 || db->write_locked)
        return 0;
    while (flock(db->lock_fd, how) < 0) {
        if (errno != EINTR)
            return dict_why(d, "lock %s: %m", d->file);
    }
    return 0;
}

/* Release the lock of one operation. */
static void db_unlock(struct dict_db *db)
{
    if (db->lock_fd >= 0 && !db->write_locked)
        (void)flock(db->lock_fd, LOCK_UN);
}

/* Copy a found value into our buffer, dropping one trailing NUL. */
static const char *db_value(struct dict_db *db, const DBT *v)
{
    size_t len = v->size;

    if (len > 0 && ((const char *)v->data)[len - 1] == '\0')
        len--;
    buf_reset(db->value);
    buf_append(db->value, v->data, len);
    return buf_str(db->value);
}

/* Fetch key (with and without NUL) into *v: 1 found, 0 not, -1 error (errno-ish ret). */
static int db_get(struct dict_db *db, const char *key, DBT *v, int *ret_r, bool *with_nul_r)
{
    DBT k;
    size_t len = strlen(key);

    for (int pass = 0; pass < 2; pass++) {
        memset(&k, 0, sizeof(k));
        memset(v, 0, sizeof(*v));
        k.data = (void *)key;
        k.size = (u_int32_t)(len + (pass == 0 ? 1 : 0));
        int ret = db->db->get(db->db, NULL, &k, v, 0);

        if (ret == 0) {
            if (with_nul_r != NULL)
                *with_nul_r = pass == 0;
            return 1;
        }
        if (ret != DB_NOTFOUND) {
            *ret_r = ret;
            return -1;
        }
    }
    return 0;
}

/* ops: lookup. */
static int db_lookup(struct dict *d, const char *key, const char **value_r)
{
    struct dict_db *db = d->priv;
    DBT v;
    int ret = 0, rc;

    if (db_lock(d, db, LOCK_SH) < 0)
        return DICT_ERROR;
    rc = db_get(db, key, &v, &ret, NULL);
    if (rc == 1)
        *value_r = db_value(db, &v);
    db_unlock(db);
    if (rc < 0)
        return db_fail(d, "read database", ret);
    return rc == 1 ? DICT_FOUND : DICT_NOTFOUND;
}

/* ops: update. */
static int db_update(struct dict *d, const char *key, const char *value)
{
    struct dict_db *db = d->priv;
    bool nul = dict_store_nul(d, true);
    bool with_nul = nul;
    DBT k, v;
    int ret = 0, rc;

    rc = db_get(db, key, &v, &ret, &with_nul);
    if (rc < 0)
        return db_fail(d, "read database", ret);
    if (rc == 1 && !(d->flags & DICT_FLAG_DUP_REPLACE))
        return 1;
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    /* Replace an existing entry in the form it was stored in. */
    if (rc == 1)
        nul = with_nul;
    k.data = (void *)key;
    k.size = (u_int32_t)(strlen(key) + (nul ? 1 : 0));
    v.data = (void *)value;
    v.size = (u_int32_t)(strlen(value) + (nul ? 1 : 0));
    if ((ret = db->db->put(db->db, NULL, &k, &v, 0)) != 0)
        return db_fail(d, "write database", ret);
    return 0;
}

/* ops: delete (both stored forms). */
static int db_del(struct dict *d, const char *key)
{
    struct dict_db *db = d->priv;
    DBT k;
    size_t len = strlen(key);
    int found = 0;

    for (int pass = 0; pass < 2; pass++) {
        memset(&k, 0, sizeof(k));
        k.data = (void *)key;
        k.size = (u_int32_t)(len + (pass == 0 ? 1 : 0));
        int ret = db->db->del(db->db, NULL, &k, 0);

        if (ret == 0)
            found = 1;
        else if (ret != DB_NOTFOUND)
            return db_fail(d, "delete from database", ret);
    }
    return found ? DICT_FOUND : DICT_NOTFOUND;
}

/* ops: walk all entries with a cursor. */
static int db_sequence(struct dict *d, bool first, const char **key_r, const char **value_r)
{
    struct dict_db *db = d->priv;
    DBT k, v;
    int ret;

    if (first && db->cursor != NULL) {
        db->cursor->close(db->cursor);
        db->cursor = NULL;
    }
    if (db->cursor == NULL) {
        if (!first)
            return DICT_NOTFOUND;
        if ((ret = db->db->cursor(db->db, NULL, &db->cursor, 0)) != 0)
            return db_fail(d, "read database", ret);
    }
    memset(&k, 0, sizeof(k));
    memset(&v, 0, sizeof(v));
    if (db_lock(d, db, LOCK_SH) < 0)
        return DICT_ERROR;
    ret = db->cursor->get(db->cursor, &k, &v, first ? DB_FIRST : DB_NEXT);
    if (ret == 0) {
        size_t klen = k.size;

        if (klen > 0 && ((const char *)k.data)[klen - 1] == '\0')
            klen--;
        buf_reset(db->key);
        buf_append(db->key, k.data, klen);
        *key_r = buf_str(db->key);
        *value_r = db_value(db, &v);
    }
    db_unlock(db);
    if (ret == DB_NOTFOUND) {
        db->cursor->close(db->cursor);
        db->cursor = NULL;
        return DICT_NOTFOUND;
    }
    if (ret != 0)
        return db_fail(d, "read database", ret);
    return DICT_FOUND;
}

/* ops: flush a build or an update to the file. */
static int db_finish(struct dict *d)
{
    struct dict_db *db = d->priv;
    int ret;

    if (db->cursor != NULL) {
        db->cursor->close(db->cursor);
        db->cursor = NULL;
    }
    if ((ret = db->db->sync(db->db, 0)) != 0)
        return db_fail(d, "write database", ret);
    return 0;
}

/* ops: close. */
static void db_close(struct dict *d)
{
    struct dict_db *db = d->priv;

    if (db == NULL)
        return;
    if (db->cursor != NULL)
        db->cursor->close(db->cursor);
    if (db->db != NULL) {
        if ((d->flags & DICT_FLAG_WRITE) && db->db->sync(db->db, 0) != 0)
            msg_warn("%s: sync failed at close: %s", d->file, db_errtext);
        db->db->close(db->db, 0);
    }
    if (db->lock_fd >= 0)
        (void)close(db->lock_fd);
    buf_free(&db->value);
    buf_free(&db->key);
    mem_free(db);
    d->priv = NULL;
}

static const struct dict_ops db_ops = {
    .lookup = db_lookup,
    .update = db_update,
    .del = db_del,
    .sequence = db_sequence,
    .finish = db_finish,
    .close = db_close,
};

/* Open a .db file of the given access method. */
static int db_open_type(struct dict *d, const char *path, int flags, DBTYPE type)
{
    struct dict_db *db = mem_alloc(sizeof(*db));
    struct stat st;
    u_int32_t oflags;
    mode_t mask;
    int ret;

    db->lock_fd = -1;
    db->value = buf_create(64);
    db->key = buf_create(64);
    d->priv = db;
    d->ops = &db_ops;
    db_errtext[0] = '\0';

    if (!(flags & DICT_FLAG_CREATE)) {
        /* Lock descriptor first, so its identity is no newer than the data read. */
        int oflag = (flags & DICT_FLAG_WRITE) ? O_RDWR | O_CREAT : O_RDONLY;

        mask = umask(022);
        umask(mask);
        db->lock_fd = open(path, oflag | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644 & ~mask);
        if (db->lock_fd < 0)
            return dict_why(d, "open database %s: %m", path);
        if (fstat(db->lock_fd, &st) < 0)
            return dict_why(d, "open database %s: fstat: %m", path);
        if (!S_ISREG(st.st_mode))
            return dict_why(d, "open database %s: not a regular file", path);
        if (flags & DICT_FLAG_WRITE) {
            while (flock(db->lock_fd, LOCK_EX) < 0)
                if (errno != EINTR)
                    return dict_why(d, "lock %s: %m", path);
            db->write_locked = true;
        }
        dict_note_file(d, path, &st);
    }
    if ((ret = db_create(&db->db, NULL, 0)) != 0)
        return dict_why(d, "open database %s: db_create: %s", path, db_strerror(ret));
    db->db->set_errcall(db->db, db_errcall);
    /* A bigger cache makes building large hash tables much faster. */
    (void)db->db->set_cachesize(db->db, 0, (flags & DICT_FLAG_CREATE) ? 16 * 1024 * 1024
                                                                       : 128 * 1024, 0);
    if (flags & DICT_FLAG_CREATE)
        oflags = DB_CREATE | DB_TRUNCATE;
    else if (flags & DICT_FLAG_WRITE)
        oflags = DB_CREATE;
    else
        oflags = DB_RDONLY;
    ret = db->db->open(db->db, NULL, path, NULL, type, oflags, 0644);
    if (ret != 0) {
        db->db->close(db->db, 0);
        db->db = NULL;
        if (ret == EINVAL || ret == DB_OLD_VERSION)
            dict_why(d, "open database %s: not a %s file or corrupt (%s)", path,
                     type == DB_HASH ? "Berkeley DB hash" : "Berkeley DB btree",
                     db_errtext[0] ? db_errtext : db_strerror(ret));
        else
            dict_why(d, "open database %s: %s%s%s", path, db_strerror(ret),
                     db_errtext[0] ? ": " : "", db_errtext);
        db_errtext[0] = '\0';
        return DICT_ERROR;
    }
    return 0;
}

/* hash: */
static int hash_open(struct dict *d, const char *path, int flags)
{
    return db_open_type(d, path, flags, DB_HASH);
}

/* btree: */
static int btree_open(struct dict *d, const char *path, int flags)
{
    return db_open_type(d, path, flags, DB_BTREE);
}

const struct dict_type dict_type_hash = {
    .name = "hash",
    .suffix = ".db",
    .type_flags = DICT_TYPE_BUILD | DICT_TYPE_FIXED,
    .open = hash_open,
};

const struct dict_type dict_type_btree = {
    .name = "btree",
    .suffix = ".db",
    .type_flags = DICT_TYPE_BUILD | DICT_TYPE_FIXED,
    .open = btree_open,
};

#endif /* HAVE_BDB */
