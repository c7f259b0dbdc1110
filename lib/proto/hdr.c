/*
 * hdr - scan an RFC 5322 header block incrementally; header lists and
 * helpers.
 *
 * The scanner is fed arbitrary pieces of the message (whole, line by line
 * or byte by byte: the result is the same) and calls back once per
 * complete header. A header is complete when the next line does not start
 * with white space. The header block ends at an empty line (HDR_SCAN_END),
 * or, as Postfix's cleanup does, at the first line that is not a header
 * and not a continuation (HDR_SCAN_BODY): that line is the body's first.
 * Its bytes already taken by the scanner (at most HDR_NAME_MAX of them) are
 * handed back through hdr_scan_body_prefix(), the rest stays in the input.
 *
 * A header line is "name:" or the obsolete "name WSP:" (RFC 5322 section
 * 4.5.8), with name of printable US-ASCII except ':'. A white-space line
 * before any header is not a continuation of anything: it starts the body.
 *
 * Security: the pending header is bounded by the caller's limit (header
 * bytes past it are dropped and the header is marked truncated, but the
 * scan goes on to the header's real end); the undecided start of a line is
 * bounded by HDR_NAME_MAX. Input may contain NUL and any byte.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "lib/proto/hdr.h"
#include "lib/util/mem.h"

enum hstate {
    H_LINE_START, /* at the start of a physical line */
    H_CR_START,   /* a CR at the start of a line */
    H_NAME,       /* reading what may be a field name */
    H_NAME_WSP,   /* white space after the name, before ':' */
    H_VALUE,      /* inside a header line, after "name:" */
    H_DONE,       /* the header block has ended */
};

struct hdr_scan {
    size_t limit;
    hdr_scan_fn fn;
    void *ctx;
    enum hstate state;
    struct buf *cur;  /* the pending header */
    size_t name_len;  /* its field name length */
    size_t value_off; /* where its value starts */
    size_t lines;     /* its physical lines */
    bool have;        /* cur holds a header */
    bool truncated;   /* cur lost bytes to the limit */
    struct buf *line; /* the current line's start, while undecided */
    size_t ntrunc;    /* truncated headers so far */
    int end;          /* HDR_SCAN_END or HDR_SCAN_BODY once done */
};

#define IS_WSP(c) ((c) == ' ' || (c) == '\t')
#define IS_FTEXT(c) ((unsigned char)(c) >= 33 && (unsigned char)(c) <= 126 && (c) != ':')

/* Create a scanner; limit 0 takes HDR_SIZE_LIMIT. fn gets each header. */
struct hdr_scan *hdr_scan_create(size_t limit, hdr_scan_fn fn, void *ctx)
{
    struct hdr_scan *s = mem_alloc(sizeof(*s));

    s->limit = limit ? limit : HDR_SIZE_LIMIT;
    s->fn = fn;
    s->ctx = ctx;
    s->state = H_LINE_START;
    s->cur = buf_create(256);
    s->line = buf_create(64);
    return s;
}

/* Free a scanner; clear the caller's pointer. */
void hdr_scan_free(struct hdr_scan **sp)
{
    struct hdr_scan *s = *sp;

    if (s == NULL)
        return;
    buf_free(&s->cur);
    buf_free(&s->line);
    mem_free(s);
    *sp = NULL;
}

/* Number of headers that were cut at the limit. */
size_t hdr_scan_truncated(const struct hdr_scan *s)
{
    return s->ntrunc;
}

/* After HDR_SCAN_BODY: the first body line's bytes the scanner already took. */
const char *hdr_scan_body_prefix(const struct hdr_scan *s, size_t *len_r)
{
    if (s->end != HDR_SCAN_BODY) {
        *len_r = 0;
        return "";
    }
    *len_r = buf_len(s->line);
    return buf_str(s->line);
}

/* Hand the pending header to the callback. */
static void flush(struct hdr_scan *s)
{
    struct hdr_field f;

    if (!s->have)
        return;
    f.raw = buf_str(s->cur);
    f.raw_len = buf_len(s->cur);
    f.name = f.raw;
    f.name_len = s->name_len;
    f.value = f.raw + s->value_off;
    f.value_len = f.raw_len - s->value_off;
    f.lines = s->lines;
    f.truncated = s->truncated;
    if (s->truncated)
        s->ntrunc++;
    if (s->fn)
        s->fn(s->ctx, &f);
    s->have = false;
    s->truncated = false;
    buf_reset(s->cur);
}

