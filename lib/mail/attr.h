/*
 * attr - typed, strict, versioned attribute messages between processes.
 *
 * Every message between Postel processes over a local socket (qmgr and the
 * delivery agents, later others) is built with attr_put_*() and read with
 * attr_get_*(), finished by attr_get_end(), which fails when a field is
 * missing, has the wrong type or name, or is left over. A C struct never
 * goes on a socket.
 *
 * Wire format (version 1 of this encoding; readable in strace, binary-safe):
 *
 *   message = header *field end
 *   header  = "@" msgtype SP version LF      e.g. "@deliver_request 1\n"
 *   field   = type name SP length ":" value LF
 *                                            e.g. "ssender 15:joe@example.com\n"
 *   end     = "." LF
 *
 *   msgtype, name = 1*32 ( "a"-"z" / "0"-"9" / "_" )
 *   version = decimal 1..ATTR_VERSION_MAX, no leading zero
 *   type    = "s" (string: any bytes, NUL included)
 *           / "i" (int: decimal, optional "-", fits in int)
 *           / "l" (long: decimal, optional "-", fits in long long)
 *   length  = decimal byte count of value, no leading zero, <= value_max
 *
 * Fields are read in the order they were written (a recipient list is a
 * count followed by that many groups), each get names the field and its
 * type; the first mismatch makes the message fail and every later get and
 * attr_get_end() report that first error. The reader checks the message
 * type and its version before anything else (attr_get_begin).
 *
 * Bounds: each value, the field count and the whole message are limited
 * (struct attr_limits; defaults below). A peer that exceeds them, sends a
 * malformed byte or a non-number in an int field is a protocol error; the
 * connection must then be dropped (the parser stays in error).
 *
 * The parser is incremental: bytes may arrive one at a time (non-blocking
 * qmgr) or through a blocking stream (attr_read, the delivery agents).
 */
#ifndef POSTEL_MAIL_ATTR_H
#define POSTEL_MAIL_ATTR_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util/buf.h"

struct stream;

#define ATTR_NAME_MAX 32           /* bytes in a field name or message type */
#define ATTR_VERSION_MAX 9999      /* largest protocol version */
#define ATTR_VALUE_MAX (64 * 1024) /* default: bytes in one value */
#define ATTR_FIELDS_MAX 100000     /* default: fields in one message */
#define ATTR_MSG_MAX (16u << 20)   /* default: bytes in one message */

#define ATTR_TYPE_STR 's'
#define ATTR_TYPE_INT 'i'
#define ATTR_TYPE_LONG 'l'

/* ---- writing: append one message to a buffer ---- */

/* Start a message of msgtype at version (both are checked: a bad one is a bug). */
void attr_put_begin(struct buf *out, const char *msgtype, int version);
/* A string field; NULL is written as "" (a reader cannot tell the two apart). */
void attr_put_str(struct buf *out, const char *name, const char *value);
/* A string field of len bytes (may hold NUL). */
void attr_put_data(struct buf *out, const char *name, const void *value, size_t len);
void attr_put_int(struct buf *out, const char *name, int value);
void attr_put_long(struct buf *out, const char *name, long long value);
/* End the message. */
void attr_put_end(struct buf *out);

/* ---- reading: an incremental parser that produces messages ---- */

struct attr_limits {
    size_t value_max;  /* 0 = ATTR_VALUE_MAX */
    size_t fields_max; /* 0 = ATTR_FIELDS_MAX */
    size_t msg_max;    /* 0 = ATTR_MSG_MAX */
};

struct attr_parser;
struct attr_msg;

/* A parser with the given limits (NULL: the defaults). */
struct attr_parser *attr_parser_create(const struct attr_limits *limits);
void attr_parser_free(struct attr_parser **pp);

/*
 * Feed len bytes. Returns 1 when a message is complete (*msg_r, caller
 * frees with attr_msg_free; *used_r bytes were consumed, the rest belongs
 * to the next message and must be fed again), 0 when all len bytes were
 * consumed and more are needed, -1 on a protocol error (*why_r; the parser
 * stays in error and every later call fails the same way).
 */
int attr_parser_feed(struct attr_parser *p, const void *data, size_t len, size_t *used_r,
                     struct attr_msg **msg_r, const char **why_r);
/* True when the parser is between messages (nothing partial buffered). */
bool attr_parser_idle(const struct attr_parser *p);

/*
 * Read one message from a blocking stream (the stream's timeouts apply).
 * 1 with *msg_r, 0 on end of file before the first byte of a message (the
 * peer closed cleanly), -1 with *why_r (I/O error, timeout, EOF inside a
 * message, protocol error). Reads exactly up to the end of the message.
 */
int attr_read(struct stream *s, struct attr_parser *p, struct attr_msg **msg_r, const char **why_r);
/* Write the message(s) in msg and flush. 0, or -1 with *why_r. */
int attr_write(struct stream *s, const struct buf *msg, const char **why_r);

/* ---- reading fields of a parsed message, in order, strictly ---- */

void attr_msg_free(struct attr_msg **mp);
/* The message type and version as received. */
const char *attr_msg_type(const struct attr_msg *m);
int attr_msg_version(const struct attr_msg *m);
/* Number of fields in the message. */
size_t attr_msg_count(const struct attr_msg *m);

/*
 * Check that the message is msgtype at exactly version. 0, or -1 (the
 * message is then in error: see attr_get_end).
 */
int attr_get_begin(struct attr_msg *m, const char *msgtype, int version);
/*
 * The next field must be called name and have the type asked for. 0 with
 * the value, or -1 (missing, other name, other type, out of range). A
 * string value stays valid until attr_msg_free; *len_r may be NULL.
 */
int attr_get_str(struct attr_msg *m, const char *name, const char **value_r);
int attr_get_data(struct attr_msg *m, const char *name, const char **value_r, size_t *len_r);
int attr_get_int(struct attr_msg *m, const char *name, int *value_r);
int attr_get_long(struct attr_msg *m, const char *name, long long *value_r);
/* Like attr_get_int, and the value must be in min..max. */
int attr_get_int_range(struct attr_msg *m, const char *name, int min, int max, int *value_r);
/* Start reading from the first field again, forgetting any failure (several decoders). */
void attr_get_rewind(struct attr_msg *m);
/* The name of the next field, or NULL at the end (for optional trailing groups). */
const char *attr_peek_name(const struct attr_msg *m);
/*
 * Finish: 0 when every field was read and no get failed; -1 with *why_r
 * naming the first problem ("field \"x\": missing", "unexpected field
 * \"y\" at the end", ...). *why_r stays valid until attr_msg_free.
 */
int attr_get_end(struct attr_msg *m, const char **why_r);

#endif
