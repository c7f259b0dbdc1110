/*
 * server_priv - what the skeleton shapes (server.c: single_server,
 * event_server.c: event_server) share. Not for daemons: they use server.h.
 */
#ifndef POSTEL_MAIL_SERVER_PRIV_H
#define POSTEL_MAIL_SERVER_PRIV_H

#include <stdbool.h>

#include "lib/mail/master_proto.h"
#include "lib/mail/server.h"
#include "lib/util/argv.h"

/* Everything the command line said. */
struct server_args {
    const char *service;
    const char *type;
    int listen_count;
    bool unpriv;
    bool chroot;
    bool debug;
    struct argv *overrides; /* name=value pairs */
    char **rest;            /* arguments after the options */
};

/* Options, main.cf, logging, pre_init, chroot, privilege drop, post_init. */
void server_init(int argc, char **argv, const struct server_options *opts,
                 struct server_args *args);
/* Install the daemon_timeout watchdog (SIGALRM); arm it with alarm(). */
void server_watchdog_install(void);
/* The status socket is readable: true when master closed it (or it failed). */
bool server_status_closed(int fd);
/* Send a status record; false when master is gone. */
bool server_report(enum master_status status);
/* Leave normally: the daemon's pre_exit hook, then exit 0. */
_Noreturn void server_exit(const struct server_options *opts, const struct server_args *args,
                           const char *why);

#endif
