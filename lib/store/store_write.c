/*
 * store_write - buffered, filtered output into a mailbox file or a buffer.
 *
 * Owns one output buffer of STORE_WRITE_BUFSIZE bytes and the state of the
 * two filters (mboxrd quoting and CR LF to LF), which both survive any split
 * of the input into pieces. The byte limit (mailbox_size_limit minus what
 * the mailbox already holds) is checked before bytes are accepted, so an
 * over-size message never reaches the file past the limit.
 *
 * Security: bounded memory whatever the input; a run of '>' at the start of
 * a line is kept as a count, not as bytes.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "lib/store/store_write.h"
#include "lib/util/mem.h"
#include "lib/util/safe_file.h"

static const char store_from[] = "From ";
#define STORE_FROM_LEN 5

struct store_write {
    int fd;          /* destination file, or -1 */
    struct buf *out; /* destination buffer when fd is -1 */
    int flags;       /* STORE_WRITE_* */
    off_t limit;     /* maximal bytes accepted, 0 = none */
    off_t size;      /* bytes accepted so far */
    off_t lf_count;  /* LF bytes not preceded by CR (for the CR LF size) */
    int last;        /* last byte accepted, -1 before the first */
    int error;       /* errno of the first write failure, 0 if none */
    int over_limit;  /* the limit would have been passed */
    /* mboxrd quoting state */
    int at_bol; /* inside the leading ">*From " part of a line */
    size_t gt;  /* '>' seen at the start of this line */
    int nfrom;  /* bytes of "From " matched after them */
    /* CR LF state */
    int pending_cr; /* a CR waits to see whether LF follows */
    size_t len;     /* bytes in buf */
    char buf[STORE_WRITE_BUFSIZE];
};

/* Create a writer into fd (or into out when fd is -1) with at most limit bytes. */
struct store_write *store_write_create(int fd, struct buf *out, int flags, off_t limit)
{
    struct store_write *w = mem_alloc(sizeof(*w));

    w->fd = fd;
    w->out = out;
    w->flags = flags;
    w->limit = limit;
    w->last = -1;
    w->at_bol = 1;
    return w;
}

/* Destroy a writer (unflushed bytes are dropped) and clear the pointer. */
void store_write_free(struct store_write **wp)
{
    MEM_FREE(wp);
}

/* Write the buffer out; on failure remember errno. */
static void store_write_drain(struct store_write *w)
{
    if (w->fd < 0)
        buf_append(w->out, w->buf, w->len);
    else if (w->error == 0 && safe_write_all(w->fd, w->buf, w->len) < 0)
        w->error = errno;
    w->len = 0;
}

