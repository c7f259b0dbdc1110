/*
 * Unit tests for lib/util/safe_file: O_EXCL creation with exact modes,
 * refusal of symlinks, FIFOs, directories, foreign owners and hard links,
 * durable replacement (content, mode, no temporary file left on success
 * or on failure), mkdir -p.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/safe_file.h"
#include "tests/unit/test.h"

static char dir[] = "/tmp/test_util_safe_file.XXXXXX";

/* path = dir/name in a static buffer (sixteen in rotation). */
static const char *in_dir(const char *name)
{
    static char path[16][256];
    static int which;

    which = (which + 1) % 16;
    snprintf(path[which], sizeof(path[which]), "%s/%s", dir, name);
    return path[which];
}

/* Number of entries in dir d (without . and ..); names containing "tmp" counted in *tmp_r. */
static int count_entries(const char *d, int *tmp_r)
{
    DIR *dp = opendir(d);
    struct dirent *de;
    int n = 0;

    *tmp_r = 0;
    if (dp == NULL)
        return -1;
    while ((de = readdir(dp)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        n++;
        if (strstr(de->d_name, "tmp") != NULL)
            (*tmp_r)++;
    }
    closedir(dp);
    return n;
}

/* Whole content of a file as a C string (static buffer). */
static const char *content(const char *path)
{
    static char data[256];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    if (fd < 0)
        return "(missing)";
    n = safe_read_all(fd, data, sizeof(data) - 1);
    close(fd);
    data[n < 0 ? 0 : n] = '\0';
    return data;
}

static void test_create(void)
{
    const char *why = NULL;
    char path[256];

    snprintf(path, sizeof(path), "%s", in_dir("new"));
    struct stat st;
    int fd;

    umask(077);
    fd = safe_create(path, O_WRONLY, 0644, &why);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    CHECK_INTEQ(safe_write_all(fd, "abc", 3), 0);
    close(fd);
    CHECK_INTEQ(stat(path, &st), 0);
    CHECK_INTEQ(st.st_mode & 07777, 0644); /* not narrowed by the umask */
    CHECK_STREQ(content(path), "abc");
    /* Never an existing file. */
    CHECK_INTEQ(safe_create(path, O_WRONLY, 0600, &why), -1);
    CHECK_INTEQ(errno, EEXIST);
    CHECK(strstr(why, "create ") != NULL && strstr(why, "new") != NULL);
    CHECK_STREQ(content(path), "abc");
    /* Never through a (dangling) symlink. */
    CHECK_INTEQ(symlink(in_dir("target"), in_dir("link")), 0);
    CHECK_INTEQ(safe_create(in_dir("link"), O_WRONLY, 0600, &why), -1);
    CHECK(access(in_dir("target"), F_OK) < 0);
    unlink(in_dir("link"));
    unlink(path);
    umask(022);
}

/* safe_pwrite_all writes at the offset and leaves the file offset alone. */
static void test_pwrite_all(void)
{
    const char *why = NULL;
    const char *path = in_dir("pwrite");
    int fd = safe_create(path, O_RDWR, 0600, &why);

    CHECK(fd >= 0);
    CHECK_INTEQ(safe_write_all(fd, "0123456789", 10), 0);
    CHECK_INTEQ(safe_pwrite_all(fd, "ab", 2, 3), 0);
    CHECK_INTEQ(safe_pwrite_all(fd, "XY", 2, 12), 0); /* past the end: a hole */
    CHECK_INTEQ(lseek(fd, 0, SEEK_CUR), 10);
    CHECK_INTEQ(safe_write_all(fd, "!", 1), 0);
    CHECK_INTEQ(safe_pwrite_all(fd, "z", 1, -1), -1);
    CHECK_INTEQ(errno, EINVAL);
    close(fd);
    {
        char data[32];
        int rfd = open(path, O_RDONLY);
        ssize_t n = safe_read_all(rfd, data, sizeof(data));

        close(rfd);
        CHECK_INTEQ(n, 14);
        CHECK(memcmp(data, "012ab56789!\0XY", 14) == 0);
    }
    /* A descriptor that cannot be written: -1 with errno, nothing else. */
    fd = open(path, O_RDONLY);
    CHECK_INTEQ(safe_pwrite_all(fd, "q", 1, 0), -1);
    CHECK_INTEQ(errno, EBADF);
    close(fd);
    unlink(path);
}

static void test_open_refusals(void)
{
    const char *why = NULL;
    char file[256];

    snprintf(file, sizeof(file), "%s", in_dir("file"));
    int fd;

    fd = safe_create(file, O_WRONLY, 0600, &why);
    CHECK(fd >= 0);
    CHECK_INTEQ(safe_write_all(fd, "keep me", 7), 0);
    close(fd);

    fd = safe_open(file, O_RDONLY, 0, SAFE_CHECK_OWNER | SAFE_CHECK_NLINK, getuid(), &why);
    CHECK(fd >= 0);
    CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);

    /* Symlink to a regular file: refused. */
    CHECK_INTEQ(symlink(file, in_dir("sym")), 0);
    CHECK_INTEQ(safe_open(in_dir("sym"), O_RDONLY, 0, 0, 0, &why), -1);
    CHECK_INTEQ(errno, ELOOP);
    CHECK(strstr(why, "symbolic link") != NULL);
    /* O_CREAT does not help a symlink through either. */
    CHECK_INTEQ(safe_open(in_dir("sym"), O_WRONLY | O_CREAT | O_APPEND, 0600, 0, 0, &why), -1);
    unlink(in_dir("sym"));

    /* FIFO: refused at once, no hang waiting for a writer. */
    CHECK_INTEQ(mkfifo(in_dir("fifo"), 0600), 0);
    CHECK_INTEQ(safe_open(in_dir("fifo"), O_RDONLY, 0, 0, 0, &why), -1);
    CHECK(strstr(why, "not a regular file") != NULL);
    unlink(in_dir("fifo"));

    /* Directory: refused. */
    CHECK_INTEQ(safe_open(dir, O_RDONLY, 0, 0, 0, &why), -1);

    /* Wrong owner: refused, and O_TRUNC did not touch the file. */
    CHECK_INTEQ(safe_open(file, O_WRONLY | O_TRUNC, 0, SAFE_CHECK_OWNER, getuid() + 1, &why), -1);
    CHECK(strstr(why, "owned by uid") != NULL);
    CHECK_STREQ(content(file), "keep me");

    /* Two hard links: refused with SAFE_CHECK_NLINK, fine without. */
    CHECK_INTEQ(link(file, in_dir("hard")), 0);
    CHECK_INTEQ(safe_open(file, O_RDONLY, 0, SAFE_CHECK_NLINK, 0, &why), -1);
    CHECK(strstr(why, "hard links") != NULL);
    fd = safe_open(file, O_RDONLY, 0, 0, 0, &why);
    CHECK(fd >= 0);
    close(fd);
    unlink(in_dir("hard"));

    /* O_TRUNC after the checks pass. */
    fd = safe_open(file, O_WRONLY | O_TRUNC, 0, SAFE_CHECK_OWNER, getuid(), &why);
    CHECK(fd >= 0);
    close(fd);
    CHECK_STREQ(content(file), "");

    /* Missing without O_CREAT: ENOENT. */
    CHECK_INTEQ(safe_open(in_dir("missing"), O_RDONLY, 0, 0, 0, &why), -1);
    CHECK_INTEQ(errno, ENOENT);
    unlink(file);
}

