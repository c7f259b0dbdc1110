/*
 * Unit tests for lib/util/sock: host:port parsing, listen/connect/accept
 * on 127.0.0.1, ::1 (skipped when the host has no IPv6) and unix-domain
 * sockets, stale socket replacement, connect timeouts and refusals, and
 * address text.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/util/clock.h"
#include "lib/util/sock.h"
#include "tests/unit/test.h"

struct hp_case {
    const char *spec;
    int ret;
    const char *host;
    const char *port;
};

static const struct hp_case hp_cases[] = {
    {"127.0.0.1:25", 0, "127.0.0.1", "25"},
    {"[::1]:587", 0, "::1", "587"},
    {"[::]:25", 0, "::", "25"},
    {"25", 0, "", "25"},
    {"smtp", 0, "", "smtp"},
    {"*:110", 0, "", "110"},
    {"mail.example.com:993", 0, "mail.example.com", "993"},
    {":25", 0, "", "25"},
    {"::1:25", -1, NULL, NULL},
    {"[::1]", -1, NULL, NULL},
    {"[::1]:", -1, NULL, NULL},
    {"[::1", -1, NULL, NULL},
    {"host:", -1, NULL, NULL},
    {"", -1, NULL, NULL},
    {"host:2 5", -1, NULL, NULL},
};

static void test_split_hostport(void)
{
    char host[64], port[16];
    const char *why;

    for (size_t i = 0; i < sizeof(hp_cases) / sizeof(hp_cases[0]); i++) {
        const struct hp_case *c = &hp_cases[i];
        int r;

        why = NULL;
        r = sock_split_hostport(c->spec, host, sizeof(host), port, sizeof(port), &why);
        if (r != c->ret) {
            fprintf(stderr, "  \"%s\": ret %d want %d\n", c->spec, r, c->ret);
            test_case_failed = 1;
            continue;
        }
        if (r == 0) {
            CHECK_STREQ(host, c->host);
            CHECK_STREQ(port, c->port);
        } else {
            CHECK(why != NULL && *why != '\0');
        }
    }
    /* Bounded copies: a host that does not fit is an error, not a cut. */
    CHECK_INTEQ(sock_split_hostport("abcdefgh:25", host, 8, port, sizeof(port), &why), -1);
    CHECK_INTEQ(sock_split_hostport("abcdefg:25", host, 8, port, sizeof(port), &why), 0);
    CHECK_INTEQ(sock_split_hostport("a:12345", host, 8, port, 5, &why), -1);
}

/* Listen on spec, connect to it, accept, exchange bytes, check addresses. */
static void check_inet_roundtrip(const char *spec, const char *addr, int family)
{
    int lfd[SOCK_LISTEN_MAX];
    const char *why = NULL;
    char local[SOCK_ADDR_MAX], peer[SOCK_ADDR_MAX], pbuf[16];
    int lport = 0, pport = 0, cport = 0;
    int n, cfd, afd;
    char c = 0;

    n = sock_listen_inet(spec, family, 16, lfd, SOCK_LISTEN_MAX, &why);
    CHECK_INTEQ(n, 1);
    if (n != 1) {
        fprintf(stderr, "  listen %s: %s\n", spec, why ? why : "?");
        return;
    }
    CHECK(fcntl(lfd[0], F_GETFD) & FD_CLOEXEC);
    CHECK(fcntl(lfd[0], F_GETFL) & O_NONBLOCK);
    CHECK_INTEQ(sock_local_text(lfd[0], local, sizeof(local), &lport, &why), 0);
    CHECK_STREQ(local, addr);
    CHECK(lport > 0);
    snprintf(pbuf, sizeof(pbuf), "%d", lport);
    cfd = sock_connect_inet(addr, pbuf, AF_UNSPEC, 2000, &why);
    CHECK(cfd >= 0);
    if (cfd < 0) {
        fprintf(stderr, "  connect %s: %s\n", addr, why);
        close(lfd[0]);
        return;
    }
    CHECK(!(fcntl(cfd, F_GETFL) & O_NONBLOCK));
    CHECK(fcntl(cfd, F_GETFD) & FD_CLOEXEC);
    {
        struct sockaddr_storage ss;
        socklen_t sl = 0;

        afd = sock_accept(lfd[0], &ss, &sl);
        CHECK(afd >= 0);
        CHECK(sl > 0);
        CHECK(sock_addr_is_loopback((struct sockaddr *)&ss));
    }
    CHECK(!(fcntl(afd, F_GETFL) & O_NONBLOCK));
    CHECK(fcntl(afd, F_GETFD) & FD_CLOEXEC);
    CHECK_INTEQ(sock_peer_text(afd, peer, sizeof(peer), &pport, &why), 0);
    CHECK_STREQ(peer, addr);
    CHECK_INTEQ(sock_local_text(cfd, local, sizeof(local), &cport, &why), 0);
    CHECK_INTEQ(pport, cport);
    CHECK_INTEQ(write(cfd, "Z", 1), 1);
    CHECK_INTEQ(read(afd, &c, 1), 1);
    CHECK(c == 'Z');
    close(afd);
    close(cfd);
    /* Nothing listens any more: refused, and the reason names the address. */
    close(lfd[0]);
    cfd = sock_connect_inet(addr, pbuf, AF_UNSPEC, 2000, &why);
    CHECK_INTEQ(cfd, -1);
    CHECK_INTEQ(errno, ECONNREFUSED);
    CHECK(strstr(why, "connect to ") != NULL && strstr(why, pbuf) != NULL);
}

