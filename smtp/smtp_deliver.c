/*
 * smtp_deliver - one delivery request of smtp(8): the message's queue
 * file, the addresses of the next hop, the sessions in order, and one
 * result per recipient to qmgr.
 *
 * Order of events: open and scan the queue file; smtp_generic_maps on the
 * envelope; a kept connection to the same next hop, if any (after RSET);
 * then the addresses of the next hop (smtp_addr.c), each tried in turn
 * until every recipient has a result. A server that cannot be used (no
 * connection, bad greeting, handshake trouble) moves on to the next
 * address; so does a soft failure of some recipients on a server that is
 * not the last to try (at most smtp_mx_session_limit sessions complete the
 * handshake). At smtp_tls_security_level = may, a failed TLS handshake is
 * retried once over a new connection without STARTTLS, as Postfix does.
 * What is left after the last server gets the last soft failure.
 *
 * A connection that ends a delivery in good order is kept for the next
 * request to the same next hop (smtp_connection_cache_on_demand).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/mail/deliver.h"
#include "lib/mail/maps.h"
#include "lib/mail/queue_file.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"
#include "smtp/smtp.h"

/* Milliseconds of a monotonic clock. */
long long smtp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send recipient i's result. */
void smtp_rcpt_result(struct smtp_req *st, size_t i, enum deliver_status status, const char *dsn,
                      const char *action, const char *relay, const char *text)
{
    long long now = smtp_now_ms();
    long long conn = st->ready_ms ? st->ready_ms - st->start_ms : now - st->start_ms;
    long long xfer = st->ready_ms ? now - st->ready_ms : 0;
    const char *why;

    if (st->done[i])
        msg_panic("%s: second result for recipient %zu", st->req->queue_id, i);
    st->done[i] = true;
    st->left--;
    if (st->qmgr_failed)
        return;
    if (!deliver_dsn_valid(dsn, status)) {
        /* A bug must not lose mail: report it as a deferral. */
        msg_error("%s: bad result dsn \"%s\" for status %s; deferring", st->req->queue_id, dsn,
                  deliver_status_name(status));
        status = DELIVER_DEFERRED;
        dsn = "4.3.0";
        action = "";
    }
    if (deliver_result_send(st->qmgr, st->req, &st->req->rcpts[i], status, dsn,
                            status == DELIVER_SENT ? action : "", relay ? relay : "none",
                            conn < 0 ? 0 : conn, xfer < 0 ? 0 : xfer, text, &why) < 0) {
        msg_warn("%s: sending the result to qmgr: %s", st->req->queue_id, why);
        st->qmgr_failed = true;
    }
}

/* Recipient i failed with o. */
void smtp_rcpt_fail(struct smtp_req *st, size_t i, const struct smtp_outcome *o, const char *relay)
{
    if (o->status == DELIVER_DEFERRED && !st->final_server) {
        /* Another server may take it. */
        smtp_outcome_copy(&st->last, o);
        if (relay != NULL)
            snprintf(st->last.relay, sizeof(st->last.relay), "%s", relay);
        st->have_last = true;
        return;
    }
    smtp_rcpt_result(st, i, o->status, o->dsn, "",
                     relay         ? relay
                     : o->relay[0] ? o->relay
                                   : "none",
                     buf_str(o->text));
}

/* Every recipient without a result failed with o. */
void smtp_bulk_fail(struct smtp_req *st, const struct smtp_outcome *o, const char *relay)
{
    for (size_t i = 0; i < st->req->rcpt_count; i++)
        if (!st->done[i])
            smtp_rcpt_fail(st, i, o, relay);
}

/* Close the cached connection when it idled too long (or always, with force). */
void smtp_cache_expire(struct smtp_agent *agent, bool force)
{
    struct smtp_session *sess = agent->cached;

    if (sess == NULL)
        return;
    if (force || smtp_now_ms() - sess->idle_since_ms >= agent->set.cache_time_limit ||
        smtp_session_idle_broken(sess)) {
        agent->cached = NULL;
        smtp_session_quit(&sess, &agent->set);
    }
}

/* True when a session may carry another delivery. */
static bool smtp_session_reusable(const struct smtp_agent *agent, const struct smtp_session *sess)
{
    const struct smtp_settings *set = &agent->set;

    return set->cache_on_demand && !sess->broken &&
           (set->reuse_count_limit == 0 || sess->reuse_count < (unsigned)set->reuse_count_limit) &&
           smtp_now_ms() - sess->created_ms < set->reuse_time_limit;
}

