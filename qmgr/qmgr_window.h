/*
 * qmgr_window - the concurrency window of one destination (slow start):
 * pure arithmetic, no state, used by qmgr_transport.c and unit-tested on
 * its own.
 *
 * A destination starts at initial_destination_concurrency (never above its
 * limit, never below 1), gains one parallel delivery for each delivery that
 * ends without a next-hop failure, up to the limit, and is halved (at least
 * 1) by a next-hop failure, as Postfix's qmgr does with a positive feedback
 * of one per delivery.
 *
 * Security: none (integers in, integer out; every result is in 1..limit).
 */
#ifndef QMGR_WINDOW_H
#define QMGR_WINDOW_H

/* The window of a new destination: initial within 1..limit. */
static inline int qmgr_window_init(int initial, int limit)
{
    if (limit < 1)
        limit = 1;
    if (initial < 1)
        return 1;
    return initial < limit ? initial : limit;
}

/* The window after a delivery that ended without a next-hop failure. */
static inline int qmgr_window_success(int window, int limit)
{
    if (limit < 1)
        limit = 1;
    if (window < 1)
        return 1;
    return window < limit ? window + 1 : limit;
}

/* The window after a next-hop failure: halved, at least 1. */
static inline int qmgr_window_failure(int window)
{
    return window / 2 > 1 ? window / 2 : 1;
}

#endif
