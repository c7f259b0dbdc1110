/*
 * param - the table of every main.cf parameter, and the value checks.
 *
 * Each parameter is declared once, as data, in param.c: name, type,
 * default text, range and one line of help. postconf -d prints the table,
 * config.c checks main.cf against it, and man/man5/postel.conf.5 documents
 * it (tests/unit/test_paramdoc fails when the two disagree).
 *
 * Value syntax per type:
 *   string  any text
 *   int     decimal integer, optional sign
 *   bool    yes/no, true/false, on/off, 1/0 (any case)
 *   time    integer with an optional unit s m h d w; without a unit the
 *           parameter's default unit applies (usually s)
 *   size    bytes: integer with an optional k m g suffix (1024-based)
 *   list    items separated by white space or commas; "{ ... }" keeps
 *           white space and commas inside one item (inline:{ a=b, c=d })
 *   enum    one word out of a fixed set (the "choices" field)
 */
#ifndef POSTEL_MAIL_PARAM_H
#define POSTEL_MAIL_PARAM_H

#include <stdbool.h>
#include <stddef.h>

enum param_type {
    PARAM_STRING,
    PARAM_INT,
    PARAM_BOOL,
    PARAM_TIME,
    PARAM_SIZE,
    PARAM_LIST,
    PARAM_ENUM,
};

/* Flags of a parameter. */
#define PARAM_F_HOSTDEP 0x01 /* default computed on this host or at build time: the
                                manual page says "see postconf -d output" */
#define PARAM_F_RAW 0x02     /* used as written: config does not expand $name in it; the
                                program expands its own names later (forward_path's
                                $home, mailbox_command's $user, ...) */

#define PARAM_NO_MAX (-1LL)  /* max: no upper bound */

struct param_def {
    const char *name;
    enum param_type type;
    const char *def;          /* default text; NULL: computed (see param_default) */
    long long min, max;       /* int, time (seconds), size (bytes); max PARAM_NO_MAX = none */
    char unit;                /* time: default unit, one of s m h d w */
    const char *choices;      /* enum: "host|subnet"; list: allowed items or NULL */
    int flags;                /* PARAM_F_* */
    const char *help;         /* one line */
};

/* The table, in no particular order (names are unique; checked at first use). */
extern const struct param_def param_table[];
extern const size_t param_count;

/*
 * Per-transport parameters, as in Postfix: "<service>_<suffix>" for each
 * master.cf service and each suffix of this table (next to param_table in
 * param.c), such as relay_destination_recipient_limit. One has the type,
 * range and unit of its generic parameter and the default "$<generic>".
 * Names that are table parameters themselves (local_destination_...) are
 * table parameters, with their own defaults.
 */
struct param_suffix {
    const char *suffix;  /* "destination_recipient_limit" */
    const char *generic; /* "default_destination_recipient_limit" */
};

extern const struct param_suffix param_suffix_table[];
extern const size_t param_suffix_count;

/*
 * The generic parameter of name when it is "<service>_<suffix>" with a
 * suffix of the table (any non-empty service; not a table parameter
 * itself), with *service_len_r (may be NULL) = the length of <service>.
 * NULL otherwise.
 */
const struct param_def *param_transport_generic(const char *name, size_t *service_len_r);

/* The i-th parameter in name order, 0 <= i < param_count. */
const struct param_def *param_sorted(size_t i);

/* The parameter called name, or NULL. */
const struct param_def *param_find(const char *name);
/* Index of p in param_table. */
size_t param_index(const struct param_def *p);

/* The default text of p, computed on first use for host-dependent ones. */
const char *param_default(const struct param_def *p);

/* "string", "integer", "boolean", "time", "size", "list", "enum". */
const char *param_type_name(enum param_type type);

/*
 * Check value (already expanded) against p's type and range. Returns 0, or
 * -1 with *why_r = "expected time in range 1s..1d" (static storage, valid
 * until the next call).
 */
int param_check(const struct param_def *p, const char *value, const char **why_r);

/* Converters; each returns 0 or -1 with *why_r, and never accepts trailing junk. */
int param_parse_int(const char *value, long long *num_r, const char **why_r);
int param_parse_bool(const char *value, bool *bool_r, const char **why_r);
int param_parse_time(const char *value, char def_unit, long long *secs_r, const char **why_r);
int param_parse_size(const char *value, long long *bytes_r, const char **why_r);

/* True when name is a syntactically valid parameter name ([A-Za-z0-9_]+, bounded). */
bool param_name_valid(const char *name);
#define PARAM_NAME_MAX 100

/* The default of mydomain for a given myhostname: all but the first label, or "localdomain". */
char *param_domain_of(const char *hostname);
/* The default of mynetworks for a mynetworks_style ("host" or "subnet"). Caller frees. */
char *param_mynetworks(const char *style);

/* Split a list value into items (white space and commas, "{ }" grouping). Caller frees. */
struct argv *param_list_split(const char *value);

#endif
