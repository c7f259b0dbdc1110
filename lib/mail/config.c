/*
 * config - main.cf: reading, expansion, typed access.
 *
 * This module owns the current configuration (one "set": the value of every
 * table parameter and of every user-defined name in main.cf) and the -o
 * overrides. config_read() builds a complete new set from main.cf, applies
 * the overrides, expands and checks every value, and only then replaces the
 * current set, so a bad file on reload leaves the old values in force.
 *
 * main.cf syntax (Postfix's): "name = value"; a line that starts with white
 * space continues the previous definition; lines whose first non-blank
 * character is '#' and blank lines are ignored everywhere, also between
 * continuation lines. Values are trimmed, continuation lines are joined with
 * one space. The last definition of a name wins.
 *
 * Per-transport parameters (param.h): "<service>_<suffix>" for a service
 * of master.cf and a suffix of param_suffix_table is a parameter of its
 * own, typed and checked like its generic parameter, whose value it has
 * unless main.cf or -o sets it. The same name for a service that
 * master.cf does not have is an unknown parameter.
 *
 * Expansion: $name, ${name}, $(name), ${name?text} (text when name is not
 * empty), ${name:text} (text when name is empty), the Postfix 3 forms
 * ${name?{text}}, ${name:{text}} and ${name?{text1}:{text2}}, and $$ for a
 * literal $. An undefined name expands to nothing; when it is neither a
 * table parameter nor defined in main.cf it is reported once as a warning.
 *
 * Security: main.cf is trusted input (root-owned), but every size is bounded
 * (file, physical line, value, expansion result, nesting depth) so a broken
 * or hostile file gives an error naming file and line, never a crash or an
 * exponential blow-up ("a = $b$b$b$b", "b = $c$c$c$c", ...).
 * POSTEL_CONFIG_DIR is ignored in set-uid/set-gid processes (secure_getenv).
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/mastercf.h"
#include "lib/mail/param.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"

#ifndef DEF_CONFIG_DIR
#define DEF_CONFIG_DIR "/etc/postel"
#endif

#define CONFIG_DEPTH_MAX 100   /* nesting of $name references */
#define CONFIG_WHAT_MAX 100    /* bytes of a bad value quoted in a message */

/* One name's value in one set. */
struct config_ent {
    const struct param_def *def; /* NULL: user-defined name */
    char *name;                  /* user-defined names only */
    char *raw;                   /* from main.cf or -o; NULL: the default */
    int line;                    /* main.cf line; 0 with raw: set by -o */
    bool overridden;             /* raw came from -o */
    bool referenced;             /* some value mentions $name */
    bool expanding;              /* recursion guard */
    bool in_order;               /* already listed in set->order */
    char *expanded;              /* cache of the expanded value */
    struct param_def tdef;       /* a per-transport parameter's definition (def points here) */
    char *tdef_default;          /* its default text, "$<generic>" */
};

/* A complete configuration. */
struct config_set {
    struct config_ent *known;   /* param_count entries, by table index */
    struct config_ent **user;   /* open-addressing hash of user-defined names */
    size_t user_count, user_size;
    struct config_ent **order;  /* entries set in main.cf, in order of appearance */
    size_t order_count, order_size;
    char *dir;                  /* config_read() argument, or NULL */
    char *file;                 /* <dir>/main.cf, or NULL */
    struct argv *graveyard;     /* dropped caches: returned pointers stay valid */
    char *mydomain, *mynetworks; /* defaults that depend on other values */
    struct argv *services;      /* the service names of master.cf */
    bool quiet;                 /* re-checking after -o: warnings were given already */
};

/* -o overrides, kept across config_read(). */
struct config_override_ent {
    char *name;
    char *value;
};

static struct config_set *config_cur;
static struct config_override_ent *config_overrides;
static size_t config_override_count;
static struct buf *config_why;

/* The reason buffer for *why_r. */
static const char *config_set_why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *config_set_why(const char *fmt, ...)
{
    va_list ap;
    int saved_errno = errno;
    struct buf *b = buf_create(100);

    errno = saved_errno;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
    buf_free(&config_why);
    config_why = b;
    return buf_str(config_why);
}

/* Copy text into b for a message: bounded, with "..." when cut. */
static void config_quote(struct buf *b, const char *text)
{
    size_t len = strlen(text);

    if (len > CONFIG_WHAT_MAX) {
        buf_append(b, text, CONFIG_WHAT_MAX);
        buf_puts(b, "...");
    } else {
        buf_puts(b, text);
    }
}

/* ---------------------------------------------------------------- sets */

/* A new set with no values. */
static struct config_set *config_set_create(const char *dir)
{
    struct config_set *s = mem_alloc(sizeof(*s));

    s->known = mem_alloc_array(param_count, sizeof(*s->known));
    for (size_t i = 0; i < param_count; i++)
        s->known[i].def = &param_table[i];
    s->user_size = 64;
    s->user = mem_alloc_array(s->user_size, sizeof(*s->user));
    s->graveyard = argv_create(8);
    s->services = argv_create(16);
    if (dir != NULL) {
        struct buf *b = buf_create(100);

        s->dir = mem_strdup(dir);
        buf_printf(b, "%s/main.cf", dir);
        s->file = buf_export(&b);
    }
    return s;
}

