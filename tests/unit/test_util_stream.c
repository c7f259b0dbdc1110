/*
 * Unit tests for lib/util/stream: line reading fed in one piece, one byte
 * per read call, and one byte per write from a child process; over-long
 * lines; EOF mid-line; timeouts and deadlines on silent or dripping peers;
 * exact reads; output buffering, flushing and write errors.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util/buf.h"
#include "lib/util/clock.h"
#include "lib/util/mem.h"
#include "lib/util/stream.h"
#include "tests/unit/test.h"

/* In-memory input served in chunks of at most chunk bytes per read call. */
struct memsrc {
    const char *data;
    size_t len;
    size_t pos;
    size_t chunk;
    int calls;
};

static ssize_t mem_read(int fd, void *data, size_t len, int timeout_ms, void *ctx)
{
    struct memsrc *m = ctx;
    size_t n = m->len - m->pos;

    m->calls++;
    if (n > m->chunk)
        n = m->chunk;
    if (n > len)
        n = len;
    memcpy(data, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static ssize_t no_write(int fd, const void *data, size_t len, int timeout_ms, void *ctx)
{
    errno = EBADF;
    return -1;
}

/* Fork a child that writes data to fd one byte per write, pausing between. */
static pid_t feed_child(int fd, int other, const char *data, size_t len, int pause_us)
{
    pid_t pid = fork();

    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        close(other);
        for (size_t i = 0; i < len; i++) {
            if (write(fd, data + i, 1) != 1)
                _exit(2);
            if (pause_us)
                usleep((useconds_t)pause_us);
        }
        _exit(0);
    }
    close(fd);
    return pid;
}

/* Reap a child, returning its exit status (or 128+signal). */
static int reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* One expected result of stream_read_line. */
struct want {
    int ret;
    const char *line;
    size_t len; /* 0: strlen(line) */
    enum stream_line_end end;
};

struct line_case {
    const char *input;
    size_t max;
    struct want want[6]; /* ends with ret 0 (EOF) */
};

static const struct line_case line_cases[] = {
    {"abc\r\n", 5, {{1, "abc", 0, STREAM_LINE_CRLF}, {0, NULL, 0, 0}}},
    {"abc\n", 5, {{1, "abc", 0, STREAM_LINE_LF}, {0, NULL, 0, 0}}},
    {"\r\n", 5, {{1, "", 0, STREAM_LINE_CRLF}, {0, NULL, 0, 0}}},
    {"\n", 5, {{1, "", 0, STREAM_LINE_LF}, {0, NULL, 0, 0}}},
    {"abcde\r\n", 5, {{1, "abcde", 0, STREAM_LINE_CRLF}, {0, NULL, 0, 0}}},
    {"abcde\n", 5, {{1, "abcde", 0, STREAM_LINE_LF}, {0, NULL, 0, 0}}},
    {"abcd\r\n", 5, {{1, "abcd", 0, STREAM_LINE_CRLF}, {0, NULL, 0, 0}}},
    {"abcdef\r\n", 5,
     {{1, "abcde", 0, STREAM_LINE_TOO_LONG}, {1, "f", 0, STREAM_LINE_CRLF}, {0, NULL, 0, 0}}},
    {"abcdefghijklm\n", 5,
     {{1, "abcde", 0, STREAM_LINE_TOO_LONG},
      {1, "fghij", 0, STREAM_LINE_TOO_LONG},
      {1, "klm", 0, STREAM_LINE_LF},
      {0, NULL, 0, 0}}},
    {"abcde\rX\n", 5,
     {{1, "abcde", 0, STREAM_LINE_TOO_LONG}, {1, "\rX", 0, STREAM_LINE_LF}, {0, NULL, 0, 0}}},
    {"abcd\r\r\n", 5, {{1, "abcd\r", 0, STREAM_LINE_CRLF}, {0, NULL, 0, 0}}},
    {"ab\rc\n", 5, {{1, "ab\rc", 0, STREAM_LINE_LF}, {0, NULL, 0, 0}}},
    {"a\0b\r\n", 5, {{1, "a\0b", 3, STREAM_LINE_CRLF}, {0, NULL, 0, 0}}},
    {"abc", 5, {{1, "abc", 0, STREAM_LINE_EOF}, {0, NULL, 0, 0}}},
    {"abc\r", 5, {{1, "abc\r", 0, STREAM_LINE_EOF}, {0, NULL, 0, 0}}},
    {"abcde\r", 5,
     {{1, "abcde", 0, STREAM_LINE_TOO_LONG}, {1, "\r", 0, STREAM_LINE_EOF}, {0, NULL, 0, 0}}},
    {"", 5, {{0, NULL, 0, 0}}},
    {"a\r\nb\nc", 5,
     {{1, "a", 0, STREAM_LINE_CRLF},
      {1, "b", 0, STREAM_LINE_LF},
      {1, "c", 0, STREAM_LINE_EOF},
      {0, NULL, 0, 0}}},
    {"\n\n\r\n", 1,
     {{1, "", 0, STREAM_LINE_LF},
      {1, "", 0, STREAM_LINE_LF},
      {1, "", 0, STREAM_LINE_CRLF},
      {0, NULL, 0, 0}}},
    {"xy\n", 1,
     {{1, "x", 0, STREAM_LINE_TOO_LONG}, {1, "y", 0, STREAM_LINE_LF}, {0, NULL, 0, 0}}},
};

/* Check all expected lines of one case against a stream. */
static void check_lines(struct stream *s, const struct line_case *c, const char *how)
{
    struct buf *line = buf_create(0);

    for (int i = 0;; i++) {
        const struct want *w = &c->want[i];
        enum stream_line_end end = (enum stream_line_end)-1;
        int r = stream_read_line(s, line, c->max, &end);
        size_t wlen = w->line ? (w->len ? w->len : strlen(w->line)) : 0;

        if (r != w->ret) {
            fprintf(stderr, "  case \"%s\" (%s) line %d: ret %d, want %d\n", c->input, how, i,
                    r, w->ret);
            test_case_failed = 1;
            break;
        }
        if (r != 1)
            break;
        if (end != w->end || line->len != wlen || memcmp(line->data, w->line, wlen) != 0) {
            fprintf(stderr, "  case \"%s\" (%s) line %d: got \"%s\"/%zu end %d, want \"%s\" end %d\n",
                    c->input, how, i, line->data, line->len, end, w->line, w->end);
            test_case_failed = 1;
        }
        CHECK(line->len <= c->max);
    }
    CHECK(!stream_error(s));
    CHECK(!stream_timed_out(s));
    buf_free(&line);
}

/* Input length of a case (one input holds a NUL before its end). */
static size_t case_len(const struct line_case *c)
{
    if (c->input[0] == 'a' && c->input[1] == '\0' && c->input[2] == 'b')
        return 5;
    return strlen(c->input);
}

static void test_read_line_chunks(void)
{
    for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
        const struct line_case *c = &line_cases[i];
        size_t chunks[] = {1, 2, 3, 1000};

        for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
            struct memsrc m = {c->input, case_len(c), 0, chunks[k], 0};
            struct stream *s = stream_open(0, STREAM_NOCLOSE);
            char how[32];

            stream_set_io(s, mem_read, no_write, &m);
            snprintf(how, sizeof(how), "chunk %zu", chunks[k]);
            check_lines(s, c, how);
            if (chunks[k] == 1)
                CHECK(m.calls >= (int)m.len);
            stream_free(&s);
        }
    }
}

