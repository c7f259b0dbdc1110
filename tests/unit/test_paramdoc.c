/*
 * test_paramdoc - the parameter table (lib/mail/param.c) and its manual page
 * (man/man5/postel.conf.5) must agree: every parameter documented, nothing
 * documented that does not exist, and each default shown as "postconf -d"
 * prints it. Entries are ".SS name (default: value)" lines; a default that
 * depends on the build or the host (PARAM_F_HOSTDEP) is shown as
 * 'see "postconf -d" output'.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mail/mail_conf.h"
#include "lib/mail/param.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "tests/unit/test.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

#define HOSTDEP_TEXT "see \"postconf -d\" output"

struct doc_entry {
    char *name;
    char *def;
    int line;
    bool matched;
};

static struct doc_entry *docs;
static size_t doc_count;
static char doc_path[4096];

/* The per-transport forms of the page: ".TP" tags "\fIservice\fB_<suffix>\fR (default: ...)". */
#define SUFFIX_SECTION ".SS Per-transport parameters"
#define SUFFIX_LEAD "\\fIservice\\fB_"
static struct doc_entry *suffix_docs;
static size_t suffix_doc_count;

/* Undo the roff escapes used in defaults: \(dq \- \e \&. */
static char *unescape(const char *text)
{
    struct buf *b = buf_create(strlen(text) + 1);

    for (const char *cp = text; *cp;) {
        if (strncmp(cp, "\\(dq", 4) == 0) {
            buf_putc(b, '"');
            cp += 4;
        } else if (strncmp(cp, "\\-", 2) == 0) {
            buf_putc(b, '-');
            cp += 2;
        } else if (strncmp(cp, "\\e", 2) == 0) {
            buf_putc(b, '\\');
            cp += 2;
        } else if (strncmp(cp, "\\&", 2) == 0) {
            cp += 2;
        } else {
            buf_putc(b, *cp++);
        }
    }
    return buf_export(&b);
}

/* Record one per-transport form: text is "<suffix>\fR (default: \fB$<generic>\fR)". */
static void add_suffix_doc(const char *text, int lineno)
{
    static const char mid[] = "\\fR (default: \\fB$";
    static const char tail[] = "\\fR)";
    const char *m = strstr(text, mid);
    size_t len = strlen(text);

    suffix_docs = mem_realloc_array(suffix_docs, suffix_doc_count + 1, sizeof(*suffix_docs));
    suffix_docs[suffix_doc_count].line = lineno;
    suffix_docs[suffix_doc_count].matched = false;
    if (m == NULL || len < strlen(tail) || strcmp(text + len - strlen(tail), tail) != 0) {
        /* Not the expected shape: shown as is, so that it matches nothing. */
        suffix_docs[suffix_doc_count].name = mem_strdup(text);
        suffix_docs[suffix_doc_count].def = mem_strdup("");
    } else {
        const char *g = m + strlen(mid);

        suffix_docs[suffix_doc_count].name = mem_strndup(text, (size_t)(m - text));
        suffix_docs[suffix_doc_count].def = mem_strndup(g, (size_t)(text + len - strlen(tail) - g));
    }
    suffix_doc_count++;
}

/* Read the manual page and collect its ".SS name (default: ...)" entries. */
static int load_docs(void)
{
    const char *srcdir = getenv("srcdir");
    char line[8192];
    int lineno = 0;
    FILE *fp;
    size_t size = 0;

    snprintf(doc_path, sizeof(doc_path), "%s/man/man5/postel.conf.5",
             srcdir != NULL && *srcdir ? srcdir : TOP_SRCDIR);
    if ((fp = fopen(doc_path, "r")) == NULL) {
        snprintf(doc_path, sizeof(doc_path), "%s/man/man5/postel.conf.5", TOP_SRCDIR);
        if ((fp = fopen(doc_path, "r")) == NULL) {
            perror(doc_path);
            return -1;
        }
    }
    bool in_suffixes = false, after_tp = false;

    while (fgets(line, sizeof(line), fp) != NULL) {
        char *name, *def, *end;

        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, ".SS ", 4) == 0 || strncmp(line, ".SH ", 4) == 0)
            in_suffixes = strcmp(line, SUFFIX_SECTION) == 0;
        /* In that section, each form is the tag line of a .TP. */
        if (in_suffixes && after_tp && strncmp(line, SUFFIX_LEAD, strlen(SUFFIX_LEAD)) == 0)
            add_suffix_doc(line + strlen(SUFFIX_LEAD), lineno);
        after_tp = strcmp(line, ".TP") == 0;
        if (strncmp(line, ".SS ", 4) != 0)
            continue;
        name = line + 4;
        def = strstr(name, " (default: ");
        end = line + strlen(line);
        if (def == NULL || end[-1] != ')') {
            /* A sub-section that is not a parameter (before .SH PARAMETERS). */
            continue;
        }
        *def = '\0';
        def += strlen(" (default: ");
        end[-1] = '\0';
        if (doc_count == size) {
            size = size ? 2 * size : 64;
            docs = mem_realloc_array(docs, size, sizeof(*docs));
        }
        docs[doc_count].name = mem_strdup(name);
        docs[doc_count].def = unescape(def);
        docs[doc_count].line = lineno;
        docs[doc_count].matched = false;
        doc_count++;
    }
    fclose(fp);
    return 0;
}

