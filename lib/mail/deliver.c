/*
 * deliver - the delivery protocol between qmgr and the delivery agents:
 * the request (one message, recipients for one transport and nexthop) and
 * the per-recipient result. The fields and the rules of the conversation
 * are in deliver.h; the encoding is attr.h.
 *
 * Security notes: both directions cross a privilege boundary (qmgr runs as
 * mail_owner, local as root), so both sides check every field: counts and
 * string lengths are bounded, text fields carry no NUL, the status and the
 * DSN class must agree, and a recipient index is never negative. Text that
 * goes into the log has control characters replaced.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "lib/mail/attr.h"
#include "lib/mail/deliver.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"

/* Replace the string *field with a copy of value (NULL = ""). */
void deliver_set(char **field, const char *value)
{
    mem_free(*field);
    *field = mem_strdup(value ? value : "");
}

/* An empty request. */
struct deliver_request *deliver_request_create(void)
{
    struct deliver_request *req = mem_alloc(sizeof(*req));

    deliver_set(&req->queue_id, "");
    deliver_set(&req->queue_file, "");
    deliver_set(&req->sender, "");
    deliver_set(&req->envid, "");
    deliver_set(&req->transport, "");
    deliver_set(&req->nexthop, "");
    return req;
}

/* Free a request and its recipients. */
void deliver_request_free(struct deliver_request **reqp)
{
    struct deliver_request *req = *reqp;

    if (req == NULL)
        return;
    for (size_t i = 0; i < req->rcpt_count; i++) {
        mem_free(req->rcpts[i].address);
        mem_free(req->rcpts[i].orig);
        mem_free(req->rcpts[i].orcpt);
    }
    mem_free(req->rcpts);
    mem_free(req->queue_id);
    mem_free(req->queue_file);
    mem_free(req->sender);
    mem_free(req->envid);
    mem_free(req->transport);
    mem_free(req->nexthop);
    mem_free(req);
    *reqp = NULL;
}

/* Append a recipient. */
void deliver_request_add_rcpt(struct deliver_request *req, long long index, const char *address,
                              const char *orig, const char *orcpt, unsigned notify)
{
    struct deliver_rcpt *r;

    req->rcpts = mem_realloc(req->rcpts, (req->rcpt_count + 1) * sizeof(*req->rcpts));
    r = &req->rcpts[req->rcpt_count++];
    memset(r, 0, sizeof(*r));
    r->index = index;
    deliver_set(&r->address, address);
    deliver_set(&r->orig, orig);
    deliver_set(&r->orcpt, orcpt);
    r->notify = notify;
}

/* True when s fits max bytes. */
static bool deliver_len_ok(const char *s, size_t max)
{
    return s != NULL && strlen(s) <= max;
}

/* Check the request for the protocol's bounds. */
int deliver_request_check(const struct deliver_request *req, const char **why_r)
{
    static const struct {
        size_t off;
        const char *name;
        bool required;
    } strs[] = {
        {offsetof(struct deliver_request, queue_id), "queue_id", true},
        {offsetof(struct deliver_request, queue_file), "queue_file", true},
        {offsetof(struct deliver_request, sender), "sender", false},
        {offsetof(struct deliver_request, envid), "envid", false},
        {offsetof(struct deliver_request, transport), "transport", true},
        {offsetof(struct deliver_request, nexthop), "nexthop", false},
    };

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const char *s = *(char *const *)((const char *)req + strs[i].off);

        if (!deliver_len_ok(s, DELIVER_STR_MAX)) {
            *why_r = "a request field is too long";
            return -1;
        }
        if (strs[i].required && *s == '\0') {
            *why_r = "a required request field is empty";
            return -1;
        }
    }
    if (strstr(req->queue_file, "..") != NULL || req->queue_file[0] == '/') {
        *why_r = "queue_file must be a relative path inside queue_directory";
        return -1;
    }
    if (req->content_offset < 0 || req->content_length < 0 || req->ret < 0 || req->ret > 2 ||
        req->body < 0 || req->body > 3 || req->arrival_us < 0 || req->active_us < 0) {
        *why_r = "a request number is out of range";
        return -1;
    }
    if (req->rcpt_count < 1 || req->rcpt_count > DELIVER_RCPT_MAX) {
        *why_r = "recipient count out of range";
        return -1;
    }
    for (size_t i = 0; i < req->rcpt_count; i++) {
        const struct deliver_rcpt *r = &req->rcpts[i];

        if (r->index < 0 || r->notify > 0x0f) {
            *why_r = "a recipient number is out of range";
            return -1;
        }
        if (!deliver_len_ok(r->address, DELIVER_STR_MAX) || *r->address == '\0' ||
            !deliver_len_ok(r->orig, DELIVER_STR_MAX) ||
            !deliver_len_ok(r->orcpt, DELIVER_STR_MAX)) {
            *why_r = "a recipient address is empty or too long";
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (req->rcpts[j].index == r->index) {
                *why_r = "duplicate recipient index";
                return -1;
            }
    }
    return 0;
}

