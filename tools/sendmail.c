/*
 * sendmail - the Sendmail-compatible command that local programs use to
 * submit mail (like Postfix's sendmail(1)); also mailq and newaliases.
 *
 *   sendmail [options] [recipient ...]      read a message, queue it
 *   sendmail -t -i                          PHP's mail(), cron, mutt, ...
 *   sendmail -bs                            SMTP on standard input/output
 *   sendmail -bp | mailq                    postqueue -p
 *   sendmail -q                             postqueue -f
 *   sendmail -bi | -I                       newaliases
 *
 * The message (standard input) is turned into the queue representation
 * (maildrop_text: CR LF to LF, a last line end added, a "." line ends the
 * input unless -i), the envelope is checked (addresses, DSN options), and
 * everything is written as a maildrop stream to postdrop(1), which puts it
 * into the maildrop queue for pickup(8). With -t the recipients come from
 * the To:, Cc: and Bcc: headers (Resent-To:, Resent-Cc: and Resent-Bcc:
 * when the message has Resent- headers), in addition to those on the
 * command line; pickup removes Bcc: from the message.
 *
 * Exit status (sysexits.h): 0 queued; EX_USAGE bad options or no
 * recipients; EX_DATAERR a bad address or option value, a message over
 * message_size_limit; EX_NOPERM, EX_TEMPFAIL, ... as postdrop reports
 * them; EX_CONFIG a broken main.cf; EX_UNAVAILABLE a helper program that
 * cannot be run.
 *
 * Security notes: runs with the user's privileges only. Everything the
 * user gives is checked here for helpful errors, and again by postdrop and
 * pickup, which trust nothing this program writes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/maildrop.h"
#include "lib/mail/param.h"
#include "lib/proto/addrlist.h"
#include "lib/proto/hdr.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/spawn.h"
#include "lib/util/str.h"
#include "tools/sendmail.h"

#define SM_USAGE                                                                                   \
    "usage: sendmail [-t] [-i] [-f sender] [-F full_name] [-N dsn] [-R ret] [-V envid]\n"          \
    "       [-B body_type] [-C config] [-v] [recipient ...]\n"                                     \
    "       sendmail -bs | -bp | -bi | -q"

#define SM_CHUNK 65536                    /* bytes read from standard input at once */
#define SM_HEADER_BLOCK_MAX (64ULL << 20) /* -t: headers held in memory without a size limit */

/* What the command was asked to do. */
enum sm_mode {
    SM_MODE_DELIVER, /* -bm (default) */
    SM_MODE_SMTP,    /* -bs */
    SM_MODE_QUEUE,   /* -bp, mailq */
    SM_MODE_FLUSH,   /* -q */
    SM_MODE_ALIASES, /* -bi, -I, newaliases */
};

/* The message options from the command line. */
struct sm_opts {
    bool extract;          /* -t */
    bool dot;              /* a "." line ends input (no -i) */
    const char *sender;    /* -f / -r as given */
    const char *fullname;  /* -F, or $NAME */
    const char *notify;    /* -N */
    const char *ret;       /* -R */
    const char *envid;     /* -V */
    const char *body;      /* -B */
    const char *queue_arg; /* -q argument, or NULL */
};

/* Everything collected for one message. */
struct sm_message {
    char *sender;       /* external form; "" = <> */
    struct argv *rcpts; /* external forms, in order, no duplicates */
    unsigned notify;
    struct buf *env; /* the envelope records */
};

static struct sm_settings sm_set;

/* Die with a sysexits status, saying why on standard error (and in the log). */
static _Noreturn void sm_die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static _Noreturn void sm_die(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vprintf(MSG_FATAL, fmt, ap);
    va_end(ap);
    (void)fflush(stdout);
    /* Nothing to clean up: no exit handlers (leak reports of a dying process are noise). */
    _exit(status);
}

/* The largest message accepted. */
unsigned long long sm_size_limit(void)
{
    return (unsigned long long)config_size("message_size_limit");
}

/* ------------------------------------------------------------ postdrop */

