/* Unit tests for lib/mail queue_id: format, order, uniqueness, syntax checks. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/mail/queue_id.h"
#include "tests/unit/test.h"

static void test_queue_id_format_known(void)
{
    char id[QUEUE_ID_SIZE];
    uint64_t usec;
    uint32_t pid;
    const char *why = NULL;

    queue_id_format(id, 0, 0);
    CHECK_STREQ(id, "0000000000000000");
    queue_id_format(id, 31, 31);
    CHECK_STREQ(id, "0000000000Z0000Z");
    queue_id_format(id, 32, 32);
    CHECK_STREQ(id, "0000000001000010");
    /* 2023-11-14 22:13:20 UTC = 1700000000 s */
    queue_id_format(id, UINT64_C(1700000000123456), 4194303);
    CHECK_INTEQ(strlen(id), QUEUE_ID_LEN);
    CHECK(queue_id_valid(id));
    CHECK_INTEQ(queue_id_parse(id, &usec, &pid, &why), 0);
    CHECK(usec == UINT64_C(1700000000123456));
    CHECK_INTEQ(pid, 4194303);
}

static void test_queue_id_order_is_time_order(void)
{
    static const uint64_t times[] = {
        0,
        1,
        31,
        32,
        1023,
        1024,
        UINT64_C(1700000000000000),
        UINT64_C(1700000000000001),
        UINT64_C(1700000001000000),
        UINT64_C(4102444800000000), /* 2100-01-01 */
    };
    char a[QUEUE_ID_SIZE], b[QUEUE_ID_SIZE];

    for (size_t i = 0; i + 1 < sizeof(times) / sizeof(times[0]); i++) {
        /* A later time sorts later whatever the PIDs are. */
        queue_id_format(a, times[i], 4194303);
        queue_id_format(b, times[i + 1], 1);
        CHECK(strcmp(a, b) < 0);
    }
}

static void test_queue_id_valid_rejects(void)
{
    static const char *const bad[] = {
        "",
        "../x",
        "../../etc/passwd",
        "0000000000000000/",
        "000000000000000/",
        "/000000000000000",
        "00000000000000000", /* 17 */
        "000000000000000",   /* 15 */
        "000000000000000a",  /* lower case */
        "000000000000000I",  /* not in the alphabet */
        "000000000000000L",
        "000000000000000O",
        "000000000000000U",
        "0000000000000000.msg",
        "00000000000000.0",
        "0000000000000 00",
        "000000000000000\n",
        "0000000000000000\n",
    };
    char nul[QUEUE_ID_SIZE + 1] = "00000000\0"
                                  "0000000";

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (queue_id_valid(bad[i]))
            fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
        CHECK(!queue_id_valid(bad[i]));
    }
    CHECK(!queue_id_valid(NULL));
    CHECK(!queue_id_valid_n(nul, QUEUE_ID_LEN));
    CHECK(queue_id_valid("0123456789ABCDEF"));
    CHECK(queue_id_valid("GHJKMNPQRSTVWXYZ"));
    CHECK(queue_id_valid_n("0123456789ABCDEF.msg", QUEUE_ID_LEN));
}

static void test_queue_id_parse_rejects(void)
{
    const char *why = NULL;
    uint64_t usec = 7;

    CHECK_INTEQ(queue_id_parse("../x", &usec, NULL, &why), -1);
    CHECK(why != NULL);
    CHECK(usec == 7);
}

static void test_queue_id_next_increases(void)
{
    char prev[QUEUE_ID_SIZE], id[QUEUE_ID_SIZE];
    uint64_t usec;
    uint32_t pid;
    const char *why;
    int bad = 0;

    queue_id_next(prev);
    CHECK(queue_id_valid(prev));
    CHECK_INTEQ(queue_id_parse(prev, &usec, &pid, &why), 0);
    CHECK_INTEQ(pid, getpid());
    /* The time part is the wall clock, in microseconds. */
    CHECK(usec / 1000000 + 5 >= (uint64_t)time(NULL) && usec / 1000000 <= (uint64_t)time(NULL));
    for (int i = 0; i < 200000; i++) {
        queue_id_next(id);
        if (strcmp(prev, id) >= 0)
            bad++;
        memcpy(prev, id, sizeof(prev));
    }
    CHECK_INTEQ(bad, 0);
}