/* Append the request as one attr message. */
void deliver_request_format(const struct deliver_request *req, struct buf *out)
{
    attr_put_begin(out, DELIVER_REQUEST_TYPE, DELIVER_PROTO_VERSION);
    attr_put_str(out, "queue_id", req->queue_id);
    attr_put_str(out, "queue_file", req->queue_file);
    attr_put_long(out, "content_offset", req->content_offset);
    attr_put_long(out, "content_length", req->content_length);
    attr_put_str(out, "sender", req->sender);
    attr_put_str(out, "envid", req->envid);
    attr_put_int(out, "ret", req->ret);
    attr_put_int(out, "body", req->body);
    attr_put_int(out, "smtputf8", req->smtputf8 ? 1 : 0);
    attr_put_long(out, "arrival", req->arrival_us);
    attr_put_long(out, "active", req->active_us);
    attr_put_str(out, "transport", req->transport);
    attr_put_str(out, "nexthop", req->nexthop);
    attr_put_int(out, "rcpt_count", (int)req->rcpt_count);
    for (size_t i = 0; i < req->rcpt_count; i++) {
        const struct deliver_rcpt *r = &req->rcpts[i];

        attr_put_long(out, "index", r->index);
        attr_put_str(out, "address", r->address);
        attr_put_str(out, "orig", r->orig);
        attr_put_str(out, "orcpt", r->orcpt);
        attr_put_int(out, "notify", (int)r->notify);
    }
    attr_put_end(out);
}

/* Decode a request message. */
int deliver_request_parse(struct attr_msg *m, struct deliver_request **req_r, const char **why_r)
{
    struct deliver_request *req = deliver_request_create();
    const char *s[6] = {"", "", "", "", "", ""};
    const char *transport = "", *nexthop = "";
    int smtputf8 = 0, count = 0;

    attr_get_begin(m, DELIVER_REQUEST_TYPE, DELIVER_PROTO_VERSION);
    attr_get_str(m, "queue_id", &s[0]);
    attr_get_str(m, "queue_file", &s[1]);
    attr_get_long(m, "content_offset", &req->content_offset);
    attr_get_long(m, "content_length", &req->content_length);
    attr_get_str(m, "sender", &s[2]);
    attr_get_str(m, "envid", &s[3]);
    attr_get_int_range(m, "ret", 0, 2, &req->ret);
    attr_get_int_range(m, "body", 0, 3, &req->body);
    attr_get_int_range(m, "smtputf8", 0, 1, &smtputf8);
    attr_get_long(m, "arrival", &req->arrival_us);
    attr_get_long(m, "active", &req->active_us);
    attr_get_str(m, "transport", &transport);
    attr_get_str(m, "nexthop", &nexthop);
    if (attr_get_int_range(m, "rcpt_count", 1, DELIVER_RCPT_MAX, &count) == 0) {
        for (int i = 0; i < count; i++) {
            long long index = 0;
            const char *address = "", *orig = "", *orcpt = "";
            int notify = 0;

            attr_get_long(m, "index", &index);
            attr_get_str(m, "address", &address);
            attr_get_str(m, "orig", &orig);
            attr_get_str(m, "orcpt", &orcpt);
            if (attr_get_int_range(m, "notify", 0, 0x0f, &notify) < 0)
                break;
            deliver_request_add_rcpt(req, index, address, orig, orcpt, (unsigned)notify);
        }
    }
    if (attr_get_end(m, why_r) < 0) {
        deliver_request_free(&req);
        return -1;
    }
    deliver_set(&req->queue_id, s[0]);
    deliver_set(&req->queue_file, s[1]);
    deliver_set(&req->sender, s[2]);
    deliver_set(&req->envid, s[3]);
    deliver_set(&req->transport, transport);
    deliver_set(&req->nexthop, nexthop);
    req->smtputf8 = smtputf8 != 0;
    if (deliver_request_check(req, why_r) < 0) {
        deliver_request_free(&req);
        return -1;
    }
    *req_r = req;
    return 0;
}

