/*
 * maildrop - the files in $queue_directory/maildrop: what the sendmail
 * command hands to postdrop (the same bytes go through the pipe and into
 * the file) and what pickup turns into a queue file. Also the conversion of
 * a message as people type it (sendmail's standard input) into the queue
 * representation (LF line ends).
 *
 * A maildrop file (documented for administrators in pickup(8)):
 *
 *   "POSTEL-MAILDROP 1\n"             magic, MAILDROP_MAGIC_LEN bytes
 *   record ...                        type (1 byte), length (4 bytes,
 *                                     big-endian), that many data bytes
 *
 *   envelope records, in any order:
 *     S sender (exactly one; empty = the null sender <>)
 *     F full name for an added From: header (at most one)
 *     V DSN ENVID, printable ASCII (at most one)
 *     T DSN RET: FULL or HDRS (at most one)
 *     B BODY: 7BIT or 8BITMIME (at most one)
 *     U SMTPUTF8 requested (empty; at most one)
 *     N DSN NOTIFY of the next recipient: NEVER or SUCCESS,FAILURE,DELAY
 *     O DSN ORCPT of the next recipient: addr-type;xtext
 *     R recipient (at least one)
 *   then the message:
 *     M a piece of the message, queue representation (any bytes)
 *   and last:
 *     E end (empty); nothing may follow
 *
 * Addresses are in the external form of mailbox.h: local@domain or a bare
 * local part that pickup qualifies with $myorigin. Every record has a hard
 * length limit below; a reader refuses anything else: an unknown type, a
 * record out of order or repeated, a value that does not parse, a file
 * that ends before E or goes on after it. The reader is incremental (any
 * split of the input gives the same result) and keeps at most one
 * envelope record and the envelope itself in memory; message pieces are
 * handed to the caller as they arrive.
 *
 * Security: postdrop (set-gid) and pickup treat every byte as hostile;
 * both run the reader with the limits of main.cf.
 */
#ifndef POSTEL_MAIL_MAILDROP_H
#define POSTEL_MAIL_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/mail/queue_file.h"
#include "lib/util/buf.h"

#define MAILDROP_MAGIC "POSTEL-MAILDROP 1\n"
#define MAILDROP_MAGIC_LEN 18
#define MAILDROP_HEAD_LEN 5 /* type + 4 length bytes */

/* Record types. */
#define MAILDROP_REC_SENDER 'S'
#define MAILDROP_REC_FULLNAME 'F'
#define MAILDROP_REC_ENVID 'V'
#define MAILDROP_REC_RET 'T'
#define MAILDROP_REC_BODY 'B'
#define MAILDROP_REC_SMTPUTF8 'U'
#define MAILDROP_REC_NOTIFY 'N'
#define MAILDROP_REC_ORCPT 'O'
#define MAILDROP_REC_RCPT 'R'
#define MAILDROP_REC_DATA 'M'
#define MAILDROP_REC_END 'E'

/* Format limits (bytes of record data), whatever the configuration. */
#define MAILDROP_ADDR_MAX 1000    /* S, R */
#define MAILDROP_FULLNAME_MAX 256 /* F */
#define MAILDROP_ENVID_MAX 100    /* V (RFC 3461 section 4.4) */
#define MAILDROP_ORCPT_MAX 500    /* O (RFC 3461 section 4.2) */
#define MAILDROP_KEYWORD_MAX 32   /* T, B, N */
#define MAILDROP_DATA_MAX 65536   /* one M record */
#define MAILDROP_RCPT_HARD_MAX 100000

/* Caller limits for a reader; 0 in a field means the format limit (content: none). */
struct maildrop_limits {
    size_t rcpt_max;      /* recipients */
    uint64_t content_max; /* message bytes (message_size_limit) */
};

/* One recipient as read. */
struct maildrop_rcpt {
    char *address;   /* external form, never empty */
    char *orcpt;     /* "rfc822;user@example.com" as given, or NULL */
    unsigned notify; /* QUEUE_NOTIFY_*, 0 = not given */
};

/* The envelope as read; NULL strings were absent. */
struct maildrop_envelope {
    char *sender; /* "" = null sender */
    char *fullname;
    char *envid;
    enum queue_ret ret;
    enum queue_body body;
    bool smtputf8;
    size_t rcpt_count;
    struct maildrop_rcpt *rcpts;
};

/* Why a reader stopped. */
enum maildrop_error {
    MAILDROP_ERR_NONE = 0,
    MAILDROP_ERR_FORMAT,   /* not a valid maildrop stream */
    MAILDROP_ERR_TOOBIG,   /* content over content_max */
    MAILDROP_ERR_LIMIT,    /* more recipients than rcpt_max */
    MAILDROP_ERR_CALLBACK, /* a callback returned -1 (its owner knows why) */
};

/* The envelope is complete (called once, before the first message piece). 0 or -1. */
typedef int (*maildrop_env_fn)(void *ctx, const struct maildrop_envelope *env);
/* A piece of the message. 0 or -1. */
typedef int (*maildrop_data_fn)(void *ctx, const char *data, size_t len);

