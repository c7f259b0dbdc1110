/*
 * event_server - the skeleton shape for event-driven single-process
 * services (qmgr, pickup, anvil): one process, many clients and timers,
 * all driven by one lib/util event loop. Options, configuration, logging
 * and privileges are the same as for single_server (server.c).
 *
 * Accounting towards master: the process reports "busy" when its first
 * client arrives and "idle" when its last one leaves, so that master starts
 * another process only when this one has clients and maxproc allows.
 *
 * Security notes: trigger connections are bounded in size
 * (EVENT_SERVER_TRIGGER_MAX bytes) and time (ipc_timeout), so a local
 * client cannot pin the service by connecting and saying nothing. Accepted
 * sockets are non-blocking: one slow client never stalls the others. The
 * watchdog fires only when one round of callbacks takes daemon_timeout.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/master_proto.h"
#include "lib/mail/server.h"
#include "lib/mail/server_priv.h"
#include "lib/util/event.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

/* One trigger connection that the skeleton reads itself. */
struct event_server_trig {
    int fd;
    size_t bytes;
    unsigned long long timer;
};

static struct event_loop *es_loop;
static const struct server_options *es_opts;
static struct server_args es_args;
static event_server_accept_fn es_accept_fn;
static event_server_trigger_fn es_trigger_fn;
static int es_clients;        /* connected clients (and trigger connections) */
static long long es_use;      /* clients so far */
static long long es_max_use;  /* 0: no limit */
static long long es_max_idle; /* seconds, 0: no limit */
static unsigned long long es_idle_timer;
static bool es_stream; /* inet/unix: accept; else read the listening fd */

/* The event loop of an event server. */
struct event_loop *event_server_loop(void)
{
    return es_loop;
}

/* No client for max_idle seconds. */
static void event_server_idle(void *ctx)
{
    (void)ctx;
    es_idle_timer = 0;
    server_exit(es_opts, &es_args, "idle timeout");
}

/* Count a new client; the first one makes the process busy. */
static void event_server_client_start(void)
{
    es_use++;
    if (es_clients++ == 0) {
        if (es_idle_timer) {
            event_timer_cancel(es_loop, es_idle_timer);
            es_idle_timer = 0;
        }
        if (!server_report(MASTER_STATUS_BUSY))
            server_exit(es_opts, &es_args, "master went away");
    }
}

/* Count a client that left; the last one makes the process idle. */
static void event_server_client_done(void)
{
    if (es_clients <= 0)
        msg_panic("event_server: client count underflow");
    if (--es_clients > 0)
        return;
    if (!es_opts->unlimited && es_max_use > 0 && es_use >= es_max_use)
        server_exit(es_opts, &es_args, "max_use reached");
    if (!server_report(MASTER_STATUS_IDLE))
        server_exit(es_opts, &es_args, "master went away");
    if (!es_opts->unlimited && es_max_idle > 0)
        es_idle_timer = event_timer_add(es_loop, es_max_idle * 1000, event_server_idle, NULL);
}

/* The daemon is done with client fd: unregister and close it. */
void event_server_disconnect(int fd)
{
    event_fd_remove(es_loop, fd);
    close(fd);
    event_server_client_done();
}

/* Close one trigger connection. */
static void event_server_trig_close(struct event_server_trig *t)
{
    if (t->timer)
        event_timer_cancel(es_loop, t->timer);
    event_server_disconnect(t->fd);
    mem_free(t);
}

/* A trigger connection took longer than ipc_timeout. */
static void event_server_trig_timeout(void *ctx)
{
    struct event_server_trig *t = ctx;

    t->timer = 0;
    msg_warn("trigger connection: timeout after ipc_timeout -- closing");
    event_server_trig_close(t);
}

/* Bytes (or the end) on a trigger connection. */
static void event_server_trig_read(int fd, int events, void *ctx)
{
    struct event_server_trig *t = ctx;
    char data[256];
    ssize_t n;

    (void)events;
    n = read(fd, data, sizeof(data));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        event_server_trig_close(t);
        return;
    }
    t->bytes += (size_t)n;
    es_trigger_fn(data, (size_t)n, server_service_name(), es_args.rest);
    if (t->bytes >= EVENT_SERVER_TRIGGER_MAX) {
        msg_warn("trigger connection: more than %d bytes -- closing", EVENT_SERVER_TRIGGER_MAX);
        event_server_trig_close(t);
    }
}

