/*
 * dict_unix - unix: tables, the system's user and group databases through
 * the C library (getpwnam, getgrnam), as Postfix's unix: type:
 *
 *   unix:passwd.byname  key: a user name; value: the passwd(5) line
 *                       "name:passwd:uid:gid:gecos:dir:shell"
 *   unix:group.byname   key: a group name; value: the group(5) line
 *                       "name:passwd:gid:member,member,..."
 *
 * smtpd uses unix:passwd.byname in local_recipient_maps to know which
 * local users exist. The C library follows nsswitch.conf, so users from
 * LDAP or systemd are found too. Read-only.
 *
 * Security: "not found" is only reported when the C library says the name
 * does not exist (NULL with errno 0, ENOENT, ESRCH, EBADF or EPERM, as
 * getpwnam(3) documents); any other failure (an NSS back end that is down,
 * out of file descriptors) is a table error, so the caller defers instead
 * of rejecting a real user. A process that cannot see /etc/passwd (or
 * /etc/group) at all, typically because it runs chrooted, gets a table
 * error too: the C library would say "no such user" for everyone.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "lib/dict/dict_priv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"

enum unix_map { UNIX_PASSWD, UNIX_GROUP };

struct dict_unix {
    enum unix_map map;
    struct buf *value;
};

/* True when errno after a NULL getpwnam/getgrnam means "no such name". */
static bool unix_notfound_errno(int err)
{
    return err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM;
}

/* Not found, unless the database file is out of sight (then an error). */
static int unix_notfound(struct dict *d, const char *file)
{
    if (access(file, F_OK) < 0)
        return dict_why(d, "%s: %s is not reachable (chroot?): %m", d->spec, file);
    return DICT_NOTFOUND;
}

/* Look a user or group name up. */
static int unix_lookup(struct dict *d, const char *key, const char **value_r)
{
    struct dict_unix *u = d->priv;

    if (*key == '\0')
        return DICT_NOTFOUND;
    buf_reset(u->value);
    errno = 0;
    if (u->map == UNIX_PASSWD) {
        struct passwd *pw = getpwnam(key);

        if (pw == NULL)
            return unix_notfound_errno(errno)
                       ? unix_notfound(d, "/etc/passwd")
                       : dict_why(d, "%s: lookup of \"%s\": %m", d->spec, key);
        buf_printf(u->value, "%s:%s:%ld:%ld:%s:%s:%s", pw->pw_name,
                   pw->pw_passwd ? pw->pw_passwd : "", (long)pw->pw_uid, (long)pw->pw_gid,
                   pw->pw_gecos ? pw->pw_gecos : "", pw->pw_dir ? pw->pw_dir : "",
                   pw->pw_shell ? pw->pw_shell : "");
    } else {
        struct group *gr = getgrnam(key);

        if (gr == NULL)
            return unix_notfound_errno(errno)
                       ? unix_notfound(d, "/etc/group")
                       : dict_why(d, "%s: lookup of \"%s\": %m", d->spec, key);
        buf_printf(u->value, "%s:%s:%ld:", gr->gr_name, gr->gr_passwd ? gr->gr_passwd : "",
                   (long)gr->gr_gid);
        for (char **mp = gr->gr_mem; mp != NULL && *mp != NULL; mp++)
            buf_printf(u->value, "%s%s", mp == gr->gr_mem ? "" : ",", *mp);
    }
    if (buf_len(u->value) > DICT_VALUE_MAX)
        return dict_why(d, "%s: entry for \"%s\" is too long", d->spec, key);
    *value_r = buf_str(u->value);
    return DICT_FOUND;
}

/* Release the table's state. */
static void unix_close(struct dict *d)
{
    struct dict_unix *u = d->priv;

    if (u == NULL)
        return;
    buf_free(&u->value);
    mem_free(u);
}

static const struct dict_ops unix_ops = {
    .lookup = unix_lookup,
    .close = unix_close,
};

/* unix:passwd.byname or unix:group.byname */
static int unix_open(struct dict *d, const char *name, int flags)
{
    struct dict_unix *u;
    enum unix_map map;

    (void)flags;
    if (strcmp(name, "passwd.byname") == 0)
        map = UNIX_PASSWD;
    else if (strcmp(name, "group.byname") == 0)
        map = UNIX_GROUP;
    else
        return dict_why(d, "%s: unknown unix: table (passwd.byname or group.byname)", d->spec);
    u = mem_alloc(sizeof(*u));
    u->map = map;
    u->value = buf_create(128);
    d->priv = u;
    d->ops = &unix_ops;
    return 0;
}

const struct dict_type dict_type_unix = {
    .name = "unix",
    .type_flags = DICT_TYPE_FIXED,
    .open = unix_open,
};
