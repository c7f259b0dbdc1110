/*
 * qmgr - the queue manager's internal interfaces (one process, one event
 * loop; see qmgr.c for the overview and qmgr(8) for the behaviour).
 *
 * Objects:
 *
 *   message    a queue file in active/, open read-write and locked, with
 *              the recipients that still need a delivery in this round
 *   rcpt       one recipient of a message in this round: waits in one
 *              logical queue, then is in flight in one delivery
 *   transport  a master.cf service that delivers (local, smtp, relay, ...),
 *              with its total concurrency and its dead/alive state
 *   queue      a logical queue of a transport: one per next hop (one per
 *              mailbox for the local transport), with its concurrency
 *   delivery   one connection to private/<transport>: one request (one
 *              message, recipients of one queue), its results
 *
 * Life of a message: qmgr_scan_*() moves the file to active/ and calls
 * qmgr_message_activate(); each pending recipient is resolved and queued;
 * qmgr_schedule() starts deliveries within the limits; each result is
 * written into the queue file at once (qmgr_message_rcpt_done/defer);
 * when no recipient is left in this round, qmgr_message_finish() queues
 * notifications, then removes the file (all done) or moves it to
 * deferred/ with its next retry time.
 */
#ifndef POSTEL_QMGR_QMGR_H
#define POSTEL_QMGR_QMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/mail/deliver.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/queue_id.h"
#include "lib/mail/resolve.h"
#include "lib/util/buf.h"

/* ---- intrusive doubly linked lists ---- */

struct qmgr_list {
    struct qmgr_list *prev, *next;
};

#define QMGR_ENTRY(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void qmgr_list_init(struct qmgr_list *head)
{
    head->prev = head->next = head;
}

static inline bool qmgr_list_empty(const struct qmgr_list *head)
{
    return head->next == head;
}

