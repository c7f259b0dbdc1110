/*
 * qmgr_message - messages in the active queue: taking a queue file into
 * memory, resolving and queueing its recipients, recording each
 * recipient's outcome in the queue file, and finishing the message
 * (notifications, then removal or deferral with back-off).
 *
 * Durability: an outcome is written into the queue file (slot and
 * diagnostic, then fdatasync) before the recipient is forgotten; a
 * recipient whose slot says delivered or bounced is never delivered again,
 * also after a crash. One exception saves an fdatasync per message: the
 * final status of the last recipient of a message that is then removed
 * (no notification owed) is written without fdatasync, just before the
 * unlink, which is not synchronized either. A qmgr that is killed loses
 * nothing (the kernel has both writes); only an operating system crash or
 * power failure before the file system writes them back can bring the file
 * back with that recipient pending, to be delivered a second time. If the
 * file is not removed after all, it is synchronized before it moves on. Notifications are queued before the file is removed,
 * and each notified recipient is marked (QUEUE_SLOT_NOTIFIED,
 * QUEUE_SLOT_DELAY_WARNED) so that a restart does not notify twice.
 *
 * Virtual alias expansion of one recipient into several is written into a
 * new queue file (attribute "rewritten": its addresses are final), because
 * the slots of a queue file are per recipient: only that way does each of
 * the new recipients keep its own status across retries and restarts.
 *
 * Security notes: the queue file was validated by queue_file_open(); its
 * addresses are still untrusted text and go through the bounded resolver.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/mail/bounce.h"
#include "lib/mail/deliver.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/resolve.h"
#include "lib/mail/server.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/event.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "qmgr/qmgr.h"

static struct qmgr_list qmgr_messages = {&qmgr_messages, &qmgr_messages};
static size_t qmgr_message_total;

/* Number of messages in memory. */
size_t qmgr_message_count(void)
{
    return qmgr_message_total;
}

/* The path of a file in active/. */
static void qmgr_active_path(struct buf *b, const char *id)
{
    buf_reset(b);
    queue_file_name(b, QUEUE_DIR_ACTIVE, id);
}

/* Free a message (its file stays where it is, its statuses synchronized). */
static void qmgr_message_free(struct qmgr_message **mp)
{
    struct qmgr_message *m = *mp;
    const char *why;

    if (m->unsynced && queue_file_sync(m->qf, &why) < 0)
        msg_error("%s: cannot record recipient statuses: %s (they may be delivered again)", m->id,
                  why);

    for (size_t i = 0; i < m->rcpt_count; i++)
        mem_free(m->rcpts[i].address);
    mem_free(m->rcpts);
    mem_free(m->sender);
    queue_file_free(&m->qf);
    if (qmgr_list_linked(&m->link)) {
        qmgr_list_remove(&m->link);
        qmgr_message_total--;
    }
    mem_free(m);
    *mp = NULL;
}

/* Forget every message (exit): files stay in active/ and are re-queued at the next start. */
void qmgr_message_free_all(void)
{
    while (!qmgr_list_empty(&qmgr_messages)) {
        struct qmgr_message *m = QMGR_ENTRY(qmgr_messages.next, struct qmgr_message, link);

        qmgr_message_free(&m);
    }
}

/* Log one recipient outcome in the agents' shape. */
void qmgr_rcpt_log(const struct qmgr_rcpt *rc, const char *relay, const char *dsn,
                   enum deliver_status status, const char *text)
{
    const struct queue_rcpt *qr = &queue_file_envelope(rc->msg->qf)->rcpts[rc->index];
    struct deliver_request req = {
        .queue_id = (char *)rc->msg->id,
        .arrival_us = rc->msg->arrival_us,
        .active_us = rc->msg->active_us,
    };
    struct deliver_rcpt dr = {
        .index = (long long)rc->index,
        .address = rc->address,
        .orig = (char *)(qr->orig ? qr->orig : qr->address),
        .orcpt = (char *)"",
    };
    struct deliver_result res = {
        .status = status,
        .dsn = (char *)dsn,
        .text = (char *)(text ? text : ""),
        .relay = (char *)(relay ? relay : "none"),
    };

    deliver_log(&req, &dr, &res, qmgr_now_us());
}

