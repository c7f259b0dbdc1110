/*
 * smtp_content - the message content on its way from the queue file to
 * the server, in three stages, each incremental:
 *
 *   1. smtp_generic_maps: the address headers of the top-level header
 *      block rewritten (only when the maps are set);
 *   2. the 8-bit to quoted-printable downgrade (only for a server without
 *      8BITMIME, smtp_mime.c);
 *   3. wire format: LF to CRLF, dot-stuffing, lines longer than
 *      smtp_line_length_limit broken, the final "." (lib/proto/smtp_data).
 *
 * With neither of the first two stages, what the server receives decodes
 * to the queued content byte for byte.
 *
 * Also the scan before a delivery: the RFC 1870 size (line ends counted as
 * CRLF) and whether 8-bit bytes occur, in the top-level header block or
 * anywhere.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "lib/mail/queue_file.h"
#include "lib/proto/smtp_data.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/stream.h"
#include "smtp/smtp.h"

#define SMTP_CONTENT_CHUNK 65536

struct smtp_content {
    struct smtp_content_opts opts;
    bool in_headers;     /* stage 1 still in the top-level header block */
    struct buf *partial; /* stage 1: an incomplete header line */
    struct buf *field;   /* stage 1: the header field being collected */
    struct buf *tmp;
    struct buf *stage1;
    struct buf *stage2;
    struct smtp_mime *mime;
    struct smtp_data_enc *enc;
};

/* Read the content once: size and 8-bit bytes. */
int smtp_content_scan(struct queue_file *qf, struct smtp_msginfo *info, const char **why_r)
{
    char *data = mem_alloc(SMTP_CONTENT_CHUNK);
    bool bol = true, in_headers = true;
    size_t n;
    int rc;

    memset(info, 0, sizeof(*info));
    queue_file_content_rewind(qf);
    while ((rc = queue_file_content_read(qf, data, SMTP_CONTENT_CHUNK, &n, why_r)) > 0) {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)data[i];

            if (c == '\n') {
                info->size += 2;
                if (bol)
                    in_headers = false;
                bol = true;
                continue;
            }
            info->size++;
            bol = false;
            if (c >= 0x80) {
                info->eightbit = true;
                if (in_headers)
                    info->header_eightbit = true;
            }
        }
    }
    if (!bol)
        info->size += 2;
    mem_free(data);
    queue_file_content_rewind(qf);
    return rc < 0 ? -1 : 0;
}

/* A pipeline. */
struct smtp_content *smtp_content_create(const struct smtp_content_opts *opts)
{
    struct smtp_content *c = mem_alloc(sizeof(*c));

    c->opts = *opts;
    c->in_headers = opts->generic_maps != NULL;
    c->partial = buf_create(256);
    c->field = buf_create(256);
    c->tmp = buf_create(256);
    c->stage1 = buf_create(SMTP_CONTENT_CHUNK);
    c->stage2 = buf_create(SMTP_CONTENT_CHUNK);
    if (opts->downgrade)
        c->mime = smtp_mime_create();
    c->enc = smtp_data_enc_create(true, opts->line_length_limit);
    return c;
}

/* Free a pipeline. */
void smtp_content_free(struct smtp_content **cp)
{
    struct smtp_content *c = *cp;

    if (c == NULL)
        return;
    buf_free(&c->partial);
    buf_free(&c->field);
    buf_free(&c->tmp);
    buf_free(&c->stage1);
    buf_free(&c->stage2);
    smtp_mime_free(&c->mime);
    smtp_data_enc_free(&c->enc);
    mem_free(c);
    *cp = NULL;
}

/* Stage 1: write out the collected header field, rewritten if it is an address header. */
static int smtp_content_flush_field(struct smtp_content *c, const char **why_r)
{
    int rc;

    if (buf_len(c->field) == 0)
        return 0;
    rc = smtp_generic_header(c->opts.generic_maps, buf_str(c->field), buf_len(c->field), c->tmp,
                             why_r);
    if (rc < 0)
        return -1;
    if (rc > 0)
        buf_append(c->stage1, buf_str(c->tmp), buf_len(c->tmp));
    else
        buf_append(c->stage1, buf_str(c->field), buf_len(c->field));
    buf_reset(c->field);
    return 0;
}

/* True when line starts like a header field ("name:"). */
static bool smtp_content_is_header(const char *line, size_t len)
{
    size_t i = 0;

    while (i < len && (unsigned char)line[i] > 32 && (unsigned char)line[i] < 127 && line[i] != ':')
        i++;
    if (i == 0)
        return false;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i < len && line[i] == ':';
}

