/*
 * local_mailbox - delivery to a user's mailbox: mailbox_command, or
 * Maildir, or an mbox file, as Postfix's local/mailbox.c.
 *
 * Where: the path given by local_mailbox_maps; else home_mailbox under
 * the user's home; else mail_spool_directory/user. A name ending in '/'
 * is a Maildir (tmp -> new, fsync; lib/store/maildir), any other an mbox
 * (From line, mboxrd quoting, dot-lock plus fcntl lock, truncated back on
 * failure; lib/store/mbox). Every message starts with "Return-Path:" and
 * "Delivered-To:".
 *
 * Rights: everything is done as the user, except what the spool directory
 * does not let the user do. As Postfix decides it: a world-writable spool
 * (or a mailbox outside the spool): locks and a new mailbox as the user;
 * a group-writable one (Debian's /var/mail, root:mail 2775): as the user
 * with the directory's group; otherwise as root. The message itself is
 * always appended as the user. A Maildir in the spool directory gets its
 * top directory the same way; everything inside it is made as the user.
 * mailbox_size_limit limits an mbox file, and each Maildir message file.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/store/maildir.h"
#include "lib/store/mbox.h"
#include "lib/store/store.h"
#include "lib/util/buf.h"
#include "lib/util/clock.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"
#include "local/local.h"

/* The mailbox path of user (account mailboxes): home_mailbox or the spool. */
void local_mailbox_path(struct buf *out, const struct local_settings *s, const char *user,
                        const char *home)
{
    size_t len;

    buf_reset(out);
    if (*s->home_mailbox) {
        buf_puts(out, home ? home : "");
        if (buf_len(out) == 0 || buf_str(out)[buf_len(out) - 1] != '/')
            buf_putc(out, '/');
        buf_puts(out, s->home_mailbox);
        return;
    }
    buf_puts(out, s->mail_spool_directory);
    len = buf_len(out);
    /* "/var/mail/" means a Maildir per user: /var/mail/joe/. */
    if (len > 0 && buf_str(out)[len - 1] == '/') {
        buf_puts(out, user);
        buf_putc(out, '/');
    } else {
        buf_putc(out, '/');
        buf_puts(out, user);
    }
}

/* Tell the biff service (comsat) about new mail: "user@offset". Best effort. */
static void local_biff(const char *user, off_t offset)
{
    struct addrinfo hints, *res = NULL;
    char text[512];
    int fd;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo("127.0.0.1", "biff", &hints, &res) != 0 &&
        getaddrinfo("127.0.0.1", "512", &hints, &res) != 0)
        return;
    snprintf(text, sizeof(text), "%s@%lld\n", user, (long long)offset);
    if ((fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0) {
        (void)sendto(fd, text, strlen(text), MSG_DONTWAIT, res->ai_addr, res->ai_addrlen);
        close(fd);
    }
    freeaddrinfo(res);
}

/*
 * Whose rights create and lock mailboxes: the user's outside the spool and
 * in a world-writable spool; the user's with the spool's group in a
 * group-writable one; root's otherwise (Postfix's rule).
 */
static struct local_creds *local_spool_creds(const struct local_settings *s,
                                             const struct local_creds *user, bool in_spool)
{
    struct local_creds *spool;
    struct stat st;

    if (!in_spool || !local_privs_root() || stat(s->mail_spool_directory, &st) < 0 ||
        (st.st_mode & S_IWOTH))
        return local_creds_dup(user);
    if (st.st_mode & S_IWGRP) {
        spool = local_creds_dup(user);
        spool->gid = st.st_gid;
        spool->groups[0] = st.st_gid;
        spool->ngroups = 1;
        return spool;
    }
    return local_creds_create("root", 0, 0, "/", NULL);
}

/*
 * A Maildir in the spool (mail_spool_directory ending in '/'): its top
 * directory is made with the spool's rights and given to the user; the
 * rest is done as the user.
 */
static int local_spool_maildir(const struct local_settings *s, const struct local_creds *user,
                               const char *path, struct store_err *err)
{
    struct local_creds *spool;
    struct stat st;
    const char *why;
    int rc = 0;

    if (lstat(path, &st) == 0 || errno != ENOENT)
        return 0;
    spool = local_spool_creds(s, user, true);
    if (spool->uid == user->uid && spool->gid == user->gid) {
        local_creds_free(&spool);
        return 0;
    }
    if (local_privs_enter(spool, &why) < 0) {
        rc = store_err_set(err, 1, "4.3.0", "%s", why);
    } else {
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            rc = store_err_errno(err, errno, "mkdir %s", path);
        else if (spool->uid == 0 && lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
                 st.st_uid == 0 && chown(path, user->uid, user->gid) < 0)
            rc = store_err_errno(err, errno, "chown %s", path);
        local_privs_leave();
    }
    local_creds_free(&spool);
    return rc;
}

