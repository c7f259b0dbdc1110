/*
 * qmgr_nudge - wake the queue manager through its public socket (see
 * qmgr_nudge.h for the requests).
 *
 * Security notes: the socket is in public/, reachable by local users'
 * tools; the request is a few bytes, qmgr ignores what it does not know and
 * reads at most a bounded amount per connection, so a nudge can make qmgr
 * scan its queue sooner but nothing else.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/mail/qmgr_nudge.h"
#include "lib/util/msg.h"
#include "lib/util/sock.h"

/* Send request bytes to qmgr. */
int qmgr_trigger(const char *queue_dir, const char *requests, const char **why_r)
{
    return sock_trigger_unix(queue_dir, QMGR_SOCKET, requests, strlen(requests),
                             QMGR_NUDGE_TIMEOUT_MS, why_r);
}

/* Tell qmgr that incoming/ has a new file. */
int qmgr_nudge(const char *queue_dir, const char **why_r)
{
    char req[2] = {QMGR_REQ_SCAN_INCOMING, '\0'};

    return qmgr_trigger(queue_dir, req, why_r);
}

/* Nudge qmgr from a daemon in queue_directory; a failure is only logged. */
void qmgr_nudge_or_log(void)
{
    const char *why = NULL;

    errno = 0;
    if (qmgr_nudge(NULL, &why) < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED)
            msg_debug("cannot wake up qmgr: %s", why);
        else
            msg_warn("cannot wake up qmgr: %s", why);
    }
}

/* True when domain may be the subject of a site flush. */
bool qmgr_site_valid(const char *domain, size_t len)
{
    if (len == 0 || len > QMGR_SITE_MAX || domain[0] == '.' || domain[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)domain[i];

        if (c == '.' && domain[i - 1] == '.')
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* Ask qmgr to retry the deferred mail for one domain now. */
int qmgr_flush_site(const char *queue_dir, const char *domain, const char **why_r)
{
    char req[QMGR_SITE_MAX + 3];

    if (!qmgr_site_valid(domain, strlen(domain))) {
        *why_r = "invalid domain name";
        return -1;
    }
    snprintf(req, sizeof(req), "%c%s\n", QMGR_REQ_FLUSH_SITE, domain);
    return qmgr_trigger(queue_dir, req, why_r);
}
