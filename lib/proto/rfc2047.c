/*
 * rfc2047 - decode and encode MIME encoded-words (RFC 2047).
 *
 * Decoding works on unstructured text (Subject, Comments, display names
 * after addrlist has taken them apart). It is lenient the way mail readers
 * are: an encoded-word is recognised wherever its syntax matches, also
 * when it touches other text, and may be longer than 75 characters (up to
 * a bound); white space between two encoded-words is dropped (section
 * 6.2). Charsets: UTF-8 and US-ASCII are checked, ISO-8859-1 is mapped
 * directly, everything else goes through iconv(3); a word that cannot be
 * converted is left exactly as it was. Bytes that are not valid UTF-8
 * become U+FFFD, and decoded control characters (CR, LF, NUL, ...) become
 * '?', so decoding never creates a line break or a C string terminator.
 *
 * Encoding turns UTF-8 text into a header value: words that are plain
 * ASCII stay readable, each run of words that needs encoding becomes
 * "=?UTF-8?Q?...?=" (or B when that is shorter) words of at most 75
 * characters, never splitting a UTF-8 sequence, folded with "\n " so that
 * lines stay within 76 columns where possible (the queue representation
 * uses LF line ends).
 *
 * Security: every loop is bounded by the input length; iconv output is
 * bounded by a fixed factor of its input.
 */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#include "lib/proto/rfc2047.h"
#include "lib/util/str.h"

#define WORD_SCAN_MAX 1000 /* longest encoded-word we accept when decoding */
#define CHARSET_MAX   40

#define IS_LWSP(c) ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')

/* Value of a base64 digit or -1. */
static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode Q encoded text. Returns 0 or -1. */
static int q_decode(struct buf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '_') {
            buf_putc(out, ' ');
        } else if (s[i] == '=') {
            if (i + 2 >= len || (hi = str_hexval(s[i + 1])) < 0 ||
                (lo = str_hexval(s[i + 2])) < 0)
                return -1;
            buf_putc(out, hi << 4 | lo);
            i += 2;
        } else {
            buf_putc(out, s[i]);
        }
    }
    return 0;
}

/* Decode B (base64) encoded text; padding may be missing. Returns 0 or -1. */
static int b_decode(struct buf *out, const char *s, size_t len)
{
    unsigned acc = 0;
    int bits = 0;
    size_t i;

    for (i = 0; i < len && s[i] != '='; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_putc(out, (int)((acc >> bits) & 0xff));
        }
    }
    for (; i < len; i++)
        if (s[i] != '=')
            return -1;
    return 0;
}

/* Append a code point as UTF-8. */
static void put_cp(struct buf *out, unsigned cp)
{
    if (cp < 0x80) {
        buf_putc(out, (int)cp);
    } else if (cp < 0x800) {
        buf_putc(out, 0xc0 | (int)(cp >> 6));
        buf_putc(out, 0x80 | (int)(cp & 0x3f));
    } else {
        buf_putc(out, 0xe0 | (int)(cp >> 12));
        buf_putc(out, 0x80 | (int)((cp >> 6) & 0x3f));
        buf_putc(out, 0x80 | (int)(cp & 0x3f));
    }
}

/*
 * Append UTF-8 text: invalid sequences become U+FFFD, controls '?'. With
 * fold (text outside encoded-words), CR and LF are folding and vanish.
 */
static void put_utf8_text(struct buf *out, const char *s, size_t len, bool fold)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n;

        if (c < 0x80) {
            if (fold && (c == '\r' || c == '\n'))
                ;
            else
                buf_putc(out, (c < 0x20 && c != '\t') || c == 0x7f ? '?' : c);
            i++;
            continue;
        }
        if ((n = str_utf8_len(s + i, len - i)) > 1) {
            buf_append(out, s + i, n);
            i += n;
        } else {
            put_cp(out, 0xfffd);
            i++;
        }
    }
}

/* Convert bytes in charset cs to clean UTF-8 on out. Returns 0 or -1. */
static int charset_convert(struct buf *out, const char *cs, const char *s, size_t len)
{
    iconv_t cd;
    struct buf *tmp;
    char *inp = (char *)s, *outp;
    size_t inleft = len, outleft, room;
    int ret = 0;

    if (strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0 ||
        strcasecmp(cs, "us-ascii") == 0) {
        put_utf8_text(out, s, len, false);
        return 0;
    }
    if (strcasecmp(cs, "iso-8859-1") == 0 || strcasecmp(cs, "latin1") == 0) {
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c < 0x20 || c == 0x7f)
                buf_putc(out, c == '\t' ? c : '?');
            else
                put_cp(out, c);
        }
        return 0;
    }
    if ((cd = iconv_open("UTF-8", cs)) == (iconv_t)-1)
        return -1;
    /* 4 output bytes per input byte covers every charset iconv knows */
    room = len * 4 + 16;
    tmp = buf_create(room);
    outp = buf_str(tmp);
    outleft = room;
    while (inleft > 0) {
        if (iconv(cd, &inp, &inleft, &outp, &outleft) == (size_t)-1) {
            if (errno == EILSEQ && outleft >= 3) {
                /* an invalid byte: U+FFFD and go on */
                memcpy(outp, "\xef\xbf\xbd", 3);
                outp += 3, outleft -= 3;
                inp++, inleft--;
                continue;
            }
            ret = -1;
            break;
        }
    }
    if (ret == 0)
        put_utf8_text(out, buf_str(tmp), room - outleft, false);
    buf_free(&tmp);
    iconv_close(cd);
    return ret;
}

