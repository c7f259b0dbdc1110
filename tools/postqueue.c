/*
 * postqueue - the user interface to the mail queue: list it (-p, the
 * Sendmail "mailq" format of Postfix, and -j, one JSON object per message),
 * flush it (-f), and deliver one deferred message now (-i).
 *
 * Listing reads the queue files directly through lib/mail/queue_file.h (in
 * maildrop, incoming, active, deferred and hold, in that order), so it needs
 * read access to the queue: root or mail_owner. Flushing only connects to
 * $queue_directory/public/qmgr (lib/mail/qmgr_nudge.h), which members of
 * setgid_group may do.
 *
 * Security: in production this program is set-gid setgid_group (postdrop),
 * like Postfix's. Then -c, -o and POSTEL_CONFIG_DIR are refused unless the
 * real user is root (another main.cf could name another queue), the
 * environment is reduced to TZ, and nothing is written but the one byte to
 * qmgr. Queue IDs from the command line are checked with queue_id_valid()
 * before they reach a path. Every string shown comes from a queue file that
 * anyone could have submitted, so control characters are replaced in -p
 * output and escaped in -j output.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/maildrop.h"
#include "lib/mail/qmgr_nudge.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/queue_id.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"

#define POSTQUEUE_USAGE "usage: postqueue [-c config_dir] [-v] -f | -i queue_id | -j | -p | -s site"

/* The queues listed, in Postfix's showq order. */
static const char *const pq_queues[] = {
    QUEUE_DIR_MAILDROP, QUEUE_DIR_INCOMING, QUEUE_DIR_ACTIVE, QUEUE_DIR_DEFERRED, QUEUE_DIR_HOLD,
};

/* One recipient as listed: not yet done, with the reason of its last temporary failure. */
struct pq_rcpt {
    char *address;
    char *reason; /* "" = none */
};

/* One message as listed, from a queue file or a maildrop file. */
struct pq_msg {
    const char *queue;
    const char *id;
    int64_t arrival; /* seconds */
    uint64_t size;
    bool forced_expire;
    char *sender;
    struct pq_rcpt *rcpts;
    size_t count;
};

/* qsort comparison of two strings. */
static int pq_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append s for a terminal: control characters and broken UTF-8 become '?'. */
static void pq_printable(struct buf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);

    for (size_t i = 0; i < len;) {
        size_t n = str_utf8_len(s + i, len - i);

        if (n == 0 || p[i] < 0x20 || p[i] == 0x7f) {
            buf_putc(out, '?');
            i++;
        } else {
            buf_append(out, p + i, n);
            i += n;
        }
    }
}

/* Append s as a JSON string (quotes included); broken UTF-8 becomes U+FFFD. */
static void pq_json_string(struct buf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);

    buf_putc(out, '"');
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        size_t n;

        if (c == '"' || c == '\\') {
            buf_putc(out, '\\');
            buf_putc(out, (int)c);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\n':
                buf_puts(out, "\\n");
                break;
            case '\r':
                buf_puts(out, "\\r");
                break;
            case '\t':
                buf_puts(out, "\\t");
                break;
            default:
                buf_printf(out, "\\u%04x", c);
            }
            i++;
        } else if ((n = str_utf8_len(s + i, len - i)) == 0) {
            buf_puts(out, "\\ufffd");
            i++;
        } else {
            buf_append(out, p + i, n);
            i += n;
        }
    }
    buf_putc(out, '"');
}

/* The delay reason of a recipient: its latest diagnostic text, or "". */
static char *pq_reason(struct queue_file *qf, size_t index)
{
    const struct queue_rcpt *r = &queue_file_envelope(qf)->rcpts[index];
    struct queue_diag diag;
    const char *why;
    struct buf *b;
    const char *text;

    if (r->slot.status != QUEUE_DEFERRED || r->slot.diag_offset == 0)
        return mem_strdup("");
    if (queue_file_rcpt_diag(qf, index, &diag, &why) <= 0 || diag.text == NULL)
        return mem_strdup("");
    text = diag.text;
    /* "smtp; 450 ..." reads better without its diagnostic type. */
    const char *semi = strchr(text, ';');
    if (semi && semi - text < 16 && strcspn(text, " ") > (size_t)(semi - text)) {
        text = semi + 1;
        while (*text == ' ')
            text++;
    }
    b = buf_create(128);
    if (diag.mta && *diag.mta && strncmp(diag.text, "smtp;", 5) == 0)
        buf_printf(b, "host %s said: %s", diag.mta, text);
    else
        buf_puts(b, text);
    return buf_export(&b);
}

