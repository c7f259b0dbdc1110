/*
 * param - the table of every main.cf parameter, and the value checks.
 *
 * EVERY NEW PARAMETER MUST ALSO GET ITS ENTRY IN man/man5/postel.conf.5
 * (".SS name (default: value)" followed by the text). tests/unit/test_paramdoc
 * fails when a parameter is in this table but not in the manual page, is in
 * the manual page but not here, or when the default shown there is not what
 * "postconf -d name" prints. Keep each default here and there identical;
 * for a default that depends on the host or the build, set PARAM_F_HOSTDEP
 * and write "(default: see \(dqpostconf -d\(dq output)" in the page.
 *
 * This module owns the table, the computed defaults (myhostname, mydomain,
 * mynetworks) and the strict per-type value parsers. It does not read files.
 *
 * Security: values come from main.cf, which is trusted (root-owned), but
 * every parser is strict and overflow-checked so that a typo is reported
 * instead of silently becoming 0 or a huge number.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/mail/param.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

#ifndef DEF_CONFIG_DIR
#define DEF_CONFIG_DIR "/etc/postel"
#endif
#ifndef DEF_QUEUE_DIR
#define DEF_QUEUE_DIR "/var/spool/postel"
#endif
#ifndef DEF_DATA_DIR
#define DEF_DATA_DIR "/var/lib/postel"
#endif
#ifndef DEF_DAEMON_DIR
#define DEF_DAEMON_DIR "/usr/lib/postel"
#endif
#ifndef DEF_COMMAND_DIR
#define DEF_COMMAND_DIR "/usr/sbin"
#endif

#define MINUTE 60LL
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)
#define WEEK (7 * DAY)
#define KB 1024LL
#define MB (1024 * KB)
#define GB (1024 * MB)

/* Table rows, one macro per type so that each row reads like main.cf. */
#define P_STR(n, d, fl, h) {.name = n, .type = PARAM_STRING, .def = d, .flags = fl, .help = h}
#define P_INT(n, d, lo, hi, h) \
    {.name = n, .type = PARAM_INT, .def = d, .min = lo, .max = hi, .help = h}
#define P_BOOL(n, d, h) {.name = n, .type = PARAM_BOOL, .def = d, .help = h}
#define P_TIME(n, d, u, lo, hi, h) \
    {.name = n, .type = PARAM_TIME, .def = d, .unit = u, .min = lo, .max = hi, .help = h}
#define P_SIZE(n, d, lo, hi, h) \
    {.name = n, .type = PARAM_SIZE, .def = d, .min = lo, .max = hi, .help = h}
#define P_LIST(n, d, fl, h) {.name = n, .type = PARAM_LIST, .def = d, .flags = fl, .help = h}
#define P_LISTC(n, d, c, h) {.name = n, .type = PARAM_LIST, .def = d, .choices = c, .help = h}
#define P_ENUM(n, d, c, h) {.name = n, .type = PARAM_ENUM, .def = d, .choices = c, .help = h}

