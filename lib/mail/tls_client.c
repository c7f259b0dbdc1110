/*
 * tls_client - the client side of TLS with OpenSSL 3 (see tls_client.h):
 * context set-up, the handshake with bounded waits, the stream I/O hooks,
 * and the details that the log reports.
 *
 * Owns: the SSL_CTX of a context, the SSL of a session. While TLS is on,
 * the socket is non-blocking (every wait is a poll with the stream's
 * timeout); tls_client_stop() makes it blocking again.
 *
 * Security notes: TLS 1.2 is the minimum (RFC 8996, RFC 9325); no
 * compression (CRIME); renegotiation is left to OpenSSL 3's defaults (no
 * insecure legacy renegotiation). A server that sent bytes after its 220
 * reply to STARTTLS is refused before the handshake (RFC 3207 section 6,
 * the STARTTLS command injection attacks). Certificate trust is reported,
 * not enforced (see tls_client.h). An unexpected EOF without close_notify
 * reads as end of file (SSL_OP_IGNORE_UNEXPECTED_EOF); SMTP's own framing
 * (the reply to the final ".") says whether a message got through.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "lib/mail/tls_client.h"
#include "lib/util/clock.h"
#include "lib/util/mem.h"
#include "lib/util/stream.h"

/* "Anonymous", "Untrusted", "Trusted". */
const char *tls_trust_name(enum tls_trust trust)
{
    switch (trust) {
    case TLS_TRUST_ANONYMOUS:
        return "Anonymous";
    case TLS_TRUST_UNTRUSTED:
        return "Untrusted";
    case TLS_TRUST_TRUSTED:
        return "Trusted";
    }
    return "Unknown";
}

#ifdef HAVE_OPENSSL

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct tls_client_ctx {
    SSL_CTX *ssl_ctx;
};

struct tls_client_session {
    SSL *ssl;
    int fd;
    int saved_flags; /* fcntl flags before TLS */
};

/* True when this build has TLS. */
bool tls_client_available(void)
{
    return true;
}

/* The first queued OpenSSL error as text (static), or fallback. */
static const char *tls_error_text(const char *fallback)
{
    static char text[256];
    unsigned long e = ERR_get_error();

    if (e == 0)
        return fallback;
    ERR_error_string_n(e, text, sizeof(text));
    ERR_clear_error();
    return text;
}

/* A context. */
int tls_client_ctx_create(const struct tls_client_params *params, struct tls_client_ctx **ctx_r,
                          const char **why_r)
{
    static char why[512];
    const char *cafile = params && params->cafile && *params->cafile ? params->cafile : NULL;
    const char *capath = params && params->capath && *params->capath ? params->capath : NULL;
    SSL_CTX *c;

    *ctx_r = NULL;
    ERR_clear_error();
    c = SSL_CTX_new(TLS_client_method());
    if (c == NULL) {
        snprintf(why, sizeof(why), "cannot create a TLS context: %s", tls_error_text("unknown"));
        *why_r = why;
        return -1;
    }
    if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1) {
        snprintf(why, sizeof(why), "cannot require TLS 1.2: %s", tls_error_text("unknown"));
        goto fail;
    }
    SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Verify and report; the caller's policy decides what an untrusted peer means. */
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    if ((cafile || capath) && SSL_CTX_load_verify_locations(c, cafile, capath) != 1) {
        snprintf(why, sizeof(why), "cannot load trusted CAs from %s%s%s: %s", cafile ? cafile : "",
                 cafile && capath ? " and " : "", capath ? capath : "",
                 tls_error_text("unknown error"));
        goto fail;
    }
    *ctx_r = mem_alloc(sizeof(**ctx_r));
    (*ctx_r)->ssl_ctx = c;
    return 0;

fail:
    SSL_CTX_free(c);
    *why_r = why;
    return -1;
}

/* Free a context. */
void tls_client_ctx_free(struct tls_client_ctx **ctxp)
{
    struct tls_client_ctx *ctx = *ctxp;

    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    mem_free(ctx);
    *ctxp = NULL;
}

/* Milliseconds left until deadline (-1 = none), at least 0. */
static int tls_left(long long deadline)
{
    return deadline < 0 ? -1 : (int)clock_remaining_ms(deadline);
}

/*
 * After an SSL call returned n <= 0: wait as OpenSSL asks. 1 to try again,
 * 0 end of file, -1 with errno (ETIMEDOUT, EPROTO, ...).
 */