/* Free one entry's strings. */
static void config_ent_clear(struct config_ent *e)
{
    MEM_FREE(&e->name);
    MEM_FREE(&e->raw);
    MEM_FREE(&e->expanded);
    MEM_FREE(&e->tdef_default);
}

/* Free a set and everything in it. */
static void config_set_free(struct config_set **sp)
{
    struct config_set *s = *sp;

    if (s == NULL)
        return;
    for (size_t i = 0; i < param_count; i++)
        config_ent_clear(&s->known[i]);
    for (size_t i = 0; i < s->user_size; i++) {
        if (s->user[i] != NULL) {
            config_ent_clear(s->user[i]);
            mem_free(s->user[i]);
        }
    }
    mem_free(s->known);
    mem_free(s->user);
    mem_free(s->order);
    mem_free(s->dir);
    mem_free(s->file);
    mem_free(s->mydomain);
    mem_free(s->mynetworks);
    argv_free(&s->graveyard);
    argv_free(&s->services);
    mem_free(s);
    *sp = NULL;
}

/* The slot of a user-defined name in the hash (empty slot if absent). */
static struct config_ent **config_user_slot(struct config_set *s, const char *name)
{
    size_t mask = s->user_size - 1;
    size_t i = (size_t)str_hash(name) & mask;

    while (s->user[i] != NULL && strcmp(s->user[i]->name, name) != 0)
        i = (i + 1) & mask;
    return &s->user[i];
}

/* Double the user hash. */
static void config_user_grow(struct config_set *s)
{
    struct config_ent **old = s->user;
    size_t old_size = s->user_size;

    s->user_size *= 2;
    s->user = mem_alloc_array(s->user_size, sizeof(*s->user));
    for (size_t i = 0; i < old_size; i++)
        if (old[i] != NULL)
            *config_user_slot(s, old[i]->name) = old[i];
    mem_free(old);
}

/*
 * A new user-defined entry "<service>_<suffix>" for a master.cf service
 * becomes a per-transport parameter: the definition of its generic
 * parameter, with its own name and the default "$<generic>".
 */
static void config_transport_init(struct config_set *s, struct config_ent *e)
{
    size_t len;
    const struct param_def *g = param_transport_generic(e->name, &len);
    struct buf *def;

    if (g == NULL)
        return;
    for (size_t i = 0; i < s->services->argc; i++) {
        const char *service = s->services->argv[i];

        if (strlen(service) == len && strncmp(service, e->name, len) == 0) {
            def = buf_create(64);
            buf_printf(def, "$%s", g->name);
            e->tdef_default = buf_export(&def);
            e->tdef = *g;
            e->tdef.name = e->name;
            e->tdef.def = e->tdef_default;
            e->def = &e->tdef;
            return;
        }
    }
}

/* The entry for name, or NULL; with create, a user-defined entry is made. */
static struct config_ent *config_lookup(struct config_set *s, const char *name, bool create)
{
    const struct param_def *p = param_find(name);
    struct config_ent **slot;

    if (p != NULL)
        return &s->known[param_index(p)];
    slot = config_user_slot(s, name);
    if (*slot == NULL && create) {
        if (2 * (s->user_count + 1) > s->user_size) {
            config_user_grow(s);
            slot = config_user_slot(s, name);
        }
        *slot = mem_alloc(sizeof(**slot));
        (*slot)->name = mem_strdup(name);
        config_transport_init(s, *slot);
        s->user_count++;
    }
    return *slot;
}

/* The name of an entry. */
static const char *config_ent_name(const struct config_ent *e)
{
    return e->def ? e->def->name : e->name;
}

/* Record a value for name from main.cf line (0: -o override). */
static void config_set_value(struct config_set *s, const char *name, const char *value, int line)
{
    struct config_ent *e = config_lookup(s, name, true);

    mem_free(e->raw);
    e->raw = mem_strdup(value);
    e->line = line;
    e->overridden = line == 0;
    if (line > 0 && !e->in_order) {
        if (s->order_count == s->order_size) {
            s->order_size = s->order_size ? 2 * s->order_size : 32;
            s->order = mem_realloc_array(s->order, s->order_size, sizeof(*s->order));
        }
        s->order[s->order_count++] = e;
        e->in_order = true;
    }
}

/* Drop every expansion cache; the strings live on until the set is freed. */
static void config_set_uncache(struct config_set *s)
{
    for (size_t i = 0; i < param_count; i++) {
        if (s->known[i].expanded != NULL) {
            argv_add(s->graveyard, s->known[i].expanded);
            MEM_FREE(&s->known[i].expanded);
        }
    }
    for (size_t i = 0; i < s->user_size; i++)
        if (s->user[i] != NULL && s->user[i]->expanded != NULL) {
            argv_add(s->graveyard, s->user[i]->expanded);
            MEM_FREE(&s->user[i]->expanded);
        }
    MEM_FREE(&s->mydomain);
    MEM_FREE(&s->mynetworks);
}

