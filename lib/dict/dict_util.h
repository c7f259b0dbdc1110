/*
 * dict_util - small text helpers shared by table types and postmap.
 */
#ifndef POSTEL_DICT_DICT_UTIL_H
#define POSTEL_DICT_DICT_UTIL_H

#include "lib/util/buf.h"

/*
 * Split a postmap source line "key whitespace value": the key ends at the
 * first whitespace outside double quotes (and is kept as written, quotes
 * included), the value is the rest without surrounding whitespace. 0 with
 * the key in key_r and the value in value_r, or -1 with *why_r ("expected
 * format: key whitespace value", "unbalanced '\"' in key").
 */
int dict_split_key_value(const char *line, struct buf *key_r, struct buf *value_r,
                         const char **why_r);

#endif
