/*
 * dict_regexp - regexp: and pcre: tables, both compiled with PCRE2.
 *
 * Owns: parsing "/pattern/flags result" rules in the syntax of Postfix's
 * regexp_table(5) and pcre_table(5): any non-alphanumeric, non-space
 * delimiter; "!/pattern/" negation (matches when the pattern does not; a
 * negated rule has no $n); "/pat1/!/pat2/" (regexp: pat1 matches and pat2
 * does not); "if /pattern/" ... "endif" blocks; matching is
 * case-insensitive unless flag i is given; $1..$9, ${n} and $$ in results.
 *
 * Flags (each toggles or sets, as in Postfix): i (case), m (multi-line),
 * x (extended: ignore whitespace in the pattern); pcre: also s (dot matches
 * newline), A (anchored), E (dollar matches at the very end only), U
 * (ungreedy), X (accepted for compatibility).
 *
 * A bad rule (pattern that does not compile, unknown flag, $n beyond the
 * pattern's groups, $n in a negated rule) is logged with file and line and
 * skipped, like Postfix. Security: PCRE2's match limits bound the work of
 * each match (a failed match past a limit is DICT_ERROR, not "not found"),
 * and a result after substitution is bounded by DICT_VALUE_MAX.
 */
#include "config.h"

#ifdef HAVE_PCRE2

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <string.h>

#include "lib/dict/dict_lines.h"
#include "lib/dict/dict_priv.h"
#include "lib/util/buf.h"
#include "lib/util/mem.h"
#include "lib/util/msg.h"

struct re_rule {
    pcre2_code *re;      /* the pattern (NULL for endif) */
    pcre2_code *re_not;  /* regexp: "/a/!/b/": b must not match */
    bool negate;
    bool is_if;
    size_t skip_to;      /* if: where to go when it does not match */
    char *result;        /* NULL for if/endif */
    int lineno;
};

struct dict_re {
    struct re_rule *rules;
    size_t count, size;
    pcre2_match_data *md;
    struct buf *out;
    const char *kind; /* "regexp" or "pcre" for messages */
    uint32_t max_pairs; /* most capture groups of any pattern, plus one */
};

/* Split one "/pattern/flags" at *pp. NULL on success (pattern in pat, flags in opts). */
static const char *re_get_pattern(const char **pp, struct buf *pat, uint32_t *opts_r,
                                  bool pcre_flags)
{
    const char *p = *pp;
    char delim = *p;
    uint32_t opts = PCRE2_CASELESS;

    if (delim == '\0' || isalnum((unsigned char)delim) || isspace((unsigned char)delim))
        return "expected /pattern/";
    p++;
    buf_reset(pat);
    for (; *p && *p != delim; p++) {
        if (*p == '\\' && p[1] != '\0') {
            /* An escaped delimiter stands for itself; other escapes stay for PCRE2. */
            if (p[1] == delim) {
                buf_putc(pat, delim);
                p++;
                continue;
            }
            buf_putc(pat, *p++);
        }
        buf_putc(pat, *p);
    }
    if (*p != delim)
        return "missing closing pattern delimiter";
    p++;
    for (; *p && !isspace((unsigned char)*p) && *p != '!'; p++) {
        switch (*p) {
        case 'i':
            opts ^= PCRE2_CASELESS;
            break;
        case 'm':
            opts ^= PCRE2_MULTILINE;
            break;
        case 'x':
            opts ^= PCRE2_EXTENDED;
            break;
        case 's':
            if (!pcre_flags)
                return "unknown pattern flag";
            opts ^= PCRE2_DOTALL;
            break;
        case 'A':
            if (!pcre_flags)
                return "unknown pattern flag";
            opts ^= PCRE2_ANCHORED;
            break;
        case 'E':
            if (!pcre_flags)
                return "unknown pattern flag";
            opts ^= PCRE2_DOLLAR_ENDONLY;
            break;
        case 'U':
            if (!pcre_flags)
                return "unknown pattern flag";
            opts ^= PCRE2_UNGREEDY;
            break;
        case 'X':
            if (!pcre_flags)
                return "unknown pattern flag";
            break;
        default:
            return "unknown pattern flag";
        }
    }
    *opts_r = opts;
    *pp = p;
    return NULL;
}