/* Print one message in the mailq format; returns its size. */
static uint64_t pq_print_mailq(const struct pq_msg *m, struct buf *out)
{
    char status = strcmp(m->queue, QUEUE_DIR_ACTIVE) == 0 ? '*'
                  : strcmp(m->queue, QUEUE_DIR_HOLD) == 0 ? '!'
                                                          : ' ';
    char idstat[QUEUE_ID_SIZE + 2];
    char date[64];
    time_t t = (time_t)m->arrival;
    struct tm tm;
    const char *saved = "";
    struct buf *addr = buf_create(64);

    snprintf(idstat, sizeof(idstat), "%s%c", m->id, status);
    if (localtime_r(&t, &tm) == NULL || strftime(date, sizeof(date), "%a %b %e %H:%M:%S", &tm) == 0)
        snprintf(date, sizeof(date), "?");
    pq_printable(addr, *m->sender ? m->sender : "MAILER-DAEMON");
    buf_printf(out, "%-17s %8llu %19.19s %s\n", idstat, (unsigned long long)m->size, date,
               buf_str(addr));
    for (size_t i = 0; i < m->count; i++) {
        const struct pq_rcpt *r = &m->rcpts[i];

        /* A "(reason)" line only when it changes, as Postfix does. */
        if (strcmp(r->reason, saved) != 0) {
            struct buf *shown = buf_create(128);
            int pad;

            pq_printable(shown, *r->reason ? r->reason : "reason unavailable");
            pad = 76 - (int)buf_len(shown);
            buf_printf(out, "%*s(%s)\n", pad > 0 ? pad : 0, "", buf_str(shown));
            buf_free(&shown);
            saved = r->reason;
        }
        buf_reset(addr);
        pq_printable(addr, r->address);
        buf_printf(out, "%-17s %8s %-19s %s\n", "", "", "", buf_str(addr));
    }
    buf_free(&addr);
    return m->size;
}

/* Print one message as a JSON object on one line. */
static void pq_print_json(const struct pq_msg *m, struct buf *out)
{
    buf_puts(out, "{\"queue_name\": ");
    pq_json_string(out, m->queue);
    buf_puts(out, ", \"queue_id\": ");
    pq_json_string(out, m->id);
    buf_printf(out, ", \"arrival_time\": %lld, \"message_size\": %llu, \"forced_expire\": %s",
               (long long)m->arrival, (unsigned long long)m->size,
               m->forced_expire ? "true" : "false");
    buf_puts(out, ", \"sender\": ");
    pq_json_string(out, m->sender);
    buf_puts(out, ", \"recipients\": [");
    for (size_t i = 0; i < m->count; i++) {
        buf_puts(out, i == 0 ? "{\"address\": " : ", {\"address\": ");
        pq_json_string(out, m->rcpts[i].address);
        if (*m->rcpts[i].reason) {
            buf_puts(out, ", \"delay_reason\": ");
            pq_json_string(out, m->rcpts[i].reason);
        }
        buf_putc(out, '}');
    }
    buf_puts(out, "]}\n");
}

/* Release what a loader filled in. */
static void pq_msg_clear(struct pq_msg *m)
{
    for (size_t i = 0; i < m->count; i++) {
        mem_free(m->rcpts[i].address);
        mem_free(m->rcpts[i].reason);
    }
    mem_free(m->rcpts);
    mem_free(m->sender);
    m->rcpts = NULL;
    m->sender = NULL;
    m->count = 0;
}

