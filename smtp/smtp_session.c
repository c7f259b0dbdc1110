/*
 * smtp_session - one SMTP connection of smtp(8): connect with
 * smtp_connect_timeout, implicit TLS (smtp_tls_wrappermode), the greeting,
 * EHLO (HELO when EHLO is refused), STARTTLS by smtp_tls_security_level,
 * SMTP AUTH with smtp_sasl_password_maps, and the small commands around a
 * kept connection (RSET, QUIT). Replies are read line by line with the
 * timeout of the protocol stage and parsed by lib/proto/smtp_reply_reader.
 *
 * A server that cannot be used (no connection, a 4xx/5xx greeting, EHLO
 * and HELO refused, TLS required but not offered, no acceptable SASL
 * mechanism) is a site failure: the caller tries the next address.
 *
 * Security notes: everything the server sends is bounded by the reply
 * reader (line length, line count) and each wait by a timeout. After
 * STARTTLS the reply to it must be the last thing the server sent (no
 * plaintext injected ahead of the handshake), and the EHLO extensions
 * learnt before TLS are forgotten. The SASL password is looked up only
 * when it will be used, never logged, and sent only as the security
 * options allow (by default never without TLS).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/mail/maps.h"
#include "lib/mail/sasl_client.h"
#include "lib/mail/tls_client.h"
#include "lib/proto/smtp_reply_reader.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"
#include "smtp/smtp.h"

/* The timeout of a stage in milliseconds. */
int smtp_stage_timeout(const struct smtp_settings *set, enum smtp_stage stage)
{
    switch (stage) {
    case SMTP_STAGE_CONNECT:
        return set->connect_timeout;
    case SMTP_STAGE_GREETING:
    case SMTP_STAGE_EHLO:
    case SMTP_STAGE_HELO:
    case SMTP_STAGE_AUTH:
        return set->helo_timeout;
    case SMTP_STAGE_STARTTLS:
        return set->starttls_timeout;
    case SMTP_STAGE_MAIL:
        return set->mail_timeout;
    case SMTP_STAGE_RCPT:
        return set->rcpt_timeout;
    case SMTP_STAGE_DATA:
        return set->data_init_timeout;
    case SMTP_STAGE_XFER:
        return set->data_xfer_timeout;
    case SMTP_STAGE_DOT:
        return set->data_done_timeout;
    case SMTP_STAGE_RSET:
        return set->rset_timeout;
    case SMTP_STAGE_QUIT:
        return set->quit_timeout;
    }
    return set->helo_timeout;
}

/* Close and free without a word to the server. */
void smtp_session_free(struct smtp_session **sp)
{
    struct smtp_session *sess = *sp;

    if (sess == NULL)
        return;
    if (sess->tls != NULL)
        tls_client_stop(sess->s, &sess->tls, false);
    stream_free(&sess->s);
    smtp_reply_reader_free(&sess->reader);
    smtp_ehlo_free(&sess->ehlo);
    buf_free(&sess->line);
    mem_free(sess->host);
    mem_free(sess->namaddr);
    mem_free(sess->relay);
    mem_free(sess->dest);
    mem_free(sess);
    *sp = NULL;
}

/* QUIT and free. Like Postfix (smtp_skip_quit_response), the reply is not awaited. */
void smtp_session_quit(struct smtp_session **sp, const struct smtp_settings *set)
{
    struct smtp_session *sess = *sp;

    if (sess == NULL)
        return;
    if (!sess->broken) {
        stream_set_timeout(sess->s, set->quit_timeout < 10000 ? set->quit_timeout : 10000);
        smtp_session_cmd(sess, "QUIT");
        (void)stream_flush(sess->s);
        if (sess->tls != NULL)
            tls_client_stop(sess->s, &sess->tls, true);
    }
    smtp_session_free(sp);
}

/* Write a command line. */
void smtp_session_cmd(struct smtp_session *sess, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (msg_verbose) {
        struct buf *b = buf_create(128);
        va_list aq;

        va_copy(aq, ap);
        buf_vprintf(b, fmt, aq);
        va_end(aq);
        msg_debug("> %s: %s", sess->namaddr, buf_str(b));
        buf_free(&b);
    }
    (void)stream_vprintf(sess->s, fmt, ap);
    va_end(ap);
    (void)stream_write(sess->s, "\r\n", 2);
}

