/*
 * smtp_data - the DATA-phase state machine: dot-unstuffing, the end of data,
 * CRLF to LF, bare CR/LF accounting, size and line-length accounting.
 *
 * The decoder keeps no line buffer: it holds at most the two bytes whose
 * meaning depends on what follows (a CR, or a "." at the start of a line
 * and the CR after it), so memory does not grow with line length, and the
 * output for one feed is never longer than that feed plus two bytes.
 *
 * Rules, beyond those in smtp_data.h:
 *  - a line that starts right after a CRLF (or at the start of DATA) and
 *    begins with "." loses that dot (RFC 5321 section 4.5.2), unless the
 *    line is nothing but "." with a bare LF after it: that line is kept as
 *    "." so a smuggling attempt stays visible in the stored message;
 *  - a line that starts after a bare LF is never unstuffed and can never
 *    end the message;
 *  - past size_limit nothing more is stored, but the input is still read
 *    to the real end of data, so the session stays in step with the client.
 *
 * The encoder (smtp_data_enc_*) is the exact inverse for what the decoder
 * stores: decoding its output gives back the input, line ends included.
 *
 * Security: this is the code that decides where a message ends. It is
 * byte-driven and has no lookahead beyond its state, so the result does not
 * depend on how the network splits the input (the unit tests feed every
 * case whole, byte by byte and in random pieces and compare).
 */
#include "config.h"

#include <string.h>

#include "lib/proto/smtp_data.h"
#include "lib/util/mem.h"

enum state {
    ST_BOL,   /* start of a line that follows a CRLF */
    ST_TEXT,  /* inside a line (or at the start of one after a bare LF) */
    ST_CR,    /* inside a line, a CR is pending */
    ST_DOT,   /* start of a line after CRLF, a "." is pending */
    ST_DOTCR, /* same, ".\r" is pending */
    ST_DONE,  /* <CRLF>.<CRLF> seen */
};

struct smtp_data {
    struct smtp_data_opts opts;
    struct smtp_data_stats st;
    enum state state;
    size_t line_len;  /* bytes stored (or that would be) in the current line */
    char hist[3];     /* last three input bytes, newest last */
};

/* Create a decoder for one message (reuse with smtp_data_reset). */
struct smtp_data *smtp_data_create(const struct smtp_data_opts *opts)
{
    struct smtp_data *d = mem_alloc(sizeof(*d));

    if (opts)
        d->opts = *opts;
    if (d->opts.line_limit == 0)
        d->opts.line_limit = SMTP_DATA_LINE_LIMIT;
    smtp_data_reset(d);
    return d;
}

/* Free a decoder; clear the caller's pointer. */
void smtp_data_free(struct smtp_data **dp)
{
    MEM_FREE(dp);
}

/* Start over for the next message, keeping the options. */
void smtp_data_reset(struct smtp_data *d)
{
    memset(&d->st, 0, sizeof(d->st));
    d->state = ST_BOL;
    d->line_len = 0;
    /* DATA's own line ended with CRLF */
    d->hist[0] = 0;
    d->hist[1] = '\r';
    d->hist[2] = '\n';
}

/* The counters so far. */
const struct smtp_data_stats *smtp_data_stats(const struct smtp_data *d)
{
    return &d->st;
}

/*
 * Account for n bytes; store those that fit under the size limit. The cut
 * is at the first byte past the limit, wherever the input was split.
 */
static void store(struct smtp_data *d, struct buf *out, const char *p, size_t n)
{
    unsigned long long before = d->st.size, limit = d->opts.size_limit;

    d->st.size += n;
    if (d->st.too_big)
        return;
    if (limit && d->st.size > limit) {
        d->st.too_big = true;
        n = before < limit ? (size_t)(limit - before) : 0;
    }
    buf_append(out, p, n);
    d->st.stored += n;
}

/* Store a run of ordinary bytes (no CR, no LF). */
static void store_run(struct smtp_data *d, struct buf *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == 0)
            d->st.nul++;
        if (c & 0x80)
            d->st.eightbit = true;
    }
    d->line_len += n;
    store(d, out, p, n);
}

/* Store a bare CR as a data byte. */
static void store_bare_cr(struct smtp_data *d, struct buf *out)
{
    d->st.bare_cr++;
    d->line_len++;
    store(d, out, "\r", 1);
}

