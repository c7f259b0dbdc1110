/*
 * postconf - show and edit the Postel configuration.
 *
 *   postconf [-c dir] [-dhnx] [-o name=value] [name ...]   print parameters
 *   postconf [-c dir] -e 'name = value' ...                 edit main.cf
 *   postconf [-c dir] -X name ...                           remove from main.cf
 *   postconf [-c dir] -# name ...                           comment out in main.cf
 *   postconf [-c dir] -M [service[/type] ...]               print master.cf
 *   postconf -m                                             lookup table types
 *
 * This program owns the editing of main.cf. An edit is atomic and
 * serialised: the new text goes into main.cf.tmp in the same directory,
 * which is locked with flock() first (so two postconf -e never interleave),
 * written, fsync()ed, checked like config_read() would check it, and renamed
 * over main.cf; then the directory is fsync()ed. Comments, blank lines and
 * order are kept; a replaced definition loses its continuation lines.
 *
 * Security: postconf is not set-uid; it edits what its user may write.
 * Values with control characters are refused so that an edit cannot
 * smuggle extra lines into main.cf.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dict/dict.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/mastercf.h"
#include "lib/mail/param.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/safe_file.h"


#define POSTCONF_LOCK_TRIES 50

enum postconf_mode { MODE_SHOW, MODE_EDIT, MODE_REMOVE, MODE_COMMENT, MODE_MASTER, MODE_MAPS };

struct postconf_opts {
    enum postconf_mode mode;
    const char *dir;
    bool defaults;   /* -d */
    bool only_set;   /* -n */
    bool value_only; /* -h */
    bool expand;     /* -x */
};

/* Tell how to use the program and exit 1. */
static _Noreturn void postconf_usage(void)
{
    fprintf(stderr,
            "usage: postconf [-c dir] [-dhnx] [-o name=value] [name ...]\n"
            "       postconf [-c dir] -e 'name = value' ...\n"
            "       postconf [-c dir] -X name ...\n"
            "       postconf [-c dir] -# name ...\n"
            "       postconf [-c dir] -M [service[/type] ...]\n"
            "       postconf -m\n");
    exit(1);
}

/* Print one "name = value" line (or just the value with -h). */
static void postconf_print(const struct postconf_opts *o, const char *name, const char *value)
{
    if (o->value_only)
        printf("%s\n", value);
    else if (*value == '\0')
        printf("%s =\n", name);
    else
        printf("%s = %s\n", name, value);
}

/* The value of a table parameter as -d/-n/-x ask for it. */
static char *postconf_value(const struct postconf_opts *o, const struct param_def *p)
{
    const char *raw;

    if (o->defaults) {
        if (o->expand)
            return mem_strdup(config_str(p->name)); /* no main.cf was read */
        return mem_strdup(param_default(p));
    }
    if (o->expand)
        return mem_strdup(config_str(p->name));
    raw = config_raw(p->name);
    if (raw != NULL)
        return mem_strdup(raw);
    /* Defaults that follow other settings (mydomain) or the -c directory. */
    if (p->def == NULL || strcmp(p->name, "config_directory") == 0)
        return mem_strdup(config_str(p->name));
    return mem_strdup(param_default(p));
}

/* Print one name, known or user-defined. Returns 0, or -1 when unknown. */
static int postconf_show_one(const struct postconf_opts *o, const char *name)
{
    const struct param_def *p = param_find(name);
    const char *raw;
    char *value;

    if (p != NULL) {
        if (o->only_set && !config_is_set(name))
            return 0;
        value = postconf_value(o, p);
        postconf_print(o, name, value);
        mem_free(value);
        return 0;
    }
    if (!o->defaults && (raw = config_raw(name)) != NULL) {
        value = o->expand ? config_expand(raw) : mem_strdup(raw);
        postconf_print(o, name, value);
        mem_free(value);
        return 0;
    }
    msg_warn("unknown parameter: %s", name);
    return -1;
}

