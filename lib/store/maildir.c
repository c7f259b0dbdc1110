/*
 * maildir - Maildir and Maildir++ delivery, folders and size accounting.
 *
 * Owns the unique-name generator (per-process counter Q, reset by nothing:
 * a forked child has another pid, so names stay unique) and the delivery
 * sequence of maildir(5): tmp/ with O_EXCL, write, fsync, link() into new/
 * (link, unlike rename, never replaces an existing name), unlink the tmp/
 * name, fsync new/. Any failure before the end removes what was created, so
 * a failed delivery leaves nothing behind to be read twice. The maildir's
 * directories are made only when the file cannot be created in tmp/ (or
 * linked into new/) because one is missing: a delivery into an existing
 * maildir costs no walk of the path from the root.
 *
 * Security: files are created with O_EXCL|O_NOFOLLOW and mode 0600,
 * directories with mode 0700; folder names are checked (no '/', no empty
 * component, no control characters), so a folder name cannot leave the
 * maildir. This code runs as the recipient.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/store/maildir.h"
#include "lib/store/store_write.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/safe_file.h"

#define MAILDIR_NAME_TRIES 10   /* tmp/ names tried before giving up */
#define MAILDIR_READ_SIZE 65536 /* bytes read from the source at a time */

static unsigned long maildir_counter; /* the Q<n> of unique names */

/* Create the maildir path (and missing parents) with cur/, new/ and tmp/. */
int maildir_create(const char *path, struct store_err *err_r)
{
    static const char *const subdirs[] = {"cur", "new", "tmp"};
    struct buf *sub = buf_create(strlen(path) + 8);
    size_t i;
    int ret = 0;

    if (store_mkdirs(path, NULL, err_r) < 0)
        ret = -1;
    for (i = 0; ret == 0 && i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        buf_set(sub, path);
        buf_printf(sub, "/%s", subdirs[i]);
        ret = store_mkdirs(buf_str(sub), NULL, err_r);
    }
    buf_free(&sub);
    return ret;
}

/* Append hostname with '/' and ':' written as \057 and \072 (maildir(5)). */
void maildir_host_escape(struct buf *out, const char *hostname)
{
    const char *p;

    for (p = hostname; *p; p++) {
        if (*p == '/')
            buf_puts(out, "\\057");
        else if (*p == ':')
            buf_puts(out, "\\072");
        else
            buf_putc(out, *p);
    }
}

/* Append a new unique base name <sec>.M<usec>P<pid>Q<n>.<host> to out. */
void maildir_unique_name(struct buf *out, const char *hostname)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    buf_printf(out, "%lld.M%ldP%ldQ%lu.", (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(),
               ++maildir_counter);
    maildir_host_escape(out, hostname);
}

/* Parse the Maildir++ ",S=<size>" of a file name; 0 if found, -1 if not. */
int maildir_name_size(const char *name, off_t *size_r)
{
    const char *p, *end = strchr(name, ':');
    long long size = 0;
    int digits = 0;

    if (end == NULL)
        end = name + strlen(name);
    for (p = name; (p = strstr(p, ",S=")) != NULL && p < end; p += 3) {
        size = 0;
        for (digits = 0, p += 3; p < end && *p >= '0' && *p <= '9' && digits < 18; p++, digits++)
            size = size * 10 + (*p - '0');
        if (digits > 0 && (p == end || *p == ',')) {
            *size_r = (off_t)size;
            return 0;
        }
        p -= 3;
    }
    return -1;
}

