/*
 * smtpd - the Postel SMTP server (RFC 5321 with PIPELINING, SIZE,
 * 8BITMIME, ENHANCEDSTATUSCODES, DSN, SMTPUTF8 and CHUNKING), see smtpd(8).
 *
 * This file owns main(), the settings (struct smtpd_settings, read from
 * main.cf once per process, with the tables opened before privileges are
 * dropped) and the per-client entry point; the protocol is in
 * smtpd_proto.c and the files named in smtpd.h.
 *
 * Security: runs as mail_owner (master.cf unpriv), optionally chrooted to
 * the queue directory; one client per process at a time, so a crash or a
 * bug affects one session. All input is bounded: line_length_limit per
 * command line, message_size_limit per message, smtpd_recipient_limit
 * recipients, smtpd_hard_error_limit errors, smtpd_timeout per read.
 */
#include "config.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dict/dict.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/domain_class.h"
#include "lib/mail/domain_list.h"
#include "lib/mail/maps.h"
#include "lib/mail/mynetworks.h"
#include "lib/mail/server.h"
#include "lib/proto/smtp_data.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"
#include "lib/util/str.h"
#include "smtpd/smtpd.h"

static struct smtpd_settings smtpd_settings;

/* A time parameter in milliseconds, bounded to what an int holds. */
static int smtpd_time_ms(const char *name)
{
    long long secs = config_time(name);

    return secs > INT_MAX / 1000 ? INT_MAX : (int)(secs * 1000);
}

/* An int parameter bounded to int. */
static int smtpd_int(const char *name)
{
    long long v = config_int(name);

    return v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
}

/* True when a list parameter has no items. */
static bool smtpd_list_empty(const char *value)
{
    return value[strspn(value, " \t\r\n,")] == '\0';
}

/* Read every setting; a configuration error is fatal (master reports it). */
void smtpd_settings_load(struct smtpd_settings *set)
{
    const char *why;
    const char *value;
    char *nets;

    memset(set, 0, sizeof(*set));
    set->myhostname = mem_strdup(config_str("myhostname"));
    set->mail_name = mem_strdup(config_str("mail_name"));
    set->banner = mem_strdup(config_str("smtpd_banner"));
    set->myorigin = mem_strdup(config_str("myorigin"));
    set->recipient_delimiter = mem_strdup(config_str("recipient_delimiter"));
    set->message_size_limit = (unsigned long long)config_size("message_size_limit");
    set->queue_minfree = (unsigned long long)config_size("queue_minfree");
    set->line_length_limit = (size_t)config_int("line_length_limit");
    set->header_size_limit = (size_t)config_int("header_size_limit");
    set->recipient_limit = smtpd_int("smtpd_recipient_limit");
    set->soft_error_limit = smtpd_int("smtpd_soft_error_limit");
    set->hard_error_limit = smtpd_int("smtpd_hard_error_limit");
    set->junk_command_limit = smtpd_int("smtpd_junk_command_limit");
    set->hopcount_limit = smtpd_int("hopcount_limit");
    set->timeout_ms = smtpd_time_ms("smtpd_timeout");
    set->error_sleep_ms = smtpd_time_ms("smtpd_error_sleep_time");
    set->disable_vrfy = config_bool("disable_vrfy_command");
    set->forbid_bare_newline = config_bool("smtpd_forbid_bare_newline");
    set->forbid_unauth_pipelining = config_bool("smtpd_forbid_unauth_pipelining");
    set->helo_required = config_bool("smtpd_helo_required");
    set->peername_lookup = config_bool("smtpd_peername_lookup");
    set->smtputf8_enable = config_bool("smtputf8_enable");
    set->strict_envelopes = config_bool("smtpd_strict_rfc821_envelopes");
    set->discard_ehlo = config_list("smtpd_discard_ehlo_keywords");

    nets = mynetworks_config_value();
    if (mynetworks_create("mynetworks", nets, &set->mynetworks, &why) < 0)
        msg_fatal("%s", why);
    mem_free(nets);
    if (domain_class_create_from_config(0, &set->domains, &why) < 0)
        msg_fatal("%s", why);
    if (domain_list_create("fast_flush_domains", config_str("fast_flush_domains"),
                           DOMAIN_LIST_PARENT, &set->fast_flush, &why) < 0)
        msg_fatal("%s", why);
    value = config_str("local_recipient_maps");
    if (!smtpd_list_empty(value) && maps_create("local_recipient_maps", value, DICT_FLAG_FOLD_KEYS,
                                                &set->local_rcpt_maps, &why) < 0)
        msg_fatal("%s", why);

    /* Cross-parameter sanity. */
    if (set->soft_error_limit > set->hard_error_limit)
        msg_warn("smtpd_soft_error_limit (%d) is larger than smtpd_hard_error_limit (%d): "
                 "clients are disconnected before they are slowed down",
                 set->soft_error_limit, set->hard_error_limit);
    if (set->message_size_limit > 0 &&
        set->message_size_limit < (unsigned long long)set->header_size_limit)
        msg_warn("message_size_limit (%llu) is smaller than header_size_limit (%zu)",
                 set->message_size_limit, set->header_size_limit);
}

