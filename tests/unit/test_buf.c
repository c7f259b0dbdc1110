/* Unit tests for lib/util buf and mem. */
#include "config.h"

#include <errno.h>

#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "tests/unit/test.h"

static void test_buf_append_grows(void)
{
    struct buf *b = buf_create(1);

    for (int i = 0; i < 1000; i++)
        buf_putc(b, 'a' + i % 26);
    CHECK_INTEQ(buf_len(b), 1000);
    CHECK(buf_str(b)[1000] == '\0');
    CHECK(buf_str(b)[25] == 'z');
    buf_free(&b);
    CHECK(b == NULL);
}

static void test_buf_binary(void)
{
    struct buf *b = buf_create(0);

    buf_append(b, "a\0b", 3);
    CHECK_INTEQ(buf_len(b), 3);
    CHECK(memcmp(buf_str(b), "a\0b", 4) == 0);
    buf_free(&b);
}

static void test_buf_printf(void)
{
    struct buf *b = buf_create(4);
    char big[300];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_printf(b, "%d-%s", 42, "z");
    CHECK_STREQ(buf_str(b), "42-z");
    buf_printf(b, "%s", big);
    CHECK_INTEQ(buf_len(b), 4 + 299);
    errno = ENOENT;
    buf_set(b, "");
    buf_printf(b, "%m");
    CHECK_STREQ(buf_str(b), strerror(ENOENT));
    buf_free(&b);
}

static void test_buf_truncate_trim(void)
{
    struct buf *b = buf_create(0);

    buf_set(b, "Hello\r\n");
    buf_trim_crlf(b);
    CHECK_STREQ(buf_str(b), "Hello");
    buf_lower(b);
    CHECK_STREQ(buf_str(b), "hello");
    buf_truncate(b, 2);
    CHECK_STREQ(buf_str(b), "he");
    buf_truncate(b, 10);
    CHECK_STREQ(buf_str(b), "he");
    char *s = buf_export(&b);
    CHECK_STREQ(s, "he");
    mem_free(s);
}

static void test_buf_self_append(void)
{
    struct buf *b = buf_create(1);

    buf_set(b, "abcdefghijklmnop");
    for (int i = 0; i < 6; i++)
        buf_append(b, buf_str(b), buf_len(b));
    CHECK_INTEQ(buf_len(b), 16 * 64);
    CHECK(memcmp(buf_str(b) + 16 * 63, "abcdefghijklmnop", 16) == 0);
    buf_free(&b);
}

static void test_mem(void)
{
    char *p = mem_alloc(10);

    for (int i = 0; i < 10; i++)
        CHECK(p[i] == 0);
    mem_free(p);
    p = mem_strndup("abcdef", 3);
    CHECK_STREQ(p, "abc");
    MEM_FREE(&p);
    CHECK(p == NULL);
}

int main(void)
{
    TEST_RUN(test_buf_append_grows);
    TEST_RUN(test_buf_binary);
    TEST_RUN(test_buf_printf);
    TEST_RUN(test_buf_truncate_trim);
    TEST_RUN(test_buf_self_append);
    TEST_RUN(test_mem);
    return test_summary();
}