/*
 * Random inputs over {a, CR, LF} with random max and chunk sizes. Whatever
 * the split, the pieces plus their terminators must give back the input
 * exactly, no piece exceeds max, and each end code is the right one.
 */
static void test_read_line_random(void)
{
    unsigned int seed = 12345;
    struct buf *line = buf_create(0);
    struct buf *again = buf_create(0);
    char in[64];

    for (int round = 0; round < 20000; round++) {
        size_t len, max, chunk;
        struct memsrc m;
        struct stream *s;
        enum stream_line_end end;
        int r;

        seed = seed * 1103515245 + 12345;
        len = (seed >> 16) % sizeof(in);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245 + 12345;
            in[i] = "aa\r\n"[(seed >> 16) % 4];
        }
        seed = seed * 1103515245 + 12345;
        max = 1 + (seed >> 16) % 6;
        seed = seed * 1103515245 + 12345;
        chunk = 1 + (seed >> 16) % 4;
        m = (struct memsrc){in, len, 0, chunk, 0};
        s = stream_open(0, STREAM_NOCLOSE);
        stream_set_io(s, mem_read, no_write, &m);
        buf_reset(again);
        while ((r = stream_read_line(s, line, max, &end)) == 1) {
            size_t at = buf_len(again);

            CHECK(buf_len(line) <= max);
            buf_append(again, buf_str(line), buf_len(line));
            switch (end) {
            case STREAM_LINE_CRLF:
                buf_puts(again, "\r\n");
                break;
            case STREAM_LINE_LF:
                /* A CR before the LF would have made it CRLF. */
                CHECK(buf_len(line) == 0 || buf_str(line)[buf_len(line) - 1] != '\r');
                buf_puts(again, "\n");
                break;
            case STREAM_LINE_TOO_LONG: {
                size_t next = buf_len(again);

                CHECK_INTEQ(buf_len(line), max);
                /* Had the line ended right here, it would not be too long. */
                CHECK(next >= len || in[next] != '\n');
                CHECK(next + 1 >= len || in[next] != '\r' || in[next + 1] != '\n');
                break;
            }
            case STREAM_LINE_EOF:
                CHECK(buf_len(again) == len);
                break;
            }
            CHECK(memcmp(buf_str(again) + at, in + at, buf_len(again) - at) == 0);
            if (test_case_failed)
                break;
        }
        CHECK_INTEQ(r, 0);
        CHECK_INTEQ(buf_len(again), len);
        CHECK(memcmp(buf_str(again), in, len) == 0);
        stream_free(&s);
        if (test_case_failed) {
            fprintf(stderr, "  round %d: max %zu chunk %zu len %zu\n", round, max, chunk, len);
            break;
        }
    }
    buf_free(&line);
    buf_free(&again);
}

