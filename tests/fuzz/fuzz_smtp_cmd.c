/*
 * Fuzz target (libFuzzer) for lib/proto/smtp_cmd: command split and the
 * MAIL/RCPT argument parsers, under every option combination the first
 * input byte selects. Checks that a failure always carries a valid reply
 * and a success a well-formed result.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/proto/smtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtp_cmd_opts opts;
    struct smtp_cmd cmd;
    struct smtp_resp resp;
    struct smtp_mail_args *m;
    struct smtp_rcpt_args *r;
    const char *s;

    if (size < 1)
        return 0;
    opts.ext = data[0] & 0x7f;
    opts.strict = (data[0] & 0x80) != 0;
    opts.size_limit = 10240000;
    s = (const char *)data + 1;
    size--;

    if (smtp_cmd_split(s, size, &cmd, &resp) < 0) {
        if (resp.code < 500 || resp.why == NULL)
            abort();
    }
    if (smtp_cmd_mail(s, size, &opts, &m, &resp) == 0) {
        if (m == NULL || m->path.addr == NULL || m->path.local == NULL)
            abort();
        if (strlen(m->path.addr) > 2 * size + 2)
            abort();
        smtp_mail_args_free(&m);
    } else if (m != NULL || resp.code < 500 || resp.why == NULL || strchr(resp.text, '\n')) {
        abort();
    }
    if (smtp_cmd_rcpt(s, size, data[0] & 1, &opts, &r, &resp) == 0) {
        if (r == NULL || r->path.null)
            abort();
        smtp_rcpt_args_free(&r);
    } else if (r != NULL || resp.code < 500 || resp.why == NULL) {
        abort();
    }
    return 0;
}
