/*
 * mapcmd - the engine of postmap(1), postalias(1) and newaliases(1).
 *
 * Owns: the command line ([-c dir] [-N|-n] [-f] [-i] [-o] [-p] [-r] [-w]
 * [-s] [-q key] [-d key] [type:]file ...), the choice of the table type
 * (default_database_type when none is given), building a table from its
 * source file in a temporary file that is renamed into place, incremental
 * updates from standard input (-i), queries (-q), deletions (-d) and
 * listing (-s).
 *
 * Security: a table built by root from a source file owned by another user
 * gets that user as its owner (unless -o), and the source file's group and
 * other read permissions (unless -p), as Postfix does. Every input line is
 * bounded; a bad line is a warning naming file and line, and is skipped.
 * A table that cannot be read is an error (exit 2 for -q and -d), never
 * "not found". A fatal error removes the temporary file of a build.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dict/alias_parse.h"
#include "lib/dict/dict.h"
#include "lib/dict/dict_lines.h"
#include "lib/dict/dict_util.h"
#include "lib/mail/mail_conf.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "tools/mapcmd.h"

/* Exit status of -q and -d. */
#define EXIT_FOUND 0
#define EXIT_NOTFOUND 1
#define EXIT_TABLE_ERROR 2

struct mapcmd {
    const char *prog;
    enum mapcmd_format format;
    int dict_flags;     /* FOLD, DUP_*, NUL_* */
    bool keep_owner;    /* -o */
    bool default_perms; /* -p */
};

/* The table being built or updated, closed (temporary file removed) on a fatal error. */
static struct dict *mapcmd_current;

/* msg_fatal cleanup: abandon the build in progress. */
static void mapcmd_cleanup(void)
{
    dict_close(&mapcmd_current);
}

/* Usage message and exit. */
static _Noreturn void mapcmd_usage(const char *prog)
{
    msg_fatal("usage: %s [-fiNnoprsvw] [-c config_dir] [-d key] [-q key] [type:]file ...", prog);
}

/* "type:name", or default_database_type:name when name has no type. Caller frees. */
static char *mapcmd_spec(const char *arg)
{
    size_t tlen = strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
    struct buf *b = buf_create(64);

    if (tlen > 0 && arg[tlen] == ':')
        buf_puts(b, arg);
    else
        buf_printf(b, "%s:%s", config_str("default_database_type"), arg);
    return buf_export(&b);
}

/* The type part of a spec, in buf. */
static const char *mapcmd_type(const char *spec, struct buf *b)
{
    buf_reset(b);
    buf_append(b, spec, (size_t)(strchr(spec, ':') - spec));
    return buf_str(b);
}

/* Store one entry of a build or an update; warns about duplicates and over-long entries. */
static void mapcmd_store(struct mapcmd *mc, struct dict *d, const char *src, int lineno,
                         const char *key, const char *value)
{
    const char *why;
    int rc;

    if (strlen(key) > DICT_KEY_MAX) {
        msg_warn("%s, line %d: key longer than %d bytes -- ignoring this entry", src, lineno,
                 DICT_KEY_MAX);
        return;
    }
    if (strlen(value) > DICT_VALUE_MAX) {
        msg_warn("%s, line %d: value longer than %d bytes -- ignoring this entry", src, lineno,
                 DICT_VALUE_MAX);
        return;
    }
    rc = dict_update(d, key, value, &why);
    if (rc == DICT_ERROR)
        msg_fatal("%s", why);
    if (rc == 1 && !(mc->dict_flags & DICT_FLAG_DUP_IGNORE))
        msg_warn("%s, line %d: duplicate entry: \"%s\" -- keeping the first", src, lineno, key);
}

/* Read "key value" lines of src into d. */
static void mapcmd_load_postmap(struct mapcmd *mc, struct dict *d, struct dict_source *src)
{
    struct buf *key = buf_create(64), *value = buf_create(256);
    const char *line, *why, *name = dict_source_name(src);
    int lineno, rc;

    while ((rc = dict_source_next(src, &line, &lineno, &why)) == 1) {
        if (dict_split_key_value(line, key, value, &why) < 0) {
            msg_warn("%s, line %d: %s -- ignoring this line", name, lineno, why);
            continue;
        }
        if (buf_len(key) > 1 && buf_str(key)[buf_len(key) - 1] == ':')
            msg_warn("%s, line %d: record is in \"key: value\" format; is this an alias file?",
                     name, lineno);
        mapcmd_store(mc, d, name, lineno, buf_str(key), buf_str(value));
    }
    if (rc < 0)
        msg_fatal("%s", why);
    buf_free(&key);
    buf_free(&value);
}

