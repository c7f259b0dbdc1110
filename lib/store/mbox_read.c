/*
 * mbox_read - splitting an mbox into messages and undoing mboxrd quoting,
 * for the POP3 and IMAP servers (rules in mbox.h).
 *
 * Owns struct mbox_scan: a byte-at-a-time state machine over the file that
 * records one struct mbox_span per message, with a fast path that skips to
 * the next LF inside ordinary lines. Any split of the input gives the same
 * spans.
 *
 * Security: memory is bounded by the number of messages (24 bytes each),
 * never by line or message length; mbox_read_message refuses a message
 * larger than the caller's bound.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "lib/store/mbox.h"
#include "lib/util/mem.h"

#define MBOX_FROM "From "
#define MBOX_FROM_LEN 5

struct mbox_scan {
    off_t offset;     /* bytes consumed */
    off_t line_start; /* offset of the current line */
    int prev_empty;   /* the line before the current one was empty */
    int candidate;    /* the current line may still be a From line */
    int nfrom;        /* bytes of "From " matched on it */
    int in_from_line; /* between a From line's start and its LF */
    int failed;       /* not an mbox; every later call fails */
    struct mbox_span *spans;
    size_t count;
    size_t size;
};

/* Create an empty scanner. */
struct mbox_scan *mbox_scan_create(void)
{
    struct mbox_scan *scan = mem_alloc(sizeof(*scan));

    scan->candidate = 1;
    return scan;
}

/* Destroy a scanner and clear the pointer. */
void mbox_scan_free(struct mbox_scan **scanp)
{
    if (*scanp == NULL)
        return;
    mem_free((*scanp)->spans);
    MEM_FREE(scanp);
}

/* A From line starts at line_start: end the previous message, start a new one. */
static void mbox_scan_new_message(struct mbox_scan *scan)
{
    struct mbox_span *span;

    if (scan->count > 0)
        scan->spans[scan->count - 1].end_offset = scan->line_start - 1; /* before the empty line */
    if (scan->count == scan->size) {
        scan->size = scan->size ? scan->size * 2 : 64;
        scan->spans = mem_realloc_array(scan->spans, scan->size, sizeof(*scan->spans));
    }
    span = &scan->spans[scan->count++];
    span->from_offset = scan->line_start;
    span->body_offset = -1;
    span->end_offset = -1;
    scan->in_from_line = 1;
}

/* Consume len bytes of the mbox. */
int mbox_scan_feed(struct mbox_scan *scan, const char *data, size_t len, const char **why_r)
{
    const char *end = data + len, *nl;
    char c;

    if (scan->failed) {
        *why_r = "not an mbox file: it does not begin with a \"From \" line";
        return -1;
    }
    while (data < end) {
        if (scan->offset != scan->line_start && !scan->candidate) {
            /* Inside an ordinary line: only the LF matters. */
            if ((nl = memchr(data, '\n', (size_t)(end - data))) == NULL) {
                scan->offset += end - data;
                return 0;
            }
            scan->offset += nl - data;
            data = nl;
        }
        c = *data++;
        if (scan->offset == scan->line_start) {
            scan->candidate = (scan->line_start == 0 || scan->prev_empty);
            scan->nfrom = 0;
        }
        if (scan->candidate) {
            if (c == MBOX_FROM[scan->nfrom]) {
                if (++scan->nfrom == MBOX_FROM_LEN) {
                    scan->candidate = 0;
                    mbox_scan_new_message(scan);
                }
            } else {
                scan->candidate = 0;
                if (scan->line_start == 0) {
                    scan->failed = 1;
                    *why_r = "not an mbox file: it does not begin with a \"From \" line";
                    return -1;
                }
            }
        }
        if (c == '\n') {
            if (scan->in_from_line) {
                scan->spans[scan->count - 1].body_offset = scan->offset + 1;
                scan->in_from_line = 0;
            }
            scan->prev_empty = (scan->offset == scan->line_start);
            scan->line_start = scan->offset + 1;
        }
        scan->offset++;
    }
    return 0;
}

/* End of the mbox: close the last message. */
int mbox_scan_end(struct mbox_scan *scan, const char **why_r)
{
    struct mbox_span *last;

    if (scan->failed || (scan->offset > 0 && scan->count == 0)) {
        scan->failed = 1;
        *why_r = "not an mbox file: it does not begin with a \"From \" line";
        return -1;
    }
    if (scan->count == 0)
        return 0;
    last = &scan->spans[scan->count - 1];
    if (scan->in_from_line) {
        /* A From line cut short by the end of the file: an empty message. */
        last->body_offset = scan->offset;
        scan->in_from_line = 0;
    }
    last->end_offset = scan->offset;
    /* The empty line a writer puts after each message is not part of it. */
    if (scan->offset == scan->line_start && scan->prev_empty &&
        scan->offset - 1 >= last->body_offset)
        last->end_offset = scan->offset - 1;
    return 0;
}

/* Messages found so far (complete after mbox_scan_end). */
size_t mbox_scan_count(const struct mbox_scan *scan)
{
    return scan->count;
}