/* Append header bytes within the limit. */
static void cur_append(struct hdr_scan *s, const char *p, size_t n)
{
    size_t room = buf_len(s->cur) < s->limit ? s->limit - buf_len(s->cur) : 0;

    if (n > room) {
        s->truncated = true;
        n = room;
    }
    buf_append(s->cur, p, n);
}

/* The block ended; remember how. */
static int finish_with(struct hdr_scan *s, int end)
{
    flush(s);
    s->state = H_DONE;
    s->end = end;
    return end;
}

/* "name" WSP* ":" seen: start a new pending header from the line so far. */
static void header_start(struct hdr_scan *s)
{
    size_t n = buf_len(s->line);

    flush(s);
    while (n > 0 && IS_WSP(buf_str(s->line)[n - 1]))
        n--;
    buf_append(s->cur, buf_str(s->line), buf_len(s->line));
    buf_putc(s->cur, ':');
    s->name_len = n;
    s->value_off = buf_len(s->cur);
    s->lines = 1;
    s->have = true;
    s->state = H_VALUE;
}

/*
 * Feed the next piece of the message. Returns HDR_SCAN_MORE when all of it
 * was taken, or HDR_SCAN_END / HDR_SCAN_BODY when the header block ended;
 * *used_r counts the bytes taken (the body starts right after them, after
 * the body prefix for HDR_SCAN_BODY).
 */
int hdr_scan_feed(struct hdr_scan *s, const char *in, size_t len, size_t *used_r)
{
    size_t i = 0;
    int ret = HDR_SCAN_MORE;

    if (s->state == H_DONE) {
        *used_r = 0;
        return s->end;
    }
    while (i < len && ret == HDR_SCAN_MORE) {
        char c = in[i];
        switch (s->state) {
        case H_LINE_START:
            buf_reset(s->line);
            if (c == '\n') {
                i++;
                ret = finish_with(s, HDR_SCAN_END);
            } else if (c == '\r') {
                buf_putc(s->line, c);
                s->state = H_CR_START;
                i++;
            } else if (IS_WSP(c) && s->have) {
                /* folded: keep the line break inside the header */
                cur_append(s, "\n", 1);
                s->lines++;
                s->state = H_VALUE;
            } else if (IS_WSP(c)) {
                ret = finish_with(s, HDR_SCAN_BODY);
            } else {
                flush(s);
                s->state = H_NAME;
            }
            break;
        case H_CR_START:
            if (c == '\n') {
                i++;
                ret = finish_with(s, HDR_SCAN_END);
            } else {
                ret = finish_with(s, HDR_SCAN_BODY);
            }
            break;
        case H_NAME:
        case H_NAME_WSP:
            if (c == ':' && buf_len(s->line) > 0) {
                header_start(s);
                i++;
            } else if (buf_len(s->line) >= HDR_NAME_MAX) {
                ret = finish_with(s, HDR_SCAN_BODY);
            } else if (IS_WSP(c) && buf_len(s->line) > 0) {
                buf_putc(s->line, c);
                s->state = H_NAME_WSP;
                i++;
            } else if (IS_FTEXT(c) && s->state == H_NAME) {
                buf_putc(s->line, c);
                i++;
            } else {
                ret = finish_with(s, HDR_SCAN_BODY);
            }
            break;
        case H_VALUE: {
            const char *nl = memchr(in + i, '\n', len - i);
            size_t n = nl ? (size_t)(nl - (in + i)) : len - i;
            cur_append(s, in + i, n);
            i += n;
            if (nl) {
                i++;
                /* a CRLF line end: drop the CR */
                if (buf_len(s->cur) > s->value_off &&
                    buf_str(s->cur)[buf_len(s->cur) - 1] == '\r')
                    buf_truncate(s->cur, buf_len(s->cur) - 1);
                s->state = H_LINE_START;
            }
            break;
        }
        case H_DONE:
            break;
        }
    }
    *used_r = i;
    return ret;
}

/*
 * The input ended. Delivers the pending header. Returns HDR_SCAN_MORE when
 * the message was all headers, HDR_SCAN_BODY when an unfinished line that is
 * no header remains (see hdr_scan_body_prefix), or the earlier result.
 */