/* Store a line end (LF; counts as CRLF in the size) and close the line. */
static void store_eol(struct smtp_data *d, struct buf *out)
{
    d->st.lines++;
    if (d->line_len > d->opts.line_limit)
        d->st.long_lines++;
    if (d->line_len > d->st.max_line)
        d->st.max_line = d->line_len;
    d->line_len = 0;
    d->st.size++; /* the CR of the CRLF this LF stands for */
    store(d, out, "\n", 1);
}

/* Remember an input byte; count "." lines between bare line breaks. */
static void hist_push(struct smtp_data *d, char c)
{
    /* X "." c with X and c line-break bytes, which is not the real end:
     * the real end (CRLF "." CR LF) is decided in ST_DOTCR, not here. */
    if ((c == '\r' || c == '\n') && d->hist[2] == '.' &&
        (d->hist[1] == '\r' || d->hist[1] == '\n') &&
        !(c == '\r' && d->hist[1] == '\n' && d->hist[0] == '\r'))
        d->st.fake_dots++;
    d->hist[0] = d->hist[1];
    d->hist[1] = d->hist[2];
    d->hist[2] = c;
}

/* Remember the end of a run of ordinary bytes. */
static void hist_run(struct smtp_data *d, const char *p, size_t n)
{
    for (size_t i = n > 3 ? n - 3 : 0; i < n; i++) {
        d->hist[0] = d->hist[1];
        d->hist[1] = d->hist[2];
        d->hist[2] = p[i];
    }
}

/*
 * Feed the next len bytes of DATA input; decoded text is appended to out.
 * Returns 0 when all bytes were taken and more are needed, or 1 when the
 * end of data was seen: *used_r then counts the bytes taken, through the
 * final LF; the rest belongs to the next command (PIPELINING).
 */
int smtp_data_feed(struct smtp_data *d, const char *in, size_t len, size_t *used_r,
                   struct buf *out)
{
    size_t i = 0;

    while (i < len && d->state != ST_DONE) {
        char c = in[i];

        if (d->state == ST_TEXT || (d->state == ST_BOL && c != '.')) {
            /* fast path: a run of ordinary bytes */
            size_t j = i;
            while (j < len && in[j] != '\r' && in[j] != '\n')
                j++;
            if (j > i) {
                store_run(d, out, in + i, j - i);
                hist_run(d, in + i, j - i);
                d->state = ST_TEXT;
                i = j;
                continue;
            }
        }
        hist_push(d, c);
        i++;
        switch (d->state) {
        case ST_BOL:
            if (c == '.') {
                d->state = ST_DOT;
                break;
            }
            /* FALLTHROUGH */
        case ST_TEXT:
            if (c == '\r') {
                d->state = ST_CR;
            } else { /* c == '\n': a bare LF ends the line, not as CRLF does */
                d->st.bare_lf++;
                store_eol(d, out);
                d->state = ST_TEXT;
            }
            break;
        case ST_CR:
            if (c == '\n') {
                store_eol(d, out);
                d->state = ST_BOL;
            } else {
                store_bare_cr(d, out);
                if (c != '\r') {
                    store_run(d, out, &c, 1);
                    d->state = ST_TEXT;
                }
            }
            break;
        case ST_DOT:
            if (c == '\r') {
                d->state = ST_DOTCR;
            } else if (c == '\n') {
                /* "." then a bare LF: keep the line as it is */
                d->st.bare_lf++;
                store_run(d, out, ".", 1);
                store_eol(d, out);
                d->state = ST_TEXT;
            } else {
                /* unstuff: drop the dot, c starts the line's text */
                store_run(d, out, &c, 1);
                d->state = ST_TEXT;
            }
            break;
        case ST_DOTCR:
            if (c == '\n') {
                d->state = ST_DONE;
                d->st.done = true;
                break;
            }
            /* ".\r" and more: the dot is stuffing, the CR is bare */
            d->st.fake_dots++;
            store_bare_cr(d, out);
            if (c == '\r') {
                d->state = ST_CR;
            } else {
                store_run(d, out, &c, 1);
                d->state = ST_TEXT;
            }
            break;
        case ST_DONE:
            break;
        }
    }
    if (used_r)
        *used_r = i;
    return d->state == ST_DONE ? 1 : 0;
}

/*
 * Feed BDAT chunk bytes (RFC 3030): no dot-stuffing and no end marker, but
 * the same CRLF to LF, bare CR/LF and size accounting. A CR at the end of a
 * chunk waits for the next one.
 */
