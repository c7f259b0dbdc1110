/*
 * postcat - show the envelope and content of queue files and maildrop
 * files (like Postfix's postcat(1)).
 *
 *   postcat [-behv] [-c config_dir] file ...
 *   postcat [-behv] [-c config_dir] -q queue_id ...
 *
 * With -q the arguments are queue IDs, looked up in the incoming, active,
 * deferred, hold and corrupt queues and the maildrop queue, in that order.
 * -e shows the envelope, -h the message headers, -b the body; by default
 * all of them. When only the content is asked for (-h, -b or -hb) it is
 * written as it is, without section banners, so that it can be piped;
 * otherwise each section starts with a banner line "*** ... ***".
 *
 * Envelope lines are "name: value"; the lines that describe one recipient
 * follow its "recipient:" line, indented by two spaces. Values are shown
 * with control characters as "?" (a queue file may hold anything a client
 * sent).
 *
 * Security notes: reads files only through queue_file.h and maildrop.h,
 * which check them; opens nothing for writing.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/maildrop.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/queue_id.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

#define PC_USAGE "usage: postcat [-behv] [-c config_dir] [-q] file_or_queue_id ..."

#define PC_ENVELOPE 0x1
#define PC_HEADERS 0x2
#define PC_BODY 0x4

static int pc_show = 0; /* PC_* */
static bool pc_banners;