/* The back-off for a message: its age, between minimal and maximal_backoff_time. */
static long long qmgr_backoff(const struct qmgr_message *m)
{
    long long age = (qmgr_now_us() - m->arrival_us) / 1000000;

    if (age > qmgr_var.max_backoff)
        age = qmgr_var.max_backoff;
    if (age < qmgr_var.min_backoff)
        age = qmgr_var.min_backoff;
    return age;
}

static void qmgr_message_finish_soon(struct qmgr_message *m);

/*
 * Write one recipient's slot and diagnostic, durably unless sync is false
 * (then the message is marked unsynced); complain (only) on failure.
 */
static void qmgr_rcpt_write(struct qmgr_message *m, size_t index, const struct queue_slot *slot,
                            const struct queue_diag *diag, bool sync)
{
    const char *why;

    if (!sync)
        m->unsynced = true;
    if (queue_file_rcpt_update(m->qf, index, slot, diag, QUEUE_UPDATE_NOSYNC, &why) < 0 ||
        (sync && queue_file_sync(m->qf, &why) < 0))
        msg_error("%s: cannot record the status of recipient %zu: %s"
                  " (it may be delivered again)",
                  m->id, index, why);
}

/* One recipient of this round is done: count it, finish the message after the last. */
static void qmgr_rcpt_settle(struct qmgr_rcpt *rc)
{
    struct qmgr_message *m = rc->msg;

    if (rc->state == QMGR_RCPT_DONE)
        msg_panic("%s: recipient %zu settled twice", m->id, rc->index);
    if (rc->state == QMGR_RCPT_TODO && rc->queue != NULL)
        qmgr_queue_unlink(rc);
    rc->state = QMGR_RCPT_DONE;
    if (m->outstanding == 0)
        msg_panic("%s: outstanding recipient count underflow", m->id);
    if (--m->outstanding == 0)
        qmgr_message_finish_soon(m);
}

/* A recipient delivered or bounced. */
void qmgr_rcpt_final(struct qmgr_rcpt *rc, const struct deliver_result *res)
{
    struct qmgr_message *m = rc->msg;
    struct queue_slot slot = queue_file_envelope(m->qf)->rcpts[rc->index].slot;
    struct queue_diag diag = {
        .status = res->status == DELIVER_SENT ? QUEUE_DELIVERED : QUEUE_BOUNCED,
        .dsn = res->dsn,
        .mta = res->relay,
        .text = res->text,
    };

    slot.status = diag.status;
    slot.attempts++;
    slot.next_retry = 0;
    /*
     * Sent with no action: the next hop took the DSN request over
     * (RFC 3461 §4.4), so a success notice is its business, not ours.
     */
    if (res->status == DELIVER_SENT && res->action[0] == '\0')
        slot.flags |= QUEUE_SLOT_NOTIFIED;
    /*
     * The last recipient of this round: qmgr_message_finish() removes the
     * file (no fdatasync needed, see the top of this file) or, when it
     * keeps the file, synchronizes it first.
     */
    qmgr_rcpt_write(m, rc->index, &slot, &diag, m->outstanding != 1);
    if (res->status == DELIVER_SENT)
        rc->action = strcmp(res->action, "relayed") == 0    ? BOUNCE_ACTION_RELAYED
                     : strcmp(res->action, "expanded") == 0 ? BOUNCE_ACTION_EXPANDED
                                                            : BOUNCE_ACTION_DELIVERED;
    qmgr_rcpt_settle(rc);
}

/* A recipient failed for now (or, for an expired message, for good). */
void qmgr_rcpt_defer(struct qmgr_rcpt *rc, const char *dsn, const char *relay, const char *text,
                     bool log)
{
    struct qmgr_message *m = rc->msg;
    struct queue_slot slot = queue_file_envelope(m->qf)->rcpts[rc->index].slot;
    struct queue_diag diag = {.dsn = dsn, .mta = relay, .text = text};

    if (log)
        qmgr_rcpt_log(rc, relay, dsn, DELIVER_DEFERRED, text);
    slot.attempts++;
    if (m->expired) {
        /* Out of time: the temporary failure is returned to the sender. */
        slot.status = diag.status = QUEUE_BOUNCED;
        slot.next_retry = 0;
    } else {
        slot.status = diag.status = QUEUE_DEFERRED;
        slot.next_retry = qmgr_now_us() / 1000000 + qmgr_backoff(m);
    }
    qmgr_rcpt_write(m, rc->index, &slot, &diag, true);
    qmgr_rcpt_settle(rc);
}