static void test_open_create(void)
{
    const char *why = NULL;
    char mbox[256];

    snprintf(mbox, sizeof(mbox), "%s", in_dir("mbox"));
    struct stat st;
    int fd;

    fd = safe_open(mbox, O_WRONLY | O_APPEND | O_CREAT, 0600, SAFE_CHECK_OWNER, getuid(), &why);
    CHECK(fd >= 0);
    CHECK_INTEQ(safe_write_all(fd, "one\n", 4), 0);
    close(fd);
    CHECK_INTEQ(stat(mbox, &st), 0);
    CHECK_INTEQ(st.st_mode & 07777, 0600);
    fd = safe_open(mbox, O_WRONLY | O_APPEND | O_CREAT, 0600, SAFE_CHECK_OWNER, getuid(), &why);
    CHECK(fd >= 0);
    CHECK_INTEQ(safe_write_all(fd, "two\n", 4), 0);
    close(fd);
    CHECK_STREQ(content(mbox), "one\ntwo\n");
    CHECK_INTEQ(safe_open(mbox, O_WRONLY | O_CREAT | O_EXCL, 0600, 0, 0, &why), -1);
    unlink(mbox);
}

static void test_read_file(void)
{
    const char *why = NULL;
    char path[256];

    snprintf(path, sizeof(path), "%s", in_dir("small"));
    struct buf *b = buf_create(0);

    CHECK_INTEQ(safe_replace(path, "0123456789", 10, 0600, &why), 0);
    CHECK_INTEQ(safe_read_file(path, 10, b, &why), 0);
    CHECK_STREQ(buf_str(b), "0123456789");
    CHECK_INTEQ(safe_read_file(path, 9, b, &why), -1);
    CHECK_INTEQ(errno, EFBIG);
    CHECK(strstr(why, "larger than 9") != NULL);
    CHECK_INTEQ(safe_read_file(in_dir("nope"), 9, b, &why), -1);
    unlink(path);
    buf_free(&b);
}

