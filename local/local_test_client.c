/*
 * local-test-client - hand one message to a running local(8) through the
 * delivery protocol, the way qmgr does, and print the results. Used by the
 * integration tests (tests/integration/test_local*.py); not installed.
 *
 *   local-test-client -c config_dir [-s sender] [-o orig] [-O orcpt]
 *       [-n notify] [-e envid] [-f message_file] [-S service] [-k]
 *       recipient...
 *
 * The message (standard input, or -f) is written as a queue file into
 * incoming/ and moved to active/, a deliver_request for the recipients is
 * sent to private/<service> (default "local"), and each result is printed
 * on one line: index TAB status TAB dsn TAB action TAB text. The queue
 * file is removed at the end unless -k. Exit status 0 when every result
 * arrived, 1 otherwise.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/mail/attr.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/deliver.h"
#include "lib/mail/queue_file.h"
#include "lib/util/buf.h"
#include "lib/util/msg.h"
#include "lib/util/sock.h"
#include "lib/util/stream.h"

/* Wall-clock microseconds. */
static long long now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

/* Read all of fd into b. */
static void read_all(int fd, struct buf *b)
{
    char data[65536];
    ssize_t n;

    while ((n = read(fd, data, sizeof(data))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            msg_fatal("read message: %m");
        buf_append(b, data, (size_t)n);
    }
}

int main(int argc, char **argv)
{
    const char *config_dir = NULL, *sender = "sender@example.org", *orig = NULL, *orcpt = NULL;
    const char *envid = "", *file = NULL, *service = "local", *why;
    unsigned notify = 0;
    bool keep = false;
    struct buf *msg = buf_create(4096), *path = buf_create(128);
    struct queue_limits limits = {0, 0};
    struct queue_file *qf = NULL;
    struct deliver_request *req;
    struct attr_parser *p;
    struct stream *s;
    char id[64];
    int ch, fd, rc = 0;

    msg_init("local-test-client", MSG_TO_STDERR);
    while ((ch = getopt(argc, argv, "c:s:o:O:n:e:f:S:k")) > 0) {
        switch (ch) {
        case 'c':
            config_dir = optarg;
            break;
        case 's':
            sender = optarg;
            break;
        case 'o':
            orig = optarg;
            break;
        case 'O':
            orcpt = optarg;
            break;
        case 'n':
            notify = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'e':
            envid = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'S':
            service = optarg;
            break;
        case 'k':
            keep = true;
            break;
        default:
            msg_fatal("usage: %s -c config_dir [options] recipient...", argv[0]);
        }
    }
    if (config_dir == NULL || optind >= argc)
        msg_fatal("usage: %s -c config_dir [options] recipient...", argv[0]);
    if (config_read(config_dir, &why) < 0)
        msg_fatal("%s", why);
    if (chdir(config_str("queue_directory")) < 0)
        msg_fatal("chdir %s: %m", config_str("queue_directory"));

    if (file != NULL) {
        if ((fd = open(file, O_RDONLY)) < 0)
            msg_fatal("open %s: %m", file);
        read_all(fd, msg);
        close(fd);
    } else {
        read_all(0, msg);
    }

    /* The queue file, as smtpd would write it, then moved to active/ as qmgr would. */
    if (queue_file_create(QUEUE_DIR_INCOMING, &limits, &qf, &why) < 0 ||
        queue_file_set_str(qf, QUEUE_F_SENDER, sender, &why) < 0 ||
        queue_file_set_str(qf, QUEUE_F_PROTOCOL, "ESMTP", &why) < 0)
        msg_fatal("queue file: %s", why);
    for (int i = optind; i < argc; i++)
        if (queue_file_add_rcpt(qf, argv[i], orig, orcpt, notify, &why) < 0)
            msg_fatal("queue file: %s", why);
    if (queue_file_write(qf, buf_str(msg), buf_len(msg), &why) < 0 ||
        queue_file_commit(qf, &why) < 0)
        msg_fatal("queue file: %s", why);
    snprintf(id, sizeof(id), "%s", queue_file_id(qf));
    queue_file_free(&qf);
    if (queue_file_move(QUEUE_DIR_INCOMING, QUEUE_DIR_ACTIVE, id, &why) < 0)
        msg_fatal("move %s to active: %s", id, why);
    queue_file_name(path, QUEUE_DIR_ACTIVE, id);
    if (queue_file_open(buf_str(path), 0, &qf, &why) <= 0)
        msg_fatal("open %s: %s", buf_str(path), why ? why : strerror(errno));

    req = deliver_request_create();
    deliver_set(&req->queue_id, id);
    deliver_set(&req->queue_file, buf_str(path));
    req->content_offset = (long long)queue_file_content_offset(qf);
    req->content_length = (long long)queue_file_content_length(qf);
    deliver_set(&req->sender, sender);
    deliver_set(&req->envid, envid);
    req->arrival_us = (long long)queue_file_envelope(qf)->arrival;
    req->active_us = now_us();
    deliver_set(&req->transport, service);
    deliver_set(&req->nexthop, "mailbox");
    for (int i = optind; i < argc; i++)
        deliver_request_add_rcpt(req, i - optind, argv[i], orig, orcpt, notify);
    queue_file_free(&qf);

    buf_reset(path);
    buf_printf(path, "%s/%s", DELIVER_SOCKET_DIR, service);
    if ((fd = sock_connect_unix(buf_str(path), 10000, &why)) < 0)
        msg_fatal("connect %s: %s", buf_str(path), why);
    s = stream_open(fd, 0);
    stream_set_timeout(s, 120000);
    if (deliver_request_send(s, req, &why) < 0)
        msg_fatal("send request: %s", why);
    p = attr_parser_create(NULL);
    for (size_t i = 0; i < req->rcpt_count; i++) {
        struct deliver_result res;

        memset(&res, 0, sizeof(res));
        if (deliver_result_recv(s, p, &res, &why) <= 0) {
            msg_error("result %zu: %s", i, why ? why : "connection closed");
            rc = 1;
            break;
        }
        printf("%lld\t%s\t%s\t%s\t%s\n", res.index, deliver_status_name(res.status), res.dsn,
               res.action, res.text);
        deliver_result_clear(&res);
    }
    fflush(stdout);
    attr_parser_free(&p);
    stream_free(&s);
    if (!keep && queue_file_remove(QUEUE_DIR_ACTIVE, id, &why) < 0)
        msg_warn("remove %s: %s", id, why);
    deliver_request_free(&req);
    buf_free(&msg);
    buf_free(&path);
    return rc;
}
