/*
 * test_smtp_mime - smtp/smtp_mime.c: quoted-printable lines (RFC 2045
 * section 6.7 rules, round trip, line lengths) and the MIME-aware 8-bit
 * downgrade, table-driven, whole, byte at a time and in random pieces.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/util/buf.h"
#include "lib/util/msg.h"
#include "smtp/smtp.h"
#include "tests/unit/test.h"

/* Decode quoted-printable text (LF lines, soft breaks) into out. 0, or -1 if malformed. */
static int qp_decode(const char *in, size_t len, struct buf *out)
{
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '=') {
            buf_putc(out, in[i]);
            continue;
        }
        if (i + 1 < len && in[i + 1] == '\n') {
            i++;
            continue;
        }
        if (i + 2 >= len)
            return -1;
        {
            char hex[3] = {in[i + 1], in[i + 2], 0};
            char *end;
            long v = strtol(hex, &end, 16);

            if (*end != 0 || hex[0] == '-' || hex[0] == '+' || hex[0] == ' ')
                return -1;
            buf_putc(out, (int)v);
            i += 2;
        }
    }
    return 0;
}

/* Every encoded line is at most 76 characters of printable ASCII, no white space at its end. */
static bool qp_well_formed(const char *s, size_t len)
{
    size_t col = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\n') {
            if (col > 76 || (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t')))
                return false;
            col = 0;
            continue;
        }
        if ((c < 32 && c != '\t') || c > 126)
            return false;
        col++;
    }
    return col <= 76;
}

static void test_qp_lines(void)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"hello", "hello\n"},
        {"a=b", "a=3Db\n"},
        {"trailing ", "trailing=20\n"},
        {"tab\t", "tab=09\n"},
        {"in the middle ok", "in the middle ok\n"},
        {"caf\xc3\xa9", "caf=C3=A9\n"},
        {"", "\n"},
        {"  ", " =20\n"},
        {"cr\r", "cr=0D\n"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf *b = buf_create(64);

        smtp_qp_line(b, cases[i].in, strlen(cases[i].in));
        CHECK_STREQ(buf_str(b), cases[i].out);
        buf_free(&b);
    }
}

/* Random lines: well formed, and they decode to what went in. */
static void test_qp_round_trip(void)
{
    unsigned long state = 42;
    int bad = 0;

    for (int n = 0; n < 2000; n++) {
        char line[400];
        size_t len;
        struct buf *enc = buf_create(512), *dec = buf_create(512);

        state = state * 6364136223846793005UL + 1;
        len = (size_t)(state >> 33) % sizeof(line);
        for (size_t i = 0; i < len; i++) {
            state = state * 6364136223846793005UL + 1;
            line[i] = (state >> 40) % 4 == 0 ? ' ' : (char)(state >> 33);
            if (line[i] == '\n')
                line[i] = '=';
        }
        smtp_qp_line(enc, line, len);
        if (!qp_well_formed(buf_str(enc), buf_len(enc)))
            bad++;
        else if (qp_decode(buf_str(enc), buf_len(enc), dec) < 0 || buf_len(dec) != len + 1 ||
                 memcmp(buf_str(dec), line, len) != 0 || buf_str(dec)[len] != '\n')
            bad++;
        buf_free(&enc);
        buf_free(&dec);
    }
    CHECK_INTEQ(bad, 0);
}

struct mime_case {
    const char *name;
    const char *in;
    const char *out; /* NULL: the same as in */
};