/* Keep sess for the next request to dest, or say goodbye. */
static void smtp_session_done(struct smtp_agent *agent, struct smtp_session **sp, const char *dest,
                              bool ok)
{
    struct smtp_session *sess = *sp;

    *sp = NULL;
    if (!ok || !smtp_session_reusable(agent, sess) || agent->cached != NULL) {
        smtp_session_quit(&sess, &agent->set);
        return;
    }
    mem_free(sess->dest);
    sess->dest = mem_strdup(dest);
    sess->idle_since_ms = smtp_now_ms();
    agent->cached = sess;
}

/* Recipients and sender through smtp_generic_maps. 0, or -1 with o. */
static int smtp_generic_envelope(struct smtp_req *st, struct smtp_outcome *o)
{
    struct maps *m = st->agent->generic_maps;
    struct buf *out = buf_create(128);
    const char *why;

    st->sender = mem_strdup(st->req->sender);
    for (size_t i = 0; i < st->req->rcpt_count; i++)
        st->rcpt_addr[i] = mem_strdup(st->req->rcpts[i].address);
    if (m == NULL) {
        buf_free(&out);
        return 0;
    }
    if (smtp_generic_address(m, st->sender, out, &why) < 0)
        goto fail;
    mem_free(st->sender);
    st->sender = mem_strdup(buf_str(out));
    for (size_t i = 0; i < st->req->rcpt_count; i++) {
        if (smtp_generic_address(m, st->rcpt_addr[i], out, &why) < 0)
            goto fail;
        mem_free(st->rcpt_addr[i]);
        st->rcpt_addr[i] = mem_strdup(buf_str(out));
    }
    buf_free(&out);
    return 0;

fail:
    buf_free(&out);
    st->agent->table_error = true;
    smtp_outcome_set(o, DELIVER_DEFERRED, "4.3.0", "smtp_generic_maps lookup error: %s", why);
    return -1;
}

/* Try the kept connection, if it goes where this request goes. */
static void smtp_try_cached(struct smtp_req *st)
{
    struct smtp_agent *agent = st->agent;
    struct smtp_session *sess = agent->cached;
    int ok;

    if (sess == NULL)
        return;
    agent->cached = NULL;
    if (strcmp(sess->dest, st->req->nexthop) != 0 || !smtp_session_reusable(agent, sess) ||
        smtp_session_idle_broken(sess) || smtp_session_rset(sess, &agent->set) < 0) {
        smtp_session_quit(&sess, &agent->set);
        return;
    }
    msg_debug("%s: reusing the connection to %s (delivery %u)", st->req->queue_id, sess->relay,
              sess->reuse_count + 1);
    st->final_server = false;
    st->ready_ms = smtp_now_ms();
    ok = smtp_xfer(st, sess);
    sess->reuse_count++;
    st->ready_ms = 0;
    smtp_session_done(agent, &sess, st->req->nexthop, ok == 1);
}

