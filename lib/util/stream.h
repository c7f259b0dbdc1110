/*
 * stream - buffered I/O on a file descriptor with timeouts.
 *
 * A stream wraps one fd (socket, pipe or file) with an input buffer and an
 * output buffer. Every wait for the fd is bounded by the stream's timeout
 * (per wait, like Postfix's smtpd_timeout) and, when set, by an absolute
 * deadline for the whole exchange (slow-drip clients cannot stretch a line
 * forever). Errors are sticky: after an error, a timeout or EOF the stream
 * says so through stream_error(), stream_timed_out() and stream_eof().
 *
 * The default timeout is 300 s per wait; stream_set_timeout() changes it.
 * A read that must wait for the peer first flushes pending output (the
 * peer must have our question before we wait for its answer); while input
 * is buffered, output stays buffered, so pipelined replies leave together.
 * Reads and writes fail independently: after a read timeout the stream
 * can still write "421 ... timeout" before the caller hangs up.
 *
 * The bytes move through two functions (read_fn/write_fn with a context
 * pointer), so TLS can later replace plain read/write without the callers
 * noticing. Writes use send(MSG_NOSIGNAL) on sockets; a process writing to
 * pipes should ignore SIGPIPE.
 *
 * Typical SMTP server loop:
 *
 *   enum stream_line_end end;
 *   int r = stream_read_line(s, line, 998, &end);
 *   if (r <= 0) -> EOF/error/timeout (stream_timed_out(s) tells which)
 *   if (end == STREAM_LINE_TOO_LONG) {
 *       stream_skip_line(s);             // discard the rest, stay in sync
 *       reply "500 5.5.2 Line too long"
 *   }
 *   ...
 *   if (!stream_input_pending(s)) stream_flush(s);   // pipelining
 */
#ifndef POSTEL_UTIL_STREAM_H
#define POSTEL_UTIL_STREAM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/util/buf.h"

struct stream;

/* stream_open flags */
#define STREAM_NOCLOSE 0x1 /* stream_free/stream_close leave the fd open */

#define STREAM_BUFSIZE 8192 /* input and output buffer size */

/*
 * I/O functions. read_fn reads up to len bytes, write_fn writes up to len
 * bytes (a short write is fine). Both wait at most timeout_ms milliseconds
 * (-1: no limit) for the fd to become ready. They return the byte count,
 * 0 for end of file (read only), or -1 with errno set: ETIMEDOUT when the
 * wait timed out, anything else is an error.
 */
typedef ssize_t (*stream_read_fn)(int fd, void *data, size_t len, int timeout_ms, void *ctx);
typedef ssize_t (*stream_write_fn)(int fd, const void *data, size_t len, int timeout_ms,
                                   void *ctx);
/* Optional: true when the I/O layer holds input of its own (TLS records). */
typedef bool (*stream_pending_fn)(void *ctx);

/* How stream_read_line's line ended. */
enum stream_line_end {
    STREAM_LINE_CRLF,     /* ended with CR LF (both removed) */
    STREAM_LINE_LF,       /* ended with a bare LF (removed) */
    STREAM_LINE_TOO_LONG, /* max bytes returned; the rest of the line is still unread */
    STREAM_LINE_EOF,      /* end of file before any LF: a partial last line */
};

struct stream *stream_open(int fd, int flags);
void stream_free(struct stream **sp);
int stream_close(struct stream **sp, const char **why_r);

int stream_fd(const struct stream *s);
void stream_set_timeout(struct stream *s, int timeout_ms);
int stream_get_timeout(const struct stream *s);
void stream_set_deadline(struct stream *s, long long ms_from_now);
void stream_clear_deadline(struct stream *s);
void stream_set_io(struct stream *s, stream_read_fn read_fn, stream_write_fn write_fn,
                   void *ctx);
void stream_set_pending_fn(struct stream *s, stream_pending_fn pending_fn);

/* Input. */
int stream_read_line(struct stream *s, struct buf *line, size_t max,
                     enum stream_line_end *end_r);
int stream_skip_line(struct stream *s);
int stream_read(struct stream *s, void *data, size_t len);
int stream_read_buf(struct stream *s, struct buf *b, size_t len);
ssize_t stream_read_some(struct stream *s, void *data, size_t len);
int stream_getc(struct stream *s);
bool stream_input_pending(const struct stream *s);
size_t stream_discard_input(struct stream *s);

/* Output. */
int stream_write(struct stream *s, const void *data, size_t len);
int stream_puts(struct stream *s, const char *str);
int stream_printf(struct stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int stream_vprintf(struct stream *s, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
int stream_flush(struct stream *s);
size_t stream_output_pending(const struct stream *s);

/* State. */
bool stream_error(const struct stream *s);
bool stream_timed_out(const struct stream *s);
bool stream_eof(const struct stream *s);
int stream_errno(const struct stream *s);
const char *stream_strerror(const struct stream *s);
void stream_clear_error(struct stream *s);
unsigned long long stream_bytes_in(const struct stream *s);
unsigned long long stream_bytes_out(const struct stream *s);

/* The default plain-fd I/O functions and the wait they use (TLS reuses it). */
ssize_t stream_fd_read(int fd, void *data, size_t len, int timeout_ms, void *ctx);
ssize_t stream_fd_write(int fd, const void *data, size_t len, int timeout_ms, void *ctx);
int stream_fd_wait(int fd, short events, int timeout_ms);

#endif