static void test_read_line_child_bytewise(void)
{
    for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
        const struct line_case *c = &line_cases[i];
        int sv[2];
        pid_t pid;
        struct stream *s;

        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
            CHECK(!"socketpair");
            return;
        }
        pid = feed_child(sv[1], sv[0], c->input, case_len(c), 200);
        s = stream_open(sv[0], 0);
        stream_set_timeout(s, 5000);
        check_lines(s, c, "child bytewise");
        stream_free(&s);
        CHECK_INTEQ(reap(pid), 0);
    }
}

/* A line longer than the stream buffer, and a long line skipped. */
static void test_read_line_big(void)
{
    size_t big = 3 * STREAM_BUFSIZE + 17;
    struct buf *in = buf_create(big + 64);
    struct buf *line = buf_create(0);
    enum stream_line_end end;

    for (size_t i = 0; i < big; i++)
        buf_putc(in, 'a' + (int)(i % 26));
    buf_puts(in, "\r\nnext\r\n");
    {
        char *copy = mem_memdup(buf_str(in), big); /* a second long line */

        buf_append(in, copy, big);
        mem_free(copy);
    }
    buf_puts(in, "\nlast\r\n");

    for (size_t chunk = 1; chunk <= 4096; chunk *= 64) {
        struct memsrc m = {buf_str(in), buf_len(in), 0, chunk, 0};
        struct stream *s = stream_open(0, STREAM_NOCLOSE);

        stream_set_io(s, mem_read, no_write, &m);
        CHECK_INTEQ(stream_read_line(s, line, big, &end), 1);
        CHECK_INTEQ(end, STREAM_LINE_CRLF);
        CHECK_INTEQ(buf_len(line), big);
        CHECK(memcmp(buf_str(line), buf_str(in), big) == 0);
        CHECK_INTEQ(stream_read_line(s, line, 998, &end), 1);
        CHECK_STREQ(buf_str(line), "next");
        /* The SMTP way: take 998 bytes, discard the rest, answer, go on. */
        CHECK_INTEQ(stream_read_line(s, line, 998, &end), 1);
        CHECK_INTEQ(end, STREAM_LINE_TOO_LONG);
        CHECK_INTEQ(buf_len(line), 998);
        CHECK_INTEQ(stream_skip_line(s), 1);
        CHECK_INTEQ(stream_read_line(s, line, 998, &end), 1);
        CHECK_STREQ(buf_str(line), "last");
        CHECK_INTEQ(end, STREAM_LINE_CRLF);
        CHECK_INTEQ(stream_read_line(s, line, 998, &end), 0);
        CHECK_INTEQ(stream_skip_line(s), 0);
        CHECK(stream_eof(s));
        CHECK_INTEQ(stream_bytes_in(s), buf_len(in));
        stream_free(&s);
    }
    buf_free(&in);
    buf_free(&line);
}

