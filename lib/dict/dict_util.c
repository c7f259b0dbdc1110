/*
 * dict_util - small text helpers shared by table types and postmap.
 *
 * Owns: the split of a source line into key and value (Postfix's rules,
 * including "quoted keys with whitespace").
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "lib/dict/dict_util.h"

/* Split "key whitespace value". */
int dict_split_key_value(const char *line, struct buf *key_r, struct buf *value_r,
                         const char **why_r)
{
    const char *p = line;
    const char *end;
    bool in_quotes = false;

    for (; *p; p++) {
        if (*p == '\\') {
            if (p[1] == '\0')
                break;
            p++;
        } else if (isspace((unsigned char)*p)) {
            if (!in_quotes)
                break;
        } else if (*p == '"') {
            in_quotes = !in_quotes;
        }
    }
    if (in_quotes) {
        *why_r = "unbalanced '\"' in key";
        return -1;
    }
    buf_reset(key_r);
    buf_append(key_r, line, (size_t)(p - line));
    while (isspace((unsigned char)*p))
        p++;
    end = p + strlen(p);
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    if (buf_len(key_r) == 0 || end == p) {
        *why_r = "expected format: key whitespace value";
        return -1;
    }
    buf_reset(value_r);
    buf_append(value_r, p, (size_t)(end - p));
    return 0;
}
