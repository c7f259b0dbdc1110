/*
 * qmgr_deliver - one delivery: a connection to the transport's agent at
 * private/<transport>, one request (lib/mail/deliver.h) and its
 * per-recipient results, all non-blocking in qmgr's event loop.
 *
 * Each result is recorded in the queue file as it arrives (qmgr_message.c).
 * A connection that ends before every recipient has a result (the agent
 * crashed or was killed), a malformed result, or an agent that makes no
 * progress for daemon_timeout + 60 seconds: the recipients without a
 * result are deferred with 4.3.0 and a reason, logged here. A transport
 * whose socket does not exist or refuses connections is suspended
 * (qmgr_transport_throttle).
 *
 * Security notes: the transport name comes from main.cf or transport_maps
 * and becomes a path below private/: anything but [A-Za-z0-9._-] (or a
 * name starting with '.') is refused. Results are parsed by the strict attr
 * parser with the default bounds, and each must name a recipient of this
 * request that has no result yet and carry its address.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/mail/attr.h"
#include "lib/mail/deliver.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/server.h"
#include "lib/util/buf.h"
#include "lib/util/event.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "qmgr/qmgr.h"

struct qmgr_delivery {
    int fd;
    struct qmgr_queue *queue;
    struct qmgr_transport *transport;
    struct qmgr_message *msg;
    struct qmgr_rcpt **rcpts;
    bool *answered;
    size_t count;
    size_t answered_count;
    struct buf *out;
    size_t out_off;
    struct attr_parser *parser;
    unsigned long long timer;
    bool nexthop_failed; /* a result said DELIVER_FLAG_NEXTHOP */
};

static size_t qmgr_delivery_total;

/* Deliveries in flight. */
size_t qmgr_deliver_count(void)
{
    return qmgr_delivery_total;
}

/* True for a transport name that is safe as a socket name below private/. */
static bool qmgr_transport_name_ok(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > 64 || name[0] == '.')
        return false;
    for (const char *cp = name; *cp; cp++)
        if (!((*cp >= 'a' && *cp <= 'z') || (*cp >= 'A' && *cp <= 'Z') ||
              (*cp >= '0' && *cp <= '9') || *cp == '.' || *cp == '_' || *cp == '-'))
            return false;
    return true;
}

/* End a delivery: defer whoever has no result (with text), close, count, free. */
static void qmgr_deliver_end(struct qmgr_delivery *d, const char *text)
{
    struct event_loop *loop = event_server_loop();

    for (size_t i = 0; i < d->count; i++)
        if (!d->answered[i])
            qmgr_rcpt_defer(d->rcpts[i], "4.3.0", "none",
                            text ? text : "delivery agent gave no result", true);
    if (d->fd >= 0) {
        event_fd_remove(loop, d->fd);
        (void)close(d->fd);
    }
    if (d->timer)
        event_timer_cancel(loop, d->timer);
    /* Slow start: a delivery that got every result without a next-hop failure. */
    if (text == NULL && d->count > 0 && !d->nexthop_failed)
        qmgr_queue_success(d->queue);
    qmgr_queue_done(d->queue);
    buf_free(&d->out);
    attr_parser_free(&d->parser);
    mem_free(d->rcpts);
    mem_free(d->answered);
    mem_free(d);
    qmgr_delivery_total--;
}