static void test_timeout_silent_peer(void)
{
    int sv[2];
    struct stream *s;
    struct buf *line = buf_create(0);
    enum stream_line_end end;
    long long t0, dt;
    char got[16] = "";

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        CHECK(!"socketpair");
        return;
    }
    s = stream_open(sv[0], 0);
    stream_set_timeout(s, 200);
    CHECK_INTEQ(stream_get_timeout(s), 200);
    t0 = clock_now_ms();
    CHECK_INTEQ(stream_read_line(s, line, 100, &end), -1);
    dt = clock_now_ms() - t0;
    CHECK(dt >= 190 && dt < 1500);
    CHECK(stream_timed_out(s));
    CHECK(!stream_error(s));
    CHECK(!stream_eof(s));
    CHECK_INTEQ(stream_errno(s), ETIMEDOUT);
    CHECK_STREQ(stream_strerror(s), "timeout");
    /* Sticky: the next read fails at once. */
    t0 = clock_now_ms();
    CHECK_INTEQ(stream_read_line(s, line, 100, &end), -1);
    CHECK(clock_now_ms() - t0 < 100);
    /* Writing still works after a read timeout (the "421 timeout" reply). */
    CHECK_INTEQ(stream_puts(s, "421 timeout\r\n"), 0);
    CHECK_INTEQ(stream_flush(s), 0);
    CHECK_INTEQ(read(sv[1], got, sizeof(got) - 1), 13);
    CHECK_STREQ(got, "421 timeout\r\n");
    stream_free(&s);
    close(sv[1]);
    buf_free(&line);
}

/* A peer dripping one byte per 50 ms never trips a 300 ms per-wait timeout. */
static void test_deadline_dripping_peer(void)
{
    static const char drip[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n";
    int sv[2];
    pid_t pid;
    struct stream *s;
    struct buf *line = buf_create(0);
    enum stream_line_end end;
    long long t0, dt;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        CHECK(!"socketpair");
        return;
    }
    pid = feed_child(sv[1], sv[0], drip, sizeof(drip) - 1, 50000);
    s = stream_open(sv[0], 0);
    stream_set_timeout(s, 300);
    stream_set_deadline(s, 400);
    t0 = clock_now_ms();
    CHECK_INTEQ(stream_read_line(s, line, 100, &end), -1);
    dt = clock_now_ms() - t0;
    CHECK(dt >= 380 && dt < 1500);
    CHECK(stream_timed_out(s));
    CHECK(buf_len(line) >= 3 && buf_len(line) < sizeof(drip) - 1);
    stream_free(&s); /* the child gets EPIPE and exits */
    reap(pid);

    /* Without the deadline the whole line arrives. */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        CHECK(!"socketpair");
        return;
    }
    pid = feed_child(sv[1], sv[0], drip, 10, 20000);
    s = stream_open(sv[0], 0);
    stream_set_timeout(s, 300);
    stream_set_deadline(s, 400);
    stream_clear_deadline(s);
    CHECK_INTEQ(stream_read_line(s, line, 100, &end), 1);
    CHECK_INTEQ(end, STREAM_LINE_EOF);
    CHECK_INTEQ(buf_len(line), 10);
    stream_free(&s);
    CHECK_INTEQ(reap(pid), 0);
    buf_free(&line);
}

