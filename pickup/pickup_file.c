/*
 * pickup_file - turn one maildrop file into a queue file.
 *
 * Two passes over the file, each through the strict maildrop reader:
 *
 *   1. validate everything (records, addresses, limits, nothing after the
 *      end record) and look at the message's header block: is there a
 *      From: header, how many Received: headers;
 *   2. create the queue file in incoming/, set the envelope (addresses
 *      qualified with myorigin, DSN values), prepend
 *          Received: by $myhostname ($mail_name, from userid N)
 *                  id QID; date
 *      (and From: "Full Name" <sender> when the message has none and a
 *      full name was given), run the message through the shared cleanup
 *      step (lib/mail/cleanup.h: header limits, hop count, Bcc: removed,
 *      Message-ID:, Date:, From: added), commit (durable), and only then
 *      remove the maildrop file and wake qmgr.
 *
 * A file that fails validation in either pass is moved to corrupt/ with a
 * warning; nothing of it reaches the queue. A temporary error (full disk,
 * I/O error) leaves the file where it is for the next scan. A message with
 * too many Received: headers (a mail loop) is queued with every recipient
 * already bounced ("5.4.6 Too many hops"), so that qmgr returns it to the
 * sender instead of delivering it again; it is committed in hold/ and
 * moved to incoming/ only once marked, so qmgr never sees it unmarked.
 *
 * Log lines, as Postfix's pickup and cleanup write them:
 *   QID: uid=1000 from=<user>
 *   QID: message-id=<...>                     (cleanup)
 * and qmgr writes "QID: from=<...>, size=N, nrcpt=N (queue active)".
 *
 * Security notes: the file and its owner are untrusted. It is opened with
 * O_NOFOLLOW|O_NONBLOCK and must be a regular file with exactly one link
 * (no symlink or hard-link games); its owner's uid is the only identity
 * recorded. The content may change between the passes (the owner can
 * still write it): each pass validates what it reads on its own, and the
 * queue file is built only from the second.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/mail/cleanup.h"
#include "lib/mail/maildrop.h"
#include "lib/mail/qmgr_nudge.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/queue_id.h"
#include "lib/proto/hdr.h"
#include "lib/proto/mailbox.h"
#include "lib/proto/xtext.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/str.h"
#include "pickup/pickup.h"

#define PICKUP_READ_CHUNK 65536
#define PICKUP_HDR_PEEK_LIMIT 1024 /* pass 1 needs header names only */

/* The work on one file. */
struct pickup_job {
    const char *name;
    char path[sizeof(QUEUE_DIR_MAILDROP) + 256];
    int fd;
    long uid;
    /* pass 1 */
    struct hdr_scan *scan;
    bool scan_done;
    bool has_from;
    int received; /* Received: headers in the message */
    /* pass 2 */
    struct queue_file *qf;
    const char *qdir; /* where the queue file is created */
    struct cleanup *cleanup;
    bool bounce_hops; /* queue it with every recipient bounced */
    bool write_failed;
    time_t now;
    struct buf *tmp;
    char why[512]; /* why the file was refused (pass 2) */
};

/* ------------------------------------------------------------ helpers */

/* Move maildrop/<name> to corrupt/ under a fresh name. */
void pickup_corrupt(const char *name, const char *reason)
{
    char from[sizeof(QUEUE_DIR_MAILDROP) + 256], to[sizeof(QUEUE_DIR_CORRUPT) + 32];

    snprintf(from, sizeof(from), "%s/%s", QUEUE_DIR_MAILDROP, name);
    for (int attempt = 0; attempt < 100; attempt++) {
        char id[QUEUE_ID_SIZE];

        queue_id_next(id);
        snprintf(to, sizeof(to), "%s/%s%s", QUEUE_DIR_CORRUPT, id, QUEUE_SUFFIX_MSG);
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) {
            msg_warn("%s: %s: moved to %s", from, reason, to);
            return;
        }
        if (errno == ENOENT)
            return;
        if (errno != EEXIST)
            break;
    }
    /* Never leave it to be tried (and warned about) forever: remove it, loudly. */
    msg_warn("%s: %s: cannot move to %s/: %m", from, reason, QUEUE_DIR_CORRUPT);
    if (unlink(from) == 0)
        msg_warn("%s: removed", from);
    else if (errno != ENOENT)
        msg_error("%s: cannot remove it either: %m", from);
}

