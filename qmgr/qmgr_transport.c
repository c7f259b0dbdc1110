/*
 * qmgr_transport - transports and their logical queues, and the scheduler
 * that starts deliveries within the concurrency limits.
 *
 * A transport is a master.cf service that delivers (private/<name>). Its
 * limits: deliveries in flight for the whole transport (the service's
 * master.cf maxproc, default_process_limit for "-"), deliveries per
 * logical queue (<name>_destination_concurrency_limit, else local_ or
 * default_destination_concurrency_limit) and recipients per request
 * (<name>_destination_recipient_limit, else local_ or
 * default_destination_recipient_limit). A logical queue is one next hop:
 * a domain or relay host for smtp, one mailbox for local.
 *
 * Slow start: a new queue may have initial_destination_concurrency
 * deliveries in flight; each delivery that ends without a next-hop failure
 * allows one more, up to the limit; a next-hop failure halves the window
 * and suspends the queue (qmgr_window.h). A queue is forgotten when it has
 * nothing waiting or in flight, and starts slowly again next time.
 *
 * Scheduling is round-robin over the queues that have waiting recipients,
 * so one busy destination cannot starve the others; each request carries
 * recipients of one message, taken in arrival order.
 *
 * A transport that cannot be reached is "dead" for transport_retry_time:
 * its waiting recipients are deferred with "delivery temporarily
 * suspended: <reason>", as Postfix's qmgr does.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/param.h"
#include "lib/mail/server.h"
#include "lib/util/buf.h"
#include "lib/util/clock.h"
#include "lib/util/event.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"
#include "qmgr/qmgr.h"
#include "qmgr/qmgr_window.h"

static struct qmgr_list qmgr_transports = {&qmgr_transports, &qmgr_transports};

/* Per-transport limits from master.cf maxproc, set by qmgr.c (name -> maxproc). */
struct argv *qmgr_maxproc_names;
int *qmgr_maxproc_values;

/*
 * A per-transport limit "<name>_<suffix>" (param.h): its value when it is
 * a table parameter or main.cf sets it, else def (the local_ or default_
 * limit).
 */
static int qmgr_transport_param(const char *name, const char *suffix, int def)
{
    struct buf *pname = buf_create(64);
    long long v = def;

    buf_printf(pname, "%s_%s", name, suffix);
    if (param_find(buf_str(pname)) != NULL || config_is_set(buf_str(pname)))
        v = config_int(buf_str(pname));
    buf_free(&pname);
    return (int)v;
}

/* The transport called name (created on first use). */
struct qmgr_transport *qmgr_transport_get(const char *name)
{
    struct qmgr_transport *t;
    struct qmgr_list *p;
    bool local;

    for (p = qmgr_transports.next; p != &qmgr_transports; p = p->next) {
        t = QMGR_ENTRY(p, struct qmgr_transport, link);
        if (strcmp(t->name, name) == 0)
            return t;
    }
    t = mem_alloc(sizeof(*t));
    t->name = mem_strdup(name);
    local = strcmp(name, qmgr_var.local_transport) == 0;
    t->dest_limit = qmgr_transport_param(name, "destination_concurrency_limit",
                                         local ? qmgr_var.local_dest_limit : qmgr_var.dest_limit);
    t->rcpt_limit = qmgr_transport_param(name, "destination_recipient_limit",
                                         local ? qmgr_var.local_rcpt_limit : qmgr_var.rcpt_limit);
    if (t->rcpt_limit > DELIVER_RCPT_MAX)
        t->rcpt_limit = DELIVER_RCPT_MAX;
    t->total_limit = qmgr_var.process_limit;
    for (size_t i = 0; qmgr_maxproc_names && i < qmgr_maxproc_names->argc; i++)
        if (strcmp(qmgr_maxproc_names->argv[i], name) == 0)
            t->total_limit = qmgr_maxproc_values[i] > 0 ? qmgr_maxproc_values[i] : INT_MAX;
    qmgr_list_init(&t->queues);
    qmgr_list_init(&t->ready);
    qmgr_list_append(&qmgr_transports, &t->link);
    msg_debug("transport %s: destination concurrency %d, recipients %d, processes %d", name,
              t->dest_limit, t->rcpt_limit, t->total_limit);
    return t;
}

