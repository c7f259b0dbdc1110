/*
 * mastercf - master.cf parsing, with Postfix's columns:
 *
 *   service type private unpriv chroot wakeup maxproc command + args
 *
 * This module owns the syntax of master.cf only: it turns the file into a
 * list of checked entries; what the master does with them is elsewhere.
 * Lines whose first non-blank character is '#' and blank lines are ignored
 * (also between continuation lines); a line that starts with white space
 * continues the previous entry. A field that starts with '{' runs to the
 * matching '}' and may contain white space (Postfix 3): "{ text }" becomes
 * "text", and "-o { name = value }" becomes "-o name=value".
 *
 * Security: master.cf is trusted (root-owned) but every size is bounded,
 * and a unix/fifo/pass service name may not contain '/' or be "." or "..",
 * because it becomes a file name under private/ or public/.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/mastercf.h"
#include "lib/mail/param.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"

#define MASTERCF_SERVICE_MAX 255   /* bytes of a service name */
#define MASTERCF_WAKEUP_MAX (7 * 24 * 3600)
#define MASTERCF_MAXPROC_MAX 100000
#define MASTERCF_WHAT_MAX 100      /* bytes of a bad field quoted in a message */

const char *const mastercf_type_names[] = {
    [MASTERCF_INET] = "inet",
    [MASTERCF_UNIX] = "unix",
    [MASTERCF_UNIX_DGRAM] = "unix-dgram",
    [MASTERCF_FIFO] = "fifo",
    [MASTERCF_PASS] = "pass",
};

#define MASTERCF_NTYPES (sizeof(mastercf_type_names) / sizeof(mastercf_type_names[0]))

static struct buf *mastercf_why;

