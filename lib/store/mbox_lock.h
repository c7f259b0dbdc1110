/*
 * mbox_lock - the two mbox locks that other mbox users on Debian honour:
 * the dot-lock file "<mbox>.lock" and an fcntl() write lock on the mbox.
 *
 * Order, as in Postfix and procmail: the dot-lock first, then open the
 * mbox, then the fcntl lock; release in the opposite order. Each wait is
 * bounded: a lock held longer than timeout_ms is a temporary failure
 * (4.2.0). A dot-lock older than stale_time seconds is taken to be left
 * over by a crashed program and removed (Postfix's stale_lock_time).
 */
#ifndef POSTEL_STORE_MBOX_LOCK_H
#define POSTEL_STORE_MBOX_LOCK_H

#include "lib/store/store.h"

struct mbox_dotlock;

int mbox_dotlock_acquire(const char *mbox_path, int timeout_ms, int stale_time,
                         struct mbox_dotlock **lock_r, struct store_err *err_r);
void mbox_dotlock_release(struct mbox_dotlock **lockp);

int mbox_fcntl_lock(int fd, const char *path, int timeout_ms, struct store_err *err_r);
void mbox_fcntl_unlock(int fd);

#endif
