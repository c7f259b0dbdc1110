/*
 * test_store_mbox - mbox delivery in a temporary directory: From lines,
 * mboxrd quoting and separators byte for byte, reading back, refusal of
 * unsafe files, size limits, truncation after a failed write, dot-lock and
 * fcntl lock behaviour, and 20 processes appending at once.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/store/mbox.h"
#include "lib/store/mbox_lock.h"
#include "lib/util/buf.h"
#include "lib/util/clock.h"
#include "lib/util/msg.h"
#include "tests/unit/test.h"

#define T0 ((time_t)1700000000) /* Tue Nov 14 22:13:20 2023 UTC */

static char test_dir[] = "/tmp/test_store_mbox.XXXXXX";

/* Remove the flat test directory. */
static void rm_dir(const char *path)
{
    struct dirent *de;
    char sub[2048];
    DIR *dir;

    if ((dir = opendir(path)) != NULL) {
        while ((de = readdir(dir)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
            unlink(sub);
        }
        closedir(dir);
    }
    rmdir(path);
}

/* A path under the test directory. */
static const char *tpath(const char *name)
{
    static char path[4][1024];
    static int which;

    which = (which + 1) % 4;
    snprintf(path[which], sizeof(path[which]), "%s/%s", test_dir, name);
    return path[which];
}

/* Read a whole file into b; -1 on error. */
static int read_file(const char *path, struct buf *b)
{
    char data[65536];
    ssize_t n;
    int fd;

    buf_reset(b);
    if ((fd = open(path, O_RDONLY)) < 0)
        return -1;
    while ((n = read(fd, data, sizeof(data))) > 0)
        buf_append(b, data, (size_t)n);
    close(fd);
    return n < 0 ? -1 : 0;
}

/* Write a whole file. */
static void write_file(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    CHECK(fd >= 0);
    CHECK(write(fd, text, len) == (ssize_t)len);
    close(fd);
}

/* Options for tests: both locks, short waits, our own uid. */
static void test_opts(struct mbox_opts *o)
{
    mbox_opts_init(o);
    o->lock_timeout_ms = 5000;
}

/* Deliver text from memory with optional prepended lines. */
static int deliver(const char *path, const struct mbox_opts *o, const char *sender,
                   const char *prepend, const char *text, struct store_err *err)
{
    struct store_msg msg;

    store_msg_from_mem(&msg, text, strlen(text));
    msg.prepend = prepend;
    return mbox_deliver(path, o, sender, T0, &msg, err);
}

/* The From line: sender, MAILER-DAEMON for <>, unsafe bytes, asctime date in UTC. */
static void test_from_line(void)
{
    struct buf *b = buf_create(64);

    mbox_from_line(b, "alice@example.org", T0);
    CHECK_STREQ(buf_str(b), "From alice@example.org Tue Nov 14 22:13:20 2023\n");
    buf_reset(b);
    mbox_from_line(b, "", 0);
    CHECK_STREQ(buf_str(b), "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n");
    buf_reset(b);
    mbox_from_line(b, NULL, 86400 * 3 + 3661);
    CHECK_STREQ(buf_str(b), "From MAILER-DAEMON Sun Jan  4 01:01:01 1970\n");
    buf_reset(b);
    mbox_from_line(b, "\"a b\"@c\td\n\x7f", T0);
    CHECK_STREQ(buf_str(b), "From \"a_b\"@c_d__ Tue Nov 14 22:13:20 2023\n");
    buf_free(&b);
}

/* Two deliveries, checked byte for byte, then read back exactly. */
static void test_deliver_exact(void)
{
    const char *mb = tpath("exact");
    const char *m1 = "Subject: one\n\nFrom the start\n>From quoted\n>>From twice\nFromage\n"
                     "last line without newline";
    const char *m2 = "Subject: two\n\nends with an empty line\n\n";
    const char *expect = "From alice@example.org Tue Nov 14 22:13:20 2023\n"
                         "Return-Path: <alice@example.org>\n"
                         "Delivered-To: bob@example.org\n"
                         "Subject: one\n\n>From the start\n>>From quoted\n>>>From twice\nFromage\n"
                         "last line without newline\n"
                         "\n"
                         "From MAILER-DAEMON Tue Nov 14 22:13:20 2023\n"
                         "Subject: two\n\nends with an empty line\n\n"
                         "\n";
    struct buf *b = buf_create(256), *msg = buf_create(256);
    struct mbox_scan *scan = NULL;
    struct mbox_opts o;
    struct store_err err;
    struct stat st;
    int fd;

    test_opts(&o);
    CHECK_INTEQ(deliver(mb, &o, "alice@example.org",
                        "Return-Path: <alice@example.org>\nDelivered-To: bob@example.org\n", m1,
                        &err),
                0);
    CHECK_INTEQ(deliver(mb, &o, "", NULL, m2, &err), 0);
    CHECK_INTEQ(read_file(mb, b), 0);
    CHECK_INTEQ(buf_len(b), strlen(expect));
    CHECK_STREQ(buf_str(b), expect);
    CHECK(stat(mb, &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_uid == geteuid());
    CHECK(access(tpath("exact.lock"), F_OK) < 0);

    fd = open(mb, O_RDONLY);
    CHECK_INTEQ(mbox_scan_fd(fd, &scan, &err), 0);
    CHECK_INTEQ(mbox_scan_count(scan), 2);
    if (mbox_scan_count(scan) == 2) {
        CHECK_INTEQ(mbox_read_message(fd, mbox_scan_get(scan, 0), 1 << 20, msg, &err), 0);
        buf_set(b, "Return-Path: <alice@example.org>\nDelivered-To: bob@example.org\n");
        buf_puts(b, m1);
        buf_puts(b, "\n"); /* the only change: a final newline */
        CHECK_STREQ(buf_str(msg), buf_str(b));
        CHECK_INTEQ(mbox_read_message(fd, mbox_scan_get(scan, 1), 1 << 20, msg, &err), 0);
        CHECK_STREQ(buf_str(msg), m2);
        CHECK_INTEQ(mbox_read_message(fd, mbox_scan_get(scan, 1), 10, msg, &err), -1);
        CHECK_STREQ(err.dsn, "5.3.0");
        CHECK_INTEQ(mbox_scan_get(scan, 1)->from_offset,
                    strstr(expect, "From MAILER-DAEMON") - expect);
    }
    mbox_scan_free(&scan);
    close(fd);
    buf_free(&b);
    buf_free(&msg);
}

/* One open and lock, several appends; CR LF source from a file range; empty message. */
static void test_open_append_close(void)
{
    const char *mb = tpath("multi");
    const char *q = tpath("multi.queue");
    struct buf *b = buf_create(256);
    struct mbox *mbox = NULL;
    struct mbox_opts o;
    struct store_err err;
    struct store_msg msg;
    int fd;

    test_opts(&o);
    write_file(q, "JUNKA: b\r\n\r\nFrom x\r\nbody\r\nJUNK", 31);
    fd = open(q, O_RDONLY);
    CHECK_INTEQ(mbox_open(mb, &o, &mbox, &err), 0);
    CHECK(access(tpath("multi.lock"), F_OK) == 0);
    store_msg_from_fd(&msg, fd, 4, 22);
    msg.flags = STORE_MSG_CRLF_TO_LF;
    CHECK_INTEQ(mbox_append(mbox, "s@h", T0, &msg, &err), 0);
    store_msg_from_mem(&msg, "", 0);
    CHECK_INTEQ(mbox_append(mbox, "s@h", T0, &msg, &err), 0);
    mbox_close(&mbox);
    CHECK(mbox == NULL);
    CHECK(access(tpath("multi.lock"), F_OK) < 0);
    close(fd);
    CHECK_INTEQ(read_file(mb, b), 0);
    CHECK_STREQ(buf_str(b), "From s@h Tue Nov 14 22:13:20 2023\nA: b\n\n>From x\nbody\n\n"
                            "From s@h Tue Nov 14 22:13:20 2023\n\n");
    buf_free(&b);
}

/* An mbox left without a final newline or empty line gets them before the next From. */
static void test_repair_separator(void)
{
    static const struct {
        const char *before, *after;
    } cases[] = {
        {"From a Tue Nov 14 22:13:20 2023\nabc", "From a Tue Nov 14 22:13:20 2023\nabc\n\n"},
        {"From a Tue Nov 14 22:13:20 2023\nabc\n", "From a Tue Nov 14 22:13:20 2023\nabc\n\n"},
        {"From a Tue Nov 14 22:13:20 2023\nabc\n\n", "From a Tue Nov 14 22:13:20 2023\nabc\n\n"},
    };
    const char *mb = tpath("repair");
    struct buf *b = buf_create(256), *expect = buf_create(256);
    struct mbox_scan *scan = NULL;
    struct mbox_opts o;
    struct store_err err;
    size_t i;
    int fd;

    test_opts(&o);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_file(mb, cases[i].before, strlen(cases[i].before));
        CHECK_INTEQ(deliver(mb, &o, "x@y", NULL, "new\n", &err), 0);
        CHECK_INTEQ(read_file(mb, b), 0);
        buf_set(expect, cases[i].after);
        buf_puts(expect, "From x@y Tue Nov 14 22:13:20 2023\nnew\n\n");
        CHECK_STREQ(buf_str(b), buf_str(expect));
        fd = open(mb, O_RDONLY);
        CHECK_INTEQ(mbox_scan_fd(fd, &scan, &err), 0);
        CHECK_INTEQ(mbox_scan_count(scan), 2);
        mbox_scan_free(&scan);
        close(fd);
    }
    unlink(mb);
    buf_free(&b);
    buf_free(&expect);
}

/* Symbolic links, hard links, FIFOs and foreign owners are refused (5.2.0). */
static void test_refuse_unsafe(void)
{
    const char *target = tpath("target");
    const char *link_mb = tpath("symlinked");
    const char *hard = tpath("hardlinked");
    const char *fifo = tpath("fifo");
    struct buf *b = buf_create(64);
    struct mbox_opts o;
    struct store_err err;

    test_opts(&o);
    write_file(target, "", 0);
    CHECK(symlink(target, link_mb) == 0);
    CHECK_INTEQ(deliver(link_mb, &o, "a@b", NULL, "x\n", &err), -1);
    CHECK_INTEQ(err.temporary, 0);
    CHECK_STREQ(err.dsn, "5.2.0");
    CHECK(strstr(err.why, "symbolic link") != NULL);
    CHECK(read_file(target, b) == 0 && buf_len(b) == 0);
    CHECK(access(tpath("symlinked.lock"), F_OK) < 0);
    /* A dangling symbolic link is not followed to create a file either. */
    unlink(target);
    CHECK_INTEQ(deliver(link_mb, &o, "a@b", NULL, "x\n", &err), -1);
    CHECK_STREQ(err.dsn, "5.2.0");
    CHECK(access(target, F_OK) < 0);

    write_file(target, "", 0);
    CHECK(link(target, hard) == 0);
    CHECK_INTEQ(deliver(hard, &o, "a@b", NULL, "x\n", &err), -1);
    CHECK_STREQ(err.dsn, "5.2.0");
    CHECK(strstr(err.why, "hard links") != NULL);
    unlink(hard);

    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK_INTEQ(deliver(fifo, &o, "a@b", NULL, "x\n", &err), -1);
    CHECK_STREQ(err.dsn, "5.2.0");
    CHECK(strstr(err.why, "not a regular file") != NULL);

    o.uid = geteuid() + 1;
    CHECK_INTEQ(deliver(target, &o, "a@b", NULL, "x\n", &err), -1);
    CHECK_STREQ(err.dsn, "5.2.0");
    CHECK(strstr(err.why, "owned by uid") != NULL);
    CHECK(read_file(target, b) == 0 && buf_len(b) == 0);

    if (geteuid() == 0) {
        /* As root, a new mbox is given to the recipient. */
        struct stat st;

        o.uid = 4321;
        o.gid = 4322;
        CHECK_INTEQ(deliver(tpath("for-4321"), &o, "a@b", NULL, "x\n", &err), 0);
        CHECK(stat(tpath("for-4321"), &st) == 0 && st.st_uid == 4321 && st.st_gid == 4322 &&
              (st.st_mode & 07777) == 0600);
    }
    buf_free(&b);
}

/* mailbox_size_limit: refused with 5.2.2, the mbox unchanged. */
static void test_size_limit(void)
{
    const char *mb = tpath("limited");
    struct buf *before = buf_create(256), *after = buf_create(256);
    struct mbox_opts o;
    struct store_err err;
    char big[300];

    test_opts(&o);
    CHECK_INTEQ(deliver(mb, &o, "a@b", NULL, "first\n", &err), 0);
    CHECK_INTEQ(read_file(mb, before), 0);
    o.size_limit = (off_t)buf_len(before) + 200;
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    CHECK_INTEQ(deliver(mb, &o, "a@b", NULL, big, &err), -1);
    CHECK_STREQ(err.dsn, "5.2.2");
    CHECK_INTEQ(err.temporary, 0);
    CHECK(strstr(err.why, "full") != NULL);
    CHECK_INTEQ(read_file(mb, after), 0);
    CHECK_STREQ(buf_str(after), buf_str(before));
    /* A small one still fits. */
    CHECK_INTEQ(deliver(mb, &o, "a@b", NULL, "small\n", &err), 0);
    /* At or over the limit already: refused up front. */
    o.size_limit = 10;
    CHECK_INTEQ(deliver(mb, &o, "a@b", NULL, "x\n", &err), -1);
    CHECK_STREQ(err.dsn, "5.2.2");
    buf_free(&before);
    buf_free(&after);
}

struct failing {
    size_t pos, fail_at, total;
};

/* Read callback producing 'y' lines and failing at fail_at. */
static ssize_t failing_read(void *context, char *data, size_t len, const char **why_r)
{
    struct failing *f = context;
    size_t i;

    if (f->pos >= f->fail_at) {
        *why_r = "injected read failure";
        return -1;
    }
    if (len > f->total - f->pos)
        len = f->total - f->pos;
    for (i = 0; i < len; i++)
        data[i] = (f->pos + i) % 50 == 49 ? '\n' : 'y';
    f->pos += len;
    return (ssize_t)len;
}

/* A write failing with EFBIG (RLIMIT_FSIZE) or a source read error: file truncated back. */
static void test_failed_write_truncates(void)
{
    const char *mb = tpath("efbig");
    struct buf *before = buf_create(256), *after = buf_create(256);
    struct failing f = {.fail_at = 150000, .total = 200000};
    struct mbox_opts o;
    struct store_err err;
    struct store_msg msg;
    struct stat st;
    pid_t pid;
    int status = -1;

    test_opts(&o);
    CHECK_INTEQ(deliver(mb, &o, "a@b", NULL, "first\n", &err), 0);
    CHECK_INTEQ(read_file(mb, before), 0);
    if ((pid = fork()) == 0) {
        struct rlimit rl = {.rlim_cur = (rlim_t)buf_len(before) + 1000, .rlim_max = RLIM_INFINITY};
        struct failing all = {.fail_at = (size_t)-1, .total = 200000};

        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        store_msg_from_callback(&msg, failing_read, &all);
        if (mbox_deliver(mb, &o, "a@b", T0, &msg, &err) != -1)
            _exit(1);
        if (strcmp(err.dsn, "5.2.2") != 0 || err.temporary != 0 ||
            strstr(err.why, "File too large") == NULL)
            _exit(2);
        _exit(0);
    }
    CHECK(pid > 0);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INTEQ(read_file(mb, after), 0);
    CHECK_INTEQ(buf_len(after), buf_len(before));
    CHECK_STREQ(buf_str(after), buf_str(before));
    CHECK(access(tpath("efbig.lock"), F_OK) < 0);

    /* The source fails after more than one buffer was written. */
    store_msg_from_callback(&msg, failing_read, &f);
    CHECK_INTEQ(mbox_deliver(mb, &o, "a@b", T0, &msg, &err), -1);
    CHECK_INTEQ(err.temporary, 1);
    CHECK_STREQ(err.dsn, "4.3.0");
    CHECK(strstr(err.why, "injected") != NULL);
    CHECK(stat(mb, &st) == 0 && st.st_size == (off_t)buf_len(before));
    CHECK_INTEQ(read_file(mb, after), 0);
    CHECK_STREQ(buf_str(after), buf_str(before));
    buf_free(&before);
    buf_free(&after);
}

/* A dot-lock older than stale_lock_time is removed; a fresh one makes us wait and give up. */
static void test_dotlock_stale_and_busy(void)
{
    const char *mb = tpath("locked");
    const char *lock = tpath("locked.lock");
    struct buf *b = buf_create(64);
    struct timeval tv[2];
    struct mbox_opts o;
    struct store_err err;
    long long start, took;
    int saved = msg_get_flags();

    test_opts(&o);
    o.stale_lock_time = 500;
    write_file(lock, "12345\n", 6);
    gettimeofday(&tv[0], NULL);
    tv[0].tv_sec -= 1000;
    tv[1] = tv[0];
    CHECK(utimes(lock, tv) == 0);
    msg_set_flags(0); /* the "removed stale lock" warning is expected */
    CHECK_INTEQ(deliver(mb, &o, "a@b", NULL, "after stale lock\n", &err), 0);
    msg_set_flags(saved);
    CHECK(access(lock, F_OK) < 0);
    CHECK_INTEQ(read_file(mb, b), 0);
    CHECK(strstr(buf_str(b), "after stale lock") != NULL);

    /* A fresh lock: wait lock_timeout_ms, then a temporary failure; the lock stays. */
    write_file(lock, "12345\n", 6);
    o.lock_timeout_ms = 300;
    start = clock_now_ms();
    CHECK_INTEQ(deliver(mb, &o, "a@b", NULL, "blocked\n", &err), -1);
    took = clock_now_ms() - start;
    CHECK(took >= 290 && took < 5000);
    CHECK_INTEQ(err.temporary, 1);
    CHECK_STREQ(err.dsn, "4.2.0");
    CHECK(strstr(err.why, "locked.lock exists") != NULL);
    CHECK(access(lock, F_OK) == 0);
    CHECK_INTEQ(read_file(mb, b), 0);
    CHECK(strstr(buf_str(b), "blocked") == NULL);
    /* Without the dot-lock in the lock set, it is not looked at. */
    o.lock = MBOX_LOCK_FCNTL;
    CHECK_INTEQ(deliver(mb, &o, "a@b", NULL, "fcntl only\n", &err), 0);
    unlink(lock);
    buf_free(&b);
}

/* The dot-lock holds our pid, and a lock replaced meanwhile is not removed on release. */
static void test_dotlock_ownership(void)
{
    const char *mb = tpath("owned");
    const char *lock = tpath("owned.lock");
    struct mbox_dotlock *dl = NULL;
    struct buf *b = buf_create(64);
    struct store_err err;
    char pid[32];
    int saved = msg_get_flags();

    CHECK_INTEQ(mbox_dotlock_acquire(mb, 1000, 500, &dl, &err), 0);
    CHECK_INTEQ(read_file(lock, b), 0);
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    CHECK_STREQ(buf_str(b), pid);
    mbox_dotlock_release(&dl);
    CHECK(dl == NULL);
    CHECK(access(lock, F_OK) < 0);

    CHECK_INTEQ(mbox_dotlock_acquire(mb, 1000, 500, &dl, &err), 0);
    unlink(lock);
    write_file(lock, "other\n", 6);
    msg_set_flags(0);
    mbox_dotlock_release(&dl);
    msg_set_flags(saved);
    CHECK(access(lock, F_OK) == 0);
    unlink(lock);
    /* A lock in a directory that does not exist: a temporary error. */
    CHECK_INTEQ(mbox_dotlock_acquire(tpath("nodir/mbox"), 100, 500, &dl, &err), -1);
    CHECK_INTEQ(err.temporary, 1);
    buf_free(&b);
}

/* Another process holding an fcntl lock makes us wait, then fail or succeed. */
static void test_fcntl_lock_wait(void)
{
    const char *mb = tpath("fcntl");
    struct buf *b = buf_create(64);
    struct mbox_opts o;
    struct store_err err;
    int ready[2];
    char c;
    pid_t pid;
    int status;

    test_opts(&o);
    write_file(mb, "", 0);
    CHECK(pipe(ready) == 0);
    if ((pid = fork()) == 0) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        int fd = open(mb, O_RDWR);

        close(ready[0]);
        if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0)
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        usleep(800000);
        _exit(0);
    }
    close(ready[1]);
    CHECK(read(ready[0], &c, 1) == 1);
    close(ready[0]);
    o.lock_timeout_ms = 100;
    CHECK_INTEQ(deliver(mb, &o, "a@b", NULL, "too early\n", &err), -1);
    CHECK_INTEQ(err.temporary, 1);
    CHECK_STREQ(err.dsn, "4.2.0");
    CHECK(strstr(err.why, "locked by another process") != NULL);
    CHECK(access(tpath("fcntl.lock"), F_OK) < 0);
    o.lock_timeout_ms = 10000;
    CHECK_INTEQ(deliver(mb, &o, "a@b", NULL, "after waiting\n", &err), 0);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INTEQ(read_file(mb, b), 0);
    CHECK_STREQ(buf_str(b), "From a@b Tue Nov 14 22:13:20 2023\nafter waiting\n\n");
    buf_free(&b);
}

