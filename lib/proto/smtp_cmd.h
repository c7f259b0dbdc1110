/*
 * smtp_cmd - SMTP command lines: verb and argument, and the MAIL FROM and
 * RCPT TO arguments with their ESMTP parameters (RFC 5321 section 4.1.2;
 * SIZE RFC 1870, BODY RFC 6152/3030, SMTPUTF8 RFC 6531, DSN RFC 3461,
 * AUTH RFC 4954, REQUIRETLS RFC 8689).
 *
 * Every failure fills a struct smtp_resp with the reply to send, e.g.
 *     501 5.1.7 Bad sender address syntax
 *     555 5.5.4 Unsupported option: FOO
 *     552 5.3.4 Message size exceeds fixed limit
 * so that smtpd prints it as it is; resp->why has the detail for the log.
 */
#ifndef POSTEL_PROTO_SMTP_CMD_H
#define POSTEL_PROTO_SMTP_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/proto/smtp_reply.h"

#define SMTP_VERB_MAX 16 /* longest verb we take apart */

/* ESMTP extensions offered in this session: which parameters are allowed. */
#define SMTP_EXT_SIZE       0x01 /* SIZE= */
#define SMTP_EXT_8BITMIME   0x02 /* BODY=7BIT|8BITMIME */
#define SMTP_EXT_BINARYMIME 0x04 /* BODY=BINARYMIME (with CHUNKING) */
#define SMTP_EXT_SMTPUTF8   0x08 /* SMTPUTF8 */
#define SMTP_EXT_DSN        0x10 /* RET= ENVID= NOTIFY= ORCPT= */
#define SMTP_EXT_AUTH       0x20 /* AUTH= */
#define SMTP_EXT_REQUIRETLS 0x40 /* REQUIRETLS */

/* A command line taken apart. arg points into the caller's line. */
struct smtp_cmd {
    char verb[SMTP_VERB_MAX + 1]; /* upper case */
    const char *arg;              /* after the verb and its spaces; not NUL-terminated */
    size_t arg_len;               /* trailing white space excluded */
};

struct smtp_cmd_opts {
    unsigned ext;                  /* SMTP_EXT_* offered (0 after HELO) */
    bool strict;                   /* smtpd_strict_rfc821_envelopes = yes */
    unsigned long long size_limit; /* message_size_limit; 0 = none */
};

enum smtp_body { SMTP_BODY_NONE, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_NONE, SMTP_RET_FULL, SMTP_RET_HDRS };

#define SMTP_NOTIFY_NEVER   0x1
#define SMTP_NOTIFY_SUCCESS 0x2
#define SMTP_NOTIFY_FAILURE 0x4
#define SMTP_NOTIFY_DELAY   0x8

/* A reverse-path or forward-path, source route dropped. */
struct smtp_path {
    char *addr;   /* external form local@domain (see mailbox.h); "" for <> */
    char *local;  /* internal form of the local part; "" for <> */
    char *domain; /* domain or [address literal]; NULL for <> or no domain */
    bool null;    /* the null path <> */
    bool utf8;    /* has non-ASCII (SMTPUTF8) */
    bool route;   /* a source route was given and dropped */
};

struct smtp_mail_args {
    struct smtp_path path;
    bool has_size;
    unsigned long long size; /* SIZE=, when has_size */
    enum smtp_body body;
    bool smtputf8;
    bool requiretls;
    enum smtp_ret ret;
    char *envid; /* decoded ENVID=, or NULL */
    char *auth;  /* decoded AUTH= ("<>" or a mailbox), or NULL */
};

struct smtp_rcpt_args {
    struct smtp_path path;
    int notify;       /* SMTP_NOTIFY_* bits; 0 = not given */
    char *orcpt;      /* ORCPT= exactly as given (relayed unchanged), or NULL */
    char *orcpt_type; /* its addr-type in lower case ("rfc822", "utf-8", ...) */
    char *orcpt_addr; /* its decoded address */
};

int smtp_cmd_split(const char *line, size_t len, struct smtp_cmd *cmd_r,
                   struct smtp_resp *resp_r);
int smtp_cmd_mail(const char *arg, size_t len, const struct smtp_cmd_opts *opts,
                  struct smtp_mail_args **mail_r, struct smtp_resp *resp_r);
int smtp_cmd_rcpt(const char *arg, size_t len, bool smtputf8, const struct smtp_cmd_opts *opts,
                  struct smtp_rcpt_args **rcpt_r, struct smtp_resp *resp_r);
void smtp_mail_args_free(struct smtp_mail_args **mp);
void smtp_rcpt_args_free(struct smtp_rcpt_args **rp);

int smtp_path_parse(const char *s, size_t len, int flags, bool rcpt, struct smtp_path *path_r,
                    const char **why_r);
void smtp_path_clear(struct smtp_path *path);

#endif
