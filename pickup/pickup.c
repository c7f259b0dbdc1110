/*
 * pickup - the daemon that moves messages from the maildrop queue into the
 * mail queue (like Postfix's pickup(8)).
 *
 * master.cf: "pickup unix n - n 60 1 pickup". master wakes it every
 * minute, postdrop(1) wakes it through public/pickup after each new file;
 * it also looks once when it starts. Each look lists maildrop/, oldest
 * first, and hands every file named like a queue ID to pickup_file()
 * (pickup_file.c), which validates it and writes the queue file.
 *
 * This module owns the maildrop directory scan: which names are messages,
 * which are postdrop's files in progress (<id>.tmp, left alone for a day,
 * then removed), and which do not belong (moved to corrupt/).
 *
 * Security notes: runs as mail_owner in queue_directory (never as root).
 * Directory entries are chosen by local users: names are checked before
 * use, never printed raw, and never become part of a path we create.
 * Every file is opened with O_NOFOLLOW and checked (pickup_file.c).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/param.h"
#include "lib/mail/queue_file.h"
#include "lib/mail/queue_id.h"
#include "lib/mail/server.h"
#include "lib/util/argv.h"
#include "lib/util/event.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "pickup/pickup.h"

#define PICKUP_TMP_MAX_AGE (24 * 60 * 60) /* postdrop's .tmp files older than this are removed */
#define PICKUP_NAMES_MAX 100000           /* entries looked at in one scan */

struct pickup_settings pickup_set;

/* Names queued in this process whose maildrop file could not be removed. */
static struct argv *pickup_stuck;

/* An integer parameter that some builds may not have yet (0 when absent). */
static long long pickup_param_num(const char *name)
{
    const struct param_def *p = param_find(name);

    if (p == NULL)
        return 0;
    if (p->type == PARAM_SIZE)
        return config_size(name);
    if (p->type == PARAM_INT)
        return config_int(name);
    return 0;
}

/* Read the settings (after the skeleton read main.cf). */
static void pickup_settings_read(void)
{
    long long hsl = pickup_param_num("header_size_limit");

    pickup_set.myhostname = mem_strdup(config_str("myhostname"));
    pickup_set.myorigin = mem_strdup(config_str("myorigin"));
    pickup_set.mail_name = mem_strdup(config_str("mail_name"));
    pickup_set.size_limit = (unsigned long long)config_size("message_size_limit");
    pickup_set.header_size_limit = hsl > 0 ? (size_t)hsl : 0;
    pickup_set.hopcount_limit = (int)pickup_param_num("hopcount_limit");
}

/* Was this name queued already (its removal failed)? */
static bool pickup_is_stuck(const char *name)
{
    for (size_t i = 0; pickup_stuck != NULL && i < pickup_stuck->argc; i++)
        if (strcmp(pickup_stuck->argv[i], name) == 0)
            return true;
    return false;
}

/* Remember a queued file whose maildrop entry could not be removed. */
static void pickup_remember_stuck(const char *name)
{
    if (pickup_stuck == NULL)
        pickup_stuck = argv_create(4);
    argv_add(pickup_stuck, name);
}

/* A .tmp file: postdrop is writing it, or died a day ago. */
static void pickup_tmp_file(const char *name)
{
    char path[sizeof(QUEUE_DIR_MAILDROP) + 64];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", QUEUE_DIR_MAILDROP, name);
    if (lstat(path, &st) < 0)
        return;
    if (time(NULL) - st.st_mtime <= PICKUP_TMP_MAX_AGE)
        return;
    if (unlink(path) == 0)
        msg_info("%s: removed stale temporary file (uid=%ld)", path, (long)st.st_uid);
    else if (errno != ENOENT)
        msg_warn("remove %s: %m", path);
}

/* Sort maildrop names (queue IDs sort by arrival). */
static int pickup_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Look at maildrop/ once and queue what is there. */
static void pickup_scan(void)
{
    struct argv *names = argv_create(16);
    DIR *d = opendir(QUEUE_DIR_MAILDROP);
    struct dirent *de;
    size_t queued = 0;

    if (d == NULL) {
        msg_warn("open directory %s: %m", QUEUE_DIR_MAILDROP);
        argv_free(&names);
        return;
    }
    while ((de = readdir(d)) != NULL && names->argc < PICKUP_NAMES_MAX) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            argv_add(names, de->d_name);
    }
    closedir(d);
    qsort(names->argv, names->argc, sizeof(char *), pickup_name_cmp);

    for (size_t i = 0; i < names->argc; i++) {
        const char *name = names->argv[i];
        size_t len = strlen(name);
        enum pickup_result r;

        if (len == QUEUE_ID_LEN + strlen(QUEUE_SUFFIX_TMP) &&
            queue_id_valid_n(name, QUEUE_ID_LEN) &&
            strcmp(name + QUEUE_ID_LEN, QUEUE_SUFFIX_TMP) == 0) {
            pickup_tmp_file(name);
            continue;
        }
        if (!queue_id_valid(name)) {
            pickup_corrupt(name, "not a maildrop file name");
            continue;
        }
        if (pickup_is_stuck(name))
            continue;
        r = pickup_file(name);
        if (r == PICKUP_QUEUED || r == PICKUP_STUCK)
            queued++;
        if (r == PICKUP_STUCK)
            pickup_remember_stuck(name);
        if (r == PICKUP_RETRY)
            break; /* full disk and the like: the next wakeup tries again */
    }
    if (msg_verbose)
        msg_debug("scan: %zu entries, %zu queued", names->argc, queued);
    argv_free(&names);
}

/* A wakeup from master or postdrop: whatever the bytes, look. */
static void pickup_trigger(const char *data, size_t len, const char *service, char **argv)
{
    (void)data, (void)len, (void)service, (void)argv;
    pickup_scan();
}

/* The first look, right after start. */
static void pickup_first_scan(void *ctx)
{
    (void)ctx;
    pickup_scan();
}

/* After the privilege drop: settings, and a look at what waits already. */
static void pickup_post_init(const char *service, char **argv)
{
    (void)service, (void)argv;
    pickup_settings_read();
    (void)event_timer_add(event_server_loop(), 0, pickup_first_scan, NULL);
}

/* Before exit: free what we hold. */
static void pickup_pre_exit(const char *service, char **argv)
{
    (void)service, (void)argv;
    mem_free(pickup_set.myhostname);
    mem_free(pickup_set.myorigin);
    mem_free(pickup_set.mail_name);
    memset(&pickup_set, 0, sizeof(pickup_set));
    argv_free(&pickup_stuck);
}

int main(int argc, char **argv)
{
    static const struct server_options opts = {
        .post_init = pickup_post_init,
        .pre_exit = pickup_pre_exit,
    };

    event_server_main(argc, argv, NULL, pickup_trigger, &opts);
}
