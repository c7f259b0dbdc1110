/*
 * Fuzz target (libFuzzer) for lib/mail/cleanup: a message fed whole, byte
 * by byte and in uneven pieces must give the same output and status; the
 * output ends with a line end, holds no header longer than the limit, and
 * is never much longer than the input.
 *
 *   make fuzz-smtpd && ./tests/fuzz/fuzz_cleanup -max_total_time=60
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mail/cleanup.h"
#include "lib/util/buf.h"
#include "lib/util/msg.h"

#define FUZZ_HDR_LIMIT 200
#define FUZZ_ADDED_MAX 400 /* Received + Message-ID + Date + From + separator + final LF */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Collect the output. */
static int fuzz_write(void *ctx, const char *p, size_t n)
{
    buf_append(ctx, p, n);
    return 0;
}

/* One run; step 0 = whole. Returns the status, output in out. */
static unsigned fuzz_run(const uint8_t *data, size_t size, size_t step, unsigned flags,
                         struct buf *out)
{
    struct cleanup_opts opts = {
        .queue_id = "1K0FUZZFUZZFUZZ0",
        .myhostname = "fuzz.example",
        .sender = "s@fuzz.example",
        .arrival = 1700000000,
        .header_size_limit = FUZZ_HDR_LIMIT,
        .hopcount_limit = 5,
        .flags = flags,
    };
    struct cleanup *c = cleanup_create(&opts, fuzz_write, out);
    unsigned status;

    cleanup_prepend(c, "Received: by fuzz.example");
    for (size_t i = 0; i < size;) {
        size_t n = step == 0 ? size : step + i % 3;

        if (n > size - i)
            n = size - i;
        cleanup_feed(c, (const char *)data + i, n);
        i += n;
    }
    cleanup_finish(c);
    status = cleanup_status(c);
    if (cleanup_size(c) != buf_len(out))
        abort();
    cleanup_free(&c);
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    unsigned flags =
        size > 0 && (data[0] & 1) ? CLEANUP_FLAG_ADD_HEADERS | CLEANUP_FLAG_STRIP_BCC : 0;
    struct buf *whole = buf_create(size + 64), *bytes = buf_create(size + 64);
    unsigned s1, s2, s3;

    if (!init) {
        msg_init("fuzz_cleanup", 0);
        init = true;
    }
    s1 = fuzz_run(data, size, 0, flags, whole);
    s2 = fuzz_run(data, size, 1, flags, bytes);
    if (s1 != s2 || buf_len(whole) != buf_len(bytes) ||
        memcmp(buf_str(whole), buf_str(bytes), buf_len(whole)) != 0)
        abort();
    buf_reset(bytes);
    s3 = fuzz_run(data, size, 5, flags, bytes);
    if (s1 != s3 || buf_len(whole) != buf_len(bytes) ||
        memcmp(buf_str(whole), buf_str(bytes), buf_len(whole)) != 0)
        abort();
    if (buf_len(whole) == 0 || buf_str(whole)[buf_len(whole) - 1] != '\n')
        abort();
    if (buf_len(whole) > size + FUZZ_ADDED_MAX)
        abort();
    buf_free(&whole);
    buf_free(&bytes);
    return 0;
}
