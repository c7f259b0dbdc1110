/*
 * str - small string helpers.
 *
 * Owns nothing; every function works on caller memory.
 *
 * Security notes: copies into fixed buffers are always bounded and always
 * NUL-terminated, and truncation is reported (-1) so the caller can answer
 * it instead of acting on a cut-off value. Case folding is ASCII only, so
 * the locale can never change how a protocol keyword or domain compares.
 * Number parsing refuses empty strings, trailing junk, and values outside
 * the caller's range, including overflow.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/str.h"

/* ASCII lower case of c, independent of the locale. */
static inline int str_fold(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* True for the white space that trims: space, tab, CR, LF, VT, FF. */
static inline bool str_is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Copy src into dst of size bytes; -1 if it had to be cut (dst still ends in NUL). */
int str_copy(char *dst, size_t size, const char *src)
{
    return str_copyn(dst, size, src, strlen(src));
}

/* Copy len bytes of src (stopping at a NUL) into dst; -1 if cut. */
int str_copyn(char *dst, size_t size, const char *src, size_t len)
{
    const char *nul = memchr(src, '\0', len);

    if (nul != NULL)
        len = (size_t)(nul - src);
    if (size == 0)
        return -1;
    if (len >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return -1;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/* Append src to the string in dst of size bytes; -1 if cut. */
int str_append(char *dst, size_t size, const char *src)
{
    size_t used = strnlen(dst, size);

    if (used == size)
        return -1; /* dst was not terminated within size: refuse to touch it */
    return str_copy(dst + used, size - used, src);
}

/* Compare ASCII case-insensitively, like strcasecmp in the C locale. */
int str_cmp_icase(const char *a, const char *b)
{
    const unsigned char *p = (const unsigned char *)a;
    const unsigned char *q = (const unsigned char *)b;

    while (*p && str_fold(*p) == str_fold(*q)) {
        p++;
        q++;
    }
    return str_fold(*p) - str_fold(*q);
}

/* Compare at most n bytes ASCII case-insensitively. */
int str_ncmp_icase(const char *a, const char *b, size_t n)
{
    const unsigned char *p = (const unsigned char *)a;
    const unsigned char *q = (const unsigned char *)b;

    for (; n > 0; n--, p++, q++) {
        int d = str_fold(*p) - str_fold(*q);

        if (d != 0 || *p == '\0')
            return d;
    }
    return 0;
}

/* True if a and b are equal ignoring ASCII case. */
bool str_eq_icase(const char *a, const char *b)
{
    return str_cmp_icase(a, b) == 0;
}

/* True if s starts with prefix. */
bool str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* True if s starts with prefix, ignoring ASCII case. */
bool str_has_prefix_icase(const char *s, const char *prefix)
{
    return str_ncmp_icase(s, prefix, strlen(prefix)) == 0;
}

/* True if s ends with suffix, ignoring ASCII case. */
bool str_has_suffix_icase(const char *s, const char *suffix)
{
    size_t ls = strlen(s);
    size_t lx = strlen(suffix);

    return lx <= ls && str_cmp_icase(s + ls - lx, suffix) == 0;
}

/* First occurrence of needle in haystack ignoring ASCII case, or NULL. */
const char *str_find_icase(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);

    if (n == 0)
        return haystack;
    for (const char *p = haystack; *p; p++)
        if (str_fold((unsigned char)*p) == str_fold((unsigned char)*needle)
            && str_ncmp_icase(p, needle, n) == 0)
            return p;
    return NULL;
}

/* Cut trailing white space in place and return s past leading white space. */
char *str_trim(char *s)
{
    size_t len;

    while (str_is_space((unsigned char)*s))
        s++;
    len = strlen(s);
    while (len > 0 && str_is_space((unsigned char)s[len - 1]))
        len--;
    s[len] = '\0';
    return s;
}

/* Fold ASCII letters to lower case in place. */
void str_lower(char *s)
{
    for (; *s; s++)
        *s = (char)str_fold((unsigned char)*s);
}

/* Fold ASCII letters to upper case in place. */
void str_upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - ('a' - 'A'));
}

/*
 * Next token of *sp delimited by any byte of delims, skipping empty tokens
 * (strsep without the empties). Cuts the string in place; NULL at the end.
 */
char *str_token(char **sp, const char *delims)
{
    char *start = *sp;
    char *end;

    if (start == NULL)
        return NULL;
    start += strspn(start, delims);
    if (*start == '\0') {
        *sp = NULL;
        return NULL;
    }
    end = start + strcspn(start, delims);
    if (*end == '\0') {
        *sp = NULL;
    } else {
        *end = '\0';
        *sp = end + 1;
    }
    return start;
}

/*
 * Parse a decimal integer (optional sign, digits, nothing else) within
 * [min, max]. 0 or -1 with "not a number" / "out of range".
 */
int str_parse_ll(const char *s, long long min, long long max, long long *val_r,
                 const char **why_r)
{
    const char *p = s;
    char *end;
    long long v;

    if (*p == '-' || *p == '+')
        p++;
    /* strtoll would skip leading space and accept "0x"/"" tricks: be strict. */
    if (*p < '0' || *p > '9') {
        *why_r = "not a number";
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0') {
        *why_r = "not a number";
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        *why_r = "out of range";
        return -1;
    }
    *val_r = v;
    return 0;
}

/* str_parse_ll for an int. */
int str_parse_int(const char *s, int min, int max, int *val_r, const char **why_r)
{
    long long v;

    if (str_parse_ll(s, min, max, &v, why_r) < 0)
        return -1;
    *val_r = (int)v;
    return 0;
}

/* Parse yes/no, true/false, on/off, 1/0 (any case); 0 or -1. */
int str_parse_bool(const char *s, bool *val_r, const char **why_r)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (str_eq_icase(s, yes[i])) {
            *val_r = true;
            return 0;
        }
        if (str_eq_icase(s, no[i])) {
            *val_r = false;
            return 0;
        }
    }
    *why_r = "not a boolean (use yes or no)";
    return -1;
}

/*
 * Split "name = value" in place: name is trimmed and must be non-empty
 * without white space, value is trimmed (may be empty). 0 or -1.
 */
int str_split_nameval(char *line, char **name_r, char **value_r, const char **why_r)
{
    char *eq = strchr(line, '=');
    char *name;

    if (eq == NULL) {
        *why_r = "missing \"=\" after parameter name";
        return -1;
    }
    *eq = '\0';
    name = str_trim(line);
    if (*name == '\0') {
        *why_r = "missing parameter name before \"=\"";
        return -1;
    }
    for (const char *p = name; *p; p++) {
        if (str_is_space((unsigned char)*p)) {
            *why_r = "white space in parameter name";
            return -1;
        }
    }
    *name_r = name;
    *value_r = str_trim(eq + 1);
    return 0;
}

/* The value of a hex digit, or -1. */
int str_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Length of the well-formed UTF-8 sequence at s, 0 if none. */
size_t str_utf8_len(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = p[0], cp, min;
    size_t n;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* FNV-1a, 64 bits. */
uint64_t str_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    for (const unsigned char *cp = (const unsigned char *)s; *cp; cp++)
        h = (h ^ *cp) * 1099511628211ULL;
    return h;
}
