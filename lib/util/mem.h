/*
 * mem - allocation wrappers.
 *
 * Every allocator here returns zeroed memory and never returns NULL: running
 * out of memory is fatal (msg_fatal), so callers need no NULL checks.
 */
#ifndef POSTEL_UTIL_MEM_H
#define POSTEL_UTIL_MEM_H

#include <stddef.h>

void *mem_alloc(size_t size);
void *mem_alloc_array(size_t count, size_t size);
void *mem_realloc(void *ptr, size_t size);
void *mem_realloc_array(void *ptr, size_t count, size_t size);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t len);
void *mem_memdup(const void *p, size_t len);
void mem_free(void *ptr);

/* Free *pp and set it to NULL. */
#define MEM_FREE(pp)             \
    do {                         \
        mem_free(*(pp));         \
        *(pp) = NULL;            \
    } while (0)

#endif
