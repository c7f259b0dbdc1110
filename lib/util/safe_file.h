/*
 * safe_file - file operations that do not follow symlinks, do not trust
 * what they find, and make writes durable.
 *
 * safe_create / safe_open: refuse symlinks (O_NOFOLLOW), FIFOs and devices,
 * optionally check owner and link count. safe_tmp_*: write a file under a
 * temporary name in the target's directory, fsync, rename into place and
 * fsync the directory, with one failure path that removes the temporary
 * file. safe_replace does all of that for a buffer in memory.
 */
#ifndef POSTEL_UTIL_SAFE_FILE_H
#define POSTEL_UTIL_SAFE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/util/buf.h"

/* safe_open checks */
#define SAFE_CHECK_OWNER 0x1 /* st_uid must equal the owner argument */
#define SAFE_CHECK_NLINK 0x2 /* exactly one hard link (no hard-link tricks) */

/* A file being written under a temporary name. */
struct safe_tmp {
    int fd;
    char *path;     /* final name */
    char *tmp_path; /* name while being written */
};

int safe_create(const char *path, int flags, mode_t mode, const char **why_r);
int safe_open(const char *path, int flags, mode_t mode, int checks, uid_t owner,
              const char **why_r);
int safe_write_all(int fd, const void *data, size_t len);
int safe_pwrite_all(int fd, const void *data, size_t len, off_t offset);
ssize_t safe_read_all(int fd, void *data, size_t len);
int safe_read_file(const char *path, size_t max, struct buf *b, const char **why_r);
int safe_fsync_dir(const char *path, const char **why_r);
int safe_mkdir_p(const char *path, mode_t mode, const char **why_r);

int safe_tmp_create(struct safe_tmp *t, const char *path, const char *tmp_path, mode_t mode,
                    const char **why_r);
int safe_tmp_commit(struct safe_tmp *t, const char **why_r);
void safe_tmp_abort(struct safe_tmp *t);
int safe_replace(const char *path, const void *data, size_t len, mode_t mode,
                 const char **why_r);

#endif
