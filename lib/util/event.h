/*
 * event - a small poll(2) event loop: fd readiness callbacks, one-shot
 * timers, and signals delivered through a self-pipe.
 *
 * Callbacks run from event_loop_run_once() (or event_loop_run()), never
 * from a signal handler. A callback may add or remove fds and timers,
 * including its own; a removed fd or cancelled timer is never called
 * afterwards, not even later in the same iteration.
 *
 * Signals: one loop per process may own signals (the handler has no
 * context, so the self-pipe is per process). The handler only writes the
 * signal number to the pipe; the loop calls the signal's callback once per
 * iteration in which it arrived (repeats coalesce, as with real signals).
 */
#ifndef POSTEL_UTIL_EVENT_H
#define POSTEL_UTIL_EVENT_H

#include <stdbool.h>

struct event_loop;

#define EVENT_READ 0x1  /* readable, or EOF / hang-up */
#define EVENT_WRITE 0x2 /* writable */
#define EVENT_ERROR 0x4 /* reported only: POLLERR/POLLNVAL */

typedef void (*event_fd_fn)(int fd, int events, void *ctx);
typedef void (*event_timer_fn)(void *ctx);
typedef void (*event_signal_fn)(int signo, void *ctx);

struct event_loop *event_loop_create(void);
void event_loop_free(struct event_loop **lp);

void event_fd_set(struct event_loop *l, int fd, int events, event_fd_fn fn, void *ctx);
void event_fd_remove(struct event_loop *l, int fd);
bool event_fd_registered(const struct event_loop *l, int fd);

unsigned long long event_timer_add(struct event_loop *l, long long delay_ms, event_timer_fn fn,
                                   void *ctx);
bool event_timer_cancel(struct event_loop *l, unsigned long long id);
long long event_timer_next_ms(const struct event_loop *l);

int event_signal_add(struct event_loop *l, int signo, event_signal_fn fn, void *ctx,
                     const char **why_r);
void event_signal_remove(struct event_loop *l, int signo);

int event_loop_run_once(struct event_loop *l, long long max_wait_ms);
void event_loop_run(struct event_loop *l);
void event_loop_stop(struct event_loop *l);

#endif