/* A recipient that qmgr itself finishes (error:, discard:). */
static void qmgr_rcpt_builtin(struct qmgr_rcpt *rc, enum deliver_status status, const char *dsn,
                              const char *text)
{
    struct deliver_result res = {
        .status = status,
        .dsn = (char *)dsn,
        .action = (char *)(status == DELIVER_SENT ? "delivered" : ""),
        .text = (char *)text,
        .relay = (char *)"none",
    };

    qmgr_rcpt_log(rc, "none", dsn, status, text);
    if (status == DELIVER_DEFERRED)
        qmgr_rcpt_defer(rc, dsn, "none", text, false);
    else
        qmgr_rcpt_final(rc, &res);
}

/*
 * The error: transport's text: "5.1.1 text" keeps its code (4.x.y defers,
 * as Postfix's retry(8) would), plain text bounces with 5.0.0.
 */
static void qmgr_rcpt_error(struct qmgr_rcpt *rc, const char *nexthop)
{
    char dsn[DELIVER_DSN_MAX + 1] = "5.0.0";
    const char *text = nexthop;
    const char *sp = strchr(nexthop, ' ');
    size_t len = sp ? (size_t)(sp - nexthop) : strlen(nexthop);

    if (len > 0 && len <= DELIVER_DSN_MAX) {
        char code[DELIVER_DSN_MAX + 1];

        memcpy(code, nexthop, len);
        code[len] = '\0';
        if (deliver_dsn_valid(code, DELIVER_BOUNCED) || deliver_dsn_valid(code, DELIVER_DEFERRED)) {
            memcpy(dsn, code, len + 1);
            text = sp ? sp + 1 : "";
        }
    }
    if (*text == '\0')
        text = "mail for this destination is not deliverable";
    qmgr_rcpt_builtin(rc, dsn[0] == '4' ? DELIVER_DEFERRED : DELIVER_BOUNCED, dsn, text);
}

/* ---- notifications ---- */

/* Mark the reported recipients so that a restart does not notify them again. */
static void qmgr_mark_notified(struct qmgr_message *m, const struct bounce_rcpt *list, size_t n,
                               unsigned flag)
{
    const char *why;

    for (size_t i = 0; i < n; i++) {
        struct queue_slot slot = queue_file_envelope(m->qf)->rcpts[list[i].index].slot;

        slot.flags |= flag;
        if (queue_file_rcpt_update(m->qf, list[i].index, &slot, NULL, QUEUE_UPDATE_NOSYNC, &why) <
            0) {
            msg_error("%s: cannot mark recipient %zu as notified: %s", m->id, list[i].index, why);
            return;
        }
    }
    if (queue_file_sync(m->qf, &why) < 0)
        msg_error("%s: cannot mark recipients as notified: %s", m->id, why);
}

/* The in-memory recipient of file index, or NULL. */
static struct qmgr_rcpt *qmgr_rcpt_of(struct qmgr_message *m, size_t index)
{
    for (size_t i = 0; i < m->rcpt_count; i++)
        if (m->rcpts[i].index == index)
            return &m->rcpts[i];
    return NULL;
}

/* Queue one kind of notification for the recipients in list. 0, or -1 (try again later). */
static int qmgr_notify(struct qmgr_message *m, enum bounce_kind kind, struct bounce_rcpt *list,
                       size_t n)
{
    const struct queue_envelope *env = queue_file_envelope(m->qf);
    long long lifetime = *env->sender ? qmgr_var.max_lifetime : qmgr_var.bounce_lifetime;
    struct bounce_request req = {
        .kind = kind,
        .qf = m->qf,
        .rcpts = list,
        .rcpt_count = n,
        .retry_until = kind == BOUNCE_DELAYED ? m->arrival_us / 1000000 + lifetime : 0,
    };
    char qid[QUEUE_ID_SIZE];
    const char *why;
    int r;

    if (n == 0)
        return 0;
    r = bounce_queue_dsn(&req, qid, &why);
    if (r < 0) {
        msg_warn("%s: cannot queue a delivery status notification: %s; will try again", m->id, why);
        return -1;
    }
    qmgr_mark_notified(m, list, n,
                       kind == BOUNCE_DELAYED ? QUEUE_SLOT_DELAY_WARNED : QUEUE_SLOT_NOTIFIED);
    if (r > 0)
        qmgr_scan_incoming_soon();
    return 0;
}

