/*
 * alias_parse - parser of aliases(5) files and of alias values.
 *
 * Owns: the "name: value, value" syntax (quoting, backslash escapes, the
 * value kinds |command, /file, :include:/file and addresses), the stored
 * form of a value list, and an incremental wrapper over dict_lines so a
 * file can be fed in pieces of any size. Pure: no I/O, no logging.
 *
 * Security: every line is bounded by dict_lines; each error names the
 * line. The parser accepts commands and files as text only: whether a
 * command may run or a file may be written is decided at delivery time by
 * the local delivery agent (owner of the alias file, allow_mail_to_*).
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "lib/dict/alias_parse.h"
#include "lib/dict/dict_lines.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"

#define INCLUDE_PREFIX ":include:"

/* What a value is. */
enum alias_value_kind alias_value_kind(const char *value)
{
    if (value[0] == '|')
        return ALIAS_COMMAND;
    if (value[0] == '/')
        return ALIAS_FILE;
    if (strncasecmp(value, INCLUDE_PREFIX, sizeof(INCLUDE_PREFIX) - 1) == 0)
        return ALIAS_INCLUDE;
    return ALIAS_ADDRESS;
}

/* Check and normalise one internalised value. NULL or the reason. */
static const char *alias_value_check(struct buf *v)
{
    const char *s = buf_str(v);

    switch (alias_value_kind(s)) {
    case ALIAS_COMMAND: {
        const char *c = s + 1;

        while (isspace((unsigned char)*c))
            c++;
        if (*c == '\0')
            return "empty |command";
        break;
    }
    case ALIAS_INCLUDE: {
        const char *f = s + sizeof(INCLUDE_PREFIX) - 1;
        char *path;

        while (isspace((unsigned char)*f))
            f++;
        if (*f != '/')
            return ":include: needs an absolute file name";
        path = mem_strdup(f);
        buf_set(v, INCLUDE_PREFIX);
        buf_puts(v, path);
        mem_free(path);
        break;
    }
    case ALIAS_FILE:
        if (strcmp(s, "/") == 0)
            return "file name \"/\" is not a file";
        break;
    case ALIAS_ADDRESS:
        break;
    }
    return NULL;
}

/* Split a right-hand side into values. */
int alias_values_split(const char *text, struct argv **values_r, const char **why_r)
{
    struct argv *values = argv_create(4);
    struct buf *cur = buf_create(64);
    bool in_quotes = false, quoted = false, space = false, bare_space = false;
    const char *why = NULL;

    for (const char *p = text;; p++) {
        if (space && buf_len(cur) > 0 && *p != '\0' && *p != ',' && !isspace((unsigned char)*p))
            bare_space = true;
        if (*p == '\0' || (*p == ',' && !in_quotes)) {
            if (in_quotes) {
                why = "unbalanced '\"' in value";
                break;
            }
            if (buf_len(cur) > 0 || quoted) {
                if (buf_len(cur) == 0) {
                    why = "empty quoted value";
                    break;
                }
                if ((why = alias_value_check(cur)) != NULL)
                    break;
                if (bare_space && alias_value_kind(buf_str(cur)) == ALIAS_ADDRESS) {
                    why = "whitespace inside an address (missing comma?)";
                    break;
                }
                argv_add(values, buf_str(cur));
            }
            buf_reset(cur);
            quoted = space = bare_space = false;
            if (*p == '\0')
                break;
            continue;
        }
        if (*p == '\\') {
            if (p[1] == '\0') {
                why = "backslash at the end of a value";
                break;
            }
            p++;
        } else if (*p == '"') {
            in_quotes = !in_quotes;
            quoted = true;
            if (space && buf_len(cur) > 0)
                buf_putc(cur, ' ');
            space = false;
            continue;
        } else if (!in_quotes && isspace((unsigned char)*p)) {
            space = true; /* collapse unquoted whitespace inside a value to one space */
            continue;
        }
        if (space && buf_len(cur) > 0)
            buf_putc(cur, ' ');
        space = false;
        buf_putc(cur, *p);
    }
    buf_free(&cur);
    if (why != NULL) {
        argv_free(&values);
        *why_r = why;
        return -1;
    }
    *values_r = values;
    return 0;
}