static void test_inet_v4(void)
{
    check_inet_roundtrip("127.0.0.1:0", "127.0.0.1", AF_UNSPEC);
    check_inet_roundtrip("127.0.0.1:0", "127.0.0.1", AF_INET);
}

static void test_inet_v6(void)
{
    int fd[SOCK_LISTEN_MAX];
    const char *why;
    int n = sock_listen_inet("[::1]:0", AF_UNSPEC, 1, fd, SOCK_LISTEN_MAX, &why);

    if (n < 0 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
        printf("SKIP: no IPv6 loopback here (%s)\n", why);
        return;
    }
    CHECK_INTEQ(n, 1);
    if (n == 1) {
        int on = 0;
        socklen_t len = sizeof(on);

        CHECK_INTEQ(getsockopt(fd[0], IPPROTO_IPV6, IPV6_V6ONLY, &on, &len), 0);
        CHECK_INTEQ(on, 1);
        close(fd[0]);
    }
    check_inet_roundtrip("[::1]:0", "::1", AF_UNSPEC);
    /* A v4 literal under AF_INET6 cannot be found. */
    CHECK_INTEQ(sock_listen_inet("127.0.0.1:0", AF_INET6, 1, fd, SOCK_LISTEN_MAX, &why), -1);
}

/* "port" alone listens on every family the host has. */
static void test_inet_any(void)
{
    int fd[SOCK_LISTEN_MAX];
    const char *why = NULL;
    int n = sock_listen_inet("0", AF_UNSPEC, 4, fd, SOCK_LISTEN_MAX, &why);

    CHECK(n >= 1 && n <= 2);
    for (int i = 0; i < n; i++)
        close(fd[i]);
    n = sock_listen_inet("0", AF_UNSPEC, 4, fd, 0, &why);
    CHECK_INTEQ(n, -1);
    CHECK(strstr(why, "more than") != NULL);
    n = sock_listen_inet("[::1", AF_UNSPEC, 4, fd, SOCK_LISTEN_MAX, &why);
    CHECK_INTEQ(n, -1);
    CHECK(strstr(why, "\"[::1\"") != NULL);
    n = sock_listen_inet("no-such-host.invalid:25", AF_UNSPEC, 4, fd, SOCK_LISTEN_MAX, &why);
    CHECK_INTEQ(n, -1);
    /* Address in use: the second listener fails and says why. */
    n = sock_listen_inet("127.0.0.1:0", AF_INET, 4, fd, SOCK_LISTEN_MAX, &why);
    CHECK_INTEQ(n, 1);
    if (n == 1) {
        char addr[SOCK_ADDR_MAX], spec[64];
        int port, fd2[2];

        sock_local_text(fd[0], addr, sizeof(addr), &port, &why);
        snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
        CHECK_INTEQ(sock_listen_inet(spec, AF_INET, 4, fd2, 2, &why), -1);
        CHECK_INTEQ(errno, EADDRINUSE);
        CHECK(strstr(why, "bind 127.0.0.1:") != NULL);
        close(fd[0]);
    }
}