/* The bucket of a nexthop. */
static size_t qmgr_hash(const char *s)
{
    return (size_t)(str_hash(s) % QMGR_QUEUE_BUCKETS);
}

/* The queue of t for nexthop (created on first use). */
static struct qmgr_queue *qmgr_queue_get(struct qmgr_transport *t, const char *nexthop)
{
    size_t h = qmgr_hash(nexthop);
    struct qmgr_queue *q;

    for (q = t->buckets[h]; q != NULL; q = q->hnext)
        if (strcmp(q->nexthop, nexthop) == 0)
            return q;
    q = mem_alloc(sizeof(*q));
    q->transport = t;
    q->nexthop = mem_strdup(nexthop);
    q->window = qmgr_window_init(qmgr_var.initial_dest, t->dest_limit);
    qmgr_list_init(&q->todo);
    qmgr_list_init(&q->ready_link);
    q->hnext = t->buckets[h];
    t->buckets[h] = q;
    qmgr_list_append(&t->queues, &q->link);
    return q;
}

/* Free a queue that has nothing waiting and nothing in flight. */
static void qmgr_queue_release(struct qmgr_queue *q)
{
    struct qmgr_transport *t = q->transport;
    struct qmgr_queue **pp;

    if (q->busy > 0 || q->todo_count > 0 || q->dead_reason != NULL)
        return;
    for (pp = &t->buckets[qmgr_hash(q->nexthop)]; *pp != NULL; pp = &(*pp)->hnext)
        if (*pp == q) {
            *pp = q->hnext;
            break;
        }
    qmgr_list_remove(&q->link);
    if (qmgr_list_linked(&q->ready_link))
        qmgr_list_remove(&q->ready_link);
    mem_free(q->nexthop);
    mem_free(q);
}

/* "delivery temporarily suspended: reason" into a new buffer. */
static struct buf *qmgr_suspended(const char *reason)
{
    struct buf *text = buf_create(128);

    buf_printf(text, "delivery temporarily suspended: %s", reason);
    return text;
}

/* Put a recipient at the end of its queue. */
void qmgr_queue_add(struct qmgr_transport *t, const char *nexthop, struct qmgr_rcpt *rc)
{
    struct qmgr_queue *q = qmgr_queue_get(t, nexthop);

    if (q->dead_reason != NULL) {
        struct buf *text = qmgr_suspended(q->dead_reason);

        rc->queue = NULL;
        rc->state = QMGR_RCPT_TODO;
        qmgr_rcpt_defer(rc, "4.4.1", "none", buf_str(text), true);
        buf_free(&text);
        return;
    }

    rc->queue = q;
    rc->state = QMGR_RCPT_TODO;
    qmgr_list_append(&q->todo, &rc->link);
    q->todo_count++;
    if (!qmgr_list_linked(&q->ready_link))
        qmgr_list_append(&t->ready, &q->ready_link);
    qmgr_schedule_soon();
}

/* Take a waiting recipient out of its queue. */
void qmgr_queue_unlink(struct qmgr_rcpt *rc)
{
    struct qmgr_queue *q = rc->queue;

    if (q == NULL || !qmgr_list_linked(&rc->link))
        return;
    qmgr_list_remove(&rc->link);
    q->todo_count--;
    if (q->todo_count == 0 && qmgr_list_linked(&q->ready_link))
        qmgr_list_remove(&q->ready_link);
    rc->queue = NULL;
    qmgr_queue_release(q);
}

