/*
 * dict_lmdb - lmdb: tables in one LMDB file (name.lmdb, MDB_NOSUBDIR).
 *
 * Owns: LMDB environments opened with MDB_NOLOCK (no lock file is needed
 * next to the table, so an unprivileged daemon can read a table in a
 * root-owned directory), reads in short read-only transactions, updates
 * in one write transaction each, builds in batches, and growth of the map
 * when it is full (the map size is recorded in the file, so readers follow).
 *
 * Locking: with MDB_NOLOCK, LMDB leaves concurrency to us. A separate
 * descriptor on the file carries flock(): shared for each read transaction,
 * exclusive for each write transaction, so a writer never recycles pages
 * that a reader in another process is using. A build writes a private
 * temporary file (MDB_NOSYNC; one fsync at the end) that is renamed into
 * place by dict_commit().
 *
 * Security: a file that is not an LMDB file, or of another LMDB version, is
 * DICT_ERROR; the map size is capped (DICT_LMDB_MAP_MAX).
 */
#include "config.h"

#ifdef HAVE_LMDB

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dict/dict_priv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

#define DICT_LMDB_MAP_INIT ((size_t)16 * 1024 * 1024)
#define DICT_LMDB_MAP_MAX ((size_t)64 * 1024 * 1024 * 1024)
#define DICT_LMDB_BATCH 2000 /* puts per transaction of a build */

struct dict_lmdb {
    MDB_env *env;
    MDB_dbi dbi;
    int lock_fd;
    size_t mapsize;

    /* Build: the open write transaction and what it holds, for replay. */
    MDB_txn *build_txn;
    struct buf *batch; /* key NUL value NUL, ... */
    size_t batch_count;

    /* Sequence: a read transaction held from first to last entry. */
    MDB_txn *seq_txn;
    MDB_cursor *cursor;
    bool seq_locked;

    struct buf *value;
    struct buf *key;
};

/* Describe an LMDB failure. */
static int lmdb_fail(struct dict *d, const char *what, int rc)
{
    return dict_why(d, "%s %s: %s", what, d->file, mdb_strerror(rc));
}

/* flock with EINTR retry; no-op without a lock descriptor. */
static int lmdb_lock(struct dict *d, struct dict_lmdb *l, int how)
{
    if (l->lock_fd < 0)
        return 0;
    while (flock(l->lock_fd, how) < 0)
        if (errno != EINTR)
            return dict_why(d, "lock %s: %m", d->file);
    return 0;
}

/* Release a lock taken with lmdb_lock. */
static void lmdb_unlock(struct dict_lmdb *l)
{
    if (l->lock_fd >= 0)
        (void)flock(l->lock_fd, LOCK_UN);
}

/* Begin a transaction, following a map that another process grew. */
static int lmdb_begin(struct dict_lmdb *l, unsigned int flags, MDB_txn **txn_r)
{
    int rc = mdb_txn_begin(l->env, NULL, flags, txn_r);

    if (rc == MDB_MAP_RESIZED) {
        if ((rc = mdb_env_set_mapsize(l->env, 0)) != 0)
            return rc;
        rc = mdb_txn_begin(l->env, NULL, flags, txn_r);
    }
    return rc;
}

/* Double the map (no transaction may be active in this process). */
static int lmdb_grow(struct dict *d, struct dict_lmdb *l)
{
    MDB_envinfo info;
    int rc;

    if (mdb_env_info(l->env, &info) == 0 && info.me_mapsize > l->mapsize)
        l->mapsize = info.me_mapsize;
    if (l->mapsize >= DICT_LMDB_MAP_MAX)
        return dict_why(d, "write database %s: table larger than %zu bytes", d->file,
                        (size_t)DICT_LMDB_MAP_MAX);
    l->mapsize *= 2;
    if ((rc = mdb_env_set_mapsize(l->env, l->mapsize)) != 0)
        return lmdb_fail(d, "resize database", rc);
    return 0;
}