/* Accept len bytes for output: check the limit, count, buffer. */
static void store_write_emit(struct store_write *w, const char *data, size_t len)
{
    const char *p, *end = data + len;
    size_t chunk;

    if (w->error || w->over_limit || len == 0)
        return;
    if (w->limit > 0 && (off_t)len > w->limit - w->size) {
        w->over_limit = 1;
        return;
    }
    /* Count bare LFs: the size of the message with CR LF line ends. */
    for (p = data; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        if ((p == data ? w->last : p[-1]) != '\r')
            w->lf_count++;
    w->size += (off_t)len;
    w->last = (unsigned char)data[len - 1];
    while (len > 0) {
        if (w->len == sizeof(w->buf))
            store_write_drain(w);
        chunk = sizeof(w->buf) - w->len;
        if (chunk > len)
            chunk = len;
        memcpy(w->buf + w->len, data, chunk);
        w->len += chunk;
        data += chunk;
        len -= chunk;
    }
}

/* Emit n copies of '>'. */
static void store_write_gts(struct store_write *w, size_t n)
{
    static const char gts[64] = ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>";
    size_t chunk;

    while (n > 0) {
        chunk = n < sizeof(gts) ? n : sizeof(gts);
        store_write_emit(w, gts, chunk);
        n -= chunk;
    }
}

/* Give up on the line start held back so far: emit it as it was. */
static void store_write_release_prefix(struct store_write *w)
{
    store_write_gts(w, w->gt);
    store_write_emit(w, store_from, (size_t)w->nfrom);
    w->gt = 0;
    w->nfrom = 0;
    w->at_bol = 0;
}

/* Pass one byte (after CR LF handling) through the quoting filter. */
static void store_write_quote_byte(struct store_write *w, char c)
{
    if (w->at_bol) {
        if (w->nfrom == 0 && c == '>') {
            w->gt++;
            return;
        }
        if (c == store_from[w->nfrom]) {
            if (++w->nfrom == STORE_FROM_LEN) {
                /* ^>*From : one more '>' (mboxrd). */
                store_write_gts(w, w->gt + 1);
                store_write_emit(w, store_from, STORE_FROM_LEN);
                w->gt = 0;
                w->nfrom = 0;
                w->at_bol = 0;
            }
            return;
        }
        store_write_release_prefix(w);
    }
    store_write_emit(w, &c, 1);
    if (c == '\n')
        w->at_bol = 1;
}

/* Pass one byte (after CR LF handling) to the quoting filter if it is on. */
static void store_write_filtered(struct store_write *w, char c)
{
    if (w->flags & STORE_WRITE_QUOTE_FROM)
        store_write_quote_byte(w, c);
    else
        store_write_emit(w, &c, 1);
}

/* Pass one byte through the CR LF filter, then the quoting filter. */
static void store_write_byte(struct store_write *w, char c)
{
    if (w->flags & STORE_WRITE_CRLF_TO_LF) {
        if (w->pending_cr) {
            w->pending_cr = 0;
            if (c == '\n') {
                store_write_filtered(w, '\n');
                return;
            }
            store_write_filtered(w, '\r');
        }
        if (c == '\r') {
            w->pending_cr = 1;
            return;
        }
    }
    store_write_filtered(w, c);
}

/* Write message text through the filters. */
void store_write_text(struct store_write *w, const char *data, size_t len)
{
    const char *end = data + len, *nl;
    size_t run;

    while (data < end) {
        if (w->error || w->over_limit)
            return;
        /* Fast path: in the middle of a line, copy up to the next LF (or CR). */
        if (!w->pending_cr && (!(w->flags & STORE_WRITE_QUOTE_FROM) || !w->at_bol)) {
            nl = memchr(data, '\n', (size_t)(end - data));
            run = nl ? (size_t)(nl - data) : (size_t)(end - data);
            if (w->flags & STORE_WRITE_CRLF_TO_LF) {
                const char *cr = memchr(data, '\r', run);

                if (cr)
                    run = (size_t)(cr - data);
            }
            if (run > 0) {
                store_write_emit(w, data, run);
                data += run;
                continue;
            }
        }
        store_write_byte(w, *data++);
    }
}

/* Write bytes as they are (a From line): the filters see a line start after LF. */
void store_write_raw(struct store_write *w, const char *data, size_t len)
{
    store_write_end_text(w);
    store_write_emit(w, data, len);
    if (len > 0)
        w->at_bol = (data[len - 1] == '\n');
}

/* End of filtered text: emit whatever the filters hold back. */
void store_write_end_text(struct store_write *w)
{
    if (w->pending_cr) {
        w->pending_cr = 0;
        store_write_filtered(w, '\r');
    }
    if (w->at_bol && (w->gt > 0 || w->nfrom > 0))
        store_write_release_prefix(w);
    w->at_bol = (w->last == '\n' || w->last == -1);
}

/* Write out buffered bytes; report the first failure or the limit. */
int store_write_flush(struct store_write *w, struct store_err *err_r)
{
    if (w->len > 0 && w->error == 0)
        store_write_drain(w);
    if (w->over_limit)
        return store_err_set(err_r, 0, "5.2.2", "mailbox full: size limit %lld exceeded",
                             (long long)w->limit);
    if (w->error)
        return store_err_errno(err_r, w->error, "write");
    return 0;
}

/* Bytes accepted so far. */
off_t store_write_size(const struct store_write *w)
{
    return w->size;
}

/* LF bytes accepted that were not preceded by CR. */
off_t store_write_lf_count(const struct store_write *w)
{
    return w->lf_count;
}

/* The last byte accepted, or -1. */
int store_write_last(const struct store_write *w)
{
    return w->last;
}

/* errno of the first write failure, or 0. */
int store_write_errno(const struct store_write *w)
{
    return w->error;
}

/* True after a write error or when the limit was reached. */
bool store_write_failed(const struct store_write *w)
{
    return w->error != 0 || w->over_limit;
}