/*
 * Send the notifications the file's slots call for: failures and
 * NOTIFY=SUCCESS reports not yet sent, and a delay warning when
 * delay_warning_time has passed. 0, or -1 when one could not be queued.
 */
static int qmgr_message_notify(struct qmgr_message *m)
{
    const struct queue_envelope *env = queue_file_envelope(m->qf);
    struct bounce_rcpt *failed = mem_alloc_array(env->rcpt_count, sizeof(*failed));
    struct bounce_rcpt *success = mem_alloc_array(env->rcpt_count, sizeof(*success));
    struct bounce_rcpt *delayed = mem_alloc_array(env->rcpt_count, sizeof(*delayed));
    size_t nf = 0, ns = 0, nd = 0;
    bool warn = qmgr_var.delay_warning > 0 &&
                qmgr_now_us() - m->arrival_us >= qmgr_var.delay_warning * 1000000;
    int ret = 0;

    for (size_t i = 0; i < env->rcpt_count; i++) {
        const struct queue_rcpt *qr = &env->rcpts[i];
        struct qmgr_rcpt *rc;

        if (qr->slot.status == QUEUE_BOUNCED && !(qr->slot.flags & QUEUE_SLOT_NOTIFIED)) {
            failed[nf++] = (struct bounce_rcpt){.index = i};
        } else if (qr->slot.status == QUEUE_DELIVERED && !(qr->slot.flags & QUEUE_SLOT_NOTIFIED) &&
                   (qr->notify & QUEUE_NOTIFY_SUCCESS)) {
            rc = qmgr_rcpt_of(m, i);
            success[ns++] = (struct bounce_rcpt){
                .index = i, .action = rc ? (enum bounce_action)rc->action : BOUNCE_ACTION_DEFAULT};
        } else if (qr->slot.status == QUEUE_DEFERRED && warn &&
                   !(qr->slot.flags & QUEUE_SLOT_DELAY_WARNED)) {
            delayed[nd++] = (struct bounce_rcpt){.index = i};
        }
    }
    if (qmgr_notify(m, BOUNCE_FAILED, failed, nf) < 0)
        ret = -1;
    if (qmgr_notify(m, BOUNCE_SUCCESS, success, ns) < 0)
        ret = -1;
    if (qmgr_notify(m, BOUNCE_DELAYED, delayed, nd) < 0)
        ret = -1;
    mem_free(failed);
    mem_free(success);
    mem_free(delayed);
    return ret;
}

/* ---- finishing ---- */

/* Move the message to deferred/ with its next retry time in the slot and the file's mtime. */
static void qmgr_message_defer_file(struct qmgr_message *m, long long delay)
{
    struct queue_slot slot = *queue_file_msg_slot(m->qf);
    long long next = qmgr_now_us() / 1000000 + delay;
    struct timespec ts[2] = {{.tv_sec = (time_t)next}, {.tv_sec = (time_t)next}};
    const char *why;

    slot.attempts++;
    slot.next_retry = next;
    if (queue_file_msg_update(m->qf, &slot, 0, &why) < 0)
        msg_error("%s: cannot record the next retry time: %s", m->id, why);
    /* The deferred queue scan reads only the modification time. */
    if (futimens(queue_file_fd(m->qf), ts) < 0)
        msg_warn("%s: cannot set the retry time on the file: %m", m->id);
    if (queue_file_move(QUEUE_DIR_ACTIVE, QUEUE_DIR_DEFERRED, m->id, &why) < 0)
        msg_error("%s: cannot move to %s/: %s", m->id, QUEUE_DIR_DEFERRED, why);
}