/* True when folder is a usable Maildir++ folder name (without the leading dot). */
bool maildir_folder_name_valid(const char *folder)
{
    const unsigned char *p;
    size_t len = strlen(folder);

    if (len == 0 || len > MAILDIR_FOLDER_MAX - 1)
        return false;
    if (folder[0] == '.' || folder[len - 1] == '.' || strstr(folder, "..") != NULL)
        return false;
    for (p = (const unsigned char *)folder; *p; p++)
        if (*p == '/' || *p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* Create the Maildir++ folder root/.folder (and root) with its maildirfolder file. */
int maildir_folder_create(const char *root, const char *folder, struct store_err *err_r)
{
    struct buf *path;
    const char *why;
    int fd, ret = 0;

    if (!maildir_folder_name_valid(folder))
        return store_err_set(err_r, 0, "5.3.0", "invalid mail folder name \"%.100s\"", folder);
    if (maildir_create(root, err_r) < 0)
        return -1;
    path = buf_create(strlen(root) + strlen(folder) + 32);
    buf_printf(path, "%s/.%s", root, folder);
    if (maildir_create(buf_str(path), err_r) < 0) {
        ret = -1;
    } else {
        buf_puts(path, "/maildirfolder");
        if ((fd = safe_open(buf_str(path), O_WRONLY | O_CREAT, 0600, 0, 0, &why)) < 0)
            ret = store_err_why(err_r, errno, why);
        else
            close(fd);
    }
    buf_free(&path);
    return ret;
}

/* Sort helper for folder names. */
static int maildir_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* List the Maildir++ folders of root (names without the dot), sorted. */
int maildir_folder_list(const char *root, struct argv **folders_r, struct store_err *err_r)
{
    struct argv *folders;
    struct dirent *de;
    struct stat st;
    DIR *dir;

    if ((dir = opendir(root)) == NULL)
        return store_err_errno(err_r, errno, "open maildir %s", root);
    folders = argv_create(8);
    while ((errno = 0, de = readdir(dir)) != NULL) {
        if (de->d_name[0] != '.' || !maildir_folder_name_valid(de->d_name + 1))
            continue;
        /* A directory (a symbolic link to one is the owner's choice). */
        if (fstatat(dirfd(dir), de->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode))
            continue;
        argv_add(folders, de->d_name + 1);
    }
    if (errno != 0) {
        store_err_errno(err_r, errno, "read maildir %s", root);
        closedir(dir);
        argv_free(&folders);
        return -1;
    }
    closedir(dir);
    if (folders->argc > 1)
        qsort(folders->argv, folders->argc, sizeof(char *), maildir_strcmp);
    *folders_r = folders;
    return 0;
}

/* Add the sizes of the messages in one directory (cur/ or new/). */
static int maildir_size_dir(const char *path, off_t *size, long *count, struct store_err *err_r)
{
    struct dirent *de;
    struct stat st;
    off_t one;
    DIR *dir;

    if ((dir = opendir(path)) == NULL) {
        if (errno == ENOENT)
            return 0;
        return store_err_errno(err_r, errno, "open directory %s", path);
    }
    while ((errno = 0, de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (maildir_name_size(de->d_name, &one) < 0) {
            /* No S= in the name: ask the file system. Gone meanwhile = not counted. */
            if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                !S_ISREG(st.st_mode))
                continue;
            one = st.st_size;
        }
        *size += one;
        (*count)++;
    }
    if (errno != 0) {
        store_err_errno(err_r, errno, "read directory %s", path);
        closedir(dir);
        return -1;
    }
    closedir(dir);
    return 0;
}

/* Sum the sizes of all messages in root and its folders (cur/ and new/). */
int maildir_size(const char *root, off_t *size_r, long *count_r, struct store_err *err_r)
{
    struct argv *folders = NULL;
    struct buf *path = buf_create(256);
    off_t size = 0;
    long count = 0;
    size_t i;
    int ret = 0;

    if (maildir_folder_list(root, &folders, err_r) < 0) {
        buf_free(&path);
        return -1;
    }
    for (i = 0; ret == 0 && i <= folders->argc; i++) {
        buf_set(path, root);
        if (i < folders->argc)
            buf_printf(path, "/.%s", folders->argv[i]);
        buf_puts(path, "/cur");
        ret = maildir_size_dir(buf_str(path), &size, &count, err_r);
        if (ret == 0) {
            buf_truncate(path, buf_len(path) - 4);
            buf_puts(path, "/new");
            ret = maildir_size_dir(buf_str(path), &size, &count, err_r);
        }
    }
    argv_free(&folders);
    buf_free(&path);
    if (ret == 0) {
        *size_r = size;
        if (count_r)
            *count_r = count;
    }
    return ret;
}

/* Write prepended lines and the message content to fd; the writer has the sizes. */
static int maildir_copy(const struct store_msg *msg, struct store_write *w, struct store_err *err_r)
{
    struct store_msg_reader reader;
    char *data = mem_alloc(MAILDIR_READ_SIZE);
    ssize_t n;
    int ret = 0;

    if (msg->prepend)
        store_write_text(w, msg->prepend, strlen(msg->prepend));
    store_msg_reader_init(&reader, msg);
    while ((n = store_msg_read(&reader, data, MAILDIR_READ_SIZE, err_r)) > 0) {
        store_write_text(w, data, (size_t)n);
        if (store_write_failed(w))
            break;
    }
    mem_free(data);
    if (n < 0)
        ret = -1;
    store_write_end_text(w);
    if (store_write_flush(w, err_r) < 0)
        ret = -1;
    return ret;
}

/* Move tmp to new without ever replacing an existing file. */
static int maildir_link(const char *tmp, const char *new_path, struct store_err *err_r)
{
    if (link(tmp, new_path) == 0)
        return 0;
    switch (errno) {
    case EPERM:
    case EXDEV:
    case ENOSYS:
    case EOPNOTSUPP:
    case EMLINK:
        /* No hard links here (some FUSE and network file systems). */
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, new_path, RENAME_NOREPLACE) == 0)
            return 1;
        if (errno == EINVAL || errno == ENOSYS) {
            struct stat st;

            if (lstat(new_path, &st) == 0)
                return store_err_set(err_r, 1, "4.2.0", "rename %s to %s: target exists", tmp,
                                     new_path);
            if (rename(tmp, new_path) == 0)
                return 1;
        }
        return store_err_errno(err_r, errno, "rename %s to %s", tmp, new_path);
    default:
        return store_err_errno(err_r, errno, "link %s to %s", tmp, new_path);
    }
}

