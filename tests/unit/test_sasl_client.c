/*
 * test_sasl_client - lib/mail/sasl_client.c: base64 both ways, mechanism
 * choice (offered, filter, no plaintext without TLS), the PLAIN and LOGIN
 * exchanges, and refusal of bad challenges and credentials.
 */
#include "config.h"

#include <string.h>

#include "lib/mail/sasl_client.h"
#include "lib/util/argv.h"
#include "lib/util/buf.h"
#include "lib/util/msg.h"
#include "tests/unit/test.h"

static void test_base64(void)
{
    static const struct {
        const char *raw;
        const char *enc;
    } cases[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    static const char *const bad[] = {"Zg=",    "Z===", "Zm9v=", "Zm=v",
                                      "Zm9v\n", "Zm 9", "!!!!",  "Zg==Zg=="};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf *b = buf_create(16);

        sasl_base64_encode(b, cases[i].raw, strlen(cases[i].raw));
        CHECK_STREQ(buf_str(b), cases[i].enc);
        buf_reset(b);
        CHECK_INTEQ(sasl_base64_decode(b, cases[i].enc, strlen(cases[i].enc)), 0);
        CHECK_STREQ(buf_str(b), cases[i].raw);
        buf_free(&b);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf *b = buf_create(16);

        if (sasl_base64_decode(b, bad[i], strlen(bad[i])) != -1) {
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
            CHECK(0);
        }
        buf_free(&b);
    }
    /* Binary data with NUL survives. */
    {
        static const char raw[] = {0, 'u', 0, 'p', (char)0xff};
        struct buf *b = buf_create(16), *d = buf_create(16);

        sasl_base64_encode(b, raw, sizeof(raw));
        CHECK_INTEQ(sasl_base64_decode(d, buf_str(b), buf_len(b)), 0);
        CHECK(buf_len(d) == sizeof(raw) && memcmp(buf_str(d), raw, sizeof(raw)) == 0);
        buf_free(&b);
        buf_free(&d);
    }
}

static void test_choice(void)
{
    struct argv *both = argv_split("LOGIN PLAIN CRAM-MD5", " ");
    struct argv *login = argv_split("LOGIN", " ");
    struct argv *cram = argv_split("CRAM-MD5", " ");
    struct argv *filter = argv_split("login", " ");
    struct sasl_client *c = NULL;
    const char *why = NULL;

    CHECK_INTEQ(sasl_client_create(both, NULL, 0, "u", "p", &c, &why), 1);
    if (c)
        CHECK_STREQ(sasl_client_mech(c), "PLAIN");
    sasl_client_free(&c);
    CHECK(c == NULL);

    CHECK_INTEQ(sasl_client_create(both, filter, 0, "u", "p", &c, &why), 1);
    if (c)
        CHECK_STREQ(sasl_client_mech(c), "LOGIN");
    sasl_client_free(&c);

    CHECK_INTEQ(sasl_client_create(login, NULL, 0, "u", "p", &c, &why), 1);
    sasl_client_free(&c);

    /* Without TLS (noplaintext): refused, and said so. */
    CHECK_INTEQ(sasl_client_create(both, NULL, SASL_SEC_NOPLAINTEXT, "u", "p", &c, &why), 0);
    CHECK(c == NULL);
    CHECK_STREQ(why, "SASL authentication over plaintext refused");

    CHECK_INTEQ(sasl_client_create(cram, NULL, 0, "u", "p", &c, &why), 0);
    CHECK_STREQ(why, "no SASL mechanism in common with the server");

    {
        char longpw[SASL_CLIENT_CRED_MAX + 2];

        memset(longpw, 'x', sizeof(longpw) - 1);
        longpw[sizeof(longpw) - 1] = 0;
        CHECK_INTEQ(sasl_client_create(both, NULL, 0, "u", longpw, &c, &why), -1);
    }
    argv_free(&both);
    argv_free(&login);
    argv_free(&cram);
    argv_free(&filter);
}

static void test_plain(void)
{
    struct argv *offered = argv_split("PLAIN", " ");
    struct sasl_client *c = NULL;
    struct buf *out = buf_create(64), *dec = buf_create(64);
    const char *why;

    CHECK_INTEQ(sasl_client_create(offered, NULL, 0, "joe@example.com", "s3cr:et", &c, &why), 1);
    if (c == NULL)
        goto done;
    CHECK(sasl_client_initial(c, out));
    CHECK_INTEQ(sasl_base64_decode(dec, buf_str(out), buf_len(out)), 0);
    CHECK(buf_len(dec) == 24 && memcmp(buf_str(dec), "\0joe@example.com\0s3cr:et", 24) == 0);
    /* A challenge with text after the initial response is wrong. */
    CHECK_INTEQ(sasl_client_step(c, "Zm9v", out, &why), -1);
    sasl_client_free(&c);

    /* A server that wants the response after an empty challenge gets it then. */
    CHECK_INTEQ(sasl_client_create(offered, NULL, 0, "u", "p", &c, &why), 1);
    CHECK_INTEQ(sasl_client_step(c, "", out, &why), 0);
    CHECK_STREQ(buf_str(out), "AHUAcA==");
    CHECK_INTEQ(sasl_client_step(c, "", out, &why), -1);
    sasl_client_free(&c);

done:
    argv_free(&offered);
    buf_free(&out);
    buf_free(&dec);
}

static void test_login(void)
{
    struct argv *offered = argv_split("LOGIN", " ");
    struct sasl_client *c = NULL;
    struct buf *out = buf_create(64);
    const char *why;

    CHECK_INTEQ(sasl_client_create(offered, NULL, 0, "joe", "pw", &c, &why), 1);
    if (c == NULL)
        goto done;
    CHECK(!sasl_client_initial(c, out));
    CHECK_INTEQ(sasl_client_step(c, "VXNlcm5hbWU6", out, &why), 0); /* "Username:" */
    CHECK_STREQ(buf_str(out), "am9l");
    CHECK_INTEQ(sasl_client_step(c, "UGFzc3dvcmQ6", out, &why), 0); /* "Password:" */
    CHECK_STREQ(buf_str(out), "cHc=");
    CHECK_INTEQ(sasl_client_step(c, "UGFzc3dvcmQ6", out, &why), -1);
    sasl_client_free(&c);

    CHECK_INTEQ(sasl_client_create(offered, NULL, 0, "joe", "pw", &c, &why), 1);
    CHECK_INTEQ(sasl_client_step(c, "not base64!", out, &why), -1);
    CHECK_STREQ(why, "malformed SASL challenge (not base64)");
    sasl_client_free(&c);

done:
    argv_free(&offered);
    buf_free(&out);
}

int main(void)
{
    msg_init("test_sasl_client", 0);
    TEST_RUN(test_base64);
    TEST_RUN(test_choice);
    TEST_RUN(test_plain);
    TEST_RUN(test_login);
    return test_summary();
}