static void test_unix(void)
{
    char dir[] = "/tmp/test_util_sock.XXXXXX";
    char path[128], file[128];
    const char *why = NULL;
    struct stat st;
    int lfd, cfd, afd;
    char addr[SOCK_ADDR_MAX];
    int port = -1;

    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(path, sizeof(path), "%s/qmgr", dir);
    snprintf(file, sizeof(file), "%s/plain", dir);

    lfd = sock_listen_unix(path, 8, 0620, &why);
    CHECK(lfd >= 0);
    CHECK_INTEQ(lstat(path, &st), 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK_INTEQ(st.st_mode & 07777, 0620);
    cfd = sock_connect_unix(path, 1000, &why);
    CHECK(cfd >= 0);
    afd = sock_accept(lfd, NULL, NULL);
    CHECK(afd >= 0);
    CHECK_INTEQ(write(cfd, "q", 1), 1);
    {
        char c = 0;

        CHECK_INTEQ(read(afd, &c, 1), 1);
        CHECK(c == 'q');
    }
    CHECK_INTEQ(sock_peer_text(afd, addr, sizeof(addr), &port, &why), 0);
    CHECK_STREQ(addr, "local");
    CHECK_INTEQ(port, 0);
    CHECK_INTEQ(sock_local_text(afd, addr, sizeof(addr), &port, &why), 0);
    CHECK_STREQ(addr, path);
    close(afd);
    close(cfd);
    close(lfd);

    /* A stale socket (nobody listening) is replaced. */
    CHECK_INTEQ(sock_connect_unix(path, 1000, &why), -1);
    CHECK_INTEQ(errno, ECONNREFUSED);
    lfd = sock_listen_unix(path, 0, 0666, &why);
    CHECK(lfd >= 0);

    /* Backlog 0: one pending connection fills it; the next times out. */
    cfd = sock_connect_unix(path, 1000, &why);
    CHECK(cfd >= 0);
    {
        long long t0 = clock_now_ms();
        int c2 = sock_connect_unix(path, 200, &why);
        long long dt = clock_now_ms() - t0;

        CHECK_INTEQ(c2, -1);
        CHECK_INTEQ(errno, ETIMEDOUT);
        CHECK(dt >= 150 && dt < 1500);
        CHECK(strstr(why, "timed out") != NULL);
        if (c2 >= 0)
            close(c2);
    }
    close(cfd);
    close(lfd);
    unlink(path);

    /* A regular file at the socket path is refused and left alone. */
    {
        int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);

        CHECK(fd >= 0);
        close(fd);
        CHECK_INTEQ(sock_listen_unix(file, 8, 0666, &why), -1);
        CHECK(strstr(why, "not a socket") != NULL);
        CHECK_INTEQ(lstat(file, &st), 0);
        CHECK(S_ISREG(st.st_mode));
        unlink(file);
    }
    /* A symlink is refused too (not followed, not removed). */
    CHECK_INTEQ(symlink("/etc/passwd", file), 0);
    CHECK_INTEQ(sock_listen_unix(file, 8, 0666, &why), -1);
    CHECK_INTEQ(lstat(file, &st), 0);
    CHECK(S_ISLNK(st.st_mode));
    unlink(file);
    /* Over-long paths. */
    {
        char longpath[200];

        memset(longpath, 'x', sizeof(longpath) - 1);
        longpath[sizeof(longpath) - 1] = '\0';
        CHECK_INTEQ(sock_listen_unix(longpath, 8, 0666, &why), -1);
        CHECK_INTEQ(sock_connect_unix(longpath, 100, &why), -1);
    }
    rmdir(dir);
}

/* A trigger: the bytes arrive at dir/path, the connection is closed; failures say where. */
static void test_trigger(void)
{
    char dir[] = "/tmp/test_util_sock.XXXXXX";
    char path[128], data[8];
    const char *why = NULL;
    ssize_t n;
    int lfd, afd;

    if (mkdtemp(dir) == NULL) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(path, sizeof(path), "%s/pickup", dir);
    lfd = sock_listen_unix(path, 8, 0622, &why);
    CHECK(lfd >= 0);
    CHECK_INTEQ(sock_trigger_unix(dir, "pickup", "WI", 2, 1000, &why), 0);
    afd = sock_accept(lfd, NULL, NULL);
    CHECK(afd >= 0);
    n = read(afd, data, sizeof(data));
    CHECK_INTEQ(n, 2);
    CHECK(n == 2 && memcmp(data, "WI", 2) == 0);
    CHECK_INTEQ(read(afd, data, sizeof(data)), 0); /* closed after the bytes */
    close(afd);
    /* Without a directory the path is used as it is. */
    CHECK_INTEQ(sock_trigger_unix(NULL, path, "W", 1, 1000, &why), 0);
    CHECK_INTEQ(sock_trigger_unix("", path, "W", 1, 1000, &why), 0);
    close(lfd);
    unlink(path);
    /* Nobody there: -1, errno, and the path in the reason. */
    CHECK_INTEQ(sock_trigger_unix(dir, "pickup", "W", 1, 1000, &why), -1);
    CHECK_INTEQ(errno, ENOENT);
    CHECK(strstr(why, path) != NULL);
    rmdir(dir);
}

