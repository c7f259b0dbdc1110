/*
 * test_store_maildir - Maildir delivery in a temporary directory: exact
 * bytes, names, sources, unique names across rapid and forked deliveries,
 * clean tmp/ after success and failure, Maildir++ folders and the size limit.
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
#include <sys/wait.h>
#include <unistd.h>

#include "lib/store/maildir.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "tests/unit/test.h"

static char test_dir[] = "/tmp/test_store_maildir.XXXXXX";

/* Remove a directory tree (test cleanup). */
static void rm_tree(const char *path)
{
    struct dirent *de;
    struct stat st;
    char sub[4096];
    DIR *dir;

    if (lstat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    if ((dir = opendir(path)) != NULL) {
        while ((de = readdir(dir)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
            rm_tree(sub);
        }
        closedir(dir);
    }
    rmdir(path);
}

/* A fresh path under the test directory. */
static const char *tpath(const char *name)
{
    static char path[4][1024];
    static int which;

    which = (which + 1) % 4;
    snprintf(path[which], sizeof(path[which]), "%s/%s", test_dir, name);
    return path[which];
}

/* Entries of a directory (without . and ..) into a sorted argv; -1 if missing. */
static struct argv *list_dir(const char *path)
{
    struct argv *a = argv_create(8);
    struct dirent *de;
    DIR *dir;

    if ((dir = opendir(path)) == NULL)
        return a;
    while ((de = readdir(dir)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            argv_add(a, de->d_name);
    closedir(dir);
    for (size_t i = 1; i < a->argc; i++)
        for (size_t j = i; j > 0 && strcmp(a->argv[j - 1], a->argv[j]) > 0; j--) {
            char *t = a->argv[j];
            a->argv[j] = a->argv[j - 1];
            a->argv[j - 1] = t;
        }
    return a;
}

/* Number of entries in a directory. */
static size_t count_dir(const char *path)
{
    struct argv *a = list_dir(path);
    size_t n = a->argc;

    argv_free(&a);
    return n;
}

/* Read a whole file into b (replacing it); -1 on error. */
static int read_file(const char *path, struct buf *b)
{
    char data[4096];
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

/* The only file in dir, read into b; its name into name (may be NULL). */
static int only_file(const char *dir, struct buf *b, struct buf *name)
{
    struct argv *a = list_dir(dir);
    char path[2048];
    int ret = -1;

    if (a->argc == 1) {
        snprintf(path, sizeof(path), "%s/%s", dir, a->argv[0]);
        ret = read_file(path, b);
        if (name)
            buf_set(name, a->argv[0]);
    }
    argv_free(&a);
    return ret;
}

/* True if name looks like <sec>.M<usec>P<pid>Q<n>.<host>,S=<s>,W=<w>. */
static int name_ok(const char *name, long pid, const char *host, long long s, long long w)
{
    char expect_tail[512];
    const char *p = name;
    long got_pid;

    if (strspn(p, "0123456789") == 0)
        return 0;
    p += strspn(p, "0123456789");
    if (strncmp(p, ".M", 2) != 0)
        return 0;
    p += 2;
    if (strspn(p, "0123456789") == 0)
        return 0;
    p += strspn(p, "0123456789");
    if (*p++ != 'P')
        return 0;
    got_pid = strtol(p, (char **)&p, 10);
    if (got_pid != pid || *p++ != 'Q' || strspn(p, "0123456789") == 0)
        return 0;
    p += strspn(p, "0123456789");
    snprintf(expect_tail, sizeof(expect_tail), ".%s,S=%lld,W=%lld", host, s, w);
    return strcmp(p, expect_tail) == 0;
}

/* One delivery: exactly one file in new/, exact bytes, exact name, modes, empty tmp/. */
static void test_deliver_exact(void)
{
    const char *md = tpath("exact/Maildir");
    const char *content = "Subject: hi\n\nFrom me\n>From you\nbody\n";
    struct maildir_opts opts = {.hostname = "host/x:y"};
    struct buf *b = buf_create(256), *name = buf_create(64), *expect = buf_create(256);
    struct buf *delivered = buf_create(64);
    struct store_err err;
    struct store_msg msg;
    struct stat st;
    char path[1024];

    store_msg_from_mem(&msg, content, strlen(content));
    msg.prepend = "Return-Path: <a@b.example>\nDelivered-To: c@d.example\n";
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, delivered, &err), 0);
    snprintf(path, sizeof(path), "%s/new", md);
    CHECK_INTEQ(only_file(path, b, name), 0);
    buf_set(expect, msg.prepend);
    buf_puts(expect, content);
    CHECK_INTEQ(buf_len(b), buf_len(expect));
    CHECK_STREQ(buf_str(b), buf_str(expect));
    CHECK(name_ok(buf_str(name), (long)getpid(), "host\\057x\\072y", (long long)buf_len(expect),
                  (long long)buf_len(expect) + 7));
    snprintf(path, sizeof(path), "%s/new/%s", md, buf_str(name));
    CHECK_STREQ(buf_str(delivered), path);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(stat(md, &st) == 0 && (st.st_mode & 0777) == 0700);
    snprintf(path, sizeof(path), "%s/tmp", md);
    CHECK_INTEQ(count_dir(path), 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700);
    snprintf(path, sizeof(path), "%s/cur", md);
    CHECK_INTEQ(count_dir(path), 0);

    /* A second delivery adds exactly one more file. */
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
    snprintf(path, sizeof(path), "%s/new", md);
    CHECK_INTEQ(count_dir(path), 2);

    /* A maildir that lost new/ (tmp/ still there) gets it back, and the message. */
    snprintf(path, sizeof(path), "%s/new", md);
    for (DIR *d = opendir(path); d != NULL; d = NULL) {
        struct dirent *de;

        while ((de = readdir(d)) != NULL) {
            char f[1400];

            if (de->d_name[0] == '.')
                continue;
            snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
            unlink(f);
        }
        closedir(d);
    }
    CHECK_INTEQ(rmdir(path), 0);
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
    CHECK_INTEQ(count_dir(path), 1);
    snprintf(path, sizeof(path), "%s/tmp", md);
    CHECK_INTEQ(count_dir(path), 0);
    /* And one that lost tmp/. */
    CHECK_INTEQ(rmdir(path), 0);
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
    snprintf(path, sizeof(path), "%s/new", md);
    CHECK_INTEQ(count_dir(path), 2);
    buf_free(&b);
    buf_free(&name);
    buf_free(&expect);
    buf_free(&delivered);
}

/* CR LF input stored as LF; S= and W= say so. */
static void test_deliver_crlf(void)
{
    const char *md = tpath("crlf");
    struct maildir_opts opts = {.hostname = "h"};
    struct buf *b = buf_create(64), *name = buf_create(64);
    struct store_err err;
    struct store_msg msg;
    char path[1024];

    store_msg_from_mem(&msg, "A: b\r\n\r\nx\r\n", 11);
    msg.flags = STORE_MSG_CRLF_TO_LF;
    msg.prepend = "Delivered-To: u@h\r\n";
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
    snprintf(path, sizeof(path), "%s/new", md);
    CHECK_INTEQ(only_file(path, b, name), 0);
    CHECK_STREQ(buf_str(b), "Delivered-To: u@h\nA: b\n\nx\n");
    CHECK(name_ok(buf_str(name), (long)getpid(), "h", 26, 30));
    buf_free(&b);
    buf_free(&name);
}

/* Content from a file descriptor range, with the fd offset left alone. */
static void test_deliver_fd(void)
{
    const char *md = tpath("fd");
    const char *queue = tpath("queuefile");
    const char *text = "HEADERJUNKSubject: q\n\nqueued body\nTRAILER";
    struct maildir_opts opts = {.hostname = "h"};
    struct buf *b = buf_create(64);
    struct store_err err;
    struct store_msg msg;
    char path[1024];
    int fd;

    fd = open(queue, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    lseek(fd, 3, SEEK_SET);
    store_msg_from_fd(&msg, fd, 10, 24);
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
    snprintf(path, sizeof(path), "%s/new", md);
    CHECK_INTEQ(only_file(path, b, NULL), 0);
    CHECK_STREQ(buf_str(b), "Subject: q\n\nqueued body\n");
    CHECK_INTEQ(lseek(fd, 0, SEEK_CUR), 3);

    /* To the end of the file. */
    rm_tree(md);
    store_msg_from_fd(&msg, fd, 34, -1);
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
    CHECK_INTEQ(only_file(path, b, NULL), 0);
    CHECK_STREQ(buf_str(b), "TRAILER");

    /* A range past the end: a short queue file is an error, nothing delivered. */
    rm_tree(md);
    store_msg_from_fd(&msg, fd, 10, 1000);
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), -1);
    CHECK_INTEQ(err.temporary, 1);
    CHECK_STREQ(err.dsn, "4.3.0");
    CHECK(strstr(err.why, "unexpected end of file") != NULL);
    CHECK_INTEQ(count_dir(path), 0);
    snprintf(path, sizeof(path), "%s/tmp", md);
    CHECK_INTEQ(count_dir(path), 0);
    close(fd);
    buf_free(&b);
}

struct chunky {
    const char *text;
    size_t pos;
    size_t fail_at; /* 0 = never */
};

/* Read callback: 3 bytes at a time, failing at fail_at. */
static ssize_t chunky_read(void *context, char *data, size_t len, const char **why_r)
{
    struct chunky *c = context;
    size_t left = strlen(c->text) - c->pos;

    if (c->fail_at && c->pos >= c->fail_at) {
        *why_r = "queue file read error (injected)";
        return -1;
    }
    if (len > 3)
        len = 3;
    if (len > left)
        len = left;
    memcpy(data, c->text + c->pos, len);
    c->pos += len;
    return (ssize_t)len;
}

/* Callback source; an injected read failure leaves tmp/ and new/ empty. */
static void test_deliver_callback_and_failure(void)
{
    const char *md = tpath("cb");
    struct maildir_opts opts = {.hostname = "h"};
    struct chunky c = {.text = "Subject: cb\n\nsome longer body text here\n"};
    struct buf *b = buf_create(64);
    struct store_err err;
    struct store_msg msg;
    char path[1024];

    store_msg_from_callback(&msg, chunky_read, &c);
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
    snprintf(path, sizeof(path), "%s/new", md);
    CHECK_INTEQ(only_file(path, b, NULL), 0);
    CHECK_STREQ(buf_str(b), c.text);

    c.pos = 0;
    c.fail_at = 20;
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), -1);
    CHECK_INTEQ(err.temporary, 1);
    CHECK_STREQ(err.dsn, "4.3.0");
    CHECK(strstr(err.why, "injected") != NULL);
    CHECK_INTEQ(count_dir(path), 1);
    snprintf(path, sizeof(path), "%s/tmp", md);
    CHECK_INTEQ(count_dir(path), 0);
    buf_free(&b);
}

