/*
 * smtp_reply_reader - the SMTP client's side of replies: an incremental
 * parser of (multi-line) server replies, fed bytes as they arrive, and the
 * EHLO reply's extension list (RFC 5321 section 4.2, RFC 2034 enhanced
 * status codes, RFC 1869 EHLO keywords).
 */
#ifndef POSTEL_PROTO_SMTP_REPLY_READER_H
#define POSTEL_PROTO_SMTP_REPLY_READER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util/argv.h"
#include "lib/util/buf.h"

#define SMTP_REPLY_READER_LINE_MAX  2048 /* default longest line, without CRLF */
#define SMTP_REPLY_READER_LINES_MAX 100  /* default most lines in one reply */

/* One complete reply. */
struct smtp_reply {
    int code;           /* 200..599 */
    char dsn[12];       /* enhanced status code of the first line, or "" */
    struct argv *lines; /* each line's text, without code, separator and enhanced code */
    struct buf *text;   /* for logs and bounces: "code dsn text text ..." on one line */
};

struct smtp_reply_reader;

struct smtp_reply_reader *smtp_reply_reader_create(size_t line_max, size_t lines_max);
void smtp_reply_reader_free(struct smtp_reply_reader **rp);
int smtp_reply_reader_feed(struct smtp_reply_reader *r, const char *in, size_t len,
                           size_t *used_r, const char **why_r);
const struct smtp_reply *smtp_reply_reader_reply(const struct smtp_reply_reader *r);

/* EHLO extensions the client cares about. */
#define SMTP_EHLO_PIPELINING          0x0001
#define SMTP_EHLO_SIZE                0x0002
#define SMTP_EHLO_8BITMIME            0x0004
#define SMTP_EHLO_STARTTLS            0x0008
#define SMTP_EHLO_AUTH                0x0010
#define SMTP_EHLO_ENHANCEDSTATUSCODES 0x0020
#define SMTP_EHLO_DSN                 0x0040
#define SMTP_EHLO_SMTPUTF8            0x0080
#define SMTP_EHLO_CHUNKING            0x0100
#define SMTP_EHLO_BINARYMIME          0x0200
#define SMTP_EHLO_REQUIRETLS          0x0400
#define SMTP_EHLO_ETRN                0x0800
#define SMTP_EHLO_VRFY                0x1000

struct smtp_ehlo {
    unsigned ext;             /* SMTP_EHLO_* */
    char *domain;             /* the server's name from the first line */
    unsigned long long size;  /* SIZE limit; 0 = none announced or no limit */
    struct argv *auth;        /* AUTH mechanisms, upper case, no duplicates */
    struct argv *keywords;    /* each extension line: upper-case keyword [SP params] */
};

int smtp_ehlo_parse(const struct smtp_reply *reply, struct smtp_ehlo **ehlo_r,
                    const char **why_r);
void smtp_ehlo_free(struct smtp_ehlo **ep);
const char *smtp_ehlo_find(const struct smtp_ehlo *ehlo, const char *keyword);

#endif
