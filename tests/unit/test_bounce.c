/*
 * Unit tests for lib/mail bounce: the structure of the generated DSNs
 * (multipart/report, delivery-status fields per message and per recipient,
 * the returned original), RET=FULL/HDRS, bounce_size_limit, SMTPUTF8,
 * DSN NOTIFY filtering, null sender and double bounces, postmaster copies,
 * a MIME boundary that never occurs in the content, masking of hostile
 * diagnostics, and the queue file that bounce_queue_dsn() writes.
 */
#include "config.h"

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/mail/bounce.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/queue_id.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "tests/unit/test.h"

#define HOST "mx.test.example"

static char topdir[256];
static char incoming[300], out_dir[300];

/* ------------------------------------------------------------ helpers */

/* nftw callback: remove one entry. */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Empty a directory (keep it). */
static void clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[600];

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

/* Number of .msg files in dir. */
static int count_files(const char *dir)
{
    struct argv *ids = argv_create(4);
    const char *why;
    int n = queue_file_list(dir, ids, &why);

    argv_free(&ids);
    return n;
}

/* Options of one test original. */
struct orig_spec {
    const char *sender;
    const char *envid;
    enum queue_ret ret;
    unsigned flags;
    enum queue_body body;
    const char *content;
    unsigned notify[3];
};

static const char std_content[] = "Received: from client.example by " HOST "\n"
                                  "Message-ID: <orig.1234@client.example>\n"
                                  "Subject: test message\n"
                                  "From: Sender <sender@client.example>\n"
                                  "To: a@dest.example\n"
                                  "\n"
                                  "Body line one.\n"
                                  "Body line two: the unique body marker.\n";

/* Create an original with three recipients and open it for reading. */
static struct queue_file *make_original(const struct orig_spec *spec)
{
    struct queue_file *w, *r;
    const char *why;
    char path[600];
    const char *content = spec->content ? spec->content : std_content;

    if (queue_file_create(incoming, NULL, &w, &why) < 0)
        msg_fatal("create: %s", why);
    if (queue_file_set_str(w, QUEUE_F_SENDER, spec->sender ? spec->sender : "sender@client.example",
                           &why) < 0 ||
        (spec->envid && queue_file_set_str(w, QUEUE_F_ENVID, spec->envid, &why) < 0) ||
        queue_file_set_ret(w, spec->ret, &why) < 0 ||
        queue_file_set_flags(w, spec->flags, &why) < 0 ||
        queue_file_set_body(w, spec->body, &why) < 0 ||
        queue_file_add_rcpt(w, "a@dest.example", NULL, "rfc822;A+2Borig@dest.example",
                            spec->notify[0], &why) < 0 ||
        queue_file_add_rcpt(w, "b@dest.example", "alias@dest.example", NULL, spec->notify[1],
                            &why) < 0 ||
        queue_file_add_rcpt(w, "c@dest.example", NULL, NULL, spec->notify[2], &why) < 0 ||
        queue_file_write(w, content, strlen(content), &why) < 0 || queue_file_commit(w, &why) < 0)
        msg_fatal("write original: %s", why);
    snprintf(path, sizeof(path), "%s", queue_file_path(w));
    queue_file_free(&w);
    if (queue_file_open(path, QUEUE_OPEN_RDWR, &r, &why) != 1)
        msg_fatal("open original: %s", why);
    return r;
}

/* Remove the original's file and release it. */
static void drop_original(struct queue_file **qfp)
{
    unlink(queue_file_path(*qfp));
    queue_file_free(qfp);
}

/* The two failed recipients of most tests. */
static const struct bounce_rcpt failed_rcpts[] = {
    {.index = 0,
     .dsn = "5.1.1",
     .mta = "mx.dest.example[192.0.2.7]",
     .text = "smtp; 550 5.1.1 <a@dest.example>: Recipient address rejected: User unknown"},
    {.index = 1, .dsn = "5.2.2", .text = "x-unix; mailbox full"},
};

/* Format a notification; returns its text (caller frees) or NULL with *ret_r. */
static char *format(struct queue_file *qf, enum bounce_kind kind, const struct bounce_rcpt *rcpts,
                    size_t count, int *ret_r, struct bounce_message **msg_r)
{
    struct bounce_request req = {.kind = kind,
                                 .qf = qf,
                                 .rcpts = rcpts,
                                 .rcpt_count = count,
                                 .retry_until =
                                     kind == BOUNCE_DELAYED ? (int64_t)time(NULL) + 5 * 86400 : 0};
    struct bounce_message *msg;
    const char *why;
    char *text;

    *ret_r = bounce_format(&req, "0123456789ABCDEF", &msg, &why);
    if (*ret_r <= 0)
        return NULL;
    text = mem_strdup(buf_str(msg->text));
    if (msg_r)
        *msg_r = msg;
    else
        bounce_message_free(&msg);
    return text;
}