/* Agent side: read the next request. */
int deliver_request_recv(struct stream *s, struct attr_parser *p, struct deliver_request **req_r,
                         const char **why_r)
{
    struct attr_msg *m = NULL;
    int r = attr_read(s, p, &m, why_r);

    if (r <= 0)
        return r;
    r = deliver_request_parse(m, req_r, why_r);
    if (r < 0) {
        /* why_r points into m: keep a copy that outlives it. */
        static char why[256];

        snprintf(why, sizeof(why), "%s", *why_r);
        *why_r = why;
    }
    attr_msg_free(&m);
    return r < 0 ? -1 : 1;
}

/* Write a request to a blocking stream. */
int deliver_request_send(struct stream *s, const struct deliver_request *req, const char **why_r)
{
    struct buf *b;
    int r;

    if (deliver_request_check(req, why_r) < 0)
        return -1;
    b = buf_create(1024);
    deliver_request_format(req, b);
    r = attr_write(s, b, why_r);
    buf_free(&b);
    return r;
}

/* ---- results ---- */

/* "sent", "deferred", "bounced". */
const char *deliver_status_name(enum deliver_status status)
{
    switch (status) {
    case DELIVER_SENT:
        return "sent";
    case DELIVER_DEFERRED:
        return "deferred";
    case DELIVER_BOUNCED:
        return "bounced";
    }
    return "unknown";
}

/* True when dsn is "C.S.D" (RFC 3463) and C matches status. */
bool deliver_dsn_valid(const char *dsn, enum deliver_status status)
{
    static const char class_of[] = {'2', '4', '5'};
    const char *cp = dsn;
    int digits;

    if (dsn == NULL || strlen(dsn) > DELIVER_DSN_MAX || (unsigned)status > DELIVER_BOUNCED)
        return false;
    if (cp[0] != class_of[status] || cp[1] != '.')
        return false;
    cp += 2;
    for (int part = 0; part < 2; part++) {
        for (digits = 0; *cp >= '0' && *cp <= '9'; cp++)
            digits++;
        if (digits < 1 || digits > 3)
            return false;
        if (part == 0 && *cp++ != '.')
            return false;
    }
    return *cp == '\0';
}

/* Free the strings of a result. */
void deliver_result_clear(struct deliver_result *res)
{
    MEM_FREE(&res->address);
    MEM_FREE(&res->dsn);
    MEM_FREE(&res->action);
    MEM_FREE(&res->text);
    MEM_FREE(&res->relay);
}

