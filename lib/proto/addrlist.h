/*
 * addrlist - parse RFC 5322 address lists (From, To, Cc, Bcc, Reply-To,
 * Sender, Resent-*): mailboxes with display names, angle addresses with
 * obsolete routes, groups, comments, quoted strings, domain literals, and
 * UTF-8 (RFC 6532). Used for sendmail -t and header address rewriting.
 */
#ifndef POSTEL_PROTO_ADDRLIST_H
#define POSTEL_PROTO_ADDRLIST_H

#include <stddef.h>

#define ADDRLIST_MAX 10000 /* default most addresses in one list */

struct addr_entry {
    char *addr;     /* external form: local@domain, local (no domain), "" for <> */
    char *local;    /* internal form of the local part (see mailbox.h) */
    char *domain;   /* domain or [literal]; NULL when the address had none */
    char *display;  /* display name (phrase or old-style comment), or NULL */
    char *group;    /* name of the group it belongs to, or NULL */
    size_t start;   /* where the address (addr-spec or <>) is in the input */
    size_t len;     /*   and its length, for rewriting in place */
};

struct addr_list {
    struct addr_entry *v;
    size_t count;
    size_t size;
};

struct addr_list *addr_list_create(void);
void addr_list_free(struct addr_list **lp);
int addr_list_parse(struct addr_list *l, const char *in, size_t len, size_t max,
                    const char **why_r);

#endif
