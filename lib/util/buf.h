/*
 * buf - length-counted growable byte buffers (the idea of Postfix's VSTRING).
 *
 * The data is always NUL-terminated after len bytes, so buf_str() can be
 * handed to string functions, while binary data with NULs is kept whole.
 */
#ifndef POSTEL_UTIL_BUF_H
#define POSTEL_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;  /* always NUL-terminated at data[len] */
    size_t len;  /* bytes in use */
    size_t size; /* bytes allocated, > len */
};

#define buf_str(b) ((b)->data)
#define buf_len(b) ((b)->len)

struct buf *buf_create(size_t initial);
void buf_free(struct buf **bp);
char *buf_export(struct buf **bp);

void buf_reset(struct buf *b);
void buf_truncate(struct buf *b, size_t len);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, int c);
void buf_set(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_lower(struct buf *b);
void buf_trim_crlf(struct buf *b);

#endif