/* Read what is waiting on a FIFO or datagram socket and hand it on. */
static void event_server_read_listener(int fd)
{
    char data[EVENT_SERVER_TRIGGER_MAX];

    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t n = read(fd, data, sizeof(data));

        if (n <= 0)
            return;
        es_use++;
        es_trigger_fn(data, (size_t)n, server_service_name(), es_args.rest);
    }
}

/* A listening descriptor is ready: accept a client (or read a trigger). */
static void event_server_listen_ready(int fd, int events, void *ctx)
{
    int client;

    (void)events;
    (void)ctx;
    if (!es_stream) {
        event_server_read_listener(fd);
        return;
    }
    client = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            msg_warn("accept: %m");
        return;
    }
    event_server_client_start();
    if (es_accept_fn) {
        es_accept_fn(client, server_service_name(), es_args.rest);
    } else {
        struct event_server_trig *t = mem_alloc(sizeof(*t));

        t->fd = client;
        t->timer = event_timer_add(es_loop, config_time("ipc_timeout") * 1000,
                                   event_server_trig_timeout, t);
        event_fd_set(es_loop, client, EVENT_READ, event_server_trig_read, t);
    }
}

/* Master closed the status socket (reload, stop) or died. */
static void event_server_status_ready(int fd, int events, void *ctx)
{
    (void)events;
    (void)ctx;
    if (server_status_closed(fd))
        server_exit(es_opts, &es_args, "master closed the status socket");
}

/* Run an event-driven daemon; never returns. */
void event_server_main(int argc, char **argv, event_server_accept_fn accept_fn,
                       event_server_trigger_fn trigger_fn, const struct server_options *opts)
{
    static const struct server_options no_opts;
    long long daemon_timeout;
    const char *type;

    if ((accept_fn == NULL) == (trigger_fn == NULL))
        msg_panic("event_server_main: exactly one of accept_fn and trigger_fn");
    es_opts = opts ? opts : &no_opts;
    es_accept_fn = accept_fn;
    es_trigger_fn = trigger_fn;
    es_loop = event_loop_create();
    server_init(argc, argv, es_opts, &es_args);

    type = server_service_type();
    es_stream = strcmp(type, "inet") == 0 || strcmp(type, "unix") == 0;
    if (!es_stream &&
        (accept_fn != NULL || (strcmp(type, "fifo") != 0 && strcmp(type, "unix-dgram") != 0)))
        msg_fatal("service %s: type \"%s\" is not supported by this program", server_service_name(),
                  type);
    es_max_use = config_int("max_use");
    es_max_idle = config_time("max_idle");
    daemon_timeout = config_time("daemon_timeout");
    server_watchdog_install();

    event_fd_set(es_loop, MASTER_STATUS_FD, EVENT_READ, event_server_status_ready, NULL);
    for (int i = 0; i < es_args.listen_count; i++)
        event_fd_set(es_loop, MASTER_LISTEN_FD + i, EVENT_READ, event_server_listen_ready, NULL);
    if (!server_report(MASTER_STATUS_IDLE))
        server_exit(es_opts, &es_args, "master went away");
    if (!es_opts->unlimited && es_max_idle > 0)
        es_idle_timer = event_timer_add(es_loop, es_max_idle * 1000, event_server_idle, NULL);

    for (;;) {
        /* Waiting is bounded below daemon_timeout, so only a stuck callback trips it. */
        long long wait_ms = daemon_timeout > 2 ? (daemon_timeout - 1) * 1000 : 1000;

        if (daemon_timeout > 0)
            alarm((unsigned)daemon_timeout);
        if (es_opts->pre_accept)
            es_opts->pre_accept(server_service_name(), es_args.rest);
        if (event_loop_run_once(es_loop, wait_ms) < 0 && errno != EINTR)
            msg_fatal("event loop: %m");
    }
}