/* "file, line N" or "-o name" or "default" for messages about e. */
static void config_where(struct buf *b, const struct config_set *s, const struct config_ent *e)
{
    if (e->raw != NULL && e->overridden)
        buf_puts(b, "-o override");
    else if (e->raw != NULL)
        buf_printf(b, "%s, line %d", s->file ? s->file : "main.cf", e->line);
    else
        buf_puts(b, "default value");
}

/* ---------------------------------------------------------------- expansion */

static int config_ent_value(struct config_set *s, struct config_ent *e, int depth,
                            const char **value_r, const char **why_r);

/* Expand text into out. ctx (may be NULL) names the entry for warnings. */
static int config_expand_into(struct config_set *s, const char *text, struct buf *out,
                              struct config_ent *ctx, int depth, const char **why_r);

/* True for bytes of a parameter name. */
static bool config_name_char(int c)
{
    return isalnum(c) || c == '_';
}

/* The end of a balanced "{...}" group starting at cp ('{'), or NULL. */
static const char *config_brace_end(const char *cp)
{
    int level = 0;

    for (; *cp; cp++) {
        if (*cp == '{')
            level++;
        else if (*cp == '}' && --level == 0)
            return cp;
    }
    return NULL;
}

/* Warn once per context about a reference to a name nobody defines. */
static void config_warn_undefined(struct config_set *s, struct config_ent *ctx, const char *name)
{
    struct buf *b;

    if (s->quiet)
        return;
    b = buf_create(100);
    if (ctx != NULL) {
        config_where(b, s, ctx);
        buf_printf(b, ": parameter \"%s\": ", config_ent_name(ctx));
    }
    buf_printf(b, "reference to undefined parameter \"$%s\"", name);
    msg_warn("%s", buf_str(b));
    buf_free(&b);
}

/* The expanded value of name, "" when undefined. */
static int config_ref_value(struct config_set *s, const char *name, struct config_ent *ctx,
                            int depth, const char **value_r, const char **why_r)
{
    struct config_ent *e = config_lookup(s, name, false);

    if (e == NULL || (e->def == NULL && e->raw == NULL)) {
        config_warn_undefined(s, ctx, name);
        *value_r = "";
        return 0;
    }
    return config_ent_value(s, e, depth + 1, value_r, why_r);
}

/* Expand one "$..." at *cpp (pointing at '$'); advance *cpp past it. */
static int config_expand_ref(struct config_set *s, const char **cpp, struct buf *out,
                             struct config_ent *ctx, int depth, const char **why_r)
{
    const char *cp = *cpp + 1;
    const char *value;
    char name[PARAM_NAME_MAX + 1];
    size_t n = 0;
    char open, close;

    if (*cp == '$') {
        buf_putc(out, '$');
        *cpp = cp + 1;
        return 0;
    }
    if (*cp != '{' && *cp != '(') {
        if (!config_name_char((unsigned char)*cp)) {
            /* A lone '$' stands for itself. */
            buf_putc(out, '$');
            *cpp = cp;
            return 0;
        }
        while (config_name_char((unsigned char)*cp)) {
            if (n >= PARAM_NAME_MAX) {
                *why_r = config_set_why("parameter name too long after \"$\"");
                return -1;
            }
            name[n++] = *cp++;
        }
        name[n] = '\0';
        *cpp = cp;
        if (config_ref_value(s, name, ctx, depth, &value, why_r) < 0)
            return -1;
        buf_puts(out, value);
        return 0;
    }

