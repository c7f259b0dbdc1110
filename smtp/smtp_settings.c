/*
 * smtp_settings - the main.cf parameters of smtp(8), read once into a
 * struct smtp_settings and checked as a whole: words become enums and bit
 * masks, and a word that means nothing is a configuration error naming the
 * parameter.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "lib/mail/mail_conf.h"
#include "lib/util/argv.h"
#include "lib/util/mem.h"
#include "lib/util/str.h"
#include "smtp/smtp.h"

/* Seconds to milliseconds, capped at what an int holds. */
static int smtp_ms(long long secs)
{
    return secs > INT_MAX / 1000 ? INT_MAX : (int)(secs * 1000);
}

/* "noplaintext, noanonymous" to SMTP_SASL_* bits. */
int smtp_sasl_options_parse(const char *value, unsigned *bits_r, const char **why_r)
{
    static char why[128];
    struct argv *words = argv_split(value, " \t\r\n,");
    int ret = 0;

    *bits_r = 0;
    for (size_t i = 0; i < words->argc; i++) {
        const char *w = words->argv[i];

        if (str_eq_icase(w, "noplaintext"))
            *bits_r |= SMTP_SASL_NOPLAINTEXT;
        else if (str_eq_icase(w, "noanonymous"))
            *bits_r |= SMTP_SASL_NOANONYMOUS;
        else if (!str_eq_icase(w, "noactive") && !str_eq_icase(w, "nodictionary") &&
                 !str_eq_icase(w, "mutual_auth")) {
            snprintf(why, sizeof(why), "unknown SASL security option \"%.60s\"", w);
            *why_r = why;
            ret = -1;
            break;
        }
    }
    argv_free(&words);
    return ret;
}

/* Read the parameters into s (cleared first). 0, or -1 with *why_r. */
int smtp_settings_load(struct smtp_settings *s, const char **why_r)
{
    static char why[256];
    struct argv *words;
    const char *text, *bad;

    memset(s, 0, sizeof(*s));
    s->myhostname = mem_strdup(config_str("myhostname"));
    s->helo_name = mem_strdup(config_str("smtp_helo_name"));
    s->connect_timeout = smtp_ms(config_time("smtp_connect_timeout"));
    s->helo_timeout = smtp_ms(config_time("smtp_helo_timeout"));
    s->mail_timeout = smtp_ms(config_time("smtp_mail_timeout"));
    s->rcpt_timeout = smtp_ms(config_time("smtp_rcpt_timeout"));
    s->data_init_timeout = smtp_ms(config_time("smtp_data_init_timeout"));
    s->data_xfer_timeout = smtp_ms(config_time("smtp_data_xfer_timeout"));
    s->data_done_timeout = smtp_ms(config_time("smtp_data_done_timeout"));
    s->quit_timeout = smtp_ms(config_time("smtp_quit_timeout"));
    s->rset_timeout = smtp_ms(config_time("smtp_rset_timeout"));
    s->starttls_timeout = smtp_ms(config_time("smtp_starttls_timeout"));
    s->mx_address_limit = (int)config_int("smtp_mx_address_limit");
    s->mx_session_limit = (int)config_int("smtp_mx_session_limit");
    s->skip_5xx_greeting = config_bool("smtp_skip_5xx_greeting");
    s->line_length_limit = (size_t)config_int("smtp_line_length_limit");
    s->mime_conversion = !config_bool("disable_mime_output_conversion");
    s->tls_wrappermode = config_bool("smtp_tls_wrappermode");
    s->tls_cafile = mem_strdup(config_str("smtp_tls_CAfile"));
    s->tls_capath = mem_strdup(config_str("smtp_tls_CApath"));
    s->sasl_enable = config_bool("smtp_sasl_auth_enable");
    s->sasl_password_maps = mem_strdup(config_str("smtp_sasl_password_maps"));
    s->sasl_mech_filter = config_list("smtp_sasl_mechanism_filter");
    s->generic_maps = mem_strdup(config_str("smtp_generic_maps"));
    s->cache_on_demand = config_bool("smtp_connection_cache_on_demand");
    s->reuse_count_limit = (int)config_int("smtp_connection_reuse_count_limit");
    s->cache_time_limit = smtp_ms(config_time("smtp_connection_cache_time_limit"));
    s->reuse_time_limit = config_time("smtp_connection_reuse_time_limit") * 1000;
    s->inet_interfaces = config_list("inet_interfaces");

    words = config_list("inet_protocols");
    for (size_t i = 0; i < words->argc; i++) {
        if (str_eq_icase(words->argv[i], "all"))
            s->use_ipv4 = s->use_ipv6 = true;
        else if (str_eq_icase(words->argv[i], "ipv4"))
            s->use_ipv4 = true;
        else if (str_eq_icase(words->argv[i], "ipv6"))
            s->use_ipv6 = true;
    }
    argv_free(&words);
    if (!s->use_ipv4 && !s->use_ipv6)
        s->use_ipv4 = s->use_ipv6 = true;

    text = config_str("smtp_address_preference");
    s->address_pref = str_eq_icase(text, "ipv4")   ? SMTP_PREF_IPV4
                      : str_eq_icase(text, "ipv6") ? SMTP_PREF_IPV6
                                                   : SMTP_PREF_ANY;

    words = config_list("smtp_host_lookup");
    for (size_t i = 0; i < words->argc; i++)
        s->host_lookup |=
            str_eq_icase(words->argv[i], "native") ? SMTP_LOOKUP_NATIVE : SMTP_LOOKUP_DNS;
    argv_free(&words);
    if (s->host_lookup == 0)
        s->host_lookup = SMTP_LOOKUP_DNS;

    text = config_str("smtp_tls_security_level");
    s->tls_level = str_eq_icase(text, "none")      ? SMTP_TLS_NONE
                   : str_eq_icase(text, "encrypt") ? SMTP_TLS_ENCRYPT
                                                   : SMTP_TLS_MAY;

    if (smtp_sasl_options_parse(config_str("smtp_sasl_security_options"), &s->sasl_sec, &bad) < 0) {
        snprintf(why, sizeof(why), "smtp_sasl_security_options: %s", bad);
        goto fail;
    }
    if (smtp_sasl_options_parse(config_str("smtp_sasl_tls_security_options"), &s->sasl_tls_sec,
                                &bad) < 0) {
        snprintf(why, sizeof(why), "smtp_sasl_tls_security_options: %s", bad);
        goto fail;
    }
    if (*s->helo_name == 0 || strpbrk(s->helo_name, " \t\r\n") != NULL) {
        snprintf(why, sizeof(why), "smtp_helo_name \"%.100s\" is empty or contains white space",
                 s->helo_name);
        goto fail;
    }
    return 0;

fail:
    *why_r = why;
    smtp_settings_clear(s);
    return -1;
}

/* Free everything s holds. */
void smtp_settings_clear(struct smtp_settings *s)
{
    mem_free(s->myhostname);
    mem_free(s->helo_name);
    mem_free(s->tls_cafile);
    mem_free(s->tls_capath);
    mem_free(s->sasl_password_maps);
    argv_free(&s->sasl_mech_filter);
    mem_free(s->generic_maps);
    argv_free(&s->inet_interfaces);
    memset(s, 0, sizeof(*s));
}
