/*
 * mailbox - RFC 5321 mailbox syntax checks and local-part quoting.
 *
 * Owns the grammar of Local-part, Domain and address-literal (RFC 5321
 * section 4.1.2, 4.1.3), extended by RFC 6531 with UTF-8 when the client
 * gave SMTPUTF8. Lenient mode (MAILBOX_LENIENT, what Postfix accepts with
 * smtpd_strict_rfc821_envelopes = no) additionally accepts empty atoms in a
 * dot-string ("john..doe", "john."), and "_" in domain labels and labels
 * that begin or end with "-"; nothing else.
 *
 * Security: every function is bounded by the length it is given and never
 * reads past it; strings need not be NUL-terminated. UTF-8 is validated
 * strictly (no overlong forms, no surrogates, nothing above U+10FFFF), so
 * later stages can trust it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "lib/proto/mailbox.h"
#include "lib/util/str.h"

/* True when s[0..len) is well-formed UTF-8 (RFC 3629). */
bool mailbox_utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n)
        if ((n = str_utf8_len(s + i, len - i)) == 0)
            return false;
    return true;
}

/* True when any byte of s[0..len) is outside US-ASCII. */
bool mailbox_has_8bit(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] & 0x80)
            return true;
    return false;
}

/* True for an RFC 5322 atext byte; bytes >= 0x80 count only with MAILBOX_UTF8. */
bool mailbox_is_atext(int c, int flags)
{
    c &= 0xff;
    if (c >= 0x80)
        return (flags & MAILBOX_UTF8) != 0;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* True when s[0..len) is a strict dot-atom: atoms of atext joined by single dots. */
bool mailbox_is_dot_atom(const char *s, size_t len, int flags)
{
    bool need_atext = true;

    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (need_atext)
                return false;
            need_atext = true;
        } else if (mailbox_is_atext(s[i], flags)) {
            need_atext = false;
        } else {
            return false;
        }
    }
    if (need_atext)
        return false;
    return !(flags & MAILBOX_UTF8) || mailbox_utf8_valid(s, len);
}

/* Set *why_r when the caller asked for a reason. */
static int fail(const char **why_r, int err, const char *why)
{
    if (why_r)
        *why_r = why;
    return err;
}

/* Parse a quoted-string local part at s[0]=='"'; append the internal form. */
static int local_quoted(const char *s, size_t len, int flags, struct buf *out, size_t *used_r,
                        const char **why_r)
{
    size_t i = 1;

    for (;;) {
        if (i >= len)
            return fail(why_r, MAILBOX_ERR_SYNTAX, "unterminated quoted string");
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            *used_r = i + 1;
            return 0;
        }
        if (c == '\\') {
            /* quoted-pairSMTP = %d92 %d32-126 */
            if (i + 1 >= len)
                return fail(why_r, MAILBOX_ERR_SYNTAX, "backslash at end of quoted string");
            c = (unsigned char)s[i + 1];
            if (c >= 0x80 && !(flags & MAILBOX_UTF8))
                return fail(why_r, MAILBOX_ERR_8BIT, "non-ASCII character in local part");
            if (c < 32 || c > 126)
                return fail(why_r, MAILBOX_ERR_SYNTAX, "invalid quoted-pair in local part");
            if (out)
                buf_putc(out, c);
            i += 2;
            continue;
        }
        if (c >= 0x80) {
            if (!(flags & MAILBOX_UTF8))
                return fail(why_r, MAILBOX_ERR_8BIT, "non-ASCII character in local part");
        } else if (c < 32 || c == 127) {
            /* qtextSMTP = %d32-33 / %d35-91 / %d93-126 */
            return fail(why_r, MAILBOX_ERR_SYNTAX, "control character in local part");
        }
        if (out)
            buf_putc(out, c);
        i++;
    }
}