    open = *cp++;
    close = open == '{' ? '}' : ')';
    while (config_name_char((unsigned char)*cp)) {
        if (n >= PARAM_NAME_MAX) {
            *why_r = config_set_why("parameter name too long after \"$%c\"", open);
            return -1;
        }
        name[n++] = *cp++;
    }
    name[n] = '\0';
    if (n == 0) {
        *why_r = config_set_why("missing parameter name after \"$%c\"", open);
        return -1;
    }
    if (config_ref_value(s, name, ctx, depth, &value, why_r) < 0)
        return -1;
    if (*cp == close) {
        buf_puts(out, value);
        *cpp = cp + 1;
        return 0;
    }
    if (*cp == '?' || *cp == ':') {
        bool nonempty = *value != '\0';
        const char *t1 = NULL, *t2 = NULL; /* text if non-empty / if empty */
        size_t l1 = 0, l2 = 0;
        char op = *cp++;

        if (*cp == '{') {
            /* Postfix 3: ${name?{text}}, ${name:{text}}, ${name?{a}:{b}} */
            const char *end = config_brace_end(cp);

            if (end == NULL) {
                *why_r = config_set_why("missing \"}\" in \"${%s%c{\"", name, op);
                return -1;
            }
            if (op == '?')
                t1 = cp + 1, l1 = (size_t)(end - cp - 1);
            else
                t2 = cp + 1, l2 = (size_t)(end - cp - 1);
            cp = end + 1;
            while (*cp == ' ' || *cp == '\t')
                cp++;
            if (op == '?' && *cp == ':') {
                cp++;
                while (*cp == ' ' || *cp == '\t')
                    cp++;
                end = *cp == '{' ? config_brace_end(cp) : NULL;
                if (end == NULL) {
                    *why_r = config_set_why("expected \"{text}\" after \":\" in \"${%s?{...}:\"",
                                            name);
                    return -1;
                }
                t2 = cp + 1, l2 = (size_t)(end - cp - 1);
                cp = end + 1;
                while (*cp == ' ' || *cp == '\t')
                    cp++;
            }
            if (*cp != close) {
                *why_r = config_set_why("missing \"%c\" after \"${%s%c{...}\"", close, name, op);
                return -1;
            }
        } else {
            /* Classic form: the text runs to the matching close bracket. */
            const char *start = cp;
            int level = 1;

            for (; *cp; cp++) {
                if (*cp == open)
                    level++;
                else if (*cp == close && --level == 0)
                    break;
            }
            if (*cp != close) {
                *why_r = config_set_why("missing \"%c\" in \"$%c%s%c...\"", close, open, name, op);
                return -1;
            }
            if (op == '?')
                t1 = start, l1 = (size_t)(cp - start);
            else
                t2 = start, l2 = (size_t)(cp - start);
        }
        *cpp = cp + 1;
        if ((nonempty && t1 != NULL) || (!nonempty && t2 != NULL)) {
            char *sub = nonempty ? mem_strndup(t1, l1) : mem_strndup(t2, l2);
            int rc = config_expand_into(s, sub, out, ctx, depth + 1, why_r);

            mem_free(sub);
            return rc;
        }
        return 0;
    }
    if (*cp == '\0')
        *why_r = config_set_why("missing \"%c\" after \"$%c%s\"", close, open, name);
    else
        *why_r = config_set_why("bad character after \"$%c%s\"", open, name);
    return -1;
}

/* Expand text into out. */
static int config_expand_into(struct config_set *s, const char *text, struct buf *out,
                              struct config_ent *ctx, int depth, const char **why_r)
{
    const char *cp = text;

    if (depth > CONFIG_DEPTH_MAX) {
        *why_r = config_set_why("$name references nested more than %d deep", CONFIG_DEPTH_MAX);
        return -1;
    }
    while (*cp) {
        size_t n = strcspn(cp, "$");

        buf_append(out, cp, n);
        cp += n;
        if (*cp == '$' && config_expand_ref(s, &cp, out, ctx, depth, why_r) < 0)
            return -1;
        if (buf_len(out) > CONFIG_EXPAND_MAX) {
            *why_r = config_set_why("value longer than %d bytes after $name expansion",
                                    CONFIG_EXPAND_MAX);
            return -1;
        }
    }
    return 0;
}

/* The unexpanded value of e: main.cf/-o, else the (possibly computed) default. */
static int config_ent_text(struct config_set *s, struct config_ent *e, int depth,
                           const char **text_r, const char **why_r)
{
    const char *v;

    if (e->def != NULL && strcmp(e->def->name, "config_directory") == 0 && s->dir != NULL) {
        /* config_read(dir) defines where the configuration is. */
        *text_r = s->dir;
        return 0;
    }
    if (e->raw != NULL) {
        *text_r = e->raw;
        return 0;
    }
    if (e->def == NULL) {
        *text_r = "";
        return 0;
    }
    if (e->def->def == NULL && strcmp(e->def->name, "mydomain") == 0) {
        /* Follows the configured myhostname, like Postfix. */
        if (s->mydomain == NULL) {
            if (config_ref_value(s, "myhostname", e, depth, &v, why_r) < 0)
                return -1;
            s->mydomain = param_domain_of(v);
        }
        *text_r = s->mydomain;
        return 0;
    }
    if (e->def->def == NULL && strcmp(e->def->name, "mynetworks") == 0) {
        if (s->mynetworks == NULL) {
            if (config_ref_value(s, "mynetworks_style", e, depth, &v, why_r) < 0)
                return -1;
            s->mynetworks = param_mynetworks(v);
        }
        *text_r = s->mynetworks;
        return 0;
    }
    *text_r = param_default(e->def);
    return 0;
}

/* The expanded value of e (cached). */
static int config_ent_value(struct config_set *s, struct config_ent *e, int depth,
                            const char **value_r, const char **why_r)
{
    struct buf *out;
    const char *text;
    int rc;

    if (e->expanded != NULL) {
        *value_r = e->expanded;
        return 0;
    }
    if (e->expanding) {
        *why_r = config_set_why("parameter %s: recursive definition", config_ent_name(e));
        return -1;
    }
    if (depth > CONFIG_DEPTH_MAX) {
        *why_r = config_set_why("$name references nested more than %d deep", CONFIG_DEPTH_MAX);
        return -1;
    }
    e->expanding = true;
    rc = config_ent_text(s, e, depth, &text, why_r);
    if (rc == 0 && e->def != NULL && (e->def->flags & PARAM_F_RAW)) {
        /* A raw parameter: its $names belong to the program that uses it. */
        e->expanded = mem_strdup(text);
    } else if (rc == 0) {
        out = buf_create(strlen(text) + 1);
        rc = config_expand_into(s, text, out, e, depth, why_r);
        if (rc == 0)
            e->expanded = buf_export(&out);
        else
            buf_free(&out);
    }
    e->expanding = false;
    if (rc == 0)
        *value_r = e->expanded;
    return rc;
}

