/*
 * local - internal interfaces of the local delivery agent (local(8)).
 *
 * The agent takes a delivery request from qmgr (lib/mail/deliver.h) and,
 * for each recipient, runs it through the delivery switch, as Postfix's
 * local(8) does:
 *
 *   loop check (Delivered-To:) -> alias_maps (user+ext, then user)
 *     -> local_mailbox_maps -> passwd account: ~/.forward, then the mailbox
 *     -> unknown user (5.1.1)
 *
 * Aliases, .forward and :include: files yield destinations: addresses
 * (local ones go through the switch again, one level deeper, in this
 * process; others are forwarded as a new queue file), |commands, /files
 * and further :include: files. Every final delivery ("leaf") is logged in
 * Postfix's shape; the request recipient's result sums up its leaves.
 *
 * Files: local.c (daemon, protocol), local_settings.c (parameters),
 * local_request.c (one request, loop info, results), local_recipient.c
 * (the switch, local_mailbox_maps), local_alias.c, local_dotforward.c,
 * local_include.c, local_token.c (one alias/forward value),
 * local_mailbox.c, local_file.c, local_command.c, local_resubmit.c
 * (forwarding), local_tables.c (open tables and their owners),
 * local_privs.c (accounts and uid switching), and the pure parts
 * local_addr.c, local_expand.c, local_delivered.c, local_sysexits.c,
 * local_list.c (.forward and :include: text), local_dups.c.
 */
#ifndef POSTEL_LOCAL_LOCAL_H
#define POSTEL_LOCAL_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "lib/mail/deliver.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"

struct dict;
struct queue_file;
struct hdr_field;

/* Where a destination came from (allow_mail_to_commands/files classes). */
#define LOCAL_EXP_ALIAS 0x1
#define LOCAL_EXP_FORWARD 0x2
#define LOCAL_EXP_INCLUDE 0x4

/* prepend_delivered_header */
#define LOCAL_PREPEND_COMMAND 0x1
#define LOCAL_PREPEND_FILE 0x2
#define LOCAL_PREPEND_FORWARD 0x4

/* mailbox_delivery_lock */
#define LOCAL_LOCK_DOTLOCK 0x1
#define LOCAL_LOCK_FCNTL 0x2

#define LOCAL_NEST_MAX 100              /* recipient nesting levels (Postfix's limit) */
#define LOCAL_LIST_FILE_MAX (1 << 20)   /* bytes of a .forward or :include: file */
#define LOCAL_OUTPUT_MAX 2048           /* bytes of command output kept for the reason */
#define LOCAL_TEXT_MAX DELIVER_TEXT_MAX /* bytes of a result text */

/* ---------------------------------------------------------------- settings */

/* The parameters local(8) uses, read once per process (local_settings.c). */
struct local_settings {
    char *myhostname;
    char *myorigin;
    char *alias_maps; /* lists of type:name tables */
    char *local_mailbox_maps;
    char *mail_spool_directory;
    char *home_mailbox;
    char *mailbox_command;        /* raw: $names expanded per delivery */
    struct argv *forward_path;    /* raw entries */
    unsigned allow_commands;      /* LOCAL_EXP_* */
    unsigned allow_files;         /* LOCAL_EXP_* */
    unsigned prepend_delivered;   /* LOCAL_PREPEND_* */
    int mbox_lock;                /* LOCAL_LOCK_* */
    long long command_time_limit; /* seconds */
    char *local_command_shell;
    char *default_privs;
    char *command_filter;
    char *forward_filter;
    long long mailbox_size_limit; /* bytes, 0 = none */
    char *recipient_delimiter;
    bool owner_request_special;
    int duplicate_filter_limit;
    int expansion_limit;
    struct argv *export_environment;
    char *mail_owner;
    bool biff;
    size_t line_max; /* line_length_limit: longest .forward or :include: line */
};

