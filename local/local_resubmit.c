/*
 * local_resubmit - forwarding: an address from an alias, .forward or
 * :include: list that is not delivered by this local(8) (another domain,
 * or one that transport_maps sends elsewhere) goes out as a new message,
 * as Postfix's local/forward.c does: one new queue file per request
 * recipient, with all its forwarded addresses, the original envelope
 * sender, DSN ENVID/RET/NOTIFY/ORCPT carried over, and "Delivered-To:"
 * (prepend_delivered_header "forward") in front of the unchanged message,
 * so that the message comes back as a loop if it ever returns here.
 *
 * The queue file is written as mail_owner (qmgr must be able to update
 * it) through lib/mail/queue_file.h, then qmgr is nudged. The leaf for
 * each address is logged "forwarded as <new queue ID>".
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/mail/qmgr_nudge.h"
#include "lib/mail/queue_file.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/clock.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "local/local.h"

#define LOCAL_COPY_CHUNK 65536

/* Queue addr for forwarding with the current recipient's request. */
void local_resubmit_add(struct local_job *job, const struct local_attr *attr, const char *addr)
{
    struct buf *key = buf_create(64);
    bool seen;

    buf_printf(key, "forward %s", addr);
    buf_lower(key);
    seen = local_dups_seen(job->dups, buf_str(key));
    buf_free(&key);
    if (seen)
        return;
    if (job->forward_addrs == NULL) {
        job->forward_addrs = argv_create(4);
        job->forward_delivered = mem_strdup(attr->delivered);
        job->forward_sender = mem_strdup(attr->sender);
    }
    argv_add(job->forward_addrs, addr);
}

/* Write the new queue file; 0 with *id_r (caller frees), or -1 with *why_r. */
static int local_resubmit_write(struct local_job *job, char **id_r, const char **why_r)
{
    static char why[512];
    const struct deliver_request *req = job->req;
    const struct deliver_rcpt *rcpt = job->rcpt;
    struct queue_limits limits = {0, 0};
    struct queue_file *qf = NULL;
    struct buf *head = buf_create(128);
    char *chunk = NULL;
    off_t pos = 0;
    const char *err;

    if (queue_file_create(QUEUE_DIR_INCOMING, &limits, &qf, &err) < 0)
        goto fail;
    if (queue_file_set_str(qf, QUEUE_F_SENDER, job->forward_sender, &err) < 0 ||
        queue_file_set_str(qf, QUEUE_F_PROTOCOL, "LOCAL", &err) < 0 ||
        (*req->envid && queue_file_set_str(qf, QUEUE_F_ENVID, req->envid, &err) < 0) ||
        queue_file_set_ret(qf, (enum queue_ret)req->ret, &err) < 0 ||
        queue_file_set_body(qf, (enum queue_body)req->body, &err) < 0 ||
        queue_file_set_flags(qf, req->smtputf8 ? QUEUE_FLAG_SMTPUTF8 : 0, &err) < 0)
        goto fail;
    for (size_t i = 0; i < job->forward_addrs->argc; i++)
        if (queue_file_add_rcpt(qf, job->forward_addrs->argv[i],
                                *rcpt->orig ? rcpt->orig : rcpt->address,
                                *rcpt->orcpt ? rcpt->orcpt : NULL, rcpt->notify, &err) < 0)
            goto fail;
    if (job->set->prepend_delivered & LOCAL_PREPEND_FORWARD)
        local_prepend_headers(head, NULL, job->forward_delivered);
    if (buf_len(head) > 0 && queue_file_write(qf, buf_str(head), buf_len(head), &err) < 0)
        goto fail;
    chunk = mem_alloc(LOCAL_COPY_CHUNK);
    while (pos < job->content_length) {
        size_t want = job->content_length - pos > LOCAL_COPY_CHUNK
                          ? LOCAL_COPY_CHUNK
                          : (size_t)(job->content_length - pos);
        ssize_t n = pread(job->fd, chunk, want, job->content_offset + pos);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? strerror(errno) : "queue file ends early";
            goto fail;
        }
        if (queue_file_write(qf, chunk, (size_t)n, &err) < 0)
            goto fail;
        pos += n;
    }
    if (queue_file_commit(qf, &err) < 0)
        goto fail;
    *id_r = mem_strdup(queue_file_id(qf));
    queue_file_free(&qf);
    mem_free(chunk);
    buf_free(&head);
    return 0;

fail:
    snprintf(why, sizeof(why), "%s", err);
    *why_r = why;
    if (qf != NULL)
        queue_file_abort(&qf);
    mem_free(chunk);
    buf_free(&head);
    return -1;
}

/* Forward what local_resubmit_add() collected for the current recipient. */
void local_resubmit_flush(struct local_job *job)
{
    struct local_creds *owner = NULL;
    struct local_attr attr;
    const char *why = NULL;
    char *id = NULL;
    long long start = clock_now_ms();
    int r = -1;

    if (job->forward_addrs == NULL)
        return;
    /* The queue belongs to mail_owner: write as mail_owner. */
    if (local_privs_root()) {
        int found = local_creds_getpwnam(job->set->mail_owner, &owner, &why);

        if (found == 0)
            why = "mail_owner has no account";
        if (found <= 0 || local_privs_enter(owner, &why) < 0) {
            local_creds_free(&owner);
            goto done;
        }
    }
    r = local_resubmit_write(job, &id, &why);
    if (owner != NULL)
        local_privs_leave();
    local_creds_free(&owner);
    if (r == 0) {
        const char *nwhy;

        msg_info("%s: %s: forwarded to %zu address%s", job->req->queue_id, id,
                 job->forward_addrs->argc, job->forward_addrs->argc == 1 ? "" : "es");
        if (qmgr_nudge(NULL, &nwhy) < 0)
            msg_debug("nudge qmgr: %s", nwhy);
    }
done:
    memset(&attr, 0, sizeof(attr));
    attr.delivered = job->forward_delivered;
    attr.sender = job->forward_sender;
    for (size_t i = 0; i < job->forward_addrs->argc; i++) {
        attr.address = job->forward_addrs->argv[i];
        if (r == 0)
            local_leaf(job, &attr, DELIVER_SENT, "2.0.0", "relayed", clock_now_ms() - start,
                       "forwarded as %s", id);
        else
            local_leaf(job, &attr, DELIVER_DEFERRED, "4.3.0", "", clock_now_ms() - start,
                       "cannot forward: %s", why ? why : "unknown error");
    }
    if (r < 0)
        msg_warn("%s: cannot forward mail for %s: %s", job->req->queue_id, job->rcpt->address,
                 why ? why : "unknown error");
    argv_free(&job->forward_addrs);
    mem_free(job->forward_delivered);
    mem_free(job->forward_sender);
    job->forward_delivered = job->forward_sender = NULL;
    mem_free(id);
}
