/*
 * buf - length-counted growable byte buffers.
 *
 * Growth doubles the allocation, with overflow checks; every operation keeps
 * the terminating NUL so the contents are always a valid C string prefix.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

/* Create an empty buffer with room for initial bytes. */
struct buf *buf_create(size_t initial)
{
    struct buf *b = mem_alloc(sizeof(*b));

    b->size = initial < 16 ? 16 : initial + 1;
    b->data = mem_alloc(b->size);
    b->len = 0;
    return b;
}

/* Destroy a buffer and clear the caller's pointer. */
void buf_free(struct buf **bp)
{
    if (*bp == NULL)
        return;
    mem_free((*bp)->data);
    mem_free(*bp);
    *bp = NULL;
}

/* Destroy the buffer but hand its data (a C string) to the caller. */
char *buf_export(struct buf **bp)
{
    char *data = (*bp)->data;

    mem_free(*bp);
    *bp = NULL;
    return data;
}

/* Make room for extra more bytes plus the terminator. */
void buf_reserve(struct buf *b, size_t extra)
{
    size_t need;

    if (extra > SIZE_MAX - b->len - 1)
        msg_panic("buf_reserve: size overflow");
    need = b->len + extra + 1;
    if (need <= b->size)
        return;
    while (b->size < need)
        b->size = b->size > SIZE_MAX / 2 ? need : b->size * 2;
    b->data = mem_realloc(b->data, b->size);
}

/* Empty the buffer, keeping its memory. */
void buf_reset(struct buf *b)
{
    b->len = 0;
    b->data[0] = '\0';
}

/* Shorten the buffer to len bytes (no-op if it is already shorter). */
void buf_truncate(struct buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

/* Append len bytes; data may point into b itself. */
void buf_append(struct buf *b, const void *data, size_t len)
{
    const char *p = data;

    if (p >= b->data && p < b->data + b->size) {
        size_t off = (size_t)(p - b->data);

        buf_reserve(b, len);
        data = b->data + off;
    } else {
        buf_reserve(b, len);
    }
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

/* Append a C string. */
void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

/* Append one byte. */
void buf_putc(struct buf *b, int c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = (char)c;
    b->data[b->len] = '\0';
}

/* Replace the contents with a C string. */
void buf_set(struct buf *b, const char *s)
{
    buf_reset(b);
    buf_puts(b, s);
}

/* Append formatted text; %m works as in printf(3) on glibc. */
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    errno = saved_errno;
    n = vsnprintf(b->data + b->len, b->size - b->len, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        msg_panic("buf_vprintf: bad format \"%s\"", fmt);
    if ((size_t)n >= b->size - b->len) {
        buf_reserve(b, (size_t)n);
        errno = saved_errno;
        n = vsnprintf(b->data + b->len, b->size - b->len, fmt, ap);
        if (n < 0)
            msg_panic("buf_vprintf: bad format \"%s\"", fmt);
    }
    b->len += (size_t)n;
    errno = saved_errno;
}

/* Append formatted text. */
void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Fold ASCII letters to lower case in place. */
void buf_lower(struct buf *b)
{
    for (size_t i = 0; i < b->len; i++)
        b->data[i] = (char)tolower((unsigned char)b->data[i]);
}

/* Remove one trailing LF or CRLF. */
void buf_trim_crlf(struct buf *b)
{
    if (b->len > 0 && b->data[b->len - 1] == '\n')
        b->len--;
    if (b->len > 0 && b->data[b->len - 1] == '\r')
        b->len--;
    b->data[b->len] = '\0';
}