/* Start postdrop. */
int sm_submit_start(const struct sm_settings *set, struct sm_submit *s, const char **why_r)
{
    static char why[512];
    struct buf *path = buf_create(0), *magic = buf_create(32);
    struct argv *args = argv_create(6);
    struct spawn_fd fds[1];
    struct spawn_opts opts;
    int pipefd[2];
    int ret = 0;

    memset(s, 0, sizeof(*s));
    s->fd = -1;
    buf_printf(path, "%s/postdrop", config_str("command_directory"));
    argv_add(args, "postdrop");
    argv_add(args, "-c");
    argv_add(args, set->config_dir);
    for (int i = 0; i < set->verbose; i++)
        argv_add(args, "-v");
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(why, sizeof(why), "pipe: %s", strerror(errno));
        *why_r = why;
        ret = -1;
        goto out;
    }
    fds[0].from = pipefd[0];
    fds[0].to = STDIN_FILENO;
    memset(&opts, 0, sizeof(opts));
    opts.path = buf_str(path);
    opts.argv = args->argv;
    opts.fds = fds;
    opts.nfds = 1;
    s->pid = spawn_start(&opts, why_r);
    (void)close(pipefd[0]);
    if (s->pid < 0) {
        snprintf(why, sizeof(why), "%s", *why_r);
        *why_r = why;
        (void)close(pipefd[1]);
        ret = -1;
        goto out;
    }
    s->fd = pipefd[1];
    if (set->verbose)
        msg_debug("started %s (pid %ld)", buf_str(path), (long)s->pid);
    maildrop_put_magic(magic);
    (void)sm_submit_write(s, buf_str(magic), buf_len(magic));
out:
    buf_free(&path);
    buf_free(&magic);
    argv_free(&args);
    return ret;
}

/* Write to postdrop. */
int sm_submit_write(struct sm_submit *s, const void *data, size_t len)
{
    const char *p = data;

    if (s->broken || s->fd < 0)
        return -1;
    while (len > 0) {
        ssize_t n = write(s->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* EPIPE: postdrop refused the input and said why on stderr. */
            s->broken = true;
            return -1;
        }
        p += n, len -= (size_t)n;
        s->written += (unsigned long long)n;
    }
    return 0;
}

/* Finish (or abandon) the stream and collect postdrop's status. */
int sm_submit_end(struct sm_submit *s, bool complete)
{
    char text[128];
    int status = 0;

    if (complete) {
        struct buf *end = buf_create(8);
        maildrop_put(end, MAILDROP_REC_END, "", 0);
        (void)sm_submit_write(s, buf_str(end), buf_len(end));
        buf_free(&end);
    }
    if (s->fd >= 0) {
        (void)close(s->fd);
        s->fd = -1;
    }
    if (s->pid <= 0)
        return EX_SOFTWARE;
    if (spawn_wait(s->pid, &status, false) < 0) {
        msg_error("wait for postdrop: %m");
        return EX_OSERR;
    }
    s->pid = 0;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    msg_error("postdrop %s", spawn_status_text(status, text, sizeof(text)));
    return EX_SOFTWARE;
}

/* ------------------------------------------------------------ helpers */

/* Replace this process with a Postel command from command_directory. */
static _Noreturn void sm_exec(const char *name, struct argv *args)
{
    struct buf *path = buf_create(0);
    struct stat self, target;

    buf_printf(path, "%s/%s", config_str("command_directory"), name);
    /* Never exec ourselves (sendmail installed under that name): a loop. */
    if (stat("/proc/self/exe", &self) == 0 && stat(buf_str(path), &target) == 0 &&
        self.st_dev == target.st_dev && self.st_ino == target.st_ino)
        sm_die(EX_SOFTWARE, "%s is this program, not the %s command", buf_str(path), name);
    if (sm_set.verbose)
        msg_debug("exec %s", buf_str(path));
    (void)fflush(stdout);
    execv(buf_str(path), args->argv);
    sm_die(EX_UNAVAILABLE, "cannot run %s: %m", buf_str(path));
}

