/*
 * master_proto - the contract between master and the service processes it
 * spawns. Both sides include this header; nothing else about the other side
 * may be assumed.
 *
 * Command line. master runs
 *
 *   $daemon_directory/<command> -n <service> -t <type> [-s <count>] [-u] [-c]
 *                                [master.cf arguments...]
 *
 * (a command that contains '/' is run as is). -n is the master.cf service
 * field, -t its type (inet, unix, unix-dgram, fifo), -s the number of
 * listening descriptors (default 1), -u "run as mail_owner" (master.cf
 * unpriv = y), -c "chroot to queue_directory" (master.cf chroot = y). The
 * master.cf arguments follow unchanged (-o name=value, -v, the daemon's own
 * options). When master itself does not run as root, -u and -c are still
 * passed and the child ignores them (it cannot change users).
 *
 * Environment. Only POSTEL_CONFIG_DIR (the configuration directory master
 * uses), POSTEL_GENERATION (see below, decimal) and what import_environment
 * names; nothing else of master's environment is passed on.
 *
 * Descriptors. A child starts with exactly these open:
 *
 *   0, 1                /dev/null
 *   2                   master's standard error (/dev/null unless master
 *                       runs in the foreground; crash reports end up there)
 *   MASTER_STATUS_FD    the status socket (below)
 *   MASTER_LISTEN_FD .. MASTER_LISTEN_FD + count - 1
 *                       the service's listening sockets (inet: one per
 *                       address of inet_interfaces and inet_protocols;
 *                       unix: one; fifo: the FIFO opened read-write). All
 *                       are non-blocking: children of one service poll
 *                       them together and a lost accept() race returns
 *                       EAGAIN.
 *
 * Status socket. One AF_UNIX SOCK_SEQPACKET socket pair per service and
 * generation: master keeps one end, every child of that generation
 * inherits the other. Each status record is one packet of text:
 *
 *   "<version> <pid> <generation> <status>"      e.g. "1 4711 3 idle"
 *
 * version is MASTER_PROTO_VERSION, status "idle" (ready to accept; the
 * first idle record also says that initialisation succeeded) or "busy"
 * (serving a client). Anything else is rejected by master_status_parse().
 *
 * Reload and shutdown. On SIGHUP master starts a new generation of every
 * service: it closes its end of the old status socket. A child sees end of
 * file on MASTER_STATUS_FD (it polls it while idle), finishes its current
 * client and exits. The same happens when master dies. On shutdown master
 * sends SIGTERM, then SIGKILL after MASTER_KILL_DELAY seconds.
 *
 * Exit status. 0 for a normal exit (max_use, max_idle, master gone). A child
 * that exits before its first idle record has failed to start: master logs
 * it and throttles the service for service_throttle_time.
 * MASTER_EXIT_WATCHDOG means the daemon_timeout watchdog fired.
 *
 * Wakeup. For a unix or fifo service with a master.cf wakeup time master
 * connects (or opens the FIFO) every so often and writes MASTER_WAKEUP_BYTE.
 */
#ifndef POSTEL_MAIL_MASTER_PROTO_H
#define POSTEL_MAIL_MASTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MASTER_PROTO_VERSION 1

#define MASTER_STATUS_FD 3
#define MASTER_LISTEN_FD 4
#define MASTER_LISTEN_MAX 64 /* listening descriptors per service */

#define MASTER_ENV_CONFIG_DIR "POSTEL_CONFIG_DIR"
#define MASTER_ENV_GENERATION "POSTEL_GENERATION"

#define MASTER_EXIT_WATCHDOG 75
#define MASTER_KILL_DELAY 5 /* seconds between SIGTERM and SIGKILL */
#define MASTER_WAKEUP_BYTE 'W'

#define MASTER_STATUS_MAX 64 /* bytes in one status record, more is malformed */

enum master_status {
    MASTER_STATUS_IDLE, /* ready for a client */
    MASTER_STATUS_BUSY, /* serving a client */
};

struct master_status_rec {
    pid_t pid;
    unsigned long generation;
    enum master_status status;
};

/* Format one status record into buf (size >= MASTER_STATUS_MAX); returns its length. */
size_t master_status_format(char *buf, size_t size, const struct master_status_rec *rec);

/* Parse one record of len bytes; 0, or -1 with *why_r on anything malformed. */
int master_status_parse(const char *data, size_t len, struct master_status_rec *rec_r,
                        const char **why_r);

/* Child side: send one record on MASTER_STATUS_FD; 0, or -1 with *why_r (master gone). */
int master_status_send(pid_t pid, unsigned long generation, enum master_status status,
                       const char **why_r);

/* "idle" or "busy". */
const char *master_status_name(enum master_status status);

#endif