/* After the last recipient of this round: notify, then remove or defer. */
static void qmgr_message_finish(void *ctx)
{
    struct qmgr_message *m = ctx;
    const struct queue_envelope *env = queue_file_envelope(m->qf);
    bool all_done = true, any_bounced = false;
    int notify;
    const char *why;

    notify = qmgr_message_notify(m);
    for (size_t i = 0; i < env->rcpt_count; i++) {
        if (!queue_status_done(env->rcpts[i].slot.status))
            all_done = false;
        if (env->rcpts[i].slot.status == QUEUE_BOUNCED)
            any_bounced = true;
    }
    if (m->expired && any_bounced && *env->sender)
        msg_info("%s: from=<%s>, status=expired, returned to sender", m->id, env->sender);
    if (all_done && notify == 0) {
        if (queue_file_remove(QUEUE_DIR_ACTIVE, m->id, &why) < 0) {
            msg_error("%s: cannot remove: %s", m->id, why);
        } else {
            m->unsynced = false; /* nothing left to synchronize */
            msg_info("%s: removed", m->id);
        }
    } else {
        if (m->unsynced && queue_file_sync(m->qf, &why) == 0)
            m->unsynced = false;
        qmgr_message_defer_file(m, all_done ? qmgr_var.min_backoff : qmgr_backoff(m));
    }
    qmgr_message_free(&m);
    qmgr_room_freed();
    qmgr_schedule_soon();
}

/* Finish the message from the event loop (never from inside a callback that still uses it). */
static void qmgr_message_finish_soon(struct qmgr_message *m)
{
    if (m->finishing)
        return;
    m->finishing = true;
    event_timer_add(event_server_loop(), 0, qmgr_message_finish, m);
}

/* ---- virtual alias expansion into a new file ---- */

/*
 * Write a new queue file in incoming/ with the not-yet-done recipients,
 * each replaced by its expansion (exp[i]), then remove the old file. 0,
 * or -1 with *why_r (nothing changed).
 */
static int qmgr_message_split(struct qmgr_message *m, struct argv **exp, const char **why_r)
{
    const struct queue_envelope *env = queue_file_envelope(m->qf);
    struct queue_limits limits = {0};
    struct queue_file *nqf = NULL;
    static const struct {
        enum queue_field field;
        size_t off;
    } strs[] = {
        {QUEUE_F_CLIENT_ADDR, offsetof(struct queue_envelope, client_addr)},
        {QUEUE_F_CLIENT_NAME, offsetof(struct queue_envelope, client_name)},
        {QUEUE_F_HELO, offsetof(struct queue_envelope, helo)},
        {QUEUE_F_PROTOCOL, offsetof(struct queue_envelope, protocol)},
        {QUEUE_F_AUTH_USER, offsetof(struct queue_envelope, auth_user)},
        {QUEUE_F_ENVID, offsetof(struct queue_envelope, envid)},
    };
    char *chunk = NULL;
    size_t count = 0, n;
    char new_id[QUEUE_ID_SIZE];

    if (queue_file_create(QUEUE_DIR_INCOMING, &limits, &nqf, why_r) < 0)
        return -1;
    if (queue_file_set_str(nqf, QUEUE_F_SENDER, m->sender, why_r) < 0 ||
        queue_file_set_arrival(nqf, env->arrival, why_r) < 0 ||
        queue_file_set_ret(nqf, env->ret, why_r) < 0 ||
        queue_file_set_body(nqf, env->body, why_r) < 0 ||
        queue_file_set_flags(nqf, env->flags, why_r) < 0)
        goto fail;
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const char *v = *(const char *const *)((const char *)env + strs[i].off);

        if (v != NULL && queue_file_set_str(nqf, strs[i].field, v, why_r) < 0)
            goto fail;
    }
    for (size_t i = 0; i < env->attr_count; i++)
        if (strcmp(env->attrs[i].name, QMGR_ATTR_REWRITTEN) != 0 &&
            queue_file_add_attr(nqf, env->attrs[i].name, env->attrs[i].value, why_r) < 0)
            goto fail;
    if (queue_file_add_attr(nqf, QMGR_ATTR_REWRITTEN, "yes", why_r) < 0)
        goto fail;
    for (size_t i = 0; i < env->rcpt_count; i++) {
        const struct queue_rcpt *qr = &env->rcpts[i];

        if (exp[i] == NULL)
            continue;
        for (size_t k = 0; k < exp[i]->argc; k++, count++)
            if (queue_file_add_rcpt(nqf, exp[i]->argv[k], qr->orig ? qr->orig : qr->address,
                                    qr->orcpt, qr->notify, why_r) < 0)
                goto fail;
    }
    chunk = mem_alloc(65536);
    queue_file_content_rewind(m->qf);
    for (;;) {
        if (queue_file_content_read(m->qf, chunk, 65536, &n, why_r) < 0)
            goto fail;
        if (n == 0)
            break;
        if (queue_file_write(nqf, chunk, n, why_r) < 0)
            goto fail;
    }
    MEM_FREE(&chunk);
    if (queue_file_commit(nqf, why_r) < 0)
        goto fail;
    snprintf(new_id, sizeof(new_id), "%s", queue_file_id(nqf));
    queue_file_free(&nqf);
    msg_info("%s: virtual alias expansion to %zu recipients continues as %s", m->id, count, new_id);
    msg_info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue incoming)", new_id, m->sender,
             (unsigned long long)queue_file_content_length(m->qf), count);
    return 0;

