/*
 * qmgr - the queue manager: the only scheduler of the mail queue.
 *
 * One process (master.cf: "qmgr unix n - n 300 1 qmgr"), one event loop
 * (lib/mail/server.h event_server_main, trigger mode). It
 *
 *  - scans incoming/ when nudged (public/qmgr, qmgr_nudge.h), at master's
 *    wakeup and every queue_run_delay, and deferred/ every queue_run_delay
 *    for files whose retry time (the file's modification time) has come;
 *  - moves at most qmgr_message_active_limit messages into active/ and
 *    resolves their recipients (lib/mail/resolve.h);
 *  - groups recipients into logical queues per transport and next hop (per
 *    mailbox for local) and starts deliveries over private/<transport>
 *    within the concurrency limits (qmgr_transport.c, qmgr_deliver.c);
 *  - records each outcome in the queue file before it forgets it, sends
 *    notifications (lib/mail/bounce.h), and removes the file or moves it to
 *    deferred/ with back-off (qmgr_message.c).
 *
 * Start-up recovery: files left in active/ by a previous qmgr go back to
 * incoming/ (their recipients that are done stay done: the status is in
 * the file); .tmp files in incoming/ older than daemon_timeout are removed
 * (no live writer can be that old: its watchdog would have ended it).
 *
 * Nudges (bytes on public/qmgr): 'I' or master's 'W' scan incoming/; 'F'
 * (postqueue -f) makes every transport usable again and retries every
 * deferred message now; 'S' domain (ETRN, postqueue -s) retries the
 * deferred messages for that domain now (qmgr_flush.c); other bytes are
 * ignored.
 *
 * Security notes: runs as mail_owner (unpriv in master.cf), in
 * queue_directory. Nudges carry no data beyond the request letters and a
 * site flush's domain (checked by qmgr_flush.c); queue files are validated
 * by queue_file_open(); agents' answers by the strict attr parser.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/master_proto.h"
#include "lib/mail/mastercf.h"
#include "lib/mail/qmgr_nudge.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/resolve.h"
#include "lib/mail/server.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/clock.h"
#include "lib/util/event.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "qmgr/qmgr.h"
#include "qmgr/qmgr_flush.h"

#define QMGR_SCAN_BATCH 100          /* at most this many files activated per event loop round */
#define QMGR_SCAN_SLICE_US 1000      /* and for about this long (at least one file) */
#define QMGR_RESOLVER_RETRY_MS 10000 /* wait before re-opening tables that failed */
#define QMGR_DRAIN_MS 10000          /* at exit: wait this long for deliveries in flight */
#define QMGR_FD_RESERVE 1000         /* descriptors kept for deliveries, nudges, logs, tables */

struct qmgr_settings qmgr_var;

static struct resolver *qmgr_resolver_obj;
static long long qmgr_resolver_failed_ms;
static char qmgr_resolver_why[512];

static bool scan_incoming_wanted, scan_deferred_wanted, scan_deferred_force;
static bool scan_blocked; /* a scan stopped at qmgr_message_active_limit */
static unsigned long long scan_timer, schedule_timer, run_timer;
static bool qmgr_stopping; /* exiting: finish what is in flight, start nothing */

/* The wall clock in microseconds. */
long long qmgr_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- the resolver ---- */

/* The address resolver; tables that failed to open are retried after a while. */
struct resolver *qmgr_resolver(const char **why_r)
{
    const char *why;

    if (qmgr_resolver_obj != NULL)
        return qmgr_resolver_obj;
    if (qmgr_resolver_failed_ms != 0 &&
        clock_now_ms() - qmgr_resolver_failed_ms < QMGR_RESOLVER_RETRY_MS) {
        *why_r = qmgr_resolver_why;
        return NULL;
    }
    qmgr_resolver_obj = resolver_create_from_config(&why);
    if (qmgr_resolver_obj == NULL) {
        snprintf(qmgr_resolver_why, sizeof(qmgr_resolver_why), "%s", why);
        qmgr_resolver_failed_ms = clock_now_ms();
        msg_warn("address resolver: %s", why);
        *why_r = qmgr_resolver_why;
        return NULL;
    }
    qmgr_resolver_failed_ms = 0;
    return qmgr_resolver_obj;
}

