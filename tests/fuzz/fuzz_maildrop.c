/*
 * Fuzz target (libFuzzer) for lib/mail/maildrop: the maildrop reader fed
 * whole and byte by byte must agree on the result, the error kind, the
 * envelope and the message bytes; every envelope it accepts must pass the
 * value checks again; the typed-text converter must give the same output
 * for both feeding patterns, always ending in a line end.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mail/maildrop.h"
#include "lib/util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    struct buf *content;
    struct buf *env;
};

static int on_env(void *ctx, const struct maildrop_envelope *env)
{
    struct run *r = ctx;

    buf_printf(r->env, "<%s>", env->sender);
    if (maildrop_check_address(env->sender, strlen(env->sender), true, NULL) < 0)
        abort();
    for (size_t i = 0; i < env->rcpt_count; i++) {
        const char *a = env->rcpts[i].address;
        if (maildrop_check_address(a, strlen(a), false, NULL) < 0)
            abort();
        buf_printf(r->env, "<%s:%u:%s>", a, env->rcpts[i].notify,
                   env->rcpts[i].orcpt ? env->rcpts[i].orcpt : "");
    }
    if (env->fullname && maildrop_check_fullname(env->fullname, strlen(env->fullname), NULL) < 0)
        abort();
    return 0;
}

static int on_data(void *ctx, const char *data, size_t len)
{
    struct run *r = ctx;

    buf_append(r->content, data, len);
    return 0;
}

/* Feed in pieces of step bytes (0 = all at once); returns the result. */
static int read_all(const uint8_t *data, size_t size, size_t step, struct run *r,
                    enum maildrop_error *err)
{
    struct maildrop_limits lim = {.rcpt_max = 50, .content_max = 1 << 16};
    struct maildrop_reader *rd = maildrop_reader_create(&lim, on_env, on_data, r);
    size_t off = 0;
    int ret = 0;

    while (off < size && ret == 0) {
        size_t n = step ? (size - off < step ? size - off : step) : size - off, used = 0;
        ret = maildrop_reader_feed(rd, data + off, n, &used, NULL);
        if (used > n || (ret == 0 && used != n))
            abort();
        off += used;
    }
    if (ret == 0)
        ret = maildrop_reader_finish(rd, NULL) == 0 ? 1 : -1;
    *err = maildrop_reader_error(rd);
    if ((ret == 1) != (*err == MAILDROP_ERR_NONE))
        abort();
    maildrop_reader_free(&rd);
    return ret;
}

/* Convert typed text in pieces; returns the output. */
static struct buf *convert(const uint8_t *data, size_t size, size_t step, int flags)
{
    struct maildrop_text *t = maildrop_text_create(flags);
    struct buf *out = buf_create(0);
    size_t off = 0;
    int ended = 0;

    while (off < size && !ended) {
        size_t n = step ? (size - off < step ? size - off : step) : size - off, used = 0;
        ended = maildrop_text_feed(t, (const char *)data + off, n, &used, out);
        off += used;
    }
    if (!ended)
        maildrop_text_finish(t, out);
    if (maildrop_text_size(t) != buf_len(out))
        abort();
    maildrop_text_free(&t);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run a = {buf_create(0), buf_create(0)}, b = {buf_create(0), buf_create(0)};
    enum maildrop_error ea, eb;
    int ra, rb;

    /* As often as not, start with the magic so that records get exercised. */
    if (size > 0 && (data[0] & 1)) {
        struct buf *in = buf_create(size + MAILDROP_MAGIC_LEN);
        maildrop_put_magic(in);
        buf_append(in, data + 1, size - 1);
        ra = read_all((const uint8_t *)buf_str(in), buf_len(in), 0, &a, &ea);
        rb = read_all((const uint8_t *)buf_str(in), buf_len(in), 1, &b, &eb);
        buf_free(&in);
    } else {
        ra = read_all(data, size, 0, &a, &ea);
        rb = read_all(data, size, 1, &b, &eb);
    }
    if (ra != rb || ea != eb || buf_len(a.content) != buf_len(b.content) ||
        memcmp(buf_str(a.content), buf_str(b.content), buf_len(a.content)) != 0 ||
        strcmp(buf_str(a.env), buf_str(b.env)) != 0)
        abort();

    for (int flags = 0; flags <= MAILDROP_TEXT_DOT; flags += MAILDROP_TEXT_DOT) {
        struct buf *x = convert(data, size, 0, flags), *y = convert(data, size, 1, flags);
        if (buf_len(x) != buf_len(y) || memcmp(buf_str(x), buf_str(y), buf_len(x)) != 0)
            abort();
        if (buf_len(x) > 0 && buf_str(x)[buf_len(x) - 1] != '\n')
            abort();
        buf_free(&x);
        buf_free(&y);
    }
    buf_free(&a.content);
    buf_free(&a.env);
    buf_free(&b.content);
    buf_free(&b.env);
    return 0;
}
