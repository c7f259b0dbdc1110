/*
 * smtpd - the SMTP server: what its files share.
 *
 * One process serves one client at a time (single_server_main), with
 * straight-line blocking code and smtpd_timeout on every read. Files:
 *
 *   smtpd.c           main(), settings from main.cf, the per-client entry
 *   smtpd_proto.c     the command loop: reading, the command table and its
 *                     checks, replies, error and junk limits, pipelining,
 *                     the log lines about the session
 *   smtpd_state.c     the command table and the state checks (pure)
 *   smtpd_peer.c      the client's address and verified name
 *   smtpd_helo.c      HELO, EHLO and the EHLO keyword table
 *   smtpd_mail.c      MAIL, RCPT, RSET and the transaction
 *   smtpd_check.c     the recipient policy: relay control, local users
 *   smtpd_data.c      DATA, BDAT, the queue file and its commit
 *   smtpd_misc.c      NOOP, QUIT, HELP, VRFY, EXPN, ETRN
 *   smtpd_received.c  the Received: header (pure)
 */
#ifndef POSTEL_SMTPD_SMTPD_H
#define POSTEL_SMTPD_SMTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/mail/queue_file.h"
#include "lib/proto/smtp_cmd.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/sock.h"
#include "lib/util/stream.h"

struct cleanup;
struct domain_class;
struct domain_list;
struct maps;
struct mynetworks;
struct smtp_data;

/* Everything main.cf says that smtpd uses, read once per process. */
struct smtpd_settings {
    char *myhostname;
    char *mail_name;
    char *banner; /* smtpd_banner, expanded */
    char *myorigin;
    char *recipient_delimiter;             /* "" = none */
    unsigned long long message_size_limit; /* 0 = none */
    unsigned long long queue_minfree;      /* bytes the queue file system keeps */
    size_t line_length_limit;              /* command lines */
    size_t header_size_limit;
    int recipient_limit;
    int soft_error_limit;
    int hard_error_limit;
    int junk_command_limit;
    int hopcount_limit;
    int timeout_ms;
    int error_sleep_ms;
    bool disable_vrfy;
    bool forbid_bare_newline;
    bool forbid_unauth_pipelining;
    bool helo_required;
    bool peername_lookup;
    bool smtputf8_enable;
    bool strict_envelopes;
    struct argv *discard_ehlo; /* upper case keywords not to offer */
    struct mynetworks *mynetworks;
    struct domain_class *domains;   /* mydestination, own addresses, relay_domains */
    struct domain_list *fast_flush; /* fast_flush_domains: ETRN is served for these */
    struct maps *local_rcpt_maps;   /* NULL: local_recipient_maps is empty */
};

/* The protocol state of a session (not whether HELO was seen: see helo). */
enum smtpd_state {
    SMTPD_ST_IDLE, /* no mail transaction */
    SMTPD_ST_MAIL, /* MAIL accepted, no recipient yet */
    SMTPD_ST_RCPT, /* at least one recipient accepted */
    SMTPD_ST_DATA, /* reading DATA content */
    SMTPD_ST_BDAT, /* BDAT chunks received, LAST not yet */
    SMTPD_ST_QUIT, /* the session is over */
};
#define SMTPD_ST_COUNT (SMTPD_ST_QUIT + 1)
#define SMTPD_ST_BIT(st) (1u << (st))

extern const char *const smtpd_state_names[SMTPD_ST_COUNT];

struct smtpd_session;
struct smtpd_cmd_def;

typedef void (*smtpd_cmd_fn)(struct smtpd_session *ss, const struct smtp_cmd *cmd);

/* Command flags: what each means for the loop. */
#define SMTPD_CMD_PRE_HELO 0x01 /* allowed before HELO/EHLO with smtpd_helo_required */
/* Ends a pipelined group (RFC 2920 3.1): the reply is flushed at once, and
 * input that the client sent after it, before the reply, is improper. */
#define SMTPD_CMD_LAST 0x02
#define SMTPD_CMD_JUNK 0x04 /* counts against smtpd_junk_command_limit */

/* One row of the command table. */
struct smtpd_cmd_def {
    const char *verb;
    smtpd_cmd_fn fn;
    unsigned flags;      /* SMTPD_CMD_* */
    unsigned states;     /* SMTPD_ST_BIT()s in which the command may run */
    const char *refusal; /* reply text (503 5.5.1) in other states */
};

extern const struct smtpd_cmd_def smtpd_cmd_table[];
extern const size_t smtpd_cmd_count;

/* An accepted recipient. */
struct smtpd_rcpt {
    char *address; /* qualified external form */
    char *orig;    /* as the client wrote it, when different; else NULL */
    char *orcpt;   /* DSN ORCPT as received, or NULL */
    unsigned notify;
};

/* The client, as seen at connect time. */
struct smtpd_peer {
    char addr[SOCK_ADDR_MAX];         /* canonical address text */
    char rfc_addr[SOCK_ADDR_MAX + 8]; /* for Received: ("IPv6:" prefix) */
    char name[1026];                  /* verified name, or "unknown" */
    char namaddr[SOCK_NAMEADDR_MAX];  /* name[addr] */
    int port;
};

struct smtpd_session {
    const struct smtpd_settings *set;
    struct stream *s;
    struct smtpd_peer peer;
    int trusted; /* client in mynetworks: 1, 0, or -1 (table error) */