int hdr_scan_finish(struct hdr_scan *s)
{
    switch (s->state) {
    case H_DONE:
        return s->end;
    case H_CR_START:
    case H_NAME:
    case H_NAME_WSP:
        return finish_with(s, HDR_SCAN_BODY);
    default:
        finish_with(s, HDR_SCAN_END);
        s->end = HDR_SCAN_MORE;
        return HDR_SCAN_MORE;
    }
}

/* True when name[0..len) is a field name: 1*ftext (RFC 5322 section 3.6.8). */
bool hdr_name_valid(const char *name, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!IS_FTEXT(name[i]))
            return false;
    return true;
}

/*
 * Append value[0..len) unfolded: every line break (LF or CRLF) that is
 * followed by white space is removed (RFC 5322 section 2.2.3). With trim,
 * white space at both ends goes too.
 */
void hdr_unfold(struct buf *out, const char *value, size_t len, bool trim)
{
    size_t start = buf_len(out);

    for (size_t i = 0; i < len; i++) {
        if (value[i] == '\r' && i + 2 < len && value[i + 1] == '\n' && IS_WSP(value[i + 2])) {
            i++;
            continue;
        }
        if (value[i] == '\n' && i + 1 < len && IS_WSP(value[i + 1]))
            continue;
        if (trim && buf_len(out) == start && IS_WSP(value[i]))
            continue;
        buf_putc(out, value[i]);
    }
    if (trim) {
        size_t n = buf_len(out);
        while (n > start && IS_WSP(buf_str(out)[n - 1]))
            n--;
        buf_truncate(out, n);
    }
}

/* Create an empty header list. */
struct hdr_list *hdr_list_create(void)
{
    return mem_alloc(sizeof(struct hdr_list));
}

/* Free a header list and its copies; clear the caller's pointer. */
void hdr_list_free(struct hdr_list **lp)
{
    struct hdr_list *l = *lp;

    if (l == NULL)
        return;
    for (size_t i = 0; i < l->count; i++)
        mem_free((void *)l->fields[i].raw);
    mem_free(l->fields);
    mem_free(l);
    *lp = NULL;
}

/* Append a copy of a header. */
void hdr_list_add(struct hdr_list *l, const struct hdr_field *f)
{
    struct hdr_field *n;
    char *raw;

    if (l->count == l->size) {
        l->size = l->size ? l->size * 2 : 16;
        l->fields = mem_realloc_array(l->fields, l->size, sizeof(*l->fields));
    }
    raw = mem_alloc(f->raw_len + 1);
    memcpy(raw, f->raw, f->raw_len);
    n = &l->fields[l->count++];
    *n = *f;
    n->raw = raw;
    n->name = raw + (f->name - f->raw);
    n->value = raw + (f->value - f->raw);
}

/* Index of the first header named name (any case) at or after start, or -1. */
ssize_t hdr_list_find(const struct hdr_list *l, const char *name, size_t start)
{
    size_t len = strlen(name);

    for (size_t i = start; i < l->count; i++)
        if (l->fields[i].name_len == len && strncasecmp(l->fields[i].name, name, len) == 0)
            return (ssize_t)i;
    return -1;
}

/* Scanner callback that collects into a list. */
static void list_collect(void *ctx, const struct hdr_field *f)
{
    hdr_list_add(ctx, f);
}

/*
 * Scan a whole header block (or message) in text[0..len) into l. Returns
 * HDR_SCAN_END or HDR_SCAN_BODY with *body_r at the body's first byte, or
 * HDR_SCAN_MORE (text was all headers) with *body_r = len.
 */
int hdr_list_parse(struct hdr_list *l, const char *text, size_t len, size_t limit,
                   size_t *body_r)
{
    struct hdr_scan *s = hdr_scan_create(limit, list_collect, l);
    size_t used = 0, prefix;
    int ret;

    ret = hdr_scan_feed(s, text, len, &used);
    if (ret == HDR_SCAN_MORE)
        ret = hdr_scan_finish(s);
    hdr_scan_body_prefix(s, &prefix);
    if (ret == HDR_SCAN_MORE)
        *body_r = len;
    else
        *body_r = used - (ret == HDR_SCAN_BODY ? prefix : 0);
    hdr_scan_free(&s);
    return ret;
}