/* Read one reply with the stage's timeout. */
int smtp_session_reply(struct smtp_session *sess, const struct smtp_settings *set,
                       enum smtp_stage stage, const struct smtp_reply **reply_r,
                       struct smtp_outcome *o)
{
    const char *why;

    stream_set_timeout(sess->s, smtp_stage_timeout(set, stage));
    for (;;) {
        enum stream_line_end end;
        int r = stream_read_line(sess->s, sess->line, SMTP_REPLY_READER_LINE_MAX, &end);
        int rc;

        if (r <= 0 || end == STREAM_LINE_EOF) {
            sess->broken = true;
            smtp_io_outcome(r < 0 && stream_timed_out(sess->s), sess->namaddr, stage, o);
            return -1;
        }
        if (end == STREAM_LINE_TOO_LONG) {
            why = "reply line too long";
            goto protocol;
        }
        if (msg_verbose)
            msg_debug("< %s: %s", sess->namaddr, buf_str(sess->line));
        buf_append(sess->line, "\r\n", 2);
        rc = smtp_reply_reader_feed(sess->reader, buf_str(sess->line), buf_len(sess->line), NULL,
                                    &why);
        if (rc < 0)
            goto protocol;
        if (rc == 1) {
            *reply_r = smtp_reply_reader_reply(sess->reader);
            return 0;
        }
    }

protocol:
    sess->broken = true;
    smtp_outcome_set(o, DELIVER_DEFERRED, "4.4.2", "malformed reply from %s while %s: %s",
                     sess->namaddr, smtp_stage_doing(stage), why);
    return -1;
}

/* RSET on a kept connection. */
int smtp_session_rset(struct smtp_session *sess, const struct smtp_settings *set)
{
    const struct smtp_reply *reply;
    struct smtp_outcome o;
    int ret = -1;

    smtp_outcome_init(&o);
    smtp_session_cmd(sess, "RSET");
    if (smtp_session_reply(sess, set, SMTP_STAGE_RSET, &reply, &o) == 0 && reply->code / 100 == 2)
        ret = 0;
    else
        sess->broken = true;
    smtp_outcome_clear(&o);
    return ret;
}

/* True when the server sent something or hung up while the connection was idle. */
bool smtp_session_idle_broken(struct smtp_session *sess)
{
    struct pollfd pfd = {.fd = sess->fd, .events = POLLIN};

    if (sess->broken || stream_input_pending(sess->s))
        return true;
    return poll(&pfd, 1, 0) != 0;
}

/* Connect to a; a new session or NULL with o set. */
static struct smtp_session *smtp_session_connect(const struct smtp_session_ctx *ctx,
                                                 const struct smtp_addr *a, struct smtp_outcome *o)
{
    struct smtp_session *sess;
    char namaddr[SOCK_NAMEADDR_MAX];
    const char *why;
    int fd;

    sock_name_addr(namaddr, sizeof(namaddr), a->host, a->addr);
    fd = sock_connect_addr((const struct sockaddr *)&a->sa, a->salen, ctx->set->connect_timeout,
                           &why);
    if (fd < 0) {
        int err = errno;

        smtp_outcome_set(o, DELIVER_DEFERRED, "4.4.1", "connect to %s:%u: %s", namaddr, a->port,
                         err == ETIMEDOUT ? "Connection timed out" : strerror(err));
        return NULL;
    }
    sess = mem_alloc(sizeof(*sess));
    sess->fd = fd;
    sess->s = stream_open(fd, 0);
    sess->reader = smtp_reply_reader_create(0, 0);
    sess->line = buf_create(256);
    sess->host = mem_strdup(a->host);
    snprintf(sess->addr, sizeof(sess->addr), "%s", a->addr);
    sess->port = a->port;
    sess->namaddr = mem_strdup(namaddr);
    sess->relay = mem_alloc(strlen(namaddr) + 16);
    sprintf(sess->relay, "%s:%u", namaddr, a->port);
    sess->created_ms = smtp_now_ms();
    return sess;
}

