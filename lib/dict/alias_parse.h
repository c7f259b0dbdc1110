/*
 * alias_parse - the aliases(5) file format, as a pure incremental parser.
 *
 * An entry is "name: value, value, ..." on one logical line (continuation
 * lines start with whitespace; '#' comment lines and blank lines are
 * ignored). A value is an address, "|command", "/file/name" or
 * ":include:/file/name"; double quotes protect commas and whitespace
 * ("|/usr/bin/prog -a x, y"), and a backslash quotes the next character.
 * The name may be quoted ("joe smith": joe). Names such as owner-list and
 * postmaster are ordinary names.
 *
 * Parsed names and values are in internal form (quotes and backslashes
 * removed). alias_values_join() makes the text stored in the alias table
 * (values separated by ", ", quoted where needed), and alias_values_split()
 * turns that text (or any right-hand side) back into the list.
 */
#ifndef POSTEL_DICT_ALIAS_PARSE_H
#define POSTEL_DICT_ALIAS_PARSE_H

#include "lib/util/argv.h"

/*
 * Parse one logical line "name: values". 0 with *name_r (caller frees) and
 * *values_r (caller frees), or -1 with *why_r (static text).
 */
int alias_parse_line(const char *line, char **name_r, struct argv **values_r,
                     const char **why_r);

/* Split a right-hand side into values. 0 with *values_r (caller frees), or -1 with *why_r. */
int alias_values_split(const char *text, struct argv **values_r, const char **why_r);

/* The stored form of a list of values (caller frees). */
char *alias_values_join(const struct argv *values);

/* What a value is. */
enum alias_value_kind {
    ALIAS_ADDRESS, /* user, user@domain */
    ALIAS_COMMAND, /* |command */
    ALIAS_FILE,    /* /file/name */
    ALIAS_INCLUDE, /* :include:/file/name */
};
enum alias_value_kind alias_value_kind(const char *value);

struct alias_parser;

struct alias_parser *alias_parser_create(void);
void alias_parser_free(struct alias_parser **pp);
/* Add input bytes (any amount at a time). */
void alias_parser_feed(struct alias_parser *p, const char *data, size_t len);
/* End of input. */
void alias_parser_end(struct alias_parser *p);
/*
 * 1: an entry (*name_r, *values_r valid until the next call) from line
 * *lineno_r; 0: nothing ready (feed more, or done); -1: a bad entry at line
 * *lineno_r, reason in *why_r, skipped.
 */
int alias_parser_next(struct alias_parser *p, const char **name_r,
                      const struct argv **values_r, int *lineno_r, const char **why_r);

#endif
