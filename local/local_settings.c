/*
 * local_settings - the main.cf parameters of local(8), read once into a
 * struct local_settings and checked as a whole (Dovecot's settings-struct
 * idea): word lists become bit masks, and a word that means nothing is a
 * configuration error naming the parameter.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "lib/mail/mail_conf.h"
#include "lib/util/argv.h"
#include "lib/util/mem.h"
#include "lib/util/str.h"
#include "local/local.h"

/* Words to bits; -1 with *why_r naming the first unknown word. */
static int local_words(const struct argv *words, const char *const *names, const unsigned *bits,
                       size_t n, unsigned *mask_r, const char **why_r)
{
    static char why[160];

    *mask_r = 0;
    for (size_t i = 0; words != NULL && i < words->argc; i++) {
        size_t j;

        for (j = 0; j < n; j++)
            if (str_eq_icase(words->argv[i], names[j]))
                break;
        if (j == n) {
            snprintf(why, sizeof(why), "unknown value \"%.60s\"", words->argv[i]);
            *why_r = why;
            return -1;
        }
        *mask_r |= bits[j];
    }
    return 0;
}

/* "alias, forward, include" to LOCAL_EXP_* bits. */
int local_classes_parse(const struct argv *words, unsigned *bits_r, const char **why_r)
{
    static const char *const names[] = {"alias", "forward", "include"};
    static const unsigned bits[] = {LOCAL_EXP_ALIAS, LOCAL_EXP_FORWARD, LOCAL_EXP_INCLUDE};

    return local_words(words, names, bits, 3, bits_r, why_r);
}

/* "command, file, forward" to LOCAL_PREPEND_* bits. */
int local_prepend_parse(const struct argv *words, unsigned *bits_r, const char **why_r)
{
    static const char *const names[] = {"command", "file", "forward"};
    static const unsigned bits[] = {LOCAL_PREPEND_COMMAND, LOCAL_PREPEND_FILE,
                                    LOCAL_PREPEND_FORWARD};

    return local_words(words, names, bits, 3, bits_r, why_r);
}

/* "fcntl, dotlock" to LOCAL_LOCK_* bits. */
int local_lock_parse(const struct argv *words, int *bits_r, const char **why_r)
{
    static const char *const names[] = {"dotlock", "fcntl"};
    static const unsigned bits[] = {LOCAL_LOCK_DOTLOCK, LOCAL_LOCK_FCNTL};
    unsigned mask;

    if (local_words(words, names, bits, 2, &mask, why_r) < 0)
        return -1;
    *bits_r = (int)mask;
    return 0;
}

/* Read the parameters into s (cleared first). 0, or -1 with *why_r. */
int local_settings_load(struct local_settings *s, const char **why_r)
{
    static char why[256];
    struct argv *words;
    const char *bad;
    int rc;

    memset(s, 0, sizeof(*s));
    s->myhostname = mem_strdup(config_str("myhostname"));
    s->myorigin = mem_strdup(config_str("myorigin"));
    s->alias_maps = mem_strdup(config_str("alias_maps"));
    s->local_mailbox_maps = mem_strdup(config_str("local_mailbox_maps"));
    s->mail_spool_directory = mem_strdup(config_str("mail_spool_directory"));
    s->home_mailbox = mem_strdup(config_str("home_mailbox"));
    s->mailbox_command = mem_strdup(config_str("mailbox_command"));
    s->forward_path = config_list("forward_path");
    s->command_time_limit = config_time("command_time_limit");
    s->local_command_shell = mem_strdup(config_str("local_command_shell"));
    s->default_privs = mem_strdup(config_str("default_privs"));
    s->command_filter = mem_strdup(config_str("command_expansion_filter"));
    s->forward_filter = mem_strdup(config_str("forward_expansion_filter"));
    s->mailbox_size_limit = config_size("mailbox_size_limit");
    s->recipient_delimiter = mem_strdup(config_str("recipient_delimiter"));
    s->owner_request_special = config_bool("owner_request_special");
    s->duplicate_filter_limit = (int)config_int("duplicate_filter_limit");
    s->expansion_limit = (int)config_int("local_expansion_limit");
    s->export_environment = config_list("export_environment");
    s->mail_owner = mem_strdup(config_str("mail_owner"));
    s->biff = config_bool("biff");
    s->line_max = (size_t)config_int("line_length_limit");

    words = config_list("allow_mail_to_commands");
    rc = local_classes_parse(words, &s->allow_commands, &bad);
    argv_free(&words);
    if (rc < 0) {
        snprintf(why, sizeof(why), "allow_mail_to_commands: %s", bad);
        goto fail;
    }
    words = config_list("allow_mail_to_files");
    rc = local_classes_parse(words, &s->allow_files, &bad);
    argv_free(&words);
    if (rc < 0) {
        snprintf(why, sizeof(why), "allow_mail_to_files: %s", bad);
        goto fail;
    }
    words = config_list("prepend_delivered_header");
    rc = local_prepend_parse(words, &s->prepend_delivered, &bad);
    argv_free(&words);
    if (rc < 0) {
        snprintf(why, sizeof(why), "prepend_delivered_header: %s", bad);
        goto fail;
    }
    words = config_list("mailbox_delivery_lock");
    rc = local_lock_parse(words, &s->mbox_lock, &bad);
    argv_free(&words);
    if (rc < 0) {
        snprintf(why, sizeof(why), "mailbox_delivery_lock: %s", bad);
        goto fail;
    }
    if (*s->mail_spool_directory != '/') {
        snprintf(why, sizeof(why), "mail_spool_directory \"%.100s\" is not an absolute path",
                 s->mail_spool_directory);
        goto fail;
    }
    if (*s->home_mailbox == '/') {
        snprintf(why, sizeof(why), "home_mailbox \"%.100s\" must be relative to the home directory",
                 s->home_mailbox);
        goto fail;
    }
    if (*s->default_privs == 0) {
        snprintf(why, sizeof(why), "default_privs is empty");
        goto fail;
    }
    return 0;

fail:
    *why_r = why;
    local_settings_clear(s);
    return -1;
}

/* Free everything s holds. */
void local_settings_clear(struct local_settings *s)
{
    mem_free(s->myhostname);
    mem_free(s->myorigin);
    mem_free(s->alias_maps);
    mem_free(s->local_mailbox_maps);
    mem_free(s->mail_spool_directory);
    mem_free(s->home_mailbox);
    mem_free(s->mailbox_command);
    argv_free(&s->forward_path);
    mem_free(s->local_command_shell);
    mem_free(s->default_privs);
    mem_free(s->command_filter);
    mem_free(s->forward_filter);
    mem_free(s->recipient_delimiter);
    argv_free(&s->export_environment);
    mem_free(s->mail_owner);
    memset(s, 0, sizeof(*s));
}