/* ---------------------------------------------------------------- checking */

/* Mark user-defined names that text mentions as $name, ${name...} or $(name...). */
static void config_mark_refs(struct config_set *s, const char *text)
{
    char name[PARAM_NAME_MAX + 1];

    for (const char *cp = strchr(text, '$'); cp != NULL; cp = strchr(cp, '$')) {
        size_t n = 0;

        cp++;
        if (*cp == '$') {
            cp++;
            continue;
        }
        if (*cp == '{' || *cp == '(')
            cp++;
        while (config_name_char((unsigned char)*cp) && n < PARAM_NAME_MAX)
            name[n++] = *cp++;
        name[n] = '\0';
        if (n > 0) {
            struct config_ent **slot = config_user_slot(s, name);

            if (*slot != NULL)
                (*slot)->referenced = true;
        }
    }
}

/* qsort: entries by main.cf line. */
static int config_order_cmp(const void *a, const void *b)
{
    const struct config_ent *const *ea = a, *const *eb = b;

    return ((*ea)->line > (*eb)->line) - ((*ea)->line < (*eb)->line);
}

/* Expand and check one entry; on error *why_r names where it came from. */
static int config_check_ent(struct config_set *s, struct config_ent *e, const char **why_r)
{
    const char *value, *why;
    struct buf *b;

    if (config_ent_value(s, e, 0, &value, &why) == 0) {
        if (e->def == NULL || param_check(e->def, value, &why) == 0)
            return 0;
        b = buf_create(100);
        config_where(b, s, e);
        buf_printf(b, ": parameter \"%s\": bad value \"", config_ent_name(e));
        config_quote(b, value);
        buf_printf(b, "\" (%s)", why);
    } else {
        b = buf_create(100);
        config_where(b, s, e);
        if (strncmp(why, "parameter ", 10) == 0)
            buf_printf(b, ": %s", why);
        else
            buf_printf(b, ": parameter \"%s\": %s", config_ent_name(e), why);
    }
    *why_r = config_set_why("%s", buf_str(b));
    buf_free(&b);
    return -1;
}

/*
 * Check a whole set: warn about unknown names that nothing references,
 * then expand and check every value, main.cf ones first in line order.
 * extra_refs (master.cf text, may be NULL) can reference user names too.
 */
static int config_set_check(struct config_set *s, const char *extra_refs, const char **why_r)
{
    struct config_ent **sorted;

    for (size_t i = 0; i < param_count; i++)
        if (s->known[i].raw != NULL)
            config_mark_refs(s, s->known[i].raw);
    for (size_t i = 0; i < s->user_size; i++)
        if (s->user[i] != NULL && s->user[i]->raw != NULL)
            config_mark_refs(s, s->user[i]->raw);
    if (extra_refs != NULL)
        config_mark_refs(s, extra_refs);

    sorted = mem_alloc_array(s->order_count + 1, sizeof(*sorted));
    if (s->order_count > 0)
        memcpy(sorted, s->order, s->order_count * sizeof(*sorted));
    qsort(sorted, s->order_count, sizeof(*sorted), config_order_cmp);
    for (size_t i = 0; i < s->order_count; i++) {
        struct config_ent *e = sorted[i];

        if (e->def == NULL && !e->referenced && !e->overridden && !s->quiet)
            msg_warn("%s, line %d: unknown parameter \"%s\"", s->file ? s->file : "main.cf",
                     e->line, e->name);
    }
    for (size_t i = 0; i < s->order_count; i++) {
        if (sorted[i]->overridden)
            continue;
        if (config_check_ent(s, sorted[i], why_r) < 0) {
            mem_free(sorted);
            return -1;
        }
    }
    mem_free(sorted);
    for (size_t i = 0; i < param_count; i++)
        if (config_check_ent(s, &s->known[i], why_r) < 0)
            return -1;
    for (size_t i = 0; i < s->user_size; i++)
        if (s->user[i] != NULL && config_check_ent(s, s->user[i], why_r) < 0)
            return -1;
    return 0;
}

/* ---------------------------------------------------------------- parsing */

