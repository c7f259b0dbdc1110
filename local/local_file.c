/*
 * local_file - delivery to a /file destination of an alias, .forward or
 * :include: list, as Postfix's local/file.c: appended in mbox format
 * (From line, Return-Path:, Delivered-To: when prepend_delivered_header
 * says "file", mboxrd quoting, an fcntl lock, truncated back on failure),
 * or into a Maildir when the name ends in '/'. /dev/null swallows the
 * message.
 *
 * Rights: the delivery context's user (default_privs when there is none
 * or it is root); the file is opened with those rights, so it must be
 * one that user may write. Security: a symbolic link, a file with more
 * than one link or one owned by someone else is refused (lib/store).
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "lib/store/maildir.h"
#include "lib/store/mbox.h"
#include "lib/store/store.h"
#include "lib/util/buf.h"
#include "lib/util/clock.h"
#include "lib/util/msg.h"
#include "local/local.h"

/* Deliver the message to the file path with the rights of creds (see above). */
void local_file(struct local_job *job, const struct local_attr *attr, const char *path,
                const struct local_creds *creds)
{
    const struct local_settings *s = job->set;
    struct local_creds *as = NULL;
    struct buf *prepend, *key;
    struct store_msg msg;
    struct store_err err;
    const char *why;
    long long start = clock_now_ms();
    size_t len = strlen(path);
    bool seen;
    int rc;

    if (strcmp(path, "/dev/null") == 0) {
        local_leaf(job, attr, DELIVER_SENT, "2.0.0", "delivered", 0, "delivered to file: %s", path);
        return;
    }
    if (local_exec_creds(job, creds, &as, &why) < 0) {
        msg_warn("%s: file %s: %s", job->req->queue_id, path, why);
        local_leaf(job, attr, DELIVER_DEFERRED, "4.3.0", "", 0,
                   "cannot append message to file %s: %s", path, why);
        return;
    }
    key = buf_create(64);
    buf_printf(key, "file %lu %s", (unsigned long)as->uid, path);
    seen = local_dups_seen(job->dups, buf_str(key));
    buf_free(&key);
    if (seen) {
        local_creds_free(&as);
        return;
    }

    prepend = buf_create(256);
    local_prepend_headers(prepend, attr->sender,
                          s->prepend_delivered & LOCAL_PREPEND_FILE ? attr->delivered : NULL);
    store_msg_from_fd(&msg, job->fd, job->content_offset, job->content_length);
    msg.prepend = buf_str(prepend);
    msg.flags = STORE_MSG_CRLF_TO_LF;
    store_err_clear(&err);

    if (local_privs_enter(as, &why) < 0) {
        store_err_set(&err, 1, "4.3.0", "%s", why);
        rc = -1;
    } else if (len > 0 && path[len - 1] == '/') {
        struct maildir_opts mo;

        memset(&mo, 0, sizeof(mo));
        mo.hostname = s->myhostname;
        rc = maildir_deliver(path, &mo, &msg, NULL, &err);
        local_privs_leave();
    } else {
        struct mbox_opts o;

        mbox_opts_init(&o);
        /* A dot-lock needs a writable directory, which a file's directory rarely is. */
        o.lock = MBOX_LOCK_FCNTL;
        o.uid = as->uid;
        o.gid = as->gid;
        o.size_limit = (off_t)s->mailbox_size_limit;
        rc = mbox_deliver(path, &o, attr->sender, time(NULL), &msg, &err);
        local_privs_leave();
    }
    if (rc == 0)
        local_leaf(job, attr, DELIVER_SENT, "2.0.0", "delivered", clock_now_ms() - start,
                   "delivered to file: %s", path);
    else
        local_leaf(job, attr, err.temporary ? DELIVER_DEFERRED : DELIVER_BOUNCED, err.dsn, "",
                   clock_now_ms() - start, "cannot append message to file %s: %s", path, err.why);
    buf_free(&prepend);
    local_creds_free(&as);
}
