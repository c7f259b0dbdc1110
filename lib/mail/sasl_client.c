/*
 * sasl_client - SMTP AUTH client mechanisms PLAIN and LOGIN, and the
 * base64 coding they travel in (see sasl_client.h).
 *
 * PLAIN (RFC 4616): one message "authzid NUL authcid NUL passwd" with an
 * empty authzid, sent as the initial response; a server that asks with an
 * empty challenge instead gets the same message then.
 * LOGIN: no initial response; the first challenge ("Username:") gets the
 * user name, the second ("Password:") the password. The challenge text is
 * not interpreted (servers word it differently), only counted.
 *
 * Security notes: credentials are bounded and may not contain NUL (which
 * would shift PLAIN's fields); they are wiped with explicit_bzero when the
 * client is freed. Challenges are bounded and strictly decoded.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "lib/mail/sasl_client.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"

enum sasl_mech { SASL_MECH_PLAIN, SASL_MECH_LOGIN };

struct sasl_client {
    enum sasl_mech mech;
    char *user;
    char *password;
    int step; /* challenges answered */
};

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 encode. */
void sasl_base64_encode(struct buf *out, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        size_t n = len - i;

        if (n > 1)
            v |= (unsigned)p[i + 1] << 8;
        if (n > 2)
            v |= p[i + 2];
        buf_putc(out, b64_alphabet[(v >> 18) & 63]);
        buf_putc(out, b64_alphabet[(v >> 12) & 63]);
        buf_putc(out, n > 1 ? b64_alphabet[(v >> 6) & 63] : '=');
        buf_putc(out, n > 2 ? b64_alphabet[v & 63] : '=');
    }
}

/* Value of a base64 digit, or -1. */
static int b64_value(int c)
{
    const char *p = c ? strchr(b64_alphabet, c) : NULL;

    return p ? (int)(p - b64_alphabet) : -1;
}

/* Strict base64 decode, appended to out. */
int sasl_base64_decode(struct buf *out, const char *in, size_t len)
{
    if (len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        bool last = i + 4 == len;

        for (int k = 0; k < 4; k++) {
            v[k] = b64_value((unsigned char)in[i + k]);
            if (v[k] < 0) {
                /* '=' only at the end: "xx==" or "xxx=" */
                if (!last || in[i + k] != '=' || k < 2 || (k == 2 && in[i + 3] != '='))
                    return -1;
                v[k] = -1;
            }
        }
        buf_putc(out, (v[0] << 2) | (v[1] >> 4));
        if (v[2] >= 0)
            buf_putc(out, ((v[1] & 15) << 4) | (v[2] >> 2));
        if (v[3] >= 0)
            buf_putc(out, ((v[2] & 3) << 6) | v[3]);
    }
    return 0;
}

/* True when name is in the list (any case). */
static bool sasl_in_list(const struct argv *list, const char *name)
{
    for (size_t i = 0; list != NULL && i < list->argc; i++)
        if (strcasecmp(list->argv[i], name) == 0)
            return true;
    return false;
}

/* Pick a mechanism. */
int sasl_client_create(const struct argv *offered, const struct argv *filter, unsigned refuse,
                       const char *user, const char *password, struct sasl_client **client_r,
                       const char **why_r)
{
    static const struct {
        const char *name;
        enum sasl_mech mech;
    } mechs[] = {{"PLAIN", SASL_MECH_PLAIN}, {"LOGIN", SASL_MECH_LOGIN}};
    bool common = false;

    *client_r = NULL;
    if (strlen(user) > SASL_CLIENT_CRED_MAX || strlen(password) > SASL_CLIENT_CRED_MAX) {
        *why_r = "SASL user name or password too long";
        return -1;
    }
    for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
        struct sasl_client *c;

        if (!sasl_in_list(offered, mechs[i].name))
            continue;
        if (filter != NULL && filter->argc > 0 && !sasl_in_list(filter, mechs[i].name))
            continue;
        common = true;
        /* Both mechanisms send the password as it is. */
        if (refuse & SASL_SEC_NOPLAINTEXT)
            continue;
        c = mem_alloc(sizeof(*c));
        c->mech = mechs[i].mech;
        c->user = mem_strdup(user);
        c->password = mem_strdup(password);
        *client_r = c;
        return 1;
    }
    *why_r = common ? "SASL authentication over plaintext refused"
                    : "no SASL mechanism in common with the server";
    return 0;
}

/* Wipe and free. */
void sasl_client_free(struct sasl_client **cp)
{
    struct sasl_client *c = *cp;

    if (c == NULL)
        return;
    explicit_bzero(c->user, strlen(c->user));
    explicit_bzero(c->password, strlen(c->password));
    mem_free(c->user);
    mem_free(c->password);
    mem_free(c);
    *cp = NULL;
}

/* The chosen mechanism. */
const char *sasl_client_mech(const struct sasl_client *c)
{
    return c->mech == SASL_MECH_PLAIN ? "PLAIN" : "LOGIN";
}

/* PLAIN's message, base64, into out (replaced). */
static void sasl_plain(const struct sasl_client *c, struct buf *out)
{
    size_t ul = strlen(c->user), pl = strlen(c->password);
    struct buf *raw = buf_create(ul + pl + 2);

    buf_putc(raw, 0);
    buf_append(raw, c->user, ul);
    buf_putc(raw, 0);
    buf_append(raw, c->password, pl);
    buf_reset(out);
    sasl_base64_encode(out, buf_str(raw), buf_len(raw));
    explicit_bzero(buf_str(raw), buf_len(raw));
    buf_free(&raw);
}

/* The initial response. */
bool sasl_client_initial(struct sasl_client *c, struct buf *out)
{
    buf_reset(out);
    if (c->mech != SASL_MECH_PLAIN)
        return false;
    sasl_plain(c, out);
    c->step = 1;
    return true;
}

/* Answer one challenge. */
int sasl_client_step(struct sasl_client *c, const char *challenge, struct buf *out,
                     const char **why_r)
{
    size_t len = strlen(challenge);
    struct buf *dec;

    if (len > SASL_CLIENT_CHALLENGE_MAX) {
        *why_r = "SASL challenge too long";
        return -1;
    }
    dec = buf_create(len);
    if (sasl_base64_decode(dec, challenge, len) < 0) {
        buf_free(&dec);
        *why_r = "malformed SASL challenge (not base64)";
        return -1;
    }
    buf_free(&dec);
    buf_reset(out);
    switch (c->mech) {
    case SASL_MECH_PLAIN:
        /* Only a server that did not take the initial response asks (empty challenge). */
        if (c->step > 0 && len > 0) {
            *why_r = "unexpected SASL challenge for PLAIN";
            return -1;
        }
        if (c->step > 1) {
            *why_r = "too many SASL challenges for PLAIN";
            return -1;
        }
        sasl_plain(c, out);
        c->step = 2;
        return 0;
    case SASL_MECH_LOGIN:
        if (c->step == 0)
            sasl_base64_encode(out, c->user, strlen(c->user));
        else if (c->step == 1)
            sasl_base64_encode(out, c->password, strlen(c->password));
        else {
            *why_r = "too many SASL challenges for LOGIN";
            return -1;
        }
        c->step++;
        return 0;
    }
    *why_r = "unknown SASL mechanism";
    return -1;
}