/* Record one logical line "name = value" that starts at line. */
static int config_parse_def(struct config_set *s, const char *file, const char *text, int line,
                            const char **why_r)
{
    const char *cp = text;
    const char *name_end, *value, *end;
    char *name;

    if (*cp == '=') {
        *why_r = config_set_why("%s, line %d: missing parameter name before \"=\"", file, line);
        return -1;
    }
    name_end = cp + strcspn(cp, " \t=");
    value = name_end + strspn(name_end, " \t");
    if (*value != '=') {
        struct buf *b = buf_create(100);

        buf_printf(b, "%s, line %d: missing \"=\" after \"", file, line);
        buf_append(b, cp, (size_t)(name_end - cp) > CONFIG_WHAT_MAX ? CONFIG_WHAT_MAX
                                                                     : (size_t)(name_end - cp));
        buf_puts(b, "\"");
        *why_r = config_set_why("%s", buf_str(b));
        buf_free(&b);
        return -1;
    }
    name = mem_strndup(cp, (size_t)(name_end - cp));
    if (!param_name_valid(name)) {
        struct buf *b = buf_create(100);

        buf_printf(b, "%s, line %d: bad parameter name \"", file, line);
        config_quote(b, name);
        buf_puts(b, "\" (expected letters, digits and _)");
        *why_r = config_set_why("%s", buf_str(b));
        buf_free(&b);
        mem_free(name);
        return -1;
    }
    value++;
    value += strspn(value, " \t");
    end = value + strlen(value);
    while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    {
        char *v = mem_strndup(value, (size_t)(end - value));

        config_set_value(s, name, v, line);
        mem_free(v);
    }
    mem_free(name);
    return 0;
}

/* Parse main.cf text into s. Errors name file and line. */
static int config_parse(struct config_set *s, const char *file, const char *text, size_t len,
                        const char **why_r)
{
    struct buf *logical = buf_create(256);
    int logical_line = 0;
    int lineno = 0;
    const char *cp = text, *end = text + len;
    int rc = 0;

    while (cp < end && rc == 0) {
        const char *nl = memchr(cp, '\n', (size_t)(end - cp));
        const char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - cp);
        const char *first;

        lineno++;
        if (memchr(cp, '\0', n) != NULL) {
            *why_r = config_set_why("%s, line %d: NUL byte in line", file, lineno);
            rc = -1;
            break;
        }
        if (n > CONFIG_LINE_MAX) {
            *why_r = config_set_why("%s, line %d: line longer than %d bytes", file, lineno,
                                    CONFIG_LINE_MAX);
            rc = -1;
            break;
        }
        if (n > 0 && cp[n - 1] == '\r')
            n--;
        first = cp;
        while (first < cp + n && (*first == ' ' || *first == '\t'))
            first++;
        if (first == cp + n || *first == '#') {
            /* Blank and comment lines are ignored, also inside a definition. */
        } else if (first != cp) {
            if (logical_line == 0) {
                *why_r = config_set_why("%s, line %d: line starts with white space but no "
                                        "parameter definition precedes it", file, lineno);
                rc = -1;
                break;
            }
            while (buf_len(logical) > 0 && (buf_str(logical)[buf_len(logical) - 1] == ' '
                                            || buf_str(logical)[buf_len(logical) - 1] == '\t'))
                buf_truncate(logical, buf_len(logical) - 1);
            buf_putc(logical, ' ');
            buf_append(logical, first, (size_t)(cp + n - first));
            if (buf_len(logical) > CONFIG_VALUE_MAX) {
                *why_r = config_set_why("%s, line %d: definition longer than %d bytes", file,
                                        logical_line, CONFIG_VALUE_MAX);
                rc = -1;
                break;
            }
        } else {
            if (logical_line > 0)
                rc = config_parse_def(s, file, buf_str(logical), logical_line, why_r);
            buf_reset(logical);
            buf_append(logical, cp, n);
            logical_line = lineno;
        }
        cp = nl ? nl + 1 : end;
    }
    if (rc == 0 && logical_line > 0)
        rc = config_parse_def(s, file, buf_str(logical), logical_line, why_r);
    buf_free(&logical);
    return rc;
}

/* Apply the -o overrides to s (without checking). */
static void config_apply_overrides(struct config_set *s)
{
    for (size_t i = 0; i < config_override_count; i++)
        config_set_value(s, config_overrides[i].name, config_overrides[i].value, 0);
}

/* ---------------------------------------------------------------- public */

/* Read a whole regular file of at most max bytes. */
int config_load_file(const char *path, size_t max, char **text_r, size_t *len_r,
                     const char **why_r)
{
    struct stat st;
    struct buf *b;
    int fd;

    *text_r = NULL;
    *len_r = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
        if (errno == ENOENT)
            return 0;
        *why_r = config_set_why("open %s: %m", path);
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        *why_r = config_set_why("stat %s: %m", path);
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        *why_r = config_set_why("%s: not a regular file", path);
        close(fd);
        return -1;
    }
    b = buf_create(st.st_size > 0 && (size_t)st.st_size <= max ? (size_t)st.st_size + 1 : 4096);
    for (;;) {
        ssize_t got;

        buf_reserve(b, 65536);
        got = read(fd, buf_str(b) + buf_len(b), 65536);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            *why_r = config_set_why("read %s: %m", path);
            buf_free(&b);
            close(fd);
            return -1;
        }
        if (got == 0)
            break;
        b->len += (size_t)got;
        b->data[b->len] = '\0';
        if (buf_len(b) > max) {
            *why_r = config_set_why("%s: file larger than %zu bytes", path, max);
            buf_free(&b);
            close(fd);
            return -1;
        }
    }
    close(fd);
    *len_r = buf_len(b);
    *text_r = buf_export(&b);
    return 1;
}