static void test_exact_read(void)
{
    char data[3 * STREAM_BUFSIZE + 5];
    char got[sizeof(data)];
    struct buf *b = buf_create(0);

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 7);
    for (size_t chunk = 1; chunk <= 100000; chunk *= 100) {
        struct memsrc m = {data, sizeof(data), 0, chunk, 0};
        struct stream *s = stream_open(0, STREAM_NOCLOSE);

        stream_set_io(s, mem_read, no_write, &m);
        /* Small read, then a big one (buffered start, direct rest). */
        CHECK_INTEQ(stream_read(s, got, 3), 1);
        CHECK_INTEQ(stream_read(s, got + 3, sizeof(data) - 10), 1);
        CHECK(memcmp(got, data, sizeof(data) - 7) == 0);
        CHECK_INTEQ(stream_getc(s), (unsigned char)data[sizeof(data) - 7]);
        buf_set(b, "x");
        /* Asking for more than is left: EOF first, buffer unchanged. */
        CHECK_INTEQ(stream_read_buf(s, b, 10), 0);
        CHECK_STREQ(buf_str(b), "x");
        CHECK(stream_eof(s));
        CHECK_INTEQ(stream_getc(s), -1);
        stream_free(&s);
    }
    {
        struct memsrc m = {data, sizeof(data), 0, 1, 0};
        struct stream *s = stream_open(0, STREAM_NOCLOSE);

        stream_set_io(s, mem_read, no_write, &m);
        buf_set(b, "x");
        CHECK_INTEQ(stream_read_buf(s, b, 100), 1);
        CHECK_INTEQ(buf_len(b), 101);
        CHECK(memcmp(buf_str(b) + 1, data, 100) == 0);
        CHECK_INTEQ(stream_read_buf(s, b, 0), 1);
        stream_free(&s);
    }
    buf_free(&b);
}

static void test_exact_read_child(void)
{
    static const char msg[] = "BDAT chunk\r\nwith\0binary\r\n.\r\nend";
    char got[sizeof(msg)];
    int sv[2];
    pid_t pid;
    struct stream *s;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        CHECK(!"socketpair");
        return;
    }
    pid = feed_child(sv[1], sv[0], msg, sizeof(msg), 100);
    s = stream_open(sv[0], 0);
    stream_set_timeout(s, 5000);
    CHECK_INTEQ(stream_read(s, got, sizeof(msg)), 1);
    CHECK(memcmp(got, msg, sizeof(msg)) == 0);
    CHECK_INTEQ(stream_read(s, got, 1), 0);
    stream_free(&s);
    CHECK_INTEQ(reap(pid), 0);
}

/* True if fd has input within ms milliseconds. */
static bool readable(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};

    return poll(&p, 1, ms) == 1;
}

/* Read everything from fd until EOF into b. */
static void drain(int fd, struct buf *b)
{
    char tmp[4096];
    ssize_t n;

    while ((n = read(fd, tmp, sizeof(tmp))) > 0)
        buf_append(b, tmp, (size_t)n);
}