/* Re-open tables that postmap replaced since the last scan. */
static void qmgr_resolver_refresh(void)
{
    const char *why;

    if (qmgr_resolver_obj != NULL && resolver_refresh(qmgr_resolver_obj, &why) < 0)
        msg_warn("address resolver: %s", why);
}

/* ---- scheduling and scanning from the event loop ---- */

/* The scheduling pass. */
static void qmgr_schedule_run(void *ctx)
{
    (void)ctx;
    schedule_timer = 0;
    if (!qmgr_stopping)
        qmgr_schedule();
}

/* Ask for a scheduling pass soon. */
void qmgr_schedule_soon(void)
{
    if (schedule_timer == 0)
        schedule_timer = event_timer_add(event_server_loop(), 0, qmgr_schedule_run, NULL);
}

/*
 * A scan of one directory in progress: its listing, taken once, is worked
 * off over many event loop rounds (listing incoming/ again for each small
 * batch would cost a directory read per batch).
 */
struct qmgr_scan {
    const char *dir;
    struct argv *ids; /* NULL: no scan in progress */
    size_t next;      /* the next ID to look at */
};

static struct qmgr_scan scan_incoming = {QUEUE_DIR_INCOMING, NULL, 0};
static struct qmgr_scan scan_deferred = {QUEUE_DIR_DEFERRED, NULL, 0};

/* Forget a scan's listing. */
static void qmgr_scan_reset(struct qmgr_scan *sc)
{
    argv_free(&sc->ids);
    sc->next = 0;
}

/*
 * Move due files of the scan's directory into active/ and take them into
 * memory, spending at most *budget activations and stopping at deadline
 * (qmgr_now_us(); checked after the first file, so each call makes
 * progress). True when the listing is worked off (or the active queue
 * is full), false when the budget or the time ran out first.
 *
 * incoming/ to active/ is an unsynchronized rename (QUEUE_MOVE_NOSYNC):
 * the file is already durable in incoming/, and after a crash it is in
 * one of the two directories, both of which are taken at the next start
 * (qmgr_recover_active). Two directory fsyncs per message would stall the
 * event loop, and with it every delivery, while mail arrives.
 */
static bool qmgr_scan_dir(struct qmgr_scan *sc, bool deferred, bool force, int *budget,
                          long long deadline)
{
    struct buf *path = buf_create(64);
    time_t now = time(NULL);
    const char *why;
    bool done = true;

    if (sc->ids == NULL) {
        sc->ids = argv_create(64);
        sc->next = 0;
        if (queue_file_list(sc->dir, sc->ids, &why) < 0) {
            msg_warn("scan %s/: %s", sc->dir, why);
            sc->ids->argc = 0;
        }
    }
    for (size_t first = sc->next; sc->next < sc->ids->argc;) {
        const char *id = sc->ids->argv[sc->next];

        if (qmgr_message_count() >= (size_t)qmgr_var.active_limit) {
            scan_blocked = true;
            break;
        }
        if (*budget <= 0 || (sc->next > first && qmgr_now_us() >= deadline)) {
            done = false;
            break;
        }
        sc->next++;
        if (deferred && !force) {
            struct stat st;

            buf_reset(path);
            queue_file_name(path, sc->dir, id);
            if (stat(buf_str(path), &st) < 0 || st.st_mtime > now)
                continue;
        }
        if (queue_file_move_flags(sc->dir, QUEUE_DIR_ACTIVE, id,
                                  deferred ? 0 : QUEUE_MOVE_NOSYNC, &why) < 0) {
            if (errno != ENOENT)
                msg_warn("%s: cannot move from %s/ to %s/: %s", id, sc->dir, QUEUE_DIR_ACTIVE,
                         why);
            continue;
        }
        (*budget)--;
        qmgr_message_activate(id);
    }
    if (done && !scan_blocked)
        qmgr_scan_reset(sc);
    buf_free(&path);
    return done;
}

static void qmgr_scan_arm(void);

/*
 * One round of scanning: incoming first, then due deferred files. A round
 * is short (QMGR_SCAN_BATCH files, QMGR_SCAN_SLICE_US) so that results
 * from the delivery agents, and new deliveries, are served between rounds
 * while mail keeps arriving.
 */