fail:
    mem_free(chunk);
    queue_file_abort(&nqf);
    return -1;
}

/* ---- activation ---- */

/* Move a file that cannot be used now back to deferred/ for a later try. */
static void qmgr_activate_later(const char *id, const char *why)
{
    const char *mwhy;

    msg_warn("%s: %s; trying again later", id, why);
    if (queue_file_move(QUEUE_DIR_ACTIVE, QUEUE_DIR_DEFERRED, id, &mwhy) < 0)
        msg_error("%s: cannot move to %s/: %s", id, QUEUE_DIR_DEFERRED, mwhy);
}

/* Resolve one recipient's address and queue it (or finish it at once). */
static void qmgr_rcpt_route(struct qmgr_rcpt *rc)
{
    struct resolve_route route;
    struct qmgr_transport *t;
    const char *why;
    struct resolver *r = qmgr_resolver(&why);
    struct buf *text;

    if (r == NULL || resolve_route(r, rc->address, &route, &why) < 0) {
        text = buf_create(128);
        buf_printf(text, "address resolver failure: %s", why);
        qmgr_rcpt_defer(rc, "4.3.0", "none", buf_str(text), true);
        buf_free(&text);
        return;
    }
    if (strcmp(route.transport, "error") == 0) {
        qmgr_rcpt_error(rc, route.nexthop);
    } else if (strcmp(route.transport, "discard") == 0) {
        text = buf_create(64);
        buf_printf(text, "discarded%s%s", *route.nexthop ? ": " : "", route.nexthop);
        qmgr_rcpt_builtin(rc, DELIVER_SENT, "2.0.0", buf_str(text));
        buf_free(&text);
    } else {
        t = qmgr_transport_get(route.transport);
        if (t->dead_until_ms != 0 && t->dead_reason != NULL) {
            text = buf_create(128);
            buf_printf(text, "delivery temporarily suspended: %s", t->dead_reason);
            qmgr_rcpt_defer(rc, "4.3.0", "none", buf_str(text), true);
            buf_free(&text);
        } else {
            qmgr_queue_add(t, route.local ? route.mailbox : route.nexthop, rc);
        }
    }
    resolve_route_clear(&route);
}

