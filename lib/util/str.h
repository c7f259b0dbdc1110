/*
 * str - small string helpers: bounded copies that report truncation,
 * ASCII case-insensitive comparison (never locale-dependent: protocol
 * keywords and domain names are ASCII), trimming, number parsing with
 * range checks, and "name = value" splitting.
 */
#ifndef POSTEL_UTIL_STR_H
#define POSTEL_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int str_copy(char *dst, size_t size, const char *src);
int str_copyn(char *dst, size_t size, const char *src, size_t len);
int str_append(char *dst, size_t size, const char *src);

int str_cmp_icase(const char *a, const char *b);
int str_ncmp_icase(const char *a, const char *b, size_t n);
bool str_eq_icase(const char *a, const char *b);
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_prefix_icase(const char *s, const char *prefix);
bool str_has_suffix_icase(const char *s, const char *suffix);
const char *str_find_icase(const char *haystack, const char *needle);

char *str_trim(char *s);
void str_lower(char *s);
void str_upper(char *s);
char *str_token(char **sp, const char *delims);

int str_parse_ll(const char *s, long long min, long long max, long long *val_r,
                 const char **why_r);
int str_parse_int(const char *s, int min, int max, int *val_r, const char **why_r);
int str_parse_bool(const char *s, bool *val_r, const char **why_r);
int str_split_nameval(char *line, char **name_r, char **value_r, const char **why_r);

/* The value of the hex digit c (either case), or -1. */
int str_hexval(int c);

/*
 * The length of the well-formed UTF-8 sequence (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF) at s, which has len > 0
 * bytes left: 1 for US-ASCII, 2 to 4, or 0 when s does not start one.
 */
size_t str_utf8_len(const char *s, size_t len);

/* The 64-bit FNV-1a hash of s, for in-memory hash tables (not for anything stored). */
uint64_t str_hash(const char *s);

#endif
