/*
 * local_expand - $name expansion of forward_path and mailbox_command with
 * the names of one recipient: $user $home $shell $recipient $extension
 * $domain $local $recipient_delimiter, as ${name}, ${name?text} (text
 * when name is not empty), ${name:text} (text when it is empty), and $$
 * for a literal '$'. Text inside ${...?text} is expanded in turn.
 *
 * Pure; bounded: the result may not exceed LOCAL_EXPAND_MAX bytes and
 * nesting is limited, so a hostile pattern cannot blow up.
 *
 * Security: the values come from the address (extension, local part) and
 * from the passwd entry; each byte of a value that is not in the filter
 * becomes '_' (forward_expansion_filter, command_expansion_filter), so an
 * extension "../../etc" or "`rm -rf`" arrives harmless.
 */
#include "config.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "lib/util/buf.h"
#include "local/local.h"

#define LOCAL_EXPAND_MAX 4096 /* bytes of an expanded path or command */
#define LOCAL_EXPAND_DEPTH 10 /* nested ${name?...} levels */

/* The value of name in attrs: 1 known (*value_r may be NULL: undefined), 0 unknown. */
static int local_expand_lookup(const struct local_expand_attrs *a, const char *name, size_t len,
                               const char **value_r)
{
    static const struct {
        const char *name;
        size_t offset;
    } names[] = {
        {"user", offsetof(struct local_expand_attrs, user)},
        {"home", offsetof(struct local_expand_attrs, home)},
        {"shell", offsetof(struct local_expand_attrs, shell)},
        {"recipient", offsetof(struct local_expand_attrs, recipient)},
        {"extension", offsetof(struct local_expand_attrs, extension)},
        {"domain", offsetof(struct local_expand_attrs, domain)},
        {"local", offsetof(struct local_expand_attrs, local)},
        {"recipient_delimiter", offsetof(struct local_expand_attrs, recipient_delimiter)},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0) {
            *value_r = *(const char *const *)((const char *)a + names[i].offset);
            return 1;
        }
    }
    return 0;
}

/* Expand pattern[0..len) into out. */
static int local_expand_text(struct buf *out, const char *p, size_t len,
                             const struct local_expand_attrs *a, const char *filter, int depth,
                             const char **why_r)
{
    const char *end = p + len;

    if (depth > LOCAL_EXPAND_DEPTH) {
        *why_r = "${...} nested too deeply";
        return -1;
    }
    while (p < end) {
        const char *name, *value, *text = NULL;
        size_t nlen, tlen = 0;
        char op = 0;

        if (*p != '$') {
            buf_putc(out, *p++);
            goto check;
        }
        p++;
        if (p < end && *p == '$') {
            buf_putc(out, '$');
            p++;
            goto check;
        }
        if (p < end && *p == '{') {
            int level = 1;
            const char *q;

            name = ++p;
            while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
                p++;
            nlen = (size_t)(p - name);
            if (p < end && (*p == '?' || *p == ':')) {
                op = *p++;
                text = p;
                for (q = p; q < end; q++) {
                    if (*q == '{')
                        level++;
                    else if (*q == '}' && --level == 0)
                        break;
                }
                if (q >= end) {
                    *why_r = "missing '}' after ${name";
                    return -1;
                }
                tlen = (size_t)(q - text);
                p = q + 1;
            } else if (p < end && *p == '}') {
                p++;
            } else {
                *why_r = "bad ${name} syntax";
                return -1;
            }
        } else {
            name = p;
            while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
                p++;
            nlen = (size_t)(p - name);
        }
        if (nlen == 0) {
            *why_r = "'$' without a name (write $$ for a '$')";
            return -1;
        }
        if (!local_expand_lookup(a, name, nlen, &value)) {
            static char why[128];

            snprintf(why, sizeof(why), "unknown name \"$%.*s\"", (int)(nlen > 40 ? 40 : nlen),
                     name);
            *why_r = why;
            return -1;
        }
        if (op == '?') {
            if (value != NULL && *value != 0 &&
                local_expand_text(out, text, tlen, a, filter, depth + 1, why_r) < 0)
                return -1;
        } else if (op == ':') {
            if ((value == NULL || *value == 0) &&
                local_expand_text(out, text, tlen, a, filter, depth + 1, why_r) < 0)
                return -1;
        } else if (value != NULL) {
            local_filter(out, value, filter);
        }
    check:
        if (buf_len(out) > LOCAL_EXPAND_MAX) {
            *why_r = "expansion result too long";
            return -1;
        }
    }
    return 0;
}

/* Expand pattern with the names in attrs into out (appended). 0, or -1 with *why_r. */
int local_expand(struct buf *out, const char *pattern, const struct local_expand_attrs *attrs,
                 const char *filter, const char **why_r)
{
    return local_expand_text(out, pattern, strlen(pattern), attrs, filter, 0, why_r);
}