/* Start TLS on the connection and log it. 0, or -1 with o (the session is broken). */
static int smtp_session_tls(const struct smtp_session_ctx *ctx, struct smtp_session *sess,
                            struct smtp_outcome *o)
{
    struct tls_client_info info;
    const char *why;

    if (tls_client_start(ctx->tls_ctx, sess->s, sess->host, ctx->set->starttls_timeout, &sess->tls,
                         &why) < 0) {
        sess->broken = true;
        smtp_outcome_set(o, DELIVER_DEFERRED, "4.7.5", "Cannot start TLS with %s: %s",
                         sess->namaddr, why);
        return -1;
    }
    tls_client_session_info(sess->tls, &info);
    msg_info("%s TLS connection established to %s: %s with cipher %s (%d/%d bits)",
             tls_trust_name(info.trust), sess->relay, info.protocol, info.cipher, info.bits,
             info.alg_bits);
    if (info.verify_error != NULL)
        msg_debug("%s: certificate verification: %s", sess->namaddr, info.verify_error);
    return 0;
}

/* EHLO (or HELO when EHLO is refused). 1 ok, 0 site failure with o. */
static int smtp_session_ehlo(const struct smtp_session_ctx *ctx, struct smtp_session *sess,
                             bool helo_fallback, struct smtp_outcome *o)
{
    const struct smtp_settings *set = ctx->set;
    const struct smtp_reply *reply;
    const char *why;

    smtp_ehlo_free(&sess->ehlo);
    sess->esmtp = false;
    smtp_session_cmd(sess, "EHLO %s", set->helo_name);
    if (smtp_session_reply(sess, set, SMTP_STAGE_EHLO, &reply, o) < 0)
        return 0;
    if (reply->code / 100 == 2) {
        if (smtp_ehlo_parse(reply, &sess->ehlo, &why) < 0) {
            sess->broken = true;
            smtp_outcome_set(o, DELIVER_DEFERRED, "4.4.2", "malformed EHLO reply from %s: %s",
                             sess->namaddr, why);
            return 0;
        }
        sess->esmtp = true;
        return 1;
    }
    if (!helo_fallback || reply->code == 421) {
        smtp_reply_outcome(reply, sess->namaddr, SMTP_STAGE_EHLO, o);
        smtp_outcome_soften(o);
        return 0;
    }
    smtp_session_cmd(sess, "HELO %s", set->helo_name);
    if (smtp_session_reply(sess, set, SMTP_STAGE_HELO, &reply, o) < 0)
        return 0;
    if (reply->code / 100 != 2) {
        smtp_reply_outcome(reply, sess->namaddr, SMTP_STAGE_HELO, o);
        smtp_outcome_soften(o);
        return 0;
    }
    return 1;
}

/*
 * SMTP AUTH when enabled, offered and configured for this next hop.
 * 1 done or not needed, 0 site failure with o, -1 message failure with o.
 */
static int smtp_session_auth(const struct smtp_session_ctx *ctx, struct smtp_session *sess,
                             struct smtp_outcome *o)
{
    const struct smtp_settings *set = ctx->set;
    const struct smtp_reply *reply;
    struct sasl_client *client = NULL;
    const char *value = NULL, *why;
    char *cred, *colon;
    struct buf *resp;
    unsigned refuse = 0, sec;
    int rc = 0, ret = 0;

