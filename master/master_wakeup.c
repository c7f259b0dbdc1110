/*
 * master_wakeup - the master.cf wakeup column: every N seconds master
 * writes MASTER_WAKEUP_BYTE to a unix or fifo service (pickup scans
 * maildrop/, qmgr scans the queue). The connection itself makes master
 * start a process when none is running; "N?" wakes only a service that
 * already has a process.
 *
 * Nothing here may block master: the connect and write are non-blocking
 * and a full listen queue or FIFO simply skips one wakeup.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/util/event.h"
#include "lib/util/msg.h"
#include "master/master.h"

/* Write one wakeup byte to a unix socket service. */
static void master_wakeup_unix(const struct master_serv *serv)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char byte = MASTER_WAKEUP_BYTE;
    int fd;

    if (strlen(serv->sock_path) >= sizeof(sun.sun_path))
        return;
    strcpy(sun.sun_path, serv->sock_path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
        msg_warn("wakeup %s: socket: %m", serv->name);
        return;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        if (errno != EAGAIN)
            msg_warn("wakeup %s: connect %s: %m", serv->name, serv->sock_path);
    } else if (send(fd, &byte, 1, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
        msg_warn("wakeup %s: write: %m", serv->name);
    }
    close(fd);
}

/* Write one wakeup byte to a FIFO service. */
static void master_wakeup_fifo(const struct master_serv *serv)
{
    char byte = MASTER_WAKEUP_BYTE;
    int fd;

    if ((fd = open(serv->sock_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        msg_warn("wakeup %s: open %s: %m", serv->name, serv->sock_path);
        return;
    }
    if (write(fd, &byte, 1) < 0 && errno != EAGAIN)
        msg_warn("wakeup %s: write: %m", serv->name);
    close(fd);
}

/* The wakeup timer of serv expired: wake it (if due) and re-arm. */
static void master_wakeup_event(void *ctx)
{
    struct master_serv *serv = ctx;

    serv->wakeup_timer = 0;
    master_wakeup_schedule(serv);
    if (serv->listen_count == 0 || serv->throttled)
        return;
    if (serv->wakeup_if_running && serv->total_proc == 0)
        return;
    msg_debug("wakeup %s", serv->name);
    if (serv->type == MASTERCF_FIFO)
        master_wakeup_fifo(serv);
    else
        master_wakeup_unix(serv);
}

/* Arm serv's wakeup timer, if it has a wakeup time. */
static void master_wakeup_arm(struct master_serv *serv, long long delay_ms)
{
    if (serv->wakeup > 0 && serv->sock_path && serv->type != MASTERCF_UNIX_DGRAM &&
        serv->wakeup_timer == 0)
        serv->wakeup_timer = event_timer_add(master_events, delay_ms, master_wakeup_event, serv);
}

/* Wake serv after its wakeup time. */
void master_wakeup_schedule(struct master_serv *serv)
{
    master_wakeup_arm(serv, (long long)serv->wakeup * 1000);
}

/*
 * Wake serv at once, then every wakeup time: at start, after reload, and
 * when its process died abnormally, so that pickup takes mail dropped while
 * the system was down and a killed qmgr comes back without waiting for the
 * next period (a crash loop is held back by service_throttle_time).
 */
void master_wakeup_start(struct master_serv *serv)
{
    if (serv->wakeup_timer != 0) {
        event_timer_cancel(master_events, serv->wakeup_timer);
        serv->wakeup_timer = 0;
    }
    master_wakeup_arm(serv, 0);
}
