/*
 * qmgr_flush - the per-site flush: request 'S' on public/qmgr (smtpd's
 * ETRN, postqueue -s, sendmail -qRsite) asks to retry now the deferred
 * mail for one domain.
 *
 * Each file in deferred/ is read (envelope only); when a recipient that is
 * not done has an address whose domain is the requested one (exact match,
 * ASCII case and a trailing dot ignored, subdomains not included), the
 * file's modification time, which is its retry time, is set to now. The
 * caller then asks for a normal scan of the deferred queue, which takes
 * the files that are due. The recipient slots are not changed: a message
 * that fails again is deferred with its usual back-off.
 *
 * Cost: one pass over deferred/, reading each envelope, in the event loop.
 * Postfix keeps a per-destination index (flush(8)) for this; a very large
 * deferred queue makes a site flush correspondingly slow.
 *
 * Security notes: the domain comes from a local socket that any local user
 * can reach and, through smtpd, from a remote client that passed
 * fast_flush_domains; it is checked against qmgr_site_valid() and bounded
 * (QMGR_SITE_MAX). A flush only moves retry times forward to now.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "lib/mail/qmgr_nudge.h"
#include "lib/mail/queue_file.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/msg.h"
#include "qmgr/qmgr_flush.h"

/* True when address's domain is domain (len bytes; case and a trailing dot ignored). */
static bool qmgr_flush_rcpt_match(const char *address, const char *domain, size_t len)
{
    const char *at = strrchr(address, '@');
    size_t alen;

    if (at == NULL)
        return false;
    at++;
    alen = strlen(at);
    if (alen > 0 && at[alen - 1] == '.')
        alen--;
    return alen == len && strncasecmp(at, domain, len) == 0;
}

/* True when the queue file at path has a pending recipient in domain. */
static bool qmgr_flush_file_match(const char *path, const char *domain, size_t len)
{
    struct queue_file *qf;
    const struct queue_envelope *env;
    const char *why;
    bool found = false;

    if (queue_file_open(path, 0, &qf, &why) < 0) {
        if (errno != ENOENT)
            msg_warn("flush: %s: %s", path, why);
        return false;
    }
    env = queue_file_envelope(qf);
    for (size_t i = 0; !found && i < env->rcpt_count; i++)
        if (!queue_status_done(env->rcpts[i].slot.status) &&
            qmgr_flush_rcpt_match(env->rcpts[i].address, domain, len))
            found = true;
    queue_file_free(&qf);
    return found;
}

/* Make the deferred mail for domain due now; the number of files made due. */
int qmgr_flush_site_request(const char *domain, size_t len)
{
    struct argv *ids;
    struct buf *path;
    const char *why;
    int count = 0;

    if (len > 0 && domain[len - 1] == '.')
        len--;
    if (!qmgr_site_valid(domain, len)) {
        msg_warn("flush: invalid site name \"%.*s\" -- ignored",
                 (int)(len > QMGR_SITE_MAX ? QMGR_SITE_MAX : len), domain);
        return -1;
    }
    ids = argv_create(64);
    path = buf_create(64);
    if (queue_file_list(QUEUE_DIR_DEFERRED, ids, &why) < 0)
        msg_warn("flush: scan %s/: %s", QUEUE_DIR_DEFERRED, why);
    else
        for (size_t i = 0; i < ids->argc; i++) {
            buf_reset(path);
            queue_file_name(path, QUEUE_DIR_DEFERRED, ids->argv[i]);
            if (!qmgr_flush_file_match(buf_str(path), domain, len))
                continue;
            if (utimensat(AT_FDCWD, buf_str(path), NULL, 0) < 0) {
                if (errno != ENOENT)
                    msg_warn("flush: %s: cannot set the retry time: %m", buf_str(path));
                continue;
            }
            count++;
        }
    msg_info("flush: site %.*s: %d deferred message%s to retry now", (int)len, domain, count,
             count == 1 ? "" : "s");
    buf_free(&path);
    argv_free(&ids);
    return count;
}