/* The boundary parameter of the top-level Content-Type. */
static char *get_boundary(const char *text)
{
    const char *p = strstr(text, "boundary=\"");
    const char *end;

    if (p == NULL)
        return NULL;
    p += strlen("boundary=\"");
    end = strchr(p, '"');
    return end ? mem_strndup(p, (size_t)(end - p)) : NULL;
}

/* Count lines equal to line. */
static int count_lines(const char *text, const char *line)
{
    size_t len = strlen(line);
    int n = 0;

    for (const char *p = text; p && *p;) {
        if (strncmp(p, line, len) == 0 && (p[len] == '\n' || p[len] == 0))
            n++;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return n;
}

/* Does text have a line that starts with prefix? */
static bool has_line(const char *text, const char *prefix)
{
    size_t len = strlen(prefix);

    for (const char *p = text; p && *p;) {
        if (strncmp(p, prefix, len) == 0)
            return true;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return false;
}

/* The MIME part n (1-based) of text, without its boundary line; caller frees. */
static char *get_part(const char *text, int n)
{
    char *b = get_boundary(text);
    struct buf *delim = buf_create(64);
    const char *p = text, *end;
    char *part = NULL;

    if (b == NULL) {
        buf_free(&delim);
        return NULL;
    }
    buf_printf(delim, "\n--%s", b);
    for (int i = 0; i < n && p; i++) {
        p = strstr(p, buf_str(delim));
        if (p)
            p += buf_len(delim);
    }
    if (p && *p == '\n') {
        p++;
        end = strstr(p, buf_str(delim));
        if (end)
            part = mem_strndup(p, (size_t)(end - p));
    }
    mem_free(b);
    buf_free(&delim);
    return part;
}

/* Check the overall multipart/report structure. */
static void check_structure(const char *text)
{
    char *b = get_boundary(text);
    struct buf *line = buf_create(64);

    CHECK(b != NULL);
    if (b == NULL)
        return;
    CHECK(
        strstr(text, "Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=") !=
        NULL);
    buf_printf(line, "--%s", b);
    CHECK_INTEQ(count_lines(text, buf_str(line)), 3);
    buf_printf(line, "--");
    CHECK_INTEQ(count_lines(text, buf_str(line)), 1);
    /* The boundary occurs only on delimiter lines and in the header parameter. */
    int occurrences = 0;
    for (const char *p = strstr(text, b); p; p = strstr(p + 1, b))
        occurrences++;
    CHECK_INTEQ(occurrences, 5);
    CHECK(has_line(text, "From: MAILER-DAEMON@" HOST " (Mail Delivery System)"));
    CHECK(has_line(text, "MIME-Version: 1.0"));
    CHECK(has_line(text, "Date: "));
    CHECK(has_line(text, "Message-ID: <"));
    /* The header block ends before the preamble. */
    CHECK(strstr(text, "\n\nThis is a MIME-encapsulated message.\n") != NULL);
    mem_free(b);
    buf_free(&line);
}

/* Reset the parameters the tests change. */
static void reset_params(void)
{
    const char *why;

    config_reset();
    if (config_override("myhostname", HOST, &why) < 0 ||
        config_override("notify_classes", "resource, software", &why) < 0)
        msg_fatal("override: %s", why);
}

/* Set one parameter. */
static void set_param(const char *name, const char *value)
{
    const char *why;

    if (config_override(name, value, &why) < 0)
        msg_fatal("override %s: %s", name, why);
}

/* ------------------------------------------------------------ tests */

/* Non-delivery, RET=FULL: every part and field. */
static void test_failed_full(void)
{
    struct orig_spec spec = {.envid = "env+2Bid-42", .ret = QUEUE_RET_FULL};
    struct queue_file *qf = make_original(&spec);
    struct bounce_message *msg = NULL;
    int ret;
    char *text = format(qf, BOUNCE_FAILED, failed_rcpts, 2, &ret, &msg);

    CHECK_INTEQ(ret, 1);
    if (text == NULL) {
        drop_original(&qf);
        return;
    }
    CHECK_STREQ(msg->recipient, "sender@client.example");
    CHECK_STREQ(msg->sender, "");
    check_structure(text);
    CHECK(has_line(text, "Subject: Undelivered Mail Returned to Sender"));
    CHECK(has_line(text, "To: sender@client.example"));
    CHECK(has_line(text, "Auto-Submitted: auto-replied"));
    CHECK(has_line(text, "References: <orig.1234@client.example>"));
    CHECK(has_line(text, "In-Reply-To: <orig.1234@client.example>"));
    CHECK(!has_line(text, "Content-Transfer-Encoding:"));

    char *p1 = get_part(text, 1), *p2 = get_part(text, 2), *p3 = get_part(text, 3);
    CHECK(p1 && p2 && p3);
    if (p1 && p2 && p3) {
        CHECK(has_line(p1, "Content-Type: text/plain; charset=us-ascii"));
        CHECK(strstr(p1, "This is the mail system at host " HOST ".") != NULL);
        CHECK(strstr(p1, "I'm sorry to have to inform you that your message could not") != NULL);
        CHECK(has_line(p1, "<a@dest.example>: host mx.dest.example[192.0.2.7] said: 550 5.1.1"));
        CHECK(has_line(p1, "<b@dest.example> (expanded from <alias@dest.example>): mailbox full"));
        CHECK(strstr(p1, "c@dest.example") == NULL);

        CHECK(has_line(p2, "Content-Type: message/delivery-status"));
        CHECK(has_line(p2, "Reporting-MTA: dns; " HOST));
        CHECK(has_line(p2, "Original-Envelope-Id: env+id-42"));
        char want[100];
        snprintf(want, sizeof(want), "X-Postel-Queue-ID: %s", queue_file_id(qf));
        CHECK(has_line(p2, want));
        CHECK(has_line(p2, "X-Postel-Sender: rfc822; sender@client.example"));
        CHECK(has_line(p2, "Arrival-Date: "));
        CHECK(has_line(p2, "Final-Recipient: rfc822; a@dest.example"));
        CHECK(has_line(p2, "Original-Recipient: rfc822; A+orig@dest.example"));
        CHECK(has_line(p2, "Final-Recipient: rfc822; b@dest.example"));
        CHECK(has_line(p2, "Original-Recipient: rfc822; alias@dest.example"));
        CHECK_INTEQ(count_lines(p2, "Action: failed"), 2);
        CHECK(has_line(p2, "Status: 5.1.1"));
        CHECK(has_line(p2, "Status: 5.2.2"));
        CHECK(has_line(p2, "Remote-MTA: dns; mx.dest.example"));
        CHECK(has_line(p2, "Diagnostic-Code: smtp; 550 5.1.1 <a@dest.example>: Recipient address"));
        CHECK(has_line(p2, "Diagnostic-Code: x-unix; mailbox full"));
        CHECK(has_line(p2, "Last-Attempt-Date: "));
        CHECK(!has_line(p2, "Will-Retry-Until:"));
        CHECK(strstr(p2, "c@dest.example") == NULL);
        /* Per-message fields, then one block per recipient, separated by empty lines. */
        CHECK(strstr(p2, "\n\nFinal-Recipient: rfc822; a@dest.example\n") != NULL);

        CHECK(has_line(p3, "Content-Description: Undelivered Message"));
        CHECK(has_line(p3, "Content-Type: message/rfc822"));
        CHECK(has_line(p3, "Return-Path: <sender@client.example>"));
        CHECK(strstr(p3, std_content) != NULL);
    }
    mem_free(p1);
    mem_free(p2);
    mem_free(p3);
    mem_free(text);
    bounce_message_free(&msg);
    drop_original(&qf);
}

/* RET=HDRS: the headers only, as text/rfc822-headers. */
static void test_failed_hdrs(void)
{
    struct orig_spec spec = {.ret = QUEUE_RET_HDRS};
    struct queue_file *qf = make_original(&spec);
    int ret;
    char *text = format(qf, BOUNCE_FAILED, failed_rcpts, 2, &ret, NULL);
    char *p3 = text ? get_part(text, 3) : NULL;

    CHECK_INTEQ(ret, 1);
    CHECK(p3 != NULL);
    if (p3) {
        check_structure(text);
        CHECK(has_line(p3, "Content-Description: Undelivered Message Headers"));
        CHECK(has_line(p3, "Content-Type: text/rfc822-headers"));
        CHECK(has_line(p3, "Subject: test message"));
        CHECK(has_line(p3, "To: a@dest.example"));
        CHECK(strstr(p3, "unique body marker") == NULL);
        CHECK(strstr(text, "unique body marker") == NULL);
    }
    mem_free(p3);
    mem_free(text);
    drop_original(&qf);
}

/* Over bounce_size_limit: headers only, even with RET=FULL; at the limit: whole. */
static void test_size_limit(void)
{
    struct orig_spec spec = {.ret = QUEUE_RET_FULL};
    struct queue_file *qf = make_original(&spec);
    int ret;
    char limit[32];
    char *text, *p3;

    snprintf(limit, sizeof(limit), "%zu", strlen(std_content) - 1);
    set_param("bounce_size_limit", limit);
    text = format(qf, BOUNCE_FAILED, failed_rcpts, 2, &ret, NULL);
    p3 = text ? get_part(text, 3) : NULL;
    CHECK(p3 != NULL);
    if (p3) {
        CHECK(has_line(p3, "Content-Type: text/rfc822-headers"));
        CHECK(has_line(p3, "Message-ID: <orig.1234@client.example>"));
        CHECK(strstr(p3, "unique body marker") == NULL);
    }
    mem_free(p3);
    mem_free(text);

    snprintf(limit, sizeof(limit), "%zu", strlen(std_content));
    set_param("bounce_size_limit", limit);
    text = format(qf, BOUNCE_FAILED, failed_rcpts, 2, &ret, NULL);
    p3 = text ? get_part(text, 3) : NULL;
    CHECK(p3 != NULL);
    if (p3) {
        CHECK(has_line(p3, "Content-Type: message/rfc822"));
        CHECK(strstr(p3, "unique body marker") != NULL);
    }
    mem_free(p3);
    mem_free(text);

    /* 0: no limit. */
    set_param("bounce_size_limit", "0");
    text = format(qf, BOUNCE_FAILED, failed_rcpts, 2, &ret, NULL);
    CHECK(text && strstr(text, "unique body marker") != NULL);
    mem_free(text);
    reset_params();
    drop_original(&qf);
}

/* SMTPUTF8: message/global-delivery-status, message/global, utf-8 address type. */
static void test_smtputf8(void)
{
    struct orig_spec spec = {.sender = "s\xc3\xa9nder@client.example",
                             .flags = QUEUE_FLAG_SMTPUTF8,
                             .body = QUEUE_BODY_8BITMIME};
    struct queue_file *qf = make_original(&spec);
    int ret;
    char *text = format(qf, BOUNCE_FAILED, failed_rcpts, 2, &ret, NULL);

    CHECK_INTEQ(ret, 1);
    if (text) {
        check_structure(text);
        CHECK(has_line(text, "Content-Transfer-Encoding: 8bit"));
        CHECK(has_line(text, "To: s\xc3\xa9nder@client.example"));
        CHECK(has_line(text, "Content-Type: text/plain; charset=utf-8"));
        CHECK(has_line(text, "Content-Type: message/global-delivery-status"));
        CHECK(has_line(text, "Content-Type: message/global"));
        CHECK(has_line(text, "X-Postel-Sender: utf-8; s\xc3\xa9nder@client.example"));
        CHECK(has_line(text, "Final-Recipient: rfc822; a@dest.example"));
        CHECK(has_line(text, "Return-Path: <s\xc3\xa9nder@client.example>"));
    }
    mem_free(text);

    /* RET=HDRS with SMTPUTF8: message/global-headers. */
    drop_original(&qf);
    spec.ret = QUEUE_RET_HDRS;
    qf = make_original(&spec);
    text = format(qf, BOUNCE_FAILED, failed_rcpts, 2, &ret, NULL);
    CHECK(text && has_line(text, "Content-Type: message/global-headers"));
    mem_free(text);
    drop_original(&qf);
}

/* Without SMTPUTF8, 8-bit and control bytes in diagnostics are masked. */
static void test_masking(void)
{
    struct orig_spec spec = {0};
    struct queue_file *qf = make_original(&spec);
    static const struct bounce_rcpt evil[] = {
        {.index = 0,
         .dsn = "5.7.1",
         .text = "smtp; 550 bad\r\nX-Evil: injected\n--fake-boundary\n\x01\xff end"},
    };
    int ret;
    char *text = format(qf, BOUNCE_FAILED, evil, 1, &ret, NULL);

    CHECK_INTEQ(ret, 1);
    if (text) {
        check_structure(text);
        CHECK(!has_line(text, "X-Evil"));
        CHECK(!has_line(text, "--fake-boundary"));
        CHECK(strstr(text, "\xff") == NULL);
        CHECK(strstr(text, "\x01") == NULL);
        CHECK(strstr(text, "bad??X-Evil: injected?--fake-boundary??? end") != NULL);
    }
    mem_free(text);
    drop_original(&qf);
}

/* Long diagnostics are wrapped at 79 columns with a 4-space indent. */
static void test_wrap(void)
{
    struct orig_spec spec = {0};
    struct queue_file *qf = make_original(&spec);
    struct buf *diag = buf_create(512);
    int ret;

    buf_puts(diag, "smtp; 550 5.1.1");
    for (int i = 0; i < 40; i++)
        buf_printf(diag, " word%02d", i);
    struct bounce_rcpt r = {.index = 0, .dsn = "5.1.1", .text = buf_str(diag)};
    char *text = format(qf, BOUNCE_FAILED, &r, 1, &ret, NULL);

    CHECK(text != NULL);
    if (text) {
        char *p2 = get_part(text, 2);
        CHECK(p2 && has_line(p2, "Diagnostic-Code: smtp; 550 5.1.1 word00"));
        CHECK(p2 && has_line(p2, "    word"));
        for (const char *p = text; *p;) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);

            CHECK(len <= 79 || memchr(p, ' ', len) == NULL || strncmp(p, "Message-ID", 10) == 0);
            p = nl ? nl + 1 : p + len;
        }
        /* The folded field unfolds to the original text. */
        const char *f = p2 ? strstr(p2, "Diagnostic-Code: ") : NULL;
        if (f) {
            struct buf *unfolded = buf_create(512);
            f += strlen("Diagnostic-Code: ");
            for (; *f; f++) {
                if (*f == '\n' && f[1] == ' ') {
                    buf_putc(unfolded, ' ');
                    while (f[1] == ' ')
                        f++;
                } else if (*f == '\n')
                    break;
                else
                    buf_putc(unfolded, *f);
            }
            CHECK_STREQ(buf_str(unfolded), buf_str(diag));
            buf_free(&unfolded);
        }
        mem_free(p2);
    }
    mem_free(text);
    buf_free(&diag);
    drop_original(&qf);
}

