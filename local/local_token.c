/*
 * local_token - one destination from an alias, .forward or :include:
 * list: an address (a local one goes through the delivery switch again,
 * one level deeper; another is forwarded), a |command, a /file or a
 * :include:/file, with allow_mail_to_commands and allow_mail_to_files
 * deciding which expansions may name commands and files.
 */
#include "config.h"

#include <string.h>

#include "lib/dict/alias_parse.h"
#include "lib/mail/resolve.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"
#include "local/local.h"

/* 1 when the resolver routes addr to local delivery, 0 elsewhere, -1 error. */
static int local_token_is_local(struct local_job *job, const char *addr, const char **why_r)
{
    struct resolve_route route;
    int r;

    if (job->ctx->resolver == NULL) {
        *why_r = job->ctx->resolver_why ? job->ctx->resolver_why : "not available";
        return -1;
    }
    memset(&route, 0, sizeof(route));
    if (resolve_route(job->ctx->resolver, addr, &route, why_r) < 0)
        return -1;
    r = route.local ? 1 : 0;
    resolve_route_clear(&route);
    return r;
}

/* Deliver one value of a list whose expansion class is exp_class. */
void local_token(struct local_job *job, const struct local_attr *attr, const char *value,
                 unsigned exp_class)
{
    const struct local_settings *s = job->set;
    struct local_attr child;
    const char *at, *why;
    char *addr;
    int r;

    if (!local_expansion_ok(job, attr))
        return;
    switch (alias_value_kind(value)) {
    case ALIAS_COMMAND:
        value++;
        while (*value == ' ' || *value == '\t')
            value++;
        if (!(s->allow_commands & exp_class)) {
            local_leaf(job, attr, DELIVER_BOUNCED, "5.7.1", "", 0, "mail to command is restricted");
            return;
        }
        if (*value == 0) {
            local_leaf(job, attr, DELIVER_BOUNCED, "5.3.5", "", 0, "empty command");
            return;
        }
        local_command(job, attr, value, attr->creds,
                      exp_class == LOCAL_EXP_FORWARD ? attr->creds : NULL);
        return;
    case ALIAS_FILE:
        if (!(s->allow_files & exp_class)) {
            local_leaf(job, attr, DELIVER_BOUNCED, "5.7.1", "", 0, "mail to file is restricted");
            return;
        }
        local_file(job, attr, value, attr->creds);
        return;
    case ALIAS_INCLUDE:
        local_include(job, attr, value + strlen(":include:"), exp_class);
        return;
    case ALIAS_ADDRESS:
        break;
    }

    /* An address: a bare name is one of ours, in myorigin. */
    at = strrchr(value, '@');
    if (at == NULL) {
        struct buf *b = buf_create(strlen(value) + strlen(s->myorigin) + 2);

        buf_printf(b, "%s@%s", value, s->myorigin);
        addr = buf_export(&b);
    } else {
        addr = mem_strdup(value);
    }
    /* Ours (the resolver routes it to local delivery) goes through the switch again. */
    r = local_token_is_local(job, addr, &why);
    if (r < 0) {
        msg_warn("%s: routing %s: %s", job->req->queue_id, addr, why);
        local_leaf(job, attr, DELIVER_DEFERRED, "4.3.0", "", 0, "address resolver unavailable");
    } else if (r > 0) {
        child = *attr;
        child.address = addr;
        local_recipient(job, child);
    } else {
        local_resubmit_add(job, attr, addr);
    }
    mem_free(addr);
}