/* Load a queue file; 1 loaded, 0 skip (gone, or reported). */
static int pq_load_queue_file(struct pq_msg *m)
{
    struct buf *path = buf_create(64);
    struct queue_file *qf;
    const char *why;
    int ret;

    queue_file_name(path, m->queue, m->id);
    ret = queue_file_open(buf_str(path), 0, &qf, &why);
    buf_free(&path);
    if (ret != 1) {
        /* Gone meanwhile (delivered, moved) is normal; anything else is reported. */
        if (ret == 0 || errno != ENOENT)
            msg_warn("%s/%s: %s", m->queue, m->id, why);
        return 0;
    }
    const struct queue_envelope *env = queue_file_envelope(qf);
    const char *fe = queue_file_attr(qf, "forced_expire");

    m->arrival = (int64_t)(env->arrival / 1000000);
    m->size = queue_file_content_length(qf);
    m->sender = mem_strdup(env->sender);
    m->forced_expire = fe && (strcmp(fe, "1") == 0 || strcmp(fe, "yes") == 0);
    m->rcpts = mem_alloc_array(env->rcpt_count, sizeof(*m->rcpts));
    for (size_t i = 0; i < env->rcpt_count; i++) {
        if (queue_status_done(env->rcpts[i].slot.status))
            continue;
        m->rcpts[m->count].address = mem_strdup(env->rcpts[i].address);
        m->rcpts[m->count].reason = pq_reason(qf, i);
        m->count++;
    }
    queue_file_free(&qf);
    return 1;
}

/* Maildrop envelope callback: keep sender and recipients. */
static int pq_maildrop_env(void *ctx, const struct maildrop_envelope *env)
{
    struct pq_msg *m = ctx;

    m->sender = mem_strdup(env->sender);
    m->rcpts = mem_alloc_array(env->rcpt_count ? env->rcpt_count : 1, sizeof(*m->rcpts));
    for (size_t i = 0; i < env->rcpt_count; i++) {
        m->rcpts[i].address = mem_strdup(env->rcpts[i].address);
        m->rcpts[i].reason = mem_strdup("");
    }
    m->count = env->rcpt_count;
    return 0;
}

/* Load a maildrop file (not yet picked up); 1 loaded, 0 skip. */
static int pq_load_maildrop(struct pq_msg *m)
{
    char path[64], chunk[8192];
    struct maildrop_reader *r;
    struct stat st;
    const char *why = NULL;
    ssize_t n;
    size_t used;
    int fd, ret = 0;

    snprintf(path, sizeof(path), "%s/%s", QUEUE_DIR_MAILDROP, m->id);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            msg_warn("open %s: %m", path);
        return 0;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    m->arrival = (int64_t)st.st_mtime;
    r = maildrop_reader_create(NULL, pq_maildrop_env, NULL, m);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
        ret = maildrop_reader_feed(r, chunk, (size_t)n, &used, &why);
        if (ret != 0)
            break;
    }
    if (n < 0)
        msg_warn("read %s: %m", path);
    else if (ret == 0 && maildrop_reader_finish(r, &why) == 0)
        ret = 1;
    if (ret == 1 && m->sender != NULL) {
        m->size = maildrop_reader_content_size(r);
    } else {
        /* Being written (pickup removes it soon) or damaged: pickup reports those. */
        if (ret < 0 && why)
            msg_warn("%s: %s", path, why);
        pq_msg_clear(m);
        ret = 0;
    }
    maildrop_reader_free(&r);
    close(fd);
    return ret;
}

/* The IDs of the maildrop files (named <id>, no suffix), oldest first. */
static int pq_list_maildrop(struct argv *ids, const char **why_r)
{
    DIR *d = opendir(QUEUE_DIR_MAILDROP);
    struct dirent *de;

    static char why[128];

    if (d == NULL) {
        snprintf(why, sizeof(why), "open directory %s: %s", QUEUE_DIR_MAILDROP, strerror(errno));
        *why_r = why;
        return -1;
    }
    while ((de = readdir(d)) != NULL)
        if (queue_id_valid(de->d_name))
            argv_add(ids, de->d_name);
    closedir(d);
    qsort(ids->argv, ids->argc, sizeof(char *), pq_strcmp);
    return (int)ids->argc;
}

/* Write out and empty the buffer; fatal on a write error (a closed pipe ends us anyway). */
static void pq_flush(struct buf *out)
{
    if (buf_len(out) > 0 && fwrite(buf_str(out), 1, buf_len(out), stdout) != buf_len(out))
        msg_fatal("write standard output: %m");
    buf_reset(out);
}