/* Parse one address for -f: "", "<>", "addr", "<addr>" or "Name <addr>". */
static char *sm_parse_sender(const char *text)
{
    struct addr_list *l = addr_list_create();
    const char *why = NULL;
    char *addr;

    if (*text == '\0' || strcmp(text, "<>") == 0) {
        addr_list_free(&l);
        return mem_strdup("");
    }
    if (addr_list_parse(l, text, strlen(text), 2, &why) < 0 || l->count != 1)
        sm_die(EX_DATAERR, "bad sender address \"%s\": %s", text,
               why ? why : "expected one address");
    addr = l->v[0].addr;
    if (maildrop_check_address(addr, strlen(addr), true, &why) < 0)
        sm_die(EX_DATAERR, "bad sender address \"%s\": %s", text, why);
    addr = mem_strdup(addr);
    addr_list_free(&l);
    return addr;
}

/*
 * Add the addresses of an address list (a command-line argument or a
 * header value) to rcpts. Dies with EX_DATAERR naming where on a bad one.
 */
static void sm_add_rcpts(struct argv *rcpts, const char *text, size_t len, const char *where)
{
    struct addr_list *l = addr_list_create();
    const char *why = NULL;

    if (addr_list_parse(l, text, len, ADDRLIST_MAX, &why) < 0)
        sm_die(EX_DATAERR, "bad recipient address in %s: %s", where, why);
    for (size_t i = 0; i < l->count; i++) {
        const char *addr = l->v[i].addr;
        if (maildrop_check_address(addr, strlen(addr), false, &why) < 0)
            sm_die(EX_DATAERR, "bad recipient address \"%s\" in %s: %s", addr, where, why);
        if (rcpts->argc >= MAILDROP_RCPT_HARD_MAX)
            sm_die(EX_DATAERR, "too many recipients (at most %d)", MAILDROP_RCPT_HARD_MAX);
        argv_add(rcpts, addr);
    }
    addr_list_free(&l);
}

/* Sort key for removing duplicates while keeping the first of each. */
struct sm_dup {
    const char *addr;
    size_t index;
};

static int sm_dup_cmp(const void *a, const void *b)
{
    const struct sm_dup *x = a, *y = b;
    int c = strcmp(x->addr, y->addr);

    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Remove repeated recipients (exact match), keeping the order of first appearance. */
static void sm_dedupe(struct argv *rcpts)
{
    size_t n = rcpts->argc, kept = 0;
    struct sm_dup *v;
    bool *drop;
    struct argv *out;

    if (n < 2)
        return;
    v = mem_alloc_array(n, sizeof(*v));
    drop = mem_alloc_array(n, sizeof(*drop));
    for (size_t i = 0; i < n; i++)
        v[i].addr = rcpts->argv[i], v[i].index = i;
    qsort(v, n, sizeof(*v), sm_dup_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i].addr, v[i - 1].addr) == 0)
            drop[v[i].index] = true;
    out = argv_create(n);
    for (size_t i = 0; i < n; i++)
        if (!drop[i])
            argv_add(out, rcpts->argv[i]), kept++;
    /* Swap the contents so that the caller's pointer stays valid. */
    {
        struct argv tmp = *rcpts;
        *rcpts = *out;
        *out = tmp;
    }
    argv_free(&out);
    mem_free(v);
    mem_free(drop);
}

/* ------------------------------------------------------------ -t */

/* Recipients found in the headers. */
struct sm_extract {
    struct argv *normal; /* To, Cc, Bcc */
    struct argv *resent; /* Resent-To, Resent-Cc, Resent-Bcc */
    bool has_resent;     /* any Resent- header */
    struct buf *value;
};

