/*
 * argv - growable NULL-terminated string arrays.
 *
 * The array owns copies of its strings. argv_split() cuts text at any of a
 * set of delimiter bytes and drops empty fields, as Postfix list parameters
 * ("a, b c") expect.
 */
#include "config.h"

#include <string.h>

#include "lib/util/argv.h"
#include "lib/util/mem.h"

/* Create an empty array. */
struct argv *argv_create(size_t initial)
{
    struct argv *a = mem_alloc(sizeof(*a));

    a->size = initial < 4 ? 4 : initial;
    a->argv = mem_alloc_array(a->size + 1, sizeof(char *));
    a->argc = 0;
    return a;
}

/* Free the array and its strings; clear the caller's pointer. */
void argv_free(struct argv **ap)
{
    struct argv *a = *ap;

    if (a == NULL)
        return;
    for (size_t i = 0; i < a->argc; i++)
        mem_free(a->argv[i]);
    mem_free(a->argv);
    mem_free(a);
    *ap = NULL;
}

/* Append a copy of len bytes of s. */
void argv_addn(struct argv *a, const char *s, size_t len)
{
    if (a->argc == a->size) {
        a->size *= 2;
        a->argv = mem_realloc_array(a->argv, a->size + 1, sizeof(char *));
    }
    a->argv[a->argc++] = mem_strndup(s, len);
    a->argv[a->argc] = NULL;
}

/* Append a copy of s. */
void argv_add(struct argv *a, const char *s)
{
    argv_addn(a, s, strlen(s));
}

/* Drop elements from index argc on. */
void argv_truncate(struct argv *a, size_t argc)
{
    while (a->argc > argc)
        mem_free(a->argv[--a->argc]);
    a->argv[a->argc] = NULL;
}

/* Split text at any byte of delims; empty fields are dropped. */
struct argv *argv_split(const char *text, const char *delims)
{
    struct argv *a = argv_create(4);
    const char *p = text;

    while (*p) {
        size_t skip = strspn(p, delims);
        size_t len;

        p += skip;
        if (*p == '\0')
            break;
        len = strcspn(p, delims);
        argv_addn(a, p, len);
        p += len;
    }
    return a;
}
