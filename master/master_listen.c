/*
 * master_listen - where services listen: inet service names and
 * inet_interfaces/inet_protocols turned into addresses, and the listening
 * sockets themselves (inet, unix, unix-dgram, fifo).
 *
 * Inet service names: "port", "name" (getservbyname, e.g. smtp = 25),
 * "host:port", "[v6addr]:port"; a host of "" or "*" (or none) means every
 * address of inet_interfaces ("all", "loopback-only" or a list of
 * addresses or names), filtered by inet_protocols (all, ipv4, ipv6).
 * Unix-domain services live in $queue_directory/private/NAME (private = y)
 * or public/NAME.
 *
 * Security notes: an existing file in the way of a unix socket is removed
 * only when it is a socket, a FIFO only replaces a FIFO; the socket itself
 * is mode 0666 and access is controlled by the private/ and public/
 * directory modes, as in Postfix. IPv6 sockets are IPV6_V6ONLY so that the
 * IPv4 and IPv6 wildcard sockets never overlap.
 *
 * Inet and unix stream sockets come from lib/util/sock.c; unix-dgram and
 * FIFOs, which only master needs, are made here.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/sock.h"
#include "master/master.h"

#define MASTER_HOST_MAX 255

static char master_why[512];

/* A port number or a tcp service name from /etc/services. */
int master_inet_port(const char *port, int *port_r, const char **why_r)
{
    char *end;
    long num;
    struct servent *se;

    if (*port >= '0' && *port <= '9') {
        errno = 0;
        num = strtol(port, &end, 10);
        if (errno || *end || num < 1 || num > 65535) {
            *why_r = "port number out of range 1..65535";
            return -1;
        }
        *port_r = (int)num;
        return 0;
    }
    if ((se = getservbyname(port, "tcp")) == NULL) {
        snprintf(master_why, sizeof(master_why), "unknown service name \"%s\"", port);
        *why_r = master_why;
        return -1;
    }
    *port_r = ntohs((unsigned short)se->s_port);
    return 0;
}

/* "127.0.0.1:25" or "[::1]:25". */
void master_addr_text(const struct master_addr *addr, char *buf, size_t size)
{
    char host[SOCK_ADDR_MAX];
    int port = 0;

    if (sock_addr_text((const struct sockaddr *)&addr->sa, addr->len, host, sizeof(host), &port) <
        0)
        snprintf(buf, size, "(unknown address)");
    else if (addr->sa.ss_family == AF_INET6)
        snprintf(buf, size, "[%s]:%d", host, port);
    else
        snprintf(buf, size, "%s:%d", host, port);
}

/* Which address families inet_protocols allows. */
static int master_protocols(bool *v4_r, bool *v6_r, const char **why_r)
{
    struct argv *list = config_list("inet_protocols");
    int ret = 0;

    *v4_r = *v6_r = false;
    for (size_t i = 0; i < list->argc; i++) {
        const char *p = list->argv[i];

        if (strcasecmp(p, "all") == 0) {
            *v4_r = *v6_r = true;
        } else if (strcasecmp(p, "ipv4") == 0) {
            *v4_r = true;
        } else if (strcasecmp(p, "ipv6") == 0) {
            *v6_r = true;
        } else {
            snprintf(master_why, sizeof(master_why),
                     "inet_protocols: unknown protocol \"%s\" (expected all, ipv4, ipv6)", p);
            *why_r = master_why;
            ret = -1;
            break;
        }
    }
    if (ret == 0 && !*v4_r && !*v6_r) {
        *why_r = "inet_protocols: no protocol enabled";
        ret = -1;
    }
    argv_free(&list);
    return ret;
}

/* Append one address unless it is already in the list. */
static void master_addr_add(struct master_addr **addrs, size_t *count, const void *sa,
                            socklen_t len)
{
    for (size_t i = 0; i < *count; i++)
        if ((*addrs)[i].len == len && memcmp(&(*addrs)[i].sa, sa, len) == 0)
            return;
    *addrs = mem_realloc_array(*addrs, *count + 1, sizeof(**addrs));
    memset(&(*addrs)[*count], 0, sizeof(**addrs));
    memcpy(&(*addrs)[*count].sa, sa, len);
    (*addrs)[*count].len = len;
    (*count)++;
}

