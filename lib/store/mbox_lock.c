/*
 * mbox_lock - dot-lock files and fcntl locks for mbox files, with bounded
 * waits and stale dot-lock removal.
 *
 * Waiting is done by polling (a non-blocking attempt, then a short sleep
 * that grows from 2 ms to 100 ms, with jitter so that waiting processes do
 * not move in step) until the deadline, as Postfix does with
 * deliver_lock_attempts/deliver_lock_delay. This is equivalent to F_SETLKW
 * with a timeout but needs no SIGALRM handler, which a library must not
 * take from its caller.
 *
 * Security: the dot-lock is created with O_CREAT|O_EXCL (which never
 * follows a symbolic link) and mode 0600. It is removed on release only if
 * it is still the file this process created (same device and inode, and
 * still holding our pid: an inode number can be reused at once), so a lock
 * that another program took over after calling ours stale is left alone.
 * The stale check and its unlink() are not atomic; neither are Postfix's
 * or procmail's, and the window is one system call.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/store/mbox_lock.h"
#include "lib/util/clock.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/safe_file.h"

struct mbox_dotlock {
    char *path;   /* "<mbox>.lock" */
    char pid[32]; /* what we wrote into it */
    dev_t dev;    /* identity of the file we created */
    ino_t ino;
};

/* Sleep before the next attempt; 0 if there is time left before deadline, -1 if not. */
static int mbox_lock_backoff(int attempt, long long deadline, unsigned *seed)
{
    long long left = deadline - clock_now_ms();
    long delay_us = 2000L << (attempt < 6 ? attempt : 6);
    struct timespec ts;

    if (left <= 0)
        return -1;
    if (delay_us > 100000)
        delay_us = 100000;
    delay_us = delay_us / 2 + rand_r(seed) % (delay_us / 2 + 1);
    if (delay_us / 1000 > left)
        delay_us = (long)left * 1000;
    ts.tv_sec = delay_us / 1000000;
    ts.tv_nsec = (delay_us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return 0;
}

/* Create <mbox_path>.lock, waiting at most timeout_ms; remove stale locks. */
int mbox_dotlock_acquire(const char *mbox_path, int timeout_ms, int stale_time,
                         struct mbox_dotlock **lock_r, struct store_err *err_r)
{
    struct mbox_dotlock *lock;
    long long deadline = clock_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    struct stat st;
    const char *why;
    size_t path_len = strlen(mbox_path);
    int fd, attempt, len;

    lock = mem_alloc(sizeof(*lock));
    lock->path = mem_alloc(path_len + sizeof(".lock"));
    memcpy(lock->path, mbox_path, path_len);
    memcpy(lock->path + path_len, ".lock", sizeof(".lock"));
    for (attempt = 0;; attempt++) {
        if ((fd = safe_create(lock->path, O_WRONLY, 0600, &why)) >= 0)
            break;
        if (errno != EEXIST) {
            store_err_why(err_r, errno, why);
            goto fail;
        }
        if (lstat(lock->path, &st) == 0 && stale_time > 0 &&
            time(NULL) - st.st_mtime > (time_t)stale_time) {
            /* Left over by a program that died with the lock: take it away. */
            if (unlink(lock->path) == 0) {
                msg_warn("removed stale lock file %s (%lld seconds old)", lock->path,
                         (long long)(time(NULL) - st.st_mtime));
                continue;
            }
            if (errno != ENOENT) {
                store_err_errno(err_r, errno, "remove stale lock file %s", lock->path);
                goto fail;
            }
            continue;
        }
        if (mbox_lock_backoff(attempt, deadline, &seed) < 0) {
            store_err_set(err_r, 1, "4.2.0", "cannot lock %s: %s exists (timeout after %d ms)",
                          mbox_path, lock->path, timeout_ms);
            goto fail;
        }
    }
    /* The pid, as liblockfile and procmail write it, helps the administrator. */
    len = snprintf(lock->pid, sizeof(lock->pid), "%ld\n", (long)getpid());
    if (safe_write_all(fd, lock->pid, (size_t)len) < 0 || fstat(fd, &st) < 0) {
        store_err_errno(err_r, errno, "write lock file %s", lock->path);
        close(fd);
        unlink(lock->path);
        goto fail;
    }
    close(fd);
    lock->dev = st.st_dev;
    lock->ino = st.st_ino;
    *lock_r = lock;
    return 0;

fail:
    mem_free(lock->path);
    mem_free(lock);
    return -1;
}

/* True if the lock file is still the one we created: same file, our pid inside. */
static bool mbox_dotlock_ours(const struct mbox_dotlock *lock, const struct stat *st)
{
    char data[sizeof(lock->pid)];
    ssize_t n;
    int fd;

    if (st->st_dev != lock->dev || st->st_ino != lock->ino)
        return false;
    if ((fd = open(lock->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
        return false;
    n = read(fd, data, sizeof(data));
    close(fd);
    return n == (ssize_t)strlen(lock->pid) && memcmp(data, lock->pid, (size_t)n) == 0;
}

/* Remove the dot-lock if it is still ours, and clear the pointer. */
void mbox_dotlock_release(struct mbox_dotlock **lockp)
{
    struct mbox_dotlock *lock = *lockp;
    struct stat st;

    if (lock == NULL)
        return;
    if (lstat(lock->path, &st) < 0) {
        msg_warn("lock file %s vanished while locked: %m", lock->path);
    } else if (!mbox_dotlock_ours(lock, &st)) {
        msg_warn("lock file %s was replaced while locked; left alone", lock->path);
    } else if (unlink(lock->path) < 0) {
        msg_warn("remove lock file %s: %m", lock->path);
    }
    mem_free(lock->path);
    MEM_FREE(lockp);
}

/* Take an fcntl write lock on all of fd, waiting at most timeout_ms. */
int mbox_fcntl_lock(int fd, const char *path, int timeout_ms, struct store_err *err_r)
{
    long long deadline = clock_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL) ^ 0x5a5a;
    struct flock fl;
    int attempt;

    for (attempt = 0;; attempt++) {
        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = 0;
        fl.l_len = 0; /* the whole file, however it grows */
        if (fcntl(fd, F_SETLK, &fl) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EACCES && errno != EAGAIN)
            return store_err_errno(err_r, errno, "lock %s", path);
        if (mbox_lock_backoff(attempt, deadline, &seed) < 0)
            return store_err_set(err_r, 1, "4.2.0",
                                 "cannot lock %s: locked by another process (timeout after %d ms)",
                                 path, timeout_ms);
    }
}

/* Release the fcntl lock on fd. */
void mbox_fcntl_unlock(int fd)
{
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) < 0)
        msg_warn("unlock mailbox fd %d: %m", fd);
}