const struct param_def param_table[] = {
    /* Installation and identity. */
    P_STR("config_directory", DEF_CONFIG_DIR, PARAM_F_HOSTDEP,
          "Where main.cf and master.cf live."),
    P_STR("queue_directory", DEF_QUEUE_DIR, PARAM_F_HOSTDEP,
          "The top of the mail queue and of the internal sockets."),
    P_STR("data_directory", DEF_DATA_DIR, PARAM_F_HOSTDEP,
          "Where Postel keeps state that is not mail (caches, greylist data)."),
    P_STR("daemon_directory", DEF_DAEMON_DIR, PARAM_F_HOSTDEP,
          "Where the master finds the daemon programs."),
    P_STR("command_directory", DEF_COMMAND_DIR, PARAM_F_HOSTDEP,
          "Where the administrative commands (postconf, postmap, ...) are installed."),
    P_STR("process_id_directory", "pid", 0,
          "Where master.pid and lock files live, relative to queue_directory."),
    P_STR("mail_owner", "postel", 0,
          "The unprivileged user that owns the queue and runs most daemons."),
    P_STR("setgid_group", "postdrop", 0,
          "The group of the maildrop directory and of the set-gid postdrop command."),
    P_LIST("alternate_config_directories", "", 0,
           "Configuration directories that unprivileged users may name to set-gid commands."),
    P_LIST("authorized_submit_users", "static:anyone", 0,
           "Users who may submit mail with the sendmail command (postdrop)."),
    P_STR("mail_name", "Postel", 0, "The mail system's name in greetings and bounces."),
    P_STR("mail_version", PACKAGE_VERSION, PARAM_F_HOSTDEP, "The version of Postel."),
    P_STR("myhostname", NULL, PARAM_F_HOSTDEP, "The fully-qualified name of this host."),
    P_STR("mydomain", NULL, PARAM_F_HOSTDEP, "The domain this host belongs to."),
    P_STR("myorigin", "$myhostname", 0,
          "The domain appended to bare local names in sender and recipient addresses."),
    P_LIST("mydestination", "$myhostname, localhost.$mydomain, localhost", 0,
           "Domains delivered locally by the local transport."),
    P_LIST("mynetworks", NULL, PARAM_F_HOSTDEP,
           "Trusted client networks that may relay mail through this host."),
    P_ENUM("mynetworks_style", "host", "host|subnet",
           "How the default mynetworks is computed from the local interfaces."),
    P_LIST("inet_interfaces", "all", 0, "Local addresses the SMTP and other inet services listen on."),
    P_LISTC("inet_protocols", "all", "all|ipv4|ipv6", "Internet protocols in use: ipv4, ipv6 or all."),
    P_LIST("relay_domains", "", 0, "Remote domains this host relays mail to from any client."),
    P_LIST("fast_flush_domains", "$relay_domains", 0,
           "Destinations for which the SMTP ETRN command and postqueue -s flush deferred mail."),
    P_STR("relayhost", "", 0, "The next-hop host for mail to non-local domains; empty: deliver directly."),

    /* Logging and debugging. */
    P_STR("maillog_file", "", 0, "A file that also receives every log line; empty: syslog only."),
    P_STR("syslog_name", "postel", 0, "The name that prefixes each program name in syslog records."),
    P_ENUM("syslog_facility", "mail",
           "mail|daemon|user|local0|local1|local2|local3|local4|local5|local6|local7",
           "The syslog facility of Postel's log records."),
    P_INT("debug_peer_level", "2", 1, 10,
          "The verbose logging level added for clients that match debug_peer_list."),
    P_LIST("debug_peer_list", "", 0, "Clients or servers for which logging becomes verbose."),

    /* Processes. */
    P_INT("default_process_limit", "100", 1, 100000,
          "Default maximal number of processes of one master.cf service."),
    P_INT("max_use", "100", 1, 1000000,
          "How many clients or requests a daemon process serves before it exits."),
    P_TIME("max_idle", "100s", 's', 1, WEEK,
           "How long an idle daemon process waits for a new client before it exits."),
    P_TIME("daemon_timeout", "18000s", 's', 1, 4 * WEEK,
           "How long a daemon may take for one request before it is considered stuck."),
    P_TIME("ipc_timeout", "3600s", 's', 1, DAY,
           "Time limit for reading or writing on an internal communication channel."),
    P_TIME("service_throttle_time", "60s", 's', 1, DAY,
           "How long the master waits before it restarts a service whose processes keep failing."),
    P_TIME("in_flow_delay", "1s", 's', 0, 10,
           "How long a mail producer waits when the queue manager falls behind; 0 disables."),
    P_LIST("import_environment", "POSTEL_CONFIG_DIR MAIL_DEBUG TZ XAUTHORITY DISPLAY LANG=C", 0,
           "Environment variables that the master passes on to its children."),
    P_LIST("export_environment", "TZ POSTEL_CONFIG_DIR LANG", 0,
           "Environment variables passed on to external commands (pipe, .forward)."),

    /* Tables and aliases. */
    P_STR("default_database_type", "hash", 0,
          "The table type that postmap and newaliases build when none is given."),
    P_LIST("alias_maps", "hash:/etc/aliases", 0, "Alias tables that the local transport consults."),
    P_LIST("alias_database", "hash:/etc/aliases", 0, "Alias tables that newaliases rebuilds."),

    /* Messages. */
    P_INT("line_length_limit", "2048", 80, 64 * MB,
          "Lines longer than this are split when a message is stored."),
    P_SIZE("message_size_limit", "10240000", 0, 4 * GB,
           "The largest message accepted, in bytes; 0 means no limit."),
    P_SIZE("mailbox_size_limit", "51200000", 0, PARAM_NO_MAX,
           "The largest mailbox or mailbox file local delivery writes, in bytes; 0 means no limit."),
    P_STR("recipient_delimiter", "", 0,
          "Characters that separate a user name from an address extension (user+ext)."),
    P_BOOL("smtputf8_enable", "yes", "Support SMTPUTF8 (RFC 6531) addresses and headers."),
    P_BOOL("biff", "no", "Notify the local biff service of new mail."),

    /* Local delivery (local(8)). */
    P_STR("mail_spool_directory", "/var/mail", 0,
          "Directory of the UNIX-style mailboxes; a name ending in / means Maildir."),
    P_STR("home_mailbox", "", 0,
          "Mailbox relative to the user's home directory (Maildir/ when it ends in /)."),
    P_STR("mailbox_command", "", PARAM_F_RAW,
          "External command that does mailbox delivery instead of local(8) itself."),
    P_LIST("local_mailbox_maps", "", 0,
           "Tables that map a local part to a mailbox path, for names without an account."),
    P_LIST("forward_path", "$home/.forward${recipient_delimiter}${extension}, $home/.forward",
           PARAM_F_RAW, "Where local(8) looks for a user's .forward file; the first one found wins."),
    P_LISTC("allow_mail_to_commands", "alias, forward", "alias|forward|include",
            "Which expansions may deliver to |command destinations."),
    P_LISTC("allow_mail_to_files", "alias, forward", "alias|forward|include",
            "Which expansions may deliver to /file destinations."),
    P_LISTC("prepend_delivered_header", "command, file, forward", "command|file|forward",
            "Deliveries other than to a mailbox that also get a Delivered-To: header."),
    P_LISTC("mailbox_delivery_lock", "fcntl, dotlock", "fcntl|dotlock",
            "How local(8) locks a UNIX-style mailbox while it appends a message."),
    P_TIME("command_time_limit", "1000s", 's', 1, WEEK,
           "Time limit for a delivery to an external command."),
    P_STR("local_command_shell", "", 0,
          "Shell that runs |command and mailbox_command deliveries; empty: /bin/sh -c."),
    P_STR("default_privs", "nobody", 0,
          "The user whose rights deliveries to commands and files get without another identity."),
    P_STR("command_expansion_filter",
          "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 0,
          "Characters allowed in the environment of external commands; others become _."),
    P_STR("forward_expansion_filter",
          "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 0,
          "Characters allowed in $name values expanded into forward_path; others become _."),
    P_INT("duplicate_filter_limit", "1000", 0, 1000000,
          "How many destinations local(8) remembers per request to suppress duplicates."),
    P_INT("local_expansion_limit", "1000", 1, 1000000,
          "How many destinations one recipient may expand to through aliases, .forward, :include:."),
    P_BOOL("owner_request_special", "yes",
           "Deliver a list with an owner-list alias as owner-list; never split owner-/-request."),

    /* Delivery status notifications (lib/mail/bounce.c). */
    P_SIZE("bounce_size_limit", "50000", 0, 1 * GB,
           "The largest original message returned whole in a notification; larger: headers only."),
    P_LISTC("notify_classes", "resource, software, 2bounce",
            "bounce|2bounce|data|delay|policy|protocol|resource|software",
            "Which problems are reported to the postmaster."),
    P_STR("bounce_notice_recipient", "postmaster", 0,
          "Who gets the postmaster copy of a bounce (notify_classes = bounce)."),
    P_STR("2bounce_notice_recipient", "postmaster", 0,
          "Who gets undeliverable bounces (notify_classes = bounce or 2bounce)."),
    P_STR("delay_notice_recipient", "postmaster", 0,
          "Who gets the postmaster copy of a delay warning (notify_classes = delay)."),
    P_STR("double_bounce_sender", "double-bounce", 0,
          "The sender of postmaster notifications; mail to it that fails is discarded."),

    /* Address rewriting and routing (lib/mail/resolve.c). */
    P_BOOL("append_at_myorigin", "yes",
           "Append @$myorigin to addresses without a domain."),
    P_BOOL("append_dot_mydomain", "no",
           "Append .$mydomain to domains without a dot (user@host)."),
    P_LIST("canonical_maps", "", 0,
           "Tables that rewrite sender and recipient addresses (canonical(5))."),
    P_LIST("sender_canonical_maps", "", 0,
           "Tables that rewrite envelope sender addresses, before canonical_maps."),
    P_LIST("recipient_canonical_maps", "", 0,
           "Tables that rewrite envelope recipient addresses, before canonical_maps."),
    P_LISTC("propagate_unmatched_extensions", "canonical, virtual",
            "canonical|virtual|alias|forward|include",
            "Where an address extension that the table key did not contain is kept in the result."),
    P_LIST("virtual_alias_maps", "", 0,
           "Tables that expand recipient addresses to one or more others (virtual(5))."),
    P_INT("virtual_alias_expansion_limit", "1000", 1, 1000000,
          "The most addresses that virtual alias expansion makes from one recipient."),
    P_INT("virtual_alias_recursion_limit", "1000", 1, 1000000,
          "The deepest nesting of virtual alias expansion."),
    P_LIST("transport_maps", "", 0,
           "Tables that choose the transport and next hop per address or domain (transport(5))."),
    P_STR("local_transport", "local:$myhostname", 0,
          "The transport for domains in mydestination."),
    P_STR("relay_transport", "relay", 0, "The transport for domains in relay_domains."),
    P_STR("default_transport", "smtp", 0,
          "The transport for every other domain; transport:nexthop overrides relayhost."),

    /* Queue manager (qmgr). */
    P_INT("qmgr_message_active_limit", "20000", 1, 10000000,
          "The most messages that the queue manager keeps in the active queue."),
    P_INT("default_destination_concurrency_limit", "20", 1, 10000,
          "The most parallel deliveries to one destination of a transport."),
    P_INT("initial_destination_concurrency", "5", 1, 10000,
          "Parallel deliveries to a destination at first; each success adds one (slow start)."),
    P_INT("local_destination_concurrency_limit", "2", 1, 10000,
          "The most parallel local deliveries to one mailbox."),
    P_INT("default_destination_recipient_limit", "50", 1, 1000,
          "The most recipients of one message in one delivery request."),
    P_INT("local_destination_recipient_limit", "1", 1, 1000,
          "The most recipients in one local delivery request."),
    P_TIME("minimal_backoff_time", "300s", 's', 1, WEEK,
           "The shortest time a deferred message waits before the next attempt."),
    P_TIME("maximal_backoff_time", "4000s", 's', 1, 4 * WEEK,
           "The longest time a deferred message waits before the next attempt."),
    P_TIME("queue_run_delay", "300s", 's', 1, WEEK,
           "How often the queue manager scans the deferred queue."),
    P_TIME("maximal_queue_lifetime", "5d", 'd', 0, 100 * DAY,
           "How long a message may stay in the queue before it is returned as undeliverable."),
    P_TIME("bounce_queue_lifetime", "5d", 'd', 0, 100 * DAY,
           "How long a notification (null sender) may stay in the queue before it is given up."),
    P_TIME("delay_warning_time", "0h", 'h', 0, 100 * DAY,
           "After how long the sender gets a delay warning; 0 sends none."),
    P_TIME("transport_retry_time", "60s", 's', 1, DAY,
           "How long the queue manager waits before it tries an unavailable transport again."),

    /* SMTP client (smtp). */
    P_STR("smtp_helo_name", "$myhostname", 0, "The host name that smtp sends in EHLO or HELO."),
    P_TIME("smtp_connect_timeout", "30s", 's', 1, DAY,
           "How long smtp waits for a TCP connection to a server to complete."),
    P_TIME("smtp_helo_timeout", "300s", 's', 1, DAY,
           "How long smtp waits for the greeting and for the reply to EHLO or HELO."),
    P_TIME("smtp_mail_timeout", "300s", 's', 1, DAY, "How long smtp waits for the reply to MAIL FROM."),
    P_TIME("smtp_rcpt_timeout", "300s", 's', 1, DAY, "How long smtp waits for the reply to RCPT TO."),
    P_TIME("smtp_data_init_timeout", "120s", 's', 1, DAY,
           "How long smtp waits for the reply to DATA."),
    P_TIME("smtp_data_xfer_timeout", "180s", 's', 1, DAY,
           "How long smtp waits for the server to take each part of the message content."),
    P_TIME("smtp_data_done_timeout", "600s", 's', 1, DAY,
           "How long smtp waits for the reply to the end of the message content."),
    P_TIME("smtp_quit_timeout", "300s", 's', 1, DAY, "How long smtp waits for the reply to QUIT."),
    P_TIME("smtp_rset_timeout", "20s", 's', 1, DAY,
           "How long smtp waits for the reply to RSET before it reuses a connection."),
    P_TIME("smtp_starttls_timeout", "300s", 's', 1, DAY,
           "Time limit for each read and write of the TLS handshake."),
    P_INT("smtp_mx_address_limit", "5", 0, 1000,
          "The most server addresses smtp tries for one delivery; 0 means no limit."),
    P_INT("smtp_mx_session_limit", "2", 0, 1000,
          "The most SMTP sessions smtp completes for one delivery; 0 means no limit."),
    P_ENUM("smtp_address_preference", "any", "any|ipv4|ipv6",
           "Which address family smtp tries first for a host that has both."),
    P_LISTC("smtp_host_lookup", "dns", "dns|native",
            "How smtp finds server addresses: DNS, the system resolver (native), or both."),
    P_BOOL("smtp_skip_5xx_greeting", "yes",
           "Try the next server after a 5xx greeting instead of bouncing the mail."),
    P_INT("smtp_line_length_limit", "998", 0, 64 * MB,
          "Longer lines of the message content are broken when sent; 0 means no limit."),
    P_BOOL("disable_mime_output_conversion", "no",
           "Never convert 8-bit content to quoted-printable for servers without 8BITMIME."),
    P_ENUM("smtp_tls_security_level", "may", "none|may|encrypt",
           "TLS for outgoing SMTP: none, may (STARTTLS when offered) or encrypt (TLS required)."),
    P_BOOL("smtp_tls_wrappermode", "no",
           "Start TLS at once after connecting (implicit TLS, port 465) instead of STARTTLS."),
    P_STR("smtp_tls_CAfile", "", 0,
          "A file of trusted certificate authorities for verifying servers (PEM)."),
    P_STR("smtp_tls_CApath", "", 0,
          "A directory of trusted certificate authorities for verifying servers (c_rehash)."),
    P_BOOL("smtp_sasl_auth_enable", "no", "Authenticate to servers with SASL (AUTH PLAIN, LOGIN)."),
    P_LIST("smtp_sasl_password_maps", "", 0,
           "Tables of user:password per next hop ([host]:port, then host) for SMTP AUTH."),
    P_LISTC("smtp_sasl_security_options", "noplaintext, noanonymous",
            "noplaintext|noanonymous|noactive|nodictionary|mutual_auth",
            "SASL mechanisms smtp refuses on connections without TLS."),
    P_LISTC("smtp_sasl_tls_security_options", "noanonymous",
            "noplaintext|noanonymous|noactive|nodictionary|mutual_auth",
            "SASL mechanisms smtp refuses on TLS connections."),
    P_LIST("smtp_sasl_mechanism_filter", "", 0,
           "SASL mechanisms smtp may use (of those the server offers); empty: any."),
    P_LIST("smtp_generic_maps", "", 0,
           "Tables that rewrite sender, recipient and header addresses of outgoing mail (generic(5))."),
    P_BOOL("smtp_connection_cache_on_demand", "yes",
           "Keep a connection open after a delivery and reuse it for the next one to the same place."),
    P_INT("smtp_connection_reuse_count_limit", "0", 0, 1000000,
          "How many deliveries one connection carries at most; 0 means no limit."),
    P_TIME("smtp_connection_cache_time_limit", "2s", 's', 1, 300,
           "How long an idle connection is kept open for the next delivery."),
    P_TIME("smtp_connection_reuse_time_limit", "300s", 's', 1, DAY,
           "A connection older than this is not used for another delivery."),

    /* SMTP server (smtpd). */
    P_STR("smtpd_banner", "$myhostname ESMTP $mail_name", 0,
          "The text after 220 in the SMTP greeting; must start with $myhostname."),
    P_TIME("smtpd_timeout", "300s", 's', 1, DAY,
           "How long smtpd waits for each read or write of the client before it hangs up."),
    P_INT("smtpd_recipient_limit", "1000", 1, 1000000,
          "The most recipients smtpd accepts for one message."),
    P_INT("smtpd_soft_error_limit", "10", 1, 1000000,
          "After this many errors in a session smtpd delays each reply by smtpd_error_sleep_time."),
    P_INT("smtpd_hard_error_limit", "20", 1, 1000000,
          "After this many errors in a session smtpd hangs up (421 4.7.0)."),
    P_TIME("smtpd_error_sleep_time", "1s", 's', 0, 300,
           "The delay before each reply once a client made smtpd_soft_error_limit errors."),
    P_INT("smtpd_junk_command_limit", "100", 1, 1000000,
          "NOOP, VRFY, RSET, HELP and EXPN commands allowed before each counts as an error."),
    P_BOOL("smtpd_forbid_bare_newline", "yes",
           "Refuse messages with a bare LF or CR (SMTP smuggling defence); no: accept them."),
    P_BOOL("smtpd_forbid_unauth_pipelining", "yes",
           "Hang up on clients that send commands before a reply that RFC 2920 says to wait for."),
    P_BOOL("smtpd_helo_required", "no", "Require HELO or EHLO before MAIL, RCPT, DATA and VRFY."),
    P_BOOL("smtpd_peername_lookup", "yes",
           "Look the client's name up in DNS (reverse, confirmed by forward); no: \"unknown\"."),
    P_BOOL("smtpd_strict_rfc821_envelopes", "no",
           "Accept only RFC 5321 syntax in MAIL FROM and RCPT TO (angle brackets and all)."),
    P_LIST("smtpd_discard_ehlo_keywords", "", 0,
           "EHLO keywords (extensions) that smtpd does not announce, such as CHUNKING or DSN."),
    P_BOOL("disable_vrfy_command", "no", "Refuse the VRFY command (502 5.5.1)."),
    P_LIST("local_recipient_maps", "unix:passwd.byname $alias_maps $local_mailbox_maps", 0,
           "Tables of the local users that smtpd accepts mail for; empty: any user."),
    P_INT("header_size_limit", "102400", 1024, 64 * MB,
          "The longest message header, in bytes; the rest of a longer header is dropped."),
    P_INT("hopcount_limit", "50", 1, 10000,
          "The most Received: headers a message may have; more is a mail loop (554 5.4.6)."),
    P_SIZE("queue_minfree", "0", 0, PARAM_NO_MAX,
           "Free space in the queue file system, in bytes, below which smtpd refuses mail (452)."),
};