/* Read aliases(5) entries from fd into d. */
static void mapcmd_load_aliases(struct mapcmd *mc, struct dict *d, int fd, const char *name)
{
    struct alias_parser *p = alias_parser_create();
    char chunk[16384];
    const char *alias, *why;
    const struct argv *values;
    bool eof = false;
    int lineno, rc;

    while (!eof) {
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0) {
            if (errno == EINTR)
                continue;
            msg_fatal("read %s: %m", name);
        }
        if (n == 0) {
            alias_parser_end(p);
            eof = true;
        } else {
            alias_parser_feed(p, chunk, (size_t)n);
        }
        while ((rc = alias_parser_next(p, &alias, &values, &lineno, &why)) != 0) {
            if (rc < 0) {
                msg_warn("%s, line %d: %s -- ignoring this entry", name, lineno, why);
                continue;
            }
            char *value = alias_values_join(values);

            mapcmd_store(mc, d, name, lineno, alias, value);
            mem_free(value);
        }
    }
    alias_parser_free(&p);
}

/* Build type:file from the source file "file". Returns 0, or exits on a fatal error. */
static int mapcmd_build(struct mapcmd *mc, const char *spec)
{
    const char *file = strchr(spec, ':') + 1;
    struct stat st;
    struct buf *type = buf_create(16);
    const char *why;
    int fd;

    if (!dict_type_known(mapcmd_type(spec, type)))
        msg_fatal("unsupported table type \"%s\" in \"%s\"", buf_str(type), spec);
    if (!dict_type_buildable(buf_str(type)))
        msg_fatal("%s: table type %s cannot be built from a text file (%s builds hash, btree, "
                  "lmdb and cdb tables)", spec, buf_str(type), mc->prog);
    buf_free(&type);
    if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
        msg_fatal("open %s: %m", file);
    if (fstat(fd, &st) < 0)
        msg_fatal("fstat %s: %m", file);
    if (!S_ISREG(st.st_mode))
        msg_fatal("%s: not a regular file", file);
    if ((mapcmd_current = dict_open(spec, DICT_FLAG_CREATE | mc->dict_flags, &why)) == NULL)
        msg_fatal("%s", why);
    {
        /* Postfix: the group and other read permissions of the source file. */
        unsigned int mode = mc->default_perms ? 0644 : (0644 & (st.st_mode | 0700));
        long uid = -1, gid = -1;

        if (!mc->keep_owner && geteuid() == 0 && (st.st_uid != 0 || st.st_gid != 0)) {
            uid = (long)st.st_uid;
            gid = (long)st.st_gid;
        }
        dict_set_create_mode(mapcmd_current, mode, uid, gid);
    }
    if (mc->format == MAPCMD_ALIASES) {
        mapcmd_load_aliases(mc, mapcmd_current, fd, file);
    } else {
        struct dict_source *src = dict_source_fdopen(fd, file);

        mapcmd_load_postmap(mc, mapcmd_current, src);
        dict_source_close(&src);
    }
    (void)close(fd);
    if (dict_commit(mapcmd_current, &why) < 0)
        msg_fatal("%s", why);
    dict_close(&mapcmd_current);
    return 0;
}

/* -i: add entries from standard input to an existing (or new) table. */
static int mapcmd_incremental(struct mapcmd *mc, const char *spec)
{
    const char *why;

    if ((mapcmd_current = dict_open(spec, DICT_FLAG_WRITE | mc->dict_flags, &why)) == NULL)
        msg_fatal("%s", why);
    if (mc->format == MAPCMD_ALIASES) {
        mapcmd_load_aliases(mc, mapcmd_current, STDIN_FILENO, "stdin");
    } else {
        struct dict_source *src = dict_source_fdopen(STDIN_FILENO, "stdin");

        mapcmd_load_postmap(mc, mapcmd_current, src);
        dict_source_close(&src);
    }
    if (dict_commit(mapcmd_current, &why) < 0)
        msg_fatal("%s", why);
    dict_close(&mapcmd_current);
    return 0;
}

/* Read one line of standard input (without the newline) into b: 1, or 0 at EOF. */
static int mapcmd_getline(struct buf *b, int *lineno)
{
    int c;

    for (;;) {
        bool too_long = false;

        buf_reset(b);
        while ((c = getchar()) != EOF && c != '\n') {
            if (buf_len(b) < DICT_KEY_MAX)
                buf_putc(b, (char)c);
            else
                too_long = true;
        }
        if (c == EOF && buf_len(b) == 0)
            return 0;
        ++*lineno;
        buf_trim_crlf(b);
        if (too_long) {
            msg_warn("stdin, line %d: key longer than %d bytes -- ignoring this line", *lineno,
                     DICT_KEY_MAX);
            continue;
        }
        return 1;
    }
}

