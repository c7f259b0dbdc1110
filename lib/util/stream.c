/*
 * stream - buffered I/O on a file descriptor with timeouts.
 *
 * Owns: the stream's input and output buffers and, unless STREAM_NOCLOSE,
 * the file descriptor.
 *
 * Security notes: everything read from the peer is bounded. A line is never
 * longer than the caller's max (the rest of an over-long line stays unread
 * until the caller reads or skips it), the buffers have a fixed size, and
 * every wait is bounded by the timeout and the optional deadline, so a
 * silent or slow-dripping peer cannot hold a process forever. Writes to
 * sockets use MSG_NOSIGNAL so a vanished peer is an error, not a SIGPIPE.
 *
 * Reading when the input buffer is empty flushes pending output first: a
 * process waiting for an answer must have sent its question. While input
 * is still buffered (a pipelining client) output is not flushed, so the
 * replies to a pipelined group leave in one packet.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/util/clock.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"

#define STREAM_DEFAULT_TIMEOUT_MS 300000

struct stream {
    int fd;
    int flags;
    char *ibuf;  /* STREAM_BUFSIZE bytes */
    size_t ipos; /* next unread byte */
    size_t iend; /* end of buffered input */
    char *obuf;  /* STREAM_BUFSIZE bytes */
    size_t olen; /* buffered output */
    int timeout_ms;
    bool has_deadline;
    long long deadline_ms; /* monotonic */
    stream_read_fn read_fn;
    stream_write_fn write_fn;
    stream_pending_fn pending_fn;
    void *ctx;
    bool eof;
    /* Read and write failures are kept apart: after a read timeout a
     * server still writes "421 timeout" before it hangs up. */
    bool rd_timed_out;
    bool wr_timed_out;
    int rd_err; /* errno of the first read error, 0 if none */
    int wr_err; /* errno of the first write error, 0 if none */
    unsigned long long bytes_in;
    unsigned long long bytes_out;
};

/* Wait until fd is ready for events; 1 ready, 0 timed out, -1 error. */
int stream_fd_wait(int fd, short events, int timeout_ms)
{
    long long deadline = timeout_ms >= 0 ? clock_now_ms() + timeout_ms : 0;
    struct pollfd pfd;
    int wait_ms = timeout_ms;

    for (;;) {
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        int n = poll(&pfd, 1, wait_ms);

        if (n > 0) {
            if (pfd.revents & POLLNVAL) {
                errno = EBADF;
                return -1;
            }
            /* POLLHUP/POLLERR: the read or write itself reports what happened. */
            return 1;
        }
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
        /* A signal must not stretch the wait beyond the original timeout. */
        if (timeout_ms >= 0)
            wait_ms = (int)clock_remaining_ms(deadline);
    }
}