const size_t param_count = sizeof(param_table) / sizeof(param_table[0]);

/*
 * The suffixes of per-transport parameters "<service>_<suffix>" (postel.conf.5,
 * PER-TRANSPORT PARAMETERS; tests/unit/test_paramdoc checks that the page
 * lists exactly these). Each takes its type, range and default from its
 * generic parameter.
 */
const struct param_suffix param_suffix_table[] = {
    {"destination_concurrency_limit", "default_destination_concurrency_limit"},
    {"destination_recipient_limit", "default_destination_recipient_limit"},
};

const size_t param_suffix_count = sizeof(param_suffix_table) / sizeof(param_suffix_table[0]);

static const struct param_def **param_index_sorted;

/* qsort/bsearch comparison by name. */
static int param_cmp(const void *a, const void *b)
{
    const struct param_def *const *pa = a, *const *pb = b;

    return strcmp((*pa)->name, (*pb)->name);
}

/* Build the sorted index once; a duplicate or malformed row is a bug. */
static void param_init(void)
{
    if (param_index_sorted != NULL)
        return;
    param_index_sorted = mem_alloc_array(param_count, sizeof(*param_index_sorted));
    for (size_t i = 0; i < param_count; i++) {
        const struct param_def *p = &param_table[i];

        if (!param_name_valid(p->name))
            msg_panic("param table: bad name \"%s\"", p->name);
        if (p->type == PARAM_TIME && (p->unit == 0 || strchr("smhdw", p->unit) == NULL))
            msg_panic("param table: %s: bad default unit", p->name);
        if (p->type == PARAM_ENUM && p->choices == NULL)
            msg_panic("param table: %s: enum without choices", p->name);
        param_index_sorted[i] = p;
    }
    qsort(param_index_sorted, param_count, sizeof(*param_index_sorted), param_cmp);
    for (size_t i = 1; i < param_count; i++)
        if (strcmp(param_index_sorted[i - 1]->name, param_index_sorted[i]->name) == 0)
            msg_panic("param table: duplicate parameter \"%s\"", param_index_sorted[i]->name);
    for (size_t i = 0; i < param_suffix_count; i++)
        if (param_find(param_suffix_table[i].generic) == NULL)
            msg_panic("param suffix table: %s: no parameter %s", param_suffix_table[i].suffix,
                      param_suffix_table[i].generic);
}