/* DSN NOTIFY decides who is reported. */
static void test_notify_filter(void)
{
    struct orig_spec spec = {.notify = {QUEUE_NOTIFY_NEVER, QUEUE_NOTIFY_SUCCESS, 0}};
    struct queue_file *qf = make_original(&spec);
    int ret;
    char *text = format(qf, BOUNCE_FAILED, failed_rcpts, 2, &ret, NULL);

    /* NEVER and SUCCESS-only recipients get no failure report. */
    CHECK_INTEQ(ret, 0);
    CHECK(text == NULL);
    mem_free(text);

    /* A success report goes to the NOTIFY=SUCCESS one only. */
    static const struct bounce_rcpt ok[] = {
        {.index = 1,
         .action = BOUNCE_ACTION_DELIVERED,
         .dsn = "2.0.0",
         .text = "x-unix; delivered to mailbox"},
        {.index = 2, .action = BOUNCE_ACTION_DELIVERED, .dsn = "2.0.0"},
    };
    text = format(qf, BOUNCE_SUCCESS, ok, 2, &ret, NULL);
    CHECK_INTEQ(ret, 1);
    if (text) {
        check_structure(text);
        CHECK(has_line(text, "Subject: Successful Mail Delivery Report"));
        CHECK(has_line(text, "Final-Recipient: rfc822; b@dest.example"));
        CHECK(strstr(text, "c@dest.example") == NULL);
        CHECK(has_line(text, "Action: delivered"));
        CHECK(has_line(text, "Status: 2.0.0"));
        CHECK(has_line(text, "Content-Type: text/rfc822-headers"));
        CHECK(has_line(text, "Content-Description: Message Headers"));
        CHECK(strstr(text, "Your message was successfully delivered") != NULL);
    }
    mem_free(text);
    drop_original(&qf);

    /* NOTIFY=FAILURE,DELAY explicitly, relayed action. */
    struct orig_spec spec2 = {.notify = {QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_SUCCESS, 0, 0}};
    qf = make_original(&spec2);
    static const struct bounce_rcpt relayed[] = {
        {.index = 0,
         .action = BOUNCE_ACTION_RELAYED,
         .dsn = "2.0.0",
         .mta = "relay.example[192.0.2.9]",
         .text = "smtp; 250 2.0.0 Ok: queued"},
    };
    text = format(qf, BOUNCE_SUCCESS, relayed, 1, &ret, NULL);
    CHECK_INTEQ(ret, 1);
    CHECK(text && has_line(text, "Action: relayed"));
    CHECK(text && has_line(text, "Remote-MTA: dns; relay.example"));
    mem_free(text);
    drop_original(&qf);
}