/* Compile a pattern; NULL with the PCRE2 message in why. */
static pcre2_code *re_compile(const struct buf *pat, uint32_t opts, struct buf *why)
{
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)buf_str(pat), buf_len(pat), opts, &errcode,
                                   &erroff, NULL);

    if (re == NULL) {
        PCRE2_UCHAR msg[256];

        pcre2_get_error_message(errcode, msg, sizeof(msg));
        buf_reset(why);
        buf_printf(why, "pattern error at offset %zu: %s", (size_t)erroff, (const char *)msg);
        return NULL;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

/* Check $n references in a result against the groups of re. NULL or the reason. */
static const char *re_check_result(const char *result, const pcre2_code *re, bool negate)
{
    uint32_t groups = 0;

    if (re != NULL)
        (void)pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &groups);
    for (const char *p = result; *p; p++) {
        long n;

        if (*p != '$')
            continue;
        p++;
        if (*p == '$')
            continue;
        if (*p == '{') {
            char *end;

            n = strtol(p + 1, &end, 10);
            if (end == p + 1 || *end != '}')
                return "bad ${number} in result";
            p = end;
        } else if (isdigit((unsigned char)*p)) {
            n = *p - '0';
        } else {
            p--;
            continue; /* a lone '$' is literal */
        }
        if (negate)
            return "$number in the result of a negated pattern";
        if (n < 1 || (uint32_t)n > groups)
            return "$number out of range for the groups of the pattern";
    }
    return NULL;
}

/* Substitute $n from the last match into the rule's result. 0 or -1 (too long). */
static int re_expand(struct dict_re *r, const char *key, const char *result)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);
    uint32_t pairs = pcre2_get_ovector_count(r->md);

    buf_reset(r->out);
    for (const char *p = result; *p; p++) {
        long n;

        if (*p != '$') {
            buf_putc(r->out, *p);
            continue;
        }
        if (p[1] == '$') {
            buf_putc(r->out, '$');
            p++;
            continue;
        }
        if (p[1] == '{') {
            char *end;

            n = strtol(p + 2, &end, 10);
            p = end;
        } else if (isdigit((unsigned char)p[1])) {
            n = p[1] - '0';
            p++;
        } else {
            buf_putc(r->out, '$');
            continue;
        }
        if (n >= 0 && (uint32_t)n < pairs && ov[2 * n] != PCRE2_UNSET)
            buf_append(r->out, key + ov[2 * n], ov[2 * n + 1] - ov[2 * n]);
        if (buf_len(r->out) > DICT_VALUE_MAX)
            return -1;
    }
    return 0;
}

/* Match one pattern: 1, 0, or -1 (limit exceeded or other match error). */
static int re_match(struct dict *d, struct dict_re *r, pcre2_code *re, const char *key)
{
    int rc = pcre2_match(re, (PCRE2_SPTR)key, strlen(key), 0, 0, r->md, NULL);

    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    PCRE2_UCHAR msg[256];

    pcre2_get_error_message(rc, msg, sizeof(msg));
    dict_why(d, "%s: matching \"%.100s\": %s", d->spec, key, (const char *)msg);
    return -1;
}