/* The text of message i of process p in the concurrency test. */
static void concurrent_text(struct buf *b, int p, int i)
{
    int k;

    buf_reset(b);
    buf_printf(b,
               "X-Proc: %d\nX-Msg: %d\nSubject: concurrency\n\nFrom inside the body\n"
               ">From already quoted\n",
               p, i);
    /* Sizes vary, some over one write buffer, so writes of many sizes compete. */
    for (k = 0; k < (p * 50 + i) % 37; k++)
        buf_printf(b, "line %d of message %d/%d %s\n", k, p, i,
                   (i % 10 == 0) ? "padding padding padding padding padding padding" : "");
    if (i == 25)
        for (k = 0; k < 2000; k++)
            buf_puts(b, "a long message to exceed the 64 KiB write buffer.\n");
    buf_puts(b, "From the end\n");
}

/* 20 processes x 50 appends at once: exactly 1000 intact messages, none interleaved. */
static void test_concurrent_appends(void)
{
    enum { PROCS = 20, EACH = 50 };
    const char *mb = tpath("concurrent");
    struct buf *got = buf_create(4096), *want = buf_create(4096);
    static int seen[PROCS][EACH];
    struct mbox_scan *scan = NULL;
    struct mbox_opts o;
    struct store_err err;
    struct store_msg msg;
    pid_t pids[PROCS];
    size_t n;
    int p, i, status, fd, bad = 0, failed = 0;

    test_opts(&o);
    o.lock_timeout_ms = 120000;
    for (p = 0; p < PROCS; p++) {
        if ((pids[p] = fork()) == 0) {
            for (i = 0; i < EACH; i++) {
                concurrent_text(want, p, i);
                store_msg_from_mem(&msg, buf_str(want), buf_len(want));
                if (mbox_deliver(mb, &o, "sender@example.org", T0 + i, &msg, &err) < 0) {
                    fprintf(stderr, "child %d: %s\n", p, err.why);
                    _exit(1);
                }
            }
            _exit(0);
        }
    }
    for (p = 0; p < PROCS; p++) {
        waitpid(pids[p], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed++;
    }
    CHECK_INTEQ(failed, 0);
    CHECK(access(tpath("concurrent.lock"), F_OK) < 0);
    fd = open(mb, O_RDONLY);
    CHECK(fd >= 0);
    CHECK_INTEQ(mbox_scan_fd(fd, &scan, &err), 0);
    CHECK_INTEQ(mbox_scan_count(scan), PROCS * EACH);
    for (n = 0; scan && n < mbox_scan_count(scan); n++) {
        if (mbox_read_message(fd, mbox_scan_get(scan, n), 1 << 22, got, &err) < 0 ||
            sscanf(buf_str(got), "X-Proc: %d\nX-Msg: %d\n", &p, &i) != 2 || p < 0 || p >= PROCS ||
            i < 0 || i >= EACH) {
            bad++;
            continue;
        }
        concurrent_text(want, p, i);
        if (buf_len(got) != buf_len(want) || memcmp(buf_str(got), buf_str(want), buf_len(got)) ||
            seen[p][i]++)
            bad++;
    }
    CHECK_INTEQ(bad, 0);
    mbox_scan_free(&scan);
    close(fd);
    buf_free(&got);
    buf_free(&want);
}

/* Reading something that is not an mbox is a 5.2.0 failure. */
static void test_scan_not_mbox(void)
{
    const char *path = tpath("notmbox");
    struct mbox_scan *scan = (struct mbox_scan *)1;
    struct store_err err;
    int fd;

    write_file(path, "Subject: hi\n\nbody\n", 18);
    fd = open(path, O_RDONLY);
    CHECK_INTEQ(mbox_scan_fd(fd, &scan, &err), -1);
    CHECK(scan == NULL);
    CHECK_STREQ(err.dsn, "5.2.0");
    CHECK(strstr(err.why, "not an mbox") != NULL);
    close(fd);
}

int main(void)
{
    if (mkdtemp(test_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    TEST_RUN(test_from_line);
    TEST_RUN(test_deliver_exact);
    TEST_RUN(test_open_append_close);
    TEST_RUN(test_repair_separator);
    TEST_RUN(test_refuse_unsafe);
    TEST_RUN(test_size_limit);
    TEST_RUN(test_failed_write_truncates);
    TEST_RUN(test_dotlock_stale_and_busy);
    TEST_RUN(test_dotlock_ownership);
    TEST_RUN(test_fcntl_lock_wait);
    TEST_RUN(test_concurrent_appends);
    TEST_RUN(test_scan_not_mbox);
    rm_dir(test_dir);
    return test_summary();
}