/* Check a result. */
int deliver_result_check(const struct deliver_result *res, const char **why_r)
{
    static const char *const actions[] = {"", "delivered", "relayed", "expanded"};
    bool action_ok = false;

    if (res->index < 0 || res->conn_ms < 0 || res->xfer_ms < 0) {
        *why_r = "a result number is out of range";
        return -1;
    }
    if ((res->flags & ~DELIVER_FLAGS_ALL) != 0 ||
        ((res->flags & DELIVER_FLAG_NEXTHOP) && res->status != DELIVER_DEFERRED)) {
        *why_r = "result flags are unknown or do not fit the status";
        return -1;
    }
    if (!deliver_dsn_valid(res->dsn, res->status)) {
        *why_r = "result dsn is not an RFC 3463 code of the status's class";
        return -1;
    }
    if (!deliver_len_ok(res->address, DELIVER_STR_MAX) ||
        !deliver_len_ok(res->relay, DELIVER_STR_MAX) ||
        !deliver_len_ok(res->text, DELIVER_TEXT_MAX) || res->action == NULL) {
        *why_r = "a result field is missing or too long";
        return -1;
    }
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(res->action, actions[i]) == 0)
            action_ok = true;
    if (!action_ok || (res->status != DELIVER_SENT && *res->action != '\0')) {
        *why_r = "result action is not delivered, relayed, expanded, or empty";
        return -1;
    }
    return 0;
}

/* Append a result as one attr message. */
void deliver_result_format(const struct deliver_result *res, struct buf *out)
{
    attr_put_begin(out, DELIVER_RESULT_TYPE, DELIVER_PROTO_VERSION);
    attr_put_long(out, "index", res->index);
    attr_put_str(out, "address", res->address);
    attr_put_int(out, "status", (int)res->status);
    attr_put_str(out, "dsn", res->dsn);
    attr_put_str(out, "action", res->action);
    attr_put_str(out, "text", res->text);
    attr_put_str(out, "relay", res->relay);
    attr_put_long(out, "conn_ms", res->conn_ms);
    attr_put_long(out, "xfer_ms", res->xfer_ms);
    attr_put_int(out, "flags", (int)res->flags);
    attr_put_end(out);
}

/* Decode a result message. */
int deliver_result_parse(struct attr_msg *m, struct deliver_result *res_r, const char **why_r)
{
    const char *address = "", *dsn = "", *action = "", *text = "", *relay = "";
    int status = 0, flags = 0;

    memset(res_r, 0, sizeof(*res_r));
    attr_get_begin(m, DELIVER_RESULT_TYPE, DELIVER_PROTO_VERSION);
    attr_get_long(m, "index", &res_r->index);
    attr_get_str(m, "address", &address);
    attr_get_int_range(m, "status", DELIVER_SENT, DELIVER_BOUNCED, &status);
    attr_get_str(m, "dsn", &dsn);
    attr_get_str(m, "action", &action);
    attr_get_str(m, "text", &text);
    attr_get_str(m, "relay", &relay);
    attr_get_long(m, "conn_ms", &res_r->conn_ms);
    attr_get_long(m, "xfer_ms", &res_r->xfer_ms);
    attr_get_int_range(m, "flags", 0, DELIVER_FLAGS_ALL, &flags);
    if (attr_get_end(m, why_r) < 0)
        return -1;
    res_r->status = (enum deliver_status)status;
    res_r->flags = (unsigned)flags;
    res_r->address = mem_strdup(address);
    res_r->dsn = mem_strdup(dsn);
    res_r->action = mem_strdup(action);
    res_r->text = mem_strdup(text);
    res_r->relay = mem_strdup(relay);
    if (deliver_result_check(res_r, why_r) < 0) {
        deliver_result_clear(res_r);
        return -1;
    }
    return 0;
}

/* Wall-clock microseconds. */
static long long deliver_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Agent side: check, send and log a filled-in result. */
int deliver_result_write(struct stream *s, const struct deliver_request *req,
                         const struct deliver_rcpt *rcpt, const struct deliver_result *res,
                         const char **why_r)
{
    struct buf *b;
    int r;

    if (res->index != rcpt->index || res->address == NULL ||
        strcmp(res->address, rcpt->address) != 0) {
        *why_r = "result does not name the recipient";
        return -1;
    }
    if (deliver_result_check(res, why_r) < 0)
        return -1;
    b = buf_create(512);
    deliver_result_format(res, b);
    r = attr_write(s, b, why_r);
    buf_free(&b);
    if (r == 0)
        deliver_log(req, rcpt, res, deliver_now_us());
    return r;
}