/* The index-th message, or NULL. */
const struct mbox_span *mbox_scan_get(const struct mbox_scan *scan, size_t index)
{
    return index < scan->count ? &scan->spans[index] : NULL;
}

/* Scan the whole file fd (from offset 0) into a new scanner. */
int mbox_scan_fd(int fd, struct mbox_scan **scan_r, struct store_err *err_r)
{
    struct mbox_scan *scan = mbox_scan_create();
    char *data = mem_alloc(65536);
    const char *why = NULL;
    off_t offset = 0;
    ssize_t n;
    int ret = 0;

    for (;;) {
        n = pread(fd, data, 65536, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ret = store_err_errno(err_r, errno, "read mailbox at offset %lld", (long long)offset);
            break;
        }
        if (n == 0) {
            if (mbox_scan_end(scan, &why) < 0)
                ret = store_err_set(err_r, 0, "5.2.0", "%s", why);
            break;
        }
        if (mbox_scan_feed(scan, data, (size_t)n, &why) < 0) {
            ret = store_err_set(err_r, 0, "5.2.0", "%s", why);
            break;
        }
        offset += n;
    }
    mem_free(data);
    if (ret < 0)
        mbox_scan_free(&scan);
    *scan_r = scan;
    return ret;
}

/* Start undoing quoting at the beginning of a message. */
void mbox_unquote_init(struct mbox_unquote *uq)
{
    uq->at_bol = 1;
    uq->gt = 0;
    uq->nfrom = 0;
}

/* Emit n copies of '>'. */
static void mbox_unquote_gts(struct buf *out, size_t n)
{
    while (n-- > 0)
        buf_putc(out, '>');
}

/* Append data to out with one '>' removed from each ^>+From  line. */
void mbox_unquote_feed(struct mbox_unquote *uq, struct buf *out, const char *data, size_t len)
{
    const char *end = data + len, *nl;
    char c;

    while (data < end) {
        if (!uq->at_bol) {
            nl = memchr(data, '\n', (size_t)(end - data));
            if (nl == NULL) {
                buf_append(out, data, (size_t)(end - data));
                return;
            }
            buf_append(out, data, (size_t)(nl + 1 - data));
            data = nl + 1;
            uq->at_bol = 1;
            uq->gt = 0;
            uq->nfrom = 0;
            continue;
        }
        c = *data++;
        if (uq->nfrom == 0 && c == '>') {
            uq->gt++;
            continue;
        }
        if (c == MBOX_FROM[uq->nfrom]) {
            if (++uq->nfrom == MBOX_FROM_LEN) {
                mbox_unquote_gts(out, uq->gt > 0 ? uq->gt - 1 : 0);
                buf_append(out, MBOX_FROM, MBOX_FROM_LEN);
                uq->at_bol = 0;
            }
            continue;
        }
        /* Not a quoted From line: give back what was held. */
        mbox_unquote_gts(out, uq->gt);
        buf_append(out, MBOX_FROM, (size_t)uq->nfrom);
        buf_putc(out, c);
        uq->at_bol = 0;
        if (c == '\n') {
            uq->at_bol = 1;
            uq->gt = 0;
            uq->nfrom = 0;
        }
    }
}

/* End of the message: give back a held line start. */
void mbox_unquote_end(struct mbox_unquote *uq, struct buf *out)
{
    if (uq->at_bol) {
        mbox_unquote_gts(out, uq->gt);
        buf_append(out, MBOX_FROM, (size_t)uq->nfrom);
    }
    mbox_unquote_init(uq);
}

/* Read the message span from fd into out (replacing it), unquoted; at most max bytes. */
int mbox_read_message(int fd, const struct mbox_span *span, size_t max, struct buf *out,
                      struct store_err *err_r)
{
    struct mbox_unquote uq;
    char *data;
    off_t pos = span->body_offset, len = span->end_offset - span->body_offset;
    size_t want;
    ssize_t n;
    int ret = 0;

    buf_reset(out);
    if (span->body_offset < 0 || len < 0)
        return store_err_set(err_r, 0, "5.3.0", "invalid mbox message span");
    if ((unsigned long long)len > max)
        return store_err_set(err_r, 0, "5.3.0",
                             "mbox message at offset %lld is too large (%lld bytes)",
                             (long long)span->from_offset, (long long)len);
    mbox_unquote_init(&uq);
    data = mem_alloc(65536);
    while (pos < span->end_offset) {
        want = (size_t)(span->end_offset - pos < 65536 ? span->end_offset - pos : 65536);
        n = pread(fd, data, want, pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ret = store_err_errno(err_r, errno, "read mailbox at offset %lld", (long long)pos);
            break;
        }
        if (n == 0) {
            ret = store_err_set(err_r, 1, "4.2.0", "mailbox shrank: end of file at offset %lld",
                                (long long)pos);
            break;
        }
        mbox_unquote_feed(&uq, out, data, (size_t)n);
        pos += n;
    }
    mbox_unquote_end(&uq, out);
    mem_free(data);
    return ret;
}
