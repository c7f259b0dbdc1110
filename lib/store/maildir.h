/*
 * maildir - delivery into Maildir (D. J. Bernstein's maildir(5)) with
 * Maildir++ sub-folders and an optional size limit.
 *
 * A delivery writes tmp/<unique>, fsyncs it, links it to
 * new/<unique>,S=<size>,W=<crlf-size>, removes the tmp/ name and fsyncs
 * new/. <unique> is <sec>.M<usec>P<pid>Q<n>.<host> (host with '/' and ':'
 * written as \057 and \072). S= is the file size (Maildir++), W= the size
 * with CR LF line ends (what IMAP RFC822.SIZE and POP3 LIST report, as
 * Dovecot writes it). Any failure removes the tmp/ file.
 *
 * Maildir++ folders are directories ".<name>" under the maildir root with
 * an empty "maildirfolder" file; "a.b" is the folder b inside a. Folder
 * names are given without the leading dot.
 */
#ifndef POSTEL_STORE_MAILDIR_H
#define POSTEL_STORE_MAILDIR_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/store/store.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"

#define MAILDIR_FOLDER_MAX 255 /* bytes of a folder name (one directory entry) */

struct maildir_opts {
    const char *folder;   /* Maildir++ folder name, NULL for the inbox */
    off_t size_limit;     /* bytes the whole maildir may hold (all folders), 0 = none */
    const char *hostname; /* for unique names; NULL: gethostname() */
};

int maildir_create(const char *path, struct store_err *err_r);
int maildir_deliver(const char *path, const struct maildir_opts *opts, const struct store_msg *msg,
                    struct buf *name_r, struct store_err *err_r);

int maildir_folder_create(const char *root, const char *folder, struct store_err *err_r);
int maildir_folder_list(const char *root, struct argv **folders_r, struct store_err *err_r);
bool maildir_folder_name_valid(const char *folder);

int maildir_size(const char *root, off_t *size_r, long *count_r, struct store_err *err_r);
void maildir_unique_name(struct buf *out, const char *hostname);
void maildir_host_escape(struct buf *out, const char *hostname);
int maildir_name_size(const char *name, off_t *size_r);

#endif
