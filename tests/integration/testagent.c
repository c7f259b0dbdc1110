/*
 * testagent - a test-only delivery agent: a single_server service that
 * speaks the delivery protocol (lib/mail/deliver.h) with qmgr, used by
 * tests/integration/test_qmgr*.py.
 *
 *   master.cf:  testagent unix - n n - 10 testagent -L /abs/log -C /abs/control
 *
 * For each request it opens the queue file read-only (a file it cannot
 * open or whose content length differs from the request is answered with
 * a deferral), then answers each recipient as the control file says and
 * appends one line per recipient to the log file (-L):
 *
 *   <queue_id> <index> <address> <action> transport=<t> nexthop=<n>
 *       sender=<s> orig=<o> notify=<n> size=<content length> nrcpt=<in request> pid=<pid>
 *       time=<seconds.milliseconds since the epoch>
 *
 * The control file (-C, re-read for every recipient; missing = all sent)
 * has lines "pattern action [dsn [text...]]": pattern is an address (any
 * case) or "*", the first matching line wins. Actions:
 *
 *   sent             status sent (default dsn 2.0.0)
 *   defer            status deferred (default dsn 4.2.0)
 *   site             status deferred with DELIVER_FLAG_NEXTHOP (default dsn 4.4.1)
 *   bounce           status bounced (default dsn 5.1.1)
 *   sleepN           wait N seconds (1..60), then sent: "sleep3"
 *   hang             log, then wait 60 seconds without answering
 *   crash            log, then exit at once without answering
 *
 * The log line is written before the answer, so a recipient that was
 * answered has a line (tests count deliveries by these lines).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/mail/attr.h"
#include "lib/mail/deliver.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/server.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"
#include "lib/util/stream.h"

static const char *agent_log;     /* -L */
static const char *agent_control; /* -C */

/* -L file, -C file */
static int agent_option(int ch, const char *arg, const char **why_r)
{
    if (ch == 'L')
        agent_log = arg;
    else if (ch == 'C')
        agent_control = arg;
    else {
        *why_r = "unknown option";
        return -1;
    }
    return 0;
}

/* What to do with one recipient. */
struct agent_action {
    char action[32];
    char dsn[16];
    char text[256];
};

/* Find the control line for address; the default is "sent". */
static void agent_lookup(const char *address, struct agent_action *a)
{
    FILE *fp = agent_control ? fopen(agent_control, "r") : NULL;
    char line[512];

    snprintf(a->action, sizeof(a->action), "sent");
    a->dsn[0] = a->text[0] = '\0';
    if (fp == NULL)
        return;
    while (fgets(line, sizeof(line), fp) != NULL) {
        char *cp = line, *pattern, *action, *dsn;

        line[strcspn(line, "\n")] = '\0';
        pattern = str_token(&cp, " \t");
        action = str_token(&cp, " \t");
        if (pattern == NULL || action == NULL || *pattern == '#')
            continue;
        if (strcmp(pattern, "*") != 0 && !str_eq_icase(pattern, address))
            continue;
        snprintf(a->action, sizeof(a->action), "%s", action);
        if ((dsn = str_token(&cp, " \t")) != NULL)
            snprintf(a->dsn, sizeof(a->dsn), "%s", dsn);
        if (cp != NULL)
            snprintf(a->text, sizeof(a->text), "%s", str_trim(cp));
        break;
    }
    fclose(fp);
}

/* Append one line to the log (one write, O_APPEND). */
static void agent_record(const struct deliver_request *req, const struct deliver_rcpt *r,
                         const char *action)
{
    struct buf *b = buf_create(256);
    struct timeval tv;
    int fd;

    gettimeofday(&tv, NULL);
    buf_printf(b,
               "%s %lld %s %s transport=%s nexthop=%s sender=%s orig=%s notify=%u size=%lld"
               " nrcpt=%zu pid=%ld time=%lld.%03ld\n",
               req->queue_id, r->index, r->address, action, req->transport, req->nexthop,
               req->sender, r->orig, r->notify, req->content_length, req->rcpt_count,
               (long)getpid(), (long long)tv.tv_sec, (long)(tv.tv_usec / 1000));
    if (agent_log != NULL && (fd = open(agent_log, O_WRONLY | O_APPEND | O_CREAT, 0644)) >= 0) {
        if (write(fd, buf_str(b), buf_len(b)) < 0)
            msg_warn("write %s: %m", agent_log);
        close(fd);
    }
    buf_free(&b);
}

