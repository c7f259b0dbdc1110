/*
 * smtp_generic - smtp_generic_maps (Postfix's generic(5)): outgoing mail
 * gets addresses that are valid on the outside, such as those of the
 * provider account that a smarthost relays for. Applied by smtp(8) to the
 * envelope sender, the envelope recipients and the address headers of the
 * top-level header block.
 *
 * Lookups, keys folded to lower case: "user@domain", then "@domain". A
 * value "new@address" replaces the address; a value "@newdomain" keeps
 * the local part. The null sender is never rewritten.
 *
 * Security notes: header values come from the message (any sender), so
 * they are parsed by lib/proto/addrlist with its bounds, and a header that
 * does not parse is left as it is. Table values come from the
 * administrator. A table that cannot be read is an error (the caller
 * defers), never "no match".
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "lib/mail/maps.h"
#include "lib/proto/addrlist.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "smtp/smtp.h"

/* Headers whose value is an address list (RFC 5322 and common extensions). */
static const char *const smtp_generic_headers[] = {
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Resent-From",
    "Resent-Sender",
    "Resent-Reply-To",
    "Resent-To",
    "Resent-Cc",
    "Resent-Bcc",
    "Return-Receipt-To",
    "Errors-To",
    "Disposition-Notification-To",
    "Mail-Followup-To",
    "Mail-Reply-To",
};

/* The rewritten form of addr. */
int smtp_generic_address(struct maps *m, const char *addr, struct buf *out, const char **why_r)
{
    const char *at = strrchr(addr, '@'), *value = NULL;
    struct buf *key;
    int rc;

    buf_set(out, addr);
    if (m == NULL || maps_count(m) == 0 || *addr == 0)
        return 0;
    rc = maps_find(m, addr, &value, why_r);
    if (rc == 0 && at != NULL && at[1] != 0) {
        key = buf_create(64);
        buf_puts(key, at);
        rc = maps_find(m, buf_str(key), &value, why_r);
        buf_free(&key);
    }
    if (rc <= 0)
        return rc;
    if (value[0] == '@' && at != NULL) {
        /* "@newdomain": keep the local part. */
        buf_reset(out);
        buf_append(out, addr, (size_t)(at - addr));
        buf_puts(out, value);
    } else if (value[0] == '@') {
        buf_set(out, addr);
        buf_puts(out, value);
    } else {
        buf_set(out, value);
    }
    return strcmp(buf_str(out), addr) != 0 ? 1 : 0;
}

/* Rewrite the addresses of one header field. */
int smtp_generic_header(struct maps *m, const char *field, size_t len, struct buf *out,
                        const char **why_r)
{
    const char *colon = memchr(field, ':', len);
    struct addr_list *l;
    struct buf *addr;
    size_t name_len, vstart;
    bool known = false, changed = false;
    const char *pwhy;

    if (m == NULL || maps_count(m) == 0 || colon == NULL)
        return 0;
    name_len = (size_t)(colon - field);
    while (name_len > 0 && (field[name_len - 1] == ' ' || field[name_len - 1] == '\t'))
        name_len--;
    for (size_t i = 0; i < sizeof(smtp_generic_headers) / sizeof(smtp_generic_headers[0]); i++)
        if (strlen(smtp_generic_headers[i]) == name_len &&
            strncasecmp(field, smtp_generic_headers[i], name_len) == 0)
            known = true;
    if (!known)
        return 0;
    vstart = (size_t)(colon - field) + 1;
    l = addr_list_create();
    if (addr_list_parse(l, field + vstart, len - vstart, ADDRLIST_MAX, &pwhy) < 0) {
        addr_list_free(&l);
        return 0;
    }
    addr = buf_create(64);
    buf_reset(out);
    buf_append(out, field, vstart);
    /* Copy the value, replacing each rewritten address in place. */
    {
        size_t pos = 0, vlen = len - vstart;
        const char *v = field + vstart;

        for (size_t i = 0; i < l->count; i++) {
            const struct addr_entry *e = &l->v[i];
            int rc;

            if (e->addr == NULL || *e->addr == 0 || e->domain == NULL || e->start < pos ||
                e->start + e->len > vlen)
                continue;
            rc = smtp_generic_address(m, e->addr, addr, why_r);
            if (rc < 0) {
                buf_free(&addr);
                addr_list_free(&l);
                return -1;
            }
            if (rc == 0)
                continue;
            buf_append(out, v + pos, e->start - pos);
            buf_append(out, buf_str(addr), buf_len(addr));
            pos = e->start + e->len;
            changed = true;
        }
        buf_append(out, v + pos, vlen - pos);
    }
    buf_free(&addr);
    addr_list_free(&l);
    return changed ? 1 : 0;
}