/* Parse a dot-string local part; stops at '@' or the end. */
static int local_dotstring(const char *s, size_t len, int flags, struct buf *out,
                           size_t *used_r, const char **why_r)
{
    bool lenient = (flags & MAILBOX_LENIENT) != 0;
    bool need_atext = true;
    size_t i;

    for (i = 0; i < len && s[i] != '@'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (need_atext && !lenient)
                return fail(why_r, MAILBOX_ERR_SYNTAX, "empty atom in local part");
            need_atext = true;
        } else if (c >= 0x80 && !(flags & MAILBOX_UTF8)) {
            return fail(why_r, MAILBOX_ERR_8BIT, "non-ASCII character in local part");
        } else if (mailbox_is_atext(c, flags)) {
            need_atext = false;
        } else {
            return fail(why_r, MAILBOX_ERR_SYNTAX, "invalid character in local part");
        }
    }
    if (i == 0)
        return fail(why_r, MAILBOX_ERR_SYNTAX, "empty local part");
    if (need_atext && !lenient)
        return fail(why_r, MAILBOX_ERR_SYNTAX, "local part ends with a dot");
    if (out)
        buf_append(out, s, i);
    *used_r = i;
    return 0;
}

/*
 * Parse the Local-part at the start of s[0..len), which ends at an '@'
 * outside quotes or at len. Appends the internal form to internal_r (if not
 * NULL), sets *used_r to the bytes consumed. Returns 0 or a MAILBOX_ERR_*.
 */
int mailbox_local_parse(const char *s, size_t len, int flags, struct buf *internal_r,
                        size_t *used_r, const char **why_r)
{
    size_t start = internal_r ? buf_len(internal_r) : 0;
    size_t used = 0;
    int ret;

    if (len == 0)
        return fail(why_r, MAILBOX_ERR_SYNTAX, "empty local part");
    if (s[0] == '"')
        ret = local_quoted(s, len, flags, internal_r, &used, why_r);
    else
        ret = local_dotstring(s, len, flags, internal_r, &used, why_r);
    if (ret == 0 && used < len && s[used] != '@')
        ret = fail(why_r, MAILBOX_ERR_SYNTAX, "garbage after quoted local part");
    if (ret == 0 && (flags & MAILBOX_UTF8) && !mailbox_utf8_valid(s, used))
        ret = fail(why_r, MAILBOX_ERR_SYNTAX, "malformed UTF-8 in local part");
    if (ret == 0 && used > MAILBOX_LOCAL_MAX)
        ret = fail(why_r, MAILBOX_ERR_TOOLONG, "local part longer than 64 octets");
    if (ret != 0) {
        if (internal_r)
            buf_truncate(internal_r, start);
        return ret;
    }
    *used_r = used;
    return 0;
}

/* True for bytes allowed inside a DNS label (besides '-'). */
static bool label_char(unsigned char c, int flags)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    if (c >= 0x80)
        return (flags & MAILBOX_UTF8) != 0;
    return c == '_' && (flags & MAILBOX_LENIENT);
}

/* Check a dotted IPv4 address: four numbers 0-255 of 1-3 digits (RFC 5321 Snum). */
static bool ipv4_valid(const char *s, size_t len)
{
    int parts = 0;
    size_t i = 0;

    while (parts < 4) {
        unsigned val = 0;
        size_t digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 4) {
            val = val * 10 + (unsigned)(s[i] - '0');
            i++, digits++;
        }
        if (digits == 0 || digits > 3 || val > 255)
            return false;
        if (++parts < 4) {
            if (i >= len || s[i] != '.')
                return false;
            i++;
        }
    }
    return i == len;
}

/*
 * Check an address literal including its brackets: [1.2.3.4] or
 * [IPv6:...]. Other standardized tags are refused: there is nothing we
 * could deliver to. Returns 0 or MAILBOX_ERR_SYNTAX.
 */
