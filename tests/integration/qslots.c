/*
 * qslots - a test-only program that prints the status slots of a queue
 * file, for tests/integration/test_qmgr*.py:
 *
 *   qslots path/to/QUEUEID.msg
 *
 *   message attempts=N next_retry=T
 *   rcpt 0 status=delivered flags=2 attempts=1 next_retry=0 address=a@b.example
 *   ...
 *
 * status is pending, delivered, bounced or deferred; flags are
 * QUEUE_SLOT_* bits (1 delay warned, 2 notified). Exit status 0; 1 when
 * the file is corrupt; 2 on a system error.
 */
#include "config.h"

#include <stdio.h>

#include "lib/mail/queue_file.h"
#include "lib/util/msg.h"

int main(int argc, char **argv)
{
    struct queue_file *qf;
    const struct queue_envelope *env;
    const struct queue_slot *ms;
    const char *why;
    int r;

    msg_init("qslots", MSG_TO_STDERR);
    if (argc != 2) {
        fprintf(stderr, "usage: qslots queue-file\n");
        return 2;
    }
    r = queue_file_open(argv[1], 0, &qf, &why);
    if (r <= 0) {
        fprintf(stderr, "qslots: %s: %s\n", argv[1], why);
        return r == 0 ? 1 : 2;
    }
    env = queue_file_envelope(qf);
    ms = queue_file_msg_slot(qf);
    printf("message attempts=%u next_retry=%lld\n", (unsigned)ms->attempts,
           (long long)ms->next_retry);
    for (size_t i = 0; i < env->rcpt_count; i++) {
        const struct queue_slot *s = &env->rcpts[i].slot;

        printf("rcpt %zu status=%s flags=%u attempts=%u next_retry=%lld address=%s\n", i,
               queue_status_name(s->status), s->flags, (unsigned)s->attempts,
               (long long)s->next_retry, env->rcpts[i].address);
    }
    queue_file_free(&qf);
    return 0;
}
