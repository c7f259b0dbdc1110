/*
 * queue_tool - a test helper that makes and inspects queue files through
 * lib/mail/queue_file.h and runs lib/mail/bounce.h, so that integration
 * tests (test_postqueue.py) can set up a queue without the daemons.
 *
 *   queue_tool create DIR [-f sender] [-r rcpt[,notify[,orcpt]]]... [-e envid]
 *                         [-R full|hdrs] [-U] [-8] [-t arrival_seconds] < content
 *       writes DIR/<id>.msg and prints <id>; notify is a number (QUEUE_NOTIFY_*)
 *   queue_tool status FILE index pending|delivered|bounced|deferred [dsn [mta [text]]]
 *       updates one recipient's slot (and diagnostic)
 *   queue_tool bounce FILE OUTDIR failed|delayed|success [-o name=value]... index...
 *       runs bounce_queue_dsn() and prints the new queue ID (or nothing)
 *   queue_tool content FILE
 *       writes the message content to standard output
 *   queue_tool envelope FILE
 *       prints "sender=...", "rcpt=...", one per line
 *
 * Not installed; the tests call it by its path in the build tree.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/mail/bounce.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/queue_file.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

/* Create a queue file from options and standard input. */
static int cmd_create(int argc, char **argv)
{
    struct queue_file *qf;
    const char *why;
    char chunk[8192];
    size_t n;
    int ch;

    if (argc < 2)
        msg_fatal("usage: create DIR [options] < content");
    if (queue_file_create(argv[1], NULL, &qf, &why) < 0)
        msg_fatal("create: %s", why);
    optind = 2;
    if (queue_file_set_str(qf, QUEUE_F_SENDER, "", &why) < 0)
        msg_fatal("%s", why);
    while ((ch = getopt(argc, argv, "f:r:e:R:U8t:")) != -1) {
        int ret = 0;

        switch (ch) {
        case 'f':
            ret = queue_file_set_str(qf, QUEUE_F_SENDER, optarg, &why);
            break;
        case 'r': {
            char *copy = mem_strdup(optarg);
            char *notify = strchr(copy, ',');
            char *orcpt = NULL;

            if (notify) {
                *notify++ = 0;
                orcpt = strchr(notify, ',');
                if (orcpt)
                    *orcpt++ = 0;
            }
            ret = queue_file_add_rcpt(qf, copy, NULL, orcpt, notify ? (unsigned)atoi(notify) : 0,
                                      &why);
            mem_free(copy);
            break;
        }
        case 'e':
            ret = queue_file_set_str(qf, QUEUE_F_ENVID, optarg, &why);
            break;
        case 'R':
            ret = queue_file_set_ret(
                qf, strcmp(optarg, "hdrs") == 0 ? QUEUE_RET_HDRS : QUEUE_RET_FULL, &why);
            break;
        case 'U':
            ret = queue_file_set_flags(qf, QUEUE_FLAG_SMTPUTF8, &why);
            break;
        case '8':
            ret = queue_file_set_body(qf, QUEUE_BODY_8BITMIME, &why);
            break;
        case 't':
            ret = queue_file_set_arrival(qf, (uint64_t)atoll(optarg) * 1000000, &why);
            break;
        default:
            msg_fatal("create: bad option");
        }
        if (ret < 0)
            msg_fatal("create: %s", why);
    }
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
        if (queue_file_write(qf, chunk, n, &why) < 0)
            msg_fatal("write: %s", why);
    if (queue_file_commit(qf, &why) < 0)
        msg_fatal("commit: %s", why);
    printf("%s\n", queue_file_id(qf));
    queue_file_free(&qf);
    return 0;
}

/* Open a queue file or die. */
static struct queue_file *open_or_die(const char *path, int flags)
{
    struct queue_file *qf;
    const char *why;

    if (queue_file_open(path, flags, &qf, &why) != 1)
        msg_fatal("open %s: %s", path, why);
    return qf;
}

/* Update one recipient's status. */
static int cmd_status(int argc, char **argv)
{
    struct queue_file *qf;
    struct queue_slot slot = {0};
    struct queue_diag diag = {0};
    const char *why;
    size_t index;

    if (argc < 4)
        msg_fatal("usage: status FILE index status [dsn [mta [text]]]");
    qf = open_or_die(argv[1], QUEUE_OPEN_RDWR);
    index = (size_t)atol(argv[2]);
    if (index >= queue_file_envelope(qf)->rcpt_count)
        msg_fatal("no recipient %zu", index);
    slot = queue_file_envelope(qf)->rcpts[index].slot;
    if (strcmp(argv[3], "pending") == 0)
        slot.status = QUEUE_PENDING;
    else if (strcmp(argv[3], "delivered") == 0)
        slot.status = QUEUE_DELIVERED;
    else if (strcmp(argv[3], "bounced") == 0)
        slot.status = QUEUE_BOUNCED;
    else if (strcmp(argv[3], "deferred") == 0)
        slot.status = QUEUE_DEFERRED;
    else
        msg_fatal("bad status %s", argv[3]);
    slot.attempts++;
    if (slot.status == QUEUE_DEFERRED)
        slot.next_retry = (int64_t)time(NULL) + 3600;
    diag.status = slot.status;
    diag.dsn = argc > 4 ? argv[4] : NULL;
    diag.mta = argc > 5 && *argv[5] ? argv[5] : NULL;
    diag.text = argc > 6 ? argv[6] : NULL;
    if (queue_file_rcpt_update(qf, index, &slot, diag.dsn ? &diag : NULL, 0, &why) < 0)
        msg_fatal("update: %s", why);
    queue_file_free(&qf);
    return 0;
}

