/*
 * rfc2047 - MIME encoded-words in header text (RFC 2047, RFC 2231 language
 * tags): decode "=?charset?B|Q?...?=" to UTF-8, and encode UTF-8 header
 * text into encoded-words where needed (for a Subject written by Postel
 * itself, e.g. in a delivery status notification).
 */
#ifndef POSTEL_PROTO_RFC2047_H
#define POSTEL_PROTO_RFC2047_H

#include <stddef.h>

#include "lib/util/buf.h"

#define RFC2047_WORD_MAX 75 /* longest encoded-word (RFC 2047 section 2) */
#define RFC2047_LINE_MAX 76 /* fold encoded text before this many columns */

int rfc2047_decode(struct buf *out, const char *in, size_t len);
void rfc2047_encode(struct buf *out, const char *in, size_t len, size_t column);

#endif