/* The recipients of one request: the head of q and what follows of the same message. */
static size_t qmgr_queue_take(struct qmgr_queue *q, struct qmgr_rcpt **out, size_t max)
{
    struct qmgr_message *m = NULL;
    size_t n = 0;

    while (n < max && !qmgr_list_empty(&q->todo)) {
        struct qmgr_rcpt *rc = QMGR_ENTRY(q->todo.next, struct qmgr_rcpt, link);

        if (m != NULL && rc->msg != m)
            break;
        m = rc->msg;
        qmgr_list_remove(&rc->link);
        q->todo_count--;
        rc->state = QMGR_RCPT_BUSY;
        out[n++] = rc;
    }
    if (q->todo_count == 0 && qmgr_list_linked(&q->ready_link))
        qmgr_list_remove(&q->ready_link);
    return n;
}

/* Start deliveries of t while its limits allow. */
static void qmgr_transport_schedule(struct qmgr_transport *t)
{
    struct qmgr_rcpt **batch;

    if (t->dead_until_ms != 0 || qmgr_list_empty(&t->ready))
        return;
    batch = mem_alloc_array((size_t)t->rcpt_limit, sizeof(*batch));
    while (t->busy < t->total_limit && t->dead_until_ms == 0 && !qmgr_list_empty(&t->ready)) {
        struct qmgr_list *p;
        struct qmgr_queue *q = NULL;

        /* Round-robin: the first ready queue with room; it goes to the back. */
        for (p = t->ready.next; p != &t->ready; p = p->next) {
            struct qmgr_queue *c = QMGR_ENTRY(p, struct qmgr_queue, ready_link);

            if (c->busy < c->window) {
                q = c;
                break;
            }
        }
        if (q == NULL)
            break;
        qmgr_list_remove(&q->ready_link);
        qmgr_list_append(&t->ready, &q->ready_link);
        size_t n = qmgr_queue_take(q, batch, (size_t)t->rcpt_limit);
        if (n == 0)
            continue;
        q->busy++;
        t->busy++;
        qmgr_deliver_start(q, batch, n);
    }
    mem_free(batch);
}

/* Start deliveries within every limit. */
void qmgr_schedule(void)
{
    struct qmgr_list *p, *next;

    for (p = qmgr_transports.next; p != &qmgr_transports; p = next) {
        next = p->next;
        qmgr_transport_schedule(QMGR_ENTRY(p, struct qmgr_transport, link));
    }
}

/* A delivery of q ended (called by qmgr_deliver.c). */
void qmgr_queue_done(struct qmgr_queue *q)
{
    struct qmgr_transport *t = q->transport;

    q->busy--;
    t->busy--;
    qmgr_queue_release(q);
    qmgr_schedule_soon();
}

/* A delivery of q ended without a next-hop failure: one more in parallel, up to the limit. */
void qmgr_queue_success(struct qmgr_queue *q)
{
    q->window = qmgr_window_success(q->window, q->transport->dest_limit);
}

/* The next hop's dead time is over. */
static void qmgr_queue_revive(void *ctx)
{
    struct qmgr_queue *q = ctx;

    q->dead_timer = 0;
    MEM_FREE(&q->dead_reason);
    qmgr_queue_release(q);
}

/* The next hop of q failed: defer what waits for it, for minimal_backoff_time. */
void qmgr_queue_throttle(struct qmgr_queue *q, const char *reason)
{
    struct buf *text;

    q->window = qmgr_window_failure(q->window);
    if (q->dead_reason != NULL)
        return;
    msg_info("transport %s: next hop %s suspended for %llds: %s", q->transport->name, q->nexthop,
             qmgr_var.min_backoff, reason);
    q->dead_reason = mem_strdup(reason);
    q->dead_timer =
        event_timer_add(event_server_loop(), qmgr_var.min_backoff * 1000, qmgr_queue_revive, q);
    text = qmgr_suspended(reason);
    /* A dead queue is never freed by the deferrals below (qmgr_queue_release). */
    while (!qmgr_list_empty(&q->todo)) {
        struct qmgr_rcpt *rc = QMGR_ENTRY(q->todo.next, struct qmgr_rcpt, link);

        qmgr_rcpt_defer(rc, "4.4.1", "none", buf_str(text), true);
    }
    buf_free(&text);
}