/* Open every table read-only (or for update); exits 2 when one cannot be opened. */
static struct dict **mapcmd_open_all(struct mapcmd *mc, char **specs, int n, int flags)
{
    struct dict **dicts = mem_alloc_array((size_t)n, sizeof(*dicts));
    const char *why;

    for (int i = 0; i < n; i++) {
        if ((flags & DICT_FLAG_WRITE) && (dicts[i] = dict_open(specs[i], mc->dict_flags, &why))
                                             != NULL)
            dict_close(&dicts[i]); /* -d needs an existing table: check first */
        else if (flags & DICT_FLAG_WRITE) {
            msg_error("%s", why);
            exit(EXIT_TABLE_ERROR);
        }
        if ((dicts[i] = dict_open(specs[i], flags | mc->dict_flags, &why)) == NULL) {
            msg_error("%s", why);
            exit(EXIT_TABLE_ERROR);
        }
    }
    return dicts;
}

/* Close every table. */
static void mapcmd_close_all(struct dict **dicts, int n)
{
    for (int i = 0; i < n; i++)
        dict_close(&dicts[i]);
    mem_free(dicts);
}

/* Look key up in the tables in order: DICT_FOUND with *value_r, DICT_NOTFOUND; exits on errors. */
static int mapcmd_lookup(struct dict **dicts, int n, const char *key, const char **value_r)
{
    const char *why;

    for (int i = 0; i < n; i++) {
        int rc = dict_lookup(dicts[i], key, value_r, &why);

        if (rc == DICT_FOUND)
            return DICT_FOUND;
        if (rc == DICT_ERROR) {
            msg_error("%s", why);
            exit(EXIT_TABLE_ERROR);
        }
    }
    return DICT_NOTFOUND;
}

/* -q key, or -q - (keys from standard input). */
static int mapcmd_query(struct mapcmd *mc, const char *key, char **specs, int n)
{
    struct dict **dicts = mapcmd_open_all(mc, specs, n, 0);
    const char *value;
    bool found = false;

    if (strcmp(key, "-") != 0) {
        if (mapcmd_lookup(dicts, n, key, &value) == DICT_FOUND) {
            printf("%s\n", value);
            found = true;
        }
    } else {
        struct buf *b = buf_create(256);
        int lineno = 0;

        while (mapcmd_getline(b, &lineno)) {
            if (mapcmd_lookup(dicts, n, buf_str(b), &value) == DICT_FOUND) {
                printf("%s\t%s\n", buf_str(b), value);
                found = true;
            }
        }
        buf_free(&b);
    }
    mapcmd_close_all(dicts, n);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write error on standard output: %m");
    return found ? EXIT_FOUND : EXIT_NOTFOUND;
}

/* Delete key from every table: true when one had it; exits 2 on errors. */
static bool mapcmd_delete_key(struct dict **dicts, int n, const char *key)
{
    const char *why;
    bool found = false;

    for (int i = 0; i < n; i++) {
        int rc = dict_delete(dicts[i], key, &why);

        if (rc == DICT_ERROR) {
            msg_error("%s", why);
            exit(EXIT_TABLE_ERROR);
        }
        found |= rc == DICT_FOUND;
    }
    return found;
}

/* -d key, or -d - (keys from standard input). */
static int mapcmd_delete(struct mapcmd *mc, const char *key, char **specs, int n)
{
    struct dict **dicts = mapcmd_open_all(mc, specs, n, DICT_FLAG_WRITE);
    bool found = false;
    const char *why;

    if (strcmp(key, "-") != 0) {
        found = mapcmd_delete_key(dicts, n, key);
    } else {
        struct buf *b = buf_create(256);
        int lineno = 0;

        while (mapcmd_getline(b, &lineno))
            found |= mapcmd_delete_key(dicts, n, buf_str(b));
        buf_free(&b);
    }
    for (int i = 0; i < n; i++) {
        if (dict_commit(dicts[i], &why) < 0) {
            msg_error("%s", why);
            exit(EXIT_TABLE_ERROR);
        }
    }
    mapcmd_close_all(dicts, n);
    return found ? EXIT_FOUND : EXIT_NOTFOUND;
}

/* -s: print every entry of every table. */
static int mapcmd_list(struct mapcmd *mc, char **specs, int n)
{
    struct dict **dicts = mapcmd_open_all(mc, specs, n, 0);
    const char *key, *value, *why;
    int rc;

    for (int i = 0; i < n; i++) {
        for (rc = dict_sequence(dicts[i], true, &key, &value, &why); rc == DICT_FOUND;
             rc = dict_sequence(dicts[i], false, &key, &value, &why))
            printf("%s\t%s\n", key, value);
        if (rc == DICT_ERROR) {
            msg_error("%s", why);
            exit(EXIT_TABLE_ERROR);
        }
    }
    mapcmd_close_all(dicts, n);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write error on standard output: %m");
    return 0;
}