/* Format the reason for *why_r as "file, line N: ...". */
static const char *mastercf_error(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *mastercf_error(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    if (mastercf_why == NULL)
        mastercf_why = buf_create(100);
    buf_reset(mastercf_why);
    if (line > 0)
        buf_printf(mastercf_why, "%s, line %d: ", file, line);
    else
        buf_printf(mastercf_why, "%s: ", file);
    va_start(ap, fmt);
    buf_vprintf(mastercf_why, fmt, ap);
    va_end(ap);
    return buf_str(mastercf_why);
}

/* A bounded copy of a field for messages. */
static const char *mastercf_show(const char *text)
{
    static char shown[MASTERCF_WHAT_MAX + 4];

    if (strlen(text) > MASTERCF_WHAT_MAX)
        snprintf(shown, sizeof(shown), "%.*s...", MASTERCF_WHAT_MAX, text);
    else
        snprintf(shown, sizeof(shown), "%s", text);
    return shown;
}

/* Split a logical line into fields; "{...}" groups are one field (braces and
 * surrounding blanks removed). NULL with *why_r on an unbalanced group. */
static struct argv *mastercf_fields(const char *text, const char *file, int line,
                                    const char **why_r)
{
    struct argv *a = argv_create(10);
    const char *cp = text;

    for (;;) {
        const char *start;

        cp += strspn(cp, " \t");
        if (*cp == '\0')
            break;
        if (*cp == '{') {
            int level = 0;
            const char *end;

            for (start = cp; *cp; cp++) {
                if (*cp == '{')
                    level++;
                else if (*cp == '}' && --level == 0)
                    break;
            }
            if (*cp != '}') {
                argv_free(&a);
                *why_r = mastercf_error(file, line, "missing \"}\" after \"%s\"",
                                        mastercf_show(start));
                return NULL;
            }
            end = cp++;
            start++;
            while (start < end && (*start == ' ' || *start == '\t'))
                start++;
            while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            argv_addn(a, start, (size_t)(end - start));
            continue;
        }
        start = cp;
        cp += strcspn(cp, " \t");
        argv_addn(a, start, (size_t)(cp - start));
    }
    return a;
}

/* y / n / '-' (default). */
static int mastercf_bool(const char *field, const char *column, bool def, bool *val_r,
                         const char *file, int line, const char **why_r)
{
    if (strcmp(field, "-") == 0)
        *val_r = def;
    else if (strcmp(field, "y") == 0)
        *val_r = true;
    else if (strcmp(field, "n") == 0)
        *val_r = false;
    else {
        *why_r = mastercf_error(file, line, "column \"%s\": bad value \"%s\" (expected y, n or -)",
                                column, mastercf_show(field));
        return -1;
    }
    return 0;
}

/* A decimal number in 0..max; suffix '?' allowed when qmark_r != NULL. */
static int mastercf_number(const char *field, const char *column, int max, int *val_r,
                           bool *qmark_r, const char *file, int line, const char **why_r)
{
    const char *cp = field;
    long long n = 0;

    if (!isdigit((unsigned char)*cp))
        goto bad;
    for (; isdigit((unsigned char)*cp); cp++) {
        n = n * 10 + (*cp - '0');
        if (n > max)
            goto bad;
    }
    if (qmark_r != NULL && *cp == '?') {
        *qmark_r = true;
        cp++;
    }
    if (*cp != '\0')
        goto bad;
    *val_r = (int)n;
    return 0;
bad:
    *why_r = mastercf_error(file, line, "column \"%s\": bad value \"%s\" (expected a number "
                            "0..%d%s or -)", column, mastercf_show(field), max,
                            qmark_r != NULL ? " with an optional ?" : "");
    return -1;
}

/* Check the service name for its type. */
static int mastercf_service_ok(const char *service, enum mastercf_type type, const char *file,
                               int line, const char **why_r)
{
    if (strlen(service) > MASTERCF_SERVICE_MAX) {
        *why_r = mastercf_error(file, line, "service name longer than %d bytes",
                                MASTERCF_SERVICE_MAX);
        return -1;
    }
    for (const char *cp = service; *cp; cp++)
        if (iscntrl((unsigned char)*cp)) {
            *why_r = mastercf_error(file, line, "control character in service name");
            return -1;
        }
    if (type != MASTERCF_INET
        && (strchr(service, '/') != NULL || strcmp(service, ".") == 0
            || strcmp(service, "..") == 0)) {
        *why_r = mastercf_error(file, line, "bad %s service name \"%s\" (it becomes a file "
                                "name: no \"/\", not \".\" or \"..\")",
                                mastercf_type_names[type], mastercf_show(service));
        return -1;
    }
    return 0;
}

/* Copy the command and its arguments, checking and normalising "-o name=value". */
static int mastercf_args(struct mastercf_entry *e, struct argv *fields, const char *file,
                         int line, const char **why_r)
{
    e->args = argv_create(fields->argc);
    for (size_t i = 7; i < fields->argc; i++) {
        const char *arg = fields->argv[i];
        const char *eq;
        char *name;
        bool ok;

        argv_add(e->args, arg);
        if (i == 7 || strcmp(arg, "-o") != 0)
            continue;
        if (++i >= fields->argc) {
            *why_r = mastercf_error(file, line, "\"-o\" without name=value");
            return -1;
        }
        arg = fields->argv[i];
        eq = strchr(arg, '=');
        if (eq == NULL) {
            *why_r = mastercf_error(file, line, "-o \"%s\": expected name=value",
                                    mastercf_show(arg));
            return -1;
        }
        {
            /* "{ name = value }" may have blanks around '='. */
            const char *ne = eq, *vs = eq + 1;
            struct buf *b = buf_create(strlen(arg) + 1);

            while (ne > arg && (ne[-1] == ' ' || ne[-1] == '\t'))
                ne--;
            vs += strspn(vs, " \t");
            name = mem_strndup(arg, (size_t)(ne - arg));
            ok = param_name_valid(name);
            buf_printf(b, "%s=%s", name, vs);
            if (ok)
                argv_add(e->args, buf_str(b));
            buf_free(&b);
        }
        if (!ok) {
            *why_r = mastercf_error(file, line, "-o \"%s\": bad parameter name \"%s\"",
                                    mastercf_show(arg), name);
            mem_free(name);
            return -1;
        }
        mem_free(name);
    }
    return 0;
}

/* Free the strings of one entry. */
static void mastercf_entry_clear(struct mastercf_entry *e)
{
    MEM_FREE(&e->service);
    MEM_FREE(&e->file);
    argv_free(&e->args);
}

/* Turn one logical line into an entry of m. */
static int mastercf_entry(struct mastercf *m, size_t *size, const char *text, const char *file,
                          int line, const char **why_r)
{
    struct argv *f = mastercf_fields(text, file, line, why_r);
    struct mastercf_entry e = {0};
    size_t t;

    if (f == NULL)
        return -1;
    if (f->argc < 8) {
        *why_r = mastercf_error(file, line, "expected at least 8 columns (service type private "
                                "unpriv chroot wakeup maxproc command), found %zu", f->argc);
        goto fail;
    }
    for (t = 0; t < MASTERCF_NTYPES; t++)
        if (strcmp(f->argv[1], mastercf_type_names[t]) == 0)
            break;
    if (t == MASTERCF_NTYPES) {
        *why_r = mastercf_error(file, line, "unknown service type \"%s\" (expected inet, unix, "
                                "unix-dgram, fifo or pass)", mastercf_show(f->argv[1]));
        goto fail;
    }
    e.type = (enum mastercf_type)t;
    if (mastercf_service_ok(f->argv[0], e.type, file, line, why_r) < 0)
        goto fail;
    if (mastercf_bool(f->argv[2], "private", e.type != MASTERCF_INET, &e.private_, file, line,
                      why_r) < 0
        || mastercf_bool(f->argv[3], "unpriv", true, &e.unpriv, file, line, why_r) < 0
        || mastercf_bool(f->argv[4], "chroot", false, &e.chroot, file, line, why_r) < 0)
        goto fail;
    if (e.type == MASTERCF_INET && e.private_) {
        *why_r = mastercf_error(file, line, "column \"private\": an inet service cannot be "
                                "private (use n or -)");
        goto fail;
    }
    if (strcmp(f->argv[5], "-") != 0
        && mastercf_number(f->argv[5], "wakeup", MASTERCF_WAKEUP_MAX, &e.wakeup,
                           &e.wakeup_if_running, file, line, why_r) < 0)
        goto fail;
    if (strcmp(f->argv[6], "-") == 0)
        e.maxproc_default = true;
    else if (mastercf_number(f->argv[6], "maxproc", MASTERCF_MAXPROC_MAX, &e.maxproc, NULL, file,
                             line, why_r) < 0)
        goto fail;
    for (size_t i = 0; i < m->count; i++)
        if (m->entries[i].type == e.type && strcmp(m->entries[i].service, f->argv[0]) == 0) {
            *why_r = mastercf_error(file, line, "duplicate service \"%s/%s\" (first defined at "
                                    "line %d)", mastercf_show(f->argv[0]),
                                    mastercf_type_names[e.type], m->entries[i].line);
            goto fail;
        }
    e.service = mem_strdup(f->argv[0]);
    e.file = mem_strdup(file);
    e.line = line;
    if (mastercf_args(&e, f, file, line, why_r) < 0)
        goto fail;
    if (m->count == *size) {
        *size = *size ? 2 * *size : 16;
        m->entries = mem_realloc_array(m->entries, *size, sizeof(*m->entries));
    }
    m->entries[m->count++] = e;
    argv_free(&f);
    return 0;
fail:
    mastercf_entry_clear(&e);
    argv_free(&f);
    return -1;
}

/* Parse master.cf text; name is used in messages. */
struct mastercf *mastercf_parse(const char *text, const char *name, const char **why_r)
{
    struct mastercf *m = mem_alloc(sizeof(*m));
    struct buf *logical = buf_create(256);
    size_t size = 0;
    int logical_line = 0, lineno = 0;
    const char *cp = text;
    int rc = 0;

    while (*cp && rc == 0) {
        const char *nl = strchr(cp, '\n');
        size_t n = nl ? (size_t)(nl - cp) : strlen(cp);
        const char *first;

        lineno++;
        if (n > CONFIG_LINE_MAX) {
            *why_r = mastercf_error(name, lineno, "line longer than %d bytes", CONFIG_LINE_MAX);
            rc = -1;
            break;
        }
        if (n > 0 && cp[n - 1] == '\r')
            n--;
        first = cp + strspn(cp, " \t");
        if (first >= cp + n || *first == '#') {
            /* blank or comment */
        } else if (first != cp) {
            if (logical_line == 0) {
                *why_r = mastercf_error(name, lineno, "line starts with white space but no "
                                        "service entry precedes it");
                rc = -1;
                break;
            }
            buf_putc(logical, ' ');
            buf_append(logical, first, (size_t)(cp + n - first));
            if (buf_len(logical) > CONFIG_VALUE_MAX) {
                *why_r = mastercf_error(name, logical_line, "entry longer than %d bytes",
                                        CONFIG_VALUE_MAX);
                rc = -1;
                break;
            }
        } else {
            if (logical_line > 0)
                rc = mastercf_entry(m, &size, buf_str(logical), name, logical_line, why_r);
            buf_reset(logical);
            buf_append(logical, cp, n);
            logical_line = lineno;
        }
        cp = nl ? nl + 1 : cp + strlen(cp);
    }
    if (rc == 0 && logical_line > 0)
        rc = mastercf_entry(m, &size, buf_str(logical), name, logical_line, why_r);
    buf_free(&logical);
    if (rc < 0)
        mastercf_free(&m);
    return m;
}

/* Read and parse the file at path. */
struct mastercf *mastercf_read(const char *path, const char **why_r)
{
    char *text;
    size_t len;
    const char *why;
    struct mastercf *m;
    int rc = config_load_file(path, CONFIG_FILE_MAX, &text, &len, &why);

    if (rc < 0) {
        /* The reason already names the file. */
        if (mastercf_why == NULL)
            mastercf_why = buf_create(100);
        buf_set(mastercf_why, why);
        *why_r = buf_str(mastercf_why);
        return NULL;
    }
    if (rc == 0) {
        *why_r = mastercf_error(path, 0, "%s", strerror(ENOENT));
        return NULL;
    }
    if (strlen(text) != len) {
        const char *nul = text + strlen(text);
        int line = 1;

        for (const char *cp = text; cp < nul; cp++)
            line += *cp == '\n';
        *why_r = mastercf_error(path, line, "NUL byte in line");
        mem_free(text);
        return NULL;
    }
    m = mastercf_parse(text, path, why_r);
    mem_free(text);
    return m;
}

/* Free the whole structure and clear the caller's pointer. */
void mastercf_free(struct mastercf **mp)
{
    struct mastercf *m = *mp;

    if (m == NULL)
        return;
    for (size_t i = 0; i < m->count; i++)
        mastercf_entry_clear(&m->entries[i]);
    mem_free(m->entries);
    mem_free(m);
    *mp = NULL;
}
