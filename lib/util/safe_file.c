/*
 * safe_file - careful file creation, opening, durable replacement, mkdir -p.
 *
 * Owns: the temporary file of a struct safe_tmp until commit or abort.
 *
 * Security notes: nothing here follows a symlink in the last path
 * component (O_NOFOLLOW); a parent directory is trusted, so callers keep
 * their files in directories that only they can write. An existing file is
 * opened with O_NONBLOCK first so that a FIFO planted at the path cannot
 * hang the process, then checked with fstat on the open descriptor (no
 * stat-then-open race): it must be a regular file, and optionally have the
 * expected owner and a single link. O_TRUNC is applied only after those
 * checks pass. New files get exactly the requested mode (fchmod after
 * create, so the umask cannot widen or narrow it by surprise).
 *
 * Durability: safe_tmp_commit() fsyncs the file, renames it over the final
 * name and fsyncs the directory, so after a crash either the old or the new
 * contents are there, whole. Every failure before the rename removes the
 * temporary file; a temporary file we did not create is never removed.
 *
 * Failure texts returned through why_r live in a static buffer that the
 * next failing call overwrites.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/clock.h"
#include "lib/util/mem.h"
#include "lib/util/safe_file.h"

#define SAFE_OPEN_RETRIES 10

static char safe_why[1024];

/* Format a failure text into the static buffer; errno is preserved. */
static const char *safe_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *safe_fail(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(safe_why, sizeof(safe_why), fmt, ap);
    va_end(ap);
    errno = saved_errno;
    return safe_why;
}

/* Close fd keeping errno. */
static void safe_close_keep_errno(int fd)
{
    int saved_errno = errno;

    (void)close(fd);
    errno = saved_errno;
}

/*
 * Create a new file (never an existing one, never through a symlink) with
 * exactly mode; flags add O_WRONLY/O_RDWR/O_APPEND. fd or -1.
 */
int safe_create(const char *path, int flags, mode_t mode, const char **why_r)
{
    int fd = open(path, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);

    if (fd < 0) {
        *why_r = safe_fail("create %s: %m", path);
        return -1;
    }
    if (fchmod(fd, mode) < 0) {
        *why_r = safe_fail("chmod %s: %m", path);
        safe_close_keep_errno(fd);
        (void)unlink(path);
        return -1;
    }
    return fd;
}

/* Open an existing file and verify it; fd or -1 (errno ENOENT if missing). */
static int safe_open_existing(const char *path, int flags, int checks, uid_t owner,
                              const char **why_r)
{
    int open_flags = (flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_NOFOLLOW | O_CLOEXEC
                     | O_NOCTTY | O_NONBLOCK;
    struct stat st;
    int fd;

    fd = open(path, open_flags);
    if (fd < 0) {
        if (errno == ELOOP)
            *why_r = safe_fail("open %s: is a symbolic link", path);
        else
            *why_r = safe_fail("open %s: %m", path);
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        *why_r = safe_fail("fstat %s: %m", path);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        *why_r = safe_fail("open %s: not a regular file", path);
        errno = EINVAL;
        goto fail;
    }
    if ((checks & SAFE_CHECK_OWNER) && st.st_uid != owner) {
        *why_r = safe_fail("open %s: owned by uid %lu, not %lu", path, (unsigned long)st.st_uid,
                           (unsigned long)owner);
        errno = EPERM;
        goto fail;
    }
    if ((checks & SAFE_CHECK_NLINK) && st.st_nlink != 1) {
        *why_r = safe_fail("open %s: has %lu hard links", path, (unsigned long)st.st_nlink);
        errno = EPERM;
        goto fail;
    }
    /* Now that it is known to be a plain file, blocking I/O is safe. */
    if (!(flags & O_NONBLOCK)) {
        int fl = fcntl(fd, F_GETFL);

        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
            *why_r = safe_fail("fcntl %s: %m", path);
            goto fail;
        }
    }
    if ((flags & O_TRUNC) && ftruncate(fd, 0) < 0) {
        *why_r = safe_fail("truncate %s: %m", path);
        goto fail;
    }
    return fd;

fail:
    safe_close_keep_errno(fd);
    return -1;
}

/*
 * Open path without following a symlink and check it is a regular file
 * (plus SAFE_CHECK_OWNER against owner, SAFE_CHECK_NLINK). With O_CREAT in
 * flags a missing file is created with mode (race-free against a file or
 * symlink appearing meanwhile); a new file skips the checks. fd or -1.
 */
