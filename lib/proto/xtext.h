/*
 * xtext - the xtext encoding of RFC 3461 (DSN ENVID, ORCPT; AUTH= of
 * RFC 4954) and the utf-8-addr-xtext / utf-8-addr-unitext forms of RFC 6533
 * (ORCPT=utf-8;...).
 *
 * Decoders append to a buffer and are binary-safe: the decoded value may
 * contain any byte, and callers check what their context allows.
 */
#ifndef POSTEL_PROTO_XTEXT_H
#define POSTEL_PROTO_XTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util/buf.h"

void xtext_encode(struct buf *out, const char *in, size_t len);
int xtext_decode(struct buf *out, const char *in, size_t len, const char **why_r);
int xtext_utf8_encode(struct buf *out, const char *in, size_t len, const char **why_r);
int xtext_utf8_decode(struct buf *out, const char *in, size_t len, bool unitext,
                      const char **why_r);

#endif