/* Release the settings (tables closed). */
void smtpd_settings_free(struct smtpd_settings *set)
{
    mem_free(set->myhostname);
    mem_free(set->mail_name);
    mem_free(set->banner);
    mem_free(set->myorigin);
    mem_free(set->recipient_delimiter);
    argv_free(&set->discard_ehlo);
    mynetworks_free(&set->mynetworks);
    domain_class_free(&set->domains);
    domain_list_free(&set->fast_flush);
    maps_free(&set->local_rcpt_maps);
    memset(set, 0, sizeof(*set));
}

/* Serve one client on fd. */
static void smtpd_service(int fd, const char *service, char **argv)
{
    struct smtpd_session ss;
    const char *why;

    (void)service;
    (void)argv;
    memset(&ss, 0, sizeof(ss));
    ss.set = &smtpd_settings;
    ss.s = stream_open(fd, STREAM_NOCLOSE);
    stream_set_timeout(ss.s, smtpd_settings.timeout_ms);
    smtpd_peer_init(&ss.peer, fd, smtpd_settings.peername_lookup);
    ss.trusted = mynetworks_match(smtpd_settings.mynetworks, ss.peer.addr, &why);
    if (ss.trusted < 0)
        msg_warn("%s: mynetworks lookup failed: %s", ss.peer.namaddr, why);
    ss.protocol = "SMTP";
    ss.state = SMTPD_ST_IDLE;
    ss.cmd_total = mem_alloc_array(smtpd_cmd_count, sizeof(*ss.cmd_total));
    ss.cmd_ok = mem_alloc_array(smtpd_cmd_count, sizeof(*ss.cmd_ok));
    ss.line = buf_create(512);
    ss.reply = buf_create(512);
    ss.dbuf = buf_create(8192);

    smtpd_session_run(&ss);

    smtpd_transaction_reset(&ss);
    smtp_data_free(&ss.dec);
    mem_free(ss.rcpts);
    mem_free(ss.helo);
    mem_free(ss.cmd_total);
    mem_free(ss.cmd_ok);
    buf_free(&ss.line);
    buf_free(&ss.reply);
    buf_free(&ss.dbuf);
    stream_free(&ss.s);
}

/* Before the privilege drop: settings and tables. */
static void smtpd_pre_init(const char *service, char **argv)
{
    (void)service;
    (void)argv;
    /* A queue file past the file size limit is a write error (EFBIG:
     * "452 4.3.1 Insufficient system storage"), not a dead process. */
    signal(SIGXFSZ, SIG_IGN);
    smtpd_settings_load(&smtpd_settings);
}

/* Before a normal exit: close the tables. */
static void smtpd_pre_exit(const char *service, char **argv)
{
    (void)service;
    (void)argv;
    smtpd_settings_free(&smtpd_settings);
}

int main(int argc, char **argv)
{
    static const struct server_options opts = {
        .pre_init = smtpd_pre_init,
        .pre_exit = smtpd_pre_exit,
    };

    single_server_main(argc, argv, smtpd_service, &opts);
}
