/*
 * qfdump - a test-only program that prints a queue file in a form the
 * integration tests parse: "name: value" lines for the envelope, an empty
 * line, then the content bytes exactly as stored.
 *
 *   qfdump path/to/QUEUEID.msg
 *
 *   id: QID
 *   arrival: <microseconds>
 *   sender: a@b.example          (empty for the null sender)
 *   client_addr: 127.0.0.1       (envelope strings that are present)
 *   ret: 0  body: 2  flags: 1    (numbers as in queue_file.h)
 *   rcpt: x@y.example            (per recipient, in order, followed by
 *   rcpt_orig: ...                rcpt_orig / rcpt_orcpt when present
 *   rcpt_orcpt: ...               and rcpt_notify)
 *   rcpt_notify: 6
 *   attr: name=value
 *   content_length: N
 *
 *   <content>
 *
 * Exit status 0; 1 when the file is corrupt; 2 on a system error.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "lib/mail/queue_file.h"
#include "lib/util/msg.h"

/* Print one optional envelope string. */
static void qfdump_str(const char *name, const char *value)
{
    if (value != NULL)
        printf("%s: %s\n", name, value);
}

int main(int argc, char **argv)
{
    struct queue_file *qf;
    const struct queue_envelope *env;
    const char *why;
    char data[8192];
    size_t n;
    int r;

    msg_init("qfdump", MSG_TO_STDERR);
    if (argc != 2) {
        fprintf(stderr, "usage: qfdump queue-file\n");
        return 2;
    }
    r = queue_file_open(argv[1], QUEUE_OPEN_VERIFY, &qf, &why);
    if (r <= 0) {
        fprintf(stderr, "qfdump: %s: %s\n", argv[1], why);
        return r == 0 ? 1 : 2;
    }
    env = queue_file_envelope(qf);
    printf("id: %s\n", queue_file_id(qf));
    printf("arrival: %llu\n", (unsigned long long)env->arrival);
    printf("sender: %s\n", env->sender ? env->sender : "");
    qfdump_str("client_addr", env->client_addr);
    qfdump_str("client_name", env->client_name);
    qfdump_str("helo", env->helo);
    qfdump_str("protocol", env->protocol);
    qfdump_str("auth_user", env->auth_user);
    qfdump_str("envid", env->envid);
    printf("ret: %d\n", (int)env->ret);
    printf("body: %d\n", (int)env->body);
    printf("flags: %u\n", env->flags);
    for (size_t i = 0; i < env->rcpt_count; i++) {
        printf("rcpt: %s\n", env->rcpts[i].address);
        qfdump_str("rcpt_orig", env->rcpts[i].orig);
        qfdump_str("rcpt_orcpt", env->rcpts[i].orcpt);
        printf("rcpt_notify: %u\n", env->rcpts[i].notify);
    }
    for (size_t i = 0; i < env->attr_count; i++)
        printf("attr: %s=%s\n", env->attrs[i].name, env->attrs[i].value);
    printf("content_length: %llu\n\n", (unsigned long long)queue_file_content_length(qf));
    queue_file_content_rewind(qf);
    while ((r = queue_file_content_read(qf, data, sizeof(data), &n, &why)) > 0 && n > 0)
        fwrite(data, 1, n, stdout);
    if (r < 0) {
        fprintf(stderr, "qfdump: %s: %s\n", argv[1], why);
        queue_file_free(&qf);
        return 1;
    }
    queue_file_free(&qf);
    return fflush(stdout) == 0 ? 0 : 2;
}