/* A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) fails the write: 5.2.2, tmp/ empty. */
static void test_deliver_efbig(void)
{
    const char *md = tpath("efbig");
    struct maildir_opts opts = {.hostname = "h"};
    struct store_err err;
    struct store_msg msg;
    char *big = malloc(100000), path[1024];
    pid_t pid;
    int status = -1;

    memset(big, 'x', 100000);
    big[99999] = '\n';
    store_msg_from_mem(&msg, big, 100000);
    CHECK_INTEQ(maildir_create(md, &err), 0);
    if ((pid = fork()) == 0) {
        struct rlimit rl = {.rlim_cur = 5000, .rlim_max = RLIM_INFINITY};

        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        if (maildir_deliver(md, &opts, &msg, NULL, &err) != -1)
            _exit(1);
        if (strcmp(err.dsn, "5.2.2") != 0 || err.temporary != 0)
            _exit(2);
        if (strstr(err.why, "File too large") == NULL)
            _exit(3);
        _exit(0);
    }
    CHECK(pid > 0);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK_INTEQ(WEXITSTATUS(status), 0);
    snprintf(path, sizeof(path), "%s/tmp", md);
    CHECK_INTEQ(count_dir(path), 0);
    snprintf(path, sizeof(path), "%s/new", md);
    CHECK_INTEQ(count_dir(path), 0);
    free(big);
}