/* Delay warnings: Action delayed, Will-Retry-Until, headers only, warning text. */
static void test_delayed(void)
{
    struct orig_spec spec = {.ret = QUEUE_RET_FULL,
                             .notify = {QUEUE_NOTIFY_DELAY, QUEUE_NOTIFY_FAILURE, 0}};
    struct queue_file *qf = make_original(&spec);
    static const struct bounce_rcpt delayed[] = {
        {.index = 0,
         .dsn = "4.4.1",
         .mta = "mx.dest.example[192.0.2.7]",
         .text = "smtp; 421 4.4.1 try again later"},
        {.index = 1, .dsn = "4.4.1"},
        {.index = 2, .dsn = "4.2.2", .text = "x-unix; over quota"},
    };
    int ret;
    char *text = format(qf, BOUNCE_DELAYED, delayed, 3, &ret, NULL);

    CHECK_INTEQ(ret, 1);
    if (text) {
        check_structure(text);
        CHECK(has_line(text, "Subject: Delayed Mail (still being retried)"));
        CHECK(
            strstr(text, "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #") !=
            NULL);
        CHECK(strstr(text, "It will be retried until it is 5 day(s) old.") != NULL);
        CHECK_INTEQ(count_lines(text, "Action: delayed"), 2); /* a (DELAY) and c (no NOTIFY) */
        CHECK(strstr(text, "Final-Recipient: rfc822; b@dest.example") == NULL);
        CHECK(has_line(text, "Will-Retry-Until: "));
        CHECK(has_line(text, "Content-Type: text/rfc822-headers"));
        CHECK(strstr(text, "unique body marker") == NULL);
    }
    mem_free(text);
    drop_original(&qf);
}

