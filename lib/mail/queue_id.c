/*
 * queue_id - queue IDs: 11 base-32 digits of microseconds since the epoch,
 * then 5 base-32 digits of the process ID (see queue_id.h and
 * postel-queue(5) for why this is unique and sorts by arrival).
 *
 * Security: IDs arrive from users (postsuper, postqueue) and are used to
 * build file names, so queue_id_valid() accepts only the exact fixed-length
 * alphabet; "../x", "", "x/y", lower case and any suffix are refused.
 */
#include "config.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/mail/queue_id.h"
#include "lib/util/msg.h"

/* Crockford base 32 (no I, L, O, U), in ASCII order so strcmp sorts by value. */
static const char queue_id_digits[32] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* The value of one digit, or -1. */
static int queue_id_digit_value(unsigned char c)
{
    const char *p;

    if (c == '\0')
        return -1;
    p = memchr(queue_id_digits, c, sizeof(queue_id_digits));
    return p ? (int)(p - queue_id_digits) : -1;
}

/* Write value as exactly width base-32 digits, most significant first. */
static void queue_id_encode(char *out, uint64_t value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = queue_id_digits[value & 31];
        value >>= 5;
    }
}

/* Format the ID for a given time (microseconds) and process ID. */
void queue_id_format(char id_r[QUEUE_ID_SIZE], uint64_t usec, uint32_t pid)
{
    queue_id_encode(id_r, usec & ((UINT64_C(1) << (5 * QUEUE_ID_TIME_DIGITS)) - 1),
                    QUEUE_ID_TIME_DIGITS);
    queue_id_encode(id_r + QUEUE_ID_TIME_DIGITS, pid & ((1U << (5 * QUEUE_ID_PID_DIGITS)) - 1),
                    QUEUE_ID_PID_DIGITS);
    id_r[QUEUE_ID_LEN] = '\0';
}

/* Make the next queue ID of this process into id_r. */
void queue_id_next(char id_r[QUEUE_ID_SIZE])
{
    static uint64_t last_usec;
    static pid_t last_pid;
    struct timespec ts;
    uint64_t now;
    pid_t pid = getpid();

    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        msg_fatal("clock_gettime: %m");
    now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;

    /*
     * Strictly increasing within a process, even when called faster than
     * the clock ticks or after the clock stepped back. A forked child has a
     * new PID, so its IDs cannot collide with the parent's.
     */
    if (pid == last_pid && now <= last_usec)
        now = last_usec + 1;
    last_usec = now;
    last_pid = pid;
    queue_id_format(id_r, now, (uint32_t)pid);
}

/* Is s[0..len) a well-formed queue ID? */
bool queue_id_valid_n(const char *s, size_t len)
{
    if (s == NULL || len != QUEUE_ID_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (queue_id_digit_value((unsigned char)s[i]) < 0)
            return false;
    return true;
}

/* Is s exactly one well-formed queue ID (no path, no suffix, no lower case)? */
bool queue_id_valid(const char *s)
{
    return s != NULL && queue_id_valid_n(s, strnlen(s, QUEUE_ID_LEN + 1));
}

/* Decode an ID; returns 0, or -1 with *why_r if it is not well-formed. */
int queue_id_parse(const char *id, uint64_t *usec_r, uint32_t *pid_r, const char **why_r)
{
    uint64_t usec = 0;
    uint32_t pid = 0;

    if (!queue_id_valid(id)) {
        *why_r = "malformed queue ID";
        return -1;
    }
    for (int i = 0; i < QUEUE_ID_TIME_DIGITS; i++)
        usec = usec << 5 | (uint64_t)queue_id_digit_value((unsigned char)id[i]);
    for (int i = QUEUE_ID_TIME_DIGITS; i < QUEUE_ID_LEN; i++)
        pid = pid << 5 | (uint32_t)queue_id_digit_value((unsigned char)id[i]);
    if (usec_r)
        *usec_r = usec;
    if (pid_r)
        *pid_r = pid;
    return 0;
}
