/*
 * test_local_sysexits - local(8): what a command's exit means (Postfix's
 * sys_exits table and pipe_command rules) and the reason text.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "lib/util/buf.h"
#include "local/local.h"
#include "tests/unit/test.h"

/* A wait status for a normal exit with code. */
static int exited(int code)
{
    return (code & 0xff) << 8;
}

/* Every sysexits code, its DSN and whether it defers, as Postfix has them. */
static void test_table(void)
{
    static const struct {
        int code;
        const char *dsn;
        const char *text;
    } want[] = {
        {64, "5.3.0", "command line usage error"},  {65, "5.6.0", "data format error"},
        {66, "5.3.0", "cannot open input"},         {67, "5.1.1", "user unknown"},
        {68, "5.1.2", "host name unknown"},         {69, "5.3.0", "service unavailable"},
        {70, "5.3.0", "internal software error"},   {71, "4.3.0", "system resource problem"},
        {72, "5.3.0", "critical OS file missing"},  {73, "5.2.0", "can't create user output file"},
        {74, "5.3.0", "input/output error"},        {75, "4.3.0", "temporary failure"},
        {76, "5.5.0", "remote error in protocol"},  {77, "5.7.0", "permission denied"},
        {78, "5.3.5", "local configuration error"},
    };

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct local_sysexit *se = local_sysexit_find(want[i].code);

        CHECK(se != NULL);
        if (se == NULL)
            continue;
        CHECK_INTEQ(se->code, want[i].code);
        CHECK_STREQ(se->dsn, want[i].dsn);
        CHECK_STREQ(se->text, want[i].text);
    }
    CHECK(local_sysexit_find(0) == NULL);
    CHECK(local_sysexit_find(1) == NULL);
    CHECK(local_sysexit_find(63) == NULL);
    CHECK(local_sysexit_find(79) == NULL);
    CHECK(local_sysexit_find(127) == NULL);
}

/* The verdicts, table-driven. */
static void test_judge(void)
{
    static const struct {
        int status;
        bool timed_out;
        int write_errno;
        const char *output;
        enum deliver_status want;
        const char *dsn;
        const char *text;
    } cases[] = {
        {0, false, 0, "", DELIVER_SENT, "2.0.0", ""},
        {0, false, EPIPE, "", DELIVER_SENT, "2.0.0", ""},
        {0, false, EIO, "", DELIVER_DEFERRED, "4.3.0",
         "Command failed: Input/output error: \"/bin/cmd\""},
        {67 << 8, false, 0, "no such user\n", DELIVER_BOUNCED, "5.1.1",
         "user unknown. Command output: no such user"},
        {75 << 8, false, 0, "", DELIVER_DEFERRED, "4.3.0", "temporary failure"},
        {71 << 8, false, 0, "", DELIVER_DEFERRED, "4.3.0", "system resource problem"},
        {77 << 8, false, EPIPE, "", DELIVER_BOUNCED, "5.7.0", "permission denied"},
        {1 << 8, false, 0, "oops\tbad\r\nline\x01two\n\n", DELIVER_BOUNCED, "5.3.0",
         "Command died with status 1: \"/bin/cmd\". Command output: oops bad  line_two"},
        {SIGKILL, false, 0, "", DELIVER_DEFERRED, "4.3.0",
         "Command died with signal 9: \"/bin/cmd\""},
        {SIGKILL, true, 0, "slow", DELIVER_BOUNCED, "5.3.0",
         "Command time limit exceeded: \"/bin/cmd\". Command output: slow"},
        {0, true, 0, "", DELIVER_BOUNCED, "5.3.0", "Command time limit exceeded: \"/bin/cmd\""},
        {75 << 8, false, 0, "   \n", DELIVER_DEFERRED, "4.3.0", "temporary failure"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct local_cmd_outcome o;
        struct buf *text = buf_create(64);

        memset(&o, 0, sizeof(o));
        local_command_judge(cases[i].status, cases[i].timed_out, cases[i].write_errno, "/bin/cmd",
                            cases[i].output, &o, text);
        CHECK_INTEQ(o.status, cases[i].want);
        CHECK_STREQ(o.dsn, cases[i].dsn);
        CHECK_STREQ(buf_str(text), cases[i].text);
        if (o.status != cases[i].want || strcmp(buf_str(text), cases[i].text) != 0)
            fprintf(stderr, "  case %zu\n", i);
        buf_free(&text);
    }
    (void)exited;
}

/* Every exit code 0..255: a status whose DSN class matches deliver.h's rule. */
static void test_all_codes_consistent(void)
{
    for (int code = 0; code < 256; code++) {
        struct local_cmd_outcome o;
        struct buf *text = buf_create(64);

        local_command_judge(exited(code), false, 0, "x", "", &o, text);
        CHECK(deliver_dsn_valid(o.dsn, o.status));
        if (code == 0)
            CHECK_INTEQ(o.status, DELIVER_SENT);
        else if (code == 75 || code == 71)
            CHECK_INTEQ(o.status, DELIVER_DEFERRED);
        else
            CHECK_INTEQ(o.status, DELIVER_BOUNCED);
        buf_free(&text);
    }
}

int main(void)
{
    TEST_RUN(test_table);
    TEST_RUN(test_judge);
    TEST_RUN(test_all_codes_consistent);
    return test_summary();
}
