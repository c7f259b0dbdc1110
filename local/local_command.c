/*
 * local_command - delivery to an external command: |command destinations
 * and mailbox_command, as Postfix's local/command.c with
 * global/pipe_command.c.
 *
 * The command runs through /bin/sh -c (or local_command_shell) in its own
 * process group, with the rights of the delivery context (the user of a
 * .forward, the owner of the alias table or :include: file; default_privs
 * when that is root or there is none: never as root), a clean environment
 * (PATH, HOME, SHELL, USER, LOGNAME, LOCAL, EXTENSION, DOMAIN, RECIPIENT,
 * SENDER, ORIGINAL_RECIPIENT, and export_environment), the message on
 * standard input ("From " line, Return-Path:, Delivered-To: when
 * prepend_delivered_header says "command", then the message unchanged),
 * and standard output and error in one pipe of which the first
 * LOCAL_OUTPUT_MAX bytes are kept for the reason text. It must finish
 * within command_time_limit, else it and its process group are killed.
 * The exit status means what <sysexits.h> says (local_sysexits.c).
 *
 * Security: the values of the environment are filtered through
 * command_expansion_filter; every descriptor but 0, 1 and 2 is closed in
 * the child (spawn); the message is written with non-blocking I/O under
 * one deadline, so a command that neither reads nor exits cannot hold the
 * delivery agent longer than command_time_limit.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/store/mbox.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/clock.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/spawn.h"
#include "local/local.h"

#define LOCAL_CMD_CHUNK 65536
#define LOCAL_CMD_PATH "/usr/bin:/bin" /* Postfix's _PATH_DEFPATH */
#define LOCAL_CMD_REAP_MS 5000         /* wait for a killed command to go */

extern char **environ;

/* The identity for a command or file: creds, else default_privs; never root. */
int local_exec_creds(struct local_job *job, const struct local_creds *creds,
                     struct local_creds **out_r, const char **why_r)
{
    static char why[256];
    int r;

    *out_r = NULL;
    if (!local_privs_root()) {
        /* Without root everything runs as this process's own user. */
        if (creds != NULL && creds->uid == getuid()) {
            *out_r = local_creds_dup(creds);
            return 0;
        }
        if (creds != NULL && creds->uid != 0) {
            snprintf(why, sizeof(why),
                     "cannot act as user %.64s (uid %lu): this mail system does not run as root",
                     creds->name, (unsigned long)creds->uid);
            *why_r = why;
            return -1;
        }
        if (local_creds_getpwuid(getuid(), out_r, why_r) <= 0)
            *out_r = local_creds_create("nobody", getuid(), getgid(), NULL, NULL);
        return 0;
    }
    if (creds != NULL && creds->uid != 0) {
        *out_r = local_creds_dup(creds);
        return 0;
    }
    if ((r = local_creds_getpwnam(job->set->default_privs, out_r, why_r)) <= 0) {
        if (r == 0) {
            snprintf(why, sizeof(why), "default_privs: unknown user \"%.64s\"",
                     job->set->default_privs);
            *why_r = why;
        }
        return -1;
    }
    if ((*out_r)->uid == 0 || (*out_r)->gid == 0) {
        local_creds_free(out_r);
        snprintf(why, sizeof(why), "default_privs \"%.64s\" must not be a privileged user",
                 job->set->default_privs);
        *why_r = why;
        return -1;
    }
    return 0;
}

/* Add NAME=value (filtered) to env. */
static void local_env_add(struct argv *env, const char *name, const char *value, const char *filter)
{
    struct buf *b;

    if (value == NULL)
        return;
    b = buf_create(64);
    buf_printf(b, "%s=", name);
    local_filter(b, value, filter);
    argv_add(env, buf_str(b));
    buf_free(&b);
}

/* The command's environment. */
static struct argv *local_command_env(struct local_job *job, const struct local_attr *attr,
                                      const struct local_creds *as,
                                      const struct local_creds *env_user)
{
    const struct local_settings *s = job->set;
    const struct local_creds *who = env_user ? env_user : as;
    struct argv *env = argv_create(24);
    const char *f = s->command_filter;

    argv_add(env, "PATH=" LOCAL_CMD_PATH);
    /* export_environment: "NAME" takes our value, "NAME=value" sets one. */
    for (size_t i = 0; i < s->export_environment->argc; i++) {
        const char *item = s->export_environment->argv[i];
        const char *v;

        if (strchr(item, '=') != NULL)
            argv_add(env, item);
        else if (strcmp(item, "PATH") != 0 && (v = getenv(item)) != NULL)
            local_env_add(env, item, v, NULL);
    }
    local_env_add(env, "HOME", who->home, f);
    local_env_add(env, "SHELL", who->shell, f);
    local_env_add(env, "USER", attr->addr->user, f);
    local_env_add(env, "LOGNAME", attr->addr->user, f);
    local_env_add(env, "LOCAL", attr->addr->local, f);
    local_env_add(env, "EXTENSION", attr->addr->extension, f);
    local_env_add(env, "DOMAIN", attr->addr->domain, f);
    local_env_add(env, "RECIPIENT", attr->address, f);
    local_env_add(env, "SENDER", attr->sender, f);
    local_env_add(env, "ORIGINAL_RECIPIENT",
                  *job->rcpt->orig ? job->rcpt->orig : job->rcpt->address, f);
    return env;
}