/*
 * Try to decode one encoded-word at in[0..len) ("=?" already seen there).
 * Appends the text and returns the word's length, or 0 when it is none.
 */
static size_t decode_word(struct buf *out, const char *in, size_t len)
{
    char charset[CHARSET_MAX + 1];
    size_t i = 2, cs_start = 2, cs_len, text_start, max = len < WORD_SCAN_MAX ? len : WORD_SCAN_MAX;
    size_t mark = buf_len(out);
    struct buf *raw;
    char enc;
    int ret;

    while (i < max && in[i] != '?' && !IS_LWSP(in[i]))
        i++;
    if (i >= max || in[i] != '?')
        return 0;
    cs_len = i - cs_start;
    /* RFC 2231: charset*language */
    for (size_t k = cs_start; k < i; k++)
        if (in[k] == '*') {
            cs_len = k - cs_start;
            break;
        }
    if (cs_len == 0 || cs_len > CHARSET_MAX || i + 3 >= max || in[i + 2] != '?')
        return 0;
    memcpy(charset, in + cs_start, cs_len);
    charset[cs_len] = 0;
    enc = in[i + 1];
    if (enc != 'B' && enc != 'b' && enc != 'Q' && enc != 'q')
        return 0;
    text_start = i + 3;
    for (i = text_start; i + 1 < max; i++) {
        if (in[i] == '?' && in[i + 1] == '=')
            break;
        if (IS_LWSP(in[i]) || (unsigned char)in[i] < 0x21 || (unsigned char)in[i] > 0x7e)
            return 0;
    }
    if (i + 1 >= max)
        return 0;
    raw = buf_create(i - text_start);
    if (enc == 'B' || enc == 'b')
        ret = b_decode(raw, in + text_start, i - text_start);
    else
        ret = q_decode(raw, in + text_start, i - text_start);
    if (ret == 0)
        ret = charset_convert(out, charset, buf_str(raw), buf_len(raw));
    buf_free(&raw);
    if (ret < 0) {
        buf_truncate(out, mark);
        return 0;
    }
    return i + 2;
}

/*
 * Append in[0..len) with its encoded-words decoded to UTF-8. Returns the
 * number of encoded-words decoded.
 */
int rfc2047_decode(struct buf *out, const char *in, size_t len)
{
    size_t i = 0, ws = 0, ws_len = 0;
    int words = 0;

    while (i < len) {
        size_t n;
        if (in[i] == '=' && i + 1 < len && in[i + 1] == '?' &&
            (n = decode_word(out, in + i, len - i)) > 0) {
            /* the white space before it, after another word, is dropped */
            i += n;
            words++;
            ws = i;
            while (i < len && IS_LWSP(in[i]))
                i++;
            ws_len = i - ws;
            continue;
        }
        if (ws_len > 0) {
            put_utf8_text(out, in + ws, ws_len, true);
            ws_len = 0;
        }
        /* plain text: copy up to the next "=?", cleaned */
        n = i + 1;
        while (n < len && !(in[n] == '=' && n + 1 < len && in[n + 1] == '?'))
            n++;
        put_utf8_text(out, in + i, n - i, true);
        i = n;
    }
    if (ws_len > 0)
        put_utf8_text(out, in + ws, ws_len, true);
    return words;
}

/* True when the word must be encoded: non-ASCII, controls, or looks encoded. */
static bool needs_encoding(const char *w, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)w[i];
        if (c >= 0x7f || c < 0x20)
            return true;
        if (c == '=' && i + 1 < len && w[i + 1] == '?')
            return true;
    }
    return false;
}

/* True for bytes Q can carry as they are inside a header phrase (RFC 2047 5(3)). */
static bool q_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

/* Length of the UTF-8 sequence that starts at s[0] (1 for anything odd). */
static size_t seq_len(const char *s, size_t left)
{
    unsigned char c = (unsigned char)*s;
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

    return n <= left ? n : 1;
}

/* Output state for encoding: folding at the line limit. */
struct enc_out {
    struct buf *out;
    size_t col;
};

/* Emit an atom (plain word or encoded-word); fold before it if needed. */
static void emit_atom(struct enc_out *o, const char *s, size_t len, bool space_before)
{
    if (space_before) {
        if (o->col + 1 + len > RFC2047_LINE_MAX && o->col > 1) {
            buf_append(o->out, "\n ", 2);
            o->col = 1;
        } else {
            buf_putc(o->out, ' ');
            o->col++;
        }
    }
    buf_append(o->out, s, len);
    o->col += len;
}

