/*
 * local_addr - recipient addresses as local(8) sees them: the local part
 * in internal form and lower case, the domain, the user name and the
 * address extension (recipient_delimiter), and
 * the Return-Path:/Delivered-To: lines every delivery starts with.
 *
 * Pure functions: no files, no configuration beyond what is passed in.
 *
 * Security: the header lines are built from envelope addresses; a control
 * character in them (a queue file written by a broken client) becomes '_'
 * so that no address can add a header line of its own.
 */
#include "config.h"

#include <string.h>

#include "lib/proto/mailbox.h"
#include "lib/util/mem.h"
#include "lib/util/str.h"
#include "local/local.h"

/* Split user at the first byte of delimiters; returns the extension or NULL. */
char *local_addr_extension(char *user, const char *delimiters, bool owner_request_special,
                           char *delim_r)
{
    size_t len;

    *delim_r = 0;
    if (delimiters == NULL || *delimiters == 0)
        return NULL;
    /* Names that are never taken apart, whatever the delimiter (Postfix split_addr). */
    if (str_eq_icase(user, "postmaster") || str_eq_icase(user, "mailer-daemon") ||
        str_eq_icase(user, "double-bounce"))
        return NULL;
    if (owner_request_special && strchr(delimiters, '-') != NULL) {
        len = strlen(user);
        if (str_has_prefix_icase(user, "owner-"))
            return NULL;
        if (len > 8 && str_eq_icase(user + len - 8, "-request"))
            return NULL;
    }
    /* Never at the first byte: "+foo" has no user name to deliver to. */
    len = strcspn(user, delimiters);
    if (len == 0 || user[len] == 0)
        return NULL;
    *delim_r = user[len];
    user[len] = 0;
    return user + len + 1;
}

/* Take address apart into a (cleared first); 0, or -1 with *why_r for an empty user. */
int local_addr_split(const char *address, const char *delimiters, bool owner_request_special,
                     struct local_addr *a, const char **why_r)
{
    const char *at = strrchr(address, '@');
    size_t llen = at ? (size_t)(at - address) : strlen(address);
    struct buf *internal = buf_create(llen + 1);
    size_t used = 0;
    const char *why;
    char *ext;

    memset(a, 0, sizeof(*a));
    a->address = mem_strdup(address);
    /* External form ("john doe"@x) to internal (john doe); leave anything odd as it is. */
    if (mailbox_local_parse(address, llen, MAILBOX_UTF8 | MAILBOX_LENIENT, internal, &used, &why) <
            0 ||
        used != llen)
        buf_set(internal, "");
    if (buf_len(internal) == 0 && llen > 0) {
        buf_reset(internal);
        buf_append(internal, address, llen);
    }
    a->local = buf_export(&internal);
    str_lower(a->local);
    a->domain = mem_strdup(at ? at + 1 : "");
    str_lower(a->domain);
    {
        size_t dlen = strlen(a->domain);

        if (dlen > 0 && a->domain[dlen - 1] == '.')
            a->domain[dlen - 1] = 0;
    }
    a->user = mem_strdup(a->local);
    ext = local_addr_extension(a->user, delimiters, owner_request_special, &a->delim);
    /* An extension with '/' could lead a $extension path astray: drop it (Postfix does). */
    if (ext != NULL && strchr(ext, '/') == NULL)
        a->extension = mem_strdup(ext);
    else if (ext != NULL)
        a->delim = 0;
    if (a->user[0] == 0) {
        *why_r = "empty user name";
        return -1;
    }
    return 0;
}

/* Free the strings of a. */
void local_addr_clear(struct local_addr *a)
{
    mem_free(a->address);
    mem_free(a->local);
    mem_free(a->domain);
    mem_free(a->user);
    mem_free(a->extension);
    memset(a, 0, sizeof(*a));
}

/* Append text with control characters as '_' (header-safe), lower case if asked. */
static void local_header_text(struct buf *out, const char *text, bool lower)
{
    for (const unsigned char *cp = (const unsigned char *)text; *cp; cp++) {
        int c = *cp;

        if (c < 0x20 || c == 0x7f)
            c = '_';
        else if (lower && c >= 'A' && c <= 'Z')
            c = c - 'A' + 'a';
        buf_putc(out, c);
    }
}

/*
 * The lines deliveries start with (Postfix: Return-Path, then Delivered-To
 * in lower case); a NULL sender or delivered leaves that line out.
 */
void local_prepend_headers(struct buf *out, const char *sender, const char *delivered)
{
    if (sender != NULL) {
        buf_puts(out, "Return-Path: <");
        local_header_text(out, sender, false);
        buf_puts(out, ">\n");
    }
    if (delivered != NULL) {
        buf_puts(out, "Delivered-To: ");
        local_header_text(out, delivered, true);
        buf_puts(out, "\n");
    }
}

/* Append value with every byte that is not in filter replaced by '_'. */
void local_filter(struct buf *out, const char *value, const char *filter)
{
    for (const char *cp = value; *cp; cp++)
        buf_putc(out, filter == NULL || strchr(filter, *cp) != NULL ? *cp : '_');
}