/* Feeds the message to the command: the prepended text, then the content. */
struct local_feed {
    struct buf *head;
    size_t head_pos;
    int fd;
    off_t offset, length, pos;
    char *chunk;
    size_t chunk_len, chunk_pos;
};

/* Refill the chunk; 1 more data, 0 end, -1 read error. */
static int local_feed_fill(struct local_feed *f)
{
    ssize_t n;

    if (f->chunk_pos < f->chunk_len)
        return 1;
    f->chunk_pos = f->chunk_len = 0;
    if (f->head_pos < buf_len(f->head)) {
        size_t n2 = buf_len(f->head) - f->head_pos;

        if (n2 > LOCAL_CMD_CHUNK)
            n2 = LOCAL_CMD_CHUNK;
        memcpy(f->chunk, buf_str(f->head) + f->head_pos, n2);
        f->head_pos += n2;
        f->chunk_len = n2;
        return 1;
    }
    if (f->pos >= f->length)
        return 0;
    do
        n = pread(
            f->fd, f->chunk,
            (size_t)(f->length - f->pos > LOCAL_CMD_CHUNK ? LOCAL_CMD_CHUNK : f->length - f->pos),
            f->offset + f->pos);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1;
    f->pos += n;
    f->chunk_len = (size_t)n;
    return 1;
}

/*
 * Run the command until it ends or the deadline passes. Returns 0 with the
 * wait status, or -1 with *why_r when it could not be started.
 */
static int local_command_run(struct local_job *job, const struct local_attr *attr,
                             const char *command, const struct local_creds *as,
                             const struct local_creds *env_user, int *status_r, bool *timed_out_r,
                             int *write_errno_r, struct buf *output, const char **why_r)
{
    const struct local_settings *s = job->set;
    struct argv *argv, *env;
    struct spawn_opts o;
    struct spawn_fd fds[3];
    struct local_feed feed;
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    long long deadline = clock_now_ms() + s->command_time_limit * 1000;
    bool write_done = false, read_done = false, exited = false;
    pid_t pid;
    int r;

    *timed_out_r = false;
    *write_errno_r = 0;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
        *why_r = "cannot create pipes";
        if (in[0] >= 0) {
            close(in[0]);
            close(in[1]);
        }
        return -1;
    }
    if (*s->local_command_shell) {
        argv = argv_split(s->local_command_shell, " \t");
    } else {
        argv = argv_create(4);
        argv_add(argv, "/bin/sh");
        argv_add(argv, "-c");
    }
    argv_add(argv, command);
    env = local_command_env(job, attr, as, env_user);

    memset(&o, 0, sizeof(o));
    fds[0].from = in[0];
    fds[0].to = 0;
    fds[1].from = out[1];
    fds[1].to = 1;
    fds[2].from = out[1];
    fds[2].to = 2;
    o.path = argv->argv[0];
    o.argv = argv->argv;
    o.envp = env->argv;
    o.fds = fds;
    o.nfds = 3;
    o.new_session = true;
    if (local_privs_root()) {
        o.set_ids = true;
        o.uid = as->uid;
        o.gid = as->gid;
        o.groups = as->groups;
        o.ngroups = as->ngroups;
    }
    pid = spawn_start(&o, why_r);
    close(in[0]);
    close(out[1]);
    argv_free(&argv);
    argv_free(&env);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        return -1;
    }
    (void)fcntl(in[1], F_SETFL, O_NONBLOCK);
    (void)fcntl(out[0], F_SETFL, O_NONBLOCK);

    memset(&feed, 0, sizeof(feed));
    feed.head = buf_create(256);
    {
        struct buf *hdrs = buf_create(256);

        mbox_from_line(feed.head, attr->sender, time(NULL));
        local_prepend_headers(hdrs, attr->sender,
                              s->prepend_delivered & LOCAL_PREPEND_COMMAND ? attr->delivered
                                                                           : NULL);
        buf_append(feed.head, buf_str(hdrs), buf_len(hdrs));
        buf_free(&hdrs);
    }
    feed.fd = job->fd;
    feed.offset = job->content_offset;
    feed.length = job->content_length;
    feed.chunk = mem_alloc(LOCAL_CMD_CHUNK);

    while (!read_done || !write_done) {
        struct pollfd p[2];
        nfds_t np = 0;
        long long left = clock_remaining_ms(deadline);
        int wait_ms;

        if (left == 0) {
            *timed_out_r = true;
            break;
        }
        if (!write_done) {
            p[np].fd = in[1];
            p[np].events = POLLOUT;
            np++;
        }
        if (!read_done) {
            p[np].fd = out[0];
            p[np].events = POLLIN;
            np++;
        }
        /* Wake up now and then: the command may be gone while a child of it holds the pipe. */
        wait_ms = left > 200 ? 200 : (int)left;
        int ready = poll(p, np, wait_ms);

        if (ready < 0 && errno != EINTR) {
            *write_errno_r = errno;
            break;
        }
        for (nfds_t i = 0; ready > 0 && i < np; i++) {
            if (p[i].revents == 0)
                continue;
            if (p[i].fd == in[1]) {
                int more = local_feed_fill(&feed);

                if (more < 0) {
                    *write_errno_r = EIO;
                    write_done = true;
                } else if (more == 0) {
                    write_done = true;
                } else {
                    ssize_t n =
                        write(in[1], feed.chunk + feed.chunk_pos, feed.chunk_len - feed.chunk_pos);

                    if (n > 0)
                        feed.chunk_pos += (size_t)n;
                    else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        *write_errno_r = errno;
                        write_done = true;
                    }
                }
                if (write_done) {
                    close(in[1]);
                    in[1] = -1;
                }
            } else {
                char data[4096];
                ssize_t n = read(out[0], data, sizeof(data));

                if (n > 0) {
                    size_t keep =
                        buf_len(output) < LOCAL_OUTPUT_MAX ? LOCAL_OUTPUT_MAX - buf_len(output) : 0;

                    buf_append(output, data, (size_t)n < keep ? (size_t)n : keep);
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    read_done = true;
                }
            }
        }
        /* The command exited: what it did not read, it will not read. */
        if (!exited && (r = spawn_wait(pid, status_r, true)) != 0) {
            exited = true;
            if (r < 0)
                msg_fatal("waitpid %ld: %m", (long)pid);
            if (!write_done) {
                write_done = true;
                *write_errno_r = EPIPE;
                close(in[1]);
                in[1] = -1;
            }
            /* Keep the output already in the pipe; do not wait for grandchildren. */
            for (;;) {
                char data[4096];
                ssize_t n = read(out[0], data, sizeof(data));

                if (n <= 0)
                    break;
                if (buf_len(output) < LOCAL_OUTPUT_MAX)
                    buf_append(output, data,
                               (size_t)n < LOCAL_OUTPUT_MAX - buf_len(output)
                                   ? (size_t)n
                                   : LOCAL_OUTPUT_MAX - buf_len(output));
            }
            read_done = true;
        }
    }
    if (in[1] >= 0)
        close(in[1]);
    close(out[0]);
    buf_free(&feed.head);
    mem_free(feed.chunk);

    if (*timed_out_r)
        (void)kill(-pid, SIGKILL);
    if (!exited) {
        long long left = *timed_out_r ? LOCAL_CMD_REAP_MS : clock_remaining_ms(deadline);

        r = spawn_wait_timeout(pid, status_r, (int)(left > 0 ? left : 1));
        if (r == 0) {
            /* Still running at the deadline. */
            *timed_out_r = true;
            (void)kill(-pid, SIGKILL);
            (void)kill(pid, SIGKILL);
            r = spawn_wait(pid, status_r, false);
        }
        if (r < 0)
            msg_fatal("waitpid %ld: %m", (long)pid);
    }
    return 0;
}