/* Print parameters: the named ones, or all (-n: those set in main.cf). */
static int postconf_show(const struct postconf_opts *o, int argc, char **argv)
{
    int rc = 0;

    if (argc > 0) {
        for (int i = 0; i < argc; i++)
            if (postconf_show_one(o, argv[i]) < 0)
                rc = 1;
        return rc;
    }
    if (o->only_set) {
        struct argv *names = config_names_set();

        for (size_t i = 0; i < names->argc; i++)
            (void)postconf_show_one(o, names->argv[i]);
        argv_free(&names);
        return 0;
    }
    for (size_t i = 0; i < param_count; i++)
        (void)postconf_show_one(o, param_sorted(i)->name);
    return 0;
}

/* ---------------------------------------------------------------- editing */

struct postconf_edit {
    char *name;
    char *value; /* -e only */
    bool done;
};

/* Parse "name = value" / "name=value" for -e. */
static void postconf_parse_edit(const char *arg, struct postconf_edit *e)
{
    const char *eq = strchr(arg, '=');
    const char *ns = arg, *ne, *vs, *ve;

    if (eq == NULL)
        msg_fatal("-e %s: expected name=value", arg);
    ns += strspn(ns, " \t");
    ne = eq;
    while (ne > ns && (ne[-1] == ' ' || ne[-1] == '\t'))
        ne--;
    vs = eq + 1;
    vs += strspn(vs, " \t");
    ve = vs + strlen(vs);
    while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    e->name = mem_strndup(ns, (size_t)(ne - ns));
    e->value = mem_strndup(vs, (size_t)(ve - vs));
    if (!param_name_valid(e->name))
        msg_fatal("-e %s: bad parameter name \"%s\"", arg, e->name);
    for (const char *cp = e->value; *cp; cp++)
        if ((unsigned char)*cp < 0x20 && *cp != '\t')
            msg_fatal("-e %s: the value contains a control character", e->name);
    if (strlen(e->value) > CONFIG_VALUE_MAX)
        msg_fatal("-e %s: value longer than %d bytes", e->name, CONFIG_VALUE_MAX);
    /* Plain values are checked here for a clear message; the whole result later. */
    {
        const struct param_def *p = param_find(e->name);
        const char *why;

        if (p != NULL && strchr(e->value, '$') == NULL && param_check(p, e->value, &why) < 0)
            msg_fatal("-e %s: bad value \"%s\" (%s)", e->name, e->value, why);
    }
}

/* The edit for name, or NULL. */
static struct postconf_edit *postconf_find_edit(struct postconf_edit *edits, size_t n,
                                                const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(edits[i].name) == len && strncmp(edits[i].name, name, len) == 0)
            return &edits[i];
    return NULL;
}

/* Classify a physical line: 'd' definition, 'c' continuation, 'x' blank or comment. */
static int postconf_line_kind(const char *line, size_t len)
{
    size_t i = 0;

    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == len || line[i] == '#')
        return 'x';
    return i == 0 ? 'd' : 'c';
}

/* Apply the edits to text; the result goes into out. */
static void postconf_apply(enum postconf_mode mode, const char *text, size_t len,
                           struct postconf_edit *edits, size_t n, struct buf *out)
{
    struct argv *lines = argv_create(64);
    size_t i = 0;