/* ops: the first rule that matches key, with $n substituted. */
static int re_lookup(struct dict *d, const char *key, const char **value_r)
{
    struct dict_re *r = d->priv;

    for (size_t i = 0; i < r->count;) {
        const struct re_rule *rule = &r->rules[i];
        int m;

        if (rule->re == NULL) { /* endif, or an if that never matches */
            i = rule->is_if ? rule->skip_to : i + 1;
            continue;
        }
        if (rule->re_not != NULL) {
            if ((m = re_match(d, r, rule->re_not, key)) < 0)
                return DICT_ERROR;
            if (m == 1) {
                i = rule->is_if ? rule->skip_to : i + 1;
                continue;
            }
        }
        if ((m = re_match(d, r, rule->re, key)) < 0)
            return DICT_ERROR;
        m = m != rule->negate;
        if (rule->is_if) {
            i = m ? i + 1 : rule->skip_to;
            continue;
        }
        if (m) {
            if (rule->negate || rule->re_not != NULL) {
                /* Captures of a pattern that did not match mean nothing. */
                buf_set(r->out, rule->result);
            } else if (re_expand(r, key, rule->result) < 0) {
                return dict_why(d, "%s: result too long after substitution", d->spec);
            }
            *value_r = buf_str(r->out);
            return DICT_FOUND;
        }
        i++;
    }
    return DICT_NOTFOUND;
}

/* ops: release the rules. */
static void re_close(struct dict *d)
{
    struct dict_re *r = d->priv;

    if (r == NULL)
        return;
    for (size_t i = 0; i < r->count; i++) {
        pcre2_code_free(r->rules[i].re);
        pcre2_code_free(r->rules[i].re_not);
        mem_free(r->rules[i].result);
    }
    mem_free(r->rules);
    pcre2_match_data_free(r->md);
    buf_free(&r->out);
    mem_free(r);
    d->priv = NULL;
}

static const struct dict_ops re_ops = {
    .lookup = re_lookup,
    .close = re_close,
};

/* Append an empty rule. */
static struct re_rule *re_add(struct dict_re *r)
{
    if (r->count == r->size) {
        r->size = r->size ? 2 * r->size : 16;
        r->rules = mem_realloc_array(r->rules, r->size, sizeof(*r->rules));
    }
    memset(&r->rules[r->count], 0, sizeof(r->rules[0]));
    return &r->rules[r->count++];
}

/* Push an if rule index. */
static void re_push(size_t **stack, size_t *depth, size_t *size, size_t index)
{
    if (*depth == *size) {
        *size = *size ? 2 * *size : 8;
        *stack = mem_realloc_array(*stack, *size, sizeof(**stack));
    }
    (*stack)[(*depth)++] = index;
}

/*
 * Parse one rule line into rule (is_if set by caller). NULL on success, or
 * the reason; why holds PCRE2 compile errors.
 */
static const char *re_parse_rule(struct dict_re *r, const char *p, struct re_rule *rule,
                                 bool pcre_flags, struct buf *pat, struct buf *why,
                                 const char *path)
{
    uint32_t opts, groups = 0;
    const char *err;

    if (*p == '!' && p[1] != '\0' && !isalnum((unsigned char)p[1])
        && !isspace((unsigned char)p[1])) {
        rule->negate = true;
        p++;
    }
    if ((err = re_get_pattern(&p, pat, &opts, pcre_flags)) != NULL)
        return err;
    if ((rule->re = re_compile(pat, opts, why)) == NULL)
        return buf_str(why);
    (void)pcre2_pattern_info(rule->re, PCRE2_INFO_CAPTURECOUNT, &groups);
    if (groups + 1 > r->max_pairs)
        r->max_pairs = groups + 1;
    if (*p == '!' && !pcre_flags && !rule->negate) {
        p++;
        if ((err = re_get_pattern(&p, pat, &opts, false)) != NULL)
            return err;
        if ((rule->re_not = re_compile(pat, opts, why)) == NULL)
            return buf_str(why);
    }
    if (*p != '\0' && !isspace((unsigned char)*p))
        return "unknown pattern flag";
    while (isspace((unsigned char)*p))
        p++;
    if (rule->is_if) {
        if (*p != '\0')
            msg_warn("%s map %s, line %d: ignoring text after IF pattern", r->kind, path,
                     rule->lineno);
        return NULL;
    }
    size_t len = strlen(p);

    while (len > 0 && isspace((unsigned char)p[len - 1]))
        len--;
    rule->result = mem_strndup(p, len);
    if ((err = re_check_result(rule->result, rule->re, rule->negate || rule->re_not)) != NULL)
        return err;
    return NULL;
}

