/*
 * echod - a test-only service built on the daemon skeleton
 * (single_server_main), used by tests/integration/test_master.py to check
 * master and the skeleton from the outside.
 *
 * Per client: a greeting "echod <service> pid=<pid> uid=<uid> gid=<gid>
 * groups=<g1,g2,...>", then one reply per line:
 *
 *   lookup KEY   "found VALUE", "notfound" or "error REASON" from the table
 *                given with -T type:name (re-opened when postmap rebuilt it)
 *   sleep N      sleeps N seconds (0..60), then "slept" (holds the process busy)
 *   crash        abort()
 *   quit         "bye", then close
 *   anything     echoed back
 *
 * With -W (a trigger service, like pickup): no greeting and no replies;
 * each MASTER_WAKEUP_BYTE the client sends is logged as "wakeup from master".
 *
 * Run under the name "echoev" (a symbolic link), the same program uses the
 * event-driven skeleton (event_server_main) instead: one process serves
 * many clients at once (greeting, echo, "quit"; no "sleep" or "lookup"),
 * and with -W it is a trigger service whose wakeup bytes the skeleton
 * reads.
 *
 * Lines are bounded (ECHOD_LINE_MAX) and every read has a timeout.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/dict/dict.h"
#include "lib/mail/master_proto.h"
#include "lib/mail/server.h"
#include "lib/util/buf.h"
#include "lib/util/event.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"

#define ECHOD_LINE_MAX 1000
#define ECHOD_TIMEOUT_MS (30 * 1000)

static const char *echod_table_spec;
static struct dict *echod_table;
static bool echod_trigger; /* -W */

/* -T type:name, -W */
static int echod_option(int ch, const char *arg, const char **why_r)
{
    switch (ch) {
    case 'T':
        echod_table_spec = arg;
        return 0;
    case 'W':
        echod_trigger = true;
        return 0;
    default:
        *why_r = "unknown option";
        return -1;
    }
}

/* -W: no greeting; read the client's bytes to the end and log wakeup bytes. */
static void echod_read_trigger(struct stream *s)
{
    int ch, count = 0;

    while ((ch = stream_getc(s)) >= 0 && count++ < 100)
        if (ch == MASTER_WAKEUP_BYTE)
            msg_info("wakeup from master");
}

/* Open the table while still privileged (as a real daemon would). */
static void echod_pre_init(const char *service, char **argv)
{
    const char *why;

    (void)service;
    (void)argv;
    if (echod_table_spec == NULL)
        return;
    if ((echod_table = dict_open(echod_table_spec, DICT_FLAG_FOLD_KEYS, &why)) == NULL)
        msg_fatal("open table %s: %s", echod_table_spec, why);
}

/* Close the table before a normal exit. */
static void echod_pre_exit(const char *service, char **argv)
{
    (void)service;
    (void)argv;
    if (echod_table)
        dict_close(&echod_table);
}

/* Answer "lookup KEY". */
static void echod_lookup(struct stream *s, const char *key)
{
    const char *value, *why;
    int r;

    if (echod_table == NULL) {
        stream_puts(s, "error no table configured (-T type:name)\r\n");
        return;
    }
    if (dict_reopen_if_changed(echod_table, &why) < 0) {
        stream_printf(s, "error %s\r\n", why);
        return;
    }
    r = dict_lookup(echod_table, key, &value, &why);
    if (r == DICT_FOUND)
        stream_printf(s, "found %s\r\n", value);
    else if (r == DICT_NOTFOUND)
        stream_puts(s, "notfound\r\n");
    else
        stream_printf(s, "error %s\r\n", why);
}