int mailbox_literal_check(const char *s, size_t len, const char **why_r)
{
    char tmp[64];
    unsigned char addr6[16];

    if (len < 2 || s[0] != '[' || s[len - 1] != ']')
        return fail(why_r, MAILBOX_ERR_SYNTAX, "malformed address literal");
    s++, len -= 2;
    if (len >= 5 && strncasecmp(s, "IPv6:", 5) == 0) {
        s += 5, len -= 5;
        if (len == 0 || len >= sizeof(tmp))
            return fail(why_r, MAILBOX_ERR_SYNTAX, "malformed IPv6 address literal");
        for (size_t i = 0; i < len; i++)
            if (!strchr("0123456789abcdefABCDEF:.", s[i]) || s[i] == 0)
                return fail(why_r, MAILBOX_ERR_SYNTAX, "malformed IPv6 address literal");
        memcpy(tmp, s, len);
        tmp[len] = 0;
        /* The RFC 5321 IPv6 forms are exactly what inet_pton() accepts,
         * once the characters are restricted as above. */
        if (inet_pton(AF_INET6, tmp, addr6) != 1)
            return fail(why_r, MAILBOX_ERR_SYNTAX, "malformed IPv6 address literal");
        return 0;
    }
    if (ipv4_valid(s, len))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            return fail(why_r, MAILBOX_ERR_SYNTAX, "unsupported address literal type");
    return fail(why_r, MAILBOX_ERR_SYNTAX, "malformed IPv4 address literal");
}

/*
 * Check a Domain (RFC 5321: sub-domains of letters, digits and inner
 * hyphens, 63 octets each, 255 in all; U-labels with MAILBOX_UTF8) or an
 * address literal. Returns 0 or a MAILBOX_ERR_*.
 */
int mailbox_domain_check(const char *s, size_t len, int flags, const char **why_r)
{
    bool lenient = (flags & MAILBOX_LENIENT) != 0;
    size_t label = 0;

    if (len == 0)
        return fail(why_r, MAILBOX_ERR_SYNTAX, "empty domain");
    if (s[0] == '[')
        return mailbox_literal_check(s, len, why_r);
    if (len > MAILBOX_DOMAIN_MAX)
        return fail(why_r, MAILBOX_ERR_TOOLONG, "domain longer than 255 octets");
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)s[i] : '.';
        if (c == '.') {
            if (label == 0)
                return fail(why_r, MAILBOX_ERR_SYNTAX, "empty label in domain");
            if (label > MAILBOX_LABEL_MAX)
                return fail(why_r, MAILBOX_ERR_TOOLONG, "domain label longer than 63 octets");
            if (s[i - 1] == '-' && !lenient)
                return fail(why_r, MAILBOX_ERR_SYNTAX, "domain label ends with a hyphen");
            label = 0;
        } else if (c >= 0x80 && !(flags & MAILBOX_UTF8)) {
            return fail(why_r, MAILBOX_ERR_8BIT, "non-ASCII character in domain");
        } else if (c == '-') {
            if (label == 0 && !lenient)
                return fail(why_r, MAILBOX_ERR_SYNTAX, "domain label starts with a hyphen");
            label++;
        } else if (label_char(c, flags)) {
            label++;
        } else {
            return fail(why_r, MAILBOX_ERR_SYNTAX, "invalid character in domain");
        }
    }
    if ((flags & MAILBOX_UTF8) && !mailbox_utf8_valid(s, len))
        return fail(why_r, MAILBOX_ERR_SYNTAX, "malformed UTF-8 in domain");
    return 0;
}

/*
 * Append the external form of an internal local part: unchanged when it is
 * a dot-atom, otherwise quoted with '"' and '\' escaped. Bytes >= 0x80 stay
 * unquoted only with MAILBOX_UTF8.
 */
void mailbox_quote_local(struct buf *out, const char *local, size_t len, int flags)
{
    if (mailbox_is_dot_atom(local, len, flags & MAILBOX_UTF8)) {
        buf_append(out, local, len);
        return;
    }
    buf_putc(out, '"');
    for (size_t i = 0; i < len; i++) {
        if (local[i] == '"' || local[i] == '\\')
            buf_putc(out, '\\');
        buf_putc(out, local[i]);
    }
    buf_putc(out, '"');
}

/* The offset of the last '@' outside a quoted string, or -1. */
ssize_t mailbox_at_sign(const char *s, size_t len)
{
    bool quoted = false;
    ssize_t at = -1;

    for (size_t i = 0; i < len; i++) {
        if (quoted && s[i] == '\\' && i + 1 < len)
            i++;
        else if (s[i] == '"')
            quoted = !quoted;
        else if (s[i] == '@' && !quoted)
            at = (ssize_t)i;
    }
    return at;
}
