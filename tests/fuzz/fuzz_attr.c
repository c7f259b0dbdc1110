/*
 * Fuzz target (libFuzzer) for lib/mail/attr and the delivery protocol
 * (lib/mail/deliver): the attr parser fed whole and byte by byte must
 * produce the same messages (type, version, fields) and fail at the same
 * point; every message is decoded as a delivery request and as a result,
 * and whatever decodes must encode and decode again to the same thing.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mail/attr.h"
#include "lib/mail/deliver.h"
#include "lib/util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse one buffer into a description of every message; returns -1 on error, else 0. */
static int parse(const uint8_t *data, size_t size, size_t step, struct buf *desc,
                 struct attr_msg **msgs, size_t *count, size_t max)
{
    struct attr_limits lim = {.value_max = 4096, .fields_max = 2000, .msg_max = 1 << 16};
    struct attr_parser *p = attr_parser_create(&lim);
    size_t off = 0;
    int ret = 0;

    *count = 0;
    while (off < size) {
        size_t n = step ? (size - off < step ? size - off : step) : size - off, used = 0;
        struct attr_msg *m = NULL;
        const char *why;
        int r = attr_parser_feed(p, data + off, n, &used, &m, &why);

        if (used > n)
            abort();
        off += used;
        if (r < 0) {
            ret = -1;
            break;
        }
        if (r == 1) {
            buf_printf(desc, "[%s/%d/%zu]", attr_msg_type(m), attr_msg_version(m),
                       attr_msg_count(m));
            if (msgs != NULL && *count < max)
                msgs[(*count)++] = m;
            else
                attr_msg_free(&m);
        } else if (used != n) {
            abort();
        }
    }
    buf_printf(desc, "%s", ret < 0 ? "error" : attr_parser_idle(p) ? "idle" : "partial");
    attr_parser_free(&p);
    return ret;
}

/* A decoded request or result must survive a round trip. */
static void round_trip(struct attr_msg *m)
{
    struct deliver_request *req = NULL, *again = NULL;
    struct deliver_result res, res2;
    const char *why;

    if (deliver_request_parse(m, &req, &why) == 0) {
        struct buf *b = buf_create(0), *d = buf_create(0);
        struct attr_msg *ms[1];
        size_t n;

        deliver_request_format(req, b);
        if (parse((const uint8_t *)buf_str(b), buf_len(b), 0, d, ms, &n, 1) < 0 || n != 1)
            abort();
        if (deliver_request_parse(ms[0], &again, &why) < 0 ||
            again->rcpt_count != req->rcpt_count || strcmp(again->sender, req->sender) != 0)
            abort();
        deliver_request_free(&again);
        attr_msg_free(&ms[0]);
        buf_free(&b);
        buf_free(&d);
        deliver_request_free(&req);
    }
    attr_get_rewind(m);
    if (deliver_result_parse(m, &res, &why) == 0) {
        struct buf *b = buf_create(0), *d = buf_create(0);
        struct attr_msg *ms[1];
        size_t n;

        deliver_result_format(&res, b);
        if (parse((const uint8_t *)buf_str(b), buf_len(b), 0, d, ms, &n, 1) < 0 || n != 1)
            abort();
        if (deliver_result_parse(ms[0], &res2, &why) < 0 || res2.index != res.index ||
            strcmp(res2.text, res.text) != 0)
            abort();
        deliver_result_clear(&res2);
        attr_msg_free(&ms[0]);
        buf_free(&b);
        buf_free(&d);
        deliver_result_clear(&res);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf *whole = buf_create(0), *bytes = buf_create(0);
    struct attr_msg *msgs[8];
    size_t count = 0, unused;

    parse(data, size, 0, whole, msgs, &count, 8);
    parse(data, size, 1, bytes, NULL, &unused, 0);
    if (strcmp(buf_str(whole), buf_str(bytes)) != 0)
        abort();
    for (size_t i = 0; i < count; i++) {
        round_trip(msgs[i]);
        attr_msg_free(&msgs[i]);
    }
    buf_free(&whole);
    buf_free(&bytes);
    return 0;
}