int safe_open(const char *path, int flags, mode_t mode, int checks, uid_t owner,
              const char **why_r)
{
    if (flags & O_EXCL) {
        *why_r = safe_fail("open %s: O_EXCL with safe_open: use safe_create", path);
        errno = EINVAL;
        return -1;
    }
    for (int i = 0; i < SAFE_OPEN_RETRIES; i++) {
        int fd = safe_open_existing(path, flags, checks, owner, why_r);

        if (fd >= 0 || errno != ENOENT || !(flags & O_CREAT))
            return fd;
        fd = safe_create(path, flags & ~(O_CREAT | O_TRUNC), mode, why_r);
        if (fd >= 0 || errno != EEXIST)
            return fd;
        /* Someone created it between our two attempts: open what is there. */
    }
    *why_r = safe_fail("open %s: file keeps appearing and disappearing", path);
    errno = EAGAIN;
    return -1;
}

/* Write all len bytes at offset (write() at the file offset when it is -1); 0 or -1. */
static int safe_write_at(int fd, const void *data, size_t len, off_t offset)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = offset < 0 ? write(fd, p, len) : pwrite(fd, p, len, offset);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        if (offset >= 0)
            offset += n;
    }
    return 0;
}

/* Write all len bytes, retrying short writes and EINTR; 0 or -1 (errno). */
int safe_write_all(int fd, const void *data, size_t len)
{
    return safe_write_at(fd, data, len, -1);
}

/* The same at offset (pwrite; the file offset does not move); 0 or -1 (errno). */
int safe_pwrite_all(int fd, const void *data, size_t len, off_t offset)
{
    if (offset < 0) {
        errno = EINVAL;
        return -1;
    }
    return safe_write_at(fd, data, len, offset);
}

/* Read until len bytes or EOF, retrying EINTR; bytes read or -1 (errno). */
ssize_t safe_read_all(int fd, void *data, size_t len)
{
    char *p = data;
    size_t got = 0;

    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Read a whole regular file of at most max bytes into b (replacing it); 0 or -1. */
int safe_read_file(const char *path, size_t max, struct buf *b, const char **why_r)
{
    char tmp[8192];
    int fd = safe_open(path, O_RDONLY, 0, 0, 0, why_r);

    if (fd < 0)
        return -1;
    buf_reset(b);
    for (;;) {
        ssize_t n = read(fd, tmp, sizeof(tmp));

        if (n < 0) {
            if (errno == EINTR)
                continue;
            *why_r = safe_fail("read %s: %m", path);
            safe_close_keep_errno(fd);
            return -1;
        }
        if (n == 0)
            break;
        if ((size_t)n > max - buf_len(b)) {
            *why_r = safe_fail("read %s: file is larger than %zu bytes", path, max);
            (void)close(fd);
            errno = EFBIG;
            return -1;
        }
        buf_append(b, tmp, (size_t)n);
    }
    (void)close(fd);
    return 0;
}

/* fsync a directory so that entries created or renamed in it are durable. */
int safe_fsync_dir(const char *path, const char **why_r)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        *why_r = safe_fail("open directory %s: %m", path);
        return -1;
    }
    /* EINVAL: this file system cannot sync directories; nothing more to do. */
    if (fsync(fd) < 0 && errno != EINVAL) {
        *why_r = safe_fail("fsync directory %s: %m", path);
        safe_close_keep_errno(fd);
        return -1;
    }
    (void)close(fd);
    return 0;
}