    /* Physical lines, each with its newline (the last may lack one). */
    for (const char *cp = text, *end = text + len; cp < end;) {
        const char *nl = memchr(cp, '\n', (size_t)(end - cp));
        size_t l = nl ? (size_t)(nl - cp) + 1 : (size_t)(end - cp);

        argv_addn(lines, cp, l);
        cp += l;
    }
    while (i < lines->argc) {
        const char *line = lines->argv[i];
        size_t last = i, name_len;
        struct postconf_edit *e;

        if (postconf_line_kind(line, strlen(line)) != 'd') {
            buf_puts(out, line);
            i++;
            continue;
        }
        /* The definition runs over continuation lines, also past comments. */
        for (size_t j = i + 1; j < lines->argc; j++) {
            int kind = postconf_line_kind(lines->argv[j], strlen(lines->argv[j]));

            if (kind == 'c')
                last = j;
            else if (kind == 'd')
                break;
        }
        name_len = strcspn(line, " \t=\r\n");
        e = postconf_find_edit(edits, n, line, name_len);
        if (e == NULL) {
            for (; i <= last; i++)
                buf_puts(out, lines->argv[i]);
            continue;
        }
        if (mode == MODE_EDIT && !e->done)
            buf_printf(out, "%s =%s%s\n", e->name, *e->value ? " " : "", e->value);
        else if (mode == MODE_COMMENT)
            for (size_t j = i; j <= last; j++) {
                buf_printf(out, "#%s", lines->argv[j]);
                if (strchr(lines->argv[j], '\n') == NULL)
                    buf_putc(out, '\n');
            }
        e->done = true;
        i = last + 1;
    }
    if (mode == MODE_EDIT) {
        for (size_t k = 0; k < n; k++) {
            if (edits[k].done)
                continue;
            if (buf_len(out) > 0 && buf_str(out)[buf_len(out) - 1] != '\n')
                buf_putc(out, '\n');
            buf_printf(out, "%s =%s%s\n", edits[k].name, *edits[k].value ? " " : "",
                       edits[k].value);
            edits[k].done = true;
        }
    }
    argv_free(&lines);
}

static char *postconf_tmp_path;

/* msg_fatal cleanup: never leave a half-written main.cf.tmp behind. */
static void postconf_cleanup(void)
{
    if (postconf_tmp_path != NULL)
        (void)unlink(postconf_tmp_path);
}

/* Lock main.cf.tmp, the edit lock: open, flock, and make sure it is still that name. */
static int postconf_lock_tmp(const char *tmp)
{
    for (int tries = 0; tries < POSTCONF_LOCK_TRIES; tries++) {
        struct stat fst, pst;
        int fd = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);

        if (fd < 0)
            msg_fatal("open %s: %m", tmp);
        if (flock(fd, LOCK_EX) < 0)
            msg_fatal("lock %s: %m", tmp);
        /* Another postconf may have renamed it to main.cf while we waited. */
        if (fstat(fd, &fst) == 0 && stat(tmp, &pst) == 0 && fst.st_dev == pst.st_dev
            && fst.st_ino == pst.st_ino) {
            if (!S_ISREG(fst.st_mode))
                msg_fatal("%s: not a regular file", tmp);
            return fd;
        }
        close(fd);
    }
    msg_fatal("%s: cannot lock: it keeps changing", tmp);
}