/* Is b a "special" of RFC 5322 or a byte that needs quoting in a phrase? */
static bool pickup_phrase_atext(unsigned char c)
{
    return mailbox_is_atext(c, 0);
}

/* Append the phrase form of a display name. */
void pickup_phrase(struct buf *out, const char *name)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(name);
    bool ascii = true, plain = len > 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x80)
            ascii = false;
        if (c == ' ') {
            if (i == 0 || i + 1 == len || name[i + 1] == ' ')
                plain = false;
        } else if (!pickup_phrase_atext(c)) {
            plain = false;
        }
    }
    if (ascii && plain) {
        buf_append(out, name, len);
        return;
    }
    if (ascii) {
        buf_putc(out, '"');
        for (size_t i = 0; i < len; i++) {
            if (name[i] == '"' || name[i] == '\\')
                buf_putc(out, '\\');
            buf_putc(out, name[i]);
        }
        buf_putc(out, '"');
        return;
    }
    /* RFC 2047: encoded words of at most 75 characters, cut between UTF-8 characters. */
    for (size_t i = 0; i < len;) {
        size_t n = len - i > 45 ? 45 : len - i;
        while (i + n < len && ((unsigned char)name[i + n] & 0xc0) == 0x80)
            n--;
        if (i > 0)
            buf_puts(out, "\n ");
        buf_puts(out, "=?UTF-8?B?");
        for (size_t k = 0; k < n; k += 3) {
            unsigned v = (unsigned char)name[i + k] << 16;
            if (k + 1 < n)
                v |= (unsigned)(unsigned char)name[i + k + 1] << 8;
            if (k + 2 < n)
                v |= (unsigned char)name[i + k + 2];
            buf_putc(out, b64[(v >> 18) & 63]);
            buf_putc(out, b64[(v >> 12) & 63]);
            buf_putc(out, k + 1 < n ? b64[(v >> 6) & 63] : '=');
            buf_putc(out, k + 2 < n ? b64[v & 63] : '=');
        }
        buf_puts(out, "?=");
        i += n;
    }
}

/*
 * Run the whole file through reader r from its start. 1 when valid; 0 when
 * not (*why_r); -1 on a read error (errno); -2 when a callback refused.
 */
static int pickup_pass(struct pickup_job *j, struct maildrop_reader *r, const char **why_r)
{
    char *in = mem_alloc(PICKUP_READ_CHUNK);
    int ret = 0, result = 1;

    if (lseek(j->fd, 0, SEEK_SET) < 0) {
        mem_free(in);
        return -1;
    }
    for (;;) {
        ssize_t n = read(j->fd, in, PICKUP_READ_CHUNK);
        size_t used = 0;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            result = -1;
            break;
        }
        if (n == 0)
            break;
        if (ret == 1) {
            *why_r = "data after the end record";
            result = 0;
            break;
        }
        ret = maildrop_reader_feed(r, in, (size_t)n, &used, why_r);
        if (ret < 0) {
            result = maildrop_reader_error(r) == MAILDROP_ERR_CALLBACK ? -2 : 0;
            break;
        }
        if (ret == 1 && used < (size_t)n) {
            *why_r = "data after the end record";
            result = 0;
            break;
        }
    }
    if (result == 1 && maildrop_reader_finish(r, why_r) < 0)
        result = 0;
    mem_free(in);
    return result;
}

/* ------------------------------------------------------------ pass 1 */

/* A header of the message (pass 1). */
static void pickup_peek_header(void *ctx, const struct hdr_field *f)
{
    struct pickup_job *j = ctx;

    if (f->name_len == 4 && str_ncmp_icase(f->name, "From", 4) == 0)
        j->has_from = true;
    else if (f->name_len == 8 && str_ncmp_icase(f->name, "Received", 8) == 0)
        j->received++;
}

/* Message data (pass 1): only the header block matters. */
static int pickup_peek_data(void *ctx, const char *data, size_t len)
{
    struct pickup_job *j = ctx;
    size_t used;

    if (!j->scan_done && hdr_scan_feed(j->scan, data, len, &used) != HDR_SCAN_MORE)
        j->scan_done = true;
    return 0;
}

