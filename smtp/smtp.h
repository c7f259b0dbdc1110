/*
 * smtp.h - the SMTP delivery agent (smtp(8)): shared types of its modules.
 *
 *   smtp.c           the daemon: single_server_main(), requests from qmgr,
 *                    the idle connection cache between requests
 *   smtp_settings.c  main.cf parameters into struct smtp_settings
 *   smtp_nexthop.c   "domain", "[host]", "host:port", "[host]:port"
 *   smtp_addr.c      the addresses to try: MX, A/AAAA, Null MX, backup MX
 *                    and loops (RFC 5321 section 5, RFC 7505)
 *   smtp_deliver.c   one request: addresses in order, sessions, results
 *   smtp_session.c   one connection: connect, greeting, EHLO/HELO,
 *                    STARTTLS, AUTH, RSET, QUIT, replies with timeouts
 *   smtp_xfer.c      one mail transaction: MAIL, RCPT, DATA (pipelined
 *                    when offered) and the message content
 *   smtp_result.c    replies and failures into recipient outcomes and
 *                    Postfix-style texts (pure)
 *   smtp_content.c   the content pipeline: queue file -> generic header
 *                    rewriting -> 8bit-to-quoted-printable -> wire format
 *   smtp_mime.c      the MIME-aware 8bit to quoted-printable converter
 *   smtp_generic.c   smtp_generic_maps address rewriting
 *
 * Everything but main() is in smtp/libsmtp.a so that the unit tests link
 * the same code.
 */
#ifndef POSTEL_SMTP_SMTP_H
#define POSTEL_SMTP_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/mail/deliver.h"
#include "lib/proto/smtp_reply_reader.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/sock.h"

struct maps;
struct stream;
struct queue_file;
struct tls_client_ctx;
struct tls_client_session;

/* ------------------------------------------------------------ settings */

enum smtp_tls_level {
    SMTP_TLS_NONE,    /* never STARTTLS */
    SMTP_TLS_MAY,     /* STARTTLS when offered; plain text when it fails */
    SMTP_TLS_ENCRYPT, /* TLS or no delivery */
};

enum smtp_addr_pref { SMTP_PREF_ANY, SMTP_PREF_IPV4, SMTP_PREF_IPV6 };

#define SMTP_LOOKUP_DNS 0x01    /* smtp_host_lookup = dns */
#define SMTP_LOOKUP_NATIVE 0x02 /* smtp_host_lookup = native (getaddrinfo) */

/* SASL security options (smtp_sasl_security_options). */
#define SMTP_SASL_NOPLAINTEXT 0x01
#define SMTP_SASL_NOANONYMOUS 0x02

struct smtp_settings {
    char *myhostname;
    char *helo_name;
    /* timeouts, milliseconds */
    int connect_timeout;
    int helo_timeout;
    int mail_timeout;
    int rcpt_timeout;
    int data_init_timeout;
    int data_xfer_timeout;
    int data_done_timeout;
    int quit_timeout;
    int rset_timeout;
    int starttls_timeout;
    int mx_address_limit; /* 0 = none */
    int mx_session_limit; /* 0 = none */
    bool use_ipv4;
    bool use_ipv6;
    enum smtp_addr_pref address_pref;
    unsigned host_lookup; /* SMTP_LOOKUP_* */
    bool skip_5xx_greeting;
    size_t line_length_limit; /* 0 = none */
    bool mime_conversion;     /* !disable_mime_output_conversion */
    /* TLS */
    enum smtp_tls_level tls_level;
    bool tls_wrappermode;
    char *tls_cafile;
    char *tls_capath;
    /* SASL */
    bool sasl_enable;
    char *sasl_password_maps; /* the parameter value (tables are opened in pre_init) */
    unsigned sasl_sec;        /* without TLS */
    unsigned sasl_tls_sec;    /* with TLS */
    struct argv *sasl_mech_filter;
    /* address rewriting */
    char *generic_maps;
    /* connection reuse */
    bool cache_on_demand;
    int reuse_count_limit;      /* 0 = none */
    int cache_time_limit;       /* ms an idle connection is kept */
    long long reuse_time_limit; /* ms after which a connection is not reused */
    /* loop detection */
    struct argv *inet_interfaces;
};

int smtp_settings_load(struct smtp_settings *s, const char **why_r);
void smtp_settings_clear(struct smtp_settings *s);
int smtp_sasl_options_parse(const char *value, unsigned *bits_r, const char **why_r);

/* ------------------------------------------------------------ next hop */

#define SMTP_PORT_DEFAULT 25