static void test_output_buffering(void)
{
    int pfd[2];
    struct stream *s;
    struct buf *got = buf_create(0);
    struct buf *want = buf_create(0);
    char big[STREAM_BUFSIZE * 2 + 3];
    const char *why = NULL;

    if (pipe(pfd) < 0) {
        CHECK(!"pipe");
        return;
    }
    s = stream_open(pfd[1], 0);
    CHECK_INTEQ(stream_puts(s, "250-hello\r\n"), 0);
    CHECK_INTEQ(stream_printf(s, "250 %s %d\r\n", "size", 1024), 0);
    CHECK_INTEQ(stream_output_pending(s), 11 + 15);
    CHECK(!readable(pfd[0], 0));
    CHECK_INTEQ(stream_flush(s), 0);
    CHECK(readable(pfd[0], 0));
    CHECK_INTEQ(stream_output_pending(s), 0);
    buf_puts(want, "250-hello\r\n250 size 1024\r\n");
    {
        char tmp[64];
        ssize_t n = read(pfd[0], tmp, sizeof(tmp));

        CHECK_INTEQ(n, 26);
        buf_append(got, tmp, n > 0 ? (size_t)n : 0);
    }
    CHECK_STREQ(buf_str(got), buf_str(want));
    CHECK_INTEQ(stream_bytes_out(s), 26);
    stream_free(&s);
    close(pfd[0]);

    /* Big writes and a big printf through a socketpair read by a child. */
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        CHECK(!"socketpair");
        return;
    }
    pid_t pid = fork();

    if (pid == 0) {
        struct buf *all = buf_create(0);

        close(sv[0]);
        drain(sv[1], all);
        /* Send back what arrived so the parent can compare. */
        for (size_t off = 0; off < buf_len(all);) {
            ssize_t n = write(sv[1], buf_str(all) + off, buf_len(all) - off);

            if (n <= 0)
                _exit(1);
            off += (size_t)n;
        }
        _exit(0);
    }
    close(sv[1]);
    memset(big, 'B', sizeof(big));
    buf_reset(want);
    s = stream_open(sv[0], 0);
    stream_set_timeout(s, 5000);
    for (int i = 0; i < 100; i++) {
        stream_printf(s, "line %d\r\n", i);
        buf_printf(want, "line %d\r\n", i);
    }
    stream_write(s, big, sizeof(big));
    buf_append(want, big, sizeof(big));
    stream_write(s, "x", 1);
    buf_append(want, "x", 1);
    big[sizeof(big) - 1] = '\0';
    stream_printf(s, "[%s]", big);
    buf_printf(want, "[%s]", big);
    CHECK_INTEQ(stream_flush(s), 0);
    shutdown(sv[0], SHUT_WR);
    buf_reset(got);
    drain(sv[0], got);
    CHECK_INTEQ(buf_len(got), buf_len(want));
    CHECK(memcmp(buf_str(got), buf_str(want), buf_len(want)) == 0);
    CHECK_INTEQ(stream_close(&s, &why), 0);
    CHECK(s == NULL);
    CHECK_INTEQ(reap(pid), 0);
    buf_free(&got);
    buf_free(&want);
}

/* Reading with an empty input buffer sends the question first. */
static void test_autoflush_and_pending(void)
{
    int sv[2];
    pid_t pid;
    struct stream *s;
    struct buf *line = buf_create(0);
    enum stream_line_end end;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        CHECK(!"socketpair");
        return;
    }
    pid = fork();
    if (pid == 0) {
        char tmp[64];
        ssize_t n;

        close(sv[0]);
        n = read(sv[1], tmp, sizeof(tmp));
        if (n != 5 || memcmp(tmp, "PING\n", 5) != 0)
            _exit(1);
        if (write(sv[1], "a\r\nb\r\n", 6) != 6)
            _exit(2);
        _exit(0);
    }
    close(sv[1]);
    s = stream_open(sv[0], 0);
    stream_set_timeout(s, 5000);
    stream_puts(s, "PING\n");
    CHECK(!stream_input_pending(s));
    CHECK_INTEQ(stream_read_line(s, line, 10, &end), 1);
    CHECK_STREQ(buf_str(line), "a");
    /* Both lines came in one packet: the second is already buffered. */
    CHECK(stream_input_pending(s));
    CHECK_INTEQ(stream_read_line(s, line, 10, &end), 1);
    CHECK_STREQ(buf_str(line), "b");
    CHECK(!stream_input_pending(s));
    CHECK_INTEQ(stream_read_line(s, line, 10, &end), 0);
    CHECK(stream_eof(s));
    CHECK_STREQ(stream_strerror(s), "lost connection");
    CHECK_INTEQ(reap(pid), 0);
    stream_free(&s);
    buf_free(&line);
}

