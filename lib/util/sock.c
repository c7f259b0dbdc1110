/*
 * sock - listening and connecting sockets, and socket addresses as text.
 *
 * Owns nothing beyond the sockets it returns to the caller.
 *
 * Security notes: every socket is created close-on-exec so that no child
 * inherits a listener or a client connection by accident. IPv6 listeners set
 * IPV6_V6ONLY, so an IPv4 client always arrives on the IPv4 socket with an
 * IPv4 address and access rules see the address they were written for. A
 * stale unix socket is removed only if it is a socket: a file or symlink at
 * that path is refused, never deleted. IPv4-mapped IPv6 addresses are shown
 * as plain IPv4 (the form people write in mynetworks).
 *
 * Failure texts returned through why_r live in a static buffer that the
 * next failing call overwrites.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/util/clock.h"
#include "lib/util/msg.h"
#include "lib/util/sock.h"

static char sock_why[512];

/* Format a failure text into the static buffer and hand it out. */
static const char *sock_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *sock_fail(const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sock_why, sizeof(sock_why), fmt, ap);
    va_end(ap);
    errno = saved_errno;
    return sock_why;
}

/* Close fd on a failure path, keeping errno; -1. */
static int sock_close_fail(int fd)
{
    int saved_errno = errno;

    (void)close(fd);
    errno = saved_errno;
    return -1;
}

/* "addr:port" or "[addr]:port" text of sa for messages. */
static void sock_endpoint_text(const struct sockaddr *sa, socklen_t salen, char *out,
                               size_t size)
{
    char addr[SOCK_ADDR_MAX];
    int port = 0;

    if (sock_addr_text(sa, salen, addr, sizeof(addr), &port) < 0)
        snprintf(out, size, "(unknown address)");
    else if (sa->sa_family == AF_UNIX)
        snprintf(out, size, "%s", addr);
    else if (strchr(addr, ':') != NULL)
        snprintf(out, size, "[%s]:%d", addr, port);
    else
        snprintf(out, size, "%s:%d", addr, port);
}

/* Copy a string into a fixed buffer; -1 if it does not fit. */
static int sock_copy(char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size)
        return -1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/*
 * Split "host:port", "[v6addr]:port", "*:port" or "port" into host ("" for
 * any address) and port. 0 or -1 with the reason.
 */
int sock_split_hostport(const char *spec, char *host, size_t hostsize, char *port,
                        size_t portsize, const char **why_r)
{
    const char *colon;
    const char *p;

    if (*spec == '[') {
        const char *close = strchr(spec, ']');

        if (close == NULL) {
            *why_r = "missing \"]\" after IPv6 address";
            return -1;
        }
        if (close[1] != ':' || close[2] == '\0') {
            *why_r = "missing port after \"]\"";
            return -1;
        }
        if (sock_copy(host, hostsize, spec + 1, (size_t)(close - spec - 1)) < 0) {
            *why_r = "host name too long";
            return -1;
        }
        p = close + 2;
    } else if ((colon = strrchr(spec, ':')) != NULL) {
        if (memchr(spec, ':', (size_t)(colon - spec)) != NULL) {
            *why_r = "IPv6 address must be written as [address]:port";
            return -1;
        }
        if (colon - spec == 1 && spec[0] == '*') {
            if (sock_copy(host, hostsize, "", 0) < 0) {
                *why_r = "no room for host";
                return -1;
            }
        } else if (sock_copy(host, hostsize, spec, (size_t)(colon - spec)) < 0) {
            *why_r = "host name too long";
            return -1;
        }
        p = colon + 1;
    } else {
        if (sock_copy(host, hostsize, "", 0) < 0) {
            *why_r = "no room for host";
            return -1;
        }
        p = spec;
    }
    if (*p == '\0') {
        *why_r = "missing port";
        return -1;
    }
    if (strpbrk(p, " \t[]:") != NULL) {
        *why_r = "bad port";
        return -1;
    }
    if (sock_copy(port, portsize, p, strlen(p)) < 0) {
        *why_r = "port too long";
        return -1;
    }
    return 0;
}

