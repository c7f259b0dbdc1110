/*
 * smtp - the SMTP delivery agent (smtp(8)): delivers mail to other mail
 * servers, by MX records or to a relay host, with STARTTLS, SMTP AUTH and
 * connection reuse. See smtp.h for the modules and man/man8/smtp.8 for
 * the behaviour.
 *
 * This file is the daemon: the single_server_main() skeleton, the
 * delivery protocol with qmgr (lib/mail/deliver.h: one request, one
 * result per recipient, more requests on the same connection), the
 * process-wide state (settings, tables, TLS context), and the idle
 * connection kept between requests (smtp_connection_cache_on_demand).
 *
 * Security: master runs smtp unprivileged (mail_owner). Tables and the
 * TLS trust store are opened in pre_init, while still root when master
 * is, so smtp_sasl_password_maps may be readable by root only. The
 * request comes from qmgr over a private socket and is checked field by
 * field (deliver.h); the queue file is opened read-only.
 */
#include "config.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/dict/dict.h"
#include "lib/mail/attr.h"
#include "lib/mail/mail_conf.h"
#include "lib/mail/deliver.h"
#include "lib/mail/maps.h"
#include "lib/mail/master_proto.h"
#include "lib/mail/server.h"
#include "lib/mail/tls_client.h"
#include "lib/util/msg.h"
#include "lib/util/stream.h"
#include "smtp/smtp.h"

static struct smtp_agent smtp_agent;

/* Serve one qmgr connection: requests until qmgr closes it. */
static void smtp_service(int fd, const char *service, char **argv)
{
    struct attr_parser *p = attr_parser_create(NULL);
    struct stream *s = stream_open(fd, STREAM_NOCLOSE);
    struct deliver_request *req = NULL;
    const char *why;
    int r;

    (void)service;
    (void)argv;
    stream_set_timeout(s, (int)(config_time("ipc_timeout") * 1000));
    for (;;) {
        r = deliver_request_recv(s, p, &req, &why);
        if (r == 0)
            break;
        if (r < 0) {
            msg_warn("delivery request: %s", why);
            break;
        }
        r = smtp_deliver(&smtp_agent, req, s);
        deliver_request_free(&req);
        if (r < 0 || smtp_agent.table_error)
            break;
    }
    stream_free(&s);
    attr_parser_free(&p);
}

/* Open a table list named by a parameter; fatal on a configuration error. */
static struct maps *smtp_open_maps(const char *name, const char *value)
{
    struct maps *m = NULL;
    const char *why;

    if (*value == 0)
        return NULL;
    if (maps_create(name, value, DICT_FLAG_FOLD_KEYS, &m, &why) < 0)
        msg_fatal("%s: %s", name, why);
    return m;
}

/* As root, before the skeleton changes directory: settings, tables, TLS. */
static void smtp_pre_init(const char *service, char **argv)
{
    struct smtp_settings *set = &smtp_agent.set;
    const char *why;

    (void)service;
    (void)argv;
    srandom((unsigned)time(NULL) ^ ((unsigned)getpid() << 16));
    if (smtp_settings_load(set, &why) < 0)
        msg_fatal("%s", why);
    if (set->sasl_enable)
        smtp_agent.sasl_passwd = smtp_open_maps("smtp_sasl_password_maps", set->sasl_password_maps);
    smtp_agent.generic_maps = smtp_open_maps("smtp_generic_maps", set->generic_maps);
    smtp_agent.self = smtp_self_create(set->myhostname, set->inet_interfaces);
    if (set->tls_level != SMTP_TLS_NONE || set->tls_wrappermode) {
        struct tls_client_params tp = {.cafile = set->tls_cafile, .capath = set->tls_capath};

        if (tls_client_ctx_create(&tp, &smtp_agent.tls_ctx, &why) < 0)
            msg_warn("TLS is unavailable: %s%s", why,
                     set->tls_level == SMTP_TLS_ENCRYPT || set->tls_wrappermode
                         ? "; mail that requires TLS is deferred"
                         : "");
    }
}

static void smtp_pre_exit(const char *service, char **argv);

/*
 * Between requests: keep an idle connection only while no new request
 * comes and at most smtp_connection_cache_time_limit. The wait watches the
 * listening socket and master's status pipe (the skeleton's own poll then
 * takes over) and the connection (a server that hangs up or says 421).
 */
static void smtp_pre_accept(const char *service, char **argv)
{
    struct smtp_session *sess = smtp_agent.cached;
    struct pollfd pfd[3];
    long long left;

    (void)service;
    (void)argv;
    if (smtp_agent.table_error) {
        /*
         * Tables were opened as root; one that was rebuilt (or made
         * unreadable) can be opened again only by a new process.
         */
        msg_info("a lookup table failed: restarting to open the tables again");
        smtp_pre_exit(service, argv);
        exit(0);
    }
    if (sess == NULL)
        return;
    left = smtp_agent.set.cache_time_limit - (smtp_now_ms() - sess->idle_since_ms);
    if (left > 0 && !smtp_session_idle_broken(sess)) {
        pfd[0] = (struct pollfd){.fd = MASTER_LISTEN_FD, .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = MASTER_STATUS_FD, .events = POLLIN};
        pfd[2] = (struct pollfd){.fd = sess->fd, .events = POLLIN};
        if (poll(pfd, 3, (int)left) > 0 && pfd[2].revents == 0)
            return; /* a request (or master): the skeleton takes it from here */
    }
    smtp_cache_expire(&smtp_agent, true);
}

/* Before exit: the kept connection, tables, TLS. */
static void smtp_pre_exit(const char *service, char **argv)
{
    (void)service;
    (void)argv;
    smtp_cache_expire(&smtp_agent, true);
    maps_free(&smtp_agent.sasl_passwd);
    maps_free(&smtp_agent.generic_maps);
    smtp_self_free(&smtp_agent.self);
    tls_client_ctx_free(&smtp_agent.tls_ctx);
    smtp_settings_clear(&smtp_agent.set);
}

int main(int argc, char **argv)
{
    static const struct server_options opts = {
        .pre_init = smtp_pre_init,
        .pre_accept = smtp_pre_accept,
        .pre_exit = smtp_pre_exit,
    };

    single_server_main(argc, argv, smtp_service, &opts);
}