static void test_discard_input(void)
{
    struct memsrc m = {"STARTTLS\r\nMAIL FROM:<evil>\r\n", 28, 0, 1000, 0};
    struct stream *s = stream_open(0, STREAM_NOCLOSE);
    struct buf *line = buf_create(0);
    enum stream_line_end end;

    stream_set_io(s, mem_read, no_write, &m);
    CHECK_INTEQ(stream_read_line(s, line, 100, &end), 1);
    CHECK_STREQ(buf_str(line), "STARTTLS");
    CHECK(stream_input_pending(s));
    CHECK_INTEQ(stream_discard_input(s), 18);
    CHECK(!stream_input_pending(s));
    CHECK_INTEQ(stream_read_line(s, line, 100, &end), 0);
    stream_free(&s);
    buf_free(&line);
}

static void test_write_error(void)
{
    int sv[2];
    struct stream *s;
    char big[STREAM_BUFSIZE];
    const char *why = NULL;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        CHECK(!"socketpair");
        return;
    }
    close(sv[1]);
    s = stream_open(sv[0], 0);
    memset(big, 'x', sizeof(big));
    /* No SIGPIPE: the error comes back as EPIPE. */
    CHECK_INTEQ(stream_puts(s, "hello\r\n"), 0);
    CHECK_INTEQ(stream_flush(s), -1);
    CHECK(stream_error(s));
    CHECK_INTEQ(stream_errno(s), EPIPE);
    CHECK_INTEQ(stream_output_pending(s), 7);
    CHECK_INTEQ(stream_write(s, big, sizeof(big)), -1);
    stream_clear_error(s);
    CHECK(!stream_error(s));
    CHECK_INTEQ(stream_close(&s, &why), -1);
    CHECK(why != NULL && strstr(why, "pipe") != NULL);
    CHECK(s == NULL);

    /* A write timeout on a peer that never reads. */
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        CHECK(!"socketpair");
        return;
    }
    s = stream_open(sv[0], 0);
    stream_set_timeout(s, 100);
    int r = 0;

    for (int i = 0; i < 10000 && r == 0; i++)
        r = stream_write(s, big, sizeof(big));
    if (r == 0)
        r = stream_flush(s);
    CHECK_INTEQ(r, -1);
    CHECK(stream_timed_out(s));
    stream_free(&s);
    close(sv[1]);
}

/* stream_free closes the fd; STREAM_NOCLOSE leaves it open. */
static void test_close_flags(void)
{
    int pfd[2];
    struct stream *s;

    if (pipe(pfd) < 0) {
        CHECK(!"pipe");
        return;
    }
    s = stream_open(pfd[0], STREAM_NOCLOSE);
    CHECK_INTEQ(stream_fd(s), pfd[0]);
    stream_free(&s);
    CHECK(s == NULL);
    CHECK(fcntl(pfd[0], F_GETFD) >= 0);
    s = stream_open(pfd[0], 0);
    stream_free(&s);
    CHECK(fcntl(pfd[0], F_GETFD) < 0 && errno == EBADF);
    stream_free(&s); /* NULL is fine */
    close(pfd[1]);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* prove that writes do not need SIG_IGN */
    TEST_RUN(test_read_line_chunks);
    TEST_RUN(test_read_line_random);
    TEST_RUN(test_read_line_child_bytewise);
    TEST_RUN(test_read_line_big);
    TEST_RUN(test_timeout_silent_peer);
    TEST_RUN(test_deadline_dripping_peer);
    TEST_RUN(test_exact_read);
    TEST_RUN(test_exact_read_child);
    TEST_RUN(test_output_buffering);
    TEST_RUN(test_autoflush_and_pending);
    TEST_RUN(test_discard_input);
    TEST_RUN(test_write_error);
    TEST_RUN(test_close_flags);
    return test_summary();
}
