/*
 * pickup.h - what the parts of the pickup daemon share.
 */
#ifndef POSTEL_PICKUP_H
#define POSTEL_PICKUP_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util/buf.h"

/* Settings from main.cf, read once per process. */
struct pickup_settings {
    char *myhostname;
    char *myorigin;
    char *mail_name;
    unsigned long long size_limit; /* message_size_limit; 0 = none */
    size_t header_size_limit;
    int hopcount_limit;
};

extern struct pickup_settings pickup_set;

/* What became of one maildrop file. */
enum pickup_result {
    PICKUP_QUEUED,  /* in incoming/ and removed from maildrop/ */
    PICKUP_CORRUPT, /* moved to corrupt/ (or gone), with a warning */
    PICKUP_RETRY,   /* a temporary problem: left in place for the next scan */
    PICKUP_GONE,    /* vanished before we got to it */
    PICKUP_STUCK,   /* queued, but the maildrop file could not be removed */
};

/* Turn maildrop/<name> into a queue file (pickup_file.c). */
enum pickup_result pickup_file(const char *name);

/* Move maildrop/<name> to corrupt/ under a fresh name, logging reason. */
void pickup_corrupt(const char *name, const char *reason);

/*
 * Append an RFC 5322 phrase for a display name: the text itself when it is
 * atoms separated by single spaces, a quoted string when it is other ASCII,
 * RFC 2047 encoded words (UTF-8, base64) when it has non-ASCII bytes.
 */
void pickup_phrase(struct buf *out, const char *name);

#endif