/* Deliver msg into the maildir path (or its opts->folder); name_r gets the new file's path. */
int maildir_deliver(const char *path, const struct maildir_opts *opts, const struct store_msg *msg,
                    struct buf *name_r, struct store_err *err_r)
{
    static const struct maildir_opts no_opts;
    struct buf *dir = NULL, *base = NULL, *tmp = NULL, *new_path = NULL;
    struct store_write *w = NULL;
    char host[256];
    const char *why;
    off_t limit = 0, used;
    int fd = -1, linked = 0, tries, ret = -1, saved;
    bool created = false;

    if (opts == NULL)
        opts = &no_opts;
    dir = buf_create(strlen(path) + 64);
    if (opts->folder) {
        if (maildir_folder_create(path, opts->folder, err_r) < 0)
            goto out;
        buf_printf(dir, "%s/.%s", path, opts->folder);
        created = true;
    } else if (opts->size_limit > 0) {
        /* The size is counted first, in directories that must exist. */
        if (maildir_create(path, err_r) < 0)
            goto out;
        buf_set(dir, path);
        created = true;
    } else {
        /* Made below, when tmp/ or new/ turns out to be missing. */
        buf_set(dir, path);
    }
    if (opts->size_limit > 0) {
        if (maildir_size(path, &used, NULL, err_r) < 0)
            goto out;
        if (used >= opts->size_limit) {
            store_err_set(err_r, 0, "5.2.2", "mailbox %s full: %lld bytes, limit %lld", path,
                          (long long)used, (long long)opts->size_limit);
            goto out;
        }
        limit = opts->size_limit - used;
    }
    if (opts->hostname) {
        snprintf(host, sizeof(host), "%s", opts->hostname);
    } else if (gethostname(host, sizeof(host)) < 0 || host[0] == 0) {
        snprintf(host, sizeof(host), "localhost");
    }
    host[sizeof(host) - 1] = 0;