/* Copy a value out of the map, dropping one trailing NUL. */
static const char *lmdb_copy(struct buf *b, const MDB_val *v)
{
    size_t len = v->mv_size;

    if (len > 0 && ((const char *)v->mv_data)[len - 1] == '\0')
        len--;
    buf_reset(b);
    buf_append(b, v->mv_data, len);
    return buf_str(b);
}

/* Get key in txn, with and without the NUL: 1, 0, or -1 with the LMDB error in *err_r. */
static int lmdb_get(struct dict_lmdb *l, MDB_txn *txn, const char *key, MDB_val *v,
                    bool *with_nul_r, int *err_r)
{
    size_t len = strlen(key);

    /* LMDB refuses zero-length keys: an empty key can only be stored with its NUL. */
    for (int pass = len == 0 ? 1 : 0; pass < 2; pass++) {
        MDB_val k = {.mv_size = len + (pass == 0 ? 0 : 1), .mv_data = (void *)key};
        int rc = mdb_get(txn, l->dbi, &k, v);

        if (rc == 0) {
            if (with_nul_r != NULL)
                *with_nul_r = pass == 1;
            return 1;
        }
        if (rc != MDB_NOTFOUND) {
            *err_r = rc;
            return -1;
        }
    }
    return 0;
}

/* ops: lookup in a short read transaction. */
static int lmdb_lookup(struct dict *d, const char *key, const char **value_r)
{
    struct dict_lmdb *l = d->priv;
    MDB_txn *txn;
    MDB_val v;
    int rc, err = 0;

    if (l->build_txn != NULL) {
        rc = lmdb_get(l, l->build_txn, key, &v, NULL, &err);
        if (rc < 0)
            return lmdb_fail(d, "read database", err);
        if (rc == 1)
            *value_r = lmdb_copy(l->value, &v);
        return rc == 1 ? DICT_FOUND : DICT_NOTFOUND;
    }
    if (lmdb_lock(d, l, LOCK_SH) < 0)
        return DICT_ERROR;
    if ((err = lmdb_begin(l, MDB_RDONLY, &txn)) != 0) {
        lmdb_unlock(l);
        return lmdb_fail(d, "read database", err);
    }
    rc = lmdb_get(l, txn, key, &v, NULL, &err);
    if (rc == 1)
        *value_r = lmdb_copy(l->value, &v);
    mdb_txn_abort(txn);
    lmdb_unlock(l);
    if (rc < 0)
        return lmdb_fail(d, "read database", err);
    return rc == 1 ? DICT_FOUND : DICT_NOTFOUND;
}

/* Put one entry in txn (existing entries per flags): 0 stored, 1 kept, -1 with *err_r. */
static int lmdb_put(struct dict *d, struct dict_lmdb *l, MDB_txn *txn, const char *key,
                    const char *value, int *err_r)
{
    bool nul = dict_store_nul(d, false);
    bool with_nul = nul;
    MDB_val k, v;
    int rc = lmdb_get(l, txn, key, &v, &with_nul, err_r);

    if (rc < 0)
        return -1;
    if (rc == 1 && !(d->flags & DICT_FLAG_DUP_REPLACE))
        return 1;
    if (rc == 1)
        nul = with_nul;
    k.mv_data = (void *)key;
    k.mv_size = strlen(key) + (nul ? 1 : 0);
    v.mv_data = (void *)value;
    v.mv_size = strlen(value) + (nul ? 1 : 0);
    if ((*err_r = mdb_put(txn, l->dbi, &k, &v, 0)) != 0)
        return -1;
    return 0;
}

