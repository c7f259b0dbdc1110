/*
 * local_alias - alias_maps expansion (aliases(5)), as Postfix's
 * local/alias.c: look the name up in each table in order; the values of
 * the first hit are delivered one by one (local_token).
 *
 * Rules: an alias being expanded is not expanded again inside its own
 * expansion ("a: a, b" delivers to the mailbox of a and to b, not in a
 * loop); commands and files in an alias run with the rights of the owner
 * of the alias table file, or default_privs when root owns it. A table
 * that cannot be read defers the recipient (never a bounce). A list with
 * an owner-<list> alias is delivered with the sender owner-<list>, so
 * that its members' bounces reach the list owner.
 */
#include "config.h"

#include <string.h>

#include "lib/dict/alias_parse.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "local/local.h"

/*
 * A mailing list alias "name" with an "owner-name" alias: problems with its
 * members go to the owner, not to the original sender, so the expansion gets
 * the sender owner-name@$myorigin (Postfix, owner_request_special). NULL
 * when there is no owner alias (or it cannot be looked up: keep the sender).
 */
static char *local_alias_owner(struct local_job *job, const char *name)
{
    struct local_table t;
    struct buf *key;
    const char *value, *why;
    char *sender = NULL;
    int r;

    if (!job->set->owner_request_special || strncmp(name, "owner-", 6) == 0)
        return NULL;
    key = buf_create(64);
    buf_printf(key, "owner-%s", name);
    r = local_tables_find(job->ctx->aliases, buf_str(key), &value, &t, &why);
    if (r > 0) {
        buf_printf(key, "@%s", job->set->myorigin);
        sender = buf_export(&key);
    } else if (r < 0) {
        msg_warn("%s: owner alias lookup for %s: %s", job->req->queue_id, name, why);
    }
    buf_free(&key);
    return sender;
}

/* Expand the alias name: 1 done, 0 not an alias, -1 deferred. */
int local_alias(struct local_job *job, const struct local_attr *attr, const char *name)
{
    struct local_table t;
    struct local_creds *owner = NULL;
    struct local_attr child;
    struct argv *values = NULL;
    const char *value, *why;
    char *owner_sender;
    int r;

    if (attr->exp_type == LOCAL_EXP_ALIAS && attr->exp_from != NULL &&
        strcmp(attr->exp_from, name) == 0)
        return 0;
    r = local_tables_find(job->ctx->aliases, name, &value, &t, &why);
    if (r == 0)
        return 0;
    if (r < 0) {
        msg_warn("%s: alias lookup of %s: %s", job->req->queue_id, name, why);
        local_leaf(job, attr, DELIVER_DEFERRED, "4.3.0", "", 0, "alias database unavailable");
        return -1;
    }
    if (alias_values_split(value, &values, &why) < 0 || values->argc == 0) {
        msg_warn("%s: table %s: bad value for alias %s: %s", job->req->queue_id, t.spec, name,
                 values ? why : "empty");
        local_leaf(job, attr, DELIVER_DEFERRED, "4.3.5", "", 0,
                   "alias database entry for %s is malformed", name);
        argv_free(&values);
        return -1;
    }
    /* Rights for commands and files of this alias: the table owner's, unless root. */
    if (t.owned && t.owner != 0 && local_privs_root()) {
        if ((r = local_creds_getpwuid(t.owner, &owner, &why)) <= 0) {
            msg_warn("%s: owner uid %lu of alias table %s: %s", job->req->queue_id,
                     (unsigned long)t.owner, t.spec, r < 0 ? why : "no such user");
            local_leaf(job, attr, DELIVER_DEFERRED, "4.3.0", "", 0,
                       "cannot find alias database owner");
            argv_free(&values);
            return -1;
        }
    }
    child = *attr;
    child.exp_from = name;
    child.exp_type = LOCAL_EXP_ALIAS;
    child.creds = owner;
    owner_sender = local_alias_owner(job, name);
    if (owner_sender != NULL)
        child.sender = owner_sender;
    for (size_t i = 0; i < values->argc; i++)
        local_token(job, &child, values->argv[i], LOCAL_EXP_ALIAS);
    mem_free(owner_sender);
    local_creds_free(&owner);
    argv_free(&values);
    return 1;
}