#define CHILDREN 8
#define PER_CHILD 20000

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, QUEUE_ID_LEN);
}

/* Several processes at once: no duplicates, each one's sequence increasing. */
static void test_queue_id_unique_across_processes(void)
{
    char *all = malloc((size_t)CHILDREN * PER_CHILD * QUEUE_ID_LEN);
    pid_t pids[CHILDREN];
    int fds[CHILDREN];
    size_t total = 0;
    int dups = 0;
    int go[2];

    /* The children start together when the parent closes the "go" pipe. */
    if (pipe(go) < 0) {
        CHECK(!"pipe");
        return;
    }
    for (int c = 0; c < CHILDREN; c++) {
        int p[2];

        if (pipe(p) < 0) {
            CHECK(!"pipe");
            return;
        }
        pids[c] = fork();
        if (pids[c] == 0) {
            /* Generate first (concurrently with the siblings), then report. */
            char *ids = malloc((size_t)PER_CHILD * QUEUE_ID_LEN);
            char id[QUEUE_ID_SIZE];
            size_t len = (size_t)PER_CHILD * QUEUE_ID_LEN, off = 0;

            close(p[0]);
            close(go[1]);
            if (read(go[0], id, 1) != 0)
                _exit(1);
            for (int i = 0; i < PER_CHILD; i++) {
                queue_id_next(id);
                memcpy(ids + (size_t)i * QUEUE_ID_LEN, id, QUEUE_ID_LEN);
            }
            while (off < len) {
                ssize_t n = write(p[1], ids + off, len - off);

                if (n <= 0)
                    _exit(1);
                off += (size_t)n;
            }
            _exit(0);
        }
        close(p[1]);
        fds[c] = p[0];
    }
    close(go[0]);
    close(go[1]);
    for (int c = 0; c < CHILDREN; c++) {
        size_t want = (size_t)PER_CHILD * QUEUE_ID_LEN, got = 0;
        char *mine = all + total;
        int status, decreasing = 0;

        while (got < want) {
            ssize_t n = read(fds[c], mine + got, want - got);

            if (n <= 0)
                break;
            got += (size_t)n;
        }
        close(fds[c]);
        waitpid(pids[c], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK(got == want);
        for (size_t i = 1; i < got / QUEUE_ID_LEN; i++)
            if (memcmp(mine + (i - 1) * QUEUE_ID_LEN, mine + i * QUEUE_ID_LEN, QUEUE_ID_LEN) >= 0)
                decreasing++;
        CHECK_INTEQ(decreasing, 0);
        for (size_t i = 0; i < got / QUEUE_ID_LEN; i++)
            CHECK(queue_id_valid_n(mine + i * QUEUE_ID_LEN, QUEUE_ID_LEN));
        total += got;
    }
    qsort(all, total / QUEUE_ID_LEN, QUEUE_ID_LEN, cmp_id);
    for (size_t i = 1; i < total / QUEUE_ID_LEN; i++)
        if (memcmp(all + (i - 1) * QUEUE_ID_LEN, all + i * QUEUE_ID_LEN, QUEUE_ID_LEN) == 0)
            dups++;
    CHECK_INTEQ(total, (size_t)CHILDREN * PER_CHILD * QUEUE_ID_LEN);
    CHECK_INTEQ(dups, 0);
    free(all);
}

int main(void)
{
    TEST_RUN(test_queue_id_format_known);
    TEST_RUN(test_queue_id_order_is_time_order);
    TEST_RUN(test_queue_id_valid_rejects);
    TEST_RUN(test_queue_id_parse_rejects);
    TEST_RUN(test_queue_id_next_increases);
    TEST_RUN(test_queue_id_unique_across_processes);
    return test_summary();
}
