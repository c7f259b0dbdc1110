/*
 * qmgr_flush - the per-site flush of the deferred queue (ETRN, postqueue -s):
 * see qmgr_flush.c.
 */
#ifndef POSTEL_QMGR_QMGR_FLUSH_H
#define POSTEL_QMGR_QMGR_FLUSH_H

#include <stddef.h>

/*
 * Make every deferred message with a pending recipient in domain (len
 * bytes, not terminated) due now. The number of messages made due, or -1
 * when the domain is not valid (logged).
 */
int qmgr_flush_site_request(const char *domain, size_t len);

#endif