/* Print a value with control characters replaced. */
static void pc_value(const char *name, const char *value)
{
    if (value == NULL)
        return;
    printf("%s: ", name);
    for (const char *p = value; *p; p++)
        putchar((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p);
    putchar('\n');
}

/* "SUCCESS,FAILURE" for a NOTIFY mask. */
static void pc_notify(const char *name, unsigned notify)
{
    struct buf *b = buf_create(32);

    if (notify) {
        maildrop_format_notify(b, notify);
        pc_value(name, buf_str(b));
    }
    buf_free(&b);
}

/* Time as ctime without the newline. */
static void pc_time(const char *name, time_t t)
{
    char text[64];
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(text, sizeof(text), "%a %b %e %H:%M:%S %Y", &tm);
    printf("%s: %s\n", name, text);
}

/* Content splitter: where the header block ends, across pieces. */
struct pc_split {
    int state; /* 0 at line start, 1 inside a line, 2 in the body */
};

/* Write the parts of a content piece that were asked for. */
static void pc_content(struct pc_split *s, const char *data, size_t len)
{
    size_t i = 0;

    while (i < len) {
        if (s->state == 2) {
            if (pc_show & PC_BODY)
                fwrite(data + i, 1, len - i, stdout);
            return;
        }
        if (s->state == 0 && data[i] == '\n') {
            /* The empty line ends the headers; it belongs to neither part, shown with both. */
            if ((pc_show & (PC_HEADERS | PC_BODY)) == (PC_HEADERS | PC_BODY))
                putchar('\n');
            s->state = 2;
            i++;
            continue;
        }
        const char *nl = memchr(data + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (data + i)) + 1 : len - i;
        if (pc_show & PC_HEADERS)
            fwrite(data + i, 1, n, stdout);
        s->state = nl ? 0 : 1;
        i += n;
    }
}

/* Show a queue file. 0, or -1 after an error message. */
static int pc_queue_file(const char *path)
{
    struct queue_file *qf;
    const struct queue_envelope *env;
    const char *why = NULL;
    int r = queue_file_open(path, 0, &qf, &why);

    if (r < 0) {
        msg_error("open %s: %s", path, why);
        return -1;
    }
    if (r == 0) {
        msg_error("%s: %s", path, why);
        return -1;
    }
    env = queue_file_envelope(qf);
    if (pc_show & PC_ENVELOPE) {
        if (pc_banners)
            printf("*** ENVELOPE RECORDS %s ***\n", path);
        pc_value("queue_id", queue_file_id(qf));
        printf("message_size: %llu\n", (unsigned long long)queue_file_content_length(qf));
        pc_time("message_arrival_time", (time_t)(env->arrival / 1000000));
        pc_value("sender", env->sender);
        pc_value("client_address", env->client_addr);
        pc_value("client_name", env->client_name);
        pc_value("helo_name", env->helo);
        pc_value("protocol", env->protocol);
        pc_value("auth_user", env->auth_user);
        pc_value("envelope_id", env->envid);
        if (env->ret != QUEUE_RET_NONE)
            pc_value("dsn_ret", env->ret == QUEUE_RET_FULL ? "FULL" : "HDRS");
        if (env->body != QUEUE_BODY_NONE)
            pc_value("body_type", env->body == QUEUE_BODY_7BIT       ? "7BIT"
                                  : env->body == QUEUE_BODY_8BITMIME ? "8BITMIME"
                                                                     : "BINARYMIME");
        if (env->flags & QUEUE_FLAG_SMTPUTF8)
            pc_value("flags", "SMTPUTF8");
        for (size_t i = 0; i < env->attr_count; i++) {
            struct buf *b = buf_create(64);
            buf_printf(b, "%s=%s", env->attrs[i].name, env->attrs[i].value);
            pc_value("attribute", buf_str(b));
            buf_free(&b);
        }
        for (size_t i = 0; i < env->rcpt_count; i++) {
            const struct queue_rcpt *rc = &env->rcpts[i];
            pc_value("recipient", rc->address);
            pc_value("  original_recipient", rc->orig);
            pc_value("  dsn_orcpt", rc->orcpt);
            pc_notify("  dsn_notify", rc->notify);
            printf("  status: %s\n", queue_status_name(rc->slot.status));
            if (rc->slot.attempts)
                printf("  attempts: %u\n", rc->slot.attempts);
        }
    }
    if (pc_show & (PC_HEADERS | PC_BODY)) {
        struct pc_split split = {0};
        char data[8192];
        size_t n;

        if (pc_banners)
            printf("*** MESSAGE CONTENTS %s ***\n", path);
        queue_file_content_rewind(qf);
        while ((r = queue_file_content_read(qf, data, sizeof(data), &n, &why)) > 0)
            pc_content(&split, data, n);
        if (r < 0) {
            fflush(stdout);
            msg_error("%s: %s", path, why);
            queue_file_free(&qf);
            return -1;
        }
    }
    if (pc_banners)
        printf("*** MESSAGE FILE END %s ***\n", path);
    queue_file_free(&qf);
    return 0;
}

/* Maildrop reader callbacks: print as it goes. */
static int pc_md_env(void *ctx, const struct maildrop_envelope *env)
{
    const char *path = ctx;

    if (pc_show & PC_ENVELOPE) {
        if (pc_banners)
            printf("*** MAILDROP ENVELOPE %s ***\n", path);
        pc_value("sender", env->sender);
        pc_value("full_name", env->fullname);
        pc_value("envelope_id", env->envid);
        if (env->ret != QUEUE_RET_NONE)
            pc_value("dsn_ret", env->ret == QUEUE_RET_FULL ? "FULL" : "HDRS");
        if (env->body != QUEUE_BODY_NONE)
            pc_value("body_type", env->body == QUEUE_BODY_7BIT ? "7BIT" : "8BITMIME");
        if (env->smtputf8)
            pc_value("flags", "SMTPUTF8");
        for (size_t i = 0; i < env->rcpt_count; i++) {
            pc_value("recipient", env->rcpts[i].address);
            pc_value("  dsn_orcpt", env->rcpts[i].orcpt);
            pc_notify("  dsn_notify", env->rcpts[i].notify);
        }
    }
    if ((pc_show & (PC_HEADERS | PC_BODY)) && pc_banners)
        printf("*** MESSAGE CONTENTS %s ***\n", path);
    return 0;
}

static struct pc_split pc_md_split;

static int pc_md_data(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    if (pc_show & (PC_HEADERS | PC_BODY))
        pc_content(&pc_md_split, data, len);
    return 0;
}

/* Show a maildrop file (fd at its start). 0, or -1 after an error message. */
static int pc_maildrop_file(const char *path, int fd)
{
    struct maildrop_reader *r = maildrop_reader_create(NULL, pc_md_env, pc_md_data, (void *)path);
    const char *why = NULL;
    char data[8192];
    ssize_t n;
    int ret = 0;

    memset(&pc_md_split, 0, sizeof(pc_md_split));
    while (ret == 0 && (n = read(fd, data, sizeof(data))) > 0) {
        size_t used;
        ret = maildrop_reader_feed(r, data, (size_t)n, &used, &why);
    }
    if (ret >= 0 && maildrop_reader_finish(r, &why) < 0)
        ret = -1;
    fflush(stdout);
    if (ret < 0)
        msg_error("%s: %s", path, why);
    else if (pc_banners)
        printf("*** MESSAGE FILE END %s ***\n", path);
    maildrop_reader_free(&r);
    return ret < 0 ? -1 : 0;
}

/* Show one file of either kind. */
static int pc_file(const char *path)
{
    char magic[MAILDROP_MAGIC_LEN];
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    int ret;

    if (fd < 0) {
        msg_error("open %s: %m", path);
        return -1;
    }
    if (read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
        memcmp(magic, MAILDROP_MAGIC, sizeof(magic)) == 0) {
        (void)lseek(fd, 0, SEEK_SET);
        ret = pc_maildrop_file(path, fd);
        close(fd);
        return ret;
    }
    close(fd);
    return pc_queue_file(path);
}

/* Find a queue ID in the queues. */
static int pc_queue_id(const char *id)
{
    static const char *const dirs[] = {QUEUE_DIR_INCOMING, QUEUE_DIR_ACTIVE, QUEUE_DIR_DEFERRED,
                                       QUEUE_DIR_HOLD, QUEUE_DIR_CORRUPT};
    struct buf *path = buf_create(64);
    int ret = -1;

    if (!queue_id_valid(id)) {
        msg_error("%s: not a queue ID", id);
        buf_free(&path);
        return -1;
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        buf_reset(path);
        queue_file_name(path, dirs[i], id);
        if (access(buf_str(path), F_OK) == 0) {
            ret = pc_file(buf_str(path));
            buf_free(&path);
            return ret;
        }
    }
    buf_reset(path);
    buf_printf(path, "%s/%s", QUEUE_DIR_MAILDROP, id);
    if (access(buf_str(path), F_OK) == 0)
        ret = pc_file(buf_str(path));
    else
        msg_error("%s: no such queue file", id);
    buf_free(&path);
    return ret;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *why = NULL;
    bool by_id = false;
    int ch, errors = 0;

    msg_init("postcat", MSG_TO_STDERR);
    while ((ch = getopt(argc, argv, "bc:ehqv")) != -1) {
        switch (ch) {
        case 'b':
            pc_show |= PC_BODY;
            break;
        case 'c':
            dir = optarg;
            break;
        case 'e':
            pc_show |= PC_ENVELOPE;
            break;
        case 'h':
            pc_show |= PC_HEADERS;
            break;
        case 'q':
            by_id = true;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            msg_fatal("%s", PC_USAGE);
        }
    }
    if (optind >= argc)
        msg_fatal("%s", PC_USAGE);
    /* Content alone is written raw, for pipes; anything more gets banners. */
    pc_banners = pc_show == 0 || (pc_show & PC_ENVELOPE);
    if (pc_show == 0)
        pc_show = PC_ENVELOPE | PC_HEADERS | PC_BODY;
    if (by_id) {
        if (config_read(dir != NULL ? dir : config_dir_default(), &why) < 0)
            msg_fatal("%s", why);
        if (chdir(config_str("queue_directory")) < 0)
            msg_fatal("chdir %s: %m", config_str("queue_directory"));
    }
    for (int i = optind; i < argc; i++)
        if ((by_id ? pc_queue_id(argv[i]) : pc_file(argv[i])) < 0)
            errors++;
    fflush(stdout);
    config_reset();
    return errors ? 1 : 0;
}
