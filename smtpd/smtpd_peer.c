/*
 * smtpd_peer - who the client is: its address (canonical text; an
 * IPv4-mapped IPv6 address is shown as IPv4, as Postfix does) and its
 * name, from a reverse (PTR) lookup confirmed by a forward lookup of that
 * name that leads back to the same address. Without that confirmation, or
 * with smtpd_peername_lookup = no, the name is "unknown".
 *
 * A client on a unix-domain socket is "localhost[127.0.0.1]".
 *
 * Security: a PTR record is chosen by whoever owns the address block, so
 * the name is used only when the forward lookup agrees; a name that is an
 * address literal or has characters outside a host name is refused too.
 * The lookups go through the C library (hosts file, then DNS per
 * nsswitch.conf); each DNS query is bounded by the resolver's timeout,
 * which smtpd_peer_init() lowers to SMTPD_DNS_TIMEOUT seconds and
 * SMTPD_DNS_ATTEMPTS tries so that a dead name server cannot hold a client
 * for long.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/mail/mynetworks.h"
#include "lib/util/msg.h"
#include "lib/util/sock.h"
#include "lib/util/str.h"
#include "smtpd/smtpd.h"

#define SMTPD_DNS_TIMEOUT 2  /* seconds per query try */
#define SMTPD_DNS_ATTEMPTS 2 /* tries per name server */

/* Lower the resolver's timeouts once per process. */
static void smtpd_peer_resolver_init(void)
{
    static bool done;

    if (done)
        return;
    done = true;
    if (res_init() != 0)
        return;
    _res.retrans = SMTPD_DNS_TIMEOUT;
    _res.retry = SMTPD_DNS_ATTEMPTS;
}

/* True when name looks like a host name (letters, digits, '-', '.', '_'). */
static bool smtpd_peer_name_ok(const char *name)
{
    unsigned char a[16];
    int family;

    if (*name == '\0' || strlen(name) > 255)
        return false;
    for (const char *cp = name; *cp; cp++)
        if (!(isalnum((unsigned char)*cp) || *cp == '-' || *cp == '.' || *cp == '_'))
            return false;
    /* a PTR record that claims to be an address */
    return mynetworks_parse_addr(name, &family, a) < 0;
}

/* Reverse lookup confirmed by forward lookup; 0 with name, or -1. */
static int smtpd_peer_lookup(const struct sockaddr *sa, socklen_t salen, const char *addr,
                             char *name, size_t size)
{
    struct addrinfo hints, *res = NULL;
    char host[NI_MAXHOST];
    int found = -1;

    smtpd_peer_resolver_init();
    if (getnameinfo(sa, salen, host, sizeof(host), NULL, 0, NI_NAMEREQD) != 0)
        return -1;
    if (!smtpd_peer_name_ok(host)) {
        msg_warn("%s: malformed or numeric host name from reverse lookup: \"%.100s\"", addr, host);
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0) {
        msg_info("%s: hostname %s verification failed: no address", addr, host);
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL && found < 0; ai = ai->ai_next) {
        char text[SOCK_ADDR_MAX], canon[SOCK_ADDR_MAX];

        if (sock_addr_text(ai->ai_addr, ai->ai_addrlen, text, sizeof(text), NULL) < 0)
            continue;
        (void)mynetworks_normalize_addr(text, canon, sizeof(canon));
        if (strcmp(canon, addr) == 0)
            found = 0;
    }
    freeaddrinfo(res);
    if (found < 0) {
        msg_warn("hostname %s does not resolve to address %s", host, addr);
        return -1;
    }
    return str_copy(name, size, host) < 0 ? -1 : 0;
}

/* Fill peer from the connected socket fd. */
void smtpd_peer_init(struct smtpd_peer *peer, int fd, bool lookup)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char raw[SOCK_ADDR_MAX];

    memset(peer, 0, sizeof(*peer));
    strcpy(peer->name, "unknown");
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
        msg_warn("getpeername: %m");
        strcpy(peer->addr, "unknown");
    } else if (ss.ss_family == AF_UNIX) {
        strcpy(peer->addr, "127.0.0.1");
        strcpy(peer->name, "localhost");
    } else if (sock_addr_text((struct sockaddr *)&ss, len, raw, sizeof(raw), &peer->port) < 0) {
        strcpy(peer->addr, "unknown");
    } else {
        (void)mynetworks_normalize_addr(raw, peer->addr, sizeof(peer->addr));
        if (lookup)
            (void)smtpd_peer_lookup((struct sockaddr *)&ss, len, peer->addr, peer->name,
                                    sizeof(peer->name));
    }
    if (strchr(peer->addr, ':') != NULL)
        snprintf(peer->rfc_addr, sizeof(peer->rfc_addr), "IPv6:%s", peer->addr);
    else
        snprintf(peer->rfc_addr, sizeof(peer->rfc_addr), "%s", peer->addr);
    sock_name_addr(peer->namaddr, sizeof(peer->namaddr), peer->name, peer->addr);
}
