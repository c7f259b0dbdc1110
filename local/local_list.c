/*
 * local_list - the text of a .forward or :include: file: one or more
 * aliases(5) right-hand sides ("addr, |command, /file, :include:/file"),
 * one per line. Blank lines and lines whose first non-blank byte is '#'
 * are skipped; a line that starts with white space continues the one
 * before it (as in the aliases file).
 *
 * Pure. Bounded: a logical line longer than line_max is skipped with a
 * warning, as is a line with a syntax error (an unbalanced quote); the
 * other lines still count, so one typo does not lose all of a user's
 * forwarding.
 */
#include "config.h"

#include <string.h>

#include "lib/dict/alias_parse.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "local/local.h"

/* Split one logical line into values, or warn. */
static void local_list_line(struct buf *line, bool too_long, int lineno, struct argv *values,
                            size_t *count, local_list_warn_fn warn, void *ctx)
{
    struct argv *v = NULL;
    const char *why;
    const char *cp = buf_str(line);

    while (*cp == ' ' || *cp == '\t')
        cp++;
    if (*cp == '#' || (*cp == 0 && !too_long))
        return;
    if (too_long) {
        if (warn)
            warn(ctx, lineno, "line too long; skipped");
        return;
    }
    if (memchr(buf_str(line), 0, buf_len(line)) != NULL) {
        if (warn)
            warn(ctx, lineno, "NUL byte in line; skipped");
        return;
    }
    if (alias_values_split(cp, &v, &why) < 0) {
        if (warn)
            warn(ctx, lineno, why);
        return;
    }
    for (size_t i = 0; i < v->argc; i++) {
        argv_add(values, v->argv[i]);
        (*count)++;
    }
    argv_free(&v);
}

/* Parse text[0..len) into values; returns how many were added. */
size_t local_list_parse(const char *text, size_t len, size_t line_max, struct argv *values,
                        local_list_warn_fn warn, void *ctx)
{
    struct buf *line = buf_create(256);
    size_t count = 0, pos = 0;
    int lineno = 0, start = 0;
    bool have = false, too_long = false;

    while (pos < len) {
        const char *l = text + pos;
        const char *nl = memchr(l, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - l) : len - pos;

        pos = nl ? pos + n + 1 : len;
        lineno++;
        if (n > 0 && l[n - 1] == '\r')
            n--;
        if (n > 0 && (l[0] == ' ' || l[0] == '\t') && have) {
            /* A continuation line: part of the logical line that started at start. */
            if (!too_long && buf_len(line) + 1 + n <= line_max) {
                buf_putc(line, ' ');
                buf_append(line, l, n);
            } else {
                too_long = true;
            }
            continue;
        }
        if (have)
            local_list_line(line, too_long, start, values, &count, warn, ctx);
        buf_reset(line);
        too_long = n > line_max;
        if (!too_long)
            buf_append(line, l, n);
        have = true;
        start = lineno;
    }
    if (have)
        local_list_line(line, too_long, start, values, &count, warn, ctx);
    buf_free(&line);
    return count;
}