/* Encode s[0..len) (UTF-8, may hold spaces) as one or more encoded-words. */
static void encode_run(struct enc_out *o, const char *s, size_t len, bool space_before)
{
    size_t q_len = 0, b_len, i = 0;
    bool use_b;

    for (size_t k = 0; k < len; k++)
        q_len += q_plain((unsigned char)s[k]) || s[k] == ' ' ? 1 : 3;
    b_len = (len + 2) / 3 * 4;
    /* Q keeps mostly-Latin text readable; B when Q would be much longer */
    use_b = q_len * 2 > b_len * 3;
    while (i < len) {
        char word[RFC2047_WORD_MAX + 1];
        size_t w = 0, start = i;
        const size_t overhead = 12; /* "=?UTF-8?Q?" and "?=" */
        memcpy(word, use_b ? "=?UTF-8?B?" : "=?UTF-8?Q?", 10);
        w = 10;
        if (use_b) {
            static const char b64[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            /* whole characters, at most 45 bytes (60 base64 chars) */
            size_t take = 0;
            while (i + take < len) {
                size_t n = seq_len(s + i + take, len - i - take);
                if ((take + n + 2) / 3 * 4 > RFC2047_WORD_MAX - overhead)
                    break;
                take += n;
            }
            if (take == 0)
                take = seq_len(s + i, len - i);
            for (size_t k = 0; k < take; k += 3) {
                unsigned v = (unsigned char)s[i + k] << 16;
                if (k + 1 < take)
                    v |= (unsigned char)s[i + k + 1] << 8;
                if (k + 2 < take)
                    v |= (unsigned char)s[i + k + 2];
                word[w++] = b64[(v >> 18) & 63];
                word[w++] = b64[(v >> 12) & 63];
                word[w++] = k + 1 < take ? b64[(v >> 6) & 63] : '=';
                word[w++] = k + 2 < take ? b64[v & 63] : '=';
            }
            i += take;
        } else {
            static const char hex[] = "0123456789ABCDEF";
            while (i < len) {
                size_t n = seq_len(s + i, len - i), need = 0;
                for (size_t k = 0; k < n; k++)
                    need += q_plain((unsigned char)s[i + k]) || s[i + k] == ' ' ? 1 : 3;
                if (w + need + 2 > RFC2047_WORD_MAX && i > start)
                    break;
                for (size_t k = 0; k < n; k++) {
                    unsigned char c = (unsigned char)s[i + k];
                    if (c == ' ') {
                        word[w++] = '_';
                    } else if (q_plain(c)) {
                        word[w++] = (char)c;
                    } else {
                        word[w++] = '=';
                        word[w++] = hex[c >> 4];
                        word[w++] = hex[c & 15];
                    }
                }
                i += n;
            }
        }
        word[w++] = '?';
        word[w++] = '=';
        emit_atom(o, word, w, space_before || start > 0);
        space_before = true;
    }
}

/*
 * Append in[0..len) (UTF-8 header text, unstructured) as a header value:
 * plain ASCII words as they are, runs of words that need it as
 * encoded-words, folded with "\n " near 76 columns. column is how much of
 * the first line is already used (e.g. strlen("Subject: ")).
 */
void rfc2047_encode(struct buf *out, const char *in, size_t len, size_t column)
{
    struct enc_out o = {.out = out, .col = column};
    size_t i = 0;
    bool first = true;

    while (i < len) {
        size_t start, end, run_end;
        while (i < len && IS_LWSP(in[i]))
            i++;
        if (i >= len)
            break;
        start = i;
        while (i < len && !IS_LWSP(in[i]))
            i++;
        end = i;
        if (!needs_encoding(in + start, end - start)) {
            emit_atom(&o, in + start, end - start, !first);
            first = false;
            continue;
        }
        /* extend the run over following words that need encoding too; the
         * spaces between them go inside the encoded text */
        run_end = end;
        for (;;) {
            size_t j = run_end, k;
            while (j < len && IS_LWSP(in[j]))
                j++;
            if (j >= len)
                break;
            k = j;
            while (k < len && !IS_LWSP(in[k]))
                k++;
            if (!needs_encoding(in + j, k - j))
                break;
            run_end = k;
        }
        {
            /* white space inside the run becomes single spaces */
            struct buf *run = buf_create(run_end - start);
            for (size_t k = start; k < run_end; k++) {
                if (IS_LWSP(in[k])) {
                    if (buf_str(run)[buf_len(run) - 1] != ' ')
                        buf_putc(run, ' ');
                } else {
                    buf_putc(run, in[k]);
                }
            }
            encode_run(&o, buf_str(run), buf_len(run), !first);
            buf_free(&run);
        }
        first = false;
        i = run_end;
    }
}