/* Stage 1: one line of the top-level header block (len includes its LF, if any). */
static int smtp_content_header_line(struct smtp_content *c, const char *line, size_t len,
                                    const char **why_r)
{
    bool empty = (len == 1 && line[0] == '\n') || (len == 2 && line[0] == '\r' && line[1] == '\n');

    if (!empty && (line[0] == ' ' || line[0] == '\t') && buf_len(c->field) > 0) {
        buf_append(c->field, line, len);
        return 0;
    }
    if (smtp_content_flush_field(c, why_r) < 0)
        return -1;
    if (!empty && smtp_content_is_header(line, len)) {
        buf_append(c->field, line, len);
        return 0;
    }
    /* The empty line, or a line that starts the body without one. */
    buf_append(c->stage1, line, len);
    c->in_headers = false;
    return 0;
}

/* Stage 1 over a piece of input. */
static int smtp_content_stage1(struct smtp_content *c, const char *in, size_t len,
                               const char **why_r)
{
    while (len > 0 && c->in_headers) {
        const char *nl = memchr(in, '\n', len);
        size_t n = nl ? (size_t)(nl - in) + 1 : len;

        buf_append(c->partial, in, n);
        in += n;
        len -= n;
        if (nl == NULL)
            return 0;
        if (smtp_content_header_line(c, buf_str(c->partial), buf_len(c->partial), why_r) < 0)
            return -1;
        buf_reset(c->partial);
    }
    buf_append(c->stage1, in, len);
    return 0;
}

/* Stages 2 and 3 over what stage 1 produced. */
static void smtp_content_stage23(struct smtp_content *c, struct buf *out)
{
    struct buf *in = c->stage1;

    if (c->mime != NULL) {
        smtp_mime_feed(c->mime, buf_str(c->stage1), buf_len(c->stage1), c->stage2);
        in = c->stage2;
    }
    smtp_data_enc_feed(c->enc, buf_str(in), buf_len(in), out);
    buf_reset(c->stage1);
    buf_reset(c->stage2);
}

/* Feed queued content; wire format is appended to out. 0, or -1 with *why_r (table error). */
int smtp_content_feed(struct smtp_content *c, const char *in, size_t len, struct buf *out,
                      const char **why_r)
{
    if (c->opts.generic_maps == NULL || !c->in_headers)
        buf_append(c->stage1, in, len);
    else if (smtp_content_stage1(c, in, len, why_r) < 0)
        return -1;
    smtp_content_stage23(c, out);
    return 0;
}

/* End of content: the rest, and the final ".". */
int smtp_content_end(struct smtp_content *c, struct buf *out, const char **why_r)
{
    if (c->in_headers) {
        if (buf_len(c->partial) > 0 &&
            smtp_content_header_line(c, buf_str(c->partial), buf_len(c->partial), why_r) < 0)
            return -1;
        buf_reset(c->partial);
        if (smtp_content_flush_field(c, why_r) < 0)
            return -1;
        c->in_headers = false;
    }
    smtp_content_stage23(c, out);
    if (c->mime != NULL) {
        smtp_mime_end(c->mime, c->stage2);
        smtp_data_enc_feed(c->enc, buf_str(c->stage2), buf_len(c->stage2), out);
        buf_reset(c->stage2);
    }
    smtp_data_enc_end(c->enc, out);
    return 0;
}

/* Send the content of qf in DATA wire format. */
int smtp_content_send(struct queue_file *qf, struct stream *s, const struct smtp_content_opts *opts,
                      bool *table_error_r, const char **why_r)
{
    struct smtp_content *c = smtp_content_create(opts);
    struct buf *out = buf_create(SMTP_CONTENT_CHUNK + 1024);
    char *data = mem_alloc(SMTP_CONTENT_CHUNK);
    size_t n;
    int rc, ret = -1;

    *table_error_r = false;
    queue_file_content_rewind(qf);
    while ((rc = queue_file_content_read(qf, data, SMTP_CONTENT_CHUNK, &n, why_r)) > 0) {
        if (smtp_content_feed(c, data, n, out, why_r) < 0) {
            *table_error_r = true;
            goto done;
        }
        if (buf_len(out) > 0 && stream_write(s, buf_str(out), buf_len(out)) < 0) {
            *why_r = stream_strerror(s);
            goto done;
        }
        buf_reset(out);
    }
    if (rc < 0) {
        /* The queue file went bad under us: like a table error, nothing wrong was sent yet. */
        *table_error_r = true;
        goto done;
    }
    if (smtp_content_end(c, out, why_r) < 0) {
        *table_error_r = true;
        goto done;
    }
    if (stream_write(s, buf_str(out), buf_len(out)) < 0 || stream_flush(s) < 0) {
        *why_r = stream_strerror(s);
        goto done;
    }
    ret = 0;

done:
    mem_free(data);
    buf_free(&out);
    smtp_content_free(&c);
    return ret;
}
