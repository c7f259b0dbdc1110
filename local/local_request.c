/*
 * local_request - one delivery request from qmgr: open the queue file,
 * collect the message's Delivered-To: headers, run each recipient through
 * the delivery switch, and sum up each recipient's leaves into the result
 * that goes back to qmgr.
 *
 * Owns struct local_job for the duration of a request: the open queue
 * file (read with pread only), the loop information, the duplicate filter
 * (one per request, as Postfix's), and the per-recipient sum.
 *
 * A recipient's result: deferred when any of its leaves was deferred (the
 * whole expansion is tried again later: Postfix behaves the same; the
 * duplicate deliveries this may cause are the price of never losing one),
 * else bounced when any leaf bounced, else sent. Each leaf is logged on its
 * own line in Postfix's shape, so the log shows every mailbox, command and
 * file an alias reached.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/dict/dict.h"
#include "lib/mail/maps.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/resolve.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"
#include "local/local.h"

#define LOCAL_HEADER_READ 8192         /* bytes read at a time for the header block */
#define LOCAL_HEADER_MAX (1024 * 1024) /* header bytes searched for Delivered-To: */

/* Wall-clock microseconds. */
long long local_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

/* An empty (sent, nothing yet) result. */
void local_result_init(struct local_result *r)
{
    memset(r, 0, sizeof(*r));
    r->status = DELIVER_SENT;
    snprintf(r->dsn, sizeof(r->dsn), "2.0.0");
    r->action = "delivered";
    r->text = buf_create(64);
}

/* Free what r holds. */
void local_result_clear(struct local_result *r)
{
    buf_free(&r->text);
}

/* How bad a status is, for the sum: deferred > bounced > sent. */
static int local_status_rank(enum deliver_status s)
{
    return s == DELIVER_DEFERRED ? 2 : s == DELIVER_BOUNCED ? 1 : 0;
}

/* Record a leaf: log it and fold it into the recipient's result. */
void local_leaf(struct local_job *job, const struct local_attr *attr, enum deliver_status status,
                const char *dsn, const char *action, long long xfer_ms, const char *fmt, ...)
{
    struct buf *text = buf_create(128);
    struct deliver_rcpt r = *job->rcpt;
    struct deliver_result res;
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(text, fmt, ap);
    va_end(ap);
    if (buf_len(text) > LOCAL_TEXT_MAX)
        buf_truncate(text, LOCAL_TEXT_MAX);
    if (status != DELIVER_SENT)
        action = "";

    /* The log line: to= the address delivered, orig_to= what the client gave us. */
    r.address = (char *)attr->address;
    if (strcmp(attr->address, job->rcpt->address) != 0 && *job->rcpt->orig == 0)
        r.orig = job->rcpt->address;
    memset(&res, 0, sizeof(res));
    res.index = job->rcpt->index;
    res.address = r.address;
    res.status = status;
    res.dsn = (char *)dsn;
    res.action = (char *)action;
    res.text = buf_str(text);
    res.relay = "local";
    res.xfer_ms = xfer_ms < 0 ? 0 : xfer_ms;
    if (job->leaf_sink != NULL)
        job->leaf_sink(job->leaf_ctx, attr->address, status, dsn, buf_str(text));
    else
        deliver_log(job->req, &r, &res, local_now_us());

    /* The sum: the first leaf of the worst status explains the result. */
    if (job->leaves == 0 || local_status_rank(status) > local_status_rank(job->sum.status)) {
        job->sum.status = status;
        snprintf(job->sum.dsn, sizeof(job->sum.dsn), "%s", dsn);
        job->sum.action = action;
        buf_set(job->sum.text, buf_str(text));
    }
    job->leaves++;
    if (job->sum.status == DELIVER_SENT && job->leaves > 1)
        job->sum.action = "expanded";
    buf_free(&text);
}

/* Count one destination of an expansion against local_expansion_limit. */
bool local_expansion_ok(struct local_job *job, const struct local_attr *attr)
{
    job->expansions++;
    if (job->expansions <= (size_t)job->set->expansion_limit)
        return true;
    if (job->expansions == (size_t)job->set->expansion_limit + 1) {
        msg_warn("%s: expansion of %s exceeds local_expansion_limit (%d); the rest is bounced",
                 job->req->queue_id, job->rcpt->address, job->set->expansion_limit);
        local_leaf(job, attr, DELIVER_BOUNCED, "5.4.6", "", 0, "alias expansion limit exceeded");
    }
    return false;
}

