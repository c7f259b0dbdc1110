/*
 * mynetworks - match a client IP address against a network list such as
 * the mynetworks parameter (Postfix's "network/mask" match lists).
 *
 * Items, separated by white space or commas, first match wins:
 *
 *   192.0.2.1            one IPv4 address
 *   192.0.2.0/24         an IPv4 network
 *   [2001:db8::1]        one IPv6 address (brackets optional)
 *   [2001:db8::]/32      an IPv6 network
 *   type:table           the address is looked up (cidr:/etc/postel/nets);
 *                        found means matched, whatever the value
 *   /file/name           more items from a file (white space or lines,
 *                        '#' comments), read when the list is created
 *   !item                a match of item means "not in the list"
 *
 * An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is matched as the IPv4
 * address, in the client address and in the items; a zone ("%eth0") is
 * ignored. Host bits set past the prefix are an error, as in Postfix
 * ("192.0.2.1/24" is refused), so a typo does not widen the network.
 */
#ifndef POSTEL_MAIL_MYNETWORKS_H
#define POSTEL_MAIL_MYNETWORKS_H

#include <stdbool.h>
#include <stddef.h>

struct mynetworks;

/*
 * Build the list. title names it in messages (the parameter name). 0, or
 * -1 with *why_r naming the bad item (a configuration error).
 */
int mynetworks_create(const char *title, const char *value, struct mynetworks **mn_r,
                      const char **why_r);
void mynetworks_free(struct mynetworks **mnp);

/*
 * Is addr (text, as sock_peer_text gives it) in the list? 1 yes, 0 no (or
 * not an IP address), -1 with *why_r when a table failed before a decision.
 */
int mynetworks_match(struct mynetworks *mn, const char *addr, const char **why_r);

/*
 * The mynetworks value in force: main.cf's (or -o's) when set, else the
 * default computed from the mynetworks_style in force. Caller frees.
 */
char *mynetworks_config_value(void);

/*
 * Parse an address text: IPv4 dotted quad or IPv6 (optionally [bracketed],
 * optionally with a %zone). IPv4-mapped IPv6 becomes IPv4. 0 with the
 * family (AF_INET, AF_INET6) and the address bytes (4 or 16 used), or -1.
 */
int mynetworks_parse_addr(const char *text, int *family_r, unsigned char addr_r[16]);

/*
 * Write the canonical text of an address (inet_ntop form, IPv4-mapped IPv6
 * as IPv4, zone dropped) into out. 0, or -1 when text is no IP address
 * (out is then a copy of text, truncated to size).
 */
int mynetworks_normalize_addr(const char *text, char *out, size_t size);

#endif