    enum smtpd_state state;
    const char *where;    /* last command, for "lost connection after X" */
    char *helo;           /* HELO/EHLO argument, or NULL */
    const char *protocol; /* "SMTP" or "ESMTP" */
    unsigned ext;         /* SMTP_EXT_* offered by EHLO */
    int errors;           /* 4xx/5xx replies so far */
    int junk;             /* junk commands so far */
    bool ill_pipelining;  /* improper pipelining was logged */
    int last_code;        /* code of the last reply sent */

    unsigned *cmd_total; /* per smtpd_cmd_table row */
    unsigned *cmd_ok;
    unsigned unknown_total;

    /* The mail transaction. */
    struct smtp_mail_args *mail;
    char *sender;   /* qualified; "" = null sender */
    time_t arrival; /* when MAIL was accepted */
    struct smtpd_rcpt *rcpts;
    size_t nrcpt, rcpt_size;
    struct queue_file *qf;
    char qid[QUEUE_ID_SIZE]; /* "" while there is no queue file */

    /* The message content. */
    struct smtp_data *dec;
    struct cleanup *cleanup;
    struct buf *dbuf;              /* decoded bytes on their way to cleanup */
    unsigned long long data_bytes; /* bytes read in DATA/BDAT, for the log */
    bool content_failed;           /* a queue write failed: read on, refuse at the end */
    bool bdat_refused;             /* BDAT chunks of a refused message: discard to LAST */

    struct buf *line;  /* the command line */
    struct buf *reply; /* the last reply, for the log */
};

/* smtpd.c */
void smtpd_settings_load(struct smtpd_settings *set);
void smtpd_settings_free(struct smtpd_settings *set);

/* smtpd_proto.c */
void smtpd_session_run(struct smtpd_session *ss);
void smtpd_reply(struct smtpd_session *ss, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void smtpd_reply_resp(struct smtpd_session *ss, const struct smtp_resp *resp);
void smtpd_reply_lines(struct smtpd_session *ss, int code, const char *dsn,
                       const char *const *lines, size_t count);
void smtpd_log_reject(struct smtpd_session *ss, const char *verb, const char *rcpt);
bool smtpd_io_failed(struct smtpd_session *ss);
void smtpd_lost(struct smtpd_session *ss);

/* smtpd_state.c */
const struct smtpd_cmd_def *smtpd_cmd_find(const char *verb);
int smtpd_cmd_check(const struct smtpd_cmd_def *def, enum smtpd_state state, bool greeted,
                    bool helo_required, struct smtp_resp *resp_r);

/* smtpd_peer.c */
void smtpd_peer_init(struct smtpd_peer *peer, int fd, bool lookup);

/* smtpd_helo.c */
void smtpd_cmd_helo(struct smtpd_session *ss, const struct smtp_cmd *cmd);
void smtpd_cmd_ehlo(struct smtpd_session *ss, const struct smtp_cmd *cmd);
unsigned smtpd_ehlo_keywords(const struct smtpd_settings *set, struct argv *lines);

/* smtpd_mail.c */
void smtpd_cmd_mail(struct smtpd_session *ss, const struct smtp_cmd *cmd);
void smtpd_cmd_rcpt(struct smtpd_session *ss, const struct smtp_cmd *cmd);
void smtpd_cmd_rset(struct smtpd_session *ss, const struct smtp_cmd *cmd);
void smtpd_transaction_reset(struct smtpd_session *ss);

/* smtpd_check.c */
int smtpd_check_rcpt(struct smtpd_session *ss, const struct smtp_path *path,
                     struct smtp_resp *resp_r);

/* smtpd_data.c */
void smtpd_cmd_data(struct smtpd_session *ss, const struct smtp_cmd *cmd);
void smtpd_cmd_bdat(struct smtpd_session *ss, const struct smtp_cmd *cmd);
int smtpd_queue_open(struct smtpd_session *ss, struct smtp_resp *resp_r);
void smtpd_queue_abort(struct smtpd_session *ss);

/* smtpd_misc.c */
void smtpd_cmd_noop(struct smtpd_session *ss, const struct smtp_cmd *cmd);
void smtpd_cmd_quit(struct smtpd_session *ss, const struct smtp_cmd *cmd);
void smtpd_cmd_help(struct smtpd_session *ss, const struct smtp_cmd *cmd);
void smtpd_cmd_vrfy(struct smtpd_session *ss, const struct smtp_cmd *cmd);
void smtpd_cmd_expn(struct smtpd_session *ss, const struct smtp_cmd *cmd);
void smtpd_cmd_etrn(struct smtpd_session *ss, const struct smtp_cmd *cmd);
/* What an ETRN argument asks for (smtpd_etrn_parse). */
enum smtpd_etrn_form {
    SMTPD_ETRN_BAD,    /* missing or not a domain name: 501 */
    SMTPD_ETRN_DOMAIN, /* "example.com" or "@example.com": the domain in domain_r */
    SMTPD_ETRN_QUEUE,  /* "#queue": a queue name, not supported (458) */
};
enum smtpd_etrn_form smtpd_etrn_parse(const char *arg, size_t len, char *domain_r, size_t size);

/* smtpd_received.c */
struct smtpd_received {
    const char *helo;     /* HELO/EHLO argument, or NULL */
    const char *name;     /* verified client name or "unknown" */
    const char *rfc_addr; /* client address, "IPv6:" form for IPv6 */
    const char *myhostname;
    const char *mail_name;
    const char *protocol; /* SMTP, ESMTP, UTF8SMTP, ... */
    const char *queue_id;
    const char *rcpt; /* the recipient when there is exactly one, else NULL */
    time_t when;
};
void smtpd_received_format(struct buf *out, const struct smtpd_received *r);

#endif
