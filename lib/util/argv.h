/*
 * argv - growable NULL-terminated string arrays, and splitting text into them.
 */
#ifndef POSTEL_UTIL_ARGV_H
#define POSTEL_UTIL_ARGV_H

#include <stddef.h>

struct argv {
    char **argv; /* NULL-terminated */
    size_t argc;
    size_t size;
};

struct argv *argv_create(size_t initial);
void argv_free(struct argv **ap);
void argv_add(struct argv *a, const char *s);
void argv_addn(struct argv *a, const char *s, size_t len);
void argv_truncate(struct argv *a, size_t argc);
struct argv *argv_split(const char *text, const char *delims);

#endif