/* The parameter called name, or NULL. */
const struct param_def *param_find(const char *name)
{
    struct param_def key = {.name = name};
    const struct param_def *kp = &key;
    const struct param_def **found;

    param_init();
    found = bsearch(&kp, param_index_sorted, param_count, sizeof(*param_index_sorted), param_cmp);
    return found ? *found : NULL;
}

/* The generic parameter of a per-transport name "<service>_<suffix>", or NULL. */
const struct param_def *param_transport_generic(const char *name, size_t *service_len_r)
{
    size_t len = strlen(name);

    if (param_find(name) != NULL)
        return NULL;
    for (size_t i = 0; i < param_suffix_count; i++) {
        size_t slen = strlen(param_suffix_table[i].suffix);

        if (len > slen + 1 && name[len - slen - 1] == '_' &&
            strcmp(name + len - slen, param_suffix_table[i].suffix) == 0) {
            if (service_len_r != NULL)
                *service_len_r = len - slen - 1;
            return param_find(param_suffix_table[i].generic);
        }
    }
    return NULL;
}

/* The i-th parameter in name order. */
const struct param_def *param_sorted(size_t i)
{
    param_init();
    if (i >= param_count)
        msg_panic("param_sorted: index %zu out of range", i);
    return param_index_sorted[i];
}