    /* tmp/<unique>, created exclusively: a clash means try another name. */
    base = buf_create(128);
    tmp = buf_create(buf_len(dir) + 160);
    for (tries = 0;; tries++) {
        buf_reset(base);
        maildir_unique_name(base, host);
        buf_set(tmp, buf_str(dir));
        buf_printf(tmp, "/tmp/%s", buf_str(base));
        if ((fd = safe_create(buf_str(tmp), O_WRONLY, 0600, &why)) >= 0)
            break;
        if (errno == ENOENT && !created) {
            /* A new maildir (or one that lost a directory): make it, then try again. */
            if (maildir_create(path, err_r) < 0)
                goto out;
            created = true;
            tries--;
            continue;
        }
        if (errno != EEXIST || tries + 1 >= MAILDIR_NAME_TRIES) {
            store_err_why(err_r, errno, why);
            buf_reset(tmp); /* nothing was created: nothing to remove */
            goto out;
        }
    }
    w = store_write_create(fd, NULL,
                           (msg->flags & STORE_MSG_CRLF_TO_LF) ? STORE_WRITE_CRLF_TO_LF : 0, limit);
    if (maildir_copy(msg, w, err_r) < 0) {
        if (limit > 0 && store_write_errno(w) == 0 && strcmp(err_r->dsn, "5.2.2") == 0)
            store_err_set(err_r, 0, "5.2.2", "mailbox %s full: message does not fit in limit %lld",
                          path, (long long)opts->size_limit);
        goto out;
    }
    if (fsync(fd) < 0) {
        store_err_errno(err_r, errno, "fsync %s", buf_str(tmp));
        goto out;
    }
    saved = close(fd);
    fd = -1;
    if (saved < 0) {
        store_err_errno(err_r, errno, "close %s", buf_str(tmp));
        goto out;
    }

    /* new/<unique>,S=<size>,W=<size with CR LF> */
    new_path = buf_create(buf_len(tmp) + 48);
    buf_set(new_path, buf_str(dir));
    buf_printf(new_path, "/new/%s,S=%lld,W=%lld", buf_str(base), (long long)store_write_size(w),
               (long long)(store_write_size(w) + store_write_lf_count(w)));
    linked = maildir_link(buf_str(tmp), buf_str(new_path), err_r);
    if (linked < 0 && !created) {
        struct stat st;
        struct buf *new_dir = buf_create(buf_len(dir) + 8);

        /* tmp/ was there but new/ may not be: make what is missing, link again. */
        buf_set(new_dir, buf_str(dir));
        buf_puts(new_dir, "/new");
        if (stat(buf_str(new_dir), &st) < 0 && errno == ENOENT) {
            if (maildir_create(path, err_r) == 0)
                linked = maildir_link(buf_str(tmp), buf_str(new_path), err_r);
            created = true;
        }
        buf_free(&new_dir);
    }
    if (linked < 0) {
        linked = 0;
        goto out;
    }
    linked = 1;
    if (unlink(buf_str(tmp)) < 0 && errno != ENOENT)
        msg_warn("remove %s: %m", buf_str(tmp));
    buf_truncate(tmp, 0);
    buf_set(tmp, buf_str(dir));
    buf_puts(tmp, "/new");
    if (store_fsync_dir(buf_str(tmp), err_r) < 0) {
        buf_reset(tmp);
        goto out;
    }
    buf_reset(tmp);
    if (name_r)
        buf_set(name_r, buf_str(new_path));
    ret = 0;

out:
    if (fd >= 0)
        close(fd);
    if (ret < 0) {
        /* One failure path: nothing of this delivery stays behind. */
        if (tmp && buf_len(tmp) > 0 && unlink(buf_str(tmp)) < 0 && errno != ENOENT)
            msg_warn("remove %s: %m", buf_str(tmp));
        if (linked && unlink(buf_str(new_path)) < 0 && errno != ENOENT)
            msg_warn("remove %s: %m", buf_str(new_path));
    }
    store_write_free(&w);
    buf_free(&dir);
    buf_free(&base);
    buf_free(&tmp);
    buf_free(&new_path);
    return ret;
}