/* Read up to len bytes from a plain fd, waiting at most timeout_ms. */
ssize_t stream_fd_read(int fd, void *data, size_t len, int timeout_ms, void *ctx)
{
    for (;;) {
        int w = stream_fd_wait(fd, POLLIN, timeout_ms);
        ssize_t n;

        if (w < 0)
            return -1;
        if (w == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        n = read(fd, data, len);
        if (n >= 0)
            return n;
        /* Spurious readiness on a non-blocking fd, or a signal: wait again. */
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
    }
}

/* Write up to len bytes to a plain fd, waiting at most timeout_ms. */
ssize_t stream_fd_write(int fd, const void *data, size_t len, int timeout_ms, void *ctx)
{
    for (;;) {
        int w = stream_fd_wait(fd, POLLOUT, timeout_ms);
        ssize_t n;

        if (w < 0)
            return -1;
        if (w == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        /*
         * send() with MSG_DONTWAIT never blocks past the poll, even on a
         * blocking socket, and MSG_NOSIGNAL turns SIGPIPE into EPIPE. A
         * pipe or file falls back to write().
         */
        n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, data, len);
        if (n >= 0)
            return n;
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
    }
}

/* Wrap fd in a new stream with the default timeout (300 s). */
struct stream *stream_open(int fd, int flags)
{
    struct stream *s = mem_alloc(sizeof(*s));

    if (fd < 0)
        msg_panic("stream_open: bad fd %d", fd);
    s->fd = fd;
    s->flags = flags;
    s->ibuf = mem_alloc(STREAM_BUFSIZE);
    s->obuf = mem_alloc(STREAM_BUFSIZE);
    s->timeout_ms = STREAM_DEFAULT_TIMEOUT_MS;
    s->read_fn = stream_fd_read;
    s->write_fn = stream_fd_write;
    return s;
}

/* Free the stream without flushing; closes the fd unless STREAM_NOCLOSE. */
void stream_free(struct stream **sp)
{
    struct stream *s = *sp;

    if (s == NULL)
        return;
    if (!(s->flags & STREAM_NOCLOSE))
        (void)close(s->fd);
    mem_free(s->ibuf);
    mem_free(s->obuf);
    mem_free(s);
    *sp = NULL;
}

/* Flush, close and free; -1 with the reason if any output was lost. */
int stream_close(struct stream **sp, const char **why_r)
{
    struct stream *s = *sp;
    int ret = 0;

    if (s == NULL)
        return 0;
    if (stream_flush(s) < 0) {
        *why_r = stream_strerror(s);
        ret = -1;
    }
    if (!(s->flags & STREAM_NOCLOSE)) {
        if (close(s->fd) < 0 && ret == 0) {
            *why_r = strerror(errno);
            ret = -1;
        }
        s->flags |= STREAM_NOCLOSE;
    }
    stream_free(sp);
    return ret;
}

/* The underlying file descriptor. */
int stream_fd(const struct stream *s)
{
    return s->fd;
}

/* Bound each wait for the fd to timeout_ms milliseconds (<0: no limit). */
void stream_set_timeout(struct stream *s, int timeout_ms)
{
    s->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
}

/* The per-wait timeout in milliseconds, -1 for none. */
int stream_get_timeout(const struct stream *s)
{
    return s->timeout_ms;
}

/* Also end every wait at an absolute time ms_from_now from now. */
void stream_set_deadline(struct stream *s, long long ms_from_now)
{
    s->has_deadline = true;
    s->deadline_ms = clock_now_ms() + (ms_from_now > 0 ? ms_from_now : 0);
}

/* Remove the absolute deadline. */
void stream_clear_deadline(struct stream *s)
{
    s->has_deadline = false;
}

/* Replace the I/O functions (e.g. with TLS); NULL restores the plain fd ones. */
void stream_set_io(struct stream *s, stream_read_fn read_fn, stream_write_fn write_fn,
                   void *ctx)
{
    s->read_fn = read_fn ? read_fn : stream_fd_read;
    s->write_fn = write_fn ? write_fn : stream_fd_write;
    s->ctx = ctx;
}

/* Tell the stream how to ask the I/O layer about input it holds. */
void stream_set_pending_fn(struct stream *s, stream_pending_fn pending_fn)
{
    s->pending_fn = pending_fn;
}

/* The wait limit for the next I/O call: timeout and deadline combined. */
static int stream_wait_ms(const struct stream *s)
{
    long long t = s->timeout_ms;

    if (s->has_deadline) {
        long long left = clock_remaining_ms(s->deadline_ms);

        if (t < 0 || left < t)
            t = left;
    }
    return t > INT_MAX ? INT_MAX : (int)t;
}

/* Record a failed read in the sticky state. */
static void stream_set_rd_failed(struct stream *s, int err)
{
    if (err == ETIMEDOUT)
        s->rd_timed_out = true;
    else if (s->rd_err == 0)
        s->rd_err = err ? err : EIO;
}

/* Record a failed write in the sticky state. */
static void stream_set_wr_failed(struct stream *s, int err)
{
    if (err == ETIMEDOUT)
        s->wr_timed_out = true;
    else if (s->wr_err == 0)
        s->wr_err = err ? err : EIO;
}

/* True when a read error or timeout stops further input. */
static bool stream_rd_broken(const struct stream *s)
{
    return s->rd_err != 0 || s->rd_timed_out;
}

/* True when a write error or timeout stops further output. */
static bool stream_wr_broken(const struct stream *s)
{
    return s->wr_err != 0 || s->wr_timed_out;
}

/* Read more input into the buffer; 1 got bytes, 0 EOF, -1 error/timeout. */
static int stream_fill(struct stream *s)
{
    ssize_t n;

    if (stream_rd_broken(s))
        return -1;
    if (s->eof)
        return 0;
    if (s->ipos > 0) {
        memmove(s->ibuf, s->ibuf + s->ipos, s->iend - s->ipos);
        s->iend -= s->ipos;
        s->ipos = 0;
    }
    if (s->iend == STREAM_BUFSIZE)
        msg_panic("stream_fill: input buffer full");
    /* About to wait for the peer: it must have our last words first. */
    if (s->iend == 0 && s->olen > 0 && stream_flush(s) < 0)
        return -1;
    n = s->read_fn(s->fd, s->ibuf + s->iend, STREAM_BUFSIZE - s->iend, stream_wait_ms(s),
                   s->ctx);
    if (n < 0) {
        stream_set_rd_failed(s, errno);
        return -1;
    }
    if (n == 0) {
        s->eof = true;
        return 0;
    }
    s->iend += (size_t)n;
    s->bytes_in += (unsigned long long)n;
    return 1;
}

/* Finish a line whose LF was consumed: strip CR and say how it ended. */
static int stream_line_done(struct buf *line, enum stream_line_end *end_r)
{
    if (line->len > 0 && line->data[line->len - 1] == '\r') {
        buf_truncate(line, line->len - 1);
        *end_r = STREAM_LINE_CRLF;
    } else {
        *end_r = STREAM_LINE_LF;
    }
    return 1;
}

/*
 * Read one line of at most max bytes (without its CRLF or LF) into line.
 * Returns 1 with *end_r saying how the line ended, 0 at EOF with nothing
 * read, -1 on error or timeout. With STREAM_LINE_TOO_LONG, line holds the
 * first max bytes and the rest of the line is still unread.
 */
int stream_read_line(struct stream *s, struct buf *line, size_t max,
                     enum stream_line_end *end_r)
{
    if (max == 0)
        msg_panic("stream_read_line: max is 0");
    buf_reset(line);
    if (stream_rd_broken(s))
        return -1;
    for (;;) {
        size_t avail = s->iend - s->ipos;
        const char *p = s->ibuf + s->ipos;
        int r;

        if (avail == 0) {
            r = stream_fill(s);
            if (r < 0)
                return -1;
            if (r == 0) {
                if (line->len == 0)
                    return 0;
                *end_r = STREAM_LINE_EOF;
                return 1;
            }
            continue;
        }
        if (line->len < max) {
            size_t room = max - line->len;
            size_t n = avail < room ? avail : room;
            const char *nl = memchr(p, '\n', n);

            if (nl != NULL) {
                size_t k = (size_t)(nl - p);

                buf_append(line, p, k);
                s->ipos += k + 1;
                return stream_line_done(line, end_r);
            }
            buf_append(line, p, n);
            s->ipos += n;
            continue;
        }
        /* The line holds max bytes: the next byte or two decide its fate. */
        if (p[0] == '\n') {
            s->ipos++;
            return stream_line_done(line, end_r);
        }
        if (p[0] == '\r') {
            if (avail < 2) {
                r = stream_fill(s);
                if (r < 0)
                    return -1;
                if (r > 0)
                    continue;
                /* EOF after the CR: the CR starts the next (partial) piece. */
            } else if (p[1] == '\n') {
                s->ipos += 2;
                *end_r = STREAM_LINE_CRLF;
                return 1;
            }
        }
        *end_r = STREAM_LINE_TOO_LONG;
        return 1;
    }
}

/* Discard input up to and including the next LF; 1 done, 0 EOF, -1 error. */
int stream_skip_line(struct stream *s)
{
    if (stream_rd_broken(s))
        return -1;
    for (;;) {
        size_t avail = s->iend - s->ipos;
        const char *nl;
        int r;

        if (avail == 0) {
            r = stream_fill(s);
            if (r <= 0)
                return r;
            continue;
        }
        nl = memchr(s->ibuf + s->ipos, '\n', avail);
        if (nl != NULL) {
            s->ipos = (size_t)(nl - s->ibuf) + 1;
            return 1;
        }
        s->ipos = s->iend;
    }
}

/* Read up to len bytes (at least one); count, 0 at EOF, -1 error/timeout. */
ssize_t stream_read_some(struct stream *s, void *data, size_t len)
{
    size_t avail;

    if (len == 0)
        return 0;
    if (stream_rd_broken(s))
        return -1;
    if (s->iend == s->ipos) {
        int r = stream_fill(s);

        if (r <= 0)
            return r;
    }
    avail = s->iend - s->ipos;
    if (len > avail)
        len = avail;
    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    memcpy(data, s->ibuf + s->ipos, len);
    s->ipos += len;
    return (ssize_t)len;
}

/*
 * Read exactly len bytes. 1 when all arrived, 0 when EOF came first (the
 * bytes before it are consumed), -1 on error or timeout.
 */
int stream_read(struct stream *s, void *data, size_t len)
{
    char *out = data;

    while (len > 0) {
        ssize_t n;

        /* Big reads with an empty buffer skip the copy through it. */
        if (s->iend == s->ipos && len >= STREAM_BUFSIZE && !stream_rd_broken(s) && !s->eof) {
            if (s->olen > 0 && stream_flush(s) < 0)
                return -1;
            n = s->read_fn(s->fd, out, len > SSIZE_MAX ? SSIZE_MAX : len, stream_wait_ms(s),
                           s->ctx);
            if (n < 0) {
                stream_set_rd_failed(s, errno);
                return -1;
            }
            if (n == 0)
                s->eof = true;
            else
                s->bytes_in += (unsigned long long)n;
        } else {
            n = stream_read_some(s, out, len);
            if (n < 0)
                return -1;
        }
        if (n == 0)
            return 0;
        out += n;
        len -= (size_t)n;
    }
    return 1;
}

/* Append exactly len bytes to b; results as stream_read. */
int stream_read_buf(struct stream *s, struct buf *b, size_t len)
{
    size_t old = b->len;
    int r;

    buf_reserve(b, len);
    r = stream_read(s, b->data + b->len, len);
    if (r == 1) {
        b->len += len;
        b->data[b->len] = '\0';
    } else {
        buf_truncate(b, old);
        b->data[b->len] = '\0';
    }
    return r;
}

/* Read one byte: 0..255, or -1 at EOF, error or timeout. */
int stream_getc(struct stream *s)
{
    unsigned char c;

    if (stream_read_some(s, &c, 1) != 1)
        return -1;
    return c;
}

/* True when input is already buffered (no wait needed to read it). */
bool stream_input_pending(const struct stream *s)
{
    if (s->iend > s->ipos)
        return true;
    return s->pending_fn != NULL && s->pending_fn(s->ctx);
}

/* Drop buffered input (e.g. plaintext sent ahead of STARTTLS); bytes dropped. */
size_t stream_discard_input(struct stream *s)
{
    size_t n = s->iend - s->ipos;

    s->ipos = s->iend = 0;
    return n;
}

/* Write out all buffered output; 0 ok, -1 error or timeout. */
int stream_flush(struct stream *s)
{
    size_t done = 0;

    if (stream_wr_broken(s))
        return -1;
    while (done < s->olen) {
        ssize_t n = s->write_fn(s->fd, s->obuf + done, s->olen - done, stream_wait_ms(s), s->ctx);

        if (n <= 0) {
            stream_set_wr_failed(s, n < 0 ? errno : EIO);
            /* Keep the unsent rest so stream_output_pending() stays honest. */
            memmove(s->obuf, s->obuf + done, s->olen - done);
            s->olen -= done;
            return -1;
        }
        done += (size_t)n;
        s->bytes_out += (unsigned long long)n;
    }
    s->olen = 0;
    return 0;
}

/* Write data straight to the fd, bypassing the buffer (which must be empty). */
static int stream_write_direct(struct stream *s, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = s->write_fn(s->fd, data, len > SSIZE_MAX ? SSIZE_MAX : len,
                                stream_wait_ms(s), s->ctx);

        if (n <= 0) {
            stream_set_wr_failed(s, n < 0 ? errno : EIO);
            return -1;
        }
        data += n;
        len -= (size_t)n;
        s->bytes_out += (unsigned long long)n;
    }
    return 0;
}