/* One header: collect the recipients it names. */
static void sm_extract_header(void *ctx, const struct hdr_field *f)
{
    static const char *const names[] = {"to", "cc", "bcc"};
    struct sm_extract *x = ctx;
    const char *name = f->name;
    size_t len = f->name_len;
    struct argv *list = x->normal;
    char where[64];

    if (len > 7 && str_ncmp_icase(name, "resent-", 7) == 0) {
        x->has_resent = true;
        name += 7, len -= 7;
        list = x->resent;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (len == strlen(names[i]) && str_ncmp_icase(name, names[i], len) == 0) {
            buf_reset(x->value);
            hdr_unfold(x->value, f->value, f->value_len, true);
            snprintf(where, sizeof(where), "the %.*s: header", (int)f->name_len, f->name);
            if (f->truncated)
                msg_warn("%s is longer than header_size_limit: addresses after the limit "
                         "are ignored",
                         where);
            sm_add_rcpts(list, buf_str(x->value), buf_len(x->value), where);
            return;
        }
    }
}

/* ------------------------------------------------------------ message mode */

/* Fill in msg->env (the envelope records) from the options; dies on a bad value. */
static void sm_envelope(const struct sm_opts *o, struct sm_message *msg)
{
    const char *why = NULL;
    struct buf *notify = buf_create(32);

    msg->env = buf_create(256);
    maildrop_put_str(msg->env, MAILDROP_REC_SENDER, msg->sender);
    if (o->fullname != NULL)
        maildrop_put_str(msg->env, MAILDROP_REC_FULLNAME, o->fullname);
    if (o->envid != NULL) {
        if (maildrop_check_envid(o->envid, strlen(o->envid), &why) < 0)
            sm_die(EX_DATAERR, "-V %s: %s", o->envid, why);
        maildrop_put_str(msg->env, MAILDROP_REC_ENVID, o->envid);
    }
    if (o->ret != NULL) {
        enum queue_ret ret;
        if (maildrop_parse_ret(o->ret, strlen(o->ret), &ret, &why) < 0)
            sm_die(EX_USAGE, "-R %s: %s", o->ret, why);
        maildrop_put_str(msg->env, MAILDROP_REC_RET, ret == QUEUE_RET_FULL ? "FULL" : "HDRS");
    }
    if (o->body != NULL) {
        enum queue_body body;
        if (maildrop_parse_body(o->body, strlen(o->body), &body, &why) < 0)
            sm_die(EX_USAGE, "-B %s: %s", o->body, why);
        maildrop_put_str(msg->env, MAILDROP_REC_BODY,
                         body == QUEUE_BODY_7BIT ? "7BIT" : "8BITMIME");
    }
    if (msg->notify)
        maildrop_format_notify(notify, msg->notify);
    for (size_t i = 0; i < msg->rcpts->argc; i++) {
        if (msg->notify)
            maildrop_put(msg->env, MAILDROP_REC_NOTIFY, buf_str(notify), buf_len(notify));
        maildrop_put_str(msg->env, MAILDROP_REC_RCPT, msg->rcpts->argv[i]);
    }
    buf_free(&notify);
}

/* Write the message in M records. */
static void sm_put_data(struct sm_submit *s, const char *data, size_t len)
{
    struct buf *rec = buf_create(MAILDROP_DATA_MAX + 16);

    while (len > 0 && !s->broken) {
        size_t n = len < MAILDROP_DATA_MAX ? len : MAILDROP_DATA_MAX;
        buf_reset(rec);
        maildrop_put(rec, MAILDROP_REC_DATA, data, n);
        (void)sm_submit_write(s, buf_str(rec), buf_len(rec));
        data += n, len -= n;
    }
    buf_free(&rec);
}

/* Read standard input; dies on a read error. 0 at end of input. */
static size_t sm_read_input(char *in, size_t size)
{
    for (;;) {
        ssize_t n = read(STDIN_FILENO, in, size);
        if (n >= 0)
            return (size_t)n;
        if (errno != EINTR)
            sm_die(EX_IOERR, "read standard input: %m");
    }
}