/* ------------------------------------------------------------ pass 2 */

/* cleanup's output goes into the queue file. */
static int pickup_write(void *ctx, const char *data, size_t len)
{
    struct pickup_job *j = ctx;
    const char *why = NULL;

    if (j->write_failed)
        return -1;
    if (queue_file_write(j->qf, data, len, &why) < 0) {
        msg_warn("%s: write queue file: %s", queue_file_id(j->qf), why);
        j->write_failed = true;
        return -1;
    }
    return 0;
}

/* Append addr qualified with myorigin to b (reset first). */
static const char *pickup_qualify(struct buf *b, const char *addr)
{
    buf_reset(b);
    cleanup_qualify(b, addr, pickup_set.myorigin);
    return buf_str(b);
}

/* Refuse the file in pass 2 (a setter said no). */
static int pickup_refuse(struct pickup_job *j, const char *what, const char *why)
{
    snprintf(j->why, sizeof(j->why), "%s: %s", what, why);
    return -1;
}

/* The envelope is complete (pass 2): queue envelope, cleanup, added headers. */
static int pickup_envelope(void *ctx, const struct maildrop_envelope *env)
{
    struct pickup_job *j = ctx;
    struct queue_file *qf = j->qf;
    const char *qid = queue_file_id(qf), *why = NULL;
    struct buf *b = j->tmp, *sender = buf_create(64);
    bool utf8 = env->smtputf8 || mailbox_has_8bit(env->sender, strlen(env->sender));
    char uid[32];
    int ret = 0;

    msg_info("%s: uid=%ld from=<%s>", qid, j->uid, env->sender);
    pickup_qualify(sender, env->sender);
    snprintf(uid, sizeof(uid), "%ld", j->uid);
    if (queue_file_set_str(qf, QUEUE_F_SENDER, buf_str(sender), &why) < 0 ||
        queue_file_set_ret(qf, env->ret, &why) < 0 ||
        queue_file_set_body(qf, env->body, &why) < 0 ||
        queue_file_add_attr(qf, "uid", uid, &why) < 0) {
        ret = pickup_refuse(j, "envelope", why);
        goto out;
    }
    if (env->envid != NULL) {
        buf_reset(b);
        xtext_encode(b, env->envid, strlen(env->envid));
        if (queue_file_set_str(qf, QUEUE_F_ENVID, buf_str(b), &why) < 0) {
            ret = pickup_refuse(j, "ENVID", why);
            goto out;
        }
    }
    for (size_t i = 0; i < env->rcpt_count; i++) {
        const struct maildrop_rcpt *rc = &env->rcpts[i];
        const char *addr = pickup_qualify(b, rc->address);

        if (mailbox_has_8bit(rc->address, strlen(rc->address)))
            utf8 = true;
        if (queue_file_add_rcpt(qf, addr, strcmp(addr, rc->address) != 0 ? rc->address : NULL,
                                rc->orcpt, rc->notify, &why) < 0) {
            ret = pickup_refuse(j, "recipient", why);
            goto out;
        }
    }
    if (utf8 && queue_file_set_flags(qf, QUEUE_FLAG_SMTPUTF8, &why) < 0) {
        ret = pickup_refuse(j, "flags", why);
        goto out;
    }

    {
        struct cleanup_opts copts = {
            .queue_id = qid,
            .myhostname = pickup_set.myhostname,
            .sender = buf_str(sender),
            .arrival = j->now,
            .header_size_limit = pickup_set.header_size_limit,
            .hopcount_limit = j->bounce_hops ? 0 : pickup_set.hopcount_limit,
            .flags = CLEANUP_FLAG_ADD_HEADERS | CLEANUP_FLAG_STRIP_BCC,
        };
        j->cleanup = cleanup_create(&copts, pickup_write, j);
    }
    buf_reset(b);
    buf_printf(b, "Received: by %s (%s, from userid %ld)\n\tid %s; ", pickup_set.myhostname,
               pickup_set.mail_name, j->uid, qid);
    cleanup_date(b, j->now);
    cleanup_prepend(j->cleanup, buf_str(b));
    /* The full name: cleanup adds a bare From: address; with a name we add it ourselves. */
    if (env->fullname != NULL && *env->fullname && *env->sender && !j->has_from) {
        buf_set(b, "From: ");
        pickup_phrase(b, env->fullname);
        buf_printf(b, " <%s>", buf_str(sender));
        cleanup_prepend(j->cleanup, buf_str(b));
    }
out:
    buf_free(&sender);
    return ret;
}