    if (!set->sasl_enable || ctx->sasl_passwd == NULL || sess->ehlo == NULL ||
        !(sess->ehlo->ext & SMTP_EHLO_AUTH) || sess->ehlo->auth->argc == 0)
        return 1;
    /* The next hop as the transport names it, then the server's host name. */
    rc = maps_find(ctx->sasl_passwd, ctx->nexthop, &value, &why);
    if (rc == 0)
        rc = maps_find(ctx->sasl_passwd, sess->host, &value, &why);
    if (rc < 0) {
        if (ctx->table_error != NULL)
            *ctx->table_error = true;
        smtp_outcome_set(o, DELIVER_DEFERRED, "4.3.0",
                         "smtp_sasl_password_maps lookup error for %s: %s", sess->host, why);
        return -1;
    }
    if (rc == 0)
        return 1;
    cred = mem_strdup(value);
    colon = strchr(cred, ':');
    if (colon == NULL) {
        explicit_bzero(cred, strlen(cred));
        mem_free(cred);
        smtp_outcome_set(o, DELIVER_DEFERRED, "4.3.5",
                         "smtp_sasl_password_maps: the entry for %s is not user:password",
                         sess->host);
        return -1;
    }
    *colon = 0;
    sec = sess->tls != NULL ? set->sasl_tls_sec : set->sasl_sec;
    if (sec & SMTP_SASL_NOPLAINTEXT)
        refuse |= SASL_SEC_NOPLAINTEXT;
    if (sec & SMTP_SASL_NOANONYMOUS)
        refuse |= SASL_SEC_NOANONYMOUS;
    rc = sasl_client_create(sess->ehlo->auth, set->sasl_mech_filter, refuse, cred, colon + 1,
                            &client, &why);
    explicit_bzero(cred, strlen(cred) + 1 + strlen(colon + 1));
    mem_free(cred);
    if (rc <= 0) {
        smtp_outcome_set(
            o, DELIVER_DEFERRED, "4.7.0",
            "SASL authentication failed; cannot authenticate to server %s: %s%s", sess->namaddr,
            why,
            sess->tls == NULL && rc == 0 && (refuse & SASL_SEC_NOPLAINTEXT) ? " (no TLS)" : "");
        return rc < 0 ? -1 : 0;
    }
    resp = buf_create(128);
    /* RFC 4954: the AUTH line with the initial response must fit 512 bytes. */
    if (sasl_client_initial(client, resp) && buf_len(resp) + strlen(sasl_client_mech(client)) < 490)
        smtp_session_cmd(sess, "AUTH %s %s", sasl_client_mech(client),
                         buf_len(resp) ? buf_str(resp) : "=");
    else
        smtp_session_cmd(sess, "AUTH %s", sasl_client_mech(client));
    for (int steps = 0;; steps++) {
        if (smtp_session_reply(sess, set, SMTP_STAGE_AUTH, &reply, o) < 0)
            break;
        if (reply->code == 334 && steps < 10) {
            const char *challenge = reply->lines->argc > 0 ? reply->lines->argv[0] : "";

            if (sasl_client_step(client, challenge, resp, &why) < 0) {
                /* "*" cancels the exchange (RFC 4954 section 4). */
                smtp_session_cmd(sess, "*");
                (void)smtp_session_reply(sess, set, SMTP_STAGE_AUTH, &reply, o);
                sess->broken = true;
                smtp_outcome_set(o, DELIVER_DEFERRED, "4.7.0",
                                 "SASL authentication failed; server %s: %s", sess->namaddr, why);
                break;
            }
            smtp_session_cmd(sess, "%s", buf_str(resp));
            continue;
        }
        if (reply->code / 100 == 2) {
            sess->authenticated = true;
            ret = 1;
            break;
        }
        smtp_outcome_set(o, DELIVER_DEFERRED, "4.7.0",
                         "SASL authentication failed; server %s said: %s", sess->namaddr,
                         buf_str(reply->text));
        if (reply->dsn[0] == '4' || reply->dsn[0] == '5') {
            o->dsn[0] = '4';
            memcpy(o->dsn + 1, reply->dsn + 1, sizeof(o->dsn) - 1);
            o->dsn[sizeof(o->dsn) - 1] = 0;
        }
        break;
    }
    explicit_bzero(buf_str(resp), buf_len(resp));
    buf_free(&resp);
    sasl_client_free(&client);
    return ret;
}

/* Connect and run the handshake. */
int smtp_session_open(const struct smtp_session_ctx *ctx, const struct smtp_addr *a,
                      struct smtp_session **sess_r, struct smtp_outcome *o, bool *tls_failed_r)
{
    const struct smtp_settings *set = ctx->set;
    const struct smtp_reply *reply;
    struct smtp_session *sess;
    int ret = 0, rc;