/* Add the wildcard or loopback address of one family. */
static void master_addr_add_fixed(struct master_addr **addrs, size_t *count, int family,
                                  bool loopback, int port)
{
    if (family == AF_INET) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

        sin.sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
        master_addr_add(addrs, count, &sin, sizeof(sin));
    } else {
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};

        sin6.sin6_addr = loopback ? in6addr_loopback : in6addr_any;
        master_addr_add(addrs, count, &sin6, sizeof(sin6));
    }
}

/* Resolve one host (address or name, optionally in brackets) into the list. */
static int master_addr_resolve(const char *host, int port, bool v4, bool v6,
                               struct master_addr **addrs, size_t *count, const char **why_r)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res, *ai;
    char name[MASTER_HOST_MAX + 1];
    size_t len = strlen(host);
    bool found = false;
    int err;

    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 0 || len > MASTER_HOST_MAX) {
        *why_r = "bad host name or address";
        return -1;
    }
    memcpy(name, host, len);
    name[len] = '\0';
    hints.ai_family = v4 && v6 ? AF_UNSPEC : v4 ? AF_INET : AF_INET6;
    if ((err = getaddrinfo(name, NULL, &hints, &res)) != 0) {
        snprintf(master_why, sizeof(master_why), "host \"%s\": %s", name, gai_strerror(err));
        *why_r = master_why;
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET && v4) {
            struct sockaddr_in sin;

            memcpy(&sin, ai->ai_addr, sizeof(sin));
            sin.sin_port = htons((uint16_t)port);
            master_addr_add(addrs, count, &sin, sizeof(sin));
            found = true;
        } else if (ai->ai_family == AF_INET6 && v6) {
            struct sockaddr_in6 sin6;

            memcpy(&sin6, ai->ai_addr, sizeof(sin6));
            sin6.sin6_port = htons((uint16_t)port);
            master_addr_add(addrs, count, &sin6, sizeof(sin6));
            found = true;
        }
    }
    freeaddrinfo(res);
    if (!found) {
        snprintf(master_why, sizeof(master_why),
                 "host \"%s\": no address of a protocol enabled by inet_protocols", name);
        *why_r = master_why;
        return -1;
    }
    return 0;
}

/* All addresses an inet service listens on. */
int master_inet_addrs(const char *service, struct master_addr **addrs_r, size_t *count_r,
                      const char **why_r)
{
    struct master_addr *addrs = NULL;
    size_t count = 0;
    char host[MASTER_HOST_MAX + 1], port_text[64];
    struct argv *ifaces = NULL;
    bool v4, v6;
    int port;
    int ret = -1;

    if (sock_split_hostport(service, host, sizeof(host), port_text, sizeof(port_text), why_r) < 0)
        return -1;
    if (master_inet_port(port_text, &port, why_r) < 0 || master_protocols(&v4, &v6, why_r) < 0)
        goto out;
    if (*host) {
        if (master_addr_resolve(host, port, v4, v6, &addrs, &count, why_r) < 0)
            goto out;
    } else {
        ifaces = config_list("inet_interfaces");
        if (ifaces->argc == 0) {
            *why_r = "inet_interfaces is empty";
            goto out;
        }
        for (size_t i = 0; i < ifaces->argc; i++) {
            const char *item = ifaces->argv[i];

            if (strcasecmp(item, "all") == 0 || strcasecmp(item, "loopback-only") == 0) {
                bool lo = strcasecmp(item, "loopback-only") == 0;

                if (v4)
                    master_addr_add_fixed(&addrs, &count, AF_INET, lo, port);
                if (v6)
                    master_addr_add_fixed(&addrs, &count, AF_INET6, lo, port);
            } else if (master_addr_resolve(item, port, v4, v6, &addrs, &count, why_r) < 0) {
                goto out;
            }
        }
    }
    if (count > MASTER_LISTEN_MAX) {
        *why_r = "too many listening addresses";
        goto out;
    }
    *addrs_r = addrs;
    *count_r = count;
    addrs = NULL;
    ret = 0;
out:
    mem_free(addrs);
    if (ifaces)
        argv_free(&ifaces);
    return ret;
}

