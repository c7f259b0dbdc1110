/*
 * Unit tests for lib/mail queue_file: durable creation, the on-disk format,
 * failure paths (disk full, file size limit, size limit), validation of
 * damaged files (every truncation, every flipped byte, structure-preserving
 * mutations with recomputed checksums), in-place status updates and the
 * queue directory helpers.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/mail/queue_file.h"
#include "lib/mail/queue_id.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/msg.h"
#include "tests/unit/test.h"

static char topdir[256];
static char incoming[300], active[300], deferred[300], corrupt_dir[300];

/* ------------------------------------------------------------ helpers */

/* Bitwise CRC-32C, independent of the module's table version. */
static uint32_t ref_crc32c(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;

    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static void wr32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Read a whole file into a malloc'd buffer. */
static unsigned char *slurp(const char *path, size_t *len_r)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *data;
    long len;

    *len_r = 0;
    if (fp == NULL)
        return NULL;
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    data = malloc((size_t)len + 1);
    if (fread(data, 1, (size_t)len, fp) != (size_t)len) {
        free(data);
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    *len_r = (size_t)len;
    return data;
}

/* Write len bytes of data to path (replacing it). */
static void spit(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");

    if (fp == NULL || fwrite(data, 1, len, fp) != len)
        CHECK(!"cannot write test file");
    if (fp)
        fclose(fp);
}

/* Number of directory entries (other than . and ..) in dir. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    while (d && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    if (d)
        closedir(d);
    return n;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove everything in dir (not dir itself). */
static void empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[600];

    while (d && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
}

/* Deterministic pseudo-random bytes. */
static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

/* Binary content: every byte value, NULs, CR, LF, lines of all lengths. */
static unsigned char *make_content(size_t len)
{
    unsigned char *c = malloc(len ? len : 1);

    for (size_t i = 0; i < len; i++)
        c[i] = i < 256 ? (unsigned char)i : (unsigned char)rng();
    return c;
}

/* When set, make_file() fills every envelope field (for the fuzz-like tests). */
static bool make_rich;

/*
 * Build a small valid file with n recipients and content, commit it, and
 * return its path in path (dir/<id>.msg).
 */
static int make_file(const char *dir, size_t nrcpt, const void *content, size_t clen,
                     struct buf *path)
{
    struct queue_file *qf;
    const char *why;
    char addr[64];

    if (queue_file_create(dir, NULL, &qf, &why) < 0) {
        fprintf(stderr, "  create: %s\n", why);
        return -1;
    }
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_SENDER, "sender@example.org", &why), 0);
    for (size_t i = 0; i < nrcpt; i++) {
        snprintf(addr, sizeof(addr), "rcpt%zu@example.com", i);
        if (make_rich)
            CHECK_INTEQ(queue_file_add_rcpt(qf, addr, "Orig@Example.COM", "rfc822;orig@example.com",
                                            i % 2 ? QUEUE_NOTIFY_NEVER
                                                  : QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_DELAY,
                                            &why),
                        0);
        else
            CHECK_INTEQ(queue_file_add_rcpt(qf, addr, NULL, NULL, 0, &why), 0);
    }
    if (make_rich) {
        CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_CLIENT_ADDR, "192.0.2.7", &why), 0);
        CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_CLIENT_NAME, "c.example", &why), 0);
        CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_HELO, "c.example", &why), 0);
        CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_PROTOCOL, "ESMTP", &why), 0);
        CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_AUTH_USER, "u", &why), 0);
        CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_ENVID, "e1", &why), 0);
        CHECK_INTEQ(queue_file_set_ret(qf, QUEUE_RET_FULL, &why), 0);
        CHECK_INTEQ(queue_file_set_body(qf, QUEUE_BODY_BINARYMIME, &why), 0);
        CHECK_INTEQ(queue_file_set_flags(qf, QUEUE_FLAG_SMTPUTF8, &why), 0);
        CHECK_INTEQ(queue_file_add_attr(qf, "a", "1", &why), 0);
        CHECK_INTEQ(queue_file_add_attr(qf, "b", "=2=", &why), 0);
    }
    if (clen)
        CHECK_INTEQ(queue_file_write(qf, content, clen, &why), 0);
    if (queue_file_commit(qf, &why) < 0) {
        fprintf(stderr, "  commit: %s\n", why);
        queue_file_abort(&qf);
        return -1;
    }
    buf_set(path, queue_file_path(qf));
    queue_file_free(&qf);
    return 0;
}

/* ------------------------------------------------------------ round trip */

