/*
 * server - the daemon skeleton every service process is built on.
 *
 * A daemon's main() fills a struct server_options with its callbacks and
 * calls one of the skeleton shapes; the skeleton does everything else
 * (options, main.cf, logging, chroot, privilege drop, the status reports to
 * master, the accept loop, idle and max_use exits, the watchdog).
 *
 *   single_server_main()  one client at a time per process (smtpd, pop3d,
 *                         imapd, local, smtp): straight-line blocking code;
 *                         master runs up to maxproc of these.
 *
 *   event_server_main()   one process, many clients and timers (qmgr,
 *                         pickup, anvil), driven by lib/util's event loop;
 *                         either the daemon handles each accepted client
 *                         (accept_fn) or the skeleton reads wakeup requests
 *                         and hands their bytes to trigger_fn.
 *
 * Options understood by every daemon (master passes them, see
 * lib/mail/master_proto.h):
 *
 *   -n service   the master.cf service name (logging, messages)
 *   -t type      inet, unix, unix-dgram, fifo
 *   -s count     number of inherited listening descriptors
 *   -u           run as mail_owner (master.cf unpriv = y); only as root
 *   -c           chroot to queue_directory (master.cf chroot = y); only as root
 *   -o name=value   override a main.cf parameter
 *   -v           more logging (repeat for more)
 *   -D           also log to standard error
 *
 * plus the daemon's own letters (server_options.getopt). Arguments after
 * the options are handed to every callback as argv.
 *
 * Order of events: options; main.cf and -o; maillog_file; logging as
 * postel/<program>; pre_init (still root when master is: open tables,
 * keys); chdir or chroot to queue_directory; setgroups, setresgid,
 * setresuid to mail_owner, verified afterwards; post_init; the loop.
 */
#ifndef POSTEL_MAIL_SERVER_H
#define POSTEL_MAIL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event_loop;

/* A daemon's hooks; every member is optional (NULL). */
struct server_options {
    /* The daemon's own getopt letters, e.g. "T:"; must not reuse the skeleton's. */
    const char *getopt;
    /* Called for each of those letters; 0, or -1 with *why_r (fatal usage error). */
    int (*option)(int ch, const char *arg, const char **why_r);
    /* Before chroot and privilege drop (root when master is root). */
    void (*pre_init)(const char *service, char **argv);
    /* After privilege drop, before the first client. */
    void (*post_init)(const char *service, char **argv);
    /* Before waiting for each next client (refresh tables and the like). */
    void (*pre_accept)(const char *service, char **argv);
    /* Before a normal exit (max_use, max_idle, master gone, reload). */
    void (*pre_exit)(const char *service, char **argv);
    /* event_server: ignore max_idle and max_use (a resident service like qmgr). */
    bool unlimited;
};

/*
 * Serve one client on the connected socket fd (blocking). The skeleton
 * closes fd when the function returns; the function may close it earlier
 * only through dup'ed descriptors (e.g. a stream opened on a dup()).
 */
typedef void (*single_server_fn)(int fd, const char *service, char **argv);

/* Run a one-client-at-a-time daemon; never returns. */
_Noreturn void single_server_main(int argc, char **argv, single_server_fn service,
                                  const struct server_options *opts);

/*
 * The event-driven shape. accept_fn gets each new client as a non-blocking
 * socket and registers it with event_server_loop(); when the daemon is done
 * with the client it calls event_server_disconnect(fd), which closes it.
 * The process reports "busy" to master while it has clients, "idle" when
 * it has none; with no clients for max_idle seconds, or after max_use
 * clients, it exits (unless opts->unlimited).
 *
 * With trigger_fn instead (accept_fn NULL), the skeleton itself reads what
 * clients write (wakeup requests from master, postdrop, postqueue; at most
 * EVENT_SERVER_TRIGGER_MAX bytes per connection, for at most ipc_timeout)
 * and calls trigger_fn for each chunk; unix, fifo and unix-dgram services
 * work alike. The daemon's own timers and fds go on event_server_loop().
 */
#define EVENT_SERVER_TRIGGER_MAX 1024

typedef void (*event_server_accept_fn)(int fd, const char *service, char **argv);
typedef void (*event_server_trigger_fn)(const char *data, size_t len, const char *service,
                                        char **argv);

_Noreturn void event_server_main(int argc, char **argv, event_server_accept_fn accept_fn,
                                 event_server_trigger_fn trigger_fn,
                                 const struct server_options *opts);
/* The event loop of an event server (valid from post_init on). */
struct event_loop *event_server_loop(void);
/* The daemon is done with client fd: unregister and close it. */
void event_server_disconnect(int fd);

/* The master.cf service name (-n), or the program name. */
const char *server_service_name(void);
/* The service type (-t): "inet", "unix", ... */
const char *server_service_type(void);
/* True when this process dropped privileges to mail_owner. */
bool server_unprivileged(void);

/*
 * Become uid/gid for good: setgroups (gid only), setresgid, setresuid, each
 * checked, then verify with getresuid/getresgid/getgroups that every id is
 * the target and that setuid(0) fails. 0, or -1 with *why_r.
 */
int server_drop_privileges(uid_t uid, gid_t gid, const char **why_r);

#endif