static void test_every_parameter_documented(void)
{
    CHECK(doc_count > 0);
    for (size_t i = 0; i < param_count; i++) {
        const struct param_def *p = &param_table[i];
        bool found = false;

        for (size_t k = 0; k < doc_count; k++)
            if (strcmp(docs[k].name, p->name) == 0) {
                found = true;
                docs[k].matched = true;
            }
        if (!found) {
            fprintf(stderr, "  %s: parameter \"%s\" is in lib/mail/param.c but not documented "
                    "(add \".SS %s (default: ...)\")\n", doc_path, p->name, p->name);
            CHECK(0);
        }
    }
}

static void test_every_entry_is_a_parameter(void)
{
    for (size_t k = 0; k < doc_count; k++)
        if (param_find(docs[k].name) == NULL) {
            fprintf(stderr, "  %s, line %d: \"%s\" is documented but not in lib/mail/param.c\n",
                    doc_path, docs[k].line, docs[k].name);
            CHECK(0);
        }
}

static void test_defaults_agree(void)
{
    for (size_t k = 0; k < doc_count; k++) {
        const struct param_def *p = param_find(docs[k].name);
        const char *want;

        if (p == NULL)
            continue;
        if (p->flags & PARAM_F_HOSTDEP)
            want = HOSTDEP_TEXT;
        else if (*param_default(p) == '\0')
            want = "empty";
        else
            want = param_default(p);
        if (strcmp(docs[k].def, want) != 0) {
            fprintf(stderr, "  %s, line %d: %s: the page says default \"%s\", postconf -d says "
                    "\"%s\"\n", doc_path, docs[k].line, p->name, docs[k].def, want);
            CHECK(0);
        }
    }
}

static void test_no_duplicates_sorted(void)
{
    for (size_t k = 1; k < doc_count; k++)
        if (strcmp(docs[k - 1].name, docs[k].name) >= 0) {
            fprintf(stderr, "  %s, line %d: \"%s\" is out of alphabetical order or repeated\n",
                    doc_path, docs[k].line, docs[k].name);
            CHECK(0);
        }
}

/* The per-transport section lists exactly param_suffix_table, with the generic defaults. */
static void test_suffixes_documented(void)
{
    CHECK(suffix_doc_count > 0);
    for (size_t i = 0; i < param_suffix_count; i++) {
        const struct param_suffix *sx = &param_suffix_table[i];
        bool found = false;

        for (size_t k = 0; k < suffix_doc_count; k++) {
            if (strcmp(suffix_docs[k].name, sx->suffix) != 0)
                continue;
            found = true;
            suffix_docs[k].matched = true;
            if (strcmp(suffix_docs[k].def, sx->generic) != 0) {
                fprintf(stderr, "  %s, line %d: service_%s: the page says default \"$%s\", "
                        "param.c says \"$%s\"\n", doc_path, suffix_docs[k].line, sx->suffix,
                        suffix_docs[k].def, sx->generic);
                CHECK(0);
            }
        }
        if (!found) {
            fprintf(stderr, "  %s: per-transport suffix \"%s\" is in lib/mail/param.c but not in "
                    "\"%s\"\n", doc_path, sx->suffix, SUFFIX_SECTION);
            CHECK(0);
        }
    }
    for (size_t k = 0; k < suffix_doc_count; k++)
        if (!suffix_docs[k].matched) {
            fprintf(stderr, "  %s, line %d: \"%s\" is documented but not a suffix in "
                    "lib/mail/param.c\n", doc_path, suffix_docs[k].line, suffix_docs[k].name);
            CHECK(0);
        }
}

int main(void)
{
    if (load_docs() < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    TEST_RUN(test_every_parameter_documented);
    TEST_RUN(test_every_entry_is_a_parameter);
    TEST_RUN(test_defaults_agree);
    TEST_RUN(test_no_duplicates_sorted);
    TEST_RUN(test_suffixes_documented);
    for (size_t k = 0; k < doc_count; k++) {
        mem_free(docs[k].name);
        mem_free(docs[k].def);
    }
    mem_free(docs);
    for (size_t k = 0; k < suffix_doc_count; k++) {
        mem_free(suffix_docs[k].name);
        mem_free(suffix_docs[k].def);
    }
    mem_free(suffix_docs);
    config_reset();
    return test_summary();
}