/* Sort helper. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names made in a tight loop are all different. */
static void test_unique_names_rapid(void)
{
    enum { N = 20000 };
    struct argv *names = argv_create(N);
    struct buf *b = buf_create(64);
    size_t i, dups = 0;

    for (i = 0; i < N; i++) {
        buf_reset(b);
        maildir_unique_name(b, "host");
        argv_add(names, buf_str(b));
    }
    qsort(names->argv, names->argc, sizeof(char *), cmp_str);
    for (i = 1; i < names->argc; i++)
        if (strcmp(names->argv[i - 1], names->argv[i]) == 0)
            dups++;
    CHECK_INTEQ(dups, 0);
    /* And deliveries in a tight loop each get their own file. */
    {
        const char *md = tpath("rapid");
        struct maildir_opts opts = {.hostname = "h"};
        struct store_err err;
        struct store_msg msg;
        char path[1024];

        store_msg_from_mem(&msg, "x\n", 2);
        for (i = 0; i < 200; i++)
            CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
        snprintf(path, sizeof(path), "%s/new", md);
        CHECK_INTEQ(count_dir(path), 200);
        snprintf(path, sizeof(path), "%s/tmp", md);
        CHECK_INTEQ(count_dir(path), 0);
    }
    buf_reset(b);
    maildir_host_escape(b, "a/b:c\\d");
    CHECK_STREQ(buf_str(b), "a\\057b\\072c\\d");
    argv_free(&names);
    buf_free(&b);
}

