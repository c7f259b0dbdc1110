/*
 * store_write - buffered output of a message into a mailbox file, through
 * the format's filter: mboxrd "From " quoting and CR LF to LF.
 *
 * mboxrd quoting (RFC 4155 mentions the variants): every line that matches
 * ^>*From  gets one more '>' in front, so "From x" becomes ">From x" and
 * ">From x" becomes ">>From x"; a reader removes exactly one '>' from each
 * such line and gets the original back. (mboxo quotes only "From " and
 * cannot be undone.) The filter is a byte-at-a-time state machine, so a
 * line split across any number of writes is quoted the same.
 *
 * Errors are sticky: after the first write error or after the byte limit
 * would be passed, nothing more is written and store_write_flush() reports
 * the failure.
 */
#ifndef POSTEL_STORE_STORE_WRITE_H
#define POSTEL_STORE_STORE_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/store/store.h"
#include "lib/util/buf.h"

#define STORE_WRITE_QUOTE_FROM 0x1 /* mboxrd quoting of ^>*From  lines */
#define STORE_WRITE_CRLF_TO_LF 0x2 /* write CR LF as LF */

#define STORE_WRITE_BUFSIZE 65536

struct store_write;

struct store_write *store_write_create(int fd, struct buf *out, int flags, off_t limit);
void store_write_free(struct store_write **wp);

void store_write_text(struct store_write *w, const char *data, size_t len);
void store_write_raw(struct store_write *w, const char *data, size_t len);
void store_write_end_text(struct store_write *w);
int store_write_flush(struct store_write *w, struct store_err *err_r);

off_t store_write_size(const struct store_write *w);
off_t store_write_lf_count(const struct store_write *w);
int store_write_last(const struct store_write *w);
int store_write_errno(const struct store_write *w);
bool store_write_failed(const struct store_write *w);

#endif