/* Diagnostics come from the queue file when the request has none. */
static void test_diag_from_file(void)
{
    struct orig_spec spec = {0};
    struct queue_file *qf = make_original(&spec);
    struct queue_slot slot = {.status = QUEUE_BOUNCED, .attempts = 1};
    struct queue_diag diag = {.status = QUEUE_BOUNCED,
                              .dsn = "5.4.4",
                              .mta = "mx.gone.example[192.0.2.44]",
                              .text = "smtp; 554 5.4.4 no route to host"};
    struct bounce_rcpt r[] = {{.index = 2}, {.index = 1}};
    const char *why;
    int ret;

    CHECK_INTEQ(queue_file_rcpt_update(qf, 2, &slot, &diag, 0, &why), 0);
    char *text = format(qf, BOUNCE_FAILED, r, 2, &ret, NULL);
    CHECK_INTEQ(ret, 1);
    if (text) {
        CHECK(has_line(text, "Status: 5.4.4"));
        CHECK(has_line(text, "Remote-MTA: dns; mx.gone.example"));
        CHECK(has_line(text, "Diagnostic-Code: smtp; 554 5.4.4 no route to host"));
        /* No diagnostic anywhere: the default code of the kind. */
        CHECK(has_line(text, "Status: 5.0.0"));
        CHECK(has_line(text,
                       "<b@dest.example> (expanded from <alias@dest.example>): delivery failed"));
    }
    mem_free(text);
    drop_original(&qf);
}

