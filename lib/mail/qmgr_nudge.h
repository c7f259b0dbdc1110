/*
 * qmgr_nudge - wake the queue manager: the call every mail producer
 * (smtpd, pickup, postsuper, bounce) makes after it committed a queue file,
 * and that postqueue -f makes to flush the deferred queue.
 *
 * The queue manager is the master.cf service "qmgr", type unix, private n:
 * its socket is $queue_directory/public/qmgr. A request is one or more
 * bytes written on a fresh connection (the connection is then closed):
 *
 *   'I'  QMGR_REQ_SCAN_INCOMING  a new file is in incoming/
 *   'F'  QMGR_REQ_FLUSH          retry every deferred message now (ignore
 *                                back-off; postqueue -f, sendmail -q)
 *   'S'  QMGR_REQ_FLUSH_SITE     followed by a domain name and '\n': retry
 *                                now every deferred message with a pending
 *                                recipient in that domain (exact match,
 *                                ASCII case ignored; ETRN, postqueue -s)
 *   'W'  MASTER_WAKEUP_BYTE      master's periodic wakeup: scan incoming/
 *
 * Unknown bytes are ignored by qmgr. A nudge that fails (qmgr not running,
 * backlog full) is harmless: qmgr scans incoming/ on its own every
 * queue_run_delay and at its wakeup, so the caller logs a warning at most
 * and never fails the mail transaction because of it.
 */
#ifndef POSTEL_MAIL_QMGR_NUDGE_H
#define POSTEL_MAIL_QMGR_NUDGE_H

#include <stdbool.h>
#include <stddef.h>

#define QMGR_SERVICE "qmgr"
#define QMGR_SOCKET "public/qmgr" /* relative to queue_directory */

#define QMGR_REQ_SCAN_INCOMING 'I'
#define QMGR_REQ_FLUSH 'F'
#define QMGR_REQ_FLUSH_SITE 'S'

#define QMGR_SITE_MAX 255 /* bytes in the domain of a site flush */

#define QMGR_NUDGE_TIMEOUT_MS 1000 /* connect and write, each */

/*
 * Send requests (bytes, e.g. "I") to qmgr. queue_dir NULL: the socket path
 * is relative (daemons run in queue_directory). 0, or -1 with *why_r.
 */
int qmgr_trigger(const char *queue_dir, const char *requests, const char **why_r);

/* Tell qmgr that incoming/ has a new file: qmgr_trigger(queue_dir, "I", why_r). */
int qmgr_nudge(const char *queue_dir, const char **why_r);

/*
 * qmgr_nudge() from a daemon that runs in queue_directory, for whom a
 * failure is only worth a log line: a warning, or a debug line when no
 * qmgr is there (ENOENT, ECONNREFUSED).
 */
void qmgr_nudge_or_log(void);

/*
 * True when domain (len bytes) may be the subject of a site flush: 1 to
 * QMGR_SITE_MAX bytes of letters, digits, '-', '_' and '.', no empty
 * label (no leading, trailing or double dot).
 */
bool qmgr_site_valid(const char *domain, size_t len);

/*
 * Ask qmgr to retry the deferred mail for domain now (request 'S'). A
 * domain that fails qmgr_site_valid() is refused here. 0, or -1 with *why_r.
 */
int qmgr_flush_site(const char *queue_dir, const char *domain, const char **why_r);

#endif
