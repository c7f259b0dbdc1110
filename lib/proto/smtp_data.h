/*
 * smtp_data - incremental decoder for the SMTP DATA phase (and BDAT chunk
 * bytes), fed arbitrary chunks as they arrive from the network.
 *
 * Queue representation (what the decoder appends to the output buffer):
 * the message as LF-terminated lines, dot-unstuffed. Each CRLF becomes LF;
 * the terminating <CRLF>.<CRLF> is not stored. Delivery agents write lines
 * back with CRLF (and dot-stuffing) for SMTP/LMTP, and keep LF for Maildir
 * and mbox, so delivery is byte-exact for every well-formed message.
 *
 * Only <CRLF>.<CRLF> ends the message; the start of DATA counts as just
 * after a CRLF. A bare LF (no CR before it) is stored as a line end, a bare
 * CR is stored as a data byte; both are counted. With the reject policy the
 * caller refuses the message at its end ("550 5.5.2 bare <LF> received",
 * see smtp_data_check); with normalize it is accepted. Either way
 * <LF>.<LF>, <CR>.<CR>, <LF>.<CRLF>, <CRLF>.<LF> and the like never end the
 * message: what follows them stays inside it (no SMTP smuggling).
 */
#ifndef POSTEL_PROTO_SMTP_DATA_H
#define POSTEL_PROTO_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/proto/smtp_reply.h"
#include "lib/util/buf.h"

#define SMTP_DATA_LINE_LIMIT 998 /* RFC 5321 section 4.5.3.1.6, without CRLF */

enum smtp_data_bare {
    SMTP_DATA_BARE_REJECT,    /* bare CR or LF: refuse the message at its end */
    SMTP_DATA_BARE_NORMALIZE, /* accept: bare LF ends a line, bare CR is data */
};

struct smtp_data_opts {
    enum smtp_data_bare bare;      /* policy for bare CR / LF */
    size_t line_limit;             /* longer lines are counted as long; 0 = 998 */
    unsigned long long size_limit; /* store nothing past this size; 0 = none */
};

/* What the decoder saw. Sizes count like RFC 1870: line ends as CRLF. */
struct smtp_data_stats {
    unsigned long long size;       /* message size with CRLF line ends */
    unsigned long long stored;     /* bytes appended to the output */
    unsigned long long lines;      /* line ends stored */
    unsigned long long bare_lf;    /* LF without CR before it */
    unsigned long long bare_cr;    /* CR without LF after it */
    unsigned long long fake_dots;  /* "." lines next to a bare CR/LF (smuggling tries) */
    unsigned long long long_lines; /* lines longer than line_limit */
    size_t max_line;               /* longest line, without its end */
    unsigned long long nul;        /* NUL bytes */
    bool eightbit;                 /* any byte >= 0x80 */
    bool too_big;                  /* size went past size_limit; output is cut there */
    bool partial_line;             /* (BDAT) the message did not end with a line end */
    bool done;                     /* end of data seen */
};

struct smtp_data;

struct smtp_data *smtp_data_create(const struct smtp_data_opts *opts);
void smtp_data_free(struct smtp_data **dp);
void smtp_data_reset(struct smtp_data *d);
int smtp_data_feed(struct smtp_data *d, const char *in, size_t len, size_t *used_r,
                   struct buf *out);
void smtp_bdat_feed(struct smtp_data *d, const char *in, size_t len, struct buf *out);
void smtp_bdat_end(struct smtp_data *d, struct buf *out);
const struct smtp_data_stats *smtp_data_stats(const struct smtp_data *d);
int smtp_data_check(const struct smtp_data *d, struct smtp_resp *resp_r);

/*
 * The other direction, for the SMTP/LMTP client: queue representation (LF
 * lines) to wire format. Each LF becomes CRLF, a line that starts with "."
 * gets another one (DATA only, not BDAT), and smtp_data_enc_end() finishes
 * the last line and, for DATA, appends ".\r\n". With line_limit > 0 a line
 * longer than that is broken with CRLF (Postfix smtp_line_length_limit).
 */
struct smtp_data_enc;

struct smtp_data_enc *smtp_data_enc_create(bool dot_stuff, size_t line_limit);
void smtp_data_enc_free(struct smtp_data_enc **ep);
void smtp_data_enc_feed(struct smtp_data_enc *e, const char *in, size_t len, struct buf *out);
void smtp_data_enc_end(struct smtp_data_enc *e, struct buf *out);

#endif