/* Deliver to command with the rights of creds (see the file comment). */
void local_command(struct local_job *job, const struct local_attr *attr, const char *command,
                   const struct local_creds *creds, const struct local_creds *env_user)
{
    struct local_creds *as = NULL;
    struct local_cmd_outcome o;
    struct buf *key, *output, *text;
    const char *why;
    long long start = clock_now_ms();
    int status = 0, write_errno = 0;
    bool timed_out = false, seen;

    if (local_exec_creds(job, creds, &as, &why) < 0) {
        msg_warn("%s: command %s: %s", job->req->queue_id, command, why);
        local_leaf(job, attr, DELIVER_DEFERRED, "4.3.0", "", 0,
                   "cannot deliver to command \"%s\": %s", command, why);
        return;
    }
    key = buf_create(64);
    buf_printf(key, "command %lu %s", (unsigned long)as->uid, command);
    seen = local_dups_seen(job->dups, buf_str(key));
    buf_free(&key);
    if (seen) {
        local_creds_free(&as);
        return;
    }
    output = buf_create(256);
    text = buf_create(256);
    if (local_command_run(job, attr, command, as, env_user, &status, &timed_out, &write_errno,
                          output, &why) < 0) {
        msg_warn("%s: cannot run command %s: %s", job->req->queue_id, command, why);
        local_leaf(job, attr, DELIVER_DEFERRED, "4.3.0", "", clock_now_ms() - start,
                   "cannot run command \"%s\"", command);
    } else {
        local_command_judge(status, timed_out, write_errno, command, buf_str(output), &o, text);
        if (o.status == DELIVER_SENT)
            local_leaf(job, attr, DELIVER_SENT, o.dsn, "delivered", clock_now_ms() - start,
                       "delivered to command: %s", command);
        else
            local_leaf(job, attr, o.status, o.dsn, "", clock_now_ms() - start, "%s", buf_str(text));
    }
    buf_free(&output);
    buf_free(&text);
    local_creds_free(&as);
}