/* True when a value must be quoted to survive alias_values_split(). */
static bool alias_needs_quotes(const char *v)
{
    if (*v == '\0')
        return true;
    for (; *v; v++)
        if (isspace((unsigned char)*v) || *v == ',' || *v == '"' || *v == '\\')
            return true;
    return false;
}

/* The stored form of a list of values. */
char *alias_values_join(const struct argv *values)
{
    struct buf *b = buf_create(64);

    for (size_t i = 0; i < values->argc; i++) {
        const char *v = values->argv[i];

        if (i > 0)
            buf_puts(b, ", ");
        if (!alias_needs_quotes(v)) {
            buf_puts(b, v);
            continue;
        }
        buf_putc(b, '"');
        for (; *v; v++) {
            if (*v == '"' || *v == '\\')
                buf_putc(b, '\\');
            buf_putc(b, *v);
        }
        buf_putc(b, '"');
    }
    return buf_export(&b);
}

/* Parse one logical line "name: values". */
int alias_parse_line(const char *line, char **name_r, struct argv **values_r,
                     const char **why_r)
{
    struct buf *name = buf_create(32);
    bool in_quotes = false, quoted = false, space = false, bad_space = false;
    const char *p;

    for (p = line; *p; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
        } else if (*p == '"') {
            in_quotes = !in_quotes;
            quoted = true;
            continue;
        } else if (!in_quotes && *p == ':') {
            break;
        } else if (!in_quotes && isspace((unsigned char)*p)) {
            space = buf_len(name) > 0;
            continue;
        }
        if (space)
            bad_space = true;
        space = false;
        buf_putc(name, *p);
    }
    if (in_quotes) {
        *why_r = "unbalanced '\"' in alias name";
        buf_free(&name);
        return -1;
    }
    if (*p != ':') {
        *why_r = "expected format: name: value, value, ...";
        buf_free(&name);
        return -1;
    }
    if (bad_space) {
        *why_r = "whitespace in alias name (put the name in double quotes)";
        buf_free(&name);
        return -1;
    }
    if (buf_len(name) == 0) {
        *why_r = quoted ? "empty alias name" : "missing alias name before ':'";
        buf_free(&name);
        return -1;
    }
    if (alias_values_split(p + 1, values_r, why_r) < 0) {
        buf_free(&name);
        return -1;
    }
    if ((*values_r)->argc == 0) {
        argv_free(values_r);
        *why_r = "missing alias value after ':'";
        buf_free(&name);
        return -1;
    }
    *name_r = buf_export(&name);
    return 0;
}

struct alias_parser {
    struct dict_lines *lines;
    char *name;
    struct argv *values;
};

/* Create a parser. */
struct alias_parser *alias_parser_create(void)
{
    struct alias_parser *p = mem_alloc(sizeof(*p));

    p->lines = dict_lines_create();
    return p;
}

/* Destroy a parser. */
void alias_parser_free(struct alias_parser **pp)
{
    struct alias_parser *p = *pp;

    if (p == NULL)
        return;
    dict_lines_free(&p->lines);
    mem_free(p->name);
    argv_free(&p->values);
    mem_free(p);
    *pp = NULL;
}

/* Add input bytes. */
void alias_parser_feed(struct alias_parser *p, const char *data, size_t len)
{
    dict_lines_feed(p->lines, data, len);
}

/* End of input. */
void alias_parser_end(struct alias_parser *p)
{
    dict_lines_end(p->lines);
}

/* The next entry or error. */
int alias_parser_next(struct alias_parser *p, const char **name_r,
                      const struct argv **values_r, int *lineno_r, const char **why_r)
{
    const char *line;
    int rc;

    MEM_FREE(&p->name);
    argv_free(&p->values);
    rc = dict_lines_next(p->lines, &line, lineno_r, why_r);
    if (rc <= 0)
        return rc;
    if (alias_parse_line(line, &p->name, &p->values, why_r) < 0)
        return -1;
    *name_r = p->name;
    *values_r = p->values;
    return 1;
}
