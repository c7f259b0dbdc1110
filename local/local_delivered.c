/*
 * local_delivered - mail forwarding loop detection: the Delivered-To:
 * addresses in the header block of a message.
 *
 * local(8) adds "Delivered-To: <recipient>" to every message it delivers
 * or forwards; when a message arrives for a recipient that is already
 * named in one of its Delivered-To: headers, it has been here before and
 * is bounced ("5.4.6 mail forwarding loop for <recipient>"), as Postfix
 * does. Only the message's own header block counts (a forwarded message
 * quoted in the body does not).
 *
 * Owns struct local_loop: the addresses (trimmed, unfolded, lower case,
 * without <>) and the incremental header scanner that finds them. Pure.
 * Bounded: at most LOCAL_LOOP_MAX addresses are kept; each header is cut
 * at HDR_SIZE_LIMIT by the scanner.
 */
#include "config.h"

#include <string.h>

#include "lib/proto/hdr.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/str.h"
#include "local/local.h"

#define LOCAL_LOOP_MAX 1000 /* Delivered-To: headers remembered */

struct local_loop {
    struct argv *addrs;
    struct hdr_scan *scan;
    bool done;
};

/* Scanner callback. */
static void local_loop_scan_cb(void *ctx, const struct hdr_field *f)
{
    local_loop_header(ctx, f);
}

/* An empty set with its own header scanner. */
struct local_loop *local_loop_create(void)
{
    struct local_loop *l = mem_alloc(sizeof(*l));

    l->addrs = argv_create(4);
    l->scan = hdr_scan_create(HDR_SIZE_LIMIT, local_loop_scan_cb, l);
    return l;
}

/* Free *lp and clear it. */
void local_loop_free(struct local_loop **lp)
{
    struct local_loop *l = *lp;

    if (l == NULL)
        return;
    argv_free(&l->addrs);
    hdr_scan_free(&l->scan);
    MEM_FREE(lp);
}

/* Keep the address of a Delivered-To: header. */
void local_loop_header(struct local_loop *l, const struct hdr_field *f)
{
    struct buf *v;
    char *cp;
    size_t len;

    if (f->name_len != 12 || str_ncmp_icase(f->name, "Delivered-To", 12) != 0)
        return;
    if (l->addrs->argc >= LOCAL_LOOP_MAX)
        return;
    v = buf_create(f->value_len + 1);
    hdr_unfold(v, f->value, f->value_len, true);
    cp = buf_str(v);
    len = buf_len(v);
    if (len >= 2 && cp[0] == '<' && cp[len - 1] == '>') {
        cp[len - 1] = 0;
        cp++;
    }
    cp = str_trim(cp);
    str_lower(cp);
    if (*cp)
        argv_add(l->addrs, cp);
    buf_free(&v);
}

/* Feed header text (a message's start); *done_r once the header block ended. */
int local_loop_feed(struct local_loop *l, const char *data, size_t len, bool *done_r)
{
    size_t used;

    if (!l->done && len == 0) {
        hdr_scan_finish(l->scan);
        l->done = true;
    }
    while (!l->done && len > 0) {
        int r = hdr_scan_feed(l->scan, data, len, &used);

        if (r != HDR_SCAN_MORE)
            l->done = true;
        data += used;
        len -= used;
        if (used == 0)
            break;
    }
    *done_r = l->done;
    return 0;
}

/* True when address (any case) is named by a Delivered-To: header. */
bool local_loop_find(const struct local_loop *l, const char *address)
{
    for (size_t i = 0; i < l->addrs->argc; i++)
        if (str_eq_icase(l->addrs->argv[i], address))
            return true;
    return false;
}

/* How many addresses were found. */
size_t local_loop_count(const struct local_loop *l)
{
    return l->addrs->argc;
}