/* Listen on one address (SO_REUSEADDR, IPV6_V6ONLY); fd or -1. */
int sock_listen_addr(const struct sockaddr *sa, socklen_t salen, int backlog,
                     const char **why_r)
{
    char where[SOCK_ADDR_MAX + 16];
    int on = 1;
    int fd;

    sock_endpoint_text(sa, salen, where, sizeof(where));
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *why_r = sock_fail("socket for %s: %m", where);
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0) {
        *why_r = sock_fail("setsockopt SO_REUSEADDR %s: %m", where);
        goto fail;
    }
    if (sa->sa_family == AF_INET6
        && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) {
        *why_r = sock_fail("setsockopt IPV6_V6ONLY %s: %m", where);
        goto fail;
    }
    if (bind(fd, sa, salen) < 0) {
        *why_r = sock_fail("bind %s: %m", where);
        goto fail;
    }
    if (listen(fd, backlog) < 0) {
        *why_r = sock_fail("listen %s: %m", where);
        goto fail;
    }
    return fd;

fail:
    return sock_close_fail(fd);
}

/*
 * Listen on every address of spec ("host:port", "[v6]:port", "port"; no
 * host means all addresses). family is AF_UNSPEC, AF_INET or AF_INET6.
 * Stores up to max_fds descriptors in fds_r and returns how many, or -1.
 * An address family the kernel lacks (IPv6 disabled) is skipped as long as
 * another address works.
 */
int sock_listen_inet(const char *spec, int family, int backlog, int *fds_r, size_t max_fds,
                     const char **why_r)
{
    char host[1025];
    char port[64];
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    char first_why[sizeof(sock_why)] = "";
    int first_errno = 0;
    int count = 0;
    int err;

    if (sock_split_hostport(spec, host, sizeof(host), port, sizeof(port), why_r) < 0) {
        *why_r = sock_fail("\"%s\": %s", spec, *why_r);
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_PASSIVE;
    err = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (err != 0) {
        *why_r = sock_fail("\"%s\": %s", spec,
                           err == EAI_SYSTEM ? strerror(errno) : gai_strerror(err));
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        const char *why;
        int fd;

        if ((size_t)count >= max_fds) {
            *why_r = sock_fail("\"%s\": more than %zu addresses", spec, max_fds);
            goto fail;
        }
        fd = sock_listen_addr(ai->ai_addr, ai->ai_addrlen, backlog, &why);
        if (fd >= 0) {
            fds_r[count++] = fd;
            continue;
        }
        /* An address family or address this host cannot have: try the rest. */
        if (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL) {
            if (first_errno == 0) {
                first_errno = errno;
                snprintf(first_why, sizeof(first_why), "%s", why);
            }
            continue;
        }
        *why_r = why;
        goto fail;
    }
    freeaddrinfo(res);
    if (count == 0) {
        *why_r = first_errno ? sock_fail("%s", first_why) : sock_fail("\"%s\": no address", spec);
        errno = first_errno ? first_errno : EADDRNOTAVAIL;
        return -1;
    }
    return count;

fail:
    {
        int saved_errno = errno;

        while (count > 0)
            (void)close(fds_r[--count]);
        freeaddrinfo(res);
        errno = saved_errno;
    }
    return -1;
}

/* Fill a unix-domain address for path; -1 if the path is too long. */
static int sock_unix_addr(const char *path, struct sockaddr_un *sun, socklen_t *len_r)
{
    size_t len = strlen(path);

    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (len == 0 || len >= sizeof(sun->sun_path))
        return -1;
    memcpy(sun->sun_path, path, len + 1);
    *len_r = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    return 0;
}

/*
 * Listen on a unix-domain stream socket at path with permissions mode,
 * replacing a stale socket (but never any other kind of file); fd or -1.
 */
int sock_listen_unix(const char *path, int backlog, mode_t mode, const char **why_r)
{
    struct sockaddr_un sun;
    socklen_t len;
    struct stat st;
    int fd;

    if (sock_unix_addr(path, &sun, &len) < 0) {
        *why_r = sock_fail("%s: bad or too long socket path", path);
        errno = ENAMETOOLONG;
        return -1;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            *why_r = sock_fail("%s: exists and is not a socket", path);
            errno = EEXIST;
            return -1;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            *why_r = sock_fail("remove stale socket %s: %m", path);
            return -1;
        }
    } else if (errno != ENOENT) {
        *why_r = sock_fail("lstat %s: %m", path);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *why_r = sock_fail("socket for %s: %m", path);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
        *why_r = sock_fail("bind %s: %m", path);
        goto fail;
    }
    /* Before listen(), nobody can connect yet: no window with wrong modes. */
    if (chmod(path, mode) < 0) {
        *why_r = sock_fail("chmod %s: %m", path);
        goto fail_unlink;
    }
    if (listen(fd, backlog) < 0) {
        *why_r = sock_fail("listen %s: %m", path);
        goto fail_unlink;
    }
    return fd;

fail_unlink:
    {
        int saved_errno = errno;

        (void)unlink(path);
        errno = saved_errno;
    }
fail:
    return sock_close_fail(fd);
}