/* Read, check and submit one message. Returns the exit status. */
static int sm_deliver(const struct sm_opts *o, struct argv *cmd_rcpts)
{
    unsigned long long limit = sm_size_limit();
    struct maildrop_text *text = maildrop_text_create(o->dot ? MAILDROP_TEXT_DOT : 0);
    struct buf *held = buf_create(SM_CHUNK * 2); /* converted text not yet sent */
    char *in = mem_alloc(SM_CHUNK);
    struct sm_message msg;
    struct sm_extract x;
    struct hdr_scan *scan = NULL;
    struct sm_submit sub;
    const char *why = NULL;
    bool started = false, input_done = false, headers_done = !o->extract;
    int status;

    memset(&msg, 0, sizeof(msg));
    memset(&x, 0, sizeof(x));
    memset(&sub, 0, sizeof(sub));
    sub.fd = -1;
    msg.rcpts = argv_create(8);
    if (o->sender != NULL)
        msg.sender = sm_parse_sender(o->sender);
    else if (sm_set.user != NULL)
        msg.sender = mem_strdup(sm_set.user);
    else
        sm_die(EX_OSERR, "no login name found for user ID %ld", (long)getuid());
    if (o->notify != NULL &&
        maildrop_parse_notify(o->notify, strlen(o->notify), &msg.notify, &why) < 0)
        sm_die(EX_USAGE, "-N %s: %s", o->notify, why);
    if (o->fullname != NULL && maildrop_check_fullname(o->fullname, strlen(o->fullname), &why) < 0)
        sm_die(EX_DATAERR, "-F: %s", why);
    for (size_t i = 0; i < cmd_rcpts->argc; i++)
        sm_add_rcpts(msg.rcpts, cmd_rcpts->argv[i], strlen(cmd_rcpts->argv[i]), "the command line");
    if (!o->extract && msg.rcpts->argc == 0)
        sm_die(EX_USAGE, "recipient addresses must be given on the command line or with "
                         "the -t option");
    if (o->extract) {
        const struct param_def *p = param_find("header_size_limit");
        size_t hlimit = HDR_SIZE_LIMIT;
        if (p != NULL && p->type == PARAM_INT && config_int(p->name) > 0)
            hlimit = (size_t)config_int(p->name);
        else if (p != NULL && p->type == PARAM_SIZE && config_size(p->name) > 0)
            hlimit = (size_t)config_size(p->name);
        x.normal = argv_create(8);
        x.resent = argv_create(8);
        x.value = buf_create(256);
        scan = hdr_scan_create(hlimit, sm_extract_header, &x);
    }

    while (!input_done) {
        size_t n = sm_read_input(in, SM_CHUNK), off = 0;
        size_t before = buf_len(held);

        if (n == 0) {
            maildrop_text_finish(text, held);
            input_done = true;
        }
        while (off < n && !input_done) {
            size_t used = 0;
            if (maildrop_text_feed(text, in + off, n - off, &used, held) == 1)
                input_done = true;
            off += used;
        }
        if (limit > 0 && maildrop_text_size(text) > limit) {
            if (started)
                (void)sm_submit_end(&sub, false);
            sm_die(EX_DATAERR, "message too big: message_size_limit is %llu bytes", limit);
        }
        if (!headers_done) {
            /* Look at the new text only; the scanner keeps its own state. */
            size_t used = 0;
            int r = hdr_scan_feed(scan, buf_str(held) + before, buf_len(held) - before, &used);
            if (r != HDR_SCAN_MORE || input_done) {
                if (r == HDR_SCAN_MORE)
                    (void)hdr_scan_finish(scan);
                headers_done = true;
            } else if (buf_len(held) > SM_HEADER_BLOCK_MAX) {
                sm_die(EX_DATAERR, "message headers larger than %llu bytes",
                       (unsigned long long)SM_HEADER_BLOCK_MAX);
            }
            if (headers_done) {
                struct argv *list = x.has_resent ? x.resent : x.normal;
                for (size_t i = 0; i < list->argc; i++)
                    argv_add(msg.rcpts, list->argv[i]);
                if (msg.rcpts->argc == 0)
                    sm_die(EX_DATAERR, "no recipient addresses found in the message header");
            }
        }
        if (headers_done && !started) {
            sm_dedupe(msg.rcpts);
            if (msg.rcpts->argc > MAILDROP_RCPT_HARD_MAX)
                sm_die(EX_DATAERR, "too many recipients (at most %d)", MAILDROP_RCPT_HARD_MAX);
            sm_envelope(o, &msg);
            if (sm_set.verbose) {
                msg_debug("sender <%s>", msg.sender);
                for (size_t i = 0; i < msg.rcpts->argc; i++)
                    msg_debug("recipient <%s>", msg.rcpts->argv[i]);
            }
            if (sm_submit_start(&sm_set, &sub, &why) < 0)
                sm_die(EX_UNAVAILABLE, "cannot run postdrop: %s", why);
            started = true;
            (void)sm_submit_write(&sub, buf_str(msg.env), buf_len(msg.env));
        }
        if (started) {
            sm_put_data(&sub, buf_str(held), buf_len(held));
            buf_reset(held);
            if (sub.broken)
                break;
        }
    }
    status = sm_submit_end(&sub, !sub.broken);
    if (status != EX_OK && sm_set.verbose)
        msg_debug("postdrop exited with status %d", status);

    hdr_scan_free(&scan);
    argv_free(&x.normal);
    argv_free(&x.resent);
    buf_free(&x.value);
    maildrop_text_free(&text);
    buf_free(&held);
    buf_free(&msg.env);
    argv_free(&msg.rcpts);
    mem_free(msg.sender);
    mem_free(in);
    return status;
}

