/*
 * mailbox - RFC 5321 mailbox syntax: local parts, domains, address literals,
 * quoting between the internal and external forms, and UTF-8 checks.
 *
 * Two forms of a local part are used throughout Postel, as in Postfix:
 *   internal  the local part with quotes and backslash escapes removed
 *             ("john doe" and "a\"b" become john doe and a"b);
 *   external  the form that goes on the wire: the internal form when it is
 *             a valid dot-atom, otherwise one quoted-string with " and \
 *             escaped. mailbox_quote_local() turns internal into external.
 * Addresses stored in queue files are in external form (unambiguous).
 */
#ifndef POSTEL_PROTO_MAILBOX_H
#define POSTEL_PROTO_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/util/buf.h"

/* RFC 5321 section 4.5.3.1 size limits, in octets. */
#define MAILBOX_LOCAL_MAX  64  /* local part */
#define MAILBOX_DOMAIN_MAX 255 /* domain */
#define MAILBOX_PATH_MAX   256 /* reverse-path or forward-path with < > */
#define MAILBOX_LABEL_MAX  63  /* one DNS label */

/* flags */
#define MAILBOX_UTF8    0x1 /* UTF-8 allowed (SMTPUTF8 given, RFC 6531) */
#define MAILBOX_LENIENT 0x2 /* accept common violations (see mailbox.c) */

/* Results of mailbox_local_parse() and friends when they fail. */
#define MAILBOX_ERR_SYNTAX  (-1) /* malformed */
#define MAILBOX_ERR_8BIT    (-2) /* non-ASCII without MAILBOX_UTF8 */
#define MAILBOX_ERR_TOOLONG (-3) /* over a length limit */

bool mailbox_utf8_valid(const char *s, size_t len);
bool mailbox_has_8bit(const char *s, size_t len);
bool mailbox_is_atext(int c, int flags);
bool mailbox_is_dot_atom(const char *s, size_t len, int flags);

int mailbox_local_parse(const char *s, size_t len, int flags, struct buf *internal_r,
                        size_t *used_r, const char **why_r);
int mailbox_domain_check(const char *s, size_t len, int flags, const char **why_r);
int mailbox_literal_check(const char *s, size_t len, const char **why_r);
void mailbox_quote_local(struct buf *out, const char *local, size_t len, int flags);

/*
 * The '@' between local part and domain of an address in external form:
 * the offset of the last '@' outside a quoted string ("a@b"@c -> 5), or -1
 * when there is none.
 */
ssize_t mailbox_at_sign(const char *s, size_t len);

#endif