/* Answer one request. 0, or -1 when qmgr went away. */
static int agent_request(struct stream *s, const struct deliver_request *req)
{
    struct queue_file *qf = NULL;
    const char *why = "";
    const char *problem = NULL;
    int r = queue_file_open(req->queue_file, 0, &qf, &why);

    if (r <= 0)
        problem = "cannot open the queue file";
    else if ((long long)queue_file_content_length(qf) != req->content_length ||
             strcmp(queue_file_id(qf), req->queue_id) != 0)
        problem = "queue file does not match the request";
    queue_file_free(&qf);

    for (size_t i = 0; i < req->rcpt_count; i++) {
        const struct deliver_rcpt *rc = &req->rcpts[i];
        struct agent_action a;
        enum deliver_status status = DELIVER_SENT;
        const char *dsn, *action = "delivered";

        if (problem != NULL) {
            agent_record(req, rc, "problem");
            if (deliver_result_send(s, req, rc, DELIVER_DEFERRED, "4.3.0", NULL, "testagent", 0, 0,
                                    problem, &why) < 0)
                return -1;
            continue;
        }
        agent_lookup(rc->address, &a);
        agent_record(req, rc, a.action);
        if (strcmp(a.action, "crash") == 0)
            _exit(3);
        if (strcmp(a.action, "hang") == 0) {
            sleep(60);
            return -1;
        }
        if (strncmp(a.action, "sleep", 5) == 0) {
            int secs = atoi(a.action + 5);

            sleep(secs > 0 && secs <= 60 ? (unsigned)secs : 1);
        } else if (strcmp(a.action, "defer") == 0 || strcmp(a.action, "site") == 0) {
            status = DELIVER_DEFERRED;
            action = NULL;
        } else if (strcmp(a.action, "bounce") == 0) {
            status = DELIVER_BOUNCED;
            action = NULL;
        }
        dsn = *a.dsn                          ? a.dsn
              : status == DELIVER_SENT        ? "2.0.0"
              : strcmp(a.action, "site") == 0 ? "4.4.1"
              : status == DELIVER_DEFERRED    ? "4.2.0"
                                              : "5.1.1";
        struct deliver_result res = {
            .index = rc->index,
            .address = rc->address,
            .status = status,
            .dsn = (char *)dsn,
            .action = (char *)(action ? action : ""),
            .text = *a.text ? a.text : a.action,
            .relay = (char *)"testagent",
            .xfer_ms = 1,
            .flags = strcmp(a.action, "site") == 0 ? DELIVER_FLAG_NEXTHOP : 0,
        };

        if (deliver_result_write(s, req, rc, &res, &why) < 0) {
            msg_warn("%s: cannot send the result: %s", req->queue_id, why);
            return -1;
        }
    }
    return 0;
}

/* One connection from qmgr: requests until it closes. */
static void agent_service(int fd, const char *service, char **argv)
{
    struct stream *s = stream_open(fd, STREAM_NOCLOSE);
    struct attr_parser *p = attr_parser_create(NULL);
    struct deliver_request *req = NULL;
    const char *why = "";
    int r;

    (void)service;
    (void)argv;
    stream_set_timeout(s, 30 * 1000);
    while ((r = deliver_request_recv(s, p, &req, &why)) > 0) {
        int ok = agent_request(s, req);

        deliver_request_free(&req);
        if (ok < 0)
            break;
    }
    if (r < 0)
        msg_warn("request: %s", why);
    attr_parser_free(&p);
    stream_free(&s);
}

int main(int argc, char **argv)
{
    static const struct server_options opts = {
        .getopt = "L:C:",
        .option = agent_option,
    };

    single_server_main(argc, argv, agent_service, &opts);
}