static void test_round_trip(void)
{
    struct queue_file *qf, *rf;
    const struct queue_envelope *env;
    const char *why = NULL;
    struct buf *path = buf_create(0);
    const size_t nrcpt = 1000, clen = 300 * 1024 + 17;
    unsigned char *content = make_content(clen);
    unsigned char *back = malloc(clen + 10);
    char id[QUEUE_ID_SIZE], addr[128], orig[128], orcpt[160];
    size_t off, n;
    struct stat st;
    int r;

    CHECK_INTEQ(queue_file_create(incoming, NULL, &qf, &why), 0);
    snprintf(id, sizeof(id), "%s", queue_file_id(qf));
    CHECK(queue_id_valid(id));
    /* While it is being written, only <id>.tmp exists. */
    buf_printf(path, "%s/%s.tmp", incoming, id);
    CHECK(stat(buf_str(path), &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK_INTEQ(count_entries(incoming), 1);

    /* Content first, in odd-sized chunks, then the envelope (any order works). */
    for (off = 0; off < clen; off += n) {
        n = 1 + rng() % 9000;
        if (n > clen - off)
            n = clen - off;
        CHECK_INTEQ(queue_file_write(qf, content + off, n, &why), 0);
    }
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_SENDER, "s\xc3\xa9nder@\xc3\xa9xample.org", &why),
                0);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_CLIENT_ADDR, "2001:db8::1", &why), 0);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_CLIENT_NAME, "client.example.org", &why), 0);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_HELO, "helo name", &why), 0);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_PROTOCOL, "ESMTPSA", &why), 0);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_AUTH_USER, "alice", &why), 0);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_ENVID, "QQ+2B314159", &why), 0);
    /* A replaced value and a removed one. */
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_HELO, "helo.example.org", &why), 0);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_AUTH_USER, NULL, &why), 0);
    CHECK_INTEQ(queue_file_set_ret(qf, QUEUE_RET_HDRS, &why), 0);
    CHECK_INTEQ(queue_file_set_body(qf, QUEUE_BODY_8BITMIME, &why), 0);
    CHECK_INTEQ(queue_file_set_flags(qf, QUEUE_FLAG_SMTPUTF8, &why), 0);
    CHECK_INTEQ(queue_file_set_arrival(qf, UINT64_C(1700000000123456), &why), 0);
    CHECK_INTEQ(queue_file_add_attr(qf, "client_port", "54321", &why), 0);
    CHECK_INTEQ(queue_file_add_attr(qf, "dkim.result", "pass (a=b; c)", &why), 0);
    CHECK_INTEQ(queue_file_add_attr(qf, "client_port", "54322", &why), 0);
    CHECK_INTEQ(queue_file_add_attr(qf, "empty", "", &why), 0);
    for (size_t i = 0; i < nrcpt; i++) {
        snprintf(addr, sizeof(addr), "user%zu@d%zu.example.com", i, i % 7);
        snprintf(orig, sizeof(orig), "User%zu@D%zu.Example.COM", i, i % 7);
        snprintf(orcpt, sizeof(orcpt), "rfc822;user%zu+2B@example.com", i);
        CHECK_INTEQ(queue_file_add_rcpt(qf, addr, i % 3 ? orig : NULL, i % 5 ? orcpt : "",
                                        i % 4 == 0 ? QUEUE_NOTIFY_NEVER
                                                   : (unsigned)(i % 4) * 2 & QUEUE_NOTIFY_ALL,
                                        &why),
                    0);
    }
    CHECK(queue_file_content_length(qf) == clen);
    r = queue_file_commit(qf, &why);
    if (r < 0)
        fprintf(stderr, "  commit: %s\n", why);
    CHECK_INTEQ(r, 0);
    CHECK(queue_file_fd(qf) < 0);
    buf_reset(path);
    buf_printf(path, "%s/%s.msg", incoming, id);
    CHECK_STREQ(queue_file_path(qf), buf_str(path));
    queue_file_free(&qf);
    CHECK(qf == NULL);
    CHECK_INTEQ(count_entries(incoming), 1);
    CHECK(stat(buf_str(path), &st) == 0 && (st.st_mode & 0777) == 0600);

    r = queue_file_open(buf_str(path), QUEUE_OPEN_VERIFY, &rf, &why);
    if (r != 1)
        fprintf(stderr, "  open: %s\n", why);
    CHECK_INTEQ(r, 1);
    if (r != 1)
        goto out;
    CHECK_STREQ(queue_file_id(rf), id);
    env = queue_file_envelope(rf);
    CHECK(env->arrival == UINT64_C(1700000000123456));
    CHECK_STREQ(env->sender, "s\xc3\xa9nder@\xc3\xa9xample.org");
    CHECK_STREQ(env->client_addr, "2001:db8::1");
    CHECK_STREQ(env->client_name, "client.example.org");
    CHECK_STREQ(env->helo, "helo.example.org");
    CHECK_STREQ(env->protocol, "ESMTPSA");
    CHECK(env->auth_user == NULL);
    CHECK_STREQ(env->envid, "QQ+2B314159");
    CHECK_INTEQ(env->ret, QUEUE_RET_HDRS);
    CHECK_INTEQ(env->body, QUEUE_BODY_8BITMIME);
    CHECK_INTEQ(env->flags, QUEUE_FLAG_SMTPUTF8);
    CHECK_INTEQ(env->attr_count, 3);
    CHECK_STREQ(queue_file_attr(rf, "client_port"), "54322");
    CHECK_STREQ(queue_file_attr(rf, "dkim.result"), "pass (a=b; c)");
    CHECK_STREQ(queue_file_attr(rf, "empty"), "");
    CHECK(queue_file_attr(rf, "nope") == NULL);
    CHECK_INTEQ(env->rcpt_count, nrcpt);
    for (size_t i = 0; i < env->rcpt_count && i < nrcpt; i++) {
        const struct queue_rcpt *rc = &env->rcpts[i];

        snprintf(addr, sizeof(addr), "user%zu@d%zu.example.com", i, i % 7);
        snprintf(orig, sizeof(orig), "User%zu@D%zu.Example.COM", i, i % 7);
        snprintf(orcpt, sizeof(orcpt), "rfc822;user%zu+2B@example.com", i);
        CHECK_STREQ(rc->address, addr);
        if (i % 3)
            CHECK_STREQ(rc->orig, orig);
        else
            CHECK(rc->orig == NULL);
        if (i % 5)
            CHECK_STREQ(rc->orcpt, orcpt);
        else
            CHECK(rc->orcpt == NULL);
        CHECK_INTEQ(rc->notify, i % 4 == 0 ? QUEUE_NOTIFY_NEVER : (i % 4) * 2 & QUEUE_NOTIFY_ALL);
        CHECK_INTEQ(rc->slot.status, QUEUE_PENDING);
        CHECK_INTEQ(rc->slot.attempts, 0);
        CHECK(rc->slot.diag_offset == 0);
    }
    CHECK(queue_file_content_length(rf) == clen);
    CHECK(queue_file_msg_slot(rf)->attempts == 0);

    /* Streamed back in small pieces: byte for byte, then the CRC check. */
    off = 0;
    while ((r = queue_file_content_read(rf, back + off, 1 + rng() % 5000, &n, &why)) == 1)
        off += n;
    CHECK_INTEQ(r, 0);
    CHECK(off == clen);
    CHECK(memcmp(back, content, clen) == 0);
    CHECK(!queue_file_corrupt(rf));
    /* Again, one byte at a time for the first 4 KiB, after a rewind. */
    queue_file_content_rewind(rf);
    for (off = 0; off < 4096; off++) {
        CHECK_INTEQ(queue_file_content_read(rf, back + off, 1, &n, &why), 1);
        CHECK_INTEQ(n, 1);
    }
    CHECK(memcmp(back, content, 4096) == 0);
    /* Random access. */
    for (int k = 0; k < 50; k++) {
        uint64_t at = rng() % clen;

        CHECK_INTEQ(queue_file_content_pread(rf, at, back, 777, &n, &why), 1);
        CHECK(n == (clen - at < 777 ? clen - at : 777));
        CHECK(memcmp(back, content + at, n) == 0);
    }
    CHECK_INTEQ(queue_file_content_pread(rf, clen, back, 10, &n, &why), 0);
    /* The content is at the documented offset. */
    CHECK(queue_file_content_offset(rf) == 96);
    CHECK(pread(queue_file_fd(rf), back, 100, 96) == 100 && memcmp(back, content, 100) == 0);
    queue_file_free(&rf);
out:
    empty_dir(incoming);
    free(content);
    free(back);
    buf_free(&path);
}