/* The dead time is over. */
static void qmgr_transport_revive(void *ctx)
{
    struct qmgr_transport *t = ctx;

    t->retry_timer = 0;
    t->dead_until_ms = 0;
    MEM_FREE(&t->dead_reason);
    qmgr_schedule_soon();
}

/* Keep t away for ms milliseconds; with a reason, defer what waits for it. */
static void qmgr_transport_suspend(struct qmgr_transport *t, long long ms, const char *reason)
{
    struct buf *text = buf_create(128);

    t->dead_until_ms = clock_now_ms() + ms;
    mem_free(t->dead_reason);
    t->dead_reason = reason ? mem_strdup(reason) : NULL;
    if (t->retry_timer)
        event_timer_cancel(event_server_loop(), t->retry_timer);
    t->retry_timer = event_timer_add(event_server_loop(), ms, qmgr_transport_revive, t);
    if (reason == NULL) {
        buf_free(&text);
        return;
    }
    buf_printf(text, "delivery temporarily suspended: %s", reason);
    while (!qmgr_list_empty(&t->ready)) {
        struct qmgr_queue *q = QMGR_ENTRY(t->ready.next, struct qmgr_queue, ready_link);

        /* Each deferral unlinks the recipient; the last one unlinks (and may free) q. */
        while (!qmgr_list_empty(&q->todo)) {
            struct qmgr_rcpt *rc = QMGR_ENTRY(q->todo.next, struct qmgr_rcpt, link);
            bool last = q->todo_count == 1;

            qmgr_rcpt_defer(rc, "4.3.0", "none", buf_str(text), true);
            if (last)
                break;
        }
    }
    buf_free(&text);
}

/* A transport cannot be reached: defer what waits for it, for transport_retry_time. */
void qmgr_transport_throttle(struct qmgr_transport *t, const char *reason)
{
    msg_warn("transport %s: %s; suspended for %llds", t->name, reason, qmgr_var.transport_retry);
    qmgr_transport_suspend(t, qmgr_var.transport_retry * 1000, reason);
}

/* The agent's socket has no room now: wait a moment, defer nothing. */
void qmgr_transport_pause(struct qmgr_transport *t, long long ms)
{
    if (t->dead_until_ms == 0)
        qmgr_transport_suspend(t, ms, NULL);
}

/* Make every transport usable again (flush). */
void qmgr_transport_revive_all(void)
{
    struct qmgr_list *p;

    for (p = qmgr_transports.next; p != &qmgr_transports; p = p->next) {
        struct qmgr_transport *t = QMGR_ENTRY(p, struct qmgr_transport, link);

        if (t->retry_timer) {
            event_timer_cancel(event_server_loop(), t->retry_timer);
            t->retry_timer = 0;
        }
        t->dead_until_ms = 0;
        MEM_FREE(&t->dead_reason);
    }
}

/* Free every transport and queue (exit). */
void qmgr_transport_free_all(void)
{
    while (!qmgr_list_empty(&qmgr_transports)) {
        struct qmgr_transport *t = QMGR_ENTRY(qmgr_transports.next, struct qmgr_transport, link);

        while (!qmgr_list_empty(&t->queues)) {
            struct qmgr_queue *q = QMGR_ENTRY(t->queues.next, struct qmgr_queue, link);

            qmgr_list_remove(&q->link);
            if (q->dead_timer)
                event_timer_cancel(event_server_loop(), q->dead_timer);
            mem_free(q->dead_reason);
            mem_free(q->nexthop);
            mem_free(q);
        }
        qmgr_list_remove(&t->link);
        mem_free(t->name);
        mem_free(t->dead_reason);
        mem_free(t);
    }
}