int local_settings_load(struct local_settings *s, const char **why_r);
void local_settings_clear(struct local_settings *s);
/* Parse a class list ("alias, forward") into LOCAL_EXP_* bits; -1 on an unknown word. */
int local_classes_parse(const struct argv *words, unsigned *bits_r, const char **why_r);
/* Parse prepend_delivered_header words into LOCAL_PREPEND_* bits. */
int local_prepend_parse(const struct argv *words, unsigned *bits_r, const char **why_r);
/* Parse mailbox_delivery_lock words into LOCAL_LOCK_* bits. */
int local_lock_parse(const struct argv *words, int *bits_r, const char **why_r);

/* ---------------------------------------------------------------- addresses */

/* A recipient address taken apart (local_addr.c). All strings owned. */
struct local_addr {
    char *address;   /* as given (external form) */
    char *local;     /* local part, internal form, lower case */
    char *domain;    /* lower case, "" when none */
    char *user;      /* local without extension */
    char *extension; /* NULL when none */
    char delim;      /* the delimiter found, 0 when none */
};

int local_addr_split(const char *address, const char *delimiters, bool owner_request_special,
                     struct local_addr *a, const char **why_r);
void local_addr_clear(struct local_addr *a);
/* Split at the first delimiter byte (Postfix split_addr rules); pure. */
char *local_addr_extension(char *user, const char *delimiters, bool owner_request_special,
                           char *delim_r);
/* "Return-Path: <sender>\n" (unless NULL), "Delivered-To: <lower case>\n" (unless NULL). */
void local_prepend_headers(struct buf *out, const char *sender, const char *delivered);
/* Replace bytes of value not in filter by '_' into out. */
void local_filter(struct buf *out, const char *value, const char *filter);

/* ---------------------------------------------------------------- $name expansion */

/* Names for forward_path and mailbox_command (local_expand.c). NULL = undefined. */
struct local_expand_attrs {
    const char *user, *home, *shell, *recipient, *extension, *domain, *local;
    const char *recipient_delimiter;
};

int local_expand(struct buf *out, const char *pattern, const struct local_expand_attrs *attrs,
                 const char *filter, const char **why_r);

/* ---------------------------------------------------------------- loop detection */

/* The Delivered-To: addresses of a message (local_delivered.c). */
struct local_loop;

struct local_loop *local_loop_create(void);
void local_loop_free(struct local_loop **lp);
/* Feed a header (from lib/proto/hdr's scanner); keeps Delivered-To values. */
void local_loop_header(struct local_loop *l, const struct hdr_field *f);
/* Feed the message from its start (len 0: the end); *done_r once the header block ended. */
int local_loop_feed(struct local_loop *l, const char *data, size_t len, bool *done_r);
bool local_loop_find(const struct local_loop *l, const char *address);
size_t local_loop_count(const struct local_loop *l);

/* ---------------------------------------------------------------- sysexits */

struct local_sysexit {
    int code;
    const char *dsn;
    const char *text;
};

/* The sendmail-compatible meaning of an exit code, or NULL when it has none. */
const struct local_sysexit *local_sysexit_find(int code);

/* What a finished command means (local_sysexits.c). */
struct local_cmd_outcome {
    enum deliver_status status;
    char dsn[16];
};
void local_command_judge(int wait_status, bool timed_out, int write_errno, const char *command,
                         const char *output, struct local_cmd_outcome *o, struct buf *text);

/* ---------------------------------------------------------------- .forward and :include: text */

/*
 * Parse a .forward or :include: file: each line is an aliases(5) right-hand
 * side; '#' lines and blank lines are skipped; a line that starts with
 * white space continues the previous one. Values go to *values. Bad lines
 * are reported through warn (may be NULL) with the line number and skipped.
 * Returns the number of values.
 */
typedef void (*local_list_warn_fn)(void *ctx, int line, const char *why);
size_t local_list_parse(const char *text, size_t len, size_t line_max, struct argv *values,
                        local_list_warn_fn warn, void *ctx);

/* ---------------------------------------------------------------- duplicate filter */

struct local_dups;

