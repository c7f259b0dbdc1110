/*
 * local_dotforward - a user's .forward file (forward_path), as Postfix's
 * local/dotforward.c: the first file of forward_path that exists is read
 * with the user's rights; its destinations are delivered with the user's
 * rights (commands and files; default_privs for root), and the user
 * listed in the own .forward means the user's mailbox ("\joe" or "joe").
 * An empty .forward means: no forwarding, deliver to the mailbox.
 *
 * Security: the file must be a regular file owned by the user (or root)
 * that neither group nor others may write; any other file is ignored with
 * a warning (mail then goes to the mailbox, as if there were none), so a
 * file someone else could have written never decides where mail goes.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/msg.h"
#include "local/local.h"

/* Warning callback for local_list_parse. */
static void local_dotforward_warn(void *ctx, int line, const char *why)
{
    const char *path = ctx;

    msg_warn("%s, line %d: %s", path, line, why);
}

/* The expansion names of a recipient with account user. */
void local_expand_attrs_init(struct local_expand_attrs *x, const struct local_attr *attr,
                             const struct local_creds *user, char *delim_buf)
{
    memset(x, 0, sizeof(*x));
    x->user = attr->addr->user;
    x->home = user ? user->home : NULL;
    x->shell = user ? user->shell : NULL;
    x->recipient = attr->address;
    x->extension = attr->addr->extension;
    x->domain = attr->addr->domain;
    x->local = attr->addr->local;
    delim_buf[0] = attr->addr->delim;
    delim_buf[1] = 0;
    x->recipient_delimiter = attr->addr->delim ? delim_buf : NULL;
}

/* Use the user's .forward: 1 when it was used, 0 when there is none (or it is empty). */
int local_dotforward(struct local_job *job, const struct local_attr *attr,
                     const struct local_creds *user)
{
    const struct local_settings *s = job->set;
    struct local_expand_attrs x;
    struct local_attr child;
    struct buf *path, *prev, *text;
    struct argv *values = NULL;
    const char *why;
    char delim[2];
    int used = 0;

    /* The user named in the own .forward: the mailbox, not the .forward again. */
    if (attr->exp_type == LOCAL_EXP_FORWARD && attr->exp_from != NULL &&
        strcmp(attr->exp_from, user->name) == 0)
        return 0;
    if (s->forward_path->argc == 0 || user->home == NULL || !local_privs_can_become(user->uid))
        return 0;

    local_expand_attrs_init(&x, attr, user, delim);
    path = buf_create(128);
    prev = buf_create(128);
    text = buf_create(1024);
    for (size_t i = 0; i < s->forward_path->argc && !used; i++) {
        struct stat st;
        int r;

        buf_reset(path);
        if (local_expand(path, s->forward_path->argv[i], &x, s->forward_filter, &why) < 0) {
            msg_warn("forward_path entry \"%s\": %s", s->forward_path->argv[i], why);
            continue;
        }
        /* The default lists "~/.forward" twice when there is no extension. */
        if (buf_len(path) == 0 || strcmp(buf_str(path), buf_str(prev)) == 0)
            continue;
        buf_set(prev, buf_str(path));
        if (buf_str(path)[0] != '/') {
            msg_warn("forward_path entry \"%s\" gives a relative name \"%s\"; skipped",
                     s->forward_path->argv[i], buf_str(path));
            continue;
        }
        r = local_list_file_read(buf_str(path), user, text, &st, &why);
        if (r == 0)
            continue;
        if (r < 0) {
            msg_warn("%s: cannot read %s for user %s: %s; ignored", job->req->queue_id,
                     buf_str(path), user->name, why);
            continue;
        }
        if (st.st_uid != user->uid && st.st_uid != 0) {
            msg_warn("%s: %s is owned by uid %lu, not by user %s; ignored", job->req->queue_id,
                     buf_str(path), (unsigned long)st.st_uid, user->name);
            continue;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
            msg_warn("%s: %s may be written by group or others; ignored", job->req->queue_id,
                     buf_str(path));
            continue;
        }
        values = argv_create(4);
        local_list_parse(buf_str(text), buf_len(text), s->line_max, values, local_dotforward_warn,
                         buf_str(path));
        if (values->argc == 0) {
            /* An empty .forward: deliver to the mailbox. */
            argv_free(&values);
            break;
        }
        child = *attr;
        child.exp_from = user->name;
        child.exp_type = LOCAL_EXP_FORWARD;
        child.creds = user;
        for (size_t j = 0; j < values->argc; j++)
            local_token(job, &child, values->argv[j], LOCAL_EXP_FORWARD);
        argv_free(&values);
        used = 1;
    }
    buf_free(&path);
    buf_free(&prev);
    buf_free(&text);
    return used;
}
