/*
 * mem - allocation wrappers that never return NULL.
 *
 * Out of memory is an environment failure: we log it and exit through
 * msg_fatal. Sizes are checked for multiplication overflow.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/mem.h"
#include "lib/util/msg.h"

/* Allocate size bytes of zeroed memory. */
void *mem_alloc(size_t size)
{
    void *p = calloc(1, size ? size : 1);

    if (p == NULL)
        msg_fatal("out of memory allocating %zu bytes", size);
    return p;
}

/* Allocate a zeroed array, refusing a size that overflows. */
void *mem_alloc_array(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        msg_panic("mem_alloc_array: %zu * %zu overflows", count, size);
    return mem_alloc(count * size);
}

/* Resize ptr; bytes beyond the old size are not zeroed. */
void *mem_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL)
        msg_fatal("out of memory reallocating %zu bytes", size);
    return p;
}

/* Resize an array, refusing a size that overflows. */
void *mem_realloc_array(void *ptr, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        msg_panic("mem_realloc_array: %zu * %zu overflows", count, size);
    return mem_realloc(ptr, count * size);
}

/* Copy a NUL-terminated string. */
char *mem_strdup(const char *s)
{
    return mem_strndup(s, strlen(s));
}

/* Copy at most len bytes of s and terminate the copy. */
char *mem_strndup(const char *s, size_t len)
{
    const char *end = memchr(s, '\0', len);
    char *p;

    if (end != NULL)
        len = (size_t)(end - s);
    if (len == SIZE_MAX)
        msg_panic("mem_strndup: length overflows");
    p = mem_alloc(len + 1);
    memcpy(p, s, len);
    return p;
}

/* Copy len bytes of p. */
void *mem_memdup(const void *p, size_t len)
{
    void *q = mem_alloc(len);

    if (len)
        memcpy(q, p, len);
    return q;
}

/* Release memory from the allocators above; NULL is fine. */
void mem_free(void *ptr)
{
    free(ptr);
}