struct local_dups *local_dups_create(int limit);
void local_dups_free(struct local_dups **dp);
/* True when key was seen before; remembers it otherwise (while below the limit). */
bool local_dups_seen(struct local_dups *d, const char *key);

/* ---------------------------------------------------------------- identities */

/* A user identity for deliveries (local_privs.c, local_user.c). */
struct local_creds {
    char *name;
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary groups including gid */
    size_t ngroups;
    char *home;  /* may be NULL */
    char *shell; /* may be NULL */
};

struct local_creds *local_creds_create(const char *name, uid_t uid, gid_t gid, const char *home,
                                       const char *shell);
struct local_creds *local_creds_dup(const struct local_creds *c);
void local_creds_free(struct local_creds **cp);
/* The passwd account name: 1 found, 0 unknown, -1 lookup error (*why_r). */
int local_creds_getpwnam(const char *name, struct local_creds **c_r, const char **why_r);
/* The account of uid: 1, 0, -1 as above. */
int local_creds_getpwuid(uid_t uid, struct local_creds **c_r, const char **why_r);
/* Found accounts are reused for a minute (local_privs.c); this forgets them. */
void local_creds_cache_flush(void);

/*
 * Become c (effective ids, supplementary groups) for file access; as
 * another user than root only c's own uid is possible. 0, or -1 with
 * *why_r. local_privs_leave() returns to the real identity (fatal if it
 * cannot: the process would keep the wrong rights).
 */
int local_privs_enter(const struct local_creds *c, const char **why_r);
void local_privs_leave(void);
/* True when this process can switch to other users (it runs as root). */
bool local_privs_root(void);
/* True when the process may run things as uid (root, or uid is our own). */
bool local_privs_can_become(uid_t uid);

/* ---------------------------------------------------------------- tables */

struct maps;

/* The table that had a key, and the owner of its file (local_tables.c). */
struct local_table {
    const char *spec; /* "type:name" */
    bool owned;       /* owner is known: the table has a file */
    uid_t owner;
};

/* maps_find() in m; a hit also fills *t_r. 1, 0, or -1 with *why_r. */
int local_tables_find(struct maps *m, const char *key, const char **value_r,
                      struct local_table *t_r, const char **why_r);

/* ---------------------------------------------------------------- delivery state */

struct resolver;

/* Each leaf instead of the log line (tests). */
typedef void (*local_leaf_sink_fn)(void *ctx, const char *to, enum deliver_status status,
                                   const char *dsn, const char *text);

/* What lives as long as the process: settings and open tables. */
struct local_ctx {
    struct local_settings set;
    struct maps *aliases;      /* alias_maps */
    struct maps *mailbox_maps; /* local_mailbox_maps */
    struct resolver *resolver; /* NULL: could not be created (resolver_why) */
    char *resolver_why;
    local_leaf_sink_fn leaf_sink;
    void *leaf_ctx;
};

/* The outcome of one leaf delivery or of one recipient. */
struct local_result {
    enum deliver_status status;
    char dsn[16];
    const char *action; /* "delivered", "relayed", "expanded", "" */
    struct buf *text;
};

/* One request being delivered (local_request.c). */
struct local_job {
    struct local_ctx *ctx;
    const struct local_settings *set;
    const struct deliver_request *req;
    struct queue_file *qf;
    int fd;               /* queue file, read with pread */
    off_t content_offset; /* message content in fd */
    off_t content_length;
    struct local_loop *loop;
    struct local_dups *dups;
    local_leaf_sink_fn leaf_sink;
    void *leaf_ctx;
    /* The request recipient being delivered. */
    const struct deliver_rcpt *rcpt;
    struct local_result sum;    /* its result so far */
    size_t leaves;              /* final deliveries made or tried */
    size_t expansions;          /* destinations produced by expansion */
    struct argv *forward_addrs; /* addresses to forward in one new queue file */
    char *forward_delivered;
    char *forward_sender;
};