/* Open a regexp: or pcre: file. */
static int re_open(struct dict *d, const char *path, bool pcre_flags)
{
    struct dict_source *src;
    struct dict_re *r = mem_alloc(sizeof(*r));
    struct buf *pat = buf_create(64), *why_buf = buf_create(64);
    size_t *ifstack = NULL, depth = 0, ifsize = 0;
    const char *line, *why;
    int lineno, rc;

    r->kind = pcre_flags ? "pcre" : "regexp";
    r->max_pairs = 1;
    r->out = buf_create(64);
    d->priv = r;
    d->ops = &re_ops;
    if ((src = dict_source_open(path, &why)) == NULL) {
        buf_free(&pat);
        buf_free(&why_buf);
        return dict_why(d, "%s", why);
    }
    while ((rc = dict_source_next(src, &line, &lineno, &why)) == 1) {
        const char *p = line;
        struct re_rule rule;
        const char *err;

        memset(&rule, 0, sizeof(rule));
        rule.lineno = lineno;
        if (strncasecmp(p, "endif", 5) == 0 && (p[5] == '\0' || isspace((unsigned char)p[5]))) {
            if (depth == 0) {
                msg_warn("%s map %s, line %d: ignoring ENDIF without matching IF", r->kind,
                         path, lineno);
                continue;
            }
            re_add(r)->lineno = lineno;
            r->rules[ifstack[--depth]].skip_to = r->count;
            continue;
        }
        if (strncasecmp(p, "if", 2) == 0 && isspace((unsigned char)p[2])) {
            rule.is_if = true;
            p += 2;
            while (isspace((unsigned char)*p))
                p++;
        }
        err = re_parse_rule(r, p, &rule, pcre_flags, pat, why_buf, path);
        if (err != NULL) {
            msg_warn("%s map %s, line %d: %s -- skipping this %s", r->kind, path, lineno, err,
                     rule.is_if ? "IF block" : "rule");
            pcre2_code_free(rule.re);
            pcre2_code_free(rule.re_not);
            mem_free(rule.result);
            if (!rule.is_if)
                continue;
            /* Keep the block structure with an IF that never matches. */
            memset(&rule, 0, sizeof(rule));
            rule.is_if = true;
            rule.lineno = lineno;
        }
        *re_add(r) = rule;
        if (rule.is_if)
            re_push(&ifstack, &depth, &ifsize, r->count - 1);
    }
    while (depth > 0) {
        size_t i = ifstack[--depth];

        msg_warn("%s map %s, line %d: IF has no matching ENDIF", r->kind, path,
                 r->rules[i].lineno);
        r->rules[i].skip_to = r->count;
    }
    mem_free(ifstack);
    buf_free(&pat);
    buf_free(&why_buf);
    r->md = pcre2_match_data_create(r->max_pairs, NULL);
    if (rc < 0) {
        dict_source_close(&src);
        return dict_why(d, "%s", why);
    }
    dict_note_file(d, path, dict_source_stat(src));
    dict_source_close(&src);
    return 0;
}

/* regexp: */
static int regexp_open(struct dict *d, const char *path, int flags)
{
    return re_open(d, path, false);
}

/* pcre: */
static int pcre_open(struct dict *d, const char *path, int flags)
{
    return re_open(d, path, true);
}

const struct dict_type dict_type_regexp = {
    .name = "regexp",
    .type_flags = DICT_TYPE_FILE,
    .open = regexp_open,
};

const struct dict_type dict_type_pcre = {
    .name = "pcre",
    .type_flags = DICT_TYPE_FILE,
    .open = pcre_open,
};

#endif /* HAVE_PCRE2 */