/* Run bounce_queue_dsn() for the given recipients. */
static int cmd_bounce(int argc, char **argv)
{
    struct bounce_request req = {0};
    struct bounce_rcpt *rcpts;
    char qid[QUEUE_ID_SIZE];
    const char *why;
    int ch, ret;

    if (argc < 4)
        msg_fatal("usage: bounce FILE OUTDIR kind [-o name=value]... index...");
    req.qf = open_or_die(argv[1], 0);
    req.incoming_dir = argv[2];
    req.kind = strcmp(argv[3], "delayed") == 0   ? BOUNCE_DELAYED
               : strcmp(argv[3], "success") == 0 ? BOUNCE_SUCCESS
                                                 : BOUNCE_FAILED;
    optind = 4;
    while ((ch = getopt(argc, argv, "o:")) != -1) {
        char *eq;

        if (ch != 'o' || (eq = strchr(optarg, '=')) == NULL)
            msg_fatal("bounce: bad option");
        *eq = 0;
        if (config_override(optarg, eq + 1, &why) < 0)
            msg_fatal("-o %s: %s", optarg, why);
    }
    rcpts = mem_alloc_array((size_t)(argc - optind) + 1, sizeof(*rcpts));
    for (int i = optind; i < argc; i++) {
        rcpts[req.rcpt_count].index = (size_t)atol(argv[i]);
        if (rcpts[req.rcpt_count].index >= queue_file_envelope(req.qf)->rcpt_count)
            msg_fatal("no recipient %s", argv[i]);
        req.rcpt_count++;
    }
    req.rcpts = rcpts;
    if (req.kind == BOUNCE_DELAYED)
        req.retry_until = (int64_t)(queue_file_envelope(req.qf)->arrival / 1000000) + 5 * 86400;
    ret = bounce_queue_dsn(&req, qid, &why);
    if (ret < 0)
        msg_fatal("bounce: %s", why);
    if (ret > 0)
        printf("%s\n", qid);
    mem_free(rcpts);
    queue_file_free(&req.qf);
    config_reset();
    return 0;
}

/* Write the content to standard output. */
static int cmd_content(int argc, char **argv)
{
    struct queue_file *qf;
    const char *why;
    char chunk[8192];
    size_t n;
    int ret;

    if (argc < 2)
        msg_fatal("usage: content FILE");
    qf = open_or_die(argv[1], 0);
    while ((ret = queue_file_content_read(qf, chunk, sizeof(chunk), &n, &why)) > 0 && n > 0)
        fwrite(chunk, 1, n, stdout);
    if (ret < 0)
        msg_fatal("read: %s", why);
    queue_file_free(&qf);
    return 0;
}

/* Print the envelope. */
static int cmd_envelope(int argc, char **argv)
{
    struct queue_file *qf;
    const struct queue_envelope *env;

    if (argc < 2)
        msg_fatal("usage: envelope FILE");
    qf = open_or_die(argv[1], 0);
    env = queue_file_envelope(qf);
    printf("sender=%s\n", env->sender);
    for (size_t i = 0; i < env->rcpt_count; i++)
        printf("rcpt=%s status=%s\n", env->rcpts[i].address,
               queue_status_name(env->rcpts[i].slot.status));
    printf("smtputf8=%d\n", (env->flags & QUEUE_FLAG_SMTPUTF8) ? 1 : 0);
    queue_file_free(&qf);
    return 0;
}

int main(int argc, char **argv)
{
    msg_init("queue_tool", MSG_TO_STDERR);
    if (argc < 2)
        msg_fatal("usage: queue_tool create|status|bounce|content|envelope ...");
    if (strcmp(argv[1], "create") == 0)
        return cmd_create(argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0)
        return cmd_status(argc - 1, argv + 1);
    if (strcmp(argv[1], "bounce") == 0)
        return cmd_bounce(argc - 1, argv + 1);
    if (strcmp(argv[1], "content") == 0)
        return cmd_content(argc - 1, argv + 1);
    if (strcmp(argv[1], "envelope") == 0)
        return cmd_envelope(argc - 1, argv + 1);
    msg_fatal("unknown command %s", argv[1]);
}