static const struct mime_case mime_cases[] = {
    {"seven-bit message unchanged",
     "From: a@example.com\nSubject: plain\n\nJust text.\n=not encoded=\n", NULL},
    {"8-bit header, 7-bit body unchanged",
     "Subject: caf\xc3\xa9\nMIME-Version: 1.0\n\nascii body\n", NULL},
    {"single part declared 8bit",
     "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
     "Content-Transfer-Encoding: 8bit\nSubject: x\n\nCaf\xc3\xa9 = ok \nsecond\n",
     "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
     "Content-Transfer-Encoding: quoted-printable\nSubject: x\n\nCaf=C3=A9 =3D ok=20\nsecond\n"},
    {"single part without MIME headers", "Subject: x\n\nna\xefve\n",
     "Subject: x\nMIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n\nna=EFve\n"},
    {"folded CTE header replaced", "Content-Transfer-Encoding:\n 8bit\nX: y\n\n\xff\n",
     "Content-Transfer-Encoding: quoted-printable\nX: y\n\n=FF\n"},
    {"no final line end", "Content-Type: text/plain\n\n\xe9t\xe9",
     "Content-Type: text/plain\nMIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n"
     "\n=E9t=E9"},
    {"multipart: only the 8-bit part",
     "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n"
     "Content-Transfer-Encoding: 8bit\n\n"
     "preamble\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
     "gr\xc3\xbc\xc3\x9f\n--b1\nContent-Type: text/plain\n\nascii part\n"
     "--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
     "AAECAwQ=\n--b1--\nepilogue\n",
     "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n"
     "Content-Transfer-Encoding: 7bit\n\n"
     "preamble\n--b1\nContent-Type: text/plain; charset=utf-8\n"
     "Content-Transfer-Encoding: quoted-printable\n\n"
     "gr=C3=BC=C3=9F\n--b1\nContent-Type: text/plain\n\nascii part\n"
     "--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
     "AAECAwQ=\n--b1--\nepilogue\n"},
    {"nested multipart and a look-alike boundary",
     "Content-Type: multipart/mixed; boundary=outer\n\n"
     "--outer\nContent-Type: multipart/alternative; boundary=inner\n\n"
     "--inner\nContent-Type: text/plain\n\n\xe4\n--outerX not a boundary\n"
     "--inner\nContent-Type: text/html\n\n<p>\xe4</p>\n--inner--\n"
     "--outer\nContent-Type: text/plain\n\nlast \xf6\n--outer--\n",
     "Content-Type: multipart/mixed; boundary=outer\n\n"
     "--outer\nContent-Type: multipart/alternative; boundary=inner\n\n"
     "--inner\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
     "=E4\n--outerX not a boundary\n"
     "--inner\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n"
     "<p>=E4</p>\n--inner--\n"
     "--outer\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
     "last =F6\n--outer--\n"},
    {"outer boundary closes an unterminated inner part",
     "Content-Type: multipart/mixed; boundary=o\n\n"
     "--o\nContent-Type: multipart/related; boundary=i\n\n--i\n\n\xe9\n--o--\n",
     "Content-Type: multipart/mixed; boundary=o\n\n"
     "--o\nContent-Type: multipart/related; boundary=i\n\n--i\n"
     "Content-Transfer-Encoding: quoted-printable\n\n=E9\n--o--\n"},
    {"message/rfc822 inside",
     "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: message/rfc822\n"
     "Content-Transfer-Encoding: 8bit\n\nSubject: inner\nContent-Type: text/plain\n\n\xe5\n--m--\n",
     "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: message/rfc822\n"
     "Content-Transfer-Encoding: 7bit\n\nSubject: inner\nContent-Type: text/plain\n"
     "Content-Transfer-Encoding: quoted-printable\n\n=E5\n--m--\n"},
    {"declared base64 with 8-bit bytes left alone",
     "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n\xff\xfe\n", NULL},
    {"header block ended by a non-header line", "Subject: x\nthis is body \xe9\n",
     "Subject: x\nMIME-Version: 1.0\nContent-Transfer-Encoding: quoted-printable\n"
     "this is body =E9\n"},
    {"headers only", "Subject: only\nX-8: \xe9\n", NULL},
    {"empty", "", NULL},
};

/* Convert in, fed in pieces of at most step bytes (0: all at once). */
static void mime_run(const char *in, size_t len, size_t step, struct buf *out)
{
    struct smtp_mime *m = smtp_mime_create();

    if (step == 0)
        smtp_mime_feed(m, in, len, out);
    else
        for (size_t i = 0; i < len; i += step)
            smtp_mime_feed(m, in + i, len - i < step ? len - i : step, out);
    smtp_mime_end(m, out);
    smtp_mime_free(&m);
}

static void test_mime_cases(void)
{
    for (size_t i = 0; i < sizeof(mime_cases) / sizeof(mime_cases[0]); i++) {
        const struct mime_case *c = &mime_cases[i];
        const char *want = c->out ? c->out : c->in;
        size_t steps[] = {0, 1, 2, 3, 7, 64};

        for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
            struct buf *out = buf_create(256);

            mime_run(c->in, strlen(c->in), steps[k], out);
            if (strcmp(buf_str(out), want) != 0) {
                fprintf(stderr, "  case \"%s\" step %zu:\n--- got ---\n%s\n--- want ---\n%s\n",
                        c->name, steps[k], buf_str(out), want);
                CHECK(0);
            }
            buf_free(&out);
        }
    }
}

/* The whole content pipeline: downgrade, then CRLF and dot-stuffing, then the final dot. */
static void test_content_pipeline(void)
{
    static const char in[] = "Subject: t\n\n.dot \xe9\nend";
    static const char want[] = "Subject: t\r\nMIME-Version: 1.0\r\n"
                               "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                               "..dot =E9\r\nend\r\n.\r\n";
    struct smtp_content_opts opts = {.downgrade = true};
    const char *why;

    for (size_t step = 1; step <= sizeof(in); step++) {
        struct smtp_content *c = smtp_content_create(&opts);
        struct buf *out = buf_create(256);

        for (size_t i = 0; i < sizeof(in) - 1; i += step)
            CHECK_INTEQ(smtp_content_feed(c, in + i,
                                          sizeof(in) - 1 - i < step ? sizeof(in) - 1 - i : step,
                                          out, &why),
                        0);
        CHECK_INTEQ(smtp_content_end(c, out, &why), 0);
        CHECK_STREQ(buf_str(out), want);
        smtp_content_free(&c);
        buf_free(&out);
    }

    /* Without downgrade: bytes kept, long lines broken at the limit. */
    {
        struct smtp_content_opts plain = {.line_length_limit = 10};
        struct smtp_content *c = smtp_content_create(&plain);
        struct buf *out = buf_create(256);

        CHECK_INTEQ(smtp_content_feed(c, "0123456789abcdef\n\xe9\n", 19, out, &why), 0);
        CHECK_INTEQ(smtp_content_end(c, out, &why), 0);
        CHECK_STREQ(buf_str(out), "0123456789\r\nabcdef\r\n\xe9\r\n.\r\n");
        smtp_content_free(&c);
        buf_free(&out);
    }
}

int main(void)
{
    msg_init("test_smtp_mime", MSG_TO_STDERR);
    TEST_RUN(test_qp_lines);
    TEST_RUN(test_qp_round_trip);
    TEST_RUN(test_mime_cases);
    TEST_RUN(test_content_pipeline);
    return test_summary();
}