static void qmgr_scan_run(void *ctx)
{
    /* With deliveries in flight, one file per round: their results come first. */
    int budget = qmgr_deliver_count() > 0 ? 1 : QMGR_SCAN_BATCH;
    long long deadline = qmgr_now_us() + QMGR_SCAN_SLICE_US;

    (void)ctx;
    scan_timer = 0;
    if (qmgr_stopping)
        return;
    scan_blocked = false;
    if (scan_incoming.ids == NULL && scan_deferred.ids == NULL)
        qmgr_resolver_refresh();
    if (scan_incoming_wanted || scan_incoming.ids != NULL) {
        /* A nudge that arrives from here on asks for another listing. */
        if (scan_incoming.ids == NULL)
            scan_incoming_wanted = false;
        qmgr_scan_dir(&scan_incoming, false, false, &budget, deadline);
    }
    if ((scan_deferred_wanted || scan_deferred.ids != NULL) && scan_incoming.ids == NULL &&
        !scan_blocked) {
        if (scan_deferred.ids == NULL)
            scan_deferred_wanted = false;
        if (qmgr_scan_dir(&scan_deferred, true, scan_deferred_force, &budget, deadline) &&
            !scan_blocked && !scan_deferred_wanted)
            scan_deferred_force = false;
    }
    if (scan_blocked) {
        /* qmgr_message_finish() calls qmgr_room_freed() when room frees up. */
        scan_incoming_wanted = true;
        return;
    }
    if (scan_incoming_wanted || scan_deferred_wanted || scan_incoming.ids != NULL ||
        scan_deferred.ids != NULL)
        qmgr_scan_arm();
}

/* Run a scan round from the event loop. */
static void qmgr_scan_arm(void)
{
    if (scan_timer == 0)
        scan_timer = event_timer_add(event_server_loop(), 0, qmgr_scan_run, NULL);
}

/* Ask for a scan of incoming/ soon. */
void qmgr_scan_incoming_soon(void)
{
    scan_incoming_wanted = true;
    if (qmgr_message_count() < (size_t)qmgr_var.active_limit)
        qmgr_scan_arm();
}

/* A message left the active queue: resume a scan that stopped at the limit. */
void qmgr_room_freed(void)
{
    if (scan_blocked || scan_incoming_wanted)
        qmgr_scan_incoming_soon();
}

/* Every queue_run_delay: the deferred queue, incoming/ too (a nudge may have been lost). */
static void qmgr_queue_run(void *ctx)
{
    const char *why;
    int n;

    (void)ctx;
    run_timer =
        event_timer_add(event_server_loop(), qmgr_var.queue_run_delay * 1000, qmgr_queue_run, NULL);
    n = queue_file_clean_tmp(QUEUE_DIR_INCOMING, (time_t)qmgr_var.tmp_max_age, &why);
    if (n < 0)
        msg_warn("clean %s/: %s", QUEUE_DIR_INCOMING, why);
    else if (n > 0)
        msg_info("removed %d stale temporary file(s) from %s/", n, QUEUE_DIR_INCOMING);
    scan_deferred_wanted = true;
    qmgr_scan_incoming_soon();
    qmgr_scan_arm();
}

/* A nudge: the request letters. */
static void qmgr_nudged(const char *data, size_t len, const char *service, char **argv)
{
    (void)service;
    (void)argv;
    for (size_t i = 0; i < len; i++) {
        switch (data[i]) {
        case QMGR_REQ_SCAN_INCOMING:
        case 'W': /* MASTER_WAKEUP_BYTE */
            qmgr_scan_incoming_soon();
            break;
        case QMGR_REQ_FLUSH:
            msg_info("flush: retrying the deferred queue now");
            qmgr_transport_revive_all();
            scan_deferred_wanted = true;
            scan_deferred_force = true;
            qmgr_scan_arm();
            qmgr_schedule_soon();
            break;
        case QMGR_REQ_FLUSH_SITE: { /* 'S' domain '\n' (qmgr_flush.c) */
            const char *end = memchr(data + i + 1, '\n', len - i - 1);
            size_t dlen = end ? (size_t)(end - data - i - 1) : len - i - 1;

            if (qmgr_flush_site_request(data + i + 1, dlen) > 0) {
                qmgr_transport_revive_all();
                scan_deferred_wanted = true;
                qmgr_scan_arm();
                qmgr_schedule_soon();
            }
            i += dlen + (end != NULL);
            break;
        }
        default:
            break;
        }
    }
}

