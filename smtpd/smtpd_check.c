/*
 * smtpd_check - the recipient policy at RCPT time: relay control and the
 * local recipient check (Postfix's reject_unauth_destination and
 * local_recipient_maps).
 *
 * A recipient domain is (domain_class.h: the same decision as the
 * resolver's, which routes the mail afterwards)
 *   local   in mydestination, or an address literal of this host
 *           ([192.0.2.1], [IPv6:2001:db8::1]);
 *   relay   in relay_domains (subdomains included, as in Postfix);
 *   remote  anything else.
 * Local and relay recipients are accepted from any client; remote ones
 * only from clients in mynetworks ("554 5.7.1 <addr>: Relay access
 * denied" otherwise). A local recipient must be found in
 * local_recipient_maps when that is not empty ("550 5.1.1 <addr>:
 * Recipient address rejected: User unknown in local recipient table").
 *
 * Security: a local part with '@', '!' or '%' is a request to route mail
 * onwards (user%remote@here, remote!user@here); it is treated as remote
 * for relay control, so it cannot be used to relay through this host.
 * Every table error answers "451 4.3.0 <addr>: Temporary lookup failure",
 * never a rejection.
 */
#include "config.h"

#include <string.h>

#include "lib/mail/domain_class.h"
#include "lib/mail/maps.h"
#include "lib/mail/mynetworks.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/msg.h"
#include "smtpd/smtpd.h"

/* Temporary failure reply for a table error; logs the detail. */
static int smtpd_check_tempfail(struct smtpd_session *ss, const char *addr, const char *why,
                                struct smtp_resp *resp_r)
{
    msg_warn("%s: %s: %s", ss->peer.namaddr, addr, why);
    smtp_resp_set(resp_r, 451, "4.3.0", "<%s>: Temporary lookup failure", addr);
    resp_r->why = "table lookup failed";
    return -1;
}

/* Look one key up in local_recipient_maps: 1, 0, -1. */
static int smtpd_check_key(struct smtpd_session *ss, const char *key, const char **why_r)
{
    const char *value;

    if (msg_verbose)
        msg_debug("local_recipient_maps: lookup %s", key);
    return maps_find(ss->set->local_rcpt_maps, key, &value, why_r);
}

/*
 * Is the local recipient local@domain known? Keys in Postfix's order:
 * user+ext@domain, user@domain, user+ext, user, @domain (lower case).
 * 1, 0, or -1 with *why_r.
 */
static int smtpd_check_local_user(struct smtpd_session *ss, const char *local, const char *domain,
                                  const char **why_r)
{
    const char *delim = ss->set->recipient_delimiter;
    struct argv *keys = argv_create(5);
    struct buf *user = buf_create(64), *dom = buf_create(64), *key = buf_create(128);
    size_t cut = 0;
    int r = 0;

    buf_set(user, local);
    buf_lower(user);
    buf_set(dom, domain);
    buf_lower(dom);
    /* the extension starts at the first delimiter that is not the first character */
    if (*delim != '\0' && buf_len(user) > 1) {
        cut = 1 + strcspn(buf_str(user) + 1, delim);
        if (cut >= buf_len(user))
            cut = 0;
    }
    buf_printf(key, "%s@%s", buf_str(user), buf_str(dom));
    argv_add(keys, buf_str(key));
    if (cut > 0) {
        buf_reset(key);
        buf_printf(key, "%.*s@%s", (int)cut, buf_str(user), buf_str(dom));
        argv_add(keys, buf_str(key));
    }
    argv_add(keys, buf_str(user));
    if (cut > 0)
        argv_addn(keys, buf_str(user), cut);
    buf_reset(key);
    buf_printf(key, "@%s", buf_str(dom));
    argv_add(keys, buf_str(key));
    for (size_t i = 0; i < keys->argc && r == 0; i++)
        r = smtpd_check_key(ss, keys->argv[i], why_r);
    argv_free(&keys);
    buf_free(&user);
    buf_free(&dom);
    buf_free(&key);
    return r;
}

/*
 * The recipient policy for the parsed RCPT path (an address without a
 * domain is in $myorigin). 0 accept, or -1 with the reply in resp_r.
 */
int smtpd_check_rcpt(struct smtpd_session *ss, const struct smtp_path *path,
                     struct smtp_resp *resp_r)
{
    const struct smtpd_settings *set = ss->set;
    const char *domain = path->domain != NULL ? path->domain : set->myorigin;
    const char *shown = path->addr; /* the address as the client wrote it */
    const char *why = NULL;
    int class;

    smtp_resp_clear(resp_r);
    if ((class = domain_class_find(set->domains, domain, &why)) < 0)
        return smtpd_check_tempfail(ss, shown, why, resp_r);
    /* user%elsewhere@here and the like: routing onwards, so relaying */
    if (class != DOMAIN_CLASS_OTHER && strpbrk(path->local, "@!%") != NULL)
        class = DOMAIN_CLASS_OTHER;
    if (class == DOMAIN_CLASS_OTHER) {
        if (ss->trusted < 0)
            ss->trusted = mynetworks_match(set->mynetworks, ss->peer.addr, &why);
        if (ss->trusted < 0)
            return smtpd_check_tempfail(ss, shown, why, resp_r);
        if (ss->trusted == 0) {
            smtp_resp_set(resp_r, 554, "5.7.1", "<%s>: Relay access denied", shown);
            resp_r->why = "relay access denied";
            return -1;
        }
        return 0;
    }
    if (class == DOMAIN_CLASS_LOCAL && set->local_rcpt_maps != NULL) {
        int r = smtpd_check_local_user(ss, path->local, domain, &why);

        if (r < 0)
            return smtpd_check_tempfail(ss, shown, why, resp_r);
        if (r == 0) {
            smtp_resp_set(resp_r, 550, "5.1.1",
                          "<%s>: Recipient address rejected: User unknown in local recipient "
                          "table",
                          shown);
            resp_r->why = "unknown local recipient";
            return -1;
        }
    }
    return 0;
}