/* 10 processes x 30 deliveries at once: 300 distinct files, each intact. */
static void test_unique_names_forked(void)
{
    enum { PROCS = 10, EACH = 30 };
    const char *md = tpath("forked");
    struct maildir_opts opts = {.hostname = "h"};
    struct argv *files;
    struct buf *b = buf_create(64), *expect = buf_create(64);
    struct store_err err;
    struct store_msg msg;
    char path[1024], text[64];
    int seen[PROCS][EACH] = {{0}};
    pid_t pids[PROCS];
    int p, i, status, bad = 0;

    CHECK_INTEQ(maildir_create(md, &err), 0);
    for (p = 0; p < PROCS; p++) {
        if ((pids[p] = fork()) == 0) {
            for (i = 0; i < EACH; i++) {
                snprintf(text, sizeof(text), "X-Proc: %d\nX-Msg: %d\n\nbody\n", p, i);
                store_msg_from_mem(&msg, text, strlen(text));
                if (maildir_deliver(md, &opts, &msg, NULL, &err) < 0)
                    _exit(1);
            }
            _exit(0);
        }
    }
    for (p = 0; p < PROCS; p++) {
        waitpid(pids[p], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    snprintf(path, sizeof(path), "%s/new", md);
    files = list_dir(path);
    CHECK_INTEQ(files->argc, PROCS * EACH);
    for (size_t f = 0; f < files->argc; f++) {
        snprintf(path, sizeof(path), "%s/new/%s", md, files->argv[f]);
        if (read_file(path, b) < 0 || sscanf(buf_str(b), "X-Proc: %d\nX-Msg: %d", &p, &i) != 2 ||
            p < 0 || p >= PROCS || i < 0 || i >= EACH) {
            bad++;
            continue;
        }
        buf_reset(expect);
        buf_printf(expect, "X-Proc: %d\nX-Msg: %d\n\nbody\n", p, i);
        if (strcmp(buf_str(b), buf_str(expect)) != 0 || seen[p][i]++)
            bad++;
        if (!name_ok(files->argv[f], (long)pids[p], "h", (long long)buf_len(expect),
                     (long long)buf_len(expect) + 4))
            bad++;
    }
    CHECK_INTEQ(bad, 0);
    snprintf(path, sizeof(path), "%s/tmp", md);
    CHECK_INTEQ(count_dir(path), 0);
    argv_free(&files);
    buf_free(&b);
    buf_free(&expect);
}

/* Maildir++ folders: creation, marker file, name checks, listing, delivery. */
static void test_folders(void)
{
    static const char *const bad[] = {"", ".x", "x.", "a..b", "a/b", "a\nb", "..", ".", "../x"};
    const char *md = tpath("folders");
    struct maildir_opts opts = {.hostname = "h", .folder = "Sent"};
    struct argv *list = NULL;
    struct buf *b = buf_create(64);
    struct store_err err;
    struct store_msg msg;
    struct stat st;
    char path[1024], name[300];
    size_t i;
    int fd;

    CHECK_INTEQ(maildir_folder_create(md, "Sent", &err), 0);
    CHECK_INTEQ(maildir_folder_create(md, "Archive.2024", &err), 0);
    CHECK_INTEQ(maildir_folder_create(md, "Sent", &err), 0); /* again: fine */
    snprintf(path, sizeof(path), "%s/.Sent/maildirfolder", md);
    CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0);
    snprintf(path, sizeof(path), "%s/.Archive.2024/tmp", md);
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    snprintf(path, sizeof(path), "%s/cur", md);
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(!maildir_folder_name_valid(bad[i]));
        CHECK_INTEQ(maildir_folder_create(md, bad[i], &err), -1);
        CHECK_STREQ(err.dsn, "5.3.0");
        CHECK_INTEQ(err.temporary, 0);
    }
    memset(name, 'a', 255);
    name[255] = 0;
    CHECK(!maildir_folder_name_valid(name));
    name[254] = 0;
    CHECK(maildir_folder_name_valid(name));
    CHECK(maildir_folder_name_valid("Entw\xc3\xbc"
                                    "rfe"));

    /* Not folders: a dot file, an invalid name. */
    snprintf(path, sizeof(path), "%s/.hidden", md);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    close(fd);
    snprintf(path, sizeof(path), "%s/.a..b", md);
    mkdir(path, 0700);
    CHECK_INTEQ(maildir_folder_list(md, &list, &err), 0);
    CHECK_INTEQ(list->argc, 2);
    if (list->argc == 2) {
        CHECK_STREQ(list->argv[0], "Archive.2024");
        CHECK_STREQ(list->argv[1], "Sent");
    }
    argv_free(&list);

    store_msg_from_mem(&msg, "x\n", 2);
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
    snprintf(path, sizeof(path), "%s/.Sent/new", md);
    CHECK_INTEQ(only_file(path, b, NULL), 0);
    CHECK_STREQ(buf_str(b), "x\n");
    opts.folder = "Trash";
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
    snprintf(path, sizeof(path), "%s/.Trash/maildirfolder", md);
    CHECK(stat(path, &st) == 0);
    opts.folder = "../evil";
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), -1);
    CHECK_STREQ(err.dsn, "5.3.0");
    CHECK_INTEQ(maildir_folder_list(tpath("no-such-maildir"), &list, &err), -1);
    CHECK_INTEQ(err.temporary, 1);
    buf_free(&b);
}

