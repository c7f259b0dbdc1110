/*
 * local - the local delivery agent (local(8)): final delivery of mail for
 * the domains in mydestination, as Postfix's local(8) does it. See
 * local.h for the delivery switch and man/man8/local.8 for the behaviour.
 *
 * This file is the daemon: the single_server_main() skeleton, the
 * delivery protocol with qmgr (lib/mail/deliver.h: one request, one
 * result per recipient, more requests on the same connection), and the
 * process-wide state (settings, open alias and mailbox tables).
 *
 * Security: master runs local with unpriv=n, so it stays root (chroot is
 * not supported: it needs the passwd database and the users' homes). It
 * never writes a user's files as root: mailboxes, .forward and :include:
 * files are accessed with the user's effective ids (local_privs.c), and
 * commands run in a child that gave up root for good (spawn). The request
 * comes from qmgr over a private socket; every field is bounded and
 * checked (deliver.h); the queue file is opened read-only.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "lib/mail/attr.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/deliver.h"
#include "lib/mail/server.h"
#include "lib/util/buf.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"
#include "local/local.h"

static struct local_ctx local_ctx;

/* Where results go while one request is being delivered. */
struct local_conn {
    struct stream *s;
    const struct deliver_request *req;
    bool failed; /* qmgr went away: stop sending */
};

/* Send recipient i's result to qmgr (the leaves were logged already). */
static void local_send_result(void *ctx, size_t i, const struct local_result *r)
{
    struct local_conn *c = ctx;
    const struct deliver_rcpt *rcpt = &c->req->rcpts[i];
    struct deliver_result res;
    struct buf *out;
    const char *why;

    if (c->failed)
        return;
    memset(&res, 0, sizeof(res));
    res.index = rcpt->index;
    res.address = rcpt->address;
    res.status = r->status;
    res.dsn = (char *)r->dsn;
    res.action = (char *)(r->status == DELIVER_SENT ? r->action : "");
    res.text = buf_str(r->text);
    res.relay = "local";
    if (deliver_result_check(&res, &why) < 0) {
        /* A bug here must not lose mail: report the recipient as deferred. */
        msg_error("%s: bad result for %s (%s); deferring", c->req->queue_id, rcpt->address, why);
        res.status = DELIVER_DEFERRED;
        res.dsn = "4.3.0";
        res.action = "";
        res.text = "internal error in local delivery";
    }
    out = buf_create(256);
    deliver_result_format(&res, out);
    if (attr_write(c->s, out, &why) < 0) {
        msg_warn("%s: sending the result to qmgr: %s", c->req->queue_id, why);
        c->failed = true;
    }
    buf_free(&out);
}

/* Serve one qmgr connection: requests until qmgr closes it. */
static void local_service(int fd, const char *service, char **argv)
{
    struct attr_parser *p = attr_parser_create(NULL);
    struct stream *s = stream_open(fd, STREAM_NOCLOSE);
    struct deliver_request *req = NULL;
    struct local_conn conn;
    const char *why;
    int r;

    (void)service;
    (void)argv;
    stream_set_timeout(s, (int)(config_time("ipc_timeout") * 1000));
    for (;;) {
        r = deliver_request_recv(s, p, &req, &why);
        if (r == 0)
            break;
        if (r < 0) {
            msg_warn("delivery request: %s", why);
            break;
        }
        memset(&conn, 0, sizeof(conn));
        conn.s = s;
        conn.req = req;
        local_request(&local_ctx, req, local_send_result, &conn);
        deliver_request_free(&req);
        if (conn.failed)
            break;
    }
    stream_free(&s);
    attr_parser_free(&p);
}

/* As root, before the skeleton changes directory: settings and tables. */
static void local_pre_init(const char *service, char **argv)
{
    const char *why;

    (void)service;
    (void)argv;
    if (local_ctx_init(&local_ctx, &why) < 0)
        msg_fatal("%s", why);
    /* A file size limit shows up as EFBIG (5.2.2), not as a dead process. */
    signal(SIGXFSZ, SIG_IGN);
}

/* Before exit: close the tables. */
static void local_pre_exit(const char *service, char **argv)
{
    (void)service;
    (void)argv;
    local_ctx_free(&local_ctx);
}

int main(int argc, char **argv)
{
    static const struct server_options opts = {
        .pre_init = local_pre_init,
        .pre_exit = local_pre_exit,
    };

    single_server_main(argc, argv, local_service, &opts);
}