/* Message data (pass 2). */
static int pickup_content(void *ctx, const char *data, size_t len)
{
    struct pickup_job *j = ctx;

    cleanup_feed(j->cleanup, data, len);
    return j->write_failed ? -1 : 0;
}

/* ------------------------------------------------------------ the file */

/* Mark every recipient of the committed file hold/<qid> bounced, and release it. */
static void pickup_bounce_hops(struct pickup_job *j, const char *qid)
{
    struct buf *path = buf_create(64);
    struct queue_file *qf = NULL;
    const struct queue_envelope *env;
    const char *why = NULL;
    char text[200];
    int r;

    snprintf(text, sizeof(text), "mail loop: %d Received: headers (hopcount_limit %d)",
             j->received + 1, pickup_set.hopcount_limit);
    queue_file_name(path, QUEUE_DIR_HOLD, qid);
    r = queue_file_open(buf_str(path), QUEUE_OPEN_RDWR, &qf, &why);
    if (r <= 0) {
        msg_error("%s: cannot reopen to bounce it: %s; it stays in %s/", qid, why, QUEUE_DIR_HOLD);
        buf_free(&path);
        return;
    }
    env = queue_file_envelope(qf);
    for (size_t i = 0; i < env->rcpt_count; i++) {
        struct queue_slot slot = env->rcpts[i].slot;
        struct queue_diag diag = {.status = QUEUE_BOUNCED, .dsn = "5.4.6", .text = text};

        slot.status = QUEUE_BOUNCED;
        if (queue_file_rcpt_update(qf, i, &slot, &diag, QUEUE_UPDATE_NOSYNC, &why) < 0) {
            msg_error("%s: cannot mark recipient %zu bounced: %s; it stays in %s/", qid, i, why,
                      QUEUE_DIR_HOLD);
            queue_file_free(&qf);
            buf_free(&path);
            return;
        }
        msg_info("%s: to=<%s>, relay=none, delay=0, dsn=5.4.6, status=bounced (%s)", qid,
                 env->rcpts[i].address, text);
    }
    if (queue_file_sync(qf, &why) < 0) {
        msg_error("%s: %s; it stays in %s/", qid, why, QUEUE_DIR_HOLD);
        queue_file_free(&qf);
        buf_free(&path);
        return;
    }
    queue_file_free(&qf);
    if (queue_file_move(QUEUE_DIR_HOLD, QUEUE_DIR_INCOMING, qid, &why) < 0)
        msg_error("%s: cannot move to %s/: %s; release it with postsuper -H", qid,
                  QUEUE_DIR_INCOMING, why);
    buf_free(&path);
}

/* Open and check maildrop/<name>; 0, or the result to return. */
static int pickup_open(struct pickup_job *j, enum pickup_result *res_r)
{
    struct stat st;
    char reason[128];

    j->fd = open(j->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (j->fd < 0) {
        if (errno == ENOENT) {
            *res_r = PICKUP_GONE;
        } else if (errno == ELOOP || errno == EACCES || errno == EPERM || errno == ENXIO) {
            snprintf(reason, sizeof(reason), "cannot open: %s", strerror(errno));
            pickup_corrupt(j->name, reason);
            *res_r = PICKUP_CORRUPT;
        } else {
            msg_warn("open %s: %m", j->path);
            *res_r = PICKUP_RETRY;
        }
        return -1;
    }
    if (fstat(j->fd, &st) < 0) {
        msg_warn("fstat %s: %m", j->path);
        *res_r = PICKUP_RETRY;
        return -1;
    }
    j->uid = (long)st.st_uid;
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
        snprintf(reason, sizeof(reason), "uid=%ld: %s", j->uid,
                 !S_ISREG(st.st_mode) ? "not a regular file" : "more than one hard link");
        pickup_corrupt(j->name, reason);
        *res_r = PICKUP_CORRUPT;
        return -1;
    }
    return 0;
}