/* End a delivery with a formatted reason for the recipients without a result. */
static void qmgr_deliver_fail(struct qmgr_delivery *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void qmgr_deliver_fail(struct qmgr_delivery *d, const char *fmt, ...)
{
    int saved = errno;
    struct buf *text = buf_create(128);
    va_list ap;

    errno = saved;
    va_start(ap, fmt);
    buf_vprintf(text, fmt, ap);
    va_end(ap);
    if (d->answered_count < d->count)
        msg_warn("%s: transport %s: %s", d->msg->id, d->transport->name, buf_str(text));
    qmgr_deliver_end(d, buf_str(text));
    buf_free(&text);
}

/* The agent made no progress for too long. */
static void qmgr_deliver_timeout(void *ctx)
{
    struct qmgr_delivery *d = ctx;

    d->timer = 0;
    qmgr_deliver_fail(d, "delivery agent timed out after %llds", qmgr_var.agent_timeout / 1000);
}

/* Restart the no-progress timer. */
static void qmgr_deliver_progress(struct qmgr_delivery *d)
{
    struct event_loop *loop = event_server_loop();

    if (d->timer)
        event_timer_cancel(loop, d->timer);
    d->timer = event_timer_add(loop, qmgr_var.agent_timeout, qmgr_deliver_timeout, d);
}

/* One result message: check it against the request and record it. 0, or -1 with *why_r. */
static int qmgr_deliver_result(struct qmgr_delivery *d, struct attr_msg *m, const char **why_r)
{
    static char why[300];
    struct deliver_result res;
    size_t i;

    if (deliver_result_parse(m, &res, why_r) < 0) {
        snprintf(why, sizeof(why), "%s", *why_r);
        *why_r = why;
        return -1;
    }
    for (i = 0; i < d->count; i++)
        if ((long long)d->rcpts[i]->index == res.index)
            break;
    if (i == d->count || d->answered[i] || strcmp(res.address, d->rcpts[i]->address) != 0) {
        snprintf(why, sizeof(why), "result for recipient %lld that is not waiting for one",
                 res.index);
        *why_r = why;
        deliver_result_clear(&res);
        return -1;
    }
    d->answered[i] = true;
    d->answered_count++;
    if (res.status == DELIVER_DEFERRED)
        qmgr_rcpt_defer(d->rcpts[i], res.dsn, res.relay, res.text, false);
    else
        qmgr_rcpt_final(d->rcpts[i], &res);
    /* The next hop itself failed: the others waiting for it need not try. */
    if (res.flags & DELIVER_FLAG_NEXTHOP) {
        d->nexthop_failed = true;
        qmgr_queue_throttle(d->queue, res.text);
    }
    deliver_result_clear(&res);
    return 0;
}

/* The agent's socket is readable or writable. */
static void qmgr_deliver_event(int fd, int events, void *ctx)
{
    struct qmgr_delivery *d = ctx;
    char data[4096];
    ssize_t n;

    if (d->out != NULL && (events & (EVENT_WRITE | EVENT_ERROR))) {
        n = send(fd, buf_str(d->out) + d->out_off, buf_len(d->out) - d->out_off,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n < 0) {
            qmgr_deliver_fail(d, "delivery agent crashed (write to private/%s: %m)",
                              d->transport->name);
            return;
        }
        qmgr_deliver_progress(d);
        d->out_off += (size_t)n;
        if (d->out_off == buf_len(d->out)) {
            buf_free(&d->out);
            event_fd_set(event_server_loop(), fd, EVENT_READ, qmgr_deliver_event, d);
        }
        return;
    }
    if (!(events & (EVENT_READ | EVENT_ERROR)))
        return;
    n = recv(fd, data, sizeof(data), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (n < 0)
            qmgr_deliver_fail(d, "delivery agent crashed (read from private/%s: %m)",
                              d->transport->name);
        else
            qmgr_deliver_fail(d, "delivery agent crashed (connection closed without a result)");
        return;
    }
    qmgr_deliver_progress(d);
    for (size_t off = 0; off < (size_t)n;) {
        struct attr_msg *m = NULL;
        const char *why;
        size_t used = 0;
        int r = attr_parser_feed(d->parser, data + off, (size_t)n - off, &used, &m, &why);

        off += used;
        if (r == 1) {
            r = qmgr_deliver_result(d, m, &why);
            attr_msg_free(&m);
        }
        if (r < 0) {
            qmgr_deliver_fail(d, "delivery agent protocol error: %s", why);
            return;
        }
        if (d->answered_count == d->count) {
            qmgr_deliver_end(d, NULL);
            return;
        }
        if (r == 0 && used == 0)
            break;
    }
}

/* Turn reason into "delivery temporarily suspended: reason". */
static void qmgr_suspended_text(struct buf *reason)
{
    char *copy = mem_strdup(buf_str(reason));

    buf_set(reason, "delivery temporarily suspended: ");
    buf_puts(reason, copy);
    mem_free(copy);
}

/* Connect to private/<name> without waiting: fd, or -1 with errno. */
static int qmgr_deliver_connect(const char *name)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd;

    if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", DELIVER_SOCKET_DIR, name) >=
        sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS) {
        int saved = errno;

        (void)close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* The request for these recipients. */
static struct deliver_request *qmgr_deliver_request(struct qmgr_queue *q, struct qmgr_rcpt **rcpts,
                                                    size_t count)
{
    struct qmgr_message *m = rcpts[0]->msg;
    const struct queue_envelope *env = queue_file_envelope(m->qf);
    struct deliver_request *req = deliver_request_create();
    struct buf *path = buf_create(64);

    queue_file_name(path, QUEUE_DIR_ACTIVE, m->id);
    deliver_set(&req->queue_id, m->id);
    deliver_set(&req->queue_file, buf_str(path));
    buf_free(&path);
    req->content_offset = (long long)queue_file_content_offset(m->qf);
    req->content_length = (long long)queue_file_content_length(m->qf);
    deliver_set(&req->sender, m->sender);
    deliver_set(&req->envid, env->envid);
    req->ret = (int)env->ret;
    req->body = (int)env->body;
    req->smtputf8 = (env->flags & QUEUE_FLAG_SMTPUTF8) != 0;
    req->arrival_us = m->arrival_us;
    req->active_us = m->active_us;
    deliver_set(&req->transport, q->transport->name);
    deliver_set(&req->nexthop, q->nexthop);
    for (size_t i = 0; i < count; i++) {
        const struct queue_rcpt *qr = &env->rcpts[rcpts[i]->index];

        deliver_request_add_rcpt(req, (long long)rcpts[i]->index, rcpts[i]->address,
                                 qr->orig ? qr->orig : qr->address, qr->orcpt, qr->notify);
    }
    return req;
}

/* Start one delivery of rcpts (same message, same queue). */
void qmgr_deliver_start(struct qmgr_queue *q, struct qmgr_rcpt **rcpts, size_t count)
{
    struct qmgr_transport *t = q->transport;
    struct qmgr_delivery *d = mem_alloc(sizeof(*d));
    struct deliver_request *req;
    struct buf *reason;
    const char *why;

    d->fd = -1;
    d->queue = q;
    d->transport = t;
    d->msg = rcpts[0]->msg;
    d->count = count;
    d->rcpts = mem_alloc_array(count, sizeof(*d->rcpts));
    memcpy(d->rcpts, rcpts, count * sizeof(*rcpts));
    d->answered = mem_alloc_array(count, sizeof(*d->answered));
    qmgr_delivery_total++;

    if (!qmgr_transport_name_ok(t->name)) {
        qmgr_deliver_fail(d, "invalid transport name \"%.64s\"", t->name);
        return;
    }
    req = qmgr_deliver_request(q, rcpts, count);
    if (deliver_request_check(req, &why) < 0) {
        deliver_request_free(&req);
        qmgr_deliver_fail(d, "cannot build the delivery request: %s", why);
        return;
    }
    d->fd = qmgr_deliver_connect(t->name);
    if (d->fd < 0) {
        if (errno == EAGAIN) {
            /* The agents are all busy and the backlog is full: wait, lose nothing. */
            for (size_t i = 0; i < count; i++)
                qmgr_queue_add(t, q->nexthop, rcpts[i]);
            d->count = 0;
            deliver_request_free(&req);
            qmgr_transport_pause(t, 1000);
            qmgr_deliver_end(d, NULL);
            return;
        }
        int saved = errno;

        reason = buf_create(128);
        errno = saved;
        buf_printf(reason, "connect to transport %s/%s: %m", DELIVER_SOCKET_DIR, t->name);
        deliver_request_free(&req);
        qmgr_transport_throttle(t, buf_str(reason));
        qmgr_suspended_text(reason);
        qmgr_deliver_end(d, buf_str(reason));
        buf_free(&reason);
        return;
    }
    d->out = buf_create(1024);
    deliver_request_format(req, d->out);
    deliver_request_free(&req);
    d->parser = attr_parser_create(NULL);
    /*
     * The agent usually accepts at once: send the request now rather than
     * one event loop round later. Anything not sent (or an error) is left
     * to qmgr_deliver_event(), which reports errors.
     */
    {
        ssize_t n = send(d->fd, buf_str(d->out), buf_len(d->out), MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0)
            d->out_off = (size_t)n;
    }
    if (d->out_off == buf_len(d->out)) {
        buf_free(&d->out);
        event_fd_set(event_server_loop(), d->fd, EVENT_READ, qmgr_deliver_event, d);
    } else {
        event_fd_set(event_server_loop(), d->fd, EVENT_WRITE, qmgr_deliver_event, d);
    }
    qmgr_deliver_progress(d);
    msg_debug("%s: delivery to %s:%s, %zu recipient(s)", d->msg->id, t->name, q->nexthop, count);
}