/* S= parsing from file names. */
static void test_name_size(void)
{
    static const struct {
        const char *name;
        int ret;
        long long size;
    } cases[] = {
        {"123.M1P2Q3.h,S=456", 0, 456},
        {"x,S=12:2,S", 0, 12},
        {"x,S=12,W=14:2,", 0, 12},
        {"x,S=abc", -1, 0},
        {"x:2,S=5", -1, 0},
        {"x,S=", -1, 0},
        {"x,S=12x,S=7", 0, 7},
        {"plain", -1, 0},
        {"x,W=3,S=9", 0, 9},
    };
    off_t size;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size = -1;
        CHECK_INTEQ(maildir_name_size(cases[i].name, &size), cases[i].ret);
        if (cases[i].ret == 0)
            CHECK_INTEQ(size, cases[i].size);
    }
}

/* mailbox_size_limit: refuse with 5.2.2 once the maildir would pass it. */
static void test_size_limit(void)
{
    const char *md = tpath("quota");
    struct maildir_opts opts = {.hostname = "h", .size_limit = 1000};
    char msg400[400], path[1024];
    struct store_err err;
    struct store_msg msg;
    off_t size;
    long count;
    int fd;

    memset(msg400, 'q', sizeof(msg400));
    msg400[399] = '\n';
    store_msg_from_mem(&msg, msg400, sizeof(msg400));
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), -1);
    CHECK_STREQ(err.dsn, "5.2.2");
    CHECK_INTEQ(err.temporary, 0);
    CHECK(strstr(err.why, "full") != NULL);
    snprintf(path, sizeof(path), "%s/new", md);
    CHECK_INTEQ(count_dir(path), 2);
    snprintf(path, sizeof(path), "%s/tmp", md);
    CHECK_INTEQ(count_dir(path), 0);
    CHECK_INTEQ(maildir_size(md, &size, &count, &err), 0);
    CHECK_INTEQ(size, 800);
    CHECK_INTEQ(count, 2);

    /* Files without S= are counted by their size; folders count too. */
    snprintf(path, sizeof(path), "%s/cur/legacy:2,S", md);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    CHECK(write(fd, msg400, 150) == 150);
    close(fd);
    opts.folder = "Sent";
    opts.size_limit = 0;
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), 0);
    CHECK_INTEQ(maildir_size(md, &size, &count, &err), 0);
    CHECK_INTEQ(size, 1350);
    CHECK_INTEQ(count, 4);
    /* Already over the limit: refused before writing anything. */
    opts.size_limit = 1000;
    store_msg_from_mem(&msg, "x\n", 2);
    CHECK_INTEQ(maildir_deliver(md, &opts, &msg, NULL, &err), -1);
    CHECK_STREQ(err.dsn, "5.2.2");
    snprintf(path, sizeof(path), "%s/.Sent/tmp", md);
    CHECK_INTEQ(count_dir(path), 0);
}