/* The boundary never occurs in the content, even when the content predicts it. */
static void test_boundary_collision(void)
{
    struct queue_file *w, *qf;
    const char *why;
    struct buf *content = buf_create(1024);
    char path[600];
    time_t now = time(NULL);

    if (queue_file_create(incoming, NULL, &w, &why) < 0)
        msg_fatal("create: %s", why);
    buf_puts(content, "Subject: collide\n\n");
    for (time_t t = now - 2; t < now + 30; t++)
        buf_printf(content, "--%s.%lld/%s\n", queue_file_id(w), (long long)t, HOST);
    CHECK(queue_file_set_str(w, QUEUE_F_SENDER, "s@client.example", &why) == 0);
    CHECK(queue_file_add_rcpt(w, "a@dest.example", NULL, NULL, 0, &why) == 0);
    CHECK(queue_file_write(w, buf_str(content), buf_len(content), &why) == 0);
    CHECK(queue_file_commit(w, &why) == 0);
    snprintf(path, sizeof(path), "%s", queue_file_path(w));
    queue_file_free(&w);
    CHECK_INTEQ(queue_file_open(path, 0, &qf, &why), 1);

    struct bounce_rcpt r = {.index = 0, .dsn = "5.1.1"};
    int ret;
    char *text = format(qf, BOUNCE_FAILED, &r, 1, &ret, NULL);
    CHECK_INTEQ(ret, 1);
    if (text) {
        char *b = get_boundary(text);
        CHECK(b != NULL && strstr(buf_str(content), b) == NULL);
        CHECK(strstr(text, buf_str(content)) != NULL);
        check_structure(text);
        mem_free(b);
    }
    mem_free(text);
    buf_free(&content);
    drop_original(&qf);
}

