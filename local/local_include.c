/*
 * local_include - :include:/file destinations (a list of destinations in
 * a file, one aliases(5) right-hand side per line), and the reading of
 * such list files (also used for .forward files).
 *
 * As Postfix's local/include.c: the file is opened with the rights of the
 * current delivery context (a .forward's user, an alias table's owner; as
 * root when the context has no user); it must be a regular file that
 * others cannot write. Commands and files it names run with the rights of
 * the context, or else with those of the file's owner, or default_privs
 * when root owns it; allow_mail_to_commands/files must list "include"
 * for them. An include file is read once per request (duplicate filter).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/buf.h"
#include "lib/util/msg.h"
#include "local/local.h"

/*
 * Read the list file path with the rights of as (NULL: the process's own).
 * 1 read into out with *st_r, 0 it does not exist, -1 with errno and *why_r.
 */
int local_list_file_read(const char *path, const struct local_creds *as, struct buf *out,
                         struct stat *st_r, const char **why_r)
{
    static char why[512];
    char data[8192];
    int fd, saved = 0;
    ssize_t n;

    if (as != NULL && local_privs_enter(as, why_r) < 0) {
        errno = EPERM;
        return -1;
    }
    /* O_NONBLOCK: a FIFO named like the file must not hang the delivery. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        saved = errno;
    if (as != NULL)
        local_privs_leave();
    if (fd < 0) {
        if (saved == ENOENT || saved == ENOTDIR)
            return 0;
        snprintf(why, sizeof(why), "open %s: %s", path, strerror(saved));
        *why_r = why;
        errno = saved;
        return -1;
    }
    if (fstat(fd, st_r) < 0) {
        saved = errno;
        snprintf(why, sizeof(why), "fstat %s: %s", path, strerror(saved));
        goto fail;
    }
    if (!S_ISREG(st_r->st_mode)) {
        saved = EINVAL;
        snprintf(why, sizeof(why), "%s is not a regular file", path);
        goto fail;
    }
    buf_reset(out);
    while ((n = read(fd, data, sizeof(data))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            saved = errno;
            snprintf(why, sizeof(why), "read %s: %s", path, strerror(saved));
            goto fail;
        }
        if (buf_len(out) + (size_t)n > LOCAL_LIST_FILE_MAX) {
            saved = EFBIG;
            snprintf(why, sizeof(why), "%s is larger than %d bytes", path, LOCAL_LIST_FILE_MAX);
            goto fail;
        }
        buf_append(out, data, (size_t)n);
    }
    close(fd);
    return 1;

fail:
    close(fd);
    *why_r = why;
    errno = saved;
    return -1;
}

/* Warning callback for local_list_parse. */
static void local_include_warn(void *ctx, int line, const char *why)
{
    const char *path = ctx;

    msg_warn("%s, line %d: %s", path, line, why);
}

/* Deliver to the destinations listed in the file path. */
void local_include(struct local_job *job, const struct local_attr *attr, const char *path,
                   unsigned exp_class)
{
    struct local_creds *owner = NULL;
    struct local_attr child;
    struct argv *values;
    struct buf *text, *key;
    struct stat st;
    const char *why = "";
    bool seen;
    int r;

    (void)exp_class;
    while (*path == ' ' || *path == '\t')
        path++;
    if (*path != '/') {
        local_leaf(job, attr, DELIVER_BOUNCED, "5.3.5", "", 0,
                   ":include: file name is not absolute: \"%s\"", path);
        return;
    }
    key = buf_create(64);
    buf_printf(key, "include %s", path);
    seen = local_dups_seen(job->dups, buf_str(key));
    buf_free(&key);
    if (seen)
        return;

    text = buf_create(1024);
    r = local_list_file_read(path, attr->creds, text, &st, &why);
    if (r <= 0) {
        if (r == 0 || errno == EACCES || errno == EPERM || errno == EINVAL || errno == EFBIG) {
            msg_warn("%s: :include: %s", job->req->queue_id, r == 0 ? path : why);
            local_leaf(job, attr, DELIVER_BOUNCED, "5.3.5", "", 0,
                       "cannot open include file %s: %s", path,
                       r == 0 ? "No such file or directory" : why);
        } else {
            msg_warn("%s: :include: %s", job->req->queue_id, why);
            local_leaf(job, attr, DELIVER_DEFERRED, "4.3.0", "", 0, "cannot read include file %s",
                       path);
        }
        buf_free(&text);
        return;
    }
    if (st.st_mode & S_IWOTH) {
        msg_warn("%s: :include: file %s is world writable; refused", job->req->queue_id, path);
        local_leaf(job, attr, DELIVER_BOUNCED, "5.7.0", "", 0, "include file %s is world writable",
                   path);
        buf_free(&text);
        return;
    }
    /* Without a user context, the file's owner (unless root) gives the rights. */
    if (attr->creds == NULL && st.st_uid != 0 && local_privs_root()) {
        if ((r = local_creds_getpwuid(st.st_uid, &owner, &why)) <= 0) {
            msg_warn("%s: owner uid %lu of %s: %s", job->req->queue_id, (unsigned long)st.st_uid,
                     path, r < 0 ? why : "no such user");
            local_leaf(job, attr, DELIVER_DEFERRED, "4.3.0", "", 0,
                       "cannot find include file owner");
            buf_free(&text);
            return;
        }
    }
    values = argv_create(8);
    local_list_parse(buf_str(text), buf_len(text), job->set->line_max, values, local_include_warn,
                     (void *)path);
    child = *attr;
    child.exp_from = path;
    child.exp_type = LOCAL_EXP_INCLUDE;
    if (owner != NULL)
        child.creds = owner;
    for (size_t i = 0; i < values->argc; i++)
        local_token(job, &child, values->argv[i], LOCAL_EXP_INCLUDE);
    argv_free(&values);
    local_creds_free(&owner);
    buf_free(&text);
}