/* List the queue (-p or -j). */
static int pq_list(bool json)
{
    struct buf *out = buf_create(4096);
    unsigned long long total = 0, count = 0;
    const char *why;

    for (size_t q = 0; q < sizeof(pq_queues) / sizeof(pq_queues[0]); q++) {
        struct argv *ids = argv_create(16);
        struct stat st;

        bool maildrop = strcmp(pq_queues[q], QUEUE_DIR_MAILDROP) == 0;
        int listed =
            maildrop ? pq_list_maildrop(ids, &why) : queue_file_list(pq_queues[q], ids, &why);

        if (listed < 0) {
            int err = errno;

            argv_free(&ids);
            if (err == ENOENT && stat(pq_queues[q], &st) < 0)
                continue;
            /* maildrop (mode 1730) is not readable by the set-gid group: skip it. */
            if (maildrop && err == EACCES)
                continue;
            if (err == EACCES)
                msg_fatal("%s: listing the queue needs root or mail_owner privileges", why);
            msg_fatal("%s", why);
        }
        for (size_t i = 0; i < ids->argc; i++) {
            struct pq_msg m = {.queue = pq_queues[q], .id = ids->argv[i]};

            if ((maildrop ? pq_load_maildrop(&m) : pq_load_queue_file(&m)) <= 0)
                continue;
            if (json) {
                pq_print_json(&m, out);
            } else {
                if (count == 0)
                    buf_printf(out, "%-17s %8s %-19s %s\n", "----Queue ID-----", "--Size--",
                               "---Arrival Time----", "--Sender/Recipient------");
                else
                    buf_putc(out, '\n');
                total += pq_print_mailq(&m, out);
            }
            count++;
            pq_msg_clear(&m);
            pq_flush(out);
        }
        argv_free(&ids);
    }
    if (!json) {
        if (count == 0)
            buf_puts(out, "Mail queue is empty\n");
        else
            buf_printf(out, "\n-- %llu Kbytes in %llu Request%s.\n", total / 1024, count,
                       count == 1 ? "" : "s");
    }
    pq_flush(out);
    buf_free(&out);
    if (fflush(stdout) != 0)
        msg_fatal("write standard output: %m");
    return 0;
}

/* Ask qmgr to retry all deferred mail now (-f). */
static int pq_flush_queue(void)
{
    const char *why;

    static const char flush_request[] = {QMGR_REQ_FLUSH, 0};

    if (qmgr_trigger(NULL, flush_request, &why) < 0) {
        msg_error("Cannot flush mail queue - mail system is down? (%s)", why);
        return EX_UNAVAILABLE;
    }
    return 0;
}

/*
 * Ask qmgr to retry the deferred mail for one site now (-s), like the SMTP
 * ETRN command but for any site, not only those in fast_flush_domains: a
 * local user may flush the whole deferred queue with -f anyway.
 */
static int pq_flush_site(const char *site)
{
    const char *why;

    if (!qmgr_site_valid(site, strlen(site))) {
        msg_error("-s %.100s: invalid site name", site);
        return EX_USAGE;
    }
    if (qmgr_flush_site(NULL, site, &why) < 0) {
        msg_error("Cannot flush mail queue - mail system is down? (%s)", why);
        return EX_UNAVAILABLE;
    }
    return 0;
}

/*
 * Deliver one deferred message now (-i): mark its deferred recipients due
 * and move it to incoming/, where qmgr picks it up at the nudge. That needs
 * write access to the queue; without it, ask for a flush of everything.
 */