/* Wait for a non-blocking connect to finish; 0 connected, -1 with errno. */
static int sock_connect_wait(int fd, int timeout_ms)
{
    long long deadline = timeout_ms >= 0 ? clock_now_ms() + timeout_ms : 0;
    struct pollfd pfd;
    int wait_ms = timeout_ms;
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    for (;;) {
        int n;

        pfd.fd = fd;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        n = poll(&pfd, 1, wait_ms);
        if (n > 0)
            break;
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR)
            return -1;
        if (timeout_ms >= 0)
            wait_ms = (int)clock_remaining_ms(deadline);
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        return -1;
    if (soerr != 0) {
        errno = soerr;
        return -1;
    }
    return 0;
}

/* Connect to one inet address within timeout_ms (-1: no limit); fd or -1. */
int sock_connect_addr(const struct sockaddr *sa, socklen_t salen, int timeout_ms,
                      const char **why_r)
{
    char where[SOCK_ADDR_MAX + 16];
    int fd;

    if (sa->sa_family == AF_UNIX)
        return sock_connect_unix(((const struct sockaddr_un *)sa)->sun_path, timeout_ms, why_r);
    sock_endpoint_text(sa, salen, where, sizeof(where));
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *why_r = sock_fail("socket for %s: %m", where);
        return -1;
    }
    if (connect(fd, sa, salen) < 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            *why_r = sock_fail("connect to %s: %m", where);
            goto fail;
        }
        if (sock_connect_wait(fd, timeout_ms) < 0) {
            *why_r = errno == ETIMEDOUT ? sock_fail("connect to %s: timed out", where)
                                        : sock_fail("connect to %s: %m", where);
            goto fail;
        }
    }
    if (sock_set_nonblock(fd, false) < 0) {
        *why_r = sock_fail("fcntl %s: %m", where);
        goto fail;
    }
    return fd;

fail:
    return sock_close_fail(fd);
}

/*
 * Connect to host ("[v6]" brackets allowed) and port, trying each address
 * in turn with timeout_ms each; fd or -1 with the last address's reason.
 */