/* Index of p in param_table. */
size_t param_index(const struct param_def *p)
{
    if (p < param_table || p >= param_table + param_count)
        msg_panic("param_index: not a table entry");
    return (size_t)(p - param_table);
}

/* True when name is [A-Za-z0-9_]+ and not too long. */
bool param_name_valid(const char *name)
{
    size_t n = 0;

    for (const char *cp = name; *cp; cp++, n++)
        if (!(isalnum((unsigned char)*cp) || *cp == '_') || n >= PARAM_NAME_MAX)
            return false;
    return n > 0;
}

/* The human name of a type. */
const char *param_type_name(enum param_type type)
{
    switch (type) {
    case PARAM_STRING:
        return "string";
    case PARAM_INT:
        return "integer";
    case PARAM_BOOL:
        return "boolean";
    case PARAM_TIME:
        return "time";
    case PARAM_SIZE:
        return "size";
    case PARAM_LIST:
        return "list";
    case PARAM_ENUM:
        return "enum";
    }
    return "unknown";
}

/* Computed default of myhostname: the FQDN if the resolver knows it, else gethostname(). */
static char *param_compute_hostname(void)
{
    char host[256];
    struct addrinfo hints, *res = NULL;
    char *result;

    if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    if (strchr(host, '.') != NULL)
        return mem_strdup(host);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = AI_CANONNAME;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) == 0 && res != NULL && res->ai_canonname != NULL
        && strchr(res->ai_canonname, '.') != NULL && strlen(res->ai_canonname) < sizeof(host))
        result = mem_strdup(res->ai_canonname);
    else
        result = mem_strdup(host);
    if (res != NULL)
        freeaddrinfo(res);
    return result;
}

