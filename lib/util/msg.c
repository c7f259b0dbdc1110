/*
 * msg - the severity ladder and logging to syslog, a log file and stderr.
 *
 * A log line is formatted once into a fixed-size stack buffer (long text is
 * cut, never overflowed) and written with a single write(2) so that lines
 * from many processes appending to one maillog_file never interleave.
 * Recursion (a fatal error while logging) is caught and ends in _exit.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/util/msg.h"

#define MSG_LINE_MAX 4096

int msg_verbose;

static char msg_ident[64] = "postel";   /* "postel/smtpd" for syslog */
static char msg_short[64] = "postel";   /* "smtpd" for stderr */
static int msg_flags = MSG_TO_STDERR;
static int msg_logfd = -1;
static bool msg_syslog_is_open;
static int msg_depth;
static void (*msg_cleanup)(void);
static void (*msg_hook)(enum msg_level, const char *);

static const char *const msg_prefix[] = {
    [MSG_DEBUG] = "",        [MSG_INFO] = "",       [MSG_WARN] = "warning: ",
    [MSG_ERROR] = "error: ", [MSG_FATAL] = "fatal: ", [MSG_PANIC] = "panic: ",
};

static const int msg_syslog_prio[] = {
    [MSG_DEBUG] = LOG_DEBUG, [MSG_INFO] = LOG_INFO,  [MSG_WARN] = LOG_WARNING,
    [MSG_ERROR] = LOG_ERR,   [MSG_FATAL] = LOG_CRIT, [MSG_PANIC] = LOG_CRIT,
};

/* Name this process for logging: "smtpd" logs as postel/smtpd[pid]. */
void msg_init(const char *service, int flags)
{
    const char *slash = strrchr(service, '/');
    const char *base = slash ? slash + 1 : service;

    snprintf(msg_short, sizeof(msg_short), "%s", base);
    snprintf(msg_ident, sizeof(msg_ident), "postel/%s", base);
    if (msg_syslog_is_open) {
        closelog();
        msg_syslog_is_open = false;
    }
    msg_flags = flags;
}

/* The short service name given to msg_init. */
const char *msg_service(void)
{
    return msg_short;
}

/* Change where messages go. */
void msg_set_flags(int flags)
{
    msg_flags = flags;
}

/* Where messages go now. */
int msg_get_flags(void)
{
    return msg_flags;
}

/* Connect to syslog now, with the current ident (a chroot would hide /dev/log later). */
void msg_syslog_open(void)
{
    openlog(msg_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
    msg_syslog_is_open = true;
}

/* Also append every line to path (maillog_file). */
int msg_logfile_open(const char *path, const char **why_r)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

    if (fd < 0) {
        *why_r = strerror(errno);
        return -1;
    }
    if (msg_logfd >= 0)
        close(msg_logfd);
    msg_logfd = fd;
    return 0;
}

/* Stop writing to the log file. */
void msg_logfile_close(void)
{
    if (msg_logfd >= 0)
        close(msg_logfd);
    msg_logfd = -1;
}

/* Run fn before exiting on msg_fatal (remove temp files and the like). */
void msg_set_cleanup(void (*fn)(void))
{
    msg_cleanup = fn;
}

/* Also hand every formatted message to fn (tests use this). */
void msg_set_hook(void (*fn)(enum msg_level, const char *))
{
    msg_hook = fn;
}

/* Write one line to the log file in syslog's shape. */
static void msg_write_logfile(const char *text)
{
    char line[MSG_LINE_MAX + 256];
    char stamp[32];
    char host[256];
    struct timespec ts;
    struct tm tm;
    size_t len;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    n = snprintf(line, sizeof(line), "%s %s %s[%ld]: %s\n", stamp, host, msg_ident,
                 (long)getpid(), text);
    if (n < 0)
        return;
    len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    if ((size_t)n >= sizeof(line))
        line[len - 1] = '\n';
    /* One write: O_APPEND makes concurrent writers' lines land whole. */
    (void)!write(msg_logfd, line, len);
}

/* Format and send one message at the given level. */
void msg_vprintf(enum msg_level level, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    char text[MSG_LINE_MAX];
    char body[MSG_LINE_MAX];

    if (level == MSG_DEBUG && msg_verbose <= 0)
        return;
    if (msg_depth > 2)
        _exit(2);
    msg_depth++;

    errno = saved_errno;
    vsnprintf(body, sizeof(body), fmt, ap);
    /* Control characters from the network must not forge log lines. */
    for (char *p = body; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    snprintf(text, sizeof(text), "%s%s", msg_prefix[level], body);

    if (msg_flags & MSG_TO_SYSLOG) {
        if (!msg_syslog_is_open)
            msg_syslog_open();
        syslog(msg_syslog_prio[level], "%s", text);
    }
    if (msg_logfd >= 0)
        msg_write_logfile(text);
    if (msg_flags & MSG_TO_STDERR) {
        char line[MSG_LINE_MAX + 80];
        int n = snprintf(line, sizeof(line), "%s: %s\n", msg_short, text);

        if (n > 0)
            (void)!write(STDERR_FILENO, line,
                         (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
    if (msg_hook)
        msg_hook(level, text);
    msg_depth--;
    errno = saved_errno;
}

#define MSG_FUNC(name, level)                       \
    void name(const char *fmt, ...)                 \
    {                                               \
        va_list ap;                                 \
        va_start(ap, fmt);                          \
        msg_vprintf(level, fmt, ap);                \
        va_end(ap);                                 \
    }

MSG_FUNC(msg_debug, MSG_DEBUG)
MSG_FUNC(msg_info, MSG_INFO)
MSG_FUNC(msg_warn, MSG_WARN)
MSG_FUNC(msg_error, MSG_ERROR)

/* Configuration or environment failure: clean up and exit 1. */
void msg_fatal(const char *fmt, ...)
{
    va_list ap;
    static int dying;

    va_start(ap, fmt);
    msg_vprintf(MSG_FATAL, fmt, ap);
    va_end(ap);
    if (!dying++ && msg_cleanup)
        msg_cleanup();
    exit(1);
}

/* A bug: log and abort with a core. */
void msg_panic(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vprintf(MSG_PANIC, fmt, ap);
    va_end(ap);
    abort();
}