int sock_connect_inet(const char *host, const char *port, int family, int timeout_ms,
                      const char **why_r)
{
    char name[1025];
    size_t len = strlen(host);
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    int err;
    int fd = -1;

    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (sock_copy(name, sizeof(name), host, len) < 0) {
        *why_r = sock_fail("host name too long");
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    err = getaddrinfo(name, port, &hints, &res);
    if (err != 0) {
        *why_r = sock_fail("%s port %s: %s", name, port,
                           err == EAI_SYSTEM ? strerror(errno) : gai_strerror(err));
        errno = EHOSTUNREACH;
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = sock_connect_addr(ai->ai_addr, ai->ai_addrlen, timeout_ms, why_r);
    {
        int saved_errno = errno;

        freeaddrinfo(res);
        errno = saved_errno;
    }
    return fd;
}

/* Connect to a unix-domain stream socket within timeout_ms; fd or -1. */
int sock_connect_unix(const char *path, int timeout_ms, const char **why_r)
{
    struct sockaddr_un sun;
    struct timeval tv = {0, 0};
    socklen_t len;
    int fd;

    if (sock_unix_addr(path, &sun, &len) < 0) {
        *why_r = sock_fail("%s: bad or too long socket path", path);
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why_r = sock_fail("socket for %s: %m", path);
        return -1;
    }
    /*
     * A non-blocking unix connect fails with EAGAIN when the listener's
     * backlog is full instead of waiting; on Linux a blocking connect waits
     * at most SO_SNDTIMEO, which gives the timeout we want.
     */
    if (timeout_ms > 0) {
        tv.tv_sec = timeout_ms / 1000;
        tv.tv_usec = (timeout_ms % 1000) * 1000;
    } else if (timeout_ms == 0) {
        tv.tv_usec = 1000;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
        *why_r = sock_fail("setsockopt SO_SNDTIMEO %s: %m", path);
        goto fail;
    }
    while (connect(fd, (struct sockaddr *)&sun, len) < 0) {
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EINPROGRESS)
            *why_r = sock_fail("connect to %s: timed out", path);
        else
            *why_r = sock_fail("connect to %s: %m", path);
        if (errno == EAGAIN || errno == EINPROGRESS)
            errno = ETIMEDOUT;
        goto fail;
    }
    tv.tv_sec = tv.tv_usec = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
        *why_r = sock_fail("setsockopt SO_SNDTIMEO %s: %m", path);
        goto fail;
    }
    return fd;

fail:
    return sock_close_fail(fd);
}

/*
 * A trigger: connect to the unix socket dir/path (path alone when dir is
 * NULL or empty), send data without waiting, close. 0, or -1 with *why_r
 * and errno.
 */
int sock_trigger_unix(const char *dir, const char *path, const void *data, size_t len,
                      int timeout_ms, const char **why_r)
{
    char full[PATH_MAX];
    ssize_t n;
    int fd;

    if (dir != NULL && *dir != '\0')
        snprintf(full, sizeof(full), "%s/%s", dir, path);
    else
        snprintf(full, sizeof(full), "%s", path);
    if ((fd = sock_connect_unix(full, timeout_ms, why_r)) < 0)
        return -1;
    /* A fresh unix socket has room for a few bytes; never wait, never SIGPIPE. */
    n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 || (size_t)n != len) {
        *why_r = n < 0 ? sock_fail("write to %s: %m", full)
                       : sock_fail("write to %s: short write", full);
        (void)close(fd);
        return -1;
    }
    (void)close(fd);
    return 0;
}

/* Accept a connection as a blocking close-on-exec socket; fd or -1 (errno). */
int sock_accept(int listen_fd, struct sockaddr_storage *ss_r, socklen_t *salen_r)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd;

    do
        fd = accept4(listen_fd, (struct sockaddr *)(ss_r ? ss_r : &ss), &len, SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd >= 0 && salen_r != NULL)
        *salen_r = len;
    return fd;
}

/* Turn O_NONBLOCK on or off; 0 or -1. */
int sock_set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0)
        return -1;
    if (on == ((fl & O_NONBLOCK) != 0))
        return 0;
    return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* Turn FD_CLOEXEC on or off; 0 or -1. */
int sock_set_cloexec(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFD);

    if (fl < 0)
        return -1;
    if (on == ((fl & FD_CLOEXEC) != 0))
        return 0;
    return fcntl(fd, F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC);
}

