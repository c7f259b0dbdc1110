/*
 * mastercf - master.cf, with Postfix's columns:
 *
 *   service type private unpriv chroot wakeup maxproc command + args
 *
 * type is inet, unix, unix-dgram, fifo or pass. A '-' takes the default
 * (private y, unpriv y, chroot n, wakeup 0, maxproc $default_process_limit).
 * wakeup may end in '?' (only wake a service that is already running).
 * Continuation lines start with white space; '#' starts a comment.
 * "-o name=value" arguments are kept in args for the child to apply.
 */
#ifndef POSTEL_MAIL_MASTERCF_H
#define POSTEL_MAIL_MASTERCF_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util/argv.h"

enum mastercf_type { MASTERCF_INET, MASTERCF_UNIX, MASTERCF_UNIX_DGRAM, MASTERCF_FIFO, MASTERCF_PASS };

struct mastercf_entry {
    char *service;             /* "smtp", "127.0.0.1:2525", "qmgr" */
    enum mastercf_type type;
    bool private_;             /* unix/fifo: private/ (y) or public/ (n) */
    bool unpriv;               /* run as mail_owner (y) or root (n) */
    bool chroot;
    int wakeup;                /* seconds, 0 = never */
    bool wakeup_if_running;    /* wakeup ended in '?' */
    int maxproc;               /* 0 = no limit */
    bool maxproc_default;      /* '-' was given: use default_process_limit */
    struct argv *args;         /* command name then its arguments */
    char *file;                /* for messages */
    int line;
};

struct mastercf {
    struct mastercf_entry *entries;
    size_t count;
};

extern const char *const mastercf_type_names[]; /* "inet", "unix", ... */

/* Parse path. Returns NULL with *why_r = "file, line N: ..." on any error. */
struct mastercf *mastercf_read(const char *path, const char **why_r);
/* Parse text already in memory (tests); name is used in messages. */
struct mastercf *mastercf_parse(const char *text, const char *name, const char **why_r);
void mastercf_free(struct mastercf **mp);

#endif
