/*
 * queue_id - queue IDs: unique, sortable by arrival time, safe as file names.
 *
 * A queue ID is 16 characters from the alphabet 0-9 A-H J K M N P-T V-Z
 * (Crockford's base 32, upper case, in ASCII order):
 *
 *   TTTTTTTTTTTPPPPP
 *   11 digits: microseconds since 1970-01-01 UTC (55 bits, good until
 *              year 3111), most significant digit first
 *    5 digits: the process ID of the process that made it (25 bits)
 *
 * Because every digit is fixed-width and the alphabet is in ASCII order,
 * strcmp() order is arrival order. Within one process the time part strictly
 * increases (when the clock has not moved, or moved back, the previous time
 * plus one microsecond is used), and no two live processes share a PID, so
 * two IDs made at the same microsecond by different processes differ in the
 * PID part. Creating the queue file with O_EXCL and moving it with
 * RENAME_NOREPLACE (queue_file.h) catch the remaining theoretical case of a
 * wall clock stepped backwards across a PID reuse.
 *
 * Not thread-safe (Postel processes are single-threaded).
 */
#ifndef POSTEL_MAIL_QUEUE_ID_H
#define POSTEL_MAIL_QUEUE_ID_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define QUEUE_ID_LEN 16                  /* characters */
#define QUEUE_ID_SIZE (QUEUE_ID_LEN + 1) /* with the terminating NUL */
#define QUEUE_ID_TIME_DIGITS 11
#define QUEUE_ID_PID_DIGITS 5

/* Make the next queue ID of this process into id_r. */
void queue_id_next(char id_r[QUEUE_ID_SIZE]);

/* Format the ID for a given time (microseconds) and process ID. */
void queue_id_format(char id_r[QUEUE_ID_SIZE], uint64_t usec, uint32_t pid);

/* Is s exactly one well-formed queue ID (no path, no suffix, no lower case)? */
bool queue_id_valid(const char *s);

/* Is s[0..len) a well-formed queue ID? */
bool queue_id_valid_n(const char *s, size_t len);

/* Decode an ID; returns 0, or -1 with *why_r if it is not well-formed. */
int queue_id_parse(const char *id, uint64_t *usec_r, uint32_t *pid_r, const char **why_r);

#endif