/* Agent side: send one recipient's result and log it. */
int deliver_result_send(struct stream *s, const struct deliver_request *req,
                        const struct deliver_rcpt *rcpt, enum deliver_status status,
                        const char *dsn, const char *action, const char *relay, long long conn_ms,
                        long long xfer_ms, const char *text, const char **why_r)
{
    struct deliver_result res = {
        .index = rcpt->index,
        .address = rcpt->address,
        .status = status,
        .dsn = (char *)dsn,
        .action = (char *)(action ? action : ""),
        .text = (char *)(text ? text : ""),
        .relay = (char *)(relay ? relay : "none"),
        .conn_ms = conn_ms,
        .xfer_ms = xfer_ms,
    };

    return deliver_result_write(s, req, rcpt, &res, why_r);
}

/* qmgr side (and tests): read one result. */
int deliver_result_recv(struct stream *s, struct attr_parser *p, struct deliver_result *res_r,
                        const char **why_r)
{
    struct attr_msg *m = NULL;
    int r = attr_read(s, p, &m, why_r);

    if (r <= 0)
        return r;
    r = deliver_result_parse(m, res_r, why_r);
    if (r < 0) {
        static char why[256];

        snprintf(why, sizeof(why), "%s", *why_r);
        *why_r = why;
    }
    attr_msg_free(&m);
    return r < 0 ? -1 : 1;
}

/* Append seconds as Postfix prints delays: "0", "0.01", "0.12", "1.5", "12". */
static void deliver_put_secs(struct buf *b, long long ms)
{
    long long hundredths = ms > 0 ? (ms + 5) / 10 : 0;

    if (hundredths >= 1000 || hundredths % 100 == 0)
        buf_printf(b, "%lld", (hundredths + 50) / 100);
    else if (hundredths % 10 == 0)
        buf_printf(b, "%lld.%lld", hundredths / 100, (hundredths / 10) % 10);
    else
        buf_printf(b, "%lld.%02lld", hundredths / 100, hundredths % 100);
}

/* Append text with control characters and non-ASCII bytes made visible and safe. */
static void deliver_put_safe(struct buf *b, const char *text)
{
    for (const unsigned char *cp = (const unsigned char *)text; *cp; cp++)
        buf_putc(b, *cp < 0x20 || *cp == 0x7f ? '?' : *cp);
}

/* Log one recipient's outcome. */
void deliver_log(const struct deliver_request *req, const struct deliver_rcpt *rcpt,
                 const struct deliver_result *res, long long now_us)
{
    struct buf *b = buf_create(256);
    long long total_ms = (now_us - req->arrival_us) / 1000;
    long long a_ms = (req->active_us - req->arrival_us) / 1000;
    long long b_ms;

    if (total_ms < 0)
        total_ms = 0;
    if (a_ms < 0 || a_ms > total_ms)
        a_ms = 0;
    b_ms = total_ms - a_ms - res->conn_ms - res->xfer_ms;
    buf_printf(b, "%s: to=<", req->queue_id);
    deliver_put_safe(b, rcpt->address);
    buf_puts(b, ">");
    if (*rcpt->orig != '\0' && strcmp(rcpt->orig, rcpt->address) != 0) {
        buf_puts(b, ", orig_to=<");
        deliver_put_safe(b, rcpt->orig);
        buf_puts(b, ">");
    }
    buf_puts(b, ", relay=");
    deliver_put_safe(b, *res->relay ? res->relay : "none");
    buf_puts(b, ", delay=");
    deliver_put_secs(b, total_ms);
    buf_puts(b, ", delays=");
    deliver_put_secs(b, a_ms);
    buf_putc(b, '/');
    deliver_put_secs(b, b_ms);
    buf_putc(b, '/');
    deliver_put_secs(b, res->conn_ms);
    buf_putc(b, '/');
    deliver_put_secs(b, res->xfer_ms);
    buf_printf(b, ", dsn=%s, status=%s (", res->dsn, deliver_status_name(res->status));
    deliver_put_safe(b, res->text);
    buf_puts(b, ")");
    msg_info("%s", buf_str(b));
    buf_free(&b);
}
