/*
 * master_conf - turn master.cf entries (and the main.cf parameters they
 * depend on) into master's service list. Nothing is bound or started here,
 * so a configuration error leaves nothing behind: every error names the
 * master.cf file and line.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "lib/mail/mail_conf.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "master/master.h"

#define MASTER_NAME_MAX 100 /* unix service names */

static char master_conf_why[1024];

/* Free one service (its sockets must be closed already). */
void master_serv_free(struct master_serv **sp)
{
    struct master_serv *s = *sp;

    if (s == NULL)
        return;
    mem_free(s->name);
    mem_free(s->path);
    if (s->argv)
        argv_free(&s->argv);
    mem_free(s->where);
    mem_free(s->addrs);
    mem_free(s->sock_path);
    mem_free(s->listen_key);
    mem_free(s);
    *sp = NULL;
}

/* Free a whole list. */
void master_serv_free_list(struct master_serv **listp)
{
    struct master_serv *s = *listp, *next;

    for (; s; s = next) {
        next = s->next;
        master_serv_free(&s);
    }
    *listp = NULL;
}

/* A unix/fifo service name must be a plain file name. */
static bool master_unix_name_ok(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > MASTER_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (const char *p = name; *p; p++)
        if (*p == '/' || (unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

/* Build one service from one master.cf entry; NULL with *why_r. */
static struct master_serv *master_conf_entry(const struct mastercf_entry *e, const char **why_r)
{
    struct master_serv *s = mem_alloc(sizeof(*s));
    struct buf *key = buf_create(64);
    const char *cmd;
    const char *why;

    s->name = mem_strdup(e->service);
    s->type = e->type;
    s->private_ = e->private_;
    s->unpriv = e->unpriv;
    s->chroot = e->chroot;
    s->wakeup = e->wakeup;
    s->wakeup_if_running = e->wakeup_if_running;
    s->max_proc = e->maxproc_default ? (int)config_int("default_process_limit") : e->maxproc;
    s->status_fd = s->status_child_fd = -1;
    {
        char where[512];

        snprintf(where, sizeof(where), "%s, line %d", e->file ? e->file : "master.cf", e->line);
        s->where = mem_strdup(where);
    }

    if (e->args == NULL || e->args->argc == 0) {
        why = "missing command";
        goto fail;
    }
    cmd = e->args->argv[0];
    if (strchr(cmd, '/') != NULL) {
        s->path = mem_strdup(cmd);
    } else {
        struct buf *path = buf_create(64);

        buf_printf(path, "%s/%s", config_str("daemon_directory"), cmd);
        s->path = buf_export(&path);
    }
    s->argv = argv_create(e->args->argc + 1);
    for (size_t i = 0; i < e->args->argc; i++)
        argv_add(s->argv, e->args->argv[i]);

    switch (e->type) {
    case MASTERCF_INET:
        if (master_inet_addrs(e->service, &s->addrs, &s->addr_count, &why) < 0)
            goto fail;
        buf_puts(key, "inet");
        for (size_t i = 0; i < s->addr_count; i++) {
            char text[80];

            master_addr_text(&s->addrs[i], text, sizeof(text));
            buf_printf(key, " %s", text);
        }
        if (s->wakeup > 0) {
            msg_warn("%s: service %s: wakeup is ignored for inet services", s->where, s->name);
            s->wakeup = 0;
        }
        break;
    case MASTERCF_UNIX:
    case MASTERCF_UNIX_DGRAM:
    case MASTERCF_FIFO: {
        struct buf *path = buf_create(64);

        if (!master_unix_name_ok(e->service)) {
            why = "bad service name: expected a plain file name";
            buf_free(&path);
            goto fail;
        }
        buf_printf(path, "%s/%s/%s", config_str("queue_directory"),
                   e->private_ ? "private" : "public", e->service);
        s->sock_path = buf_export(&path);
        buf_printf(key, "%s %s", mastercf_type_names[e->type], s->sock_path);
        break;
    }
    default:
        why = "service type pass is not supported";
        goto fail;
    }
    s->listen_key = buf_export(&key);
    return s;

fail:
    snprintf(master_conf_why, sizeof(master_conf_why), "%s: service %s: %s", s->where, e->service,
             why);
    *why_r = master_conf_why;
    buf_free(&key);
    master_serv_free(&s);
    return NULL;
}

/* Build the whole service list from master.cf; 0, or -1 with *why_r. */
int master_conf_build(const struct mastercf *cf, struct master_serv **list_r, const char **why_r)
{
    struct master_serv *head = NULL, **tail = &head;

    for (size_t i = 0; i < cf->count; i++) {
        const struct mastercf_entry *e = &cf->entries[i];
        struct master_serv *s;

        for (s = head; s; s = s->next) {
            if (s->type == e->type && strcmp(s->name, e->service) == 0) {
                snprintf(master_conf_why, sizeof(master_conf_why),
                         "%s, line %d: duplicate service %s/%s (first defined at %s)",
                         e->file ? e->file : "master.cf", e->line, e->service,
                         mastercf_type_names[e->type], s->where);
                *why_r = master_conf_why;
                master_serv_free_list(&head);
                return -1;
            }
        }
        if ((s = master_conf_entry(e, why_r)) == NULL) {
            master_serv_free_list(&head);
            return -1;
        }
        *tail = s;
        tail = &s->next;
    }
    *list_r = head;
    return 0;
}
