/*
 * smtp_nexthop - the next hop of a delivery request as transport(5) and
 * relayhost write it: "domain" (MX lookup), "[host]" (no MX lookup),
 * "host:port" (MX lookup of host), "[host]:port"; host may be an IP
 * address in brackets ("[192.0.2.1]", "[ipv6:2001:db8::1]" or
 * "[2001:db8::1]"). The port is a number or a service name ("submission").
 *
 * Security: the text comes from main.cf or a transport table; it is
 * bounded, and the host must be a valid host name or address.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mail/dns.h"
#include "lib/util/mem.h"
#include "lib/util/str.h"
#include "smtp/smtp.h"

/* Port number from a decimal number or a TCP service name; 0 when unknown. */
static unsigned smtp_port_parse(const char *text)
{
    struct servent *se;
    char *end;
    long v;

    if (*text == 0)
        return 0;
    if (isdigit((unsigned char)*text)) {
        v = strtol(text, &end, 10);
        return *end == 0 && v > 0 && v <= 65535 ? (unsigned)v : 0;
    }
    se = getservbyname(text, "tcp");
    return se != NULL ? ntohs((unsigned short)se->s_port) : 0;
}

/* Free the strings of nh. */
void smtp_nexthop_clear(struct smtp_nexthop *nh)
{
    MEM_FREE(&nh->host);
    memset(nh, 0, sizeof(*nh));
}

/* Parse a nexthop. 0, or -1 with *why_r. */
int smtp_nexthop_parse(const char *text, struct smtp_nexthop *nh, const char **why_r)
{
    char host[DNS_NAME_MAX + 16];
    const char *port = NULL, *cp;
    unsigned char bin[16];
    size_t len;

    memset(nh, 0, sizeof(*nh));
    nh->port = SMTP_PORT_DEFAULT;
    if (strlen(text) > DNS_NAME_MAX + 32) {
        *why_r = "next hop too long";
        return -1;
    }
    if (text[0] == '[') {
        cp = strchr(text, ']');
        if (cp == NULL) {
            *why_r = "next hop has \"[\" without \"]\"";
            return -1;
        }
        len = (size_t)(cp - text - 1);
        if (len == 0 || len >= sizeof(host)) {
            *why_r = "next hop has an empty or too long host in brackets";
            return -1;
        }
        memcpy(host, text + 1, len);
        host[len] = 0;
        if (cp[1] == ':')
            port = cp + 2;
        else if (cp[1] != 0) {
            *why_r = "next hop has text after \"]\"";
            return -1;
        }
        nh->mx = false;
    } else {
        cp = strchr(text, ':');
        len = cp ? (size_t)(cp - text) : strlen(text);
        if (len == 0 || len >= sizeof(host)) {
            *why_r = "next hop has an empty or too long host";
            return -1;
        }
        memcpy(host, text, len);
        host[len] = 0;
        if (cp != NULL)
            port = cp + 1;
        nh->mx = true;
    }
    if (port != NULL && (nh->port = smtp_port_parse(port)) == 0) {
        *why_r = "next hop has an invalid port";
        return -1;
    }
    if (str_has_prefix_icase(host, "ipv6:") && !nh->mx) {
        memmove(host, host + 5, strlen(host + 5) + 1);
        if (inet_pton(AF_INET6, host, bin) != 1) {
            *why_r = "next hop has an invalid IPv6 address";
            return -1;
        }
        nh->literal = true;
    } else if (!nh->mx &&
               (inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1)) {
        nh->literal = true;
    } else if (!dns_name_valid(host)) {
        *why_r = "next hop has an invalid host name";
        return -1;
    }
    len = strlen(host);
    if (!nh->literal && host[len - 1] == '.')
        host[len - 1] = 0;
    str_lower(host);
    nh->host = mem_strdup(host);
    return 0;
}