struct maildrop_reader;

struct maildrop_reader *maildrop_reader_create(const struct maildrop_limits *limits,
                                               maildrop_env_fn env_fn, maildrop_data_fn data_fn,
                                               void *ctx);
void maildrop_reader_free(struct maildrop_reader **rp);

/*
 * Take the next input bytes. Returns 0 when all were taken and more are
 * needed, 1 when the end record was read (*used_r says how many bytes up
 * to its end were taken: anything after it is an error for the caller to
 * report), -1 on error (*why_r names the record and its offset;
 * maildrop_reader_error() says which kind). After -1 or 1, every further
 * call returns the same.
 */
int maildrop_reader_feed(struct maildrop_reader *r, const void *in, size_t len, size_t *used_r,
                         const char **why_r);
/* End of input: 0 when the end record was read, else -1 with *why_r. */
int maildrop_reader_finish(struct maildrop_reader *r, const char **why_r);
enum maildrop_error maildrop_reader_error(const struct maildrop_reader *r);
/* The envelope so far (complete once env_fn was called). */
const struct maildrop_envelope *maildrop_reader_envelope(const struct maildrop_reader *r);
/* Message bytes read so far. */
uint64_t maildrop_reader_content_size(const struct maildrop_reader *r);
/* Input bytes taken so far. */
uint64_t maildrop_reader_offset(const struct maildrop_reader *r);

/* The pickup service's public socket, relative to queue_directory. */
#define MAILDROP_PICKUP_SOCKET "public/pickup"
#define MAILDROP_PICKUP_TIMEOUT_MS 1000

/*
 * Wake pickup: connect to its socket and write the wakeup byte. A failure
 * is harmless (pickup also wakes up every minute). 0, or -1 with *why_r.
 */
int maildrop_pickup_trigger(const char *queue_dir, const char **why_r);

/* ---- writing (sendmail) ---- */

void maildrop_put_magic(struct buf *out);
/* Append one record; msg_panic when len is over the type's format limit. */
void maildrop_put(struct buf *out, int type, const void *data, size_t len);
void maildrop_put_str(struct buf *out, int type, const char *str);

/* ---- values, shared by writer and reader ---- */

/*
 * An address in external form: "" only with null_ok; local@domain or a
 * bare local part (dot-atom or quoted string, UTF-8 allowed), a domain or
 * address literal after the last '@'. 0, or -1 with *why_r.
 */
int maildrop_check_address(const char *s, size_t len, bool null_ok, const char **why_r);
/* A full name: UTF-8 without control characters, at most MAILDROP_FULLNAME_MAX. */
int maildrop_check_fullname(const char *s, size_t len, const char **why_r);
/* An ENVID: 1..100 bytes of printable ASCII (space included). */
int maildrop_check_envid(const char *s, size_t len, const char **why_r);
/* An ORCPT: addr-type ";" xtext, printable ASCII without space, at most 500. */
int maildrop_check_orcpt(const char *s, size_t len, const char **why_r);

/* "NEVER" or a comma-separated list of SUCCESS, FAILURE, DELAY, any case. */
int maildrop_parse_notify(const char *s, size_t len, unsigned *notify_r, const char **why_r);
/* The canonical text of a QUEUE_NOTIFY_* mask ("SUCCESS,FAILURE"). */
void maildrop_format_notify(struct buf *out, unsigned notify);
/* "FULL" or "HDRS", any case. */
int maildrop_parse_ret(const char *s, size_t len, enum queue_ret *ret_r, const char **why_r);
/* "7BIT" or "8BITMIME", any case. */
int maildrop_parse_body(const char *s, size_t len, enum queue_body *body_r, const char **why_r);

/* ---- message text as typed (sendmail's standard input) ---- */

/*
 * Turn raw input into the queue representation, incrementally: CR LF
 * becomes LF (a CR elsewhere is data), a last line without a line end gets
 * one, every other byte passes unchanged (8-bit clean, NUL included, long
 * lines kept whole). With MAILDROP_TEXT_DOT (sendmail without -i) a line
 * holding only "." (LF or CR LF, or at the end of input) ends the message;
 * that line is not stored, and ".." is not unstuffed (as Postfix).
 */
#define MAILDROP_TEXT_DOT 0x01

struct maildrop_text;

struct maildrop_text *maildrop_text_create(int flags);
void maildrop_text_free(struct maildrop_text **tp);
/*
 * Append the converted form of in[0..len) to out. Returns 0 when all input
 * was taken, 1 when a "." line ended the message (*used_r bytes were
 * taken; the rest is not part of it). After 1, returns 1 taking nothing.
 */
int maildrop_text_feed(struct maildrop_text *t, const char *in, size_t len, size_t *used_r,
                       struct buf *out);
/* End of input: complete a last line without a line end. */
void maildrop_text_finish(struct maildrop_text *t, struct buf *out);
/* Bytes appended to out so far. */
uint64_t maildrop_text_size(const struct maildrop_text *t);

#endif