static int tls_wait(SSL *ssl, int fd, int n, long long deadline)
{
    int err = SSL_get_error(ssl, n);
    short events;
    int w;

    switch (err) {
    case SSL_ERROR_WANT_READ:
        events = POLLIN;
        break;
    case SSL_ERROR_WANT_WRITE:
        events = POLLOUT;
        break;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == 0) {
            errno = ECONNRESET;
            return ERR_peek_error() == 0 ? 0 : -1;
        }
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
    w = stream_fd_wait(fd, events, tls_left(deadline));
    if (w == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    return w < 0 ? -1 : 1;
}

/* stream read_fn: read through TLS. */
static ssize_t tls_read(int fd, void *data, size_t len, int timeout_ms, void *ctx)
{
    struct tls_client_session *sess = ctx;
    long long deadline = timeout_ms < 0 ? -1 : clock_now_ms() + timeout_ms;
    int want = len > INT_MAX ? INT_MAX : (int)len;

    for (;;) {
        int n, w;

        ERR_clear_error();
        errno = 0;
        n = SSL_read(sess->ssl, data, want);
        if (n > 0)
            return n;
        w = tls_wait(sess->ssl, fd, n, deadline);
        if (w <= 0)
            return w;
    }
}

/* stream write_fn: write through TLS. */
static ssize_t tls_write(int fd, const void *data, size_t len, int timeout_ms, void *ctx)
{
    struct tls_client_session *sess = ctx;
    long long deadline = timeout_ms < 0 ? -1 : clock_now_ms() + timeout_ms;
    int want = len > INT_MAX ? INT_MAX : (int)len;

    if (len == 0)
        return 0;
    for (;;) {
        int n, w;

        ERR_clear_error();
        errno = 0;
        n = SSL_write(sess->ssl, data, want);
        if (n > 0)
            return n;
        w = tls_wait(sess->ssl, fd, n, deadline);
        if (w == 0) {
            errno = EPIPE;
            return -1;
        }
        if (w < 0)
            return -1;
    }
}

/* stream pending_fn: decrypted bytes waiting inside OpenSSL. */
static bool tls_pending(void *ctx)
{
    struct tls_client_session *sess = ctx;

    return SSL_pending(sess->ssl) > 0;
}

/* Free a session and restore the socket's blocking mode. */
static void tls_session_free(struct tls_client_session **sessp)
{
    struct tls_client_session *sess = *sessp;

    if (sess == NULL)
        return;
    SSL_free(sess->ssl);
    if (sess->fd >= 0)
        (void)fcntl(sess->fd, F_SETFL, sess->saved_flags);
    mem_free(sess);
    *sessp = NULL;
}

/* True when name looks like an IP address (SNI carries host names only). */
static bool tls_is_address(const char *name)
{
    return strchr(name, ':') != NULL || strspn(name, "0123456789.") == strlen(name);
}

/* Run the handshake on s's socket. */
int tls_client_start(struct tls_client_ctx *ctx, struct stream *s, const char *servername,
                     int timeout_ms, struct tls_client_session **sess_r, const char **why_r)
{
    static char why[512];
    struct tls_client_session *sess;
    int fd = stream_fd(s);
    long long deadline = timeout_ms < 0 ? -1 : clock_now_ms() + timeout_ms;
    int flags;

    *sess_r = NULL;
    if (stream_input_pending(s)) {
        *why_r = "the server sent data after the STARTTLS reply (possible command injection)";
        return -1;
    }
    if (stream_flush(s) < 0) {
        snprintf(why, sizeof(why), "write error before the TLS handshake: %s", stream_strerror(s));
        *why_r = why;
        return -1;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        snprintf(why, sizeof(why), "fcntl: %s", strerror(errno));
        *why_r = why;
        return -1;
    }
    sess = mem_alloc(sizeof(*sess));
    sess->fd = fd;
    sess->saved_flags = flags;
    ERR_clear_error();
    sess->ssl = SSL_new(ctx->ssl_ctx);
    if (sess->ssl == NULL || SSL_set_fd(sess->ssl, fd) != 1) {
        snprintf(why, sizeof(why), "cannot set up TLS: %s", tls_error_text("unknown error"));
        goto fail;
    }
    if (servername != NULL && *servername && !tls_is_address(servername) &&
        SSL_set_tlsext_host_name(sess->ssl, servername) != 1) {
        snprintf(why, sizeof(why), "cannot set the TLS server name: %s",
                 tls_error_text("unknown error"));
        goto fail;
    }
    SSL_set_connect_state(sess->ssl);
    for (;;) {
        int n, w;

        ERR_clear_error();
        errno = 0;
        n = SSL_connect(sess->ssl);
        if (n == 1)
            break;
        w = tls_wait(sess->ssl, fd, n, deadline);
        if (w > 0)
            continue;
        if (w == 0 || (errno != ETIMEDOUT && errno != EPROTO && ERR_peek_error() == 0))
            snprintf(why, sizeof(why), "TLS handshake failed: %s",
                     w == 0  ? "the server closed the connection"
                     : errno ? strerror(errno)
                             : "lost connection");
        else if (errno == ETIMEDOUT)
            snprintf(why, sizeof(why), "TLS handshake timed out");
        else
            snprintf(why, sizeof(why), "TLS handshake failed: %s",
                     tls_error_text("protocol error"));
        goto fail;
    }
    stream_set_io(s, tls_read, tls_write, sess);
    stream_set_pending_fn(s, tls_pending);
    *sess_r = sess;
    return 0;

fail:
    ERR_clear_error();
    tls_session_free(&sess);
    *why_r = why;
    return -1;
}

/* Details for the log. */
void tls_client_session_info(const struct tls_client_session *sess, struct tls_client_info *info)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(sess->ssl);
    X509 *peer = SSL_get0_peer_certificate(sess->ssl);
    long vr;

    memset(info, 0, sizeof(*info));
    info->protocol = SSL_get_version(sess->ssl);
    info->cipher = c ? SSL_CIPHER_get_name(c) : "unknown";
    info->bits = c ? SSL_CIPHER_get_bits(c, &info->alg_bits) : 0;
    if (peer == NULL) {
        info->trust = TLS_TRUST_ANONYMOUS;
        return;
    }
    vr = SSL_get_verify_result(sess->ssl);
    if (vr == X509_V_OK) {
        info->trust = TLS_TRUST_TRUSTED;
    } else {
        info->trust = TLS_TRUST_UNTRUSTED;
        info->verify_error = X509_verify_cert_error_string(vr);
    }
}