static void test_addr_text(void)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    char addr[SOCK_ADDR_MAX];
    char na[SOCK_NAMEADDR_MAX];
    int port = 0;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(25);
    inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
    CHECK_INTEQ(sock_addr_text((struct sockaddr *)&sin, sizeof(sin), addr, sizeof(addr), &port),
                0);
    CHECK_STREQ(addr, "192.0.2.7");
    CHECK_INTEQ(port, 25);
    CHECK(!sock_addr_is_loopback((struct sockaddr *)&sin));
    /* Too small a buffer fails cleanly. */
    CHECK_INTEQ(sock_addr_text((struct sockaddr *)&sin, sizeof(sin), addr, 5, &port), -1);
    /* Truncated sockaddr. */
    CHECK_INTEQ(sock_addr_text((struct sockaddr *)&sin, 4, addr, sizeof(addr), &port), -1);

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(587);
    inet_pton(AF_INET6, "::ffff:127.0.0.9", &sin6.sin6_addr);
    CHECK_INTEQ(
        sock_addr_text((struct sockaddr *)&sin6, sizeof(sin6), addr, sizeof(addr), &port), 0);
    CHECK_STREQ(addr, "127.0.0.9");
    CHECK_INTEQ(port, 587);
    CHECK(sock_addr_is_loopback((struct sockaddr *)&sin6));
    inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
    CHECK_INTEQ(sock_addr_text((struct sockaddr *)&sin6, sizeof(sin6), addr, sizeof(addr), NULL),
                0);
    CHECK_STREQ(addr, "2001:db8::1");
    CHECK(!sock_addr_is_loopback((struct sockaddr *)&sin6));
    inet_pton(AF_INET6, "fe80::1", &sin6.sin6_addr);
    sin6.sin6_scope_id = 999999;
    CHECK_INTEQ(sock_addr_text((struct sockaddr *)&sin6, sizeof(sin6), addr, sizeof(addr), NULL),
                0);
    CHECK_STREQ(addr, "fe80::1%999999");
    inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
    sin6.sin6_scope_id = 0;
    CHECK(sock_addr_is_loopback((struct sockaddr *)&sin6));

    {
        struct sockaddr sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_family = AF_APPLETALK;
        CHECK_INTEQ(sock_addr_text(&sa, sizeof(sa), addr, sizeof(addr), NULL), -1);
    }
    sock_name_addr(na, sizeof(na), "mail.example.com", "192.0.2.7");
    CHECK_STREQ(na, "mail.example.com[192.0.2.7]");
    sock_name_addr(na, 8, "mail.example.com", "192.0.2.7");
    CHECK_STREQ(na, "mail.ex");
}

static void test_fd_flags(void)
{
    int pfd[2];

    if (pipe(pfd) < 0) {
        CHECK(!"pipe");
        return;
    }
    CHECK_INTEQ(sock_set_nonblock(pfd[0], true), 0);
    CHECK(fcntl(pfd[0], F_GETFL) & O_NONBLOCK);
    CHECK_INTEQ(sock_set_nonblock(pfd[0], false), 0);
    CHECK(!(fcntl(pfd[0], F_GETFL) & O_NONBLOCK));
    CHECK_INTEQ(sock_set_cloexec(pfd[0], true), 0);
    CHECK(fcntl(pfd[0], F_GETFD) & FD_CLOEXEC);
    CHECK_INTEQ(sock_set_cloexec(pfd[0], false), 0);
    CHECK(!(fcntl(pfd[0], F_GETFD) & FD_CLOEXEC));
    close(pfd[0]);
    close(pfd[1]);
    CHECK_INTEQ(sock_set_nonblock(pfd[0], true), -1);
    CHECK_INTEQ(sock_set_cloexec(pfd[0], true), -1);
}

int main(void)
{
    TEST_RUN(test_split_hostport);
    TEST_RUN(test_inet_v4);
    TEST_RUN(test_inet_v6);
    TEST_RUN(test_inet_any);
    TEST_RUN(test_unix);
    TEST_RUN(test_trigger);
    TEST_RUN(test_addr_text);
    TEST_RUN(test_fd_flags);
    return test_summary();
}