struct smtp_nexthop {
    char *host; /* without brackets; an address literal without "ipv6:" */
    unsigned port;
    bool mx;      /* look up MX records (no brackets) */
    bool literal; /* host is an IP address ([192.0.2.1], [ipv6:2001:db8::1]) */
};

/* Parse a nexthop ("example.com", "[mx.example.com]:587", "[192.0.2.1]", ...). */
int smtp_nexthop_parse(const char *text, struct smtp_nexthop *nh, const char **why_r);
void smtp_nexthop_clear(struct smtp_nexthop *nh);

/* ------------------------------------------------------------ outcomes */

/* A failure (or success) that applies to one or more recipients. */
struct smtp_outcome {
    enum deliver_status status;
    char dsn[DELIVER_DSN_MAX + 1];
    struct buf *text;
    char relay[SOCK_NAMEADDR_MAX + 8]; /* "host[addr]:port" when a server was involved, or "" */
};

void smtp_outcome_init(struct smtp_outcome *o);
void smtp_outcome_clear(struct smtp_outcome *o);
void smtp_outcome_set(struct smtp_outcome *o, enum deliver_status status, const char *dsn,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void smtp_outcome_copy(struct smtp_outcome *dst, const struct smtp_outcome *src);

/* Protocol stages, for "in reply to X command" and "while Y". */
enum smtp_stage {
    SMTP_STAGE_CONNECT,
    SMTP_STAGE_GREETING,
    SMTP_STAGE_EHLO,
    SMTP_STAGE_HELO,
    SMTP_STAGE_STARTTLS,
    SMTP_STAGE_AUTH,
    SMTP_STAGE_MAIL,
    SMTP_STAGE_RCPT,
    SMTP_STAGE_DATA,
    SMTP_STAGE_XFER,
    SMTP_STAGE_DOT,
    SMTP_STAGE_RSET,
    SMTP_STAGE_QUIT,
};

/* "MAIL FROM", "RCPT TO", "end of DATA", ... */
const char *smtp_stage_command(enum smtp_stage stage);
/* "receiving the initial server greeting", "sending RCPT TO", ... */
const char *smtp_stage_doing(enum smtp_stage stage);

/*
 * The outcome of a server reply at a stage: status from the reply code
 * class, the reply's enhanced status code when it has one of that class
 * (else X.0.0), and the text: for 2xx the reply itself, else "host
 * NAMADDR said: REPLY (in reply to COMMAND command)".
 */
void smtp_reply_outcome(const struct smtp_reply *reply, const char *namaddr, enum smtp_stage stage,
                        struct smtp_outcome *o);
/* A lost connection or a timeout while at stage: deferred 4.4.2. */
void smtp_io_outcome(bool timed_out, const char *namaddr, enum smtp_stage stage,
                     struct smtp_outcome *o);
/* Turn a bounce into a deferral (5xx greeting, SASL failure): class 4. */
void smtp_outcome_soften(struct smtp_outcome *o);

/* ------------------------------------------------------------ addresses */

struct smtp_addr {
    char *host;    /* the host name (or the literal) */
    unsigned pref; /* MX preference; 0 without MX */
    struct sockaddr_storage sa;
    socklen_t salen;
    char addr[SOCK_ADDR_MAX]; /* the address as text */
    unsigned port;            /* also set in sa */
};

struct smtp_addr_list {
    struct smtp_addr *v;
    size_t count;
};

void smtp_addr_list_free(struct smtp_addr_list **lp);
void smtp_addr_list_add(struct smtp_addr_list *l, const char *host, unsigned pref,
                        const struct sockaddr *sa, socklen_t salen);

/* This host's own addresses and names, for MX loop detection. */
struct smtp_self;

struct smtp_self *smtp_self_create(const char *myhostname, const struct argv *inet_interfaces);
/* A list of fixed addresses and a name (tests). */
struct smtp_self *smtp_self_create_fixed(const char *myhostname, const char *const *addrs);
void smtp_self_free(struct smtp_self **sp);
bool smtp_self_is_name(const struct smtp_self *self, const char *name);
bool smtp_self_is_addr(const struct smtp_self *self, const struct sockaddr *sa);

/*
 * The addresses to try for a next hop, in order. 0 with *list_r (at least
 * one address), or -1 with o filled (no address: bounce or defer, with
 * Postfix's texts: "Host or domain name not found. Name service error for
 * name=N type=T: Host not found", Null MX 5.1.10, loop 5.4.6).
 */
int smtp_addr_find(const struct smtp_settings *set, const struct smtp_self *self,
                   const struct smtp_nexthop *nh, struct smtp_addr_list **list_r,
                   struct smtp_outcome *o);

/*
 * The backup-MX rule of smtp_addr_find(), on a list in MX order: find the
 * best preference at which this host appears (by name or by address) and
 * drop every entry from that preference on. 0 (the list may shrink), or
 * -1 with o when nothing is left ("mail for DOMAIN loops back to myself").
 */
int smtp_addr_trim_self(struct smtp_addr_list *l, const struct smtp_self *self, const char *domain,
                        struct smtp_outcome *o);

/* ------------------------------------------------------------ sessions */

/* One SMTP connection. */
struct smtp_session {
    struct stream *s;
    int fd;
    struct smtp_reply_reader *reader;
    struct buf *line;
    char *host;
    char addr[SOCK_ADDR_MAX];
    unsigned port;
    char *namaddr; /* "host[addr]" */
    char *relay;   /* "host[addr]:port" */
    char *dest;    /* the nexthop it was made for (connection reuse) */
    struct smtp_ehlo *ehlo;
    bool esmtp; /* EHLO (not HELO) succeeded */
    struct tls_client_session *tls;
    bool authenticated;
    bool broken;          /* I/O error or protocol error: only close */
    unsigned reuse_count; /* transactions so far */
    long long created_ms;
    long long idle_since_ms;
};

/* What the handshake needs beyond the settings. */
struct smtp_session_ctx {
    const struct smtp_settings *set;
    struct tls_client_ctx *tls_ctx; /* NULL: TLS unavailable */
    struct maps *sasl_passwd;       /* NULL: none */
    const char *nexthop;            /* as qmgr gave it (SASL password lookup key) */
    const char *queue_id;           /* for logs */
    bool no_starttls;               /* plain text retry after a failed handshake (level may) */
    bool *table_error;              /* set when a table lookup failed */
};

/*
 * Connect to a and run the handshake (greeting, EHLO/HELO, STARTTLS, AUTH).
 * 1 with *sess_r ready for MAIL FROM; 0 when the server could not be used
 * (o says why; try the next address); -1 when o applies to the whole
 * message whatever the server (such as a loop back to this host).
 * *tls_failed_r is set when a STARTTLS handshake failed at level may (the
 * caller may connect again without STARTTLS).
 */
int smtp_session_open(const struct smtp_session_ctx *ctx, const struct smtp_addr *a,
                      struct smtp_session **sess_r, struct smtp_outcome *o, bool *tls_failed_r);
/* QUIT (bounded, reply not required) and free. */
void smtp_session_quit(struct smtp_session **sp, const struct smtp_settings *set);
/* Close without QUIT and free. */
void smtp_session_free(struct smtp_session **sp);
/* RSET on a kept connection: 0 ready for MAIL FROM, -1 unusable (the caller frees it). */
int smtp_session_rset(struct smtp_session *sess, const struct smtp_settings *set);
/* True when the server sent something or hung up while the connection was idle. */
bool smtp_session_idle_broken(struct smtp_session *sess);

/* Write a command line (CRLF added). */
void smtp_session_cmd(struct smtp_session *sess, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Read one reply with the timeout of stage. 0 with *reply_r (valid until
 * the next read), or -1 with o (lost connection, timeout, protocol error;
 * the session is then broken).
 */
int smtp_session_reply(struct smtp_session *sess, const struct smtp_settings *set,
                       enum smtp_stage stage, const struct smtp_reply **reply_r,
                       struct smtp_outcome *o);
/* The timeout of a stage in milliseconds. */
int smtp_stage_timeout(const struct smtp_settings *set, enum smtp_stage stage);

/* ------------------------------------------------------------ content */

/* What the delivery needs to know about the message before it sends it. */
struct smtp_msginfo {
    unsigned long long size; /* RFC 1870 size: content with CRLF line ends */
    bool eightbit;           /* a byte >= 0x80 anywhere */
    bool header_eightbit;    /* ... in the top-level header block */
};

int smtp_content_scan(struct queue_file *qf, struct smtp_msginfo *info, const char **why_r);

/* How the content is sent. */
struct smtp_content_opts {
    bool downgrade;            /* convert 8-bit parts to quoted-printable */
    struct maps *generic_maps; /* rewrite header addresses; NULL: none */
    size_t line_length_limit;  /* break longer lines; 0 = none */
};

/*
 * Send the content of qf to the stream in DATA wire format, with the
 * final ".". 0, or -1: with *table_error_r false an I/O error on the
 * stream (the session is broken), with *table_error_r true a table lookup
 * failed (*why_r; nothing bad was sent, but the transaction must end).
 */
int smtp_content_send(struct queue_file *qf, struct stream *s, const struct smtp_content_opts *opts,
                      bool *table_error_r, const char **why_r);

/* The pure pipeline for tests: queue content in, wire format out. */
struct smtp_content;

struct smtp_content *smtp_content_create(const struct smtp_content_opts *opts);
void smtp_content_free(struct smtp_content **cp);
int smtp_content_feed(struct smtp_content *c, const char *in, size_t len, struct buf *out,
                      const char **why_r);
int smtp_content_end(struct smtp_content *c, struct buf *out, const char **why_r);

/* ------------------------------------------------------------ MIME downgrade */

struct smtp_mime;

/*
 * A converter of queue-format content (LF lines) that re-encodes the body
 * of each leaf MIME part containing 8-bit bytes as quoted-printable and
 * says so in its Content-Transfer-Encoding header. Headers are kept.
 * Feed any chunks; the output is the same whatever the chunking.
 */
struct smtp_mime *smtp_mime_create(void);
void smtp_mime_free(struct smtp_mime **mp);
void smtp_mime_feed(struct smtp_mime *m, const char *in, size_t len, struct buf *out);
void smtp_mime_end(struct smtp_mime *m, struct buf *out);
/* Quoted-printable encoding of one line (without its LF), appended with its LF. */
void smtp_qp_line(struct buf *out, const char *line, size_t len);

/* ------------------------------------------------------------ generic maps */

/*
 * smtp_generic_maps: the rewritten form of addr into out. 1 rewritten,
 * 0 unchanged (out = addr), -1 table error (*why_r).
 */
int smtp_generic_address(struct maps *m, const char *addr, struct buf *out, const char **why_r);
/*
 * Rewrite the addresses in one header field (name: value, folding kept)
 * when it is an address header (From, Sender, Reply-To, To, Cc, Bcc,
 * Resent-*). 1 rewritten into out, 0 unchanged, -1 table error.
 */
int smtp_generic_header(struct maps *m, const char *field, size_t len, struct buf *out,
                        const char **why_r);

/* ------------------------------------------------------------ delivery */

/* Process-wide state of the agent. */
struct smtp_agent {
    struct smtp_settings set;
    struct smtp_self *self;
    struct tls_client_ctx *tls_ctx;
    struct maps *sasl_passwd;
    struct maps *generic_maps;
    struct smtp_session *cached; /* an idle connection kept for the next request */
    bool table_error;            /* a table lookup failed: restart to reopen it as root */
};

/* One request while it is being delivered (smtp_deliver.c, smtp_xfer.c). */
struct smtp_req {
    struct smtp_agent *agent;
    const struct deliver_request *req;
    struct stream *qmgr;
    bool qmgr_failed; /* a result could not be sent: stop */
    struct queue_file *qf;
    struct smtp_msginfo info;
    char *sender;             /* after smtp_generic_maps */
    char **rcpt_addr;         /* each recipient after smtp_generic_maps */
    bool *done;               /* the recipient has its result */
    bool *accepted;           /* RCPT TO accepted in the current transaction */
    size_t left;              /* recipients without a result */
    bool final_server;        /* soft failures are final (no other server to try) */
    struct smtp_outcome last; /* the latest soft failure kept for later */
    bool have_last;
    long long start_ms;
    long long ready_ms; /* when the session became ready */
};

/* Send recipient i's result (text NULL = "", relay NULL = "none"). */
void smtp_rcpt_result(struct smtp_req *st, size_t i, enum deliver_status status, const char *dsn,
                      const char *action, const char *relay, const char *text);
/*
 * Recipient i failed with o: a soft failure on a server that is not the
 * last to try keeps the recipient for the next one (and remembers o);
 * anything else is its result. relay NULL takes o's relay.
 */
void smtp_rcpt_fail(struct smtp_req *st, size_t i, const struct smtp_outcome *o, const char *relay);
/* Every recipient without a result failed with o (as smtp_rcpt_fail). */
void smtp_bulk_fail(struct smtp_req *st, const struct smtp_outcome *o, const char *relay);

/*
 * One mail transaction on a ready session for the recipients without a
 * result. 1 when the session can carry another transaction, 0 when it
 * must be closed (broken, or in an unknown state).
 */
int smtp_xfer(struct smtp_req *st, struct smtp_session *sess);

/*
 * Deliver one request; every recipient's result goes to qmgr on qmgr_s.
 * Returns 0, or -1 when qmgr went away (stop serving the connection).
 */
int smtp_deliver(struct smtp_agent *agent, const struct deliver_request *req,
                 struct stream *qmgr_s);
/* Close the cached connection when it idled too long (or always, with force). */
void smtp_cache_expire(struct smtp_agent *agent, bool force);

/* Milliseconds of a monotonic clock. */
long long smtp_now_ms(void);

#endif