/* Turn maildrop/<name> into a queue file. */
enum pickup_result pickup_file(const char *name)
{
    struct maildrop_limits limits = {.content_max = pickup_set.size_limit};
    struct pickup_job job, *j = &job;
    struct maildrop_reader *r;
    enum pickup_result res = PICKUP_QUEUED;
    char reason[700], qid[QUEUE_ID_SIZE];
    const char *why = NULL;
    int pass;

    memset(j, 0, sizeof(*j));
    j->name = name;
    j->fd = -1;
    j->now = time(NULL);
    snprintf(j->path, sizeof(j->path), "%s/%s", QUEUE_DIR_MAILDROP, name);
    if (pickup_open(j, &res) < 0)
        goto out;

    /* Pass 1: is it valid at all; what does the header block have? */
    j->scan = hdr_scan_create(PICKUP_HDR_PEEK_LIMIT, pickup_peek_header, j);
    r = maildrop_reader_create(&limits, NULL, pickup_peek_data, j);
    pass = pickup_pass(j, r, &why);
    if (pass == 0) {
        snprintf(reason, sizeof(reason), "uid=%ld: %s", j->uid, why);
        maildrop_reader_free(&r);
        pickup_corrupt(name, reason);
        res = PICKUP_CORRUPT;
        goto out;
    }
    maildrop_reader_free(&r);
    if (pass < 0) {
        msg_warn("read %s: %m", j->path);
        res = PICKUP_RETRY;
        goto out;
    }
    j->bounce_hops = pickup_set.hopcount_limit > 0 && j->received + 1 >= pickup_set.hopcount_limit;

    /* Pass 2: the queue file. */
    j->qdir = j->bounce_hops ? QUEUE_DIR_HOLD : QUEUE_DIR_INCOMING;
    if (queue_file_create(j->qdir, NULL, &j->qf, &why) < 0) {
        msg_warn("%s: cannot create a queue file in %s/: %s", j->path, j->qdir, why);
        res = PICKUP_RETRY;
        goto out;
    }
    snprintf(qid, sizeof(qid), "%s", queue_file_id(j->qf));
    j->tmp = buf_create(256);
    r = maildrop_reader_create(&limits, pickup_envelope, pickup_content, j);
    pass = pickup_pass(j, r, &why);
    maildrop_reader_free(&r);
    if (pass > 0) {
        cleanup_finish(j->cleanup);
        if (cleanup_status(j->cleanup) & CLEANUP_STAT_WRITE)
            pass = -2;
    }
    if (pass == 0 || (pass == -2 && !j->write_failed)) {
        /* Invalid now (changed since pass 1), or a setter refused a value. */
        snprintf(reason, sizeof(reason), "uid=%ld: %s", j->uid, j->why[0] ? j->why : why);
        queue_file_abort(&j->qf);
        pickup_corrupt(name, reason);
        res = PICKUP_CORRUPT;
        goto out;
    }
    if (pass < 0) {
        enum queue_error err = queue_file_error(j->qf);
        if (pass == -1)
            msg_warn("read %s: %m", j->path);
        queue_file_abort(&j->qf);
        if (pass == -2 && !queue_error_temporary(err)) {
            snprintf(reason, sizeof(reason), "uid=%ld: the queue file refused the message", j->uid);
            pickup_corrupt(name, reason);
            res = PICKUP_CORRUPT;
        } else {
            res = PICKUP_RETRY;
        }
        goto out;
    }
    if (queue_file_commit(j->qf, &why) < 0) {
        msg_warn("%s: cannot commit the queue file: %s", qid, why);
        queue_file_abort(&j->qf);
        res = PICKUP_RETRY;
        goto out;
    }
    queue_file_free(&j->qf);

    /* Committed: the maildrop file has served its purpose. */
    if (unlink(j->path) < 0 && errno != ENOENT) {
        msg_error("%s: queued as %s, but cannot remove it: %m", j->path, qid);
        res = PICKUP_STUCK;
    }
    if (j->bounce_hops)
        pickup_bounce_hops(j, qid);
    qmgr_nudge_or_log();

out:
    if (j->qf != NULL)
        queue_file_abort(&j->qf);
    cleanup_free(&j->cleanup);
    hdr_scan_free(&j->scan);
    buf_free(&j->tmp);
    if (j->fd >= 0)
        (void)close(j->fd);
    return res;
}