/* The addresses of the next hop, in turn. */
static void smtp_try_servers(struct smtp_req *st, const struct smtp_nexthop *nh)
{
    struct smtp_agent *agent = st->agent;
    const struct smtp_settings *set = &agent->set;
    struct smtp_session_ctx ctx = {
        .set = set,
        .tls_ctx = agent->tls_ctx,
        .sasl_passwd = agent->sasl_passwd,
        .nexthop = st->req->nexthop,
        .queue_id = st->req->queue_id,
        .table_error = &agent->table_error,
    };
    struct smtp_addr_list *addrs = NULL;
    struct smtp_outcome o;
    int sessions = 0;

    smtp_outcome_init(&o);
    if (smtp_addr_find(set, agent->self, nh, &addrs, &o) < 0) {
        st->final_server = true;
        smtp_bulk_fail(st, &o, "none");
        smtp_outcome_clear(&o);
        return;
    }
    for (size_t i = 0; i < addrs->count && st->left > 0 && !st->qmgr_failed; i++) {
        struct smtp_session *sess = NULL;
        bool tls_failed = false;
        int rc, ok;

        st->final_server = i + 1 == addrs->count ||
                           (set->mx_session_limit > 0 && sessions + 1 >= set->mx_session_limit);
        ctx.no_starttls = false;
        rc = smtp_session_open(&ctx, &addrs->v[i], &sess, &o, &tls_failed);
        if (rc == 0 && tls_failed) {
            msg_info("%s: %s; trying again without TLS", st->req->queue_id, buf_str(o.text));
            ctx.no_starttls = true;
            rc = smtp_session_open(&ctx, &addrs->v[i], &sess, &o, &tls_failed);
        }
        if (rc < 0) {
            /* Whatever the server: a loop, a table error. */
            st->final_server = true;
            smtp_bulk_fail(st, &o, NULL);
            break;
        }
        if (rc == 0) {
            if (!st->final_server)
                msg_info("%s: %s", st->req->queue_id, buf_str(o.text));
            smtp_bulk_fail(st, &o, NULL);
            continue;
        }
        sessions++;
        st->ready_ms = smtp_now_ms();
        ok = smtp_xfer(st, sess);
        sess->reuse_count++;
        st->ready_ms = 0;
        smtp_session_done(agent, &sess, st->req->nexthop, ok == 1);
        if (set->mx_session_limit > 0 && sessions >= set->mx_session_limit)
            break;
    }
    if (st->left > 0 && !st->qmgr_failed) {
        /* Nobody took them: the last soft failure is final now. */
        st->final_server = true;
        if (st->have_last)
            smtp_bulk_fail(st, &st->last, NULL);
        else {
            smtp_outcome_set(&o, DELIVER_DEFERRED, "4.4.1", "no server of %s could be reached",
                             st->req->nexthop);
            smtp_bulk_fail(st, &o, "none");
        }
    }
    smtp_addr_list_free(&addrs);
    smtp_outcome_clear(&o);
}

/* Deliver one request. */
int smtp_deliver(struct smtp_agent *agent, const struct deliver_request *req, struct stream *qmgr_s)
{
    struct smtp_req st;
    struct smtp_nexthop nh;
    struct smtp_outcome o;
    const char *why;
    int rc;

    memset(&st, 0, sizeof(st));
    memset(&nh, 0, sizeof(nh));
    st.agent = agent;
    st.req = req;
    st.qmgr = qmgr_s;
    st.start_ms = smtp_now_ms();
    st.left = req->rcpt_count;
    st.done = mem_alloc_array(req->rcpt_count, sizeof(*st.done));
    st.accepted = mem_alloc_array(req->rcpt_count, sizeof(*st.accepted));
    st.rcpt_addr = mem_alloc_array(req->rcpt_count, sizeof(*st.rcpt_addr));
    smtp_outcome_init(&st.last);
    smtp_outcome_init(&o);
    st.final_server = true;

    rc = queue_file_open(req->queue_file, 0, &st.qf, &why);
    if (rc != 1) {
        smtp_outcome_set(&o, DELIVER_DEFERRED, "4.3.0", "cannot open the queue file: %s",
                         rc < 0 ? why : "corrupt queue file");
        smtp_bulk_fail(&st, &o, "none");
        goto done;
    }
    if (smtp_content_scan(st.qf, &st.info, &why) < 0) {
        smtp_outcome_set(&o, DELIVER_DEFERRED, "4.3.0", "cannot read the queue file: %s", why);
        smtp_bulk_fail(&st, &o, "none");
        goto done;
    }
    if (smtp_generic_envelope(&st, &o) < 0) {
        smtp_bulk_fail(&st, &o, "none");
        goto done;
    }
    if (smtp_nexthop_parse(req->nexthop, &nh, &why) < 0) {
        smtp_outcome_set(&o, DELIVER_DEFERRED, "4.3.5", "bad next hop \"%.200s\": %s", req->nexthop,
                         why);
        smtp_bulk_fail(&st, &o, "none");
        goto done;
    }
    smtp_cache_expire(agent, false);
    smtp_try_cached(&st);
    if (st.left > 0 && !st.qmgr_failed)
        smtp_try_servers(&st, &nh);

done:
    if (st.left > 0 && !st.qmgr_failed)
        msg_panic("%s: %zu recipients without a result", req->queue_id, st.left);
    for (size_t i = 0; i < req->rcpt_count; i++)
        mem_free(st.rcpt_addr[i]);
    mem_free(st.rcpt_addr);
    mem_free(st.done);
    mem_free(st.accepted);
    mem_free(st.sender);
    queue_file_free(&st.qf);
    smtp_nexthop_clear(&nh);
    smtp_outcome_clear(&st.last);
    smtp_outcome_clear(&o);
    return st.qmgr_failed ? -1 : 0;
}
