/*
 * Fuzz target (libFuzzer) for lib/proto/smtp_reply_reader: replies read
 * whole and byte by byte must agree; every complete 250 reply also goes
 * through the EHLO parser.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/proto/smtp_reply_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read replies until the input ends or an error; fold them into a summary. */
static int run(const char *in, size_t len, bool bytewise, struct buf *sum)
{
    struct smtp_reply_reader *r = smtp_reply_reader_create(200, 20);
    size_t pos = 0;
    int ret = 0;

    while (pos < len) {
        size_t n = bytewise ? 1 : len - pos, used;
        ret = smtp_reply_reader_feed(r, in + pos, n, &used, NULL);
        if (ret < 0)
            break;
        pos += used;
        if (ret == 1) {
            const struct smtp_reply *rep = smtp_reply_reader_reply(r);
            struct smtp_ehlo *e;
            if (rep->code < 200 || rep->code > 599 || rep->lines->argc == 0 ||
                rep->lines->argc > 20)
                abort();
            buf_printf(sum, "%d %s %zu|", rep->code, rep->dsn, rep->lines->argc);
            buf_append(sum, buf_str(rep->text), buf_len(rep->text));
            if (smtp_ehlo_parse(rep, &e, NULL) == 0) {
                buf_printf(sum, "|%x %llu", e->ext, e->size);
                smtp_ehlo_free(&e);
            }
        }
    }
    buf_printf(sum, "#%d %zu", ret, ret < 0 ? 0 : pos);
    smtp_reply_reader_free(&r);
    return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf *a = buf_create(0), *b = buf_create(0);

    run((const char *)data, size, false, a);
    run((const char *)data, size, true, b);
    if (strcmp(buf_str(a), buf_str(b)) != 0)
        abort();
    buf_free(&a);
    buf_free(&b);
    return 0;
}
