/*
 * Fuzz target (libFuzzer) for lib/proto/smtp_data: the DATA decoder is fed
 * the input whole and in pieces chosen by the input itself; the results
 * must be identical (a split never moves the end of data), and the end is
 * exactly after the first <CRLF>.<CRLF>. BDAT is checked the same way.
 * The input taken as queue content must survive encoding for the wire and
 * decoding again unchanged.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/proto/smtp_data.h"
#include "lib/util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decode; split pieces are taken from the seed bytes (0 = whole). */
static int run(const char *in, size_t len, const uint8_t *seed, size_t nseed, bool bdat,
               struct buf *out, size_t *used_r, struct smtp_data_stats *st)
{
    struct smtp_data_opts opts = {.line_limit = 50, .size_limit = 200};
    struct smtp_data *d = smtp_data_create(&opts);
    size_t pos = 0, k = 0;
    int done = 0;

    while (pos < len && !done) {
        size_t n = nseed ? 1 + seed[k++ % nseed] % 13 : len - pos, used = 0;
        if (n > len - pos)
            n = len - pos;
        if (bdat) {
            smtp_bdat_feed(d, in + pos, n, out);
            used = n;
        } else {
            done = smtp_data_feed(d, in + pos, n, &used, out);
            if (!done && used != n)
                abort();
        }
        pos += used;
    }
    if (bdat)
        smtp_bdat_end(d, out);
    *used_r = pos;
    *st = *smtp_data_stats(d);
    smtp_data_free(&d);
    return done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf *a = buf_create(0), *b = buf_create(0);
    struct smtp_data_stats sa, sb;
    size_t ua, ub, nseed = size > 8 ? 8 : size;
    const char *in = (const char *)data, *end;
    int da, db;

    for (int bdat = 0; bdat < 2; bdat++) {
        buf_reset(a);
        buf_reset(b);
        da = run(in, size, NULL, 0, bdat, a, &ua, &sa);
        db = run(in, size, data, nseed, bdat, b, &ub, &sb);
        if (da != db || ua != ub || buf_len(a) != buf_len(b) ||
            memcmp(buf_str(a), buf_str(b), buf_len(a)) != 0 || memcmp(&sa, &sb, sizeof(sa)))
            abort();
        if (buf_len(a) > 200 || buf_len(a) != sa.stored)
            abort();
        if (!bdat) {
            if (size >= 3 && memcmp(in, ".\r\n", 3) == 0)
                end = in + 3;
            else if ((end = memmem(in, size, "\r\n.\r\n", 5)) != NULL)
                end += 5;
            if (da != (end != NULL) || ua != (end ? (size_t)(end - in) : size))
                abort();
        }
    }
    /* round trip: queue content -> wire -> queue content */
    {
        struct smtp_data_enc *e = smtp_data_enc_create(true, 0);
        struct smtp_data *d = smtp_data_create(NULL);
        size_t used;
        buf_reset(a);
        buf_reset(b);
        smtp_data_enc_feed(e, in, size, a);
        smtp_data_enc_end(e, a);
        if (smtp_data_feed(d, buf_str(a), buf_len(a), &used, b) != 1 || used != buf_len(a))
            abort();
        if (buf_len(b) != size + (size > 0 && in[size - 1] != '\n') ||
            memcmp(buf_str(b), in, size) != 0 || smtp_data_stats(d)->bare_lf != 0)
            abort();
        smtp_data_enc_free(&e);
        smtp_data_free(&d);
    }
    buf_free(&a);
    buf_free(&b);
    return 0;
}