/* -c dir is the caller's; else $POSTEL_CONFIG_DIR (not when set-uid/gid); else the default. */
const char *config_dir_default(void)
{
    const char *env = secure_getenv("POSTEL_CONFIG_DIR");

    return env != NULL && *env != '\0' ? env : DEF_CONFIG_DIR;
}

/* Build a set from main.cf text, apply overrides and check it. */
static struct config_set *config_build(const char *dir, const char *file, const char *text,
                                       size_t len, const char **why_r)
{
    struct config_set *s = config_set_create(dir);
    char *master_text = NULL;
    size_t master_len;

    if (file != NULL) {
        mem_free(s->file);
        s->file = mem_strdup(file);
    }
    if (dir != NULL) {
        /*
         * master.cf -o values may reference names defined only in main.cf,
         * and its service names make per-transport parameters known. A
         * master.cf that does not parse is master's to report: no services.
         */
        struct buf *path = buf_create(100);
        struct mastercf *cf;
        const char *why;

        buf_printf(path, "%s/master.cf", dir);
        if (config_load_file(buf_str(path), CONFIG_FILE_MAX, &master_text, &master_len, &why) < 0)
            master_text = NULL;
        cf = master_text != NULL ? mastercf_parse(master_text, buf_str(path), &why) : NULL;
        for (size_t i = 0; cf != NULL && i < cf->count; i++)
            argv_add(s->services, cf->entries[i].service);
        mastercf_free(&cf);
        buf_free(&path);
    }
    if (text != NULL && config_parse(s, s->file ? s->file : "main.cf", text, len, why_r) < 0) {
        mem_free(master_text);
        config_set_free(&s);
        return NULL;
    }
    config_apply_overrides(s);
    if (config_set_check(s, master_text, why_r) < 0) {
        mem_free(master_text);
        config_set_free(&s);
        return NULL;
    }
    mem_free(master_text);
    return s;
}

/* Read <dir>/main.cf and replace the current configuration if it is valid. */
int config_read(const char *dir, const char **why_r)
{
    struct buf *path = buf_create(100);
    struct config_set *s;
    char *text;
    size_t len;
    int rc;

    buf_printf(path, "%s/main.cf", dir);
    rc = config_load_file(buf_str(path), CONFIG_FILE_MAX, &text, &len, why_r);
    buf_free(&path);
    if (rc < 0)
        return -1;
    s = config_build(dir, NULL, text, len, why_r);
    mem_free(text);
    if (s == NULL)
        return -1;
    config_set_free(&config_cur);
    config_cur = s;
    return 0;
}

/* Check text as the main.cf at path; nothing changes. */
int config_check_text(const char *path, const char *text, size_t len, const char **why_r)
{
    char *dir = mem_strdup(path);
    char *slash = strrchr(dir, '/');
    struct config_set *s;

    if (slash != NULL)
        *slash = '\0';
    s = config_build(slash != NULL ? dir : ".", path, text, len, why_r);
    mem_free(dir);
    if (s == NULL)
        return -1;
    config_set_free(&s);
    return 0;
}

/* The current set; defaults only until config_read(). */
static struct config_set *config_current(void)
{
    const char *why;

    if (config_cur == NULL) {
        config_cur = config_build(NULL, NULL, NULL, 0, &why);
        if (config_cur == NULL)
            msg_fatal("%s", why);
    }
    return config_cur;
}

/* -o name=value: checked like main.cf, kept across config_read(). */
int config_override(const char *name, const char *value, const char **why_r)
{
    struct config_set *s = config_current();
    struct config_ent *e;
    char *old_raw;
    int old_line, rc;
    bool old_over;

    if (!param_name_valid(name)) {
        *why_r = config_set_why("-o %s: bad parameter name", name);
        return -1;
    }
    if (strlen(value) > CONFIG_VALUE_MAX) {
        *why_r = config_set_why("-o %s: value longer than %d bytes", name, CONFIG_VALUE_MAX);
        return -1;
    }
    e = config_lookup(s, name, true);
    old_raw = e->raw ? mem_strdup(e->raw) : NULL;
    old_line = e->line;
    old_over = e->overridden;
    config_set_value(s, name, value, 0);
    config_set_uncache(s);
    s->quiet = true;
    rc = config_set_check(s, NULL, why_r);
    s->quiet = false;
    if (rc < 0) {
        char *saved = mem_strdup(*why_r);
        const char *ignored;

        mem_free(e->raw);
        e->raw = old_raw;
        e->line = old_line;
        e->overridden = old_over;
        config_set_uncache(s);
        s->quiet = true;
        (void)config_set_check(s, NULL, &ignored);
        s->quiet = false;
        *why_r = config_set_why("%s", saved);
        mem_free(saved);
        return -1;
    }
    mem_free(old_raw);
    for (size_t i = 0; i < config_override_count; i++)
        if (strcmp(config_overrides[i].name, name) == 0) {
            mem_free(config_overrides[i].value);
            config_overrides[i].value = mem_strdup(value);
            return 0;
        }
    config_overrides = mem_realloc_array(config_overrides, config_override_count + 1,
                                         sizeof(*config_overrides));
    config_overrides[config_override_count].name = mem_strdup(name);
    config_overrides[config_override_count].value = mem_strdup(value);
    config_override_count++;
    return 0;
}