static inline void qmgr_list_append(struct qmgr_list *head, struct qmgr_list *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static inline void qmgr_list_remove(struct qmgr_list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

/* True when node is linked into some list (nodes start self-linked). */
static inline bool qmgr_list_linked(const struct qmgr_list *node)
{
    return node->next != node;
}

/* ---- settings (main.cf, read at start) ---- */

struct qmgr_settings {
    int active_limit;      /* qmgr_message_active_limit */
    int dest_limit;        /* default_destination_concurrency_limit */
    int local_dest_limit;  /* local_destination_concurrency_limit */
    int initial_dest;      /* initial_destination_concurrency */
    int rcpt_limit;        /* default_destination_recipient_limit */
    int local_rcpt_limit;  /* local_destination_recipient_limit */
    int process_limit;     /* default_process_limit */
    long long min_backoff; /* seconds */
    long long max_backoff;
    long long queue_run_delay;
    long long max_lifetime;
    long long bounce_lifetime;
    long long delay_warning; /* 0 = off */
    long long transport_retry;
    long long agent_timeout; /* ms without progress on a delivery connection */
    long long tmp_max_age;   /* seconds: older .tmp files in incoming/ are removed */
    char *local_transport;   /* the service name of local_transport */
};

extern struct qmgr_settings qmgr_var;

/* ---- messages and recipients ---- */

enum qmgr_rcpt_state {
    QMGR_RCPT_TODO, /* waiting in a queue */
    QMGR_RCPT_BUSY, /* in a delivery */
    QMGR_RCPT_DONE, /* outcome of this round known */
};

struct qmgr_queue;
struct qmgr_message;

struct qmgr_rcpt {
    struct qmgr_list link; /* in queue->todo */
    struct qmgr_message *msg;
    size_t index;  /* in the queue file */
    char *address; /* after rewriting */
    struct qmgr_queue *queue;
    enum qmgr_rcpt_state state;
    int action; /* enum bounce_action of a success (delivered, relayed, expanded) */
};

struct qmgr_message {
    struct qmgr_list link; /* in the list of active messages */
    char id[QUEUE_ID_SIZE];
    struct queue_file *qf;
    char *sender;         /* after rewriting */
    long long arrival_us; /* from the envelope */
    long long active_us;  /* when it entered active/ */
    bool expired;         /* temporary failures now bounce */
    bool rewritten;       /* the file's addresses are final (attribute "rewritten") */
    size_t outstanding;   /* recipients TODO or BUSY */
    struct qmgr_rcpt *rcpts;
    size_t rcpt_count;
    bool finishing; /* qmgr_message_finish() is running or scheduled */
    bool unsynced;  /* a status was written without fdatasync (see qmgr_rcpt_final) */
};

/* Attribute that marks a file whose addresses are already rewritten and expanded. */
#define QMGR_ATTR_REWRITTEN "rewritten"

/* ---- transports and logical queues ---- */

#define QMGR_QUEUE_BUCKETS 1024

struct qmgr_transport {
    struct qmgr_list link; /* in the list of transports */
    char *name;
    int dest_limit;          /* deliveries per queue */
    int rcpt_limit;          /* recipients per request */
    int total_limit;         /* deliveries of this transport */
    int busy;                /* deliveries in flight */
    long long dead_until_ms; /* 0: usable */
    char *dead_reason;
    struct qmgr_list queues; /* every queue of this transport */
    struct qmgr_list ready;  /* queues with waiting recipients, round-robin order */
    struct qmgr_queue *buckets[QMGR_QUEUE_BUCKETS];
    unsigned long long retry_timer;
};

struct qmgr_queue {
    struct qmgr_list link;       /* in transport->queues */
    struct qmgr_list ready_link; /* in transport->ready while todo is not empty */
    struct qmgr_queue *hnext;
    struct qmgr_transport *transport;
    char *nexthop;
    int busy;              /* deliveries in flight */
    int window;            /* deliveries allowed in parallel now (slow start, qmgr_window.h) */
    struct qmgr_list todo; /* recipients waiting */
    size_t todo_count;
    char *dead_reason; /* the next hop failed: recipients are deferred until dead_timer */
    unsigned long long dead_timer;
};

/* ---- qmgr.c ---- */

/* The wall clock in microseconds. */
long long qmgr_now_us(void);
/* Ask for a scan of incoming/ soon (after bounces, or when room frees up). */
void qmgr_scan_incoming_soon(void);
/* Ask for a scheduling pass soon. */
void qmgr_schedule_soon(void);
/* A message left the active queue: resume a scan that stopped at the limit. */
void qmgr_room_freed(void);
/* The address resolver, (re)created when needed; NULL with *why_r when tables fail. */
struct resolver *qmgr_resolver(const char **why_r);

/* ---- qmgr_message.c ---- */

/* Number of messages in active/ (in memory). */
size_t qmgr_message_count(void);
/*
 * Take the file <id>.msg, already moved into active/, into memory and queue
 * its recipients. A corrupt file goes to corrupt/; a vanished one is
 * skipped. 0 when taken, -1 when not.
 */
int qmgr_message_activate(const char *id);
/* A recipient delivered (status sent) or bounced: write it into the queue file. */
void qmgr_rcpt_final(struct qmgr_rcpt *rc, const struct deliver_result *res);
/*
 * A recipient failed for now: write it into the queue file as deferred (or,
 * for an expired message, as bounced). The log line is written here when
 * log is true (qmgr-made outcomes); agents log their own.
 */
void qmgr_rcpt_defer(struct qmgr_rcpt *rc, const char *dsn, const char *relay, const char *text,
                     bool log);
/* Log one recipient outcome in the agents' shape (for outcomes qmgr makes itself). */
void qmgr_rcpt_log(const struct qmgr_rcpt *rc, const char *relay, const char *dsn,
                   enum deliver_status status, const char *text);
/* Forget every message (exit). */
void qmgr_message_free_all(void);

/* ---- qmgr_transport.c ---- */

/* The transport called name (created on first use). */
struct qmgr_transport *qmgr_transport_get(const char *name);
/* Put a recipient at the end of the queue for its transport and nexthop. */
void qmgr_queue_add(struct qmgr_transport *t, const char *nexthop, struct qmgr_rcpt *rc);
/* Take a waiting recipient out of its queue (it is being finished otherwise). */
void qmgr_queue_unlink(struct qmgr_rcpt *rc);
/* Start deliveries within every limit. */
void qmgr_schedule(void);
/*
 * A transport cannot be reached: defer everything waiting for it with
 * "delivery temporarily suspended: reason" and keep new recipients away for
 * transport_retry_time.
 */
void qmgr_transport_throttle(struct qmgr_transport *t, const char *reason);
/*
 * The next hop of q failed (an agent said DELIVER_FLAG_NEXTHOP): defer what
 * waits in q and what arrives for it, with "delivery temporarily suspended:
 * reason", for minimal_backoff_time.
 */
void qmgr_queue_throttle(struct qmgr_queue *q, const char *reason);
/* The agent's socket has no room now: start nothing for ms milliseconds, defer nothing. */
void qmgr_transport_pause(struct qmgr_transport *t, long long ms);
/* Make every transport usable again (flush). */
void qmgr_transport_revive_all(void);
/* A delivery of q ended: count it, schedule more. */
void qmgr_queue_done(struct qmgr_queue *q);
/* A delivery of q ended without a next-hop failure: one more in parallel, up to the limit. */
void qmgr_queue_success(struct qmgr_queue *q);
/* master.cf maxproc of each unix service (set at start; 0 = no limit). */
extern struct argv *qmgr_maxproc_names;
extern int *qmgr_maxproc_values;
/* Free every transport and queue (exit). */
void qmgr_transport_free_all(void);

/* ---- qmgr_deliver.c ---- */

/*
 * Start one delivery of rcpts (same message, same queue). On a connect
 * failure the transport is throttled and the recipients deferred.
 */
void qmgr_deliver_start(struct qmgr_queue *q, struct qmgr_rcpt **rcpts, size_t count);
/* Deliveries in flight. */
size_t qmgr_deliver_count(void);

#endif