/*
 * Address text of sa ("192.0.2.1", "2001:db8::1", "fe80::1%eth0"; a unix
 * socket gives its path or "local") and its port (0 for unix). 0 or -1.
 */
int sock_addr_text(const struct sockaddr *sa, socklen_t salen, char *addr, size_t addrsize,
                   int *port_r)
{
    int port = 0;

    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

        if (salen < (socklen_t)sizeof(*sin)
            || inet_ntop(AF_INET, &sin->sin_addr, addr, (socklen_t)addrsize) == NULL)
            return -1;
        port = ntohs(sin->sin_port);
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

        if (salen < (socklen_t)sizeof(*sin6))
            return -1;
        port = ntohs(sin6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            if (inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], addr, (socklen_t)addrsize)
                == NULL)
                return -1;
            break;
        }
        if (inet_ntop(AF_INET6, &sin6->sin6_addr, addr, (socklen_t)addrsize) == NULL)
            return -1;
        if (sin6->sin6_scope_id != 0) {
            char ifname[IF_NAMESIZE];
            size_t used = strlen(addr);
            int n;

            if (if_indextoname(sin6->sin6_scope_id, ifname) != NULL)
                n = snprintf(addr + used, addrsize - used, "%%%s", ifname);
            else
                n = snprintf(addr + used, addrsize - used, "%%%u",
                             (unsigned)sin6->sin6_scope_id);
            if (n < 0 || (size_t)n >= addrsize - used)
                return -1;
        }
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t max = salen > off ? (size_t)salen - off : 0;
        size_t len;

        if (max > sizeof(sun->sun_path))
            max = sizeof(sun->sun_path);
        len = max > 0 && sun->sun_path[0] != '\0' ? strnlen(sun->sun_path, max) : 0;
        if (len == 0) {
            if (sock_copy(addr, addrsize, "local", 5) < 0)
                return -1;
        } else if (sock_copy(addr, addrsize, sun->sun_path, len) < 0) {
            return -1;
        }
        break;
    }
    default:
        return -1;
    }
    if (port_r != NULL)
        *port_r = port;
    return 0;
}

/* Address text and port of one end of a socket, as get (getpeername, getsockname) says. */
static int sock_end_text(int fd, int (*get)(int, struct sockaddr *, socklen_t *),
                         const char *get_name, char *addr, size_t addrsize, int *port_r,
                         const char **why_r)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (get(fd, (struct sockaddr *)&ss, &len) < 0) {
        *why_r = sock_fail("%s: %m", get_name);
        return -1;
    }
    if (sock_addr_text((struct sockaddr *)&ss, len, addr, addrsize, port_r) < 0) {
        *why_r = "unsupported address family or address too long";
        return -1;
    }
    return 0;
}

/* Address text and port of the peer of a connected socket; 0 or -1. */
int sock_peer_text(int fd, char *addr, size_t addrsize, int *port_r, const char **why_r)
{
    return sock_end_text(fd, getpeername, "getpeername", addr, addrsize, port_r, why_r);
}

/* Address text and port of the local end of a socket; 0 or -1. */
int sock_local_text(int fd, char *addr, size_t addrsize, int *port_r, const char **why_r)
{
    return sock_end_text(fd, getsockname, "getsockname", addr, addrsize, port_r, why_r);
}

/* Format "name[addr]" (the log form of a peer), cut to fit outsize. */
void sock_name_addr(char *out, size_t outsize, const char *name, const char *addr)
{
    if (outsize == 0)
        return;
    snprintf(out, outsize, "%s[%s]", name, addr);
}

/* True for 127.0.0.0/8, ::1, IPv4-mapped 127/8 and unix-domain addresses. */
bool sock_addr_is_loopback(const struct sockaddr *sa)
{
    switch (sa->sa_family) {
    case AF_INET:
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    case AF_INET6: {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    case AF_UNIX:
        return true;
    default:
        return false;
    }
}