/* The documented byte layout: header fields and checksums, end record. */
static void test_format_layout(void)
{
    struct buf *path = buf_create(0);
    unsigned char *d;
    size_t len;
    uint64_t env_off, status_off, end_off;
    uint32_t env_len;

    /* The reference CRC is CRC-32C: check value of "123456789". */
    CHECK(ref_crc32c(0, "123456789", 9) == 0xE3069283u);
    if (make_file(incoming, 2, "Subject: x\n\nbody\n", 17, path) < 0) {
        CHECK(!"make_file");
        buf_free(&path);
        return;
    }
    d = slurp(buf_str(path), &len);
    CHECK(d != NULL && len > 96);
    CHECK(memcmp(d, "POSTELQ\n", 8) == 0);
    CHECK(d[8] == 0 && d[9] == 1);    /* version 1 */
    CHECK(d[10] == 0 && d[11] == 96); /* header size */
    CHECK(queue_id_valid_n((char *)d + 16, 16));
    CHECK(strstr(buf_str(path), "/") && memcmp(strrchr(buf_str(path), '/') + 1, d + 16, 16) == 0);
    CHECK(rd64(d + 32) == 96);
    CHECK(rd64(d + 40) == 17);
    env_off = rd64(d + 48);
    env_len = rd32(d + 56);
    CHECK(env_off == 96 + 17);
    CHECK(rd32(d + 60) == 2);
    status_off = rd64(d + 64);
    end_off = rd64(d + 72);
    CHECK(status_off % 32 == 0 && status_off >= env_off + env_len &&
          status_off < env_off + env_len + 32);
    CHECK(end_off == status_off + 32 * 3);
    CHECK(len == end_off + 24);
    CHECK(rd32(d + 80) == ref_crc32c(0, "Subject: x\n\nbody\n", 17));
    CHECK(rd32(d + 84) == ref_crc32c(0, d + env_off, env_len));
    CHECK(rd32(d + 92) == ref_crc32c(0, d, 92));
    CHECK(memcmp(d + 96, "Subject: x\n\nbody\n", 17) == 0);
    /* First envelope record: arrival time, 8 bytes. */
    CHECK(d[env_off] == 'T' && rd32(d + env_off + 1) == 8);
    /* Each slot: all zero but its CRC. */
    for (int i = 0; i < 3; i++) {
        const unsigned char *s = d + status_off + 32 * i;

        CHECK(rd32(s + 28) == ref_crc32c(0, s, 28));
        CHECK(s[0] == 0 && rd32(s + 4) == 0);
    }
    CHECK(memcmp(d + end_off, "POSTELQE", 8) == 0);
    CHECK(rd64(d + end_off + 8) == end_off);
    CHECK(memcmp(d + end_off + 16, d + 92, 4) == 0);
    CHECK(rd32(d + end_off + 20) == ref_crc32c(0, d + end_off, 20));
    free(d);
    empty_dir(incoming);
    buf_free(&path);
}

static void test_empty_content(void)
{
    struct buf *path = buf_create(0);
    struct queue_file *rf;
    const char *why;
    char b[4];
    size_t n;

    CHECK_INTEQ(make_file(incoming, 1, "", 0, path), 0);
    CHECK_INTEQ(queue_file_open(buf_str(path), QUEUE_OPEN_VERIFY, &rf, &why), 1);
    if (rf) {
        CHECK(queue_file_content_length(rf) == 0);
        CHECK_INTEQ(queue_file_content_read(rf, b, sizeof(b), &n, &why), 0);
        queue_file_free(&rf);
    }
    empty_dir(incoming);
    buf_free(&path);
}

/* ------------------------------------------------------------ failures */

static void test_abort_removes_temp(void)
{
    struct queue_file *qf;
    const char *why;

    CHECK_INTEQ(queue_file_create(incoming, NULL, &qf, &why), 0);
    CHECK_INTEQ(queue_file_write(qf, "hello\n", 6, &why), 0);
    CHECK_INTEQ(count_entries(incoming), 1);
    queue_file_abort(&qf);
    CHECK(qf == NULL);
    CHECK_INTEQ(count_entries(incoming), 0);

    /* Freeing an uncommitted writer aborts it, too. */
    CHECK_INTEQ(queue_file_create(incoming, NULL, &qf, &why), 0);
    CHECK_INTEQ(count_entries(incoming), 1);
    queue_file_free(&qf);
    CHECK_INTEQ(count_entries(incoming), 0);
}

static void test_create_fails_cleanly(void)
{
    struct queue_file *qf = (struct queue_file *)1;
    const char *why = NULL;
    char missing[400];

    snprintf(missing, sizeof(missing), "%s/no-such-dir", topdir);
    CHECK_INTEQ(queue_file_create(missing, NULL, &qf, &why), -1);
    CHECK(qf == NULL);
    CHECK(why != NULL && strstr(why, "no-such-dir") != NULL);
    CHECK_INTEQ(queue_error_from_errno(errno), QUEUE_ERR_IO);
}

/* Disk full: the writer's descriptor is swapped for /dev/full (ENOSPC). */
static void test_write_enospc(void)
{
    struct queue_file *qf;
    const char *why = NULL;
    unsigned char *big = make_content(200000);
    int full = open("/dev/full", O_WRONLY);

    if (full < 0) {
        printf("  (no /dev/full: skipped)\n");
        free(big);
        return;
    }
    /* Failure while streaming the content. */
    CHECK_INTEQ(queue_file_create(incoming, NULL, &qf, &why), 0);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_SENDER, "", &why), 0);
    CHECK_INTEQ(queue_file_add_rcpt(qf, "a@b.example", NULL, NULL, 0, &why), 0);
    CHECK(dup2(full, queue_file_fd(qf)) >= 0);
    CHECK_INTEQ(queue_file_write(qf, big, 200000, &why), -1);
    CHECK_INTEQ(queue_file_error(qf), QUEUE_ERR_NOSPACE);
    CHECK(queue_error_temporary(queue_file_error(qf)));
    CHECK(strstr(why, "No space") != NULL);
    /* The temporary file is gone at once; later calls fail the same way. */
    CHECK_INTEQ(count_entries(incoming), 0);
    CHECK_INTEQ(queue_file_write(qf, "x", 1, &why), -1);
    CHECK_INTEQ(queue_file_commit(qf, &why), -1);
    CHECK_INTEQ(queue_file_error(qf), QUEUE_ERR_NOSPACE);
    queue_file_abort(&qf);
    CHECK_INTEQ(count_entries(incoming), 0);

    /* Failure at commit (the small content is still in the buffer). */
    CHECK_INTEQ(queue_file_create(incoming, NULL, &qf, &why), 0);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_SENDER, "", &why), 0);
    CHECK_INTEQ(queue_file_add_rcpt(qf, "a@b.example", NULL, NULL, 0, &why), 0);
    CHECK_INTEQ(queue_file_write(qf, "small\n", 6, &why), 0);
    CHECK(dup2(full, queue_file_fd(qf)) >= 0);
    CHECK_INTEQ(queue_file_commit(qf, &why), -1);
    CHECK_INTEQ(queue_file_error(qf), QUEUE_ERR_NOSPACE);
    CHECK_INTEQ(count_entries(incoming), 0);
    queue_file_abort(&qf);
    close(full);
    free(big);
}