/* Build: after MAP_FULL, grow the map and replay the batch into a new transaction. */
static int lmdb_build_replay(struct dict *d, struct dict_lmdb *l)
{
    int rc, err = 0;

    for (;;) {
        if (lmdb_grow(d, l) < 0)
            return DICT_ERROR;
        if ((err = lmdb_begin(l, 0, &l->build_txn)) != 0)
            return lmdb_fail(d, "write database", err);
        const char *p = buf_str(l->batch), *end = p + buf_len(l->batch);

        rc = 0;
        while (p < end && rc >= 0) {
            const char *k = p, *v = p + strlen(p) + 1;

            p = v + strlen(v) + 1;
            rc = lmdb_put(d, l, l->build_txn, k, v, &err);
        }
        if (rc >= 0)
            return 0;
        mdb_txn_abort(l->build_txn);
        l->build_txn = NULL;
        if (err != MDB_MAP_FULL)
            return lmdb_fail(d, "write database", err);
    }
}

/* Build: commit the current batch (growing the map as needed), then maybe begin the next. */
static int lmdb_build_commit(struct dict *d, struct dict_lmdb *l, bool again)
{
    int rc;

    for (;;) {
        rc = mdb_txn_commit(l->build_txn);
        l->build_txn = NULL;
        if (rc != MDB_MAP_FULL)
            break;
        if (lmdb_build_replay(d, l) < 0)
            return DICT_ERROR;
    }
    if (rc != 0)
        return lmdb_fail(d, "write database", rc);
    buf_reset(l->batch);
    l->batch_count = 0;
    if (again && (rc = lmdb_begin(l, 0, &l->build_txn)) != 0)
        return lmdb_fail(d, "write database", rc);
    return 0;
}

/* ops: update (a build batch, or one write transaction in place). */
static int lmdb_update(struct dict *d, const char *key, const char *value)
{
    struct dict_lmdb *l = d->priv;
    MDB_txn *txn;
    int rc, err = 0;

    if (l->build_txn != NULL) {
        while ((rc = lmdb_put(d, l, l->build_txn, key, value, &err)) < 0
               && err == MDB_MAP_FULL) {
            mdb_txn_abort(l->build_txn);
            l->build_txn = NULL;
            if (lmdb_build_replay(d, l) < 0)
                return DICT_ERROR;
        }
        if (rc < 0)
            return lmdb_fail(d, "write database", err);
        if (rc == 1)
            return 1;
        buf_append(l->batch, key, strlen(key) + 1);
        buf_append(l->batch, value, strlen(value) + 1);
        if (++l->batch_count >= DICT_LMDB_BATCH && lmdb_build_commit(d, l, true) < 0)
            return DICT_ERROR;
        return 0;
    }
    if (lmdb_lock(d, l, LOCK_EX) < 0)
        return DICT_ERROR;
    for (;;) {
        if ((err = lmdb_begin(l, 0, &txn)) != 0)
            break;
        rc = lmdb_put(d, l, txn, key, value, &err);
        if (rc == 1) {
            mdb_txn_abort(txn);
            lmdb_unlock(l);
            return 1;
        }
        if (rc == 0)
            err = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (err != MDB_MAP_FULL)
            break;
        if (lmdb_grow(d, l) < 0) {
            lmdb_unlock(l);
            return DICT_ERROR;
        }
    }
    lmdb_unlock(l);
    if (err != 0)
        return lmdb_fail(d, "write database", err);
    return 0;
}