/* Edit main.cf in dir: -e, -X or -#. */
static int postconf_edit(const struct postconf_opts *o, int argc, char **argv)
{
    struct postconf_edit *edits = mem_alloc_array((size_t)argc + 1, sizeof(*edits));
    struct buf *path = buf_create(100), *tmp = buf_create(100), *out = buf_create(4096);
    const char *why;
    char *text;
    size_t len;
    struct stat st;
    bool existed;
    int fd, dfd, rc;

    if (argc == 0)
        postconf_usage();
    for (int i = 0; i < argc; i++) {
        if (o->mode == MODE_EDIT) {
            postconf_parse_edit(argv[i], &edits[i]);
            /* The same name twice: the last value wins, written once. */
            for (int k = 0; k < i; k++)
                if (!edits[k].done && strcmp(edits[k].name, edits[i].name) == 0) {
                    mem_free(edits[k].value);
                    edits[k].value = edits[i].value;
                    edits[i].value = mem_strdup("");
                    edits[i].done = true;
                }
        } else {
            edits[i].name = mem_strdup(argv[i]);
            if (!param_name_valid(edits[i].name))
                msg_fatal("bad parameter name \"%s\"", argv[i]);
        }
    }
    buf_printf(path, "%s/main.cf", o->dir);
    buf_printf(tmp, "%s/main.cf.tmp", o->dir);

    fd = postconf_lock_tmp(buf_str(tmp));
    postconf_tmp_path = mem_strdup(buf_str(tmp));
    msg_set_cleanup(postconf_cleanup);

    rc = config_load_file(buf_str(path), CONFIG_FILE_MAX, &text, &len, &why);
    if (rc < 0)
        msg_fatal("%s", why);
    existed = rc > 0;
    if (existed && stat(buf_str(path), &st) < 0)
        msg_fatal("stat %s: %m", buf_str(path));
    postconf_apply(o->mode, text ? text : "", len, edits, (size_t)argc, out);
    mem_free(text);

    /* The result must be a main.cf that config_read() accepts. */
    if (config_check_text(buf_str(path), buf_str(out), buf_len(out), &why) < 0)
        msg_fatal("not changing %s: the result would be invalid: %s", buf_str(path), why);

    if (ftruncate(fd, 0) < 0 || safe_write_all(fd, buf_str(out), buf_len(out)) < 0)
        msg_fatal("write %s: %m", buf_str(tmp));
    if (fchmod(fd, existed ? st.st_mode & 07777 : 0644) < 0)
        msg_fatal("chmod %s: %m", buf_str(tmp));
    if (existed && geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) < 0)
        msg_fatal("chown %s: %m", buf_str(tmp));
    if (fsync(fd) < 0)
        msg_fatal("fsync %s: %m", buf_str(tmp));
    if (rename(buf_str(tmp), buf_str(path)) < 0)
        msg_fatal("rename %s to %s: %m", buf_str(tmp), buf_str(path));
    MEM_FREE(&postconf_tmp_path);
    close(fd); /* releases the lock, now on main.cf's inode */
    if ((dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        if (fsync(dfd) < 0)
            msg_warn("fsync %s: %m", o->dir);
        close(dfd);
    }
    for (int i = 0; i < argc; i++) {
        if (o->mode != MODE_EDIT && !edits[i].done)
            msg_warn("%s: parameter %s is not set in main.cf", buf_str(path), edits[i].name);
        mem_free(edits[i].name);
        mem_free(edits[i].value);
    }
    mem_free(edits);
    buf_free(&path);
    buf_free(&tmp);
    buf_free(&out);
    return 0;
}

/* ---------------------------------------------------------------- master.cf */

/* Print one argument, grouped with "{ }" when it contains white space. */
static void postconf_master_arg(struct buf *b, const char *arg)
{
    if (*arg == '\0' || strpbrk(arg, " \t") != NULL)
        buf_printf(b, " { %s }", arg);
    else
        buf_printf(b, " %s", arg);
}

/* True when entry e matches one of the selectors ("name" or "name/type"). */
static bool postconf_master_match(const struct mastercf_entry *e, int argc, char **argv)
{
    if (argc == 0)
        return true;
    for (int i = 0; i < argc; i++) {
        const char *slash = strrchr(argv[i], '/');

        if (slash == NULL && strcmp(argv[i], e->service) == 0)
            return true;
        if (slash != NULL && strlen(e->service) == (size_t)(slash - argv[i])
            && strncmp(argv[i], e->service, (size_t)(slash - argv[i])) == 0
            && strcmp(slash + 1, mastercf_type_names[e->type]) == 0)
            return true;
    }
    return false;
}

/* -M: print master.cf entries in normal form. */
static int postconf_master(const struct postconf_opts *o, int argc, char **argv)
{
    struct buf *path = buf_create(100), *line = buf_create(200);
    const char *why;
    struct mastercf *m;
    int rc = 0;

    buf_printf(path, "%s/master.cf", o->dir);
    if ((m = mastercf_read(buf_str(path), &why)) == NULL)
        msg_fatal("%s", why);
    for (size_t i = 0; i < m->count; i++) {
        const struct mastercf_entry *e = &m->entries[i];
        char wakeup[32], maxproc[32];

        if (!postconf_master_match(e, argc, argv))
            continue;
        if (e->wakeup == 0)
            snprintf(wakeup, sizeof(wakeup), "-");
        else
            snprintf(wakeup, sizeof(wakeup), "%d%s", e->wakeup, e->wakeup_if_running ? "?" : "");
        if (e->maxproc_default)
            snprintf(maxproc, sizeof(maxproc), "-");
        else
            snprintf(maxproc, sizeof(maxproc), "%d", e->maxproc);
        buf_reset(line);
        buf_printf(line, "%-10s %-5s %-7s %-7s %-7s %-7s %-7s %s", e->service,
                   mastercf_type_names[e->type], e->private_ ? "y" : "n", e->unpriv ? "y" : "n",
                   e->chroot ? "y" : "n", wakeup, maxproc, e->args->argv[0]);
        for (size_t a = 1; a < e->args->argc; a++)
            postconf_master_arg(line, e->args->argv[a]);
        printf("%s\n", buf_str(line));
    }
    /* A selector that matched nothing is worth a word. */
    for (int i = 0; i < argc; i++) {
        bool found = false;

        for (size_t k = 0; k < m->count && !found; k++)
            found = postconf_master_match(&m->entries[k], 1, &argv[i]);
        if (!found) {
            msg_warn("%s: no such service: %s", buf_str(path), argv[i]);
            rc = 1;
        }
    }
    mastercf_free(&m);
    buf_free(&path);
    buf_free(&line);
    return rc;
}

