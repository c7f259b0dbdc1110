/*
 * local_privs - the identities deliveries run as: struct local_creds
 * (uid, gid, supplementary groups, home, shell) from the passwd and group
 * databases, and the switch of the effective identity around a mailbox or
 * file access.
 *
 * local(8) runs as root and never writes a user's files as root: each
 * mailbox, .forward or /file access happens between local_privs_enter(user)
 * and local_privs_leave(), which set and reset the supplementary groups,
 * the effective gid and the effective uid (in that order; back in the
 * opposite order). Commands run in a child that switches for good (spawn).
 * Without root (a test or quickstart instance run by a normal user) there
 * is nothing to switch: only the process's own uid can be used.
 *
 * Accounts that were found (passwd entry and supplementary groups) are
 * kept for LOCAL_CREDS_TTL_MS in a small cache: with NSS modules such as
 * systemd's, one getpwnam plus getgrouplist costs dozens of system calls,
 * paid for every delivery to the same user otherwise. "Unknown user" and
 * lookup errors are never cached: a new account is seen at once, and a
 * bounce is never based on an old answer.
 *
 * Security: a failure to return to root is fatal (the process would go on
 * with a user's rights, or worse, half of them). The saved set-user-ID stays
 * 0 while a user's rights are in effect, so nothing the user controls runs
 * in this process in the meantime: only our own file operations.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/util/clock.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"
#include "local/local.h"

#define LOCAL_GROUPS_MAX 65536
#define LOCAL_CREDS_TTL_MS 60000 /* how long a found account is reused */
#define LOCAL_CREDS_CACHE 16     /* accounts kept (by name and by uid) */

struct local_creds_cached {
    struct local_creds *creds; /* NULL: empty */
    bool by_name;              /* looked up by name (else by uid) */
    long long expires_ms;      /* clock_now_ms() */
};

static struct local_creds_cached local_creds_cache[LOCAL_CREDS_CACHE];
static unsigned local_creds_cache_next; /* the entry to replace next (round robin) */

static gid_t *local_root_groups; /* root's supplementary groups, to restore */
static int local_root_ngroups = -1;
static bool local_entered;

/* A new identity; home and shell may be NULL. Supplementary groups from the group file. */
struct local_creds *local_creds_create(const char *name, uid_t uid, gid_t gid, const char *home,
                                       const char *shell)
{
    struct local_creds *c = mem_alloc(sizeof(*c));
    int n = 16;

    c->name = mem_strdup(name);
    c->uid = uid;
    c->gid = gid;
    c->home = home ? mem_strdup(home) : NULL;
    c->shell = shell ? mem_strdup(shell) : NULL;
    c->groups = mem_alloc_array((size_t)n, sizeof(gid_t));
    if (getgrouplist(name, gid, c->groups, &n) < 0) {
        if (n > 0 && n <= LOCAL_GROUPS_MAX) {
            c->groups = mem_realloc_array(c->groups, (size_t)n, sizeof(gid_t));
            if (getgrouplist(name, gid, c->groups, &n) < 0)
                n = 0;
        } else {
            n = 0;
        }
    }
    if (n <= 0) {
        /* At least the primary group. */
        c->groups[0] = gid;
        n = 1;
    }
    c->ngroups = (size_t)n;
    return c;
}

/* A copy of c. */
struct local_creds *local_creds_dup(const struct local_creds *c)
{
    struct local_creds *d = mem_alloc(sizeof(*d));

    *d = *c;
    d->name = mem_strdup(c->name);
    d->home = c->home ? mem_strdup(c->home) : NULL;
    d->shell = c->shell ? mem_strdup(c->shell) : NULL;
    d->groups = mem_memdup(c->groups, c->ngroups * sizeof(gid_t));
    return d;
}

/* Free *cp and clear it. */
void local_creds_free(struct local_creds **cp)
{
    struct local_creds *c = *cp;

    if (c == NULL)
        return;
    mem_free(c->name);
    mem_free(c->home);
    mem_free(c->shell);
    mem_free(c->groups);
    MEM_FREE(cp);
}

/* Common part of the two passwd lookups. */
static int local_creds_pw(const char *name, uid_t uid, bool by_name, struct local_creds **c_r,
                          const char **why_r)
{
    static char why[256];
    struct passwd pw, *res = NULL;
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    char *buf;
    int err;

    if (size < 1024)
        size = 1024;
    for (;;) {
        buf = mem_alloc((size_t)size);
        err = by_name ? getpwnam_r(name, &pw, buf, (size_t)size, &res)
                      : getpwuid_r(uid, &pw, buf, (size_t)size, &res);
        if (err != ERANGE || size >= (1 << 20))
            break;
        mem_free(buf);
        size *= 4;
    }
    if (err == 0 && res != NULL) {
        *c_r = local_creds_create(pw.pw_name, pw.pw_uid, pw.pw_gid, pw.pw_dir, pw.pw_shell);
        mem_free(buf);
        return 1;
    }
    mem_free(buf);
    /* Not found is 0 with no result; some NSS modules say so with these errors. */
    if (err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM)
        return 0;
    if (by_name)
        snprintf(why, sizeof(why), "user lookup error for \"%.100s\": %s", name, strerror(err));
    else
        snprintf(why, sizeof(why), "user lookup error for uid %lu: %s", (unsigned long)uid,
                 strerror(err));
    *why_r = why;
    return -1;
}