static void test_replace(void)
{
    const char *why = NULL;
    char path[256];

    snprintf(path, sizeof(path), "%s", in_dir("aliases.db"));
    struct stat st;
    int tmp = 0;
    int n0 = count_entries(dir, &tmp);

    CHECK_INTEQ(safe_replace(path, "first", 5, 0640, &why), 0);
    CHECK_STREQ(content(path), "first");
    CHECK_INTEQ(stat(path, &st), 0);
    CHECK_INTEQ(st.st_mode & 07777, 0640);
    CHECK_INTEQ(safe_replace(path, "second", 6, 0644, &why), 0);
    CHECK_STREQ(content(path), "second");
    CHECK_INTEQ(stat(path, &st), 0);
    CHECK_INTEQ(st.st_mode & 07777, 0644);
    CHECK_INTEQ(safe_replace(path, "", 0, 0644, &why), 0);
    CHECK_STREQ(content(path), "");
    CHECK_INTEQ(count_entries(dir, &tmp), n0 + 1);
    CHECK_INTEQ(tmp, 0);
    /* Relative path in the current directory works too. */
    {
        char cwd[512];

        CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
        CHECK_INTEQ(chdir(dir), 0);
        CHECK_INTEQ(safe_replace("rel", "r", 1, 0600, &why), 0);
        CHECK_INTEQ(chdir(cwd), 0);
        CHECK_STREQ(content(in_dir("rel")), "r");
        unlink(in_dir("rel"));
    }
    unlink(path);
}

static void test_replace_failures(void)
{
    const char *why = NULL;
    char target[256];

    snprintf(target, sizeof(target), "%s", in_dir("isdir"));
    int tmp = 0;
    int n0;

    /* rename fails: the target is a non-empty directory. */
    CHECK_INTEQ(mkdir(target, 0700), 0);
    CHECK_INTEQ(safe_replace(in_dir("isdir/x"), "x", 1, 0600, &why), 0);
    n0 = count_entries(dir, &tmp);
    CHECK_INTEQ(safe_replace(target, "data", 4, 0600, &why), -1);
    CHECK(strstr(why, "rename ") != NULL);
    CHECK_INTEQ(count_entries(dir, &tmp), n0);
    CHECK_INTEQ(tmp, 0);

    /* write fails: file size limit. The old content survives, no temp file. */
    {
        char path[256];

    snprintf(path, sizeof(path), "%s", in_dir("limited"));
        struct rlimit old, small;
        char big[100];

        memset(big, 'z', sizeof(big));
        CHECK_INTEQ(safe_replace(path, "old", 3, 0600, &why), 0);
        n0 = count_entries(dir, &tmp);
        signal(SIGXFSZ, SIG_IGN);
        CHECK_INTEQ(getrlimit(RLIMIT_FSIZE, &old), 0);
        small = old;
        small.rlim_cur = 10;
        CHECK_INTEQ(setrlimit(RLIMIT_FSIZE, &small), 0);
        CHECK_INTEQ(safe_replace(path, big, sizeof(big), 0600, &why), -1);
        CHECK_INTEQ(errno, EFBIG);
        CHECK_INTEQ(setrlimit(RLIMIT_FSIZE, &old), 0);
        signal(SIGXFSZ, SIG_DFL);
        CHECK(strstr(why, "write ") != NULL);
        CHECK_STREQ(content(path), "old");
        CHECK_INTEQ(count_entries(dir, &tmp), n0);
        CHECK_INTEQ(tmp, 0);
        unlink(path);
    }
    /* Directory does not exist. */
    CHECK_INTEQ(safe_replace(in_dir("no/such/file"), "x", 1, 0600, &why), -1);
    unlink(in_dir("isdir/x"));
    rmdir(target);
}