/* The default of mydomain for hostname: all but the first label, or "localdomain". */
char *param_domain_of(const char *hostname)
{
    const char *dot = strchr(hostname, '.');

    if (dot == NULL || dot[1] == '\0')
        return mem_strdup("localdomain");
    return mem_strdup(dot + 1);
}

/* Append addr/prefix for one interface address to b. */
static void param_add_network(struct buf *b, const struct sockaddr *sa, const struct sockaddr *mask,
                              bool subnet)
{
    char text[INET6_ADDRSTRLEN];
    int prefix = 0;

    if (sa->sa_family == AF_INET) {
        struct in_addr a = ((const struct sockaddr_in *)sa)->sin_addr;
        uint32_t m = 0xffffffffu;

        if (subnet && mask != NULL)
            m = ntohl(((const struct sockaddr_in *)mask)->sin_addr.s_addr);
        a.s_addr = htonl(ntohl(a.s_addr) & m);
        for (uint32_t bit = 0x80000000u; bit && (m & bit); bit >>= 1)
            prefix++;
        if (inet_ntop(AF_INET, &a, text, sizeof(text)) == NULL)
            return;
        buf_printf(b, "%s/%d", text, prefix);
    } else if (sa->sa_family == AF_INET6) {
        struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
        const unsigned char *m =
            subnet && mask ? ((const struct sockaddr_in6 *)mask)->sin6_addr.s6_addr : NULL;

        if (IN6_IS_ADDR_LINKLOCAL(&a))
            return;
        for (int i = 0; i < 16; i++) {
            unsigned char mb = m ? m[i] : 0xff;

            a.s6_addr[i] &= mb;
            for (unsigned char bit = 0x80; bit && (mb & bit); bit >>= 1)
                prefix++;
        }
        if (inet_ntop(AF_INET6, &a, text, sizeof(text)) == NULL)
            return;
        buf_printf(b, "[%s]/%d", text, prefix);
    }
}

