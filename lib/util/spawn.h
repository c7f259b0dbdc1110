/*
 * spawn - start a program with a given argv, environment and set of file
 * descriptors, and describe how a process ended.
 *
 * The child gets exactly the descriptors the caller maps (plus 0, 1 and 2
 * unless mapped or nulled): every other descriptor is closed at exec. A
 * failure between fork and exec (dup2, chdir, setuid, exec itself) is
 * reported to the parent through a close-on-exec pipe, so spawn_start()
 * fails with the real reason instead of returning a child that exits 127.
 */
#ifndef POSTEL_UTIL_SPAWN_H
#define POSTEL_UTIL_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* dup2(from, to) in the child. */
struct spawn_fd {
    int from;
    int to;
};

struct spawn_opts {
    const char *path;         /* program to execute (no PATH search) */
    char *const *argv;        /* argv[0] first, NULL-terminated */
    char *const *envp;        /* NULL: inherit this process's environment */
    const struct spawn_fd *fds; /* descriptors to install, may be NULL */
    size_t nfds;
    bool null_stdio;  /* 0, 1, 2 not in fds get /dev/null */
    const char *cwd;  /* chdir here first, NULL: stay */
    bool set_ids;     /* switch to uid/gid (setgroups, setresgid, setresuid) */
    uid_t uid;
    gid_t gid;
    const gid_t *groups; /* set_ids: supplementary groups; NULL: just gid */
    size_t ngroups;
    bool new_session; /* setsid(): own session and process group */
};

pid_t spawn_start(const struct spawn_opts *opts, const char **why_r);
int spawn_wait(pid_t pid, int *status_r, bool nohang);
int spawn_wait_timeout(pid_t pid, int *status_r, int timeout_ms);
const char *spawn_status_text(int status, char *buf, size_t size);

#endif