/* ---- start-up ---- */

/* Read the settings from main.cf. */
static void qmgr_read_settings(void)
{
    const char *lt = config_str("local_transport");
    const char *colon = strchr(lt, ':');

    qmgr_var.active_limit = (int)config_int("qmgr_message_active_limit");
    qmgr_var.dest_limit = (int)config_int("default_destination_concurrency_limit");
    qmgr_var.local_dest_limit = (int)config_int("local_destination_concurrency_limit");
    qmgr_var.initial_dest = (int)config_int("initial_destination_concurrency");
    qmgr_var.rcpt_limit = (int)config_int("default_destination_recipient_limit");
    qmgr_var.local_rcpt_limit = (int)config_int("local_destination_recipient_limit");
    qmgr_var.process_limit = (int)config_int("default_process_limit");
    qmgr_var.min_backoff = config_time("minimal_backoff_time");
    qmgr_var.max_backoff = config_time("maximal_backoff_time");
    if (qmgr_var.max_backoff < qmgr_var.min_backoff)
        qmgr_var.max_backoff = qmgr_var.min_backoff;
    qmgr_var.queue_run_delay = config_time("queue_run_delay");
    qmgr_var.max_lifetime = config_time("maximal_queue_lifetime");
    qmgr_var.bounce_lifetime = config_time("bounce_queue_lifetime");
    if (qmgr_var.bounce_lifetime > qmgr_var.max_lifetime)
        qmgr_var.bounce_lifetime = qmgr_var.max_lifetime;
    qmgr_var.delay_warning = config_time("delay_warning_time");
    qmgr_var.transport_retry = config_time("transport_retry_time");
    qmgr_var.agent_timeout = (config_time("daemon_timeout") + 60) * 1000;
    qmgr_var.tmp_max_age = config_time("daemon_timeout");
    qmgr_var.local_transport = colon ? mem_strndup(lt, (size_t)(colon - lt)) : mem_strdup(lt);
}

/* The maxproc of each unix service in master.cf: the total limit of that transport. */
static void qmgr_read_master_cf(void)
{
    struct buf *path = buf_create(128);
    const char *why;
    struct mastercf *cf;

    buf_printf(path, "%s/master.cf", config_str("config_directory"));
    cf = mastercf_read(buf_str(path), &why);
    if (cf == NULL) {
        msg_warn("%s; every transport gets default_process_limit (%d)", why,
                 qmgr_var.process_limit);
        buf_free(&path);
        return;
    }
    qmgr_maxproc_names = argv_create(cf->count);
    qmgr_maxproc_values = mem_alloc_array(cf->count ? cf->count : 1, sizeof(int));
    for (size_t i = 0; i < cf->count; i++) {
        const struct mastercf_entry *e = &cf->entries[i];

        if (e->type != MASTERCF_UNIX)
            continue;
        qmgr_maxproc_values[qmgr_maxproc_names->argc] =
            e->maxproc_default ? qmgr_var.process_limit : e->maxproc;
        argv_add(qmgr_maxproc_names, e->service);
    }
    mastercf_free(&cf);
    buf_free(&path);
}

/* Before the privilege drop: settings and master.cf (readable by root only, maybe). */
static void qmgr_pre_init(const char *service, char **argv)
{
    (void)service;
    (void)argv;
    qmgr_read_settings();
    qmgr_read_master_cf();
}

/* Put files that a previous qmgr left in active/ back into incoming/. */
static void qmgr_recover_active(void)
{
    struct argv *ids = argv_create(16);
    const char *why;
    int moved = 0;

    if (queue_file_list(QUEUE_DIR_ACTIVE, ids, &why) < 0)
        msg_warn("scan %s/: %s", QUEUE_DIR_ACTIVE, why);
    for (size_t i = 0; i < ids->argc; i++) {
        if (queue_file_move(QUEUE_DIR_ACTIVE, QUEUE_DIR_INCOMING, ids->argv[i], &why) < 0)
            msg_warn("%s: cannot move from %s/ back to %s/: %s", ids->argv[i], QUEUE_DIR_ACTIVE,
                     QUEUE_DIR_INCOMING, why);
        else
            moved++;
    }
    if (moved > 0)
        msg_info("re-queued %d message(s) left in %s/", moved, QUEUE_DIR_ACTIVE);
    argv_free(&ids);
}