/* The default of mynetworks: loopback plus each interface address (host) or subnet. */
char *param_mynetworks(const char *style)
{
    struct argv *nets = argv_create(8);
    struct buf *b = buf_create(128);
    struct ifaddrs *ifs = NULL;
    bool subnet = strcmp(style, "subnet") == 0;

    argv_add(nets, "127.0.0.0/8");
    argv_add(nets, "[::1]/128");
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *ifa = ifs; ifa != NULL; ifa = ifa->ifa_next) {
            bool dup = false;

            if (ifa->ifa_addr == NULL || (ifa->ifa_flags & IFF_LOOPBACK) != 0)
                continue;
            buf_reset(b);
            param_add_network(b, ifa->ifa_addr, ifa->ifa_netmask, subnet);
            if (buf_len(b) == 0)
                continue;
            /* Several addresses in one subnet give one entry. */
            for (size_t i = 0; i < nets->argc && !dup; i++)
                dup = strcmp(nets->argv[i], buf_str(b)) == 0;
            if (!dup)
                argv_add(nets, buf_str(b));
        }
        freeifaddrs(ifs);
    }
    buf_reset(b);
    for (size_t i = 0; i < nets->argc; i++)
        buf_printf(b, "%s%s", i ? " " : "", nets->argv[i]);
    argv_free(&nets);
    return buf_export(&b);
}

/* The default text of p; host-dependent ones are computed once. */
const char *param_default(const struct param_def *p)
{
    static char *hostname, *domain, *networks;

    if (p->def != NULL)
        return p->def;
    if (strcmp(p->name, "myhostname") == 0) {
        if (hostname == NULL)
            hostname = param_compute_hostname();
        return hostname;
    }
    if (strcmp(p->name, "mydomain") == 0) {
        if (domain == NULL)
            domain = param_domain_of(param_default(param_find("myhostname")));
        return domain;
    }
    if (strcmp(p->name, "mynetworks") == 0) {
        if (networks == NULL)
            networks = param_mynetworks(param_find("mynetworks_style")->def);
        return networks;
    }
    msg_panic("param_default: no default for %s", p->name);
}

/* Strict decimal integer with optional sign. */
int param_parse_int(const char *value, long long *num_r, const char **why_r)
{
    const char *cp = value;
    char *end;
    long long n;

    if (*cp == '+' || *cp == '-')
        cp++;
    if (!isdigit((unsigned char)*cp)) {
        *why_r = "not a number";
        return -1;
    }
    errno = 0;
    n = strtoll(value, &end, 10);
    if (errno == ERANGE) {
        *why_r = "number out of range";
        return -1;
    }
    if (*end != '\0') {
        *why_r = "junk after number";
        return -1;
    }
    *num_r = n;
    return 0;
}

/* yes/no, true/false, on/off, 1/0, in any case. */
int param_parse_bool(const char *value, bool *bool_r, const char **why_r)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(value, yes[i]) == 0) {
            *bool_r = true;
            return 0;
        }
        if (strcasecmp(value, no[i]) == 0) {
            *bool_r = false;
            return 0;
        }
    }
    *why_r = "not a boolean";
    return -1;
}

/* Digits (no sign) followed by at most one suffix character from units. */
static int param_parse_scaled(const char *value, const char *units, const long long *mult,
                              long long *num_r, const char **why_r)
{
    const char *cp = value;
    unsigned long long n = 0;
    long long m = 1;

    if (!isdigit((unsigned char)*cp)) {
        *why_r = "not a number";
        return -1;
    }
    for (; isdigit((unsigned char)*cp); cp++) {
        if (n > (unsigned long long)LLONG_MAX / 10) {
            *why_r = "number out of range";
            return -1;
        }
        n = n * 10 + (unsigned)(*cp - '0');
        if (n > (unsigned long long)LLONG_MAX) {
            *why_r = "number out of range";
            return -1;
        }
    }
    if (*cp != '\0') {
        const char *u = strchr(units, *cp);

        if (u == NULL || cp[1] != '\0') {
            *why_r = "bad unit";
            return -1;
        }
        m = mult[u - units];
    }
    if (n > (unsigned long long)(LLONG_MAX / m)) {
        *why_r = "number out of range";
        return -1;
    }
    *num_r = (long long)n * m;
    return 0;
}

/* Time: digits with an optional unit s m h d w; def_unit applies without one. */
int param_parse_time(const char *value, char def_unit, long long *secs_r, const char **why_r)
{
    static const long long mult[] = {1, MINUTE, HOUR, DAY, WEEK};
    const char *units = "smhdw";
    const char *u = strchr(units, def_unit);
    long long n;
    size_t len = strlen(value);

    if (def_unit == 0 || u == NULL)
        msg_panic("param_parse_time: bad default unit");
    if (len > 0 && isdigit((unsigned char)value[len - 1])) {
        if (param_parse_scaled(value, "", mult, &n, why_r) < 0)
            return -1;
        if (n > LLONG_MAX / mult[u - units]) {
            *why_r = "number out of range";
            return -1;
        }
        *secs_r = n * mult[u - units];
        return 0;
    }
    return param_parse_scaled(value, units, mult, secs_r, why_r);
}

/* Size: digits with an optional k m g suffix (any case, 1024-based). */
int param_parse_size(const char *value, long long *bytes_r, const char **why_r)
{
    static const long long mult[] = {KB, KB, MB, MB, GB, GB};

    return param_parse_scaled(value, "kKmMgG", mult, bytes_r, why_r);
}