/* ops: delete in one write transaction (both stored forms). */
static int lmdb_del(struct dict *d, const char *key)
{
    struct dict_lmdb *l = d->priv;
    MDB_txn *txn;
    size_t len = strlen(key);
    int found = 0, rc;

    if (l->build_txn != NULL && (rc = lmdb_build_commit(d, l, true)) < 0)
        return DICT_ERROR;
    if (l->build_txn == NULL && lmdb_lock(d, l, LOCK_EX) < 0)
        return DICT_ERROR;
    txn = l->build_txn;
    if (txn == NULL && (rc = lmdb_begin(l, 0, &txn)) != 0) {
        lmdb_unlock(l);
        return lmdb_fail(d, "write database", rc);
    }
    for (int pass = len == 0 ? 1 : 0; pass < 2; pass++) {
        MDB_val k = {.mv_size = len + (pass == 0 ? 0 : 1), .mv_data = (void *)key};

        rc = mdb_del(txn, l->dbi, &k, NULL);
        if (rc == 0)
            found = 1;
        else if (rc != MDB_NOTFOUND)
            break;
        rc = 0;
    }
    if (txn != l->build_txn) {
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        lmdb_unlock(l);
    }
    if (rc != 0)
        return lmdb_fail(d, "delete from database", rc);
    return found ? DICT_FOUND : DICT_NOTFOUND;
}

/* End a sequence: release its transaction and lock. */
static void lmdb_seq_end(struct dict_lmdb *l)
{
    if (l->cursor != NULL)
        mdb_cursor_close(l->cursor);
    l->cursor = NULL;
    if (l->seq_txn != NULL)
        mdb_txn_abort(l->seq_txn);
    l->seq_txn = NULL;
    if (l->seq_locked)
        lmdb_unlock(l);
    l->seq_locked = false;
}

/* ops: walk all entries in one read transaction. */
static int lmdb_sequence(struct dict *d, bool first, const char **key_r, const char **value_r)
{
    struct dict_lmdb *l = d->priv;
    MDB_val k, v;
    int rc;

    if (first)
        lmdb_seq_end(l);
    if (l->cursor == NULL) {
        if (!first)
            return DICT_NOTFOUND;
        if (l->build_txn != NULL && lmdb_build_commit(d, l, true) < 0)
            return DICT_ERROR;
        if (l->build_txn == NULL) {
            if (lmdb_lock(d, l, LOCK_SH) < 0)
                return DICT_ERROR;
            l->seq_locked = l->lock_fd >= 0;
        }
        if ((rc = lmdb_begin(l, MDB_RDONLY, &l->seq_txn)) != 0) {
            lmdb_seq_end(l);
            return lmdb_fail(d, "read database", rc);
        }
        if ((rc = mdb_cursor_open(l->seq_txn, l->dbi, &l->cursor)) != 0) {
            lmdb_seq_end(l);
            return lmdb_fail(d, "read database", rc);
        }
    }
    rc = mdb_cursor_get(l->cursor, &k, &v, first ? MDB_FIRST : MDB_NEXT);
    if (rc == MDB_NOTFOUND) {
        lmdb_seq_end(l);
        return DICT_NOTFOUND;
    }
    if (rc != 0) {
        lmdb_seq_end(l);
        return lmdb_fail(d, "read database", rc);
    }
    *key_r = lmdb_copy(l->key, &k);
    *value_r = lmdb_copy(l->value, &v);
    return DICT_FOUND;
}

/* ops: a build's last commit and the one fsync. */
static int lmdb_finish(struct dict *d)
{
    struct dict_lmdb *l = d->priv;
    int rc;

    lmdb_seq_end(l);
    if (l->build_txn != NULL && lmdb_build_commit(d, l, false) < 0)
        return DICT_ERROR;
    if ((rc = mdb_env_sync(l->env, 1)) != 0)
        return lmdb_fail(d, "sync database", rc);
    return 0;
}

/* ops: close. */
static void lmdb_close(struct dict *d)
{
    struct dict_lmdb *l = d->priv;

    if (l == NULL)
        return;
    lmdb_seq_end(l);
    if (l->build_txn != NULL)
        mdb_txn_abort(l->build_txn);
    if (l->env != NULL)
        mdb_env_close(l->env);
    if (l->lock_fd >= 0)
        (void)close(l->lock_fd);
    buf_free(&l->batch);
    buf_free(&l->value);
    buf_free(&l->key);
    mem_free(l);
    d->priv = NULL;
}