/* Remove a stale unix socket (or FIFO) at path; never another kind of file. */
static int master_unlink_stale(const char *path, bool fifo, const char **why_r)
{
    struct stat st;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(master_why, sizeof(master_why), "%s: %s", path, strerror(errno));
        *why_r = master_why;
        return -1;
    }
    if (fifo ? !S_ISFIFO(st.st_mode) : !S_ISSOCK(st.st_mode)) {
        snprintf(master_why, sizeof(master_why), "%s exists and is not a %s", path,
                 fifo ? "FIFO" : "socket");
        *why_r = master_why;
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        snprintf(master_why, sizeof(master_why), "remove %s: %s", path, strerror(errno));
        *why_r = master_why;
        return -1;
    }
    return 0;
}

/* Bind a unix-domain datagram socket at path (lib/util/sock.c does streams only). */
static int master_listen_dgram(const char *path, const char **why_r)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(master_why, sizeof(master_why), "socket path too long: %s", path);
        *why_r = master_why;
        return -1;
    }
    strcpy(sun.sun_path, path);
    if (master_unlink_stale(path, false, why_r) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        goto fail;
    if (chmod(path, 0666) < 0) {
        int saved = errno;

        unlink(path);
        errno = saved;
        goto fail;
    }
    return fd;

fail:
    snprintf(master_why, sizeof(master_why), "listen on %s: %s", path, strerror(errno));
    *why_r = master_why;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Create (or reuse) a FIFO at path and open it read-write, non-blocking. */
static int master_listen_fifo(const char *path, const char **why_r)
{
    int fd;

    if (master_unlink_stale(path, true, why_r) < 0)
        return -1;
    if (mkfifo(path, 0622) < 0 || chmod(path, 0622) < 0) {
        snprintf(master_why, sizeof(master_why), "mkfifo %s: %s", path, strerror(errno));
        *why_r = master_why;
        return -1;
    }
    /* Read-write, so the FIFO never reports end of file when writers leave. */
    if ((fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) {
        snprintf(master_why, sizeof(master_why), "open %s: %s", path, strerror(errno));
        *why_r = master_why;
        unlink(path);
        return -1;
    }
    return fd;
}

/* Open every listening descriptor of serv; all or nothing. */
int master_listen_open(struct master_serv *serv, const char **why_r)
{
    int fd;

    serv->listen_count = 0;
    switch (serv->type) {
    case MASTERCF_INET:
        for (size_t i = 0; i < serv->addr_count; i++) {
            fd = sock_listen_addr((const struct sockaddr *)&serv->addrs[i].sa, serv->addrs[i].len,
                                  SOMAXCONN, why_r);
            if (fd < 0 && errno == EAFNOSUPPORT && serv->addr_count > 1) {
                msg_warn("service %s: %s: skipping this address", serv->name, *why_r);
                continue;
            }
            if (fd < 0)
                goto fail;
            serv->listen_fds[serv->listen_count++] = fd;
        }
        if (serv->listen_count == 0) {
            *why_r = "no usable listening address";
            return -1;
        }
        return 0;
    case MASTERCF_UNIX:
        fd = sock_listen_unix(serv->sock_path, SOMAXCONN, 0666, why_r);
        break;
    case MASTERCF_UNIX_DGRAM:
        fd = master_listen_dgram(serv->sock_path, why_r);
        break;
    case MASTERCF_FIFO:
        fd = master_listen_fifo(serv->sock_path, why_r);
        break;
    default:
        *why_r = "unsupported service type";
        return -1;
    }
    if (fd < 0)
        return -1;
    serv->listen_fds[serv->listen_count++] = fd;
    return 0;

fail:
    master_listen_close(serv);
    return -1;
}

/* Close serv's listening descriptors and remove its socket or FIFO. */
void master_listen_close(struct master_serv *serv)
{
    master_watch_off(serv);
    for (size_t i = 0; i < serv->listen_count; i++)
        close(serv->listen_fds[i]);
    if (serv->listen_count > 0 && serv->sock_path)
        (void)unlink(serv->sock_path);
    serv->listen_count = 0;
}