/* Serve one client. */
static void echod_service(int fd, const char *service, char **argv)
{
    struct stream *s = stream_open(fd, STREAM_NOCLOSE);
    struct buf *line = buf_create(128);
    gid_t groups[64];
    int ngroups = getgroups(64, groups);

    (void)argv;
    stream_set_timeout(s, ECHOD_TIMEOUT_MS);
    if (echod_trigger) {
        echod_read_trigger(s);
        buf_free(&line);
        stream_free(&s);
        return;
    }
    stream_printf(s, "echod %s pid=%ld uid=%ld gid=%ld groups=", service, (long)getpid(),
                  (long)geteuid(), (long)getegid());
    for (int i = 0; i < ngroups; i++)
        stream_printf(s, "%s%ld", i ? "," : "", (long)groups[i]);
    stream_puts(s, "\r\n");

    for (;;) {
        enum stream_line_end end;
        const char *text;

        if (stream_flush(s) < 0)
            break;
        if (stream_read_line(s, line, ECHOD_LINE_MAX, &end) <= 0)
            break;
        if (end == STREAM_LINE_TOO_LONG) {
            stream_skip_line(s);
            stream_puts(s, "error line too long\r\n");
            continue;
        }
        text = buf_str(line);
        if (strncmp(text, "lookup ", 7) == 0) {
            echod_lookup(s, text + 7);
        } else if (strncmp(text, "sleep ", 6) == 0) {
            char *e;
            long secs = strtol(text + 6, &e, 10);

            if (*e || e == text + 6 || secs < 0 || secs > 60) {
                stream_puts(s, "error bad sleep time\r\n");
                continue;
            }
            sleep((unsigned)secs);
            stream_puts(s, "slept\r\n");
        } else if (strcmp(text, "crash") == 0) {
            abort();
        } else if (strcmp(text, "quit") == 0) {
            stream_puts(s, "bye\r\n");
            stream_flush(s);
            break;
        } else {
            stream_printf(s, "%s\r\n", text);
        }
    }
    buf_free(&line);
    stream_free(&s);
}

/* Event mode: one client's input so far. */
struct echoev_client {
    int fd;
    struct buf *in;
};

/* Event mode: write a short reply (test traffic is small; a full socket drops it). */
static void echoev_write(int fd, const char *text)
{
    (void)!write(fd, text, strlen(text));
}

/* Event mode: the client is done. */
static void echoev_close(struct echoev_client *c)
{
    event_server_disconnect(c->fd);
    buf_free(&c->in);
    mem_free(c);
}

/* Event mode: input from one client; answer each complete line. */
static void echoev_read(int fd, int events, void *ctx)
{
    struct echoev_client *c = ctx;
    char data[512];
    ssize_t n = read(fd, data, sizeof(data));
    char *nl;

    (void)events;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        echoev_close(c);
        return;
    }
    buf_append(c->in, data, (size_t)n);
    while ((nl = memchr(buf_str(c->in), '\n', buf_len(c->in))) != NULL) {
        size_t len = (size_t)(nl - buf_str(c->in));
        char *line = mem_strndup(buf_str(c->in), len);
        size_t rest = buf_len(c->in) - len - 1;

        memmove(buf_str(c->in), nl + 1, rest);
        buf_truncate(c->in, rest);
        if (len > 0 && line[len - 1] == '\r')
            line[len - 1] = '\0';
        if (strcmp(line, "quit") == 0) {
            echoev_write(fd, "bye\r\n");
            mem_free(line);
            echoev_close(c);
            return;
        }
        echoev_write(fd, line);
        echoev_write(fd, "\r\n");
        mem_free(line);
    }
    if (buf_len(c->in) > ECHOD_LINE_MAX) {
        echoev_write(fd, "error line too long\r\n");
        echoev_close(c);
    }
}

/* Event mode: a new client. */
static void echoev_accept(int fd, const char *service, char **argv)
{
    struct echoev_client *c = mem_alloc(sizeof(*c));
    char greeting[256];

    (void)argv;
    c->fd = fd;
    c->in = buf_create(128);
    snprintf(greeting, sizeof(greeting), "echod %s pid=%ld uid=%ld gid=%ld groups=\r\n", service,
             (long)getpid(), (long)geteuid(), (long)getegid());
    echoev_write(fd, greeting);
    event_fd_set(event_server_loop(), fd, EVENT_READ, echoev_read, c);
}

/* Event mode with -W: wakeup bytes read by the skeleton. */
static void echoev_trigger(const char *data, size_t len, const char *service, char **argv)
{
    (void)service;
    (void)argv;
    for (size_t i = 0; i < len; i++)
        if (data[i] == MASTER_WAKEUP_BYTE)
            msg_info("wakeup from master");
}

int main(int argc, char **argv)
{
    static const struct server_options opts = {
        .getopt = "T:W",
        .option = echod_option,
        .pre_init = echod_pre_init,
        .pre_exit = echod_pre_exit,
    };

    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    bool trigger = false;

    if (strcmp(name, "echoev") != 0)
        single_server_main(argc, argv, echod_service, &opts);
    /* The skeleton parses the options; -W is needed to pick the shape first. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-W") == 0)
            trigger = true;
    if (trigger)
        event_server_main(argc, argv, NULL, echoev_trigger, &opts);
    event_server_main(argc, argv, echoev_accept, NULL, &opts);
}