static int pq_deliver_one(const char *id)
{
    struct queue_file *qf;
    struct buf *path;
    const char *why;
    int ret;

    if (!queue_id_valid(id))
        msg_fatal("invalid queue ID: \"%.40s\"", id);
    path = buf_create(64);
    queue_file_name(path, QUEUE_DIR_DEFERRED, id);
    ret = queue_file_open(buf_str(path), QUEUE_OPEN_RDWR | QUEUE_OPEN_LOCK, &qf, &why);
    buf_free(&path);
    if (ret < 0 && (errno == EACCES || errno == EPERM)) {
        msg_warn(
            "no write access to the queue: asking the queue manager to flush all deferred mail");
        return pq_flush_queue();
    }
    if (ret < 0 && errno == ENOENT) {
        msg_error("%s: no such message in the deferred queue", id);
        return EX_UNAVAILABLE;
    }
    if (ret != 1) {
        msg_error("%s: %s", id, why);
        return EX_UNAVAILABLE;
    }
    const struct queue_envelope *env = queue_file_envelope(qf);
    for (size_t i = 0; i < env->rcpt_count; i++) {
        struct queue_slot slot = env->rcpts[i].slot;

        if (slot.status != QUEUE_DEFERRED || slot.next_retry == 0)
            continue;
        slot.next_retry = 0;
        if (queue_file_rcpt_update(qf, i, &slot, NULL, QUEUE_UPDATE_NOSYNC, &why) < 0)
            msg_fatal("%s: update: %s", id, why);
    }
    struct queue_slot mslot = *queue_file_msg_slot(qf);

    if (mslot.next_retry != 0) {
        mslot.next_retry = 0;
        if (queue_file_msg_update(qf, &mslot, QUEUE_UPDATE_NOSYNC, &why) < 0)
            msg_fatal("%s: update: %s", id, why);
    }
    /* Due now also for a scan that goes by the file's modification time. */
    if (futimens(queue_file_fd(qf), NULL) < 0)
        msg_warn("%s: cannot set the file time: %m", id);
    if (queue_file_sync(qf, &why) < 0)
        msg_fatal("%s: %s", id, why);
    queue_file_free(&qf);
    if (queue_file_move(QUEUE_DIR_DEFERRED, QUEUE_DIR_INCOMING, id, &why) < 0) {
        msg_error("%s: %s", id, why);
        return EX_UNAVAILABLE;
    }
    if (qmgr_nudge(NULL, &why) < 0)
        msg_warn(
            "cannot nudge the queue manager (%s); it picks the message up at its next queue scan",
            why);
    return 0;
}

/* Keep only TZ in the environment of a set-gid run. */
static void pq_clean_env(void)
{
    const char *tz = getenv("TZ");
    char *keep = tz ? mem_strdup(tz) : NULL;

    if (clearenv() != 0)
        msg_fatal("clearenv failed");
    if (keep && setenv("TZ", keep, 1) < 0)
        msg_fatal("setenv: %m");
    mem_free(keep);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    const char *why;
    const char *id = NULL, *site = NULL;
    bool privileged_run = getuid() != 0 && (getgid() != getegid() || getuid() != geteuid());
    int mode = 0;
    int ch;

    msg_init("postqueue", MSG_TO_STDERR | MSG_TO_SYSLOG);
    if (privileged_run) {
        if (getenv("POSTEL_CONFIG_DIR"))
            msg_fatal("POSTEL_CONFIG_DIR is not allowed for a set-gid postqueue (run it as root)");
        pq_clean_env();
    }
    while ((ch = getopt(argc, argv, "c:fi:jps:v")) != -1) {
        switch (ch) {
        case 'c':
            if (privileged_run)
                msg_fatal("-c is not allowed for a set-gid postqueue (run it as root)");
            dir = optarg;
            break;
        case 'f':
        case 'j':
        case 'p':
            if (mode && mode != ch)
                msg_fatal("%s", POSTQUEUE_USAGE);
            mode = ch;
            break;
        case 'i':
            if (mode && mode != ch)
                msg_fatal("%s", POSTQUEUE_USAGE);
            mode = ch;
            id = optarg;
            break;
        case 's':
            if (mode && mode != ch)
                msg_fatal("%s", POSTQUEUE_USAGE);
            mode = ch;
            site = optarg;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            msg_fatal("%s", POSTQUEUE_USAGE);
        }
    }
    if (optind != argc || mode == 0)
        msg_fatal("%s", POSTQUEUE_USAGE);
    if (dir == NULL)
        dir = config_dir_default();
    if (config_read(dir, &why) < 0)
        msg_fatal("%s", why);
    const char *logfile = config_str("maillog_file");
    if (*logfile && !privileged_run && msg_logfile_open(logfile, &why) < 0)
        msg_warn("open maillog_file %s: %s", logfile, why);
    const char *queue_dir = config_str("queue_directory");
    if (chdir(queue_dir) < 0)
        msg_fatal("chdir %s: %m", queue_dir);

    int status;
    switch (mode) {
    case 'p':
        status = pq_list(false);
        break;
    case 'j':
        status = pq_list(true);
        break;
    case 'f':
        status = pq_flush_queue();
        break;
    case 'i':
        status = pq_deliver_one(id);
        break;
    default:
        status = pq_flush_site(site);
        break;
    }
    config_reset();
    return status;
}