/* Take active/<id>.msg into memory and queue its recipients. */
int qmgr_message_activate(const char *id)
{
    struct buf *path = buf_create(64);
    struct queue_file *qf = NULL;
    const struct queue_envelope *env;
    struct qmgr_message *m;
    struct argv **exp;
    struct resolver *r;
    const char *why = "";
    bool split = false, resolver_failed = false;
    long long lifetime, now_us = qmgr_now_us();
    int rc;

    qmgr_active_path(path, id);
    rc = queue_file_open(buf_str(path), QUEUE_OPEN_RDWR | QUEUE_OPEN_LOCK, &qf, &why);
    buf_free(&path);
    if (rc == 0) {
        const char *mwhy;

        msg_warn("%s: corrupt queue file: %s; moved to %s/", id, why, QUEUE_DIR_CORRUPT);
        if (queue_file_move(QUEUE_DIR_ACTIVE, QUEUE_DIR_CORRUPT, id, &mwhy) < 0)
            msg_error("%s: cannot move to %s/: %s", id, QUEUE_DIR_CORRUPT, mwhy);
        return -1;
    }
    if (rc < 0) {
        if (errno != ENOENT)
            qmgr_activate_later(id, why);
        return -1;
    }
    env = queue_file_envelope(qf);
    m = mem_alloc(sizeof(*m));
    qmgr_list_init(&m->link);
    snprintf(m->id, sizeof(m->id), "%s", id);
    m->qf = qf;
    m->arrival_us = (long long)env->arrival;
    m->active_us = now_us;
    m->rewritten = queue_file_attr(qf, QMGR_ATTR_REWRITTEN) != NULL;
    lifetime = *env->sender ? qmgr_var.max_lifetime : qmgr_var.bounce_lifetime;
    m->expired = now_us - m->arrival_us >= lifetime * 1000000;
    qmgr_list_append(&qmgr_messages, &m->link);
    qmgr_message_total++;
    msg_info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue active)", id, env->sender,
             (unsigned long long)queue_file_content_length(qf), env->rcpt_count);

    /* The sender, rewritten unless the file says it already is. */
    m->sender = mem_strdup(env->sender);
    r = qmgr_resolver(&why);
    if (r == NULL) {
        resolver_failed = true;
    } else if (!m->rewritten && *env->sender) {
        struct buf *s = buf_create(64);

        if (resolve_rewrite(r, RESOLVE_SENDER, env->sender, s, &why) < 0)
            resolver_failed = true;
        else
            m->sender = (mem_free(m->sender), mem_strdup(buf_str(s)));
        buf_free(&s);
    }

    /* Each recipient not yet done: its final address(es). */
    exp = mem_alloc_array(env->rcpt_count, sizeof(*exp));
    for (size_t i = 0; i < env->rcpt_count && !resolver_failed; i++) {
        if (queue_status_done(env->rcpts[i].slot.status))
            continue;
        exp[i] = argv_create(1);
        if (m->rewritten) {
            argv_add(exp[i], env->rcpts[i].address);
        } else if (resolve_recipient(r, env->rcpts[i].address, exp[i], &why) < 0) {
            resolver_failed = true;
        } else if (exp[i]->argc != 1) {
            split = true;
        }
    }
    if (split && !resolver_failed) {
        /* Notifications owed for recipients already done go out with this file. */
        if (qmgr_message_notify(m) == 0 && qmgr_message_split(m, exp, &why) == 0) {
            if (queue_file_remove(QUEUE_DIR_ACTIVE, m->id, &why) < 0)
                msg_error("%s: cannot remove: %s", m->id, why);
            else
                msg_info("%s: removed", m->id);
            qmgr_scan_incoming_soon();
        } else {
            msg_warn("%s: cannot write the expanded recipients: %s; trying again later", m->id,
                     why);
            qmgr_message_defer_file(m, qmgr_var.min_backoff);
        }
        for (size_t i = 0; i < env->rcpt_count; i++)
            argv_free(&exp[i]);
        mem_free(exp);
        qmgr_message_free(&m);
        return -1;
    }

    /* One in-memory recipient per pending file recipient. */
    m->rcpts = mem_alloc_array(env->rcpt_count ? env->rcpt_count : 1, sizeof(*m->rcpts));
    for (size_t i = 0; i < env->rcpt_count; i++) {
        struct qmgr_rcpt *q;

        if (queue_status_done(env->rcpts[i].slot.status))
            continue;
        q = &m->rcpts[m->rcpt_count++];
        qmgr_list_init(&q->link);
        q->msg = m;
        q->index = i;
        q->address =
            mem_strdup(exp[i] && exp[i]->argc == 1 ? exp[i]->argv[0] : env->rcpts[i].address);
        q->state = QMGR_RCPT_TODO;
    }
    for (size_t i = 0; i < env->rcpt_count; i++)
        argv_free(&exp[i]);
    mem_free(exp);
    m->outstanding = m->rcpt_count;
    /* Hold one extra count so that no recipient finishes the message while we queue them. */
    m->outstanding++;
    for (size_t i = 0; i < m->rcpt_count; i++) {
        struct qmgr_rcpt *q = &m->rcpts[i];

        if (resolver_failed) {
            struct buf *text = buf_create(128);

            buf_printf(text, "address resolver failure: %s", why);
            qmgr_rcpt_defer(q, "4.3.0", "none", buf_str(text), true);
            buf_free(&text);
        } else {
            qmgr_rcpt_route(q);
        }
    }
    if (--m->outstanding == 0)
        qmgr_message_finish_soon(m);
    qmgr_schedule_soon();
    return 0;
}