/* Read main.cf (a missing one is fine: defaults). */
static void mapcmd_config(const char *dir)
{
    const char *why;

    if (config_read(dir != NULL ? dir : config_dir_default(), &why) < 0)
        msg_fatal("%s", why);
}

/* Run the command. */
int mapcmd_main(int argc, char **argv, const char *prog, enum mapcmd_format format)
{
    struct mapcmd mc = {.prog = prog, .format = format,
                        .dict_flags = DICT_FLAG_FOLD_KEYS};
    const char *dir = NULL, *query = NULL, *delkey = NULL;
    bool incremental = false, list = false;
    char **specs;
    int c, modes = 0, rc = 0;

    msg_init(prog, MSG_TO_STDERR);
    msg_set_cleanup(mapcmd_cleanup);
    while ((c = getopt(argc, argv, "c:d:fiNnopq:rsvw")) != -1) {
        switch (c) {
        case 'c':
            dir = optarg;
            break;
        case 'd':
            delkey = optarg, modes++;
            break;
        case 'f':
            mc.dict_flags &= ~DICT_FLAG_FOLD_KEYS;
            break;
        case 'i':
            incremental = true, modes++;
            break;
        case 'N':
            mc.dict_flags = (mc.dict_flags & ~DICT_FLAG_NUL_OFF) | DICT_FLAG_NUL_ON;
            break;
        case 'n':
            mc.dict_flags = (mc.dict_flags & ~DICT_FLAG_NUL_ON) | DICT_FLAG_NUL_OFF;
            break;
        case 'o':
            mc.keep_owner = true;
            break;
        case 'p':
            mc.default_perms = true;
            break;
        case 'q':
            query = optarg, modes++;
            break;
        case 'r':
            mc.dict_flags = (mc.dict_flags & ~DICT_FLAG_DUP_IGNORE) | DICT_FLAG_DUP_REPLACE;
            break;
        case 's':
            list = true, modes++;
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'w':
            mc.dict_flags = (mc.dict_flags & ~DICT_FLAG_DUP_REPLACE) | DICT_FLAG_DUP_IGNORE;
            break;
        default:
            mapcmd_usage(prog);
        }
    }
    if (modes > 1)
        msg_fatal("specify only one of -d, -i, -q and -s");
    if (optind >= argc)
        mapcmd_usage(prog);
    mapcmd_config(dir);

    int n = argc - optind;

    specs = mem_alloc_array((size_t)n, sizeof(*specs));
    for (int i = 0; i < n; i++)
        specs[i] = mapcmd_spec(argv[optind + i]);
    if (query != NULL) {
        rc = mapcmd_query(&mc, query, specs, n);
    } else if (delkey != NULL) {
        rc = mapcmd_delete(&mc, delkey, specs, n);
    } else if (list) {
        rc = mapcmd_list(&mc, specs, n);
    } else if (incremental) {
        if (n != 1)
            msg_fatal("-i updates one table at a time");
        rc = mapcmd_incremental(&mc, specs[0]);
    } else {
        for (int i = 0; i < n; i++)
            rc |= mapcmd_build(&mc, specs[i]);
    }
    for (int i = 0; i < n; i++)
        mem_free(specs[i]);
    mem_free(specs);
    config_reset();
    return rc;
}

/* newaliases: rebuild every table in alias_database. */
int mapcmd_newaliases(int argc, char **argv)
{
    struct mapcmd mc = {.prog = "newaliases", .format = MAPCMD_ALIASES,
                        .dict_flags = DICT_FLAG_FOLD_KEYS};
    const char *dir = NULL;
    struct argv *tables;
    int c;

    msg_init("newaliases", MSG_TO_STDERR);
    msg_set_cleanup(mapcmd_cleanup);
    while ((c = getopt(argc, argv, "c:v")) != -1) {
        switch (c) {
        case 'c':
            dir = optarg;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            msg_fatal("usage: newaliases [-v] [-c config_dir]");
        }
    }
    if (optind != argc)
        msg_fatal("usage: newaliases [-v] [-c config_dir]");
    mapcmd_config(dir);
    tables = config_list("alias_database");
    for (size_t i = 0; i < tables->argc; i++) {
        char *spec = mapcmd_spec(tables->argv[i]);

        mapcmd_build(&mc, spec);
        mem_free(spec);
    }
    argv_free(&tables);
    config_reset();
    return 0;
}
