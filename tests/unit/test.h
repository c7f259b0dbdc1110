/*
 * test.h - the unit test harness: table-free, tiny, one header.
 *
 * A test binary defines test functions and a main() that calls TEST_RUN for
 * each and returns test_summary(). Each case is counted once; the binary
 * prints "N passed, N failed" last and exits 1 if anything failed.
 * Checks inside a case record the failure (file:line, values) and go on.
 */
#ifndef POSTEL_TEST_H
#define POSTEL_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed, test_case_failed;
static const char *test_current = "";

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "  %s:%d: %s: check failed: %s\n", __FILE__, __LINE__,      \
                    test_current, #cond);                                              \
            test_case_failed = 1;                                                      \
        }                                                                              \
    } while (0)

#define CHECK_STREQ(a, b)                                                              \
    do {                                                                               \
        const char *test_a_ = (a), *test_b_ = (b);                                     \
        if (test_a_ == NULL || test_b_ == NULL || strcmp(test_a_, test_b_) != 0) {     \
            fprintf(stderr, "  %s:%d: %s: %s == %s: \"%s\" != \"%s\"\n", __FILE__,       \
                    __LINE__, test_current, #a, #b, test_a_ ? test_a_ : "(null)",      \
                    test_b_ ? test_b_ : "(null)");                                     \
            test_case_failed = 1;                                                      \
        }                                                                              \
    } while (0)

#define CHECK_INTEQ(a, b)                                                              \
    do {                                                                               \
        long long test_a_ = (long long)(a), test_b_ = (long long)(b);                  \
        if (test_a_ != test_b_) {                                                      \
            fprintf(stderr, "  %s:%d: %s: %s == %s: %lld != %lld\n", __FILE__, __LINE__, \
                    test_current, #a, #b, test_a_, test_b_);                           \
            test_case_failed = 1;                                                      \
        }                                                                              \
    } while (0)

#define TEST_RUN(fn) test_run_one(#fn, fn)

static inline void test_run_one(const char *name, void (*fn)(void))
{
    test_current = name;
    test_case_failed = 0;
    fn();
    if (test_case_failed) {
        test_failed++;
        printf("FAIL: %s\n", name);
    } else {
        test_passed++;
        printf("PASS: %s\n", name);
    }
    fflush(stdout);
}

static inline int test_summary(void)
{
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
