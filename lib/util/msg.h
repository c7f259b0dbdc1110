/*
 * msg - the severity ladder and logging.
 *
 * panic = a bug (abort, core); fatal = environment or configuration (run the
 * cleanup hook, exit 1); then error, warn, info, debug. Every call is
 * printf-checked and %m prints strerror(errno) of the moment of the call.
 *
 * Destinations: syslog facility mail as "postel/<service>[pid]" (so Debian's
 * /var/log/mail.log gets it), the file named by maillog_file when set (one
 * write(2) per line with O_APPEND, same line shape as syslog), and standard
 * error for commands people type ("postconf: warning: ...").
 */
#ifndef POSTEL_UTIL_MSG_H
#define POSTEL_UTIL_MSG_H

#include <stdarg.h>
#include <stdbool.h>

enum msg_level { MSG_DEBUG, MSG_INFO, MSG_WARN, MSG_ERROR, MSG_FATAL, MSG_PANIC };

#define MSG_TO_STDERR 0x1 /* also print to standard error */
#define MSG_TO_SYSLOG 0x2 /* send to syslog facility mail */

extern int msg_verbose; /* >0 enables msg_debug */

void msg_init(const char *service, int flags);
/*
 * Open the syslog connection now (LOG_NDELAY), with the ident of the last
 * msg_init(): a daemon calls it before chroot(), which hides /dev/log.
 * msg_init() closes it again (a new ident).
 */
void msg_syslog_open(void);
const char *msg_service(void);
int msg_logfile_open(const char *path, const char **why_r);
void msg_logfile_close(void);
void msg_set_flags(int flags);
int msg_get_flags(void);
void msg_set_cleanup(void (*fn)(void));
void msg_set_hook(void (*fn)(enum msg_level, const char *text));

void msg_vprintf(enum msg_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void msg_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