/* Read the header block and collect its Delivered-To: addresses. 0, or -1 with *why_r. */
static int local_job_loop_info(struct local_job *job, const char **why_r)
{
    static char why[256];
    char data[LOCAL_HEADER_READ];
    off_t pos = 0;
    bool done = false;

    job->loop = local_loop_create();
    while (!done && pos < job->content_length && pos < LOCAL_HEADER_MAX) {
        size_t want = sizeof(data);
        ssize_t n;

        if ((off_t)want > job->content_length - pos)
            want = (size_t)(job->content_length - pos);
        n = pread(job->fd, data, want, job->content_offset + pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, sizeof(why), "read queue file %s: %s", job->req->queue_file,
                     n < 0 ? strerror(errno) : "unexpected end of file");
            *why_r = why;
            return -1;
        }
        local_loop_feed(job->loop, data, (size_t)n, &done);
        pos += n;
    }
    if (!done)
        local_loop_feed(job->loop, "", 0, &done);
    return 0;
}

/* Settings, tables and the resolver for this process. 0, or -1 with *why_r. */
int local_ctx_init(struct local_ctx *ctx, const char **why_r)
{
    const int flags = DICT_FLAG_FOLD_KEYS;

    memset(ctx, 0, sizeof(*ctx));
    if (local_settings_load(&ctx->set, why_r) < 0)
        return -1;
    /* A table that cannot be opened yet (before the first newaliases) defers until it can. */
    if (maps_create("alias_maps", ctx->set.alias_maps, flags, &ctx->aliases, why_r) < 0 ||
        maps_create("local_mailbox_maps", ctx->set.local_mailbox_maps, flags, &ctx->mailbox_maps,
                    why_r) < 0) {
        local_ctx_free(ctx);
        return -1;
    }
    local_ctx_refresh(ctx);
    return 0;
}

/*
 * Before each request: create the resolver, or re-open its rebuilt tables
 * (alias_maps and local_mailbox_maps do that at each lookup).
 */
void local_ctx_refresh(struct local_ctx *ctx)
{
    const char *why;

    if (ctx->resolver == NULL) {
        mem_free(ctx->resolver_why);
        ctx->resolver_why = NULL;
        if ((ctx->resolver = resolver_create_from_config(&why)) == NULL) {
            ctx->resolver_why = mem_strdup(why);
            msg_warn("address resolver unavailable: %s", why);
        }
    } else if (resolver_refresh(ctx->resolver, &why) < 0) {
        msg_warn("address resolver: %s", why);
    }
}

/* Free what ctx holds. */
void local_ctx_free(struct local_ctx *ctx)
{
    maps_free(&ctx->aliases);
    maps_free(&ctx->mailbox_maps);
    resolver_free(&ctx->resolver);
    mem_free(ctx->resolver_why);
    local_settings_clear(&ctx->set);
}

/* Deliver every recipient of req; done() gets each recipient's result as soon as it is final. */
int local_request(struct local_ctx *ctx, const struct deliver_request *req, local_done_fn done,
                  void *done_ctx)
{
    struct local_job job;
    struct local_result res;
    const char *why = NULL;
    int r;

    memset(&job, 0, sizeof(job));
    job.ctx = ctx;
    job.set = &ctx->set;
    job.req = req;
    job.fd = -1;
    job.leaf_sink = ctx->leaf_sink;
    job.leaf_ctx = ctx->leaf_ctx;
    local_ctx_refresh(ctx);

    r = queue_file_open(req->queue_file, 0, &job.qf, &why);
    if (r <= 0) {
        static char text[512];

        snprintf(text, sizeof(text), "cannot read queue file %s: %s", req->queue_file,
                 why != NULL ? why : strerror(errno));
        why = text;
        msg_warn("%s: %s", req->queue_id, why);
    } else {
        job.fd = queue_file_fd(job.qf);
        job.content_offset = (off_t)queue_file_content_offset(job.qf);
        job.content_length = (off_t)queue_file_content_length(job.qf);
        if (strcmp(queue_file_id(job.qf), req->queue_id) != 0) {
            why = "queue file does not hold the requested queue ID";
            msg_warn("%s: %s %s", req->queue_id, req->queue_file, why);
        } else if (local_job_loop_info(&job, &why) < 0) {
            msg_warn("%s: %s", req->queue_id, why);
        }
    }
    job.dups = local_dups_create(job.set->duplicate_filter_limit);

    for (size_t i = 0; i < req->rcpt_count; i++) {
        struct local_attr attr;

        local_result_init(&job.sum);
        job.rcpt = &req->rcpts[i];
        job.leaves = 0;
        job.expansions = 0;
        memset(&attr, 0, sizeof(attr));
        attr.address = job.rcpt->address;
        attr.delivered = job.rcpt->address;
        attr.sender = req->sender;
        if (why != NULL) {
            /* The message cannot be read: every recipient waits for a better time. */
            local_leaf(&job, &attr, DELIVER_DEFERRED, "4.3.0", "", 0, "%s", why);
        } else {
            local_recipient(&job, attr);
            local_resubmit_flush(&job);
            if (job.leaves == 0)
                buf_set(job.sum.text, "delivered (every destination was a duplicate)");
        }
        res = job.sum;
        done(done_ctx, i, &res);
        local_result_clear(&job.sum);
    }
    local_dups_free(&job.dups);
    local_loop_free(&job.loop);
    queue_file_free(&job.qf);
    return 0;
}
