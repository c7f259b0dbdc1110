/*
 * Fuzz target (libFuzzer) for lib/proto/hdr and addrlist: the header
 * scanner fed whole and byte by byte must agree; each header's value goes
 * through unfolding, the address-list parser and RFC 2047 decoding.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/proto/addrlist.h"
#include "lib/proto/hdr.h"
#include "lib/proto/mailbox.h"
#include "lib/proto/rfc2047.h"
#include "lib/util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Log each header and parse its value as an address list. */
static void field(void *ctx, const struct hdr_field *f)
{
    struct buf *sum = ctx, *u = buf_create(0);
    struct addr_list *l = addr_list_create();

    if (f->raw_len > 300 && f->raw_len > HDR_NAME_MAX + 1)
        abort();
    buf_printf(sum, "[%zu %zu %d]", f->raw_len, f->lines, f->truncated);
    hdr_unfold(u, f->value, f->value_len, true);
    addr_list_parse(l, buf_str(u), buf_len(u), 50, NULL);
    for (size_t i = 0; i < l->count; i++) {
        if (l->v[i].start + l->v[i].len > buf_len(u))
            abort();
        buf_printf(sum, "<%s>", l->v[i].addr);
    }
    addr_list_free(&l);
    /* decoded text is clean UTF-8 without line breaks */
    buf_reset(u);
    rfc2047_decode(u, f->value, f->value_len);
    if (!mailbox_utf8_valid(buf_str(u), buf_len(u)) || memchr(buf_str(u), '\n', buf_len(u)) ||
        memchr(buf_str(u), '\r', buf_len(u)) || memchr(buf_str(u), 0, buf_len(u)))
        abort();
    buf_free(&u);
}

/* Scan; returns the end type, with the summary and body offset in sum. */
static void run(const char *in, size_t len, bool bytewise, struct buf *sum)
{
    struct hdr_scan *s = hdr_scan_create(300, field, sum);
    size_t pos = 0, prefix;
    int ret = HDR_SCAN_MORE;

    while (pos < len && ret == HDR_SCAN_MORE) {
        size_t used;
        ret = hdr_scan_feed(s, in + pos, bytewise ? 1 : len - pos, &used);
        pos += used;
    }
    if (ret == HDR_SCAN_MORE)
        ret = hdr_scan_finish(s);
    hdr_scan_body_prefix(s, &prefix);
    if (prefix > pos)
        abort();
    buf_printf(sum, "#%d %zu", ret, ret == HDR_SCAN_MORE ? len : pos - prefix);
    hdr_scan_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf *a = buf_create(0), *b = buf_create(0);

    run((const char *)data, size, false, a);
    run((const char *)data, size, true, b);
    if (buf_len(a) != buf_len(b) || memcmp(buf_str(a), buf_str(b), buf_len(a)) != 0)
        abort();
    buf_free(&a);
    buf_free(&b);
    return 0;
}