static const struct dict_ops lmdb_ops = {
    .lookup = lmdb_lookup,
    .update = lmdb_update,
    .del = lmdb_del,
    .sequence = lmdb_sequence,
    .finish = lmdb_finish,
    .close = lmdb_close,
};

/* lmdb: open name.lmdb (or the temporary file of a build). */
static int lmdb_open(struct dict *d, const char *path, int flags)
{
    struct dict_lmdb *l = mem_alloc(sizeof(*l));
    unsigned int eflags = MDB_NOSUBDIR | MDB_NOLOCK;
    MDB_txn *txn;
    struct stat st;
    mode_t mask;
    int rc;

    l->lock_fd = -1;
    l->value = buf_create(64);
    l->key = buf_create(64);
    l->batch = buf_create(1024);
    l->mapsize = DICT_LMDB_MAP_INIT;
    d->priv = l;
    d->ops = &lmdb_ops;

    mask = umask(022);
    umask(mask);
    if (!(flags & DICT_FLAG_CREATE)) {
        int oflag = (flags & DICT_FLAG_WRITE) ? O_RDWR | O_CREAT : O_RDONLY;

        l->lock_fd = open(path, oflag | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644 & ~mask);
        if (l->lock_fd < 0)
            return dict_why(d, "open database %s: %m", path);
        if (fstat(l->lock_fd, &st) < 0)
            return dict_why(d, "open database %s: fstat: %m", path);
        if (!S_ISREG(st.st_mode))
            return dict_why(d, "open database %s: not a regular file", path);
        if (!(flags & DICT_FLAG_WRITE) && st.st_size == 0)
            return dict_why(d, "open database %s: empty file, not an LMDB table", path);
        dict_note_file(d, path, &st);
    }
    if (!(flags & (DICT_FLAG_CREATE | DICT_FLAG_WRITE)))
        eflags |= MDB_RDONLY;
    if (flags & DICT_FLAG_CREATE)
        eflags |= MDB_NOSYNC;
    if ((rc = mdb_env_create(&l->env)) != 0)
        return dict_why(d, "open database %s: %s", path, mdb_strerror(rc));
    if (!(eflags & MDB_RDONLY) && (rc = mdb_env_set_mapsize(l->env, l->mapsize)) != 0)
        return dict_why(d, "open database %s: %s", path, mdb_strerror(rc));
    if ((rc = mdb_env_open(l->env, path, eflags, 0644 & ~mask)) != 0) {
        mdb_env_close(l->env);
        l->env = NULL;
        if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
            return dict_why(d, "open database %s: not an LMDB table or corrupt (%s)", path,
                            mdb_strerror(rc));
        return dict_why(d, "open database %s: %s", path, mdb_strerror(rc));
    }
    if (!(eflags & MDB_RDONLY)) {
        MDB_envinfo info;

        /* An existing file may already be bigger than our initial map. */
        if (mdb_env_info(l->env, &info) == 0 && info.me_mapsize > l->mapsize)
            l->mapsize = info.me_mapsize;
    }
    if ((rc = lmdb_begin(l, (eflags & MDB_RDONLY) ? MDB_RDONLY : 0, &txn)) != 0)
        return dict_why(d, "open database %s: %s", path, mdb_strerror(rc));
    if ((rc = mdb_dbi_open(txn, NULL, 0, &l->dbi)) != 0) {
        mdb_txn_abort(txn);
        return dict_why(d, "open database %s: %s", path, mdb_strerror(rc));
    }
    if (flags & DICT_FLAG_CREATE) {
        l->build_txn = txn;
        return 0;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return dict_why(d, "open database %s: %s", path, mdb_strerror(rc));
    return 0;
}

const struct dict_type dict_type_lmdb = {
    .name = "lmdb",
    .suffix = ".lmdb",
    .type_flags = DICT_TYPE_BUILD | DICT_TYPE_FIXED,
    .open = lmdb_open,
};

#endif /* HAVE_LMDB */
