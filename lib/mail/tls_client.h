/*
 * tls_client - the client side of TLS (OpenSSL 3) for SMTP: STARTTLS
 * (RFC 3207) and implicit TLS (RFC 8314) on a connected lib/util stream.
 *
 * A context holds the configuration (TLS 1.2 or later, the trusted CAs);
 * tls_client_start() runs the handshake on a stream's socket and then
 * plugs the TLS connection into the stream's read_fn/write_fn hooks, so
 * the caller goes on with stream_read_line()/stream_write() as before,
 * with the stream's timeouts. tls_client_stop() sends close_notify and
 * puts plain I/O back.
 *
 * Peer verification: the chain is checked against the configured CAs and
 * the outcome reported (Trusted/Untrusted; Anonymous without a
 * certificate), but a failed check does not end the handshake: at
 * Postfix's "may" and "encrypt" levels any certificate will do. A caller
 * that needs more decides with tls_client_session_info().
 *
 * Without OpenSSL (configure found none) every call fails with "TLS
 * support is not available".
 */
#ifndef POSTEL_MAIL_TLS_CLIENT_H
#define POSTEL_MAIL_TLS_CLIENT_H

#include <stdbool.h>

struct stream;
struct tls_client_ctx;
struct tls_client_session;

struct tls_client_params {
    const char *cafile; /* trusted CAs (PEM file), NULL or "" for none */
    const char *capath; /* trusted CAs (hashed directory), NULL or "" for none */
};

enum tls_trust {
    TLS_TRUST_ANONYMOUS, /* no certificate */
    TLS_TRUST_UNTRUSTED, /* a certificate whose chain did not verify */
    TLS_TRUST_TRUSTED,   /* the chain verified against the trusted CAs */
};

struct tls_client_info {
    const char *protocol; /* "TLSv1.3" */
    const char *cipher;   /* "TLS_AES_256_GCM_SHA384" */
    int bits;             /* cipher bits in use */
    int alg_bits;         /* bits of the algorithm */
    enum tls_trust trust;
    const char *verify_error; /* why the chain did not verify, or NULL */
};

/* True when this build has TLS. */
bool tls_client_available(void);

/* A context. 0 with *ctx_r, or -1 with *why_r (unreadable CA file, ...). */
int tls_client_ctx_create(const struct tls_client_params *params, struct tls_client_ctx **ctx_r,
                          const char **why_r);
void tls_client_ctx_free(struct tls_client_ctx **ctxp);

/*
 * Run the handshake on s's socket; servername (a host name, not an
 * address; NULL for none) goes into SNI. Every wait is bounded by
 * timeout_ms. s must hold no unread input (a server that sent bytes after
 * its 220 reply to STARTTLS is refused: RFC 3207 section 6) and its output
 * is flushed first. 0 with *sess_r (s now speaks TLS), or -1 with *why_r
 * (s is unusable).
 */
int tls_client_start(struct tls_client_ctx *ctx, struct stream *s, const char *servername,
                     int timeout_ms, struct tls_client_session **sess_r, const char **why_r);

/* Details for the log ("TLSv1.3 with cipher ..."); strings live as long as sess. */
void tls_client_session_info(const struct tls_client_session *sess, struct tls_client_info *info);

/* "Anonymous", "Untrusted", "Trusted". */
const char *tls_trust_name(enum tls_trust trust);

/*
 * End TLS on s: send close_notify when send_notify (bounded by s's
 * timeout; a failure is ignored), give s its plain I/O back, free sess.
 */
void tls_client_stop(struct stream *s, struct tls_client_session **sessp, bool send_notify);

#endif