/*
 * Each active message keeps its queue file open: raise the soft limit on
 * open files to the hard limit, and keep qmgr_message_active_limit below
 * what the limit allows (with room for deliveries and nudges).
 */
static void qmgr_fit_open_files(void)
{
    struct rlimit rl;
    long long room;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return;
    /* Keep a quarter of the descriptors, at most QMGR_FD_RESERVE, for everything else. */
    room = (long long)rl.rlim_cur;
    room -= room / 4 < QMGR_FD_RESERVE ? room / 4 : QMGR_FD_RESERVE;
    if (room < 10)
        room = 10;
    if (qmgr_var.active_limit > room) {
        /* The default quietly adapts to the host; an explicit setting is worth a word. */
        if (config_is_set("qmgr_message_active_limit"))
            msg_warn("qmgr_message_active_limit = %d needs more open files than the limit of"
                     " %llu allows; using %lld",
                     qmgr_var.active_limit, (unsigned long long)rl.rlim_cur, room);
        qmgr_var.active_limit = (int)room;
    }
}

/* After the privilege drop, in queue_directory: recover, then start the first queue run. */
static void qmgr_post_init(const char *service, char **argv)
{
    const char *why;

    (void)service;
    (void)argv;
    qmgr_fit_open_files();
    qmgr_recover_active();
    if (qmgr_resolver(&why) == NULL)
        msg_warn("recipients will be deferred until the tables can be opened");
    qmgr_queue_run(NULL);
}

/*
 * Before a normal exit (master reloads or went away): stop starting
 * deliveries and give those in flight up to QMGR_DRAIN_MS to report, so
 * that their results are recorded rather than repeated by the next qmgr.
 * Files still in active/ are re-queued at the next start.
 */
static void qmgr_pre_exit(const char *service, char **argv)
{
    struct event_loop *loop = event_server_loop();
    long long deadline = clock_now_ms() + QMGR_DRAIN_MS;

    (void)service;
    (void)argv;
    if (qmgr_stopping)
        return;
    qmgr_stopping = true;
    if (loop != NULL && qmgr_deliver_count() > 0) {
        /* No more status events or nudges (qmgr has one listener): they would call us again. */
        if (event_fd_registered(loop, MASTER_STATUS_FD))
            event_fd_remove(loop, MASTER_STATUS_FD);
        if (event_fd_registered(loop, MASTER_LISTEN_FD))
            event_fd_remove(loop, MASTER_LISTEN_FD);
        msg_info("waiting for %zu deliveries in progress", qmgr_deliver_count());
        alarm((unsigned)(QMGR_DRAIN_MS / 1000 + 10));
        while (qmgr_deliver_count() > 0 && clock_remaining_ms(deadline) > 0)
            if (event_loop_run_once(loop, clock_remaining_ms(deadline)) < 0 && errno != EINTR)
                break;
        /* Messages whose last result came in: finish them now. */
        event_loop_run_once(loop, 0);
        if (qmgr_deliver_count() > 0)
            msg_warn("exiting with %zu deliveries in progress; their recipients may be"
                     " delivered again",
                     qmgr_deliver_count());
    }
    qmgr_scan_reset(&scan_incoming);
    qmgr_scan_reset(&scan_deferred);
    if (qmgr_deliver_count() == 0) {
        qmgr_message_free_all();
        qmgr_transport_free_all();
    }
    resolver_free(&qmgr_resolver_obj);
}

int main(int argc, char **argv)
{
    static const struct server_options opts = {
        .pre_init = qmgr_pre_init,
        .post_init = qmgr_post_init,
        .pre_exit = qmgr_pre_exit,
        .unlimited = true,
    };

    event_server_main(argc, argv, NULL, qmgr_nudged, &opts);
}