/* RLIMIT_FSIZE with SIGXFSZ ignored: write() fails with EFBIG. */
static void test_write_efbig(void)
{
    struct queue_file *qf;
    const char *why = NULL;
    struct rlimit old, lim;
    unsigned char *big = make_content(100000);
    int r = 0;

    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 50000;
    CHECK_INTEQ(queue_file_create(incoming, NULL, &qf, &why), 0);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_SENDER, "", &why), 0);
    CHECK_INTEQ(queue_file_add_rcpt(qf, "a@b.example", NULL, NULL, 0, &why), 0);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    for (int i = 0; i < 10 && r == 0; i++)
        r = queue_file_write(qf, big, 100000, &why);
    if (r == 0)
        r = queue_file_commit(qf, &why);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_INTEQ(r, -1);
    CHECK_INTEQ(queue_file_error(qf), QUEUE_ERR_NOSPACE);
    CHECK_INTEQ(count_entries(incoming), 0);
    queue_file_abort(&qf);
    signal(SIGXFSZ, SIG_DFL);
    free(big);
}

static void test_content_limit(void)
{
    struct queue_limits lim = {.content_max = 1000};
    struct queue_file *qf;
    const char *why = NULL;
    char data[600] = {0};

    CHECK_INTEQ(queue_file_create(incoming, &lim, &qf, &why), 0);
    CHECK_INTEQ(queue_file_write(qf, data, 600, &why), 0);
    CHECK_INTEQ(queue_file_write(qf, data, 400, &why), 0);
    CHECK_INTEQ(queue_file_write(qf, data, 1, &why), -1);
    CHECK_INTEQ(queue_file_error(qf), QUEUE_ERR_TOOBIG);
    CHECK(!queue_error_temporary(QUEUE_ERR_TOOBIG));
    CHECK_INTEQ(count_entries(incoming), 0);
    CHECK_INTEQ(queue_file_commit(qf, &why), -1);
    queue_file_abort(&qf);
}

static void test_envelope_limits_and_input_checks(void)
{
    struct queue_limits lim = {.rcpt_max = 3};
    struct queue_file *qf;
    const char *why = NULL;
    char *huge = malloc(QUEUE_STR_MAX + 2);
    struct buf *path = buf_create(0);

    memset(huge, 'a', QUEUE_STR_MAX + 1);
    huge[QUEUE_STR_MAX + 1] = '\0';
    CHECK_INTEQ(queue_file_create(incoming, &lim, &qf, &why), 0);
    /* Refused calls leave the file usable. */
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_HELO, "bad\r\nhelo", &why), -1);
    CHECK_INTEQ(queue_file_error(qf), QUEUE_ERR_INVALID);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_SENDER, huge, &why), -1);
    CHECK_INTEQ(queue_file_add_rcpt(qf, "", NULL, NULL, 0, &why), -1);
    CHECK_INTEQ(queue_file_add_rcpt(qf, huge, NULL, NULL, 0, &why), -1);
    CHECK_INTEQ(queue_file_add_rcpt(qf, "a@b", "x\ny", NULL, 0, &why), -1);
    CHECK_INTEQ(
        queue_file_add_rcpt(qf, "a@b", NULL, NULL, QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_SUCCESS, &why),
        -1);
    CHECK_INTEQ(queue_file_add_rcpt(qf, "a@b", NULL, NULL, 0x10, &why), -1);
    CHECK_INTEQ(queue_file_add_attr(qf, "Bad Name", "v", &why), -1);
    CHECK_INTEQ(queue_file_add_attr(qf, "", "v", &why), -1);
    CHECK_INTEQ(queue_file_add_attr(qf, "ok", "a\rb", &why), -1);
    CHECK_INTEQ(queue_file_set_flags(qf, 0x80, &why), -1);
    CHECK_INTEQ(queue_file_set_body(qf, (enum queue_body)9, &why), -1);
    CHECK_INTEQ(queue_file_set_ret(qf, (enum queue_ret)9, &why), -1);
    CHECK_INTEQ(queue_file_add_rcpt(qf, "r1@b", NULL, NULL, 0, &why), 0);
    CHECK_INTEQ(queue_file_add_rcpt(qf, "r2@b", NULL, NULL, 0, &why), 0);
    CHECK_INTEQ(queue_file_add_rcpt(qf, "r3@b", NULL, NULL, 0, &why), 0);
    CHECK_INTEQ(queue_file_add_rcpt(qf, "r4@b", NULL, NULL, 0, &why), -1);
    CHECK_INTEQ(queue_file_error(qf), QUEUE_ERR_LIMIT);
    CHECK_INTEQ(count_entries(incoming), 1);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_SENDER, "", &why), 0);
    CHECK_INTEQ(queue_file_commit(qf, &why), 0);
    buf_set(path, queue_file_path(qf));
    queue_file_free(&qf);
    CHECK_INTEQ(count_entries(incoming), 1);
    {
        struct queue_file *rf;

        CHECK_INTEQ(queue_file_open(buf_str(path), 0, &rf, &why), 1);
        if (rf) {
            CHECK_INTEQ(queue_file_envelope(rf)->rcpt_count, 3);
            CHECK_STREQ(queue_file_envelope(rf)->sender, "");
            CHECK(queue_file_envelope(rf)->helo == NULL);
            queue_file_free(&rf);
        }
    }
    empty_dir(incoming);

    /* No sender, no recipients: commit refuses and removes the file. */
    CHECK_INTEQ(queue_file_create(incoming, NULL, &qf, &why), 0);
    CHECK_INTEQ(queue_file_add_rcpt(qf, "r1@b", NULL, NULL, 0, &why), 0);
    CHECK_INTEQ(queue_file_commit(qf, &why), -1);
    CHECK_INTEQ(queue_file_error(qf), QUEUE_ERR_INVALID);
    queue_file_abort(&qf);
    CHECK_INTEQ(queue_file_create(incoming, NULL, &qf, &why), 0);
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_SENDER, "", &why), 0);
    CHECK_INTEQ(queue_file_commit(qf, &why), -1);
    queue_file_abort(&qf);
    CHECK_INTEQ(count_entries(incoming), 0);
    free(huge);
    buf_free(&path);
}

/* ------------------------------------------------------------ status updates */

