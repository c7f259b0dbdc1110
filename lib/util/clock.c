/*
 * clock - monotonic milliseconds.
 *
 * Timeouts and timers use CLOCK_MONOTONIC so that an administrator setting
 * the wall clock neither fires every timer at once nor stalls them.
 */
#include "config.h"

#include <time.h>

#include "lib/util/clock.h"
#include "lib/util/msg.h"

/* Milliseconds on the monotonic clock. */
long long clock_now_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        msg_panic("clock_gettime(CLOCK_MONOTONIC): %m");
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline_ms, never negative. */
long long clock_remaining_ms(long long deadline_ms)
{
    long long left = deadline_ms - clock_now_ms();

    return left > 0 ? left : 0;
}
