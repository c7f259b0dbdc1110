/*
 * test_qmgr_window - unit tests of the destination concurrency window
 * arithmetic (qmgr/qmgr_window.h): start, growth and back-off.
 */
#include "config.h"

#include "qmgr/qmgr_window.h"
#include "tests/unit/test.h"

/* The first window: the initial value within 1..limit. */
static void test_init(void)
{
    static const struct {
        int initial, limit, want;
    } cases[] = {
        {5, 20, 5}, {2, 10, 2}, {5, 2, 2}, {1, 1, 1}, {0, 20, 1}, {-3, 20, 1}, {5, 0, 1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INTEQ(qmgr_window_init(cases[i].initial, cases[i].limit), cases[i].want);
}

/* Each success adds one, never beyond the limit. */
static void test_success(void)
{
    static const struct {
        int window, limit, want;
    } cases[] = {
        {1, 20, 2}, {2, 10, 3}, {9, 10, 10}, {10, 10, 10}, {12, 10, 10}, {0, 10, 1}, {3, 0, 1},
    };
    int w = qmgr_window_init(2, 10);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INTEQ(qmgr_window_success(cases[i].window, cases[i].limit), cases[i].want);
    for (int i = 0; i < 100; i++)
        w = qmgr_window_success(w, 10);
    CHECK_INTEQ(w, 10);
}

/* A next-hop failure halves, down to 1. */
static void test_failure(void)
{
    static const struct {
        int window, want;
    } cases[] = {
        {20, 10}, {5, 2}, {3, 1}, {2, 1}, {1, 1}, {0, 1}, {-1, 1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INTEQ(qmgr_window_failure(cases[i].window), cases[i].want);
}

int main(void)
{
    TEST_RUN(test_init);
    TEST_RUN(test_success);
    TEST_RUN(test_failure);
    return test_summary();
}