/* Append an mbox message with split rights (see the file comment). */
static int local_mbox(struct local_job *job, const struct local_attr *attr,
                      const struct local_creds *user, const char *path, bool in_spool,
                      const struct store_msg *msg, struct store_err *err)
{
    const struct local_settings *s = job->set;
    struct local_creds *spool = NULL;
    struct mbox_opts o;
    struct mbox *mbox = NULL;
    struct stat st;
    const char *why;
    off_t before = -1;
    int rc = -1;

    mbox_opts_init(&o);
    o.lock = (s->mbox_lock & LOCAL_LOCK_DOTLOCK ? MBOX_LOCK_DOTLOCK : 0) |
             (s->mbox_lock & LOCAL_LOCK_FCNTL ? MBOX_LOCK_FCNTL : 0);
    o.uid = user->uid;
    o.gid = user->gid;
    o.size_limit = (off_t)s->mailbox_size_limit;
    spool = local_spool_creds(s, user, in_spool);

    if (local_privs_enter(spool, &why) < 0) {
        store_err_set(err, 1, "4.3.0", "%s", why);
        goto out;
    }
    /*
     * A mailbox that belongs to someone else is an administrator's mistake
     * to be fixed, not a reason to return the mail: defer (Postfix's
     * strict_mailbox_ownership). The open below checks again, atomically.
     */
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid != user->uid) {
        rc = store_err_set(err, 1, "4.2.0", "mailbox %s is not owned by the recipient (uid %lu)",
                           path, (unsigned long)st.st_uid);
        local_privs_leave();
        goto out;
    }
    rc = mbox_open(path, &o, &mbox, err);
    local_privs_leave();
    if (rc < 0)
        goto out;
    if (local_privs_enter(user, &why) < 0) {
        store_err_set(err, 1, "4.3.0", "%s", why);
        rc = -1;
    } else {
        if (s->biff && stat(path, &st) == 0)
            before = st.st_size;
        rc = mbox_append(mbox, attr->sender, time(NULL), msg, err);
        local_privs_leave();
    }
    /* The dot-lock is removed with the rights that made it. */
    if (local_privs_enter(spool, &why) < 0)
        msg_fatal("cannot take on the rights that locked %s: %s", path, why);
    mbox_close(&mbox);
    local_privs_leave();
    if (rc == 0 && s->biff && before >= 0)
        local_biff(user->name, before);
out:
    local_creds_free(&spool);
    return rc;
}

/* Deliver to the mailbox of user (mailbox_path: from local_mailbox_maps, else NULL). */
void local_mailbox(struct local_job *job, const struct local_attr *attr,
                   const struct local_creds *user, const char *mailbox_path)
{
    const struct local_settings *s = job->set;
    struct buf *path = buf_create(128), *prepend = buf_create(256), *key = buf_create(128);
    struct store_msg msg;
    struct store_err err;
    const char *why;
    long long start = clock_now_ms();
    bool maildir, seen;
    int rc;

    if (mailbox_path == NULL && *s->mailbox_command) {
        struct local_expand_attrs x;
        struct buf *cmd = buf_create(128);
        char delim[2];

        local_expand_attrs_init(&x, attr, user, delim);
        if (local_expand(cmd, s->mailbox_command, &x, s->command_filter, &why) < 0) {
            msg_warn("mailbox_command: %s", why);
            local_leaf(job, attr, DELIVER_DEFERRED, "4.3.5", "", 0,
                       "mailbox_command configuration error");
        } else {
            local_command(job, attr, buf_str(cmd), user, user);
        }
        buf_free(&cmd);
        goto out;
    }
    if (mailbox_path != NULL)
        buf_set(path, mailbox_path);
    else
        local_mailbox_path(path, s, attr->addr->user, user->home);
    maildir = buf_len(path) > 0 && buf_str(path)[buf_len(path) - 1] == '/';

    buf_printf(key, "mailbox %s", buf_str(path));
    seen = local_dups_seen(job->dups, buf_str(key));
    if (seen)
        goto out;
    if (!local_privs_can_become(user->uid)) {
        local_leaf(job, attr, DELIVER_DEFERRED, "4.3.0", "", 0,
                   "cannot update mailbox %s for user %s: this mail system does not run as "
                   "root and cannot act as uid %lu",
                   buf_str(path), user->name, (unsigned long)user->uid);
        goto out;
    }

    local_prepend_headers(prepend, attr->sender, attr->delivered);
    store_msg_from_fd(&msg, job->fd, job->content_offset, job->content_length);
    msg.prepend = buf_str(prepend);
    msg.flags = STORE_MSG_CRLF_TO_LF;
    store_err_clear(&err);

    if (maildir) {
        struct maildir_opts mo;

        memset(&mo, 0, sizeof(mo));
        mo.hostname = s->myhostname;
        /* mailbox_size_limit applies to each message file of a Maildir (Postfix). */
        if (s->mailbox_size_limit > 0 &&
            (long long)(buf_len(prepend) + (size_t)job->content_length) > s->mailbox_size_limit) {
            local_leaf(job, attr, DELIVER_BOUNCED, "5.2.2", "", clock_now_ms() - start,
                       "cannot update mailbox %s for user %s: message file too big "
                       "(mailbox_size_limit %lld)",
                       buf_str(path), user->name, s->mailbox_size_limit);
            goto out;
        }
        if (mailbox_path == NULL && !*s->home_mailbox &&
            local_spool_maildir(s, user, buf_str(path), &err) < 0) {
            rc = -1;
        } else if (local_privs_enter(user, &why) < 0) {
            store_err_set(&err, 1, "4.3.0", "%s", why);
            rc = -1;
        } else {
            rc = maildir_deliver(buf_str(path), &mo, &msg, NULL, &err);
            local_privs_leave();
        }
    } else {
        rc = local_mbox(job, attr, user, buf_str(path), mailbox_path == NULL && !*s->home_mailbox,
                        &msg, &err);
    }
    if (rc == 0)
        local_leaf(job, attr, DELIVER_SENT, "2.0.0", "delivered", clock_now_ms() - start,
                   "delivered to %s", maildir ? "maildir" : "mailbox");
    else
        local_leaf(job, attr, err.temporary ? DELIVER_DEFERRED : DELIVER_BOUNCED, err.dsn, "",
                   clock_now_ms() - start, "cannot update mailbox %s for user %s: %s",
                   buf_str(path), user->name, err.why);
out:
    buf_free(&path);
    buf_free(&prepend);
    buf_free(&key);
}
