/*
 * xtext - RFC 3461 xtext and RFC 6533 utf-8-addr-xtext/unitext coding.
 *
 * RFC 3461: xchar is "!" through "~" except "+" and "="; any other byte is
 * "+" and two upper-case hex digits. The decoder also accepts lower-case hex
 * digits (seen in the wild, unambiguous); the encoder emits upper case.
 *
 * RFC 6533: QCHAR is "!" through "~" except "+", "=" and "\"; any other
 * Unicode code point is written "\x{HEX}". utf-8-addr-unitext (allowed only
 * under SMTPUTF8) also carries UTF-8 as is. The decoder also accepts an
 * RFC 3461 "+XX" there, and any "\x{...}" of 1 to 6 digits except NUL,
 * surrogates and values above U+10FFFF; the result is always checked to
 * be well-formed UTF-8.
 *
 * Security: every input is length-bounded; decoders never read past len.
 */
#include "config.h"

#include <stdio.h>

#include "lib/proto/mailbox.h"
#include "lib/proto/xtext.h"
#include "lib/util/str.h"

/* Append the RFC 3461 xtext form of in[0..len). */
void xtext_encode(struct buf *out, const char *in, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= '!' && c <= '~' && c != '+' && c != '=') {
            buf_putc(out, c);
        } else {
            buf_putc(out, '+');
            buf_putc(out, hex[c >> 4]);
            buf_putc(out, hex[c & 15]);
        }
    }
}

/* Set *why_r if wanted and fail. */
static int fail(const char **why_r, const char *why)
{
    if (why_r)
        *why_r = why;
    return -1;
}

/* Decode one "+XX" at in[i]; append the byte. Returns 0 or -1. */
static int decode_hexchar(struct buf *out, const char *in, size_t len, size_t i)
{
    int hi, lo;

    if (len - i < 3 || (hi = str_hexval(in[i + 1])) < 0 ||
        (lo = str_hexval(in[i + 2])) < 0)
        return -1;
    buf_putc(out, hi << 4 | lo);
    return 0;
}

/*
 * Decode RFC 3461 xtext in[0..len) and append the result to out. Returns 0,
 * or -1 (out restored) when in is not xtext.
 */
int xtext_decode(struct buf *out, const char *in, size_t len, const char **why_r)
{
    size_t start = buf_len(out);

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '+') {
            if (decode_hexchar(out, in, len, i) < 0) {
                buf_truncate(out, start);
                return fail(why_r, "malformed xtext hexchar");
            }
            i += 2;
        } else if (c >= '!' && c <= '~' && c != '=') {
            buf_putc(out, c);
        } else {
            buf_truncate(out, start);
            return fail(why_r, "invalid character in xtext");
        }
    }
    return 0;
}

/* Append code point cp as UTF-8 (cp already range-checked). */
static void put_utf8(struct buf *out, unsigned long cp)
{
    if (cp < 0x80) {
        buf_putc(out, (int)cp);
    } else if (cp < 0x800) {
        buf_putc(out, 0xc0 | (int)(cp >> 6));
        buf_putc(out, 0x80 | (int)(cp & 0x3f));
    } else if (cp < 0x10000) {
        buf_putc(out, 0xe0 | (int)(cp >> 12));
        buf_putc(out, 0x80 | (int)((cp >> 6) & 0x3f));
        buf_putc(out, 0x80 | (int)(cp & 0x3f));
    } else {
        buf_putc(out, 0xf0 | (int)(cp >> 18));
        buf_putc(out, 0x80 | (int)((cp >> 12) & 0x3f));
        buf_putc(out, 0x80 | (int)((cp >> 6) & 0x3f));
        buf_putc(out, 0x80 | (int)(cp & 0x3f));
    }
}

/* Decode one "\x{HEX}" at in[i]; append UTF-8, set *used_r. Returns 0 or -1. */
static int decode_embedded(struct buf *out, const char *in, size_t len, size_t i,
                           size_t *used_r)
{
    unsigned long cp = 0;
    size_t j = i + 3, digits = 0;
    int v;

    if (len - i < 5 || in[i + 1] != 'x' || in[i + 2] != '{')
        return -1;
    while (j < len && (v = str_hexval(in[j])) >= 0 && digits < 7) {
        cp = cp << 4 | (unsigned long)v;
        j++, digits++;
    }
    if (digits == 0 || digits > 6 || j >= len || in[j] != '}')
        return -1;
    if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    put_utf8(out, cp);
    *used_r = j + 1 - i;
    return 0;
}

/*
 * Decode RFC 6533 utf-8-addr-xtext (unitext false) or utf-8-addr-unitext
 * (unitext true: raw UTF-8 allowed) and append the UTF-8 result. Returns 0
 * or -1 (out restored).
 */
int xtext_utf8_decode(struct buf *out, const char *in, size_t len, bool unitext,
                      const char **why_r)
{
    size_t start = buf_len(out);
    const char *why = NULL;

    for (size_t i = 0; i < len && why == NULL;) {
        unsigned char c = (unsigned char)in[i];
        size_t used;
        if (c == '\\') {
            if (decode_embedded(out, in, len, i, &used) < 0)
                why = "malformed \\x{...} escape";
            else
                i += used;
        } else if (c == '+') {
            if (decode_hexchar(out, in, len, i) < 0)
                why = "malformed xtext hexchar";
            else
                i += 3;
        } else if (c >= 0x80 && unitext) {
            buf_putc(out, c);
            i++;
        } else if (c >= '!' && c <= '~' && c != '=') {
            buf_putc(out, c);
            i++;
        } else {
            why = c >= 0x80 ? "raw UTF-8 needs SMTPUTF8" : "invalid character in xtext";
        }
    }
    if (why == NULL && !mailbox_utf8_valid(buf_str(out) + start, buf_len(out) - start))
        why = "malformed UTF-8";
    if (why != NULL) {
        buf_truncate(out, start);
        return fail(why_r, why);
    }
    return 0;
}

/*
 * Append the RFC 6533 utf-8-addr-xtext form of the UTF-8 string in[0..len):
 * QCHARs as they are, everything else as \x{HEX}. Returns 0, or -1 when in
 * is not well-formed UTF-8 (nothing appended).
 */
int xtext_utf8_encode(struct buf *out, const char *in, size_t len, const char **why_r)
{
    const unsigned char *p = (const unsigned char *)in;

    if (!mailbox_utf8_valid(in, len))
        return fail(why_r, "malformed UTF-8");
    for (size_t i = 0; i < len;) {
        unsigned long cp = p[i];
        size_t n = 0;
        if (cp >= '!' && cp <= '~' && cp != '+' && cp != '=' && cp != '\\') {
            buf_putc(out, (int)cp);
            i++;
            continue;
        }
        if (cp >= 0xf0)
            cp &= 0x07, n = 3;
        else if (cp >= 0xe0)
            cp &= 0x0f, n = 2;
        else if (cp >= 0xc0)
            cp &= 0x1f, n = 1;
        for (size_t k = 1; k <= n; k++)
            cp = cp << 6 | (p[i + k] & 0x3f);
        i += n + 1;
        buf_printf(out, "\\x{%02lX}", cp);
    }
    return 0;
}
