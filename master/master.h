/*
 * master.h - the pieces of the master process and how they share state.
 *
 *   master.c          main(): options, pid file, daemon mode, event loop,
 *                     reload, shutdown
 *   master_conf.c     master.cf + main.cf -> service list (not yet bound)
 *   master_listen.c   service addresses, binding inet/unix/fifo sockets
 *   master_spawn.c    process table, spawning, reaping, status records,
 *                     throttling
 *   master_wakeup.c   periodic wakeup bytes for unix/fifo services
 *
 * Everything runs from one lib/util event loop (master_events): status
 * sockets and (when a process is needed) listening sockets are fd events,
 * throttling and wakeups are timers, and signals arrive through the loop's
 * self-pipe.
 */
#ifndef POSTEL_MASTER_MASTER_H
#define POSTEL_MASTER_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "lib/mail/master_proto.h"
#include "lib/mail/mastercf.h"
#include "lib/util/argv.h"

/* One address an inet service listens on. */
struct master_addr {
    struct sockaddr_storage sa;
    socklen_t len;
};

/* One master.cf service. */
struct master_serv {
    struct master_serv *next;
    char *name; /* master.cf service field */
    enum mastercf_type type;
    bool private_;
    bool unpriv;
    bool chroot;
    int wakeup; /* seconds, 0 = none */
    bool wakeup_if_running;
    int max_proc;      /* 0 = unlimited */
    char *path;        /* executable */
    struct argv *argv; /* complete argument vector for execve */
    char *where;       /* "master.cf, line N" */

    /* Where it listens. */
    struct master_addr *addrs; /* inet */
    size_t addr_count;
    char *sock_path;  /* unix, unix-dgram, fifo */
    char *listen_key; /* canonical text of the above, to match on reload */
    int listen_fds[MASTER_LISTEN_MAX];
    size_t listen_count; /* open descriptors */

    /* Processes and their status reports. */
    int status_fd;       /* master's end, -1 = none */
    int status_child_fd; /* the children's end */
    unsigned long generation;
    int total_proc;                    /* processes of this generation */
    int avail_proc;                    /* of which starting or idle */
    bool throttled;                    /* a process failed to start: wait */
    bool watching;                     /* listening sockets are in the event loop */
    unsigned long long throttle_timer; /* event timer ids, 0 = none */
    unsigned long long wakeup_timer;
};

/* master_conf.c */
int master_conf_build(const struct mastercf *cf, struct master_serv **list_r, const char **why_r);
void master_serv_free(struct master_serv **sp);
void master_serv_free_list(struct master_serv **listp);

/* master_listen.c */
int master_inet_port(const char *port, int *port_r, const char **why_r);
int master_inet_addrs(const char *service, struct master_addr **addrs_r, size_t *count_r,
                      const char **why_r);
int master_listen_open(struct master_serv *serv, const char **why_r);
void master_listen_close(struct master_serv *serv);
void master_addr_text(const struct master_addr *addr, char *buf, size_t size);

/* master_spawn.c */
extern struct event_loop *master_events;
extern const char *master_config_dir;
int master_status_open(struct master_serv *serv, const char **why_r);
void master_status_close(struct master_serv *serv);
void master_status_drain(struct master_serv *serv);
void master_spawn(struct master_serv *serv);
void master_reap(bool stopping);
bool master_wants_spawn(const struct master_serv *serv);
void master_watch_update(struct master_serv *serv);
void master_watch_off(struct master_serv *serv);
void master_throttle(struct master_serv *serv);
void master_serv_stop(struct master_serv *serv);
size_t master_proc_count(void);
void master_kill_all(int sig);
void master_set_environment(const char *config_dir);

/* master_wakeup.c */
void master_wakeup_schedule(struct master_serv *serv);
void master_wakeup_start(struct master_serv *serv);

#endif
