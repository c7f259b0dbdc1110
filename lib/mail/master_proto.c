/*
 * master_proto - status records between service processes and master.
 *
 * The record format is documented in master_proto.h. Parsing is strict:
 * exact field count, decimal numbers without signs or junk, a known status
 * word; master drops anything else with a warning, so a confused or hostile
 * child cannot corrupt master's process accounting (master also checks
 * that the pid is one of its own children of that service and generation).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/mail/master_proto.h"

static const char *const master_status_names[] = {
    [MASTER_STATUS_IDLE] = "idle",
    [MASTER_STATUS_BUSY] = "busy",
};

/* "idle" or "busy". */
const char *master_status_name(enum master_status status)
{
    if ((unsigned)status < sizeof(master_status_names) / sizeof(master_status_names[0]))
        return master_status_names[status];
    return "unknown";
}

/* Format one status record into buf; returns its length (0 if it does not fit). */
size_t master_status_format(char *buf, size_t size, const struct master_status_rec *rec)
{
    int n = snprintf(buf, size, "%d %ld %lu %s", MASTER_PROTO_VERSION, (long)rec->pid,
                     rec->generation, master_status_name(rec->status));

    if (n < 0 || (size_t)n >= size)
        return 0;
    return (size_t)n;
}

/* Parse an unsigned decimal field of at most 19 digits at *pp, ending at a space or end. */
static int master_status_number(const char **pp, const char *end, unsigned long long *num_r)
{
    const char *p = *pp;
    unsigned long long num = 0;
    int digits = 0;

    while (p < end && *p >= '0' && *p <= '9') {
        if (++digits > 19)
            return -1;
        num = num * 10 + (unsigned)(*p - '0');
        p++;
    }
    if (digits == 0)
        return -1;
    if (p < end) {
        if (*p != ' ')
            return -1;
        p++;
    }
    *pp = p;
    *num_r = num;
    return 0;
}

/* Parse one record of len bytes; 0, or -1 with *why_r on anything malformed. */
int master_status_parse(const char *data, size_t len, struct master_status_rec *rec_r,
                        const char **why_r)
{
    const char *p = data;
    const char *end = data + len;
    unsigned long long version, pid, gen;
    size_t rest;

    if (len == 0 || len > MASTER_STATUS_MAX) {
        *why_r = "bad record length";
        return -1;
    }
    if (memchr(data, '\0', len) != NULL) {
        *why_r = "NUL byte in record";
        return -1;
    }
    if (master_status_number(&p, end, &version) < 0 || p == end) {
        *why_r = "bad version field";
        return -1;
    }
    if (version != MASTER_PROTO_VERSION) {
        *why_r = "unsupported protocol version";
        return -1;
    }
    if (master_status_number(&p, end, &pid) < 0 || p == end || pid == 0 ||
        pid > (unsigned long long)(pid_t)0x7fffffff) {
        *why_r = "bad pid field";
        return -1;
    }
    if (master_status_number(&p, end, &gen) < 0 || p == end || p[-1] != ' ') {
        *why_r = "bad generation field";
        return -1;
    }
    rest = (size_t)(end - p);
    if (rest == 4 && memcmp(p, "idle", 4) == 0) {
        rec_r->status = MASTER_STATUS_IDLE;
    } else if (rest == 4 && memcmp(p, "busy", 4) == 0) {
        rec_r->status = MASTER_STATUS_BUSY;
    } else {
        *why_r = "bad status field";
        return -1;
    }
    rec_r->pid = (pid_t)pid;
    rec_r->generation = (unsigned long)gen;
    return 0;
}

/* Child side: send one record on MASTER_STATUS_FD; 0, or -1 with *why_r (master gone). */
int master_status_send(pid_t pid, unsigned long generation, enum master_status status,
                       const char **why_r)
{
    struct master_status_rec rec = {.pid = pid, .generation = generation, .status = status};
    char buf[MASTER_STATUS_MAX + 1];
    size_t len = master_status_format(buf, sizeof(buf), &rec);
    ssize_t n;

    if (len == 0) {
        *why_r = "status record too long";
        return -1;
    }
    do {
        /* MSG_NOSIGNAL: a reloaded or dead master must not kill us with SIGPIPE. */
        n = send(MASTER_STATUS_FD, buf, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        *why_r = strerror(errno);
        return -1;
    }
    if ((size_t)n != len) {
        *why_r = "short write";
        return -1;
    }
    return 0;
}