/* Make one directory if missing, with exactly mode when we create it. */
static int safe_mkdir_one(const char *path, mode_t mode, const char **why_r)
{
    struct stat st;

    if (mkdir(path, mode) == 0) {
        if (chmod(path, mode) < 0) {
            *why_r = safe_fail("chmod %s: %m", path);
            return -1;
        }
        return 0;
    }
    if (errno != EEXIST) {
        *why_r = safe_fail("mkdir %s: %m", path);
        return -1;
    }
    if (stat(path, &st) < 0) {
        *why_r = safe_fail("stat %s: %m", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        *why_r = safe_fail("mkdir %s: exists and is not a directory", path);
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/*
 * Create path and its missing parents; directories this call creates get
 * exactly mode, existing ones are left as they are. 0 or -1.
 */
int safe_mkdir_p(const char *path, mode_t mode, const char **why_r)
{
    char *copy;
    char *p;
    int ret = 0;

    if (*path == '\0') {
        *why_r = "mkdir: empty path";
        errno = ENOENT;
        return -1;
    }
    copy = mem_strdup(path);
    for (p = copy + 1; *p; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = '\0';
        ret = safe_mkdir_one(copy, mode, why_r);
        *p = '/';
        if (ret < 0)
            break;
    }
    if (ret == 0)
        ret = safe_mkdir_one(copy, mode, why_r);
    {
        int saved_errno = errno;

        mem_free(copy);
        errno = saved_errno;
    }
    return ret;
}

/* The directory part of path ("." if none), newly allocated. */
static char *safe_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return mem_strdup(".");
    while (slash > path && slash[-1] == '/')
        slash--;
    if (slash == path)
        return mem_strdup("/");
    return mem_strndup(path, (size_t)(slash - path));
}

/* Forget a safe_tmp's memory (not its files). */
static void safe_tmp_clear(struct safe_tmp *t)
{
    MEM_FREE(&t->path);
    MEM_FREE(&t->tmp_path);
    t->fd = -1;
}

/*
 * Start writing path under a temporary name: tmp_path if given (it must be
 * in the same directory), else ".<name>.<pid>.<n>.tmp" next to path. The
 * file is created O_EXCL with mode; write to t->fd. 0 or -1.
 */
int safe_tmp_create(struct safe_tmp *t, const char *path, const char *tmp_path, mode_t mode,
                    const char **why_r)
{
    static unsigned long counter;

    t->fd = -1;
    t->path = NULL;
    t->tmp_path = NULL;
    if (tmp_path != NULL) {
        t->fd = safe_create(tmp_path, O_WRONLY, mode, why_r);
        if (t->fd < 0)
            return -1;
        t->tmp_path = mem_strdup(tmp_path);
    } else {
        const char *slash = strrchr(path, '/');
        size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
        struct buf *name = buf_create(strlen(path) + 64);

        for (int i = 0; i < SAFE_OPEN_RETRIES && t->fd < 0; i++) {
            buf_reset(name);
            buf_append(name, path, dirlen);
            buf_printf(name, ".%s.%ld.%lu.%lld.tmp", path + dirlen, (long)getpid(), ++counter,
                       clock_now_ms() % 1000000);
            t->fd = safe_create(buf_str(name), O_WRONLY, mode, why_r);
            if (t->fd < 0 && errno != EEXIST)
                break;
        }
        if (t->fd < 0) {
            int saved_errno = errno;

            buf_free(&name);
            errno = saved_errno;
            return -1;
        }
        t->tmp_path = buf_export(&name);
    }
    t->path = mem_strdup(path);
    return 0;
}

/*
 * Finish: fsync, close, rename over the final name, fsync the directory.
 * Any failure before the rename removes the temporary file. A failure of
 * the last directory fsync returns -1 with the new file in place but not
 * known to be durable. The safe_tmp is released either way.
 */
int safe_tmp_commit(struct safe_tmp *t, const char **why_r)
{
    char *dir;
    int fd = t->fd;
    int ret;

    if (fd < 0 || t->tmp_path == NULL) {
        *why_r = "safe_tmp_commit: no file";
        errno = EINVAL;
        return -1;
    }
    t->fd = -1;
    if (fsync(fd) < 0) {
        *why_r = safe_fail("fsync %s: %m", t->tmp_path);
        safe_close_keep_errno(fd);
        goto fail;
    }
    /* close() can report a write error (NFS, quota) that nothing else did. */
    if (close(fd) < 0) {
        *why_r = safe_fail("close %s: %m", t->tmp_path);
        goto fail;
    }
    if (rename(t->tmp_path, t->path) < 0) {
        *why_r = safe_fail("rename %s to %s: %m", t->tmp_path, t->path);
        goto fail;
    }
    dir = safe_dirname(t->path);
    ret = safe_fsync_dir(dir, why_r);
    {
        int saved_errno = errno;

        mem_free(dir);
        safe_tmp_clear(t);
        errno = saved_errno;
    }
    return ret;

fail:
    safe_tmp_abort(t);
    return -1;
}

/* Give up: close and remove the temporary file; errno is preserved. */
void safe_tmp_abort(struct safe_tmp *t)
{
    int saved_errno = errno;

    if (t->fd >= 0)
        (void)close(t->fd);
    if (t->tmp_path != NULL)
        (void)unlink(t->tmp_path);
    safe_tmp_clear(t);
    errno = saved_errno;
}

/* Durably replace path with len bytes of data and mode; 0 or -1. */
int safe_replace(const char *path, const void *data, size_t len, mode_t mode,
                 const char **why_r)
{
    struct safe_tmp t;

    if (safe_tmp_create(&t, path, NULL, mode, why_r) < 0)
        return -1;
    if (safe_write_all(t.fd, data, len) < 0) {
        *why_r = safe_fail("write %s: %m", t.tmp_path);
        safe_tmp_abort(&t);
        return -1;
    }
    return safe_tmp_commit(&t, why_r);
}
