/*
 * domain_class - the class of a destination domain, decided in one place
 * for smtpd (relay control at RCPT time) and for the address resolver
 * (routing in qmgr and local), so that the two never disagree:
 *
 *   local   the domain is in mydestination (a domain_list(3) without
 *           parent matching), or it is an address literal of this host
 *           ("[192.0.2.1]", "[IPv6:2001:db8::1]"; own_addresses: the
 *           interfaces, inet_interfaces and the loopbacks);
 *   relay   the domain is in relay_domains (a domain_list(3) where
 *           "example.com" also matches its subdomains);
 *   other   anything else.
 *
 * As in Postfix, mydestination is matched before the address literal
 * test, and relay_domains after both. A table error is an error (the
 * caller defers), never a class.
 */
#ifndef POSTEL_MAIL_DOMAIN_CLASS_H
#define POSTEL_MAIL_DOMAIN_CLASS_H

#define DOMAIN_CLASS_OTHER 0
#define DOMAIN_CLASS_LOCAL 1
#define DOMAIN_CLASS_RELAY 2

struct domain_class;

/*
 * Build the classifier from the values of mydestination, relay_domains
 * and own_addresses (a list of IP addresses; items that are not addresses
 * are ignored); NULL values are empty. flags: DOMAIN_LIST_STRICT (every
 * table must open now). 0, or -1 with *why_r (a configuration error, or
 * a table that cannot be opened with DOMAIN_LIST_STRICT).
 */
int domain_class_create(const char *mydestination, const char *relay_domains,
                        const char *own_addresses, int flags, struct domain_class **dc_r,
                        const char **why_r);
/* The same with main.cf's values and domain_class_own_addresses(). */
int domain_class_create_from_config(int flags, struct domain_class **dc_r, const char **why_r);
void domain_class_free(struct domain_class **dcp);

/* DOMAIN_CLASS_LOCAL, _RELAY or _OTHER for domain (any case), or -1 with *why_r. */
int domain_class_find(struct domain_class *dc, const char *domain, const char **why_r);
/* 1 when domain is local (relay_domains is not consulted), 0 when not, -1 with *why_r. */
int domain_class_is_local(struct domain_class *dc, const char *domain, const char **why_r);

/* Re-open rebuilt tables and retry failed ones now. 0, or -1 with *why_r. */
int domain_class_refresh(struct domain_class *dc, const char **why_r);

/*
 * This host's addresses as a list (allocated): the loopbacks, the
 * addresses of the interfaces, and the items of inet_interfaces.
 */
char *domain_class_own_addresses(void);

#endif