/* An unusable maildir path is a temporary failure naming the path. */
static void test_bad_path(void)
{
    const char *file = tpath("plainfile");
    struct store_err err;
    struct store_msg msg;
    char path[1024];
    int fd;

    fd = open(file, O_WRONLY | O_CREAT, 0600);
    close(fd);
    store_msg_from_mem(&msg, "x\n", 2);
    CHECK_INTEQ(maildir_deliver(file, NULL, &msg, NULL, &err), -1);
    CHECK_INTEQ(err.temporary, 1);
    CHECK_STREQ(err.dsn, "4.2.0");
    CHECK(strstr(err.why, file) != NULL);
    snprintf(path, sizeof(path), "%s/sub/Maildir", file);
    CHECK_INTEQ(maildir_deliver(path, NULL, &msg, NULL, &err), -1);
    CHECK_INTEQ(err.temporary, 1);
    /* Missing parents are created. */
    snprintf(path, sizeof(path), "%s/deep/a/b/Maildir", test_dir);
    CHECK_INTEQ(maildir_deliver(path, NULL, &msg, NULL, &err), 0);
}

int main(void)
{
    if (mkdtemp(test_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    TEST_RUN(test_deliver_exact);
    TEST_RUN(test_deliver_crlf);
    TEST_RUN(test_deliver_fd);
    TEST_RUN(test_deliver_callback_and_failure);
    TEST_RUN(test_deliver_efbig);
    TEST_RUN(test_unique_names_rapid);
    TEST_RUN(test_unique_names_forked);
    TEST_RUN(test_folders);
    TEST_RUN(test_name_size);
    TEST_RUN(test_size_limit);
    TEST_RUN(test_bad_path);
    rm_tree(test_dir);
    return test_summary();
}