/* The queue's pattern: explicit id.tmp renamed to id.msg. */
static void test_tmp_named(void)
{
    const char *why = NULL;
    char tmp_path[256], msg_path[256];
    struct safe_tmp t;
    int fd;

    snprintf(tmp_path, sizeof(tmp_path), "%s", in_dir("ABC123.tmp"));
    snprintf(msg_path, sizeof(msg_path), "%s", in_dir("ABC123.msg"));
    CHECK_INTEQ(safe_tmp_create(&t, msg_path, tmp_path, 0600, &why), 0);
    CHECK_INTEQ(safe_write_all(t.fd, "envelope", 8), 0);
    CHECK(access(tmp_path, F_OK) == 0);
    CHECK(access(msg_path, F_OK) < 0);
    CHECK_INTEQ(safe_tmp_commit(&t, &why), 0);
    CHECK(t.fd == -1 && t.path == NULL && t.tmp_path == NULL);
    CHECK(access(tmp_path, F_OK) < 0);
    CHECK_STREQ(content(msg_path), "envelope");

    /* Abort removes what we created. */
    CHECK_INTEQ(safe_tmp_create(&t, msg_path, tmp_path, 0600, &why), 0);
    safe_tmp_abort(&t);
    CHECK(access(tmp_path, F_OK) < 0);
    CHECK_STREQ(content(msg_path), "envelope");

    /* A temporary name that exists is someone else's: fail, leave it alone. */
    fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK_INTEQ(safe_tmp_create(&t, msg_path, tmp_path, 0600, &why), -1);
    CHECK_INTEQ(errno, EEXIST);
    safe_tmp_abort(&t); /* harmless after a failed create */
    CHECK(access(tmp_path, F_OK) == 0);
    unlink(tmp_path);
    unlink(msg_path);
}

static void test_mkdir_p(void)
{
    const char *why = NULL;
    struct stat st;

    umask(077);
    CHECK_INTEQ(safe_mkdir_p(in_dir("a/b//c/"), 0751, &why), 0);
    CHECK_INTEQ(stat(in_dir("a/b/c"), &st), 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK_INTEQ(st.st_mode & 07777, 0751);
    CHECK_INTEQ(stat(in_dir("a"), &st), 0);
    CHECK_INTEQ(st.st_mode & 07777, 0751);
    /* Again: nothing to do. Existing directories keep their modes. */
    CHECK_INTEQ(chmod(in_dir("a"), 0700), 0);
    CHECK_INTEQ(safe_mkdir_p(in_dir("a/b/c"), 0755, &why), 0);
    CHECK_INTEQ(stat(in_dir("a"), &st), 0);
    CHECK_INTEQ(st.st_mode & 07777, 0700);
    /* A file in the way. */
    CHECK_INTEQ(safe_replace(in_dir("a/f"), "", 0, 0600, &why), 0);
    CHECK_INTEQ(safe_mkdir_p(in_dir("a/f/g"), 0755, &why), -1);
    CHECK_INTEQ(errno, ENOTDIR);
    CHECK(strstr(why, "a/f") != NULL);
    CHECK_INTEQ(safe_mkdir_p("", 0755, &why), -1);
    CHECK_INTEQ(safe_fsync_dir(in_dir("a/b"), &why), 0);
    CHECK_INTEQ(safe_fsync_dir(in_dir("a/nope"), &why), -1);
    unlink(in_dir("a/f"));
    rmdir(in_dir("a/b/c"));
    rmdir(in_dir("a/b"));
    rmdir(in_dir("a"));
    umask(022);
}

int main(void)
{
    int tmp;

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    TEST_RUN(test_create);
    TEST_RUN(test_pwrite_all);
    TEST_RUN(test_open_refusals);
    TEST_RUN(test_open_create);
    TEST_RUN(test_read_file);
    TEST_RUN(test_replace);
    TEST_RUN(test_replace_failures);
    TEST_RUN(test_tmp_named);
    TEST_RUN(test_mkdir_p);
    if (count_entries(dir, &tmp) != 0)
        fprintf(stderr, "  leftovers in %s\n", dir);
    rmdir(dir);
    return test_summary();
}
