/*
 * clock - monotonic time in milliseconds, for timeouts and timers.
 */
#ifndef POSTEL_UTIL_CLOCK_H
#define POSTEL_UTIL_CLOCK_H

/* Milliseconds on the monotonic clock (never jumps with the wall clock). */
long long clock_now_ms(void);

/* Milliseconds left until the monotonic time deadline_ms, never negative. */
long long clock_remaining_ms(long long deadline_ms);

#endif