/* Format seconds with the largest unit that divides them evenly. */
static void param_fmt_time(struct buf *b, long long secs)
{
    static const struct {
        long long mult;
        char unit;
    } u[] = {{WEEK, 'w'}, {DAY, 'd'}, {HOUR, 'h'}, {MINUTE, 'm'}};

    for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
        if (secs != 0 && secs % u[i].mult == 0) {
            buf_printf(b, "%lld%c", secs / u[i].mult, u[i].unit);
            return;
        }
    buf_printf(b, "%llds", secs);
}

/* Format bytes with the largest 1024-based suffix that divides them evenly. */
static void param_fmt_size(struct buf *b, long long bytes)
{
    if (bytes != 0 && bytes % GB == 0)
        buf_printf(b, "%lldg", bytes / GB);
    else if (bytes != 0 && bytes % MB == 0)
        buf_printf(b, "%lldm", bytes / MB);
    else if (bytes != 0 && bytes % KB == 0)
        buf_printf(b, "%lldk", bytes / KB);
    else
        buf_printf(b, "%lld", bytes);
}

/* Format one bound of p's range. */
static void param_fmt_bound(struct buf *b, const struct param_def *p, long long v)
{
    if (p->type == PARAM_TIME)
        param_fmt_time(b, v);
    else if (p->type == PARAM_SIZE)
        param_fmt_size(b, v);
    else
        buf_printf(b, "%lld", v);
}

/* "expected time in range 1s..1d" and the like. */
static const char *param_expected(const struct param_def *p)
{
    static struct buf *why;

    if (why == NULL)
        why = buf_create(100);
    buf_reset(why);
    switch (p->type) {
    case PARAM_INT:
    case PARAM_TIME:
    case PARAM_SIZE:
        buf_printf(why, "expected %s in range ", param_type_name(p->type));
        param_fmt_bound(why, p, p->min);
        buf_puts(why, "..");
        if (p->max != PARAM_NO_MAX)
            param_fmt_bound(why, p, p->max);
        break;
    case PARAM_BOOL:
        buf_puts(why, "expected yes or no");
        break;
    case PARAM_ENUM:
    case PARAM_LIST:
        buf_puts(why, p->type == PARAM_ENUM ? "expected one of " : "expected a list of ");
        for (const char *cp = p->choices; *cp; cp++)
            buf_puts(why, *cp == '|' ? ", " : (char[]){*cp, 0});
        break;
    case PARAM_STRING:
        buf_puts(why, "expected text");
        break;
    }
    return buf_str(why);
}

/* True when word is one of the '|'-separated choices. */
static bool param_choice_ok(const char *choices, const char *word)
{
    size_t len = strlen(word);

    for (const char *cp = choices; *cp;) {
        size_t n = strcspn(cp, "|");

        if (n == len && strncmp(cp, word, n) == 0)
            return true;
        cp += n;
        if (*cp == '|')
            cp++;
    }
    return false;
}

/* Check an expanded value against p's type and range. */
int param_check(const struct param_def *p, const char *value, const char **why_r)
{
    long long n;
    bool flag;
    const char *why;
    int ok = 0;

    switch (p->type) {
    case PARAM_STRING:
        return 0;
    case PARAM_INT:
        ok = param_parse_int(value, &n, &why);
        break;
    case PARAM_TIME:
        ok = param_parse_time(value, p->unit, &n, &why);
        break;
    case PARAM_SIZE:
        ok = param_parse_size(value, &n, &why);
        break;
    case PARAM_BOOL:
        ok = param_parse_bool(value, &flag, &why);
        if (ok < 0)
            *why_r = param_expected(p);
        return ok;
    case PARAM_ENUM:
        if (!param_choice_ok(p->choices, value)) {
            *why_r = param_expected(p);
            return -1;
        }
        return 0;
    case PARAM_LIST:
        if (p->choices != NULL) {
            struct argv *items = param_list_split(value);

            for (size_t i = 0; i < items->argc; i++)
                if (!param_choice_ok(p->choices, items->argv[i]))
                    ok = -1;
            argv_free(&items);
            if (ok < 0)
                *why_r = param_expected(p);
            return ok;
        }
        return 0;
    }
    if (ok < 0 || n < p->min || (p->max != PARAM_NO_MAX && n > p->max)) {
        *why_r = param_expected(p);
        return -1;
    }
    return 0;
}

/* Split at white space and commas; "{ ... }" groups, balanced, stay in one item. */
struct argv *param_list_split(const char *value)
{
    static const char delims[] = " \t\r\n,";
    struct argv *a = argv_create(4);
    const char *cp = value;

    while (*cp) {
        const char *start;
        int depth = 0;

        cp += strspn(cp, delims);
        if (*cp == '\0')
            break;
        start = cp;
        for (; *cp; cp++) {
            if (*cp == '{')
                depth++;
            else if (*cp == '}' && depth > 0)
                depth--;
            else if (depth == 0 && strchr(delims, *cp) != NULL)
                break;
        }
        argv_addn(a, start, (size_t)(cp - start));
    }
    return a;
}