    *sess_r = NULL;
    *tls_failed_r = false;
    sess = smtp_session_connect(ctx, a, o);
    if (sess == NULL)
        return 0;

    if (set->tls_wrappermode) {
        if (ctx->tls_ctx == NULL) {
            smtp_outcome_set(o, DELIVER_DEFERRED, "4.7.5",
                             "TLS is required (smtp_tls_wrappermode), but unavailable");
            ret = -1;
            goto fail;
        }
        if (smtp_session_tls(ctx, sess, o) < 0)
            goto fail;
    }

    /* The greeting. */
    if (smtp_session_reply(sess, set, SMTP_STAGE_GREETING, &reply, o) < 0)
        goto fail;
    if (reply->code / 100 != 2) {
        smtp_outcome_set(o, reply->code / 100 == 5 ? DELIVER_BOUNCED : DELIVER_DEFERRED,
                         reply->code / 100 == 5 ? "5.0.0" : "4.0.0",
                         "host %s refused to talk to me: %s", sess->namaddr, buf_str(reply->text));
        if (reply->dsn[0] != 0 && deliver_dsn_valid(reply->dsn, o->status))
            snprintf(o->dsn, sizeof(o->dsn), "%s", reply->dsn);
        if (o->status == DELIVER_BOUNCED && !set->skip_5xx_greeting)
            ret = -1;
        else
            smtp_outcome_soften(o);
        goto fail;
    }

    if (smtp_session_ehlo(ctx, sess, true, o) == 0)
        goto fail;
    /* A server that calls itself by our name is this host: the mail would loop. */
    if (sess->ehlo != NULL && sess->ehlo->domain != NULL &&
        strcasecmp(sess->ehlo->domain, set->myhostname) == 0) {
        smtp_outcome_set(o, DELIVER_BOUNCED, "5.4.6", "mail for %s loops back to myself",
                         ctx->nexthop);
        ret = -1;
        goto fail;
    }

    /* STARTTLS by policy. */
    if (sess->tls == NULL && set->tls_level != SMTP_TLS_NONE && !ctx->no_starttls) {
        bool required = set->tls_level == SMTP_TLS_ENCRYPT;
        bool offered = sess->ehlo != NULL && (sess->ehlo->ext & SMTP_EHLO_STARTTLS);

        if (ctx->tls_ctx == NULL && required) {
            smtp_outcome_set(o, DELIVER_DEFERRED, "4.7.5", "TLS is required, but unavailable");
            ret = -1;
            goto fail;
        }
        if (!offered && required) {
            smtp_outcome_set(o, DELIVER_DEFERRED, "4.7.4",
                             "TLS is required, but was not offered by host %s", sess->namaddr);
            goto fail;
        }
        if (offered && ctx->tls_ctx != NULL) {
            smtp_session_cmd(sess, "STARTTLS");
            if (smtp_session_reply(sess, set, SMTP_STAGE_STARTTLS, &reply, o) < 0)
                goto fail;
            if (reply->code / 100 != 2) {
                if (required) {
                    smtp_outcome_set(o, DELIVER_DEFERRED, "4.7.5",
                                     "TLS is required, but host %s refused to start TLS: %s",
                                     sess->namaddr, buf_str(reply->text));
                    goto fail;
                }
                msg_info("%s: host %s refused to start TLS: %s; continuing without TLS",
                         ctx->queue_id, sess->namaddr, buf_str(reply->text));
            } else {
                if (smtp_session_tls(ctx, sess, o) < 0) {
                    *tls_failed_r = !required;
                    goto fail;
                }
                /* RFC 3207: forget what was learnt before TLS and ask again. */
                if (smtp_session_ehlo(ctx, sess, false, o) == 0)
                    goto fail;
            }
        }
    }

    rc = smtp_session_auth(ctx, sess, o);
    if (rc <= 0) {
        ret = rc;
        goto fail;
    }
    *sess_r = sess;
    return 1;

fail:
    snprintf(o->relay, sizeof(o->relay), "%s", sess->relay);
    smtp_session_quit(&sess, set);
    return ret;
}