static void test_status_updates_survive_reopen(void)
{
    struct buf *path = buf_create(0);
    struct queue_file *rf;
    struct queue_slot s;
    struct queue_diag d, got;
    const char *why = NULL;
    char longtext[QUEUE_DIAG_TEXT_MAX + 100];
    const size_t n = 300;

    if (make_file(incoming, n, "x\n", 2, path) < 0) {
        CHECK(!"make_file");
        buf_free(&path);
        return;
    }
    CHECK_INTEQ(queue_file_open(buf_str(path), QUEUE_OPEN_RDWR | QUEUE_OPEN_LOCK, &rf, &why), 1);
    if (rf == NULL)
        goto out;
    memset(&s, 0, sizeof(s));
    s.status = QUEUE_DELIVERED;
    s.attempts = 1;
    s.flags = QUEUE_SLOT_NOTIFIED;
    CHECK_INTEQ(queue_file_rcpt_update(rf, 0, &s, NULL, 0, &why), 0);

    memset(&d, 0, sizeof(d));
    d.status = QUEUE_BOUNCED;
    d.time = 1700000000;
    d.dsn = "5.1.1";
    d.mta = "mx.example.com[192.0.2.1]";
    d.text = "smtp; 550 5.1.1 <rcpt1@example.com>: no\r\nsuch user";
    s.status = QUEUE_BOUNCED;
    s.flags = 0;
    CHECK_INTEQ(queue_file_rcpt_update(rf, 1, &s, &d, 0, &why), 0);

    /* Deferred twice: the later diagnostic wins. */
    d.status = QUEUE_DEFERRED;
    d.dsn = "4.4.1";
    d.mta = NULL;
    d.text = "connect to mx.example.com[192.0.2.1]:25: Connection refused";
    s.status = QUEUE_DEFERRED;
    s.attempts = 1;
    s.next_retry = 1700000300;
    CHECK_INTEQ(queue_file_rcpt_update(rf, n - 1, &s, &d, 0, &why), 0);
    memset(longtext, 'z', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    /* A 2-byte UTF-8 character straddling the cut is dropped whole. */
    longtext[QUEUE_DIAG_TEXT_MAX - 1] = (char)0xc3;
    longtext[QUEUE_DIAG_TEXT_MAX] = (char)0xa9;
    d.text = longtext;
    d.time = 0;
    s.attempts = 2;
    s.next_retry = 1700000900;
    s.flags = QUEUE_SLOT_DELAY_WARNED;
    CHECK_INTEQ(queue_file_rcpt_update(rf, n - 1, &s, &d, QUEUE_UPDATE_NOSYNC, &why), 0);
    CHECK_INTEQ(queue_file_sync(rf, &why), 0);

    /* A malformed DSN code is refused before anything is written. */
    d.dsn = "5.1";
    CHECK_INTEQ(queue_file_rcpt_update(rf, 2, &s, &d, 0, &why), -1);
    CHECK_INTEQ(queue_file_envelope(rf)->rcpts[2].slot.status, QUEUE_PENDING);

    memset(&s, 0, sizeof(s));
    s.attempts = 3;
    s.next_retry = 1700001000;
    CHECK_INTEQ(queue_file_msg_update(rf, &s, 0, &why), 0);
    queue_file_free(&rf);

    CHECK_INTEQ(queue_file_open(buf_str(path), QUEUE_OPEN_RDWR, &rf, &why), 1);
    if (rf == NULL)
        goto out;
    {
        const struct queue_envelope *env = queue_file_envelope(rf);

        CHECK_INTEQ(env->rcpts[0].slot.status, QUEUE_DELIVERED);
        CHECK_INTEQ(env->rcpts[0].slot.attempts, 1);
        CHECK_INTEQ(env->rcpts[0].slot.flags, QUEUE_SLOT_NOTIFIED);
        CHECK(queue_status_done(env->rcpts[0].slot.status));
        CHECK_INTEQ(env->rcpts[1].slot.status, QUEUE_BOUNCED);
        CHECK_INTEQ(env->rcpts[2].slot.status, QUEUE_PENDING);
        CHECK(!queue_status_done(env->rcpts[2].slot.status));
        CHECK_INTEQ(env->rcpts[n - 1].slot.status, QUEUE_DEFERRED);
        CHECK_INTEQ(env->rcpts[n - 1].slot.attempts, 2);
        CHECK(env->rcpts[n - 1].slot.next_retry == 1700000900);
        CHECK_INTEQ(env->rcpts[n - 1].slot.flags, QUEUE_SLOT_DELAY_WARNED);
        CHECK_INTEQ(queue_file_msg_slot(rf)->attempts, 3);
        CHECK(queue_file_msg_slot(rf)->next_retry == 1700001000);
        CHECK_STREQ(queue_status_name(env->rcpts[n - 1].slot.status), "deferred");
    }
    CHECK_INTEQ(queue_file_rcpt_diag(rf, 0, &got, &why), 0);
    CHECK_INTEQ(queue_file_rcpt_diag(rf, 1, &got, &why), 1);
    CHECK(got.time == 1700000000);
    CHECK_INTEQ(got.status, QUEUE_BOUNCED);
    CHECK_STREQ(got.dsn, "5.1.1");
    CHECK_STREQ(got.mta, "mx.example.com[192.0.2.1]");
    CHECK_STREQ(got.text, "smtp; 550 5.1.1 <rcpt1@example.com>: no  such user");
    CHECK_INTEQ(queue_file_rcpt_diag(rf, n - 1, &got, &why), 1);
    CHECK_STREQ(got.dsn, "4.4.1");
    CHECK_STREQ(got.mta, "");
    CHECK_INTEQ(strlen(got.text), QUEUE_DIAG_TEXT_MAX - 1);
    CHECK(got.time >= time(NULL) - 5 && got.time <= time(NULL));
    CHECK_INTEQ(got.status, QUEUE_DEFERRED);

    /* Status changes without a new diagnostic keep the old one. */
    s = queue_file_envelope(rf)->rcpts[1].slot;
    s.flags = QUEUE_SLOT_NOTIFIED;
    CHECK_INTEQ(queue_file_rcpt_update(rf, 1, &s, NULL, 0, &why), 0);
    queue_file_free(&rf);
    CHECK_INTEQ(queue_file_open(buf_str(path), QUEUE_OPEN_VERIFY, &rf, &why), 1);
    if (rf) {
        CHECK_INTEQ(queue_file_envelope(rf)->rcpts[1].slot.flags, QUEUE_SLOT_NOTIFIED);
        CHECK_INTEQ(queue_file_rcpt_diag(rf, 1, &got, &why), 1);
        CHECK_STREQ(got.dsn, "5.1.1");
        queue_file_free(&rf);
    }
out:
    empty_dir(incoming);
    buf_free(&path);
}

static void test_lock(void)
{
    struct buf *path = buf_create(0);
    struct queue_file *a, *b;
    const char *why = NULL;

    CHECK_INTEQ(make_file(incoming, 1, "x\n", 2, path), 0);
    CHECK_INTEQ(queue_file_open(buf_str(path), QUEUE_OPEN_LOCK, &a, &why), 1);
    CHECK_INTEQ(queue_file_open(buf_str(path), QUEUE_OPEN_LOCK, &b, &why), -1);
    CHECK(errno == EWOULDBLOCK);
    CHECK(b == NULL);
    CHECK_STREQ(why, "locked by another process");
    /* Readers that do not lock are not stopped. */
    CHECK_INTEQ(queue_file_open(buf_str(path), 0, &b, &why), 1);
    queue_file_free(&b);
    queue_file_free(&a);
    CHECK_INTEQ(queue_file_open(buf_str(path), QUEUE_OPEN_LOCK, &b, &why), 1);
    queue_file_free(&b);
    empty_dir(incoming);
    buf_free(&path);
}

/* ------------------------------------------------------------ damaged files */

/* Open path and expect "corrupt" with a reason containing want. */
static void expect_corrupt(const char *path, int flags, const char *want, int line)
{
    struct queue_file *rf = NULL;
    const char *why = NULL;
    int r = queue_file_open(path, flags, &rf, &why);

    if (r != 0 || why == NULL || strstr(why, want) == NULL) {
        fprintf(stderr, "  line %d: open returned %d, reason \"%s\", wanted \"%s\"\n", line, r,
                why ? why : "(null)", want);
        test_case_failed = 1;
    }
    if (rf != NULL) {
        test_case_failed = 1;
        queue_file_free(&rf);
    }
}

#define EXPECT_CORRUPT(path, flags, want) expect_corrupt(path, flags, want, __LINE__)

/* Recompute every checksum (header, envelope, end record) after a mutation. */
static void fix_checksums(unsigned char *d, size_t len)
{
    uint64_t env_off = rd64(d + 48), end_off = rd64(d + 72);
    uint32_t env_len = rd32(d + 56);

    if (env_off <= len && env_len <= len - env_off)
        wr32(d + 84, ref_crc32c(0, d + env_off, env_len));
    wr32(d + 92, ref_crc32c(0, d, 92));
    if (end_off <= len && len - end_off >= 24) {
        memcpy(d + end_off + 16, d + 92, 4);
        wr32(d + end_off + 20, ref_crc32c(0, d + end_off, 20));
    }
}

static void test_corrupt_files(void)
{
    struct buf *path = buf_create(0);
    char other[600], link_path[600], fifo[600];
    struct queue_file *rf;
    const char *why = NULL;
    unsigned char *orig, *d;
    size_t len;
    uint64_t env_off;
    char content[] = "Subject: test\n\nline 1\nline 2\n";
    char id2[QUEUE_ID_SIZE];

    if (make_file(incoming, 3, content, sizeof(content) - 1, path) < 0) {
        CHECK(!"make_file");
        buf_free(&path);
        return;
    }
    orig = slurp(buf_str(path), &len);
    d = malloc(len);
    env_off = rd64(orig + 48);

    /* Empty, short, garbage. */
    spit(buf_str(path), "", 0);
    EXPECT_CORRUPT(buf_str(path), 0, "empty file");
    spit(buf_str(path), orig, 50);
    EXPECT_CORRUPT(buf_str(path), 0, "shorter than the header");
    for (size_t i = 0; i < len; i++)
        d[i] = (unsigned char)rng();
    spit(buf_str(path), d, len);
    EXPECT_CORRUPT(buf_str(path), 0, "not a queue file");
    spit(buf_str(path), "From alice Mon Jan  1 00:00:00 2024\nSubject: hi\n\nhello\n", 55);
    EXPECT_CORRUPT(buf_str(path), 0, "not a queue file");

    /* Truncated by one byte: the end record is missing. */
    spit(buf_str(path), orig, len - 1);
    EXPECT_CORRUPT(buf_str(path), 0, "truncated");

    /* Bad version (with a correct header checksum, so the version is what fails). */
    memcpy(d, orig, len);
    d[9] = 2;
    fix_checksums(d, len);
    spit(buf_str(path), d, len);
    EXPECT_CORRUPT(buf_str(path), 0, "unsupported format version 2");

    /* Header bit flip. */
    memcpy(d, orig, len);
    d[45] ^= 0x01;
    spit(buf_str(path), d, len);
    EXPECT_CORRUPT(buf_str(path), 0, "header checksum mismatch");

    /* A flipped record length byte: the envelope checksum catches it... */
    memcpy(d, orig, len);
    d[env_off + 4] ^= 0x40;
    spit(buf_str(path), d, len);
    EXPECT_CORRUPT(buf_str(path), 0, "envelope checksum mismatch");
    /* ...and with the checksum recomputed, the record structure does. */
    fix_checksums(d, len);
    spit(buf_str(path), d, len);
    EXPECT_CORRUPT(buf_str(path), 0, "envelope record 1");

    /* Unknown record type, duplicate record, wrong recipient count. */
    memcpy(d, orig, len);
    d[env_off] = 'Q';
    fix_checksums(d, len);
    spit(buf_str(path), d, len);
    EXPECT_CORRUPT(buf_str(path), 0, "unknown record type 'Q'");
    memcpy(d, orig, len);
    d[env_off + 13] = 'T'; /* the sender record becomes a second time record */
    fix_checksums(d, len);
    spit(buf_str(path), d, len);
    EXPECT_CORRUPT(buf_str(path), 0, "envelope record 2");
    memcpy(d, orig, len);
    wr32(d + 60, 2);
    fix_checksums(d, len);
    spit(buf_str(path), d, len);
    EXPECT_CORRUPT(buf_str(path), 0, "offset");

    /* Content damage: found by VERIFY, or at the end of streaming. */
    memcpy(d, orig, len);
    d[96 + 3] ^= 0x20;
    spit(buf_str(path), d, len);
    EXPECT_CORRUPT(buf_str(path), QUEUE_OPEN_VERIFY, "content checksum mismatch");
    CHECK_INTEQ(queue_file_open(buf_str(path), 0, &rf, &why), 1);
    if (rf) {
        char b[256];
        size_t n;
        int r;

        while ((r = queue_file_content_read(rf, b, sizeof(b), &n, &why)) == 1)
            ;
        CHECK_INTEQ(r, -1);
        CHECK(queue_file_corrupt(rf));
        CHECK_STREQ(why, "content checksum mismatch");
        CHECK_INTEQ(queue_file_verify_content(rf, &why), 0);
        queue_file_free(&rf);
    }

    /* A torn status slot reads as pending (at-least-once), not as corrupt. */
    memcpy(d, orig, len);
    d[rd64(orig + 64) + 32 * 2 + 5] ^= 0x01;
    spit(buf_str(path), d, len);
    CHECK_INTEQ(queue_file_open(buf_str(path), 0, &rf, &why), 1);
    if (rf) {
        CHECK_INTEQ(queue_file_envelope(rf)->rcpts[1].slot.status, QUEUE_PENDING);
        queue_file_free(&rf);
    }

    /* The header's queue ID must match the file name. */
    spit(buf_str(path), orig, len);
    queue_id_format(id2, 12345, 678);
    snprintf(other, sizeof(other), "%s/%s.msg", incoming, id2);
    CHECK(rename(buf_str(path), other) == 0);
    EXPECT_CORRUPT(other, 0, "does not match the file name");
    /* Any other name (a copy for inspection) is fine. */
    snprintf(other + strlen(other) - 4, 10, ".copy");
    spit(other, orig, len);
    CHECK_INTEQ(queue_file_open(other, 0, &rf, &why), 1);
    queue_file_free(&rf);

    /* Not a regular file, a symlink, missing. */
    snprintf(link_path, sizeof(link_path), "%s/link", incoming);
    CHECK(symlink(other, link_path) == 0);
    EXPECT_CORRUPT(link_path, 0, "symbolic link");
    snprintf(fifo, sizeof(fifo), "%s/fifo", incoming);
    CHECK(mkfifo(fifo, 0600) == 0);
    EXPECT_CORRUPT(fifo, 0, "not a regular file");
    EXPECT_CORRUPT(incoming, 0, "not a regular file");
    snprintf(other, sizeof(other), "%s/missing.msg", incoming);
    CHECK_INTEQ(queue_file_open(other, 0, &rf, &why), -1);
    CHECK(errno == ENOENT);

    free(orig);
    free(d);
    empty_dir(incoming);
    buf_free(&path);
}

/*
 * Fuzz-like: truncate a valid file (with an appended diagnostic) at every
 * offset, and flip every byte: each result is rejected, or read
 * consistently. Any memory error shows up under ASan.
 */
static void test_truncate_and_flip_everywhere(void)
{
    struct buf *path = buf_create(0);
    struct queue_file *rf;
    struct queue_slot s = {0};
    struct queue_diag dg = {0}, got;
    const char *why = NULL;
    unsigned char *orig, *d;
    size_t len;
    uint64_t status_off, end_off;
    char content[] = "Subject: fuzz\n\n\0binary\377\n";
    int r0;
    char cut[600];
    int accepted = 0, rejected = 0;

    make_rich = true;
    r0 = make_file(incoming, 3, content, sizeof(content), path);
    make_rich = false;
    if (r0 < 0) {
        CHECK(!"make_file");
        buf_free(&path);
        return;
    }
    CHECK_INTEQ(queue_file_open(buf_str(path), QUEUE_OPEN_RDWR, &rf, &why), 1);
    if (rf == NULL)
        goto out;
    s.status = QUEUE_BOUNCED;
    dg.status = QUEUE_BOUNCED;
    dg.dsn = "5.7.1";
    dg.mta = "mx";
    dg.text = "smtp; 550 relay denied";
    CHECK_INTEQ(queue_file_rcpt_update(rf, 2, &s, &dg, 0, &why), 0);
    queue_file_free(&rf);
    orig = slurp(buf_str(path), &len);
    d = malloc(len);
    status_off = rd64(orig + 64);
    end_off = rd64(orig + 72);
    snprintf(cut, sizeof(cut), "%s/cut", incoming);

    for (size_t at = 0; at < len; at++) {
        int r;

        spit(cut, orig, at);
        r = queue_file_open(cut, QUEUE_OPEN_VERIFY, &rf, &why);
        if (at < end_off + 24) {
            if (r != 0)
                fprintf(stderr, "  truncated at %zu: open returned %d\n", at, r);
            CHECK_INTEQ(r, 0);
        } else {
            /* Only the diagnostic is cut: the file is fine, the text is lost. */
            CHECK_INTEQ(r, 1);
            if (rf) {
                CHECK_INTEQ(queue_file_envelope(rf)->rcpts[2].slot.status, QUEUE_BOUNCED);
                CHECK_INTEQ(queue_file_rcpt_diag(rf, 2, &got, &why), 0);
            }
        }
        queue_file_free(&rf);
    }

    msg_set_flags(0); /* torn-slot warnings are expected below */
    for (size_t at = 0; at < len; at++) {
        int r;

        memcpy(d, orig, len);
        d[at] ^= 0xff;
        spit(cut, d, len);
        r = queue_file_open(cut, QUEUE_OPEN_VERIFY, &rf, &why);
        if (r == 1) {
            accepted++;
            /* Only a slot or the appended diagnostic can take a flip. */
            CHECK(at >= status_off && (at < end_off || at >= end_off + 24));
            if (at >= end_off + 24) {
                CHECK_INTEQ(queue_file_rcpt_diag(rf, 2, &got, &why), 0);
            } else if (rf) {
                size_t slot = (at - status_off) / 32;

                if (slot > 0)
                    CHECK_INTEQ(queue_file_envelope(rf)->rcpts[slot - 1].slot.status,
                                QUEUE_PENDING);
            }
            queue_file_free(&rf);
        } else {
            rejected++;
            CHECK_INTEQ(r, 0);
            CHECK(rf == NULL);
        }
    }
    msg_set_flags(MSG_TO_STDERR);
    CHECK(accepted > 0 && rejected > 0);
    free(orig);
    free(d);
out:
    empty_dir(incoming);
    buf_free(&path);
}

/*
 * Structure-preserving mutations: random bytes of the header and envelope
 * changed, then every checksum recomputed, so that the record parser and
 * the offset checks (not the CRCs) must reject or accept. Never a crash.
 */
static void test_mutations_with_valid_checksums(void)
{
    struct buf *path = buf_create(0);
    struct queue_file *rf;
    const char *why = NULL;
    unsigned char *orig, *d;
    size_t len;
    char cut[600];
    int results[2] = {0, 0};
    int r0;

    make_rich = true;
    r0 = make_file(incoming, 4, "hello\n", 6, path);
    make_rich = false;
    if (r0 < 0) {
        CHECK(!"make_file");
        buf_free(&path);
        return;
    }
    orig = slurp(buf_str(path), &len);
    d = malloc(len);
    snprintf(cut, sizeof(cut), "%s/mut", incoming);
    msg_set_flags(0);
    for (int iter = 0; iter < 10000; iter++) {
        uint64_t env_off = rd64(orig + 48);
        uint32_t env_len = rd32(orig + 56);
        int nmut = 1 + (int)(rng() % 4);
        int r;

        memcpy(d, orig, len);
        for (int k = 0; k < nmut; k++) {
            size_t at;

            if (rng() % 4 == 0)
                at = 32 + rng() % 56; /* header offsets and lengths */
            else
                at = env_off + rng() % env_len;
            switch (rng() % 3) {
            case 0:
                d[at] = (unsigned char)rng();
                break;
            case 1:
                d[at] ^= (unsigned char)(1u << (rng() % 8));
                break;
            default:
                d[at] = rng() % 2 ? 0 : 0xff;
                break;
            }
        }
        fix_checksums(d, len);
        spit(cut, d, len);
        r = queue_file_open(cut, QUEUE_OPEN_VERIFY, &rf, &why);
        CHECK(r == 0 || r == 1);
        if (r == 1) {
            const struct queue_envelope *env = queue_file_envelope(rf);

            /* Whatever was accepted is self-consistent. */
            CHECK(env->sender != NULL && env->rcpt_count >= 1);
            for (size_t i = 0; i < env->rcpt_count; i++)
                CHECK(env->rcpts[i].address != NULL && env->rcpts[i].address[0] != '\0');
            queue_file_free(&rf);
        }
        results[r == 1]++;
    }
    msg_set_flags(MSG_TO_STDERR);
    printf("  %d mutated files rejected, %d accepted\n", results[0], results[1]);
    CHECK(results[0] > 0);
    free(orig);
    free(d);
    empty_dir(incoming);
    buf_free(&path);
}

/* ------------------------------------------------------------ directories */

static void test_directory_helpers(void)
{
    struct buf *path = buf_create(0), *p2 = buf_create(0);
    struct argv *ids = argv_create(4);
    char ids_made[3][QUEUE_ID_SIZE], junk[600];
    struct queue_file *qf;
    const char *why = NULL;
    int n;

    for (int i = 0; i < 3; i++) {
        CHECK_INTEQ(make_file(incoming, 1, "x\n", 2, path), 0);
        memcpy(ids_made[i], strrchr(buf_str(path), '/') + 1, QUEUE_ID_LEN);
        ids_made[i][QUEUE_ID_LEN] = '\0';
    }
    /* Noise that the listing must ignore. */
    CHECK_INTEQ(queue_file_create(incoming, NULL, &qf, &why), 0); /* an unfinished .tmp */
    snprintf(junk, sizeof(junk), "%s/README", incoming);
    spit(junk, "x", 1);
    snprintf(junk, sizeof(junk), "%s/0000000000000000.msg.bak", incoming);
    spit(junk, "x", 1);
    snprintf(junk, sizeof(junk), "%s/000000000000000a.msg", incoming);
    spit(junk, "x", 1);

    n = queue_file_list(incoming, ids, &why);
    CHECK_INTEQ(n, 3);
    for (int i = 0; i < 3 && i < n; i++)
        CHECK_STREQ(ids->argv[i], ids_made[i]); /* oldest first */

    /* Move incoming -> active -> deferred; never over an existing file. */
    CHECK_INTEQ(queue_file_move(incoming, active, ids_made[0], &why), 0);
    CHECK_INTEQ(queue_file_move(active, deferred, ids_made[0], &why), 0);
    queue_file_name(path, deferred, ids_made[0]);
    CHECK(access(buf_str(path), F_OK) == 0);
    queue_file_name(p2, incoming, ids_made[0]);
    CHECK(access(buf_str(p2), F_OK) < 0);
    spit(buf_str(p2), "other", 5);
    CHECK_INTEQ(queue_file_move(incoming, deferred, ids_made[0], &why), -1);
    CHECK(errno == EEXIST);
    CHECK(why != NULL && strstr(why, "rename") != NULL);
    unlink(buf_str(p2));
    CHECK_INTEQ(queue_file_move(incoming, active, ids_made[0], &why), -1);
    CHECK(errno == ENOENT);
    CHECK_INTEQ(queue_file_move(deferred, active, "../x", &why), -1);
    CHECK(errno == EINVAL);
    CHECK_INTEQ(queue_file_move(deferred, active, "../incoming/0000000000000000", &why), -1);
    /* The unsynchronized move: same rename, same refusals. */
    CHECK_INTEQ(queue_file_move_flags(deferred, active, ids_made[0], QUEUE_MOVE_NOSYNC, &why), 0);
    queue_file_name(path, active, ids_made[0]);
    CHECK(access(buf_str(path), F_OK) == 0);
    CHECK_INTEQ(queue_file_move_flags(deferred, active, ids_made[0], QUEUE_MOVE_NOSYNC, &why), -1);
    CHECK(errno == ENOENT);
    CHECK_INTEQ(queue_file_move_flags(active, deferred, "../x", QUEUE_MOVE_NOSYNC, &why), -1);
    CHECK(errno == EINVAL);
    CHECK_INTEQ(queue_file_move_flags(active, deferred, ids_made[0], QUEUE_MOVE_NOSYNC, &why), 0);
    CHECK_INTEQ(queue_file_remove(deferred, "../x", &why), -1);
    CHECK_INTEQ(queue_file_remove(deferred, ids_made[0], &why), 0);
    CHECK_INTEQ(queue_file_remove(deferred, ids_made[0], &why), -1);
    CHECK(errno == ENOENT);

    /* Unfinished files: a recent one survives an age limit, then goes. */
    msg_set_flags(0);
    CHECK_INTEQ(queue_file_clean_tmp(incoming, 3600, &why), 0);
    CHECK_INTEQ(queue_file_clean_tmp(incoming, 0, &why), 1);
    msg_set_flags(MSG_TO_STDERR);
    CHECK_INTEQ(queue_file_clean_tmp(incoming, 0, &why), 0);
    /* The writer whose file was removed fails at commit, as it should. */
    CHECK_INTEQ(queue_file_set_str(qf, QUEUE_F_SENDER, "", &why), 0);
    CHECK_INTEQ(queue_file_add_rcpt(qf, "a@b", NULL, NULL, 0, &why), 0);
    CHECK_INTEQ(queue_file_commit(qf, &why), -1);
    queue_file_abort(&qf);
    CHECK_INTEQ(queue_file_list(incoming, ids, &why), 2); /* appends */
    CHECK_INTEQ(ids->argc, 5);
    CHECK_INTEQ(queue_file_list(corrupt_dir, ids, &why), 0);
    snprintf(junk, sizeof(junk), "%s/nope", topdir);
    CHECK_INTEQ(queue_file_list(junk, ids, &why), -1);
    CHECK_INTEQ(queue_file_clean_tmp(junk, 0, &why), -1);
    argv_free(&ids);
    empty_dir(incoming);
    buf_free(&path);
    buf_free(&p2);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");

    msg_init("test_queue_file", MSG_TO_STDERR);
    snprintf(topdir, sizeof(topdir), "%s/test_queue.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(topdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(incoming, sizeof(incoming), "%s/incoming", topdir);
    snprintf(active, sizeof(active), "%s/active", topdir);
    snprintf(deferred, sizeof(deferred), "%s/deferred", topdir);
    snprintf(corrupt_dir, sizeof(corrupt_dir), "%s/corrupt", topdir);
    mkdir(incoming, 0700);
    mkdir(active, 0700);
    mkdir(deferred, 0700);
    mkdir(corrupt_dir, 0700);

    TEST_RUN(test_round_trip);
    TEST_RUN(test_format_layout);
    TEST_RUN(test_empty_content);
    TEST_RUN(test_abort_removes_temp);
    TEST_RUN(test_create_fails_cleanly);
    TEST_RUN(test_write_enospc);
    TEST_RUN(test_write_efbig);
    TEST_RUN(test_content_limit);
    TEST_RUN(test_envelope_limits_and_input_checks);
    TEST_RUN(test_status_updates_survive_reopen);
    TEST_RUN(test_lock);
    TEST_RUN(test_corrupt_files);
    TEST_RUN(test_truncate_and_flip_everywhere);
    TEST_RUN(test_mutations_with_valid_checksums);
    TEST_RUN(test_directory_helpers);

    nftw(topdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return test_summary();
}
