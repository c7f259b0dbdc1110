/*
 * hdr - RFC 5322 header blocks: an incremental scanner that yields each
 * complete (possibly folded) header and finds where the body begins, a
 * list of collected headers with case-insensitive lookup, and helpers for
 * header names and unfolding.
 *
 * Input is the queue representation: LF-terminated lines (a CR before the
 * LF is tolerated and dropped). A folded header is kept as it was written,
 * its lines joined by "\n", without the final line end, so writing raw +
 * "\n" reproduces the input byte for byte (when it had no CRs).
 */
#ifndef POSTEL_PROTO_HDR_H
#define POSTEL_PROTO_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/util/buf.h"

#define HDR_SIZE_LIMIT 102400 /* default per-header limit (Postfix header_size_limit) */
#define HDR_NAME_MAX   997    /* longest field name we recognise */

/* One header. Pointers stay valid only during the callback (scanner). */
struct hdr_field {
    const char *raw;   /* whole header: name ":" value, lines joined by "\n" */
    size_t raw_len;
    const char *name;  /* field name as written (= raw), without WSP before ':' */
    size_t name_len;
    const char *value; /* after the ':' up to the end, folding kept */
    size_t value_len;
    size_t lines;      /* physical lines */
    bool truncated;    /* longer than the limit: the rest was dropped */
};

/* hdr_scan_feed() results. */
#define HDR_SCAN_MORE 0 /* still in the header block; all input taken */
#define HDR_SCAN_END  1 /* an empty line ended the headers; it was taken */
#define HDR_SCAN_BODY 2 /* a line that is no header started the body (see _body_prefix) */

typedef void (*hdr_scan_fn)(void *ctx, const struct hdr_field *field);

struct hdr_scan;

struct hdr_scan *hdr_scan_create(size_t limit, hdr_scan_fn fn, void *ctx);
void hdr_scan_free(struct hdr_scan **sp);
int hdr_scan_feed(struct hdr_scan *s, const char *in, size_t len, size_t *used_r);
int hdr_scan_finish(struct hdr_scan *s);
const char *hdr_scan_body_prefix(const struct hdr_scan *s, size_t *len_r);
size_t hdr_scan_truncated(const struct hdr_scan *s);

bool hdr_name_valid(const char *name, size_t len);
void hdr_unfold(struct buf *out, const char *value, size_t len, bool trim);

/* A list of headers that owns copies of them. */
struct hdr_list {
    struct hdr_field *fields;
    size_t count;
    size_t size;
};

struct hdr_list *hdr_list_create(void);
void hdr_list_free(struct hdr_list **lp);
void hdr_list_add(struct hdr_list *l, const struct hdr_field *field);
ssize_t hdr_list_find(const struct hdr_list *l, const char *name, size_t start);
int hdr_list_parse(struct hdr_list *l, const char *text, size_t len, size_t limit,
                   size_t *body_r);

#endif