void smtp_bdat_feed(struct smtp_data *d, const char *in, size_t len, struct buf *out)
{
    size_t i = 0;

    while (i < len) {
        char c = in[i];
        if (d->state != ST_CR) {
            size_t j = i;
            while (j < len && in[j] != '\r' && in[j] != '\n')
                j++;
            if (j > i) {
                store_run(d, out, in + i, j - i);
                i = j;
                continue;
            }
        }
        i++;
        if (d->state == ST_CR) {
            if (c == '\n') {
                store_eol(d, out);
                d->state = ST_BOL;
                continue;
            }
            store_bare_cr(d, out);
            d->state = ST_TEXT;
        }
        if (c == '\r') {
            d->state = ST_CR;
        } else if (c == '\n') {
            d->st.bare_lf++;
            store_eol(d, out);
            d->state = ST_TEXT;
        } else {
            store_run(d, out, &c, 1);
            d->state = ST_TEXT;
        }
    }
}

/* End of the BDAT LAST chunk: a pending CR is bare; note a missing line end. */
void smtp_bdat_end(struct smtp_data *d, struct buf *out)
{
    if (d->state == ST_CR)
        store_bare_cr(d, out);
    if (d->line_len > 0) {
        d->st.partial_line = true;
        if (d->line_len > d->opts.line_limit)
            d->st.long_lines++;
        if (d->line_len > d->st.max_line)
            d->st.max_line = d->line_len;
    }
    d->state = ST_DONE;
    d->st.done = true;
}

/*
 * After the end of data: 0 when the message may be accepted, or -1 with the
 * reply that refuses it (size over the limit, or bare CR/LF under the
 * reject policy).
 */
int smtp_data_check(const struct smtp_data *d, struct smtp_resp *resp_r)
{
    smtp_resp_clear(resp_r);
    if (d->st.too_big) {
        smtp_resp_set(resp_r, 552, "5.3.4", "Message size exceeds fixed limit");
        resp_r->why = "message_size_limit exceeded";
        return -1;
    }
    if (d->opts.bare == SMTP_DATA_BARE_REJECT && d->st.bare_lf) {
        smtp_resp_set(resp_r, 550, "5.5.2", "bare <LF> received");
        resp_r->why = "bare LF in message";
        return -1;
    }
    if (d->opts.bare == SMTP_DATA_BARE_REJECT && d->st.bare_cr) {
        smtp_resp_set(resp_r, 550, "5.5.2", "bare <CR> received");
        resp_r->why = "bare CR in message";
        return -1;
    }
    return 0;
}

struct smtp_data_enc {
    bool dot_stuff;    /* DATA (true) or BDAT (false) */
    size_t line_limit; /* break longer lines; 0 = never */
    bool bol;          /* at the start of a line */
    size_t line_len;   /* bytes written on the current line */
    bool ended;
};

/* Create an encoder for one message. */
struct smtp_data_enc *smtp_data_enc_create(bool dot_stuff, size_t line_limit)
{
    struct smtp_data_enc *e = mem_alloc(sizeof(*e));

    e->dot_stuff = dot_stuff;
    e->line_limit = line_limit;
    e->bol = true;
    return e;
}

/* Free an encoder; clear the caller's pointer. */
void smtp_data_enc_free(struct smtp_data_enc **ep)
{
    MEM_FREE(ep);
}

/* Encode the next piece of the queue representation onto out. */
void smtp_data_enc_feed(struct smtp_data_enc *e, const char *in, size_t len, struct buf *out)
{
    size_t i = 0;

    while (i < len) {
        size_t j = i, room;
        if (in[i] == '\n') {
            buf_append(out, "\r\n", 2);
            e->bol = true;
            e->line_len = 0;
            i++;
            continue;
        }
        if (e->line_limit && e->line_len >= e->line_limit) {
            buf_append(out, "\r\n", 2);
            e->bol = true;
            e->line_len = 0;
        }
        if (e->bol && e->dot_stuff && in[i] == '.')
            buf_putc(out, '.');
        e->bol = false;
        /* a run up to the next LF or the line limit */
        room = e->line_limit ? e->line_limit - e->line_len : len - i;
        while (j < len && in[j] != '\n' && (size_t)(j - i) < room)
            j++;
        buf_append(out, in + i, j - i);
        e->line_len += j - i;
        i = j;
    }
}

/* Finish: end an unfinished last line, and add the end of data for DATA. */
void smtp_data_enc_end(struct smtp_data_enc *e, struct buf *out)
{
    if (e->ended)
        return;
    if (!e->bol)
        buf_append(out, "\r\n", 2);
    if (e->dot_stuff)
        buf_append(out, ".\r\n", 3);
    e->ended = true;
    e->bol = true;
}