/* End TLS on s and free the session. */
void tls_client_stop(struct stream *s, struct tls_client_session **sessp, bool send_notify)
{
    struct tls_client_session *sess = *sessp;

    if (sess == NULL)
        return;
    if (send_notify) {
        long long deadline = clock_now_ms() + stream_get_timeout(s);

        /* close_notify only: waiting for the server's own is not worth a delay. */
        for (int tries = 0; tries < 100; tries++) {
            int n;

            ERR_clear_error();
            errno = 0;
            n = SSL_shutdown(sess->ssl);
            if (n >= 0)
                break;
            if (tls_wait(sess->ssl, sess->fd, n, deadline) <= 0)
                break;
        }
    }
    ERR_clear_error();
    stream_set_io(s, stream_fd_read, stream_fd_write, NULL);
    stream_set_pending_fn(s, NULL);
    tls_session_free(sessp);
}

#else /* !HAVE_OPENSSL */

struct tls_client_ctx {
    int unused;
};

struct tls_client_session {
    int unused;
};

/* No TLS in this build. */
bool tls_client_available(void)
{
    return false;
}

/* Fails: no TLS in this build. */
int tls_client_ctx_create(const struct tls_client_params *params, struct tls_client_ctx **ctx_r,
                          const char **why_r)
{
    (void)params;
    *ctx_r = NULL;
    *why_r = "TLS support is not available (built without OpenSSL)";
    return -1;
}

/* Free a (never made) context. */
void tls_client_ctx_free(struct tls_client_ctx **ctxp)
{
    mem_free(*ctxp);
    *ctxp = NULL;
}

/* Fails: no TLS in this build. */
int tls_client_start(struct tls_client_ctx *ctx, struct stream *s, const char *servername,
                     int timeout_ms, struct tls_client_session **sess_r, const char **why_r)
{
    (void)ctx, (void)s, (void)servername, (void)timeout_ms;
    *sess_r = NULL;
    *why_r = "TLS support is not available (built without OpenSSL)";
    return -1;
}

/* Nothing to report. */
void tls_client_session_info(const struct tls_client_session *sess, struct tls_client_info *info)
{
    (void)sess;
    memset(info, 0, sizeof(*info));
    info->protocol = info->cipher = "none";
}

/* Free a (never made) session. */
void tls_client_stop(struct stream *s, struct tls_client_session **sessp, bool send_notify)
{
    (void)s, (void)send_notify;
    mem_free(*sessp);
    *sessp = NULL;
}

#endif