/* ------------------------------------------------------------ main */

/* The directory of -C: a directory, or a main.cf path (Sendmail's -C names a file). */
static const char *sm_config_arg(const char *arg)
{
    struct stat st;
    const char *slash;

    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
        return arg;
    slash = strrchr(arg, '/');
    if (slash == NULL)
        return ".";
    if (slash == arg)
        return "/";
    return mem_strndup(arg, (size_t)(slash - arg));
}

/* Handle -o: -oi is -i; the rest are Sendmail options without meaning here. */
static void sm_option_o(const char *arg, struct sm_opts *o)
{
    if (strcmp(arg, "i") == 0)
        o->dot = false;
    else if (sm_set.verbose)
        msg_debug("-o%s ignored", arg);
}

int main(int argc, char **argv)
{
    const char *slash = argv[0] != NULL ? strrchr(argv[0], '/') : NULL;
    const char *name = slash != NULL ? slash + 1 : argv[0] != NULL ? argv[0] : "sendmail";
    enum sm_mode mode = SM_MODE_DELIVER;
    struct sm_opts o;
    struct argv *rcpts = argv_create(8), *args;
    const char *why = NULL, *logfile;
    struct passwd *pw;
    int ch, status;

    memset(&o, 0, sizeof(o));
    o.dot = true;
    msg_init("sendmail", MSG_TO_STDERR | MSG_TO_SYSLOG);
    if (strcmp(name, "mailq") == 0)
        mode = SM_MODE_QUEUE;
    else if (strcmp(name, "newaliases") == 0)
        mode = SM_MODE_ALIASES;

    /* "+": options end at the first recipient, as in Sendmail and Postfix. */
    while ((ch = getopt(argc, argv, "+46B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:q::r:tvx")) != -1) {
        switch (ch) {
        case 'B':
            o.body = optarg;
            break;
        case 'C':
            sm_set.config_dir = sm_config_arg(optarg);
            break;
        case 'F':
            o.fullname = optarg;
            break;
        case 'I':
            mode = SM_MODE_ALIASES;
            break;
        case 'N':
            o.notify = optarg;
            break;
        case 'R':
            o.ret = optarg;
            break;
        case 'V':
            o.envid = optarg;
            break;
        case 'b':
            switch (optarg[0]) {
            case 'm':
                mode = SM_MODE_DELIVER;
                break;
            case 's':
                mode = SM_MODE_SMTP;
                break;
            case 'p':
                mode = SM_MODE_QUEUE;
                break;
            case 'i':
                mode = SM_MODE_ALIASES;
                break;
            case 'd':
            case 'D':
            case 'l':
                sm_die(EX_USAGE,
                       "-b%s: this command does not run the mail system; "
                       "use \"postel start\"",
                       optarg);
            default:
                sm_die(EX_USAGE, "-b%s: unsupported mode", optarg);
            }
            if (optarg[1] != '\0')
                sm_die(EX_USAGE, "-b%s: unsupported mode", optarg);
            break;
        case 'f':
        case 'r':
            o.sender = optarg;
            break;
        case 'i':
            o.dot = false;
            break;
        case 'o':
            sm_option_o(optarg, &o);
            break;
        case 'q':
            mode = SM_MODE_FLUSH;
            o.queue_arg = optarg;
            break;
        case 't':
            o.extract = true;
            break;
        case 'v':
            sm_set.verbose++;
            msg_verbose++;
            break;
        case 'L': /* log label */
        case 'O': /* Sendmail option=value */
        case 'X': /* Sendmail traffic log */
        case 'e': /* error mode */
        case 'h': /* hop count */
        case 'p': /* protocol */
        case '4':
        case '6':
        case 'G': /* gateway submission */
        case 'U': /* initial user submission */
        case 'c':
        case 'm':
        case 'n':
        case 'x':
            if (sm_set.verbose)
                msg_debug("-%c ignored", ch);
            break;
        default:
            sm_die(EX_USAGE, "%s", SM_USAGE);
        }
    }
    for (int i = optind; i < argc; i++)
        argv_add(rcpts, argv[i]);

    if (sm_set.config_dir == NULL)
        sm_set.config_dir = config_dir_default();
    if (config_read(sm_set.config_dir, &why) < 0)
        sm_die(EX_CONFIG, "%s", why);
    logfile = config_str("maillog_file");
    /* Best effort: users usually may not write the mail log. */
    if (*logfile && msg_logfile_open(logfile, &why) < 0 && sm_set.verbose)
        msg_debug("%s", why);
    pw = getpwuid(getuid());
    sm_set.user = pw != NULL ? mem_strdup(pw->pw_name) : NULL;
    if (o.fullname == NULL) {
        /* $NAME, as in Sendmail and Postfix; a value that cannot go into a header is ignored. */
        const char *env = getenv("NAME");
        if (env != NULL && *env != '\0' && maildrop_check_fullname(env, strlen(env), NULL) == 0)
            o.fullname = env;
    }
    signal(SIGPIPE, SIG_IGN);

    args = argv_create(8);
    switch (mode) {
    case SM_MODE_QUEUE:
        argv_add(args, "postqueue");
        argv_add(args, "-c");
        argv_add(args, sm_set.config_dir);
        argv_add(args, "-p");
        sm_exec("postqueue", args);
    case SM_MODE_FLUSH:
        argv_add(args, "postqueue");
        argv_add(args, "-c");
        argv_add(args, sm_set.config_dir);
        if (o.queue_arg == NULL) {
            argv_add(args, "-f");
        } else if (o.queue_arg[0] == 'R' && o.queue_arg[1] != '\0') {
            argv_add(args, "-s");
            argv_add(args, o.queue_arg + 1);
        } else if (o.queue_arg[0] == 'I' && o.queue_arg[1] != '\0') {
            argv_add(args, "-i");
            argv_add(args, o.queue_arg + 1);
        } else {
            /* -q30m: Sendmail's queue run interval; the queue manager runs all the time. */
            if (sm_set.verbose)
                msg_debug("-q%s ignored", o.queue_arg);
            status = EX_OK;
            break;
        }
        sm_exec("postqueue", args);
    case SM_MODE_ALIASES:
        argv_add(args, "newaliases");
        argv_add(args, "-c");
        argv_add(args, sm_set.config_dir);
        if (sm_set.verbose)
            argv_add(args, "-v");
        sm_exec("newaliases", args);
    case SM_MODE_SMTP:
        status = sm_smtp_session(&sm_set);
        break;
    case SM_MODE_DELIVER:
    default:
        status = sm_deliver(&o, rcpts);
        break;
    }
    argv_free(&args);
    argv_free(&rcpts);
    mem_free((char *)sm_set.user);
    config_reset();
    return status;
}
