/*
 * sasl_client - the client side of SMTP AUTH (RFC 4954) for the PLAIN
 * (RFC 4616) and LOGIN (draft-murchison-sasl-login) mechanisms, as pure
 * code: it picks a mechanism, makes the initial response and answers each
 * challenge, all in base64 as they go on the wire. The caller does the
 * I/O ("AUTH PLAIN <response>", "334 <challenge>", ...).
 *
 * Security: the password is kept only as long as the exchange and is
 * wiped when the client is freed. Mechanisms that send it as it is
 * (PLAIN, LOGIN) are chosen only when the caller allows plaintext
 * mechanisms (smtp_sasl_security_options: noplaintext without TLS).
 * Challenges are bounded and must be valid base64.
 */
#ifndef POSTEL_MAIL_SASL_CLIENT_H
#define POSTEL_MAIL_SASL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util/argv.h"
#include "lib/util/buf.h"

#define SASL_CLIENT_CHALLENGE_MAX 4096 /* bytes of one base64 challenge */
#define SASL_CLIENT_CRED_MAX 1024      /* bytes of a user name or password */

/* Mechanism properties the caller may refuse. */
#define SASL_SEC_NOPLAINTEXT 0x01 /* refuse mechanisms that send the password as it is */
#define SASL_SEC_NOANONYMOUS 0x02 /* refuse anonymous mechanisms */

struct sasl_client;

/*
 * Pick the best mechanism that the server offers (upper-case names), that
 * filter allows (NULL or empty: any) and that refuse (SASL_SEC_*) does not
 * exclude; PLAIN before LOGIN. 1 with *client_r, 0 when none is left
 * (*why_r says why: "no mechanism in common", or "plaintext mechanisms
 * refused"), -1 with *why_r for bad credentials (too long, NUL).
 */
int sasl_client_create(const struct argv *offered, const struct argv *filter, unsigned refuse,
                       const char *user, const char *password, struct sasl_client **client_r,
                       const char **why_r);
/* Wipe the credentials and free. */
void sasl_client_free(struct sasl_client **cp);

/* The chosen mechanism ("PLAIN", "LOGIN"). */
const char *sasl_client_mech(const struct sasl_client *c);

/*
 * The initial response for "AUTH MECH <response>" (RFC 4954), base64, or
 * false when the mechanism has none (LOGIN waits for the first challenge).
 */
bool sasl_client_initial(struct sasl_client *c, struct buf *out);

/*
 * Answer a "334 <challenge>" (challenge is the base64 text after the code).
 * 0 with the base64 response in out (replaced), or -1 with *why_r (bad
 * base64, too long, or more steps than the mechanism has).
 */
int sasl_client_step(struct sasl_client *c, const char *challenge, struct buf *out,
                     const char **why_r);

/* Base64 (RFC 4648), as SMTP AUTH uses it. */
void sasl_base64_encode(struct buf *out, const void *data, size_t len);
/* Decode into out (appended); strict: no white space, padding required. 0 or -1. */
int sasl_base64_decode(struct buf *out, const char *in, size_t len);

#endif
