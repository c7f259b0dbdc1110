/*
 * domain_list - match a domain name against a list such as mydestination
 * or relay_domains (Postfix's domain match lists).
 *
 * Items, separated by white space or commas, first match wins:
 *
 *   example.com      that domain; with DOMAIN_LIST_PARENT also every
 *                    subdomain (Postfix parent_domain_matches_subdomains,
 *                    which includes relay_domains but not mydestination)
 *   .example.com     every subdomain of example.com (not example.com)
 *   type:table       the domain is looked up, then its parent domains
 *                    ("example.com", or ".example.com" without
 *                    DOMAIN_LIST_PARENT); found means matched
 *   /file/name       more items from a file ('#' comments)
 *   !item            a match of item means "not in the list"
 *
 * Comparison ignores ASCII case and a trailing dot.
 */
#ifndef POSTEL_MAIL_DOMAIN_LIST_H
#define POSTEL_MAIL_DOMAIN_LIST_H

#define DOMAIN_LIST_PARENT 0x01 /* "example.com" also matches its subdomains */
#define DOMAIN_LIST_STRICT 0x02 /* every table must open now (maps.h MAPS_FLAG_STRICT) */

struct domain_list;

/* Build the list; 0, or -1 with *why_r (a configuration error). */
int domain_list_create(const char *title, const char *value, int flags, struct domain_list **dl_r,
                       const char **why_r);
void domain_list_free(struct domain_list **dlp);

/* 1 when domain is in the list, 0 when not, -1 with *why_r on a table error. */
int domain_list_match(struct domain_list *dl, const char *domain, const char **why_r);

/* Re-open rebuilt tables and retry failed ones now (maps_refresh). 0, or -1 with *why_r. */
int domain_list_refresh(struct domain_list *dl, const char **why_r);

#endif