/* -m: the lookup table types this build supports, in name order. */
static int postconf_maps(void)
{
    /* Every type name Postel or Postfix administrators may write. */
    static const char *const candidates[] = {
        "btree",  "cdb",    "cidr",    "environ", "fail",        "hash",   "inline",
        "ldap",   "lmdb",   "memcache", "mysql",  "passwd-file", "pcre",   "pgsql",
        "pipemap", "proxy", "randmap", "regexp",  "socketmap",   "sqlite", "static",
        "tcp",    "texthash", "unionmap", "unix",
    };

    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
        if (dict_type_known(candidates[i]))
            printf("%s\n", candidates[i]);
    return 0;
}

int main(int argc, char **argv)
{
    struct postconf_opts o = {.mode = MODE_SHOW};
    struct argv *overrides = argv_create(4);
    const char *why;
    int c, rc;
    int modes = 0;

    msg_init("postconf", MSG_TO_STDERR);
    while ((c = getopt(argc, argv, "c:dehmno:vxMX#")) != -1) {
        switch (c) {
        case 'c':
            o.dir = optarg;
            break;
        case 'd':
            o.defaults = true;
            break;
        case 'e':
            o.mode = MODE_EDIT, modes++;
            break;
        case 'X':
            o.mode = MODE_REMOVE, modes++;
            break;
        case '#':
            o.mode = MODE_COMMENT, modes++;
            break;
        case 'M':
            o.mode = MODE_MASTER, modes++;
            break;
        case 'm':
            o.mode = MODE_MAPS, modes++;
            break;
        case 'h':
            o.value_only = true;
            break;
        case 'n':
            o.only_set = true;
            break;
        case 'o':
            argv_add(overrides, optarg);
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'x':
            o.expand = true;
            break;
        default:
            postconf_usage();
        }
    }
    argc -= optind;
    argv += optind;
    if (modes > 1)
        msg_fatal("specify only one of -e, -X, -#, -M and -m");
    if (o.defaults && o.only_set)
        msg_fatal("-d and -n cannot be used together");
    if (o.dir == NULL)
        o.dir = config_dir_default();

    switch (o.mode) {
    case MODE_EDIT:
    case MODE_REMOVE:
    case MODE_COMMENT:
        rc = postconf_edit(&o, argc, argv);
        break;
    case MODE_MASTER:
        rc = postconf_master(&o, argc, argv);
        break;
    case MODE_MAPS:
        rc = postconf_maps();
        break;
    case MODE_SHOW:
    default:
        /* -d needs no main.cf at all: the table is the answer. */
        if (!o.defaults && config_read(o.dir, &why) < 0)
            msg_fatal("%s", why);
        for (size_t i = 0; i < overrides->argc; i++) {
            char *name = mem_strdup(overrides->argv[i]);
            char *eq = strchr(name, '=');

            if (eq == NULL)
                msg_fatal("-o %s: expected name=value", name);
            *eq = '\0';
            if (config_override(name, eq + 1, &why) < 0)
                msg_fatal("%s", why);
            mem_free(name);
        }
        rc = postconf_show(&o, argc, argv);
        break;
    }
    argv_free(&overrides);
    config_reset();
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write error on standard output: %m");
    return rc;
}