/* Null sender: no notification to <>; double bounce by notify_classes. */
static void test_null_sender(void)
{
    struct orig_spec spec = {.sender = ""};
    struct queue_file *qf = make_original(&spec);
    struct bounce_request req = {.kind = BOUNCE_FAILED,
                                 .qf = qf,
                                 .rcpts = failed_rcpts,
                                 .rcpt_count = 2,
                                 .incoming_dir = out_dir};
    char qid[QUEUE_ID_SIZE] = "x";
    const char *why;

    /* Without 2bounce in notify_classes: dropped, as Postfix's default does. */
    CHECK_INTEQ(bounce_queue_dsn(&req, qid, &why), 0);
    CHECK_STREQ(qid, "");
    CHECK_INTEQ(count_files(out_dir), 0);

    /* notify_classes = 2bounce: to 2bounce_notice_recipient, from double-bounce. */
    set_param("notify_classes", "2bounce");
    set_param("2bounce_notice_recipient", "hostmaster@" HOST);
    CHECK_INTEQ(bounce_queue_dsn(&req, qid, &why), 1);
    CHECK(queue_id_valid(qid));
    CHECK_INTEQ(count_files(out_dir), 1);

    struct queue_file *dsn;
    struct buf *path = buf_create(64);
    queue_file_name(path, out_dir, qid);
    CHECK_INTEQ(queue_file_open(buf_str(path), QUEUE_OPEN_VERIFY, &dsn, &why), 1);
    if (dsn) {
        const struct queue_envelope *env = queue_file_envelope(dsn);
        CHECK_STREQ(env->sender, "double-bounce@" HOST);
        CHECK_INTEQ(env->rcpt_count, 1);
        CHECK_STREQ(env->rcpts[0].address, "hostmaster@" HOST);
        queue_file_free(&dsn);
    }
    struct bounce_message *msg;
    CHECK_INTEQ(bounce_format(&req, NULL, &msg, &why), 1);
    if (msg) {
        const char *text = buf_str(msg->text);
        CHECK(has_line(text, "Subject: Postmaster Copy: Undelivered Mail"));
        CHECK(has_line(text, "Auto-Submitted: auto-generated"));
        CHECK(has_line(text, "Content-Type: message/rfc822"));
        CHECK(strstr(text, "unique body marker") != NULL);
        CHECK(strstr(text, "I'm sorry") == NULL);
        bounce_message_free(&msg);
    }
    /* No delay warnings or success reports for <>. */
    req.kind = BOUNCE_SUCCESS;
    CHECK_INTEQ(bounce_queue_dsn(&req, qid, &why), 0);
    req.kind = BOUNCE_DELAYED;
    CHECK_INTEQ(bounce_queue_dsn(&req, qid, &why), 0);
    CHECK_INTEQ(count_files(out_dir), 1);
    clear_dir(out_dir);
    buf_free(&path);
    reset_params();
    drop_original(&qf);

    /* A double bounce that fails is discarded, whatever notify_classes says. */
    set_param("notify_classes", "bounce, 2bounce, delay");
    spec.sender = "Double-Bounce@" HOST;
    qf = make_original(&spec);
    req.qf = qf;
    req.kind = BOUNCE_FAILED;
    CHECK_INTEQ(bounce_queue_dsn(&req, qid, &why), 0);
    CHECK_INTEQ(count_files(out_dir), 0);
    reset_params();
    drop_original(&qf);
}

