/*
 * local_recipient - the delivery switch of local(8) for one address, as in
 * Postfix's local/recipient.c:
 *
 *   nesting limit -> duplicate filter -> Delivered-To: loop check
 *   -> alias_maps (the whole local part, then the user without extension)
 *   -> local_mailbox_maps -> passwd account: ~/.forward, then the mailbox
 *   -> "5.1.1 unknown user"
 *
 * Called for each recipient of a request (level 1) and again, one level
 * deeper, for each local address an alias, .forward or :include: file
 * yields.
 */
#include "config.h"

#include <string.h>

#include "lib/mail/maps.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"
#include "local/local.h"

/* local_mailbox_maps: 1 delivered (or failed) there, 0 not listed. */
static int local_recipient_map(struct local_job *job, const struct local_attr *attr,
                               const char *user)
{
    struct local_table t;
    struct local_creds *creds = NULL;
    const char *value, *why;
    char *path;
    int r;

    if (maps_count(job->ctx->mailbox_maps) == 0)
        return 0;
    r = local_tables_find(job->ctx->mailbox_maps, user, &value, &t, &why);
    if (r == 0)
        return 0;
    if (r < 0) {
        msg_warn("%s: %s", job->req->queue_id, why);
        local_leaf(job, attr, DELIVER_DEFERRED, "4.3.0", "", 0, "mailbox table unavailable");
        return 1;
    }
    path = mem_strdup(value);
    str_trim(path);
    if (*path != '/') {
        msg_warn("%s: table %s: mailbox of \"%s\" is not an absolute path: \"%s\"",
                 job->req->queue_id, t.spec, user, path);
        local_leaf(job, attr, DELIVER_DEFERRED, "4.3.5", "", 0,
                   "mailbox table entry for %s is not an absolute path", user);
        mem_free(path);
        return 1;
    }
    /* The owner of the table file owns the mailbox (default_privs for root or no file). */
    if (!local_privs_root() || !t.owned || t.owner == 0) {
        r = local_exec_creds(job, NULL, &creds, &why) < 0 ? -1 : 1;
    } else if ((r = local_creds_getpwuid(t.owner, &creds, &why)) == 0) {
        why = "the owner of the table file has no account";
    }
    if (r <= 0) {
        msg_warn("%s: mailbox of %s in %s: %s", job->req->queue_id, user, t.spec, why);
        local_leaf(job, attr, DELIVER_DEFERRED, "4.3.0", "", 0, "cannot find the mailbox owner");
        mem_free(path);
        return 1;
    }
    local_mailbox(job, attr, creds, path);
    local_creds_free(&creds);
    mem_free(path);
    return 1;
}

/* Deliver attr.address (see the file comment). */
void local_recipient(struct local_job *job, struct local_attr attr)
{
    const struct local_settings *s = job->set;
    struct local_creds *user = NULL;
    struct local_addr a;
    struct buf *key;
    const char *why;
    bool seen;
    int r;

    attr.level++;
    if (attr.level > LOCAL_NEST_MAX) {
        msg_warn("%s: recipient nesting limit exceeded for %s", job->req->queue_id, attr.address);
        local_leaf(job, &attr, DELIVER_BOUNCED, "5.4.6", "", 0, "recipient nesting limit exceeded");
        return;
    }
    key = buf_create(64);
    buf_printf(key, "recipient %d ", attr.level);
    buf_puts(key, attr.address);
    buf_lower(key);
    seen = local_dups_seen(job->dups, buf_str(key));
    buf_free(&key);
    if (seen)
        return;
    if (job->loop != NULL && local_loop_find(job->loop, attr.address)) {
        local_leaf(job, &attr, DELIVER_BOUNCED, "5.4.6", "", 0, "mail forwarding loop for %s",
                   attr.address);
        return;
    }
    if (local_addr_split(attr.address, s->recipient_delimiter, s->owner_request_special, &a, &why) <
        0) {
        local_leaf(job, &attr, DELIVER_BOUNCED, "5.1.3", "", 0, "null username in \"%s\"",
                   attr.address);
        local_addr_clear(&a);
        return;
    }
    attr.addr = &a;

    /* Aliases first: user+ext, then user. */
    r = local_alias(job, &attr, a.local);
    if (r == 0 && a.extension != NULL)
        r = local_alias(job, &attr, a.user);
    if (r != 0)
        goto out;

    /* Mailboxes without an account. */
    if (local_recipient_map(job, &attr, a.user))
        goto out;

    /* An account: its .forward, else its mailbox. */
    r = local_creds_getpwnam(a.user, &user, &why);
    if (r < 0) {
        msg_warn("%s: %s", job->req->queue_id, why);
        local_leaf(job, &attr, DELIVER_DEFERRED, "4.0.0", "", 0, "user lookup error");
    } else if (r == 0) {
        local_leaf(job, &attr, DELIVER_BOUNCED, "5.1.1", "", 0, "unknown user: \"%s\"", a.user);
    } else if (local_dotforward(job, &attr, user) == 0) {
        local_mailbox(job, &attr, user, NULL);
    }
    local_creds_free(&user);
out:
    local_addr_clear(&a);
}