/* A copy of the cached account for name (by_name) or uid, or NULL. */
static struct local_creds *local_creds_cache_find(const char *name, uid_t uid, bool by_name)
{
    long long now = clock_now_ms();

    for (unsigned i = 0; i < LOCAL_CREDS_CACHE; i++) {
        struct local_creds_cached *e = &local_creds_cache[i];

        if (e->creds == NULL || e->by_name != by_name)
            continue;
        if (by_name ? strcmp(e->creds->name, name) != 0 : e->creds->uid != uid)
            continue;
        if (now >= e->expires_ms) {
            local_creds_free(&e->creds);
            return NULL;
        }
        return local_creds_dup(e->creds);
    }
    return NULL;
}

/* Keep a copy of c, found by name or by uid. */
static void local_creds_cache_add(const struct local_creds *c, bool by_name)
{
    struct local_creds_cached *e = &local_creds_cache[local_creds_cache_next];

    local_creds_cache_next = (local_creds_cache_next + 1) % LOCAL_CREDS_CACHE;
    local_creds_free(&e->creds);
    e->creds = local_creds_dup(c);
    e->by_name = by_name;
    e->expires_ms = clock_now_ms() + LOCAL_CREDS_TTL_MS;
}

/* A lookup through the cache. */
static int local_creds_cached_pw(const char *name, uid_t uid, bool by_name,
                                 struct local_creds **c_r, const char **why_r)
{
    int r;

    /* A name that getpwnam would not match as is (it is exact) is simply not found here. */
    if ((*c_r = local_creds_cache_find(name, uid, by_name)) != NULL)
        return 1;
    r = local_creds_pw(name, uid, by_name, c_r, why_r);
    /* Cached only under the exact key asked for (NSS may match names loosely). */
    if (r == 1 && (!by_name || strcmp((*c_r)->name, name) == 0) && (by_name || (*c_r)->uid == uid))
        local_creds_cache_add(*c_r, by_name);
    return r;
}

/* The passwd account called name: 1, 0 unknown, -1 error. */
int local_creds_getpwnam(const char *name, struct local_creds **c_r, const char **why_r)
{
    return local_creds_cached_pw(name, 0, true, c_r, why_r);
}

/* The passwd account of uid: 1, 0 unknown, -1 error. */
int local_creds_getpwuid(uid_t uid, struct local_creds **c_r, const char **why_r)
{
    return local_creds_cached_pw(NULL, uid, false, c_r, why_r);
}

/* Forget every cached account (tests; a process that wants fresh answers). */
void local_creds_cache_flush(void)
{
    for (unsigned i = 0; i < LOCAL_CREDS_CACHE; i++)
        local_creds_free(&local_creds_cache[i].creds);
}

/* True when the process runs as root and can take on other identities. */
bool local_privs_root(void)
{
    return getuid() == 0;
}

/* True when work can be done as uid. */
bool local_privs_can_become(uid_t uid)
{
    return local_privs_root() || uid == getuid();
}

/* Take on c's rights for file access. */
int local_privs_enter(const struct local_creds *c, const char **why_r)
{
    static char why[256];

    if (local_entered)
        msg_panic("local_privs_enter: already switched");
    if (!local_privs_root()) {
        if (c->uid == getuid())
            return 0;
        snprintf(why, sizeof(why),
                 "cannot act as user %.64s (uid %lu): this mail system does not run as root",
                 c->name, (unsigned long)c->uid);
        *why_r = why;
        return -1;
    }
    if (c->uid == 0 && c->gid == 0)
        return 0;
    if (local_root_ngroups < 0) {
        int n = getgroups(0, NULL);

        if (n < 0 || n > LOCAL_GROUPS_MAX)
            msg_fatal("getgroups: %m");
        local_root_groups = mem_alloc_array((size_t)n + 1, sizeof(gid_t));
        if ((n = getgroups(n, local_root_groups)) < 0)
            msg_fatal("getgroups: %m");
        local_root_ngroups = n;
    }
    local_entered = true;
    if (setgroups(c->ngroups, c->groups) < 0) {
        snprintf(why, sizeof(why), "setgroups for user %.64s: %s", c->name, strerror(errno));
        goto fail;
    }
    if (setegid(c->gid) < 0) {
        snprintf(why, sizeof(why), "setegid(%lu) for user %.64s: %s", (unsigned long)c->gid,
                 c->name, strerror(errno));
        goto fail;
    }
    if (seteuid(c->uid) < 0) {
        snprintf(why, sizeof(why), "seteuid(%lu) for user %.64s: %s", (unsigned long)c->uid,
                 c->name, strerror(errno));
        goto fail;
    }
    return 0;

fail:
    *why_r = why;
    local_privs_leave();
    return -1;
}

/* Back to root (uid, gid, groups); fatal when that fails. */
void local_privs_leave(void)
{
    if (!local_entered)
        return;
    if (seteuid(0) < 0)
        msg_fatal("seteuid(0): %m");
    if (setegid(0) < 0)
        msg_fatal("setegid(0): %m");
    if (setgroups((size_t)local_root_ngroups, local_root_groups) < 0)
        msg_fatal("setgroups: %m");
    local_entered = false;
}
