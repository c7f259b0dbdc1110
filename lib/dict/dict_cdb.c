/*
 * dict_cdb - cdb: tables in tinycdb constant databases (name.cdb).
 *
 * Owns: reading a .cdb file through tinycdb's mmap reader, sequence over
 * its records, and building a new one with cdb_make (postmap). A cdb file
 * never changes after it is made: there is no update in place, and no
 * locking is needed; postmap replaces it by rename.
 *
 * Security: tinycdb checks record offsets against the file size and
 * reports EPROTO for a corrupt file, which is DICT_ERROR here.
 */
#include "config.h"

#ifdef HAVE_CDB

#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dict/dict_priv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

struct dict_cdb {
    int fd;
    bool reading;          /* cdb is initialised */
    struct cdb cdb;        /* reader */
    bool making;           /* cdbm is started */
    struct cdb_make cdbm;  /* writer of a build */
    unsigned seqpos;
    bool seq_active;
    struct buf *value;
    struct buf *key;
};

/* Copy a record part out of the map, dropping one trailing NUL. */
static int cdb_copy(struct dict_cdb *c, struct buf *b, unsigned pos, unsigned len)
{
    const char *p = cdb_get(&c->cdb, len, pos);

    if (p == NULL)
        return -1;
    if (len > 0 && p[len - 1] == '\0')
        len--;
    buf_reset(b);
    buf_append(b, p, len);
    return 0;
}

/* ops: lookup (without, then with, the NUL). */
static int cdb_lookup(struct dict *d, const char *key, const char **value_r)
{
    struct dict_cdb *c = d->priv;
    size_t len = strlen(key);

    if (!c->reading)
        return dict_why(d, "%s: a cdb table being built cannot be read", d->spec);
    for (int pass = 0; pass < 2; pass++) {
        int rc = cdb_find(&c->cdb, key, (unsigned)(len + (pass == 0 ? 0 : 1)));

        if (rc < 0)
            return dict_why(d, "read database %s: %s", d->file,
                            errno == EPROTO ? "corrupt cdb file" : strerror(errno));
        if (rc > 0) {
            if (cdb_copy(c, c->value, cdb_datapos(&c->cdb), cdb_datalen(&c->cdb)) < 0)
                return dict_why(d, "read database %s: corrupt cdb file", d->file);
            *value_r = buf_str(c->value);
            return DICT_FOUND;
        }
    }
    return DICT_NOTFOUND;
}

/* ops: add a record to a build. */
static int cdb_update(struct dict *d, const char *key, const char *value)
{
    struct dict_cdb *c = d->priv;
    bool nul = dict_store_nul(d, false);
    unsigned klen = (unsigned)(strlen(key) + (nul ? 1 : 0));
    unsigned vlen = (unsigned)(strlen(value) + (nul ? 1 : 0));
    int rc;

    if (!c->making)
        return dict_why(d, "%s: cdb tables cannot be updated; rebuild with postmap", d->spec);
    rc = cdb_make_exists(&c->cdbm, key, klen);
    if (rc < 0)
        return dict_why(d, "write database %s: %m", d->file);
    if (rc > 0 && !(d->flags & DICT_FLAG_DUP_REPLACE))
        return 1;
    if (cdb_make_put(&c->cdbm, key, klen, value, vlen, rc > 0 ? CDB_PUT_REPLACE : CDB_PUT_ADD)
        < 0)
        return dict_why(d, "write database %s: %m", d->file);
    return 0;
}

/* ops: walk all records. */
static int cdb_sequence(struct dict *d, bool first, const char **key_r, const char **value_r)
{
    struct dict_cdb *c = d->priv;
    int rc;

    if (!c->reading)
        return dict_why(d, "%s: a cdb table being built cannot be read", d->spec);
    if (first) {
        cdb_seqinit(&c->seqpos, &c->cdb);
        c->seq_active = true;
    }
    if (!c->seq_active)
        return DICT_NOTFOUND;
    rc = cdb_seqnext(&c->seqpos, &c->cdb);
    if (rc == 0) {
        c->seq_active = false;
        return DICT_NOTFOUND;
    }
    if (rc < 0 || cdb_copy(c, c->key, cdb_keypos(&c->cdb), cdb_keylen(&c->cdb)) < 0
        || cdb_copy(c, c->value, cdb_datapos(&c->cdb), cdb_datalen(&c->cdb)) < 0) {
        c->seq_active = false;
        return dict_why(d, "read database %s: corrupt cdb file", d->file);
    }
    *key_r = buf_str(c->key);
    *value_r = buf_str(c->value);
    return DICT_FOUND;
}

/* ops: write the index of a build. */
static int cdb_finish(struct dict *d)
{
    struct dict_cdb *c = d->priv;

    if (!c->making)
        return 0;
    c->making = false;
    if (cdb_make_finish(&c->cdbm) < 0)
        return dict_why(d, "write database %s: %m", d->file);
    return 0;
}

/* ops: close. */
static void cdb_close(struct dict *d)
{
    struct dict_cdb *c = d->priv;

    if (c == NULL)
        return;
    if (c->reading)
        cdb_free(&c->cdb);
    if (c->making) {
        /* An abandoned build: free the writer's memory; the file is removed by dict.c. */
        (void)cdb_make_finish(&c->cdbm);
    }
    if (c->fd >= 0)
        (void)close(c->fd);
    buf_free(&c->value);
    buf_free(&c->key);
    mem_free(c);
    d->priv = NULL;
}

static const struct dict_ops cdb_ops = {
    .lookup = cdb_lookup,
    .update = cdb_update,
    .sequence = cdb_sequence,
    .finish = cdb_finish,
    .close = cdb_close,
};

/* cdb: open name.cdb for reading, or the temporary file of a build. */
static int cdb_open(struct dict *d, const char *path, int flags)
{
    struct dict_cdb *c = mem_alloc(sizeof(*c));
    struct stat st;

    c->fd = -1;
    c->value = buf_create(64);
    c->key = buf_create(64);
    d->priv = c;
    d->ops = &cdb_ops;
    if (flags & DICT_FLAG_WRITE)
        return dict_why(d, "%s: cdb tables cannot be updated in place; rebuild with postmap",
                        d->spec);
    if (flags & DICT_FLAG_CREATE) {
        if ((c->fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY)) < 0)
            return dict_why(d, "open database %s: %m", path);
        if (cdb_make_start(&c->cdbm, c->fd) < 0)
            return dict_why(d, "open database %s: %m", path);
        c->making = true;
        return 0;
    }
    if ((c->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0)
        return dict_why(d, "open database %s: %m", path);
    if (fstat(c->fd, &st) < 0)
        return dict_why(d, "open database %s: fstat: %m", path);
    if (!S_ISREG(st.st_mode))
        return dict_why(d, "open database %s: not a regular file", path);
    if (cdb_init(&c->cdb, c->fd) < 0)
        return dict_why(d, "open database %s: %s", path,
                        errno == EPROTO ? "not a cdb file or corrupt" : strerror(errno));
    c->reading = true;
    dict_note_file(d, path, &st);
    return 0;
}

const struct dict_type dict_type_cdb = {
    .name = "cdb",
    .suffix = ".cdb",
    .type_flags = DICT_TYPE_BUILD | DICT_TYPE_FIXED,
    .open = cdb_open,
};

#endif /* HAVE_CDB */