/* bounce_queue_dsn: the queue file, and the postmaster copy by notify_classes. */
static void test_queue_file(void)
{
    struct orig_spec spec = {.ret = QUEUE_RET_FULL, .envid = "E1"};
    struct queue_file *qf = make_original(&spec);
    struct bounce_request req = {.kind = BOUNCE_FAILED,
                                 .qf = qf,
                                 .rcpts = failed_rcpts,
                                 .rcpt_count = 2,
                                 .incoming_dir = out_dir};
    char qid[QUEUE_ID_SIZE];
    const char *why;

    set_param("notify_classes", "bounce");
    set_param("bounce_notice_recipient", "pm@" HOST);
    CHECK_INTEQ(bounce_queue_dsn(&req, qid, &why), 1);
    CHECK_INTEQ(count_files(out_dir), 2);

    struct argv *ids = argv_create(4);
    CHECK_INTEQ(queue_file_list(out_dir, ids, &why), 2);
    int seen_sender = 0, seen_pm = 0;
    for (size_t i = 0; i < ids->argc; i++) {
        struct buf *path = buf_create(64);
        struct queue_file *dsn;

        queue_file_name(path, out_dir, ids->argv[i]);
        CHECK_INTEQ(queue_file_open(buf_str(path), QUEUE_OPEN_VERIFY, &dsn, &why), 1);
        if (dsn) {
            const struct queue_envelope *env = queue_file_envelope(dsn);
            struct buf *content = buf_create(4096);
            char chunk[4096];
            size_t n;

            while (queue_file_content_read(dsn, chunk, sizeof(chunk), &n, &why) > 0 && n > 0)
                buf_append(content, chunk, n);
            check_structure(buf_str(content));
            if (strcmp(env->rcpts[0].address, "sender@client.example") == 0) {
                seen_sender++;
                CHECK_STREQ(ids->argv[i], qid);
                CHECK_STREQ(env->sender, "");
                CHECK(strstr(buf_str(content), "unique body marker") != NULL);
                CHECK(has_line(buf_str(content), "Original-Envelope-Id: E1"));
            } else if (strcmp(env->rcpts[0].address, "pm@" HOST) == 0) {
                seen_pm++;
                CHECK_STREQ(env->sender, "double-bounce@" HOST);
                CHECK(has_line(buf_str(content), "Subject: Postmaster Copy: Undelivered Mail"));
                CHECK(has_line(buf_str(content), "Content-Type: text/rfc822-headers"));
                CHECK(strstr(buf_str(content), "unique body marker") == NULL);
            }
            buf_free(&content);
            queue_file_free(&dsn);
        }
        buf_free(&path);
    }
    CHECK_INTEQ(seen_sender, 1);
    CHECK_INTEQ(seen_pm, 1);
    argv_free(&ids);
    clear_dir(out_dir);

    /* An unwritable incoming directory: -1 with a reason, nothing left behind. */
    req.incoming_dir = "/nonexistent/incoming";
    CHECK_INTEQ(bounce_queue_dsn(&req, qid, &why), -1);
    CHECK_STREQ(qid, "");
    reset_params();
    drop_original(&qf);
}

/* An original without a header block or final newline still gives a valid DSN. */
static void test_odd_content(void)
{
    static const char *contents[] = {
        "no header here, just text without newline",
        "",
        "Subject: only headers, no newline",
        "\n\nbody after empty header block\n",
    };

    for (size_t i = 0; i < sizeof(contents) / sizeof(contents[0]); i++) {
        struct orig_spec spec = {.content = contents[i], .ret = QUEUE_RET_HDRS};
        struct queue_file *qf;

        for (int ret_kind = 0; ret_kind < 2; ret_kind++) {
            spec.ret = ret_kind ? QUEUE_RET_FULL : QUEUE_RET_HDRS;
            if (spec.content[0] == 0)
                spec.content = "\n";
            qf = make_original(&spec);
            int ret;
            char *text = format(qf, BOUNCE_FAILED, failed_rcpts, 1, &ret, NULL);
            CHECK_INTEQ(ret, 1);
            if (text) {
                check_structure(text);
                CHECK(strstr(text, "\n--") != NULL);
            }
            mem_free(text);
            drop_original(&qf);
        }
    }
}

int main(void)
{
    snprintf(topdir, sizeof(topdir), "/tmp/test_bounce.XXXXXX");
    if (mkdtemp(topdir) == NULL)
        msg_fatal("mkdtemp: %m");
    snprintf(incoming, sizeof(incoming), "%s/incoming", topdir);
    snprintf(out_dir, sizeof(out_dir), "%s/out", topdir);
    if (mkdir(incoming, 0700) < 0 || mkdir(out_dir, 0700) < 0)
        msg_fatal("mkdir: %m");
    msg_init("test_bounce", MSG_TO_STDERR);
    reset_params();

    TEST_RUN(test_failed_full);
    TEST_RUN(test_failed_hdrs);
    TEST_RUN(test_size_limit);
    TEST_RUN(test_smtputf8);
    TEST_RUN(test_masking);
    TEST_RUN(test_wrap);
    TEST_RUN(test_notify_filter);
    TEST_RUN(test_delayed);
    TEST_RUN(test_diag_from_file);
    TEST_RUN(test_boundary_collision);
    TEST_RUN(test_null_sender);
    TEST_RUN(test_queue_file);
    TEST_RUN(test_odd_content);

    config_reset();
    nftw(topdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return test_summary();
}