/*
 * The entry a getter reads: a table parameter, or a per-transport one
 * (its own entry when main.cf or -o set it for a master.cf service, else
 * its generic parameter's). Any other name is a bug.
 */
static struct config_ent *config_known(const char *name)
{
    struct config_set *s = config_current();
    const struct param_def *p = param_find(name);
    struct config_ent *e;

    if (p == NULL && (p = param_transport_generic(name, NULL)) != NULL &&
        (e = config_lookup(s, name, false)) != NULL && e->def != NULL)
        return e;
    if (p == NULL)
        msg_panic("config: \"%s\" is not in the parameter table", name);
    return &s->known[param_index(p)];
}

/* The expanded value of a getter's entry. */
static const char *config_known_str(const char *name, struct config_ent *e)
{
    const char *value, *why;

    if (config_ent_value(config_cur, e, 0, &value, &why) < 0)
        msg_panic("config_str %s: %s", name, why); /* checked at read time */
    return value;
}

/* Expanded value of a table parameter. */
const char *config_str(const char *name)
{
    return config_known_str(name, config_known(name));
}

/* The value of a typed getter's parameter: it was checked at read time. */
static const char *config_typed(const char *name, enum param_type type, char *unit_r)
{
    struct config_ent *e = config_known(name);

    if (e->def->type != type)
        msg_panic("config: %s is a %s, not a %s", name, param_type_name(e->def->type),
                  param_type_name(type));
    if (unit_r != NULL)
        *unit_r = e->def->unit;
    return config_known_str(name, e);
}

/* Integer parameter. */
long long config_int(const char *name)
{
    long long n;
    const char *why;

    if (param_parse_int(config_typed(name, PARAM_INT, NULL), &n, &why) < 0)
        msg_panic("config_int %s: %s", name, why);
    return n;
}

/* Boolean parameter. */
bool config_bool(const char *name)
{
    bool b;
    const char *why;

    if (param_parse_bool(config_typed(name, PARAM_BOOL, NULL), &b, &why) < 0)
        msg_panic("config_bool %s: %s", name, why);
    return b;
}

/* Time parameter, in seconds. */
long long config_time(const char *name)
{
    long long n;
    const char *why, *value;
    char unit;

    value = config_typed(name, PARAM_TIME, &unit);
    if (param_parse_time(value, unit, &n, &why) < 0)
        msg_panic("config_time %s: %s", name, why);
    return n;
}

/* Size parameter, in bytes. */
long long config_size(const char *name)
{
    long long n;
    const char *why;

    if (param_parse_size(config_typed(name, PARAM_SIZE, NULL), &n, &why) < 0)
        msg_panic("config_size %s: %s", name, why);
    return n;
}

/* List parameter (any type works: the value split into items). */
struct argv *config_list(const char *name)
{
    return param_list_split(config_str(name));
}

/* Raw value from main.cf or -o, or NULL. Works for user-defined names too. */
const char *config_raw(const char *name)
{
    struct config_ent *e = config_lookup(config_current(), name, false);

    return e != NULL ? e->raw : NULL;
}

/* True when set in main.cf or by -o. */
bool config_is_set(const char *name)
{
    return config_raw(name) != NULL;
}

/* Expand $name references in text. */
char *config_expand(const char *text)
{
    struct buf *out = buf_create(strlen(text) + 1);
    const char *why;

    if (config_expand_into(config_current(), text, out, NULL, 0, &why) < 0) {
        msg_warn("cannot expand \"%.100s\": %s", text, why);
        buf_set(out, text);
    }
    return buf_export(&out);
}

/* The main.cf path of the last config_read(). */
const char *config_file(void)
{
    return config_cur != NULL ? config_cur->file : NULL;
}

/* strcmp for qsort of char pointers. */
static int config_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names set in main.cf or by -o, sorted. */
struct argv *config_names_set(void)
{
    struct config_set *s = config_current();
    struct argv *a = argv_create(s->order_count + config_override_count);

    for (size_t i = 0; i < param_count; i++)
        if (s->known[i].raw != NULL)
            argv_add(a, s->known[i].def->name);
    for (size_t i = 0; i < s->user_size; i++)
        if (s->user[i] != NULL && s->user[i]->raw != NULL)
            argv_add(a, s->user[i]->name);
    qsort(a->argv, a->argc, sizeof(char *), config_str_cmp);
    return a;
}

/* Forget everything. */
void config_reset(void)
{
    config_set_free(&config_cur);
    for (size_t i = 0; i < config_override_count; i++) {
        mem_free(config_overrides[i].name);
        mem_free(config_overrides[i].value);
    }
    MEM_FREE(&config_overrides);
    config_override_count = 0;
    buf_free(&config_why);
}
