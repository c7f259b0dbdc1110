/*
 * sendmail.h - what the parts of the sendmail command share: the postdrop
 * process a message is written to, and the settings from the command line.
 */
#ifndef POSTEL_TOOLS_SENDMAIL_H
#define POSTEL_TOOLS_SENDMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/util/buf.h"

/* Settings that every mode needs. */
struct sm_settings {
    const char *config_dir; /* -C, POSTEL_CONFIG_DIR or the default */
    const char *user;       /* login name of the real uid, or NULL */
    int verbose;            /* -v count */
};

/* A postdrop process and the pipe to its standard input. */
struct sm_submit {
    pid_t pid;
    int fd;      /* write end, -1 after close */
    bool broken; /* a write failed: postdrop gave up (it said why) */
    unsigned long long written;
};

/*
 * Start $command_directory/postdrop with the maildrop magic written. 0, or
 * -1 with *why_r (the caller exits EX_UNAVAILABLE or EX_OSERR).
 */
int sm_submit_start(const struct sm_settings *set, struct sm_submit *s, const char **why_r);
/* Write bytes to postdrop; -1 when it went away (sm_submit_end says why). */
int sm_submit_write(struct sm_submit *s, const void *data, size_t len);
/*
 * Close the pipe and wait. With complete, the end record is written first;
 * without, postdrop sees a truncated stream and removes its file. Returns
 * postdrop's exit status (sysexits), EX_SOFTWARE when it was killed.
 */
int sm_submit_end(struct sm_submit *s, bool complete);

/* The -bs mode: a local SMTP session on standard input and output. Returns the exit status. */
int sm_smtp_session(const struct sm_settings *set);

/* The largest message accepted, from message_size_limit (0 = no limit). */
unsigned long long sm_size_limit(void);

#endif