/* Buffer len bytes for output, flushing as the buffer fills; 0 or -1. */
int stream_write(struct stream *s, const void *data, size_t len)
{
    const char *p = data;

    if (stream_wr_broken(s))
        return -1;
    if (len <= STREAM_BUFSIZE - s->olen) {
        memcpy(s->obuf + s->olen, p, len);
        s->olen += len;
        return 0;
    }
    /* Top up the buffer, send it, then send or buffer the rest. */
    size_t n = STREAM_BUFSIZE - s->olen;

    memcpy(s->obuf + s->olen, p, n);
    s->olen += n;
    p += n;
    len -= n;
    if (stream_flush(s) < 0)
        return -1;
    if (len >= STREAM_BUFSIZE)
        return stream_write_direct(s, p, len);
    memcpy(s->obuf, p, len);
    s->olen = len;
    return 0;
}

/* Buffer a C string for output. */
int stream_puts(struct stream *s, const char *str)
{
    return stream_write(s, str, strlen(str));
}

/* Buffer formatted output. */
int stream_vprintf(struct stream *s, const char *fmt, va_list ap)
{
    size_t room = STREAM_BUFSIZE - s->olen;
    va_list ap2;
    int n;

    if (stream_wr_broken(s))
        return -1;
    va_copy(ap2, ap);
    n = vsnprintf(s->obuf + s->olen, room, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        msg_panic("stream_vprintf: bad format \"%s\"", fmt);
    if ((size_t)n < room) {
        s->olen += (size_t)n;
        return 0;
    }
    /* Did not fit: format into a scratch buffer and write that. */
    struct buf *tmp = buf_create((size_t)n);
    int ret;

    buf_vprintf(tmp, fmt, ap);
    ret = stream_write(s, buf_str(tmp), buf_len(tmp));
    buf_free(&tmp);
    return ret;
}

/* Buffer formatted output. */
int stream_printf(struct stream *s, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = stream_vprintf(s, fmt, ap);
    va_end(ap);
    return ret;
}

/* Bytes buffered for output and not yet written. */
size_t stream_output_pending(const struct stream *s)
{
    return s->olen;
}

/* True after an I/O error other than a timeout, in either direction. */
bool stream_error(const struct stream *s)
{
    return s->rd_err != 0 || s->wr_err != 0;
}

/* True after a read or write wait ran into the timeout or deadline. */
bool stream_timed_out(const struct stream *s)
{
    return s->rd_timed_out || s->wr_timed_out;
}

/* True once the peer closed its side (buffered input may remain). */
bool stream_eof(const struct stream *s)
{
    return s->eof;
}

/* The errno of the first error, ETIMEDOUT after a timeout, 0 if none. */
int stream_errno(const struct stream *s)
{
    if (s->rd_err)
        return s->rd_err;
    if (s->wr_err)
        return s->wr_err;
    return stream_timed_out(s) ? ETIMEDOUT : 0;
}

/* Text for the stream's state, for log lines. */
const char *stream_strerror(const struct stream *s)
{
    if (stream_timed_out(s))
        return "timeout";
    if (s->rd_err || s->wr_err)
        return strerror(stream_errno(s));
    if (s->eof)
        return "lost connection";
    return "no error";
}

/* Forget error, timeout and EOF state (e.g. after raising the deadline). */
void stream_clear_error(struct stream *s)
{
    s->rd_err = s->wr_err = 0;
    s->rd_timed_out = s->wr_timed_out = false;
    s->eof = false;
}

/* Bytes read from the fd so far. */
unsigned long long stream_bytes_in(const struct stream *s)
{
    return s->bytes_in;
}

/* Bytes written to the fd so far. */
unsigned long long stream_bytes_out(const struct stream *s)
{
    return s->bytes_out;
}
