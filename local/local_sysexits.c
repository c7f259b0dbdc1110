/*
 * local_sysexits - what the exit of an external command means for the
 * delivery: the sendmail-compatible <sysexits.h> codes with Postfix's
 * enhanced status codes, and the verdict on a finished command (sent,
 * deferred or bounced, with the reason text that goes into the log and
 * the non-delivery notification).
 *
 * Postfix's rules (global/sys_exits.c, global/pipe_command.c): EX_TEMPFAIL
 * and EX_OSERR defer, every other sysexits code bounces with its own DSN;
 * a command killed by a signal defers; any other non-zero exit bounces
 * (5.3.0); a command over command_time_limit bounces. Pure.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "lib/util/buf.h"
#include "local/local.h"

static const struct local_sysexit local_sysexits[] = {
    {64, "5.3.0", "command line usage error"},      /* EX_USAGE */
    {65, "5.6.0", "data format error"},             /* EX_DATAERR */
    {66, "5.3.0", "cannot open input"},             /* EX_NOINPUT */
    {67, "5.1.1", "user unknown"},                  /* EX_NOUSER */
    {68, "5.1.2", "host name unknown"},             /* EX_NOHOST */
    {69, "5.3.0", "service unavailable"},           /* EX_UNAVAILABLE */
    {70, "5.3.0", "internal software error"},       /* EX_SOFTWARE */
    {71, "4.3.0", "system resource problem"},       /* EX_OSERR */
    {72, "5.3.0", "critical OS file missing"},      /* EX_OSFILE */
    {73, "5.2.0", "can't create user output file"}, /* EX_CANTCREAT */
    {74, "5.3.0", "input/output error"},            /* EX_IOERR */
    {75, "4.3.0", "temporary failure"},             /* EX_TEMPFAIL */
    {76, "5.5.0", "remote error in protocol"},      /* EX_PROTOCOL */
    {77, "5.7.0", "permission denied"},             /* EX_NOPERM */
    {78, "5.3.5", "local configuration error"},     /* EX_CONFIG */
};

/* The sysexits entry for code, or NULL. */
const struct local_sysexit *local_sysexit_find(int code)
{
    for (size_t i = 0; i < sizeof(local_sysexits) / sizeof(local_sysexits[0]); i++)
        if (local_sysexits[i].code == code)
            return &local_sysexits[i];
    return NULL;
}

/* Append ". Command output: <output>" with the output made one printable line. */
static void local_append_output(struct buf *text, const char *output)
{
    size_t start, len;

    if (output == NULL || *output == 0)
        return;
    buf_puts(text, ". Command output: ");
    start = buf_len(text);
    for (const unsigned char *cp = (const unsigned char *)output; *cp; cp++) {
        int c = *cp;

        if (c == '\t' || c == '\n' || c == '\r')
            c = ' ';
        else if (c < 0x20 || c >= 0x7f)
            c = '_';
        buf_putc(text, c);
    }
    /* No trailing white space (the usual final newline). */
    len = buf_len(text);
    while (len > start && buf_str(text)[len - 1] == ' ')
        len--;
    buf_truncate(text, len);
    if (len == start)
        buf_truncate(text, start - strlen(". Command output: "));
}

/*
 * Judge a finished command: wait_status from waitpid, timed_out when it
 * was killed for command_time_limit, write_errno the error writing the
 * message to it (0, or EPIPE when it stopped reading: not an error).
 * Fills o and appends the reason to text (nothing for success).
 */
void local_command_judge(int wait_status, bool timed_out, int write_errno, const char *command,
                         const char *output, struct local_cmd_outcome *o, struct buf *text)
{
    const struct local_sysexit *se;

    if (timed_out) {
        o->status = DELIVER_BOUNCED;
        snprintf(o->dsn, sizeof(o->dsn), "5.3.0");
        buf_printf(text, "Command time limit exceeded: \"%s\"", command);
        local_append_output(text, output);
    } else if (WIFSIGNALED(wait_status)) {
        o->status = DELIVER_DEFERRED;
        snprintf(o->dsn, sizeof(o->dsn), "4.3.0");
        buf_printf(text, "Command died with signal %d: \"%s\"", WTERMSIG(wait_status), command);
        local_append_output(text, output);
    } else if (!WIFEXITED(wait_status)) {
        o->status = DELIVER_DEFERRED;
        snprintf(o->dsn, sizeof(o->dsn), "4.3.0");
        buf_printf(text, "Command ended abnormally: \"%s\"", command);
    } else if (WEXITSTATUS(wait_status) != 0) {
        int code = WEXITSTATUS(wait_status);

        if ((se = local_sysexit_find(code)) != NULL) {
            o->status = se->dsn[0] == '4' ? DELIVER_DEFERRED : DELIVER_BOUNCED;
            snprintf(o->dsn, sizeof(o->dsn), "%s", se->dsn);
            buf_puts(text, se->text);
        } else {
            o->status = DELIVER_BOUNCED;
            snprintf(o->dsn, sizeof(o->dsn), "5.3.0");
            buf_printf(text, "Command died with status %d: \"%s\"", code, command);
        }
        local_append_output(text, output);
    } else if (write_errno != 0 && write_errno != EPIPE) {
        o->status = DELIVER_DEFERRED;
        snprintf(o->dsn, sizeof(o->dsn), "4.3.0");
        buf_printf(text, "Command failed: %s: \"%s\"", strerror(write_errno), command);
    } else {
        o->status = DELIVER_SENT;
        snprintf(o->dsn, sizeof(o->dsn), "2.0.0");
    }
}