/* One branch of an expansion, passed by value down the recursion. */
struct local_attr {
    int level;
    const char *address;             /* the recipient being delivered */
    const char *delivered;           /* Delivered-To: value (the request's recipient) */
    const char *sender;              /* envelope sender ("" = null sender) */
    const char *exp_from;            /* the alias name or user whose expansion produced address */
    unsigned exp_type;               /* LOCAL_EXP_* of that expansion, 0 for the request's own */
    const struct local_creds *creds; /* rights for |command and /file; NULL: none yet */
    const struct local_addr *addr;   /* address taken apart (set by the switch) */
};

/* Wall-clock time in microseconds. */
long long local_now_us(void);

/* Record a leaf: log it (or hand it to the sink) and fold it into the recipient's sum. */
void local_leaf(struct local_job *job, const struct local_attr *attr, enum deliver_status status,
                const char *dsn, const char *action, long long xfer_ms, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* Count one expansion; false (and a bounced leaf, once) when over local_expansion_limit. */
bool local_expansion_ok(struct local_job *job, const struct local_attr *attr);

/* The delivery switch for one address (local_recipient.c). */
void local_recipient(struct local_job *job, struct local_attr attr);
/* alias_maps: 1 expanded, 0 not an alias, -1 deferred (leaf recorded). */
int local_alias(struct local_job *job, const struct local_attr *attr, const char *name);
/* ~/.forward: 1 used, 0 none (deliver to the mailbox). */
int local_dotforward(struct local_job *job, const struct local_attr *attr,
                     const struct local_creds *user);
/* The $name values of attr's recipient with account user (NULL: none); delim_buf[2]. */
void local_expand_attrs_init(struct local_expand_attrs *x, const struct local_attr *attr,
                             const struct local_creds *user, char *delim_buf);
/* One value of an alias, .forward or :include: list. */
void local_token(struct local_job *job, const struct local_attr *attr, const char *value,
                 unsigned exp_class);
void local_include(struct local_job *job, const struct local_attr *attr, const char *path,
                   unsigned exp_class);
/* Read a .forward/:include: file as "as" (NULL: ourselves): 1, 0 missing, -1 errno+why. */
int local_list_file_read(const char *path, const struct local_creds *as, struct buf *out,
                         struct stat *st_r, const char **why_r);
/* Mailbox delivery for an account, or for a local_mailbox_maps path. */
void local_mailbox(struct local_job *job, const struct local_attr *attr,
                   const struct local_creds *user, const char *mailbox_path);
/* The mailbox path of an account: home_mailbox or mail_spool_directory (pure). */
void local_mailbox_path(struct buf *out, const struct local_settings *s, const char *user,
                        const char *home);
void local_file(struct local_job *job, const struct local_attr *attr, const char *path,
                const struct local_creds *creds);
/* env_user: whose HOME and SHELL the command sees (NULL: those of the identity it runs as). */
void local_command(struct local_job *job, const struct local_attr *attr, const char *command,
                   const struct local_creds *creds, const struct local_creds *env_user);
/* The identity for commands and files: creds, else default_privs; never root. */
int local_exec_creds(struct local_job *job, const struct local_creds *creds,
                     struct local_creds **out_r, const char **why_r);
/* Queue addr for forwarding; local_resubmit_flush() writes the new queue file. */
void local_resubmit_add(struct local_job *job, const struct local_attr *attr, const char *addr);
void local_resubmit_flush(struct local_job *job);

/* ---------------------------------------------------------------- requests */

void local_result_init(struct local_result *r);
void local_result_clear(struct local_result *r);

/* Called with each recipient's result (index i of the request) as soon as it is final. */
typedef void (*local_done_fn)(void *ctx, size_t i, const struct local_result *r);

/* Settings and tables for this process. 0, or -1 with *why_r (configuration error). */
int local_ctx_init(struct local_ctx *ctx, const char **why_r);
void local_ctx_free(struct local_ctx *ctx);
void local_ctx_refresh(struct local_ctx *ctx);
/* Deliver every recipient of req. */
int local_request(struct local_ctx *ctx, const struct deliver_request *req, local_done_fn done,
                  void *done_ctx);

#endif
