/*
 * dict_lines - logical lines of table source files (postmap input, texthash,
 * cidr, regexp, pcre, aliases).
 *
 * The format is Postfix's: a logical line starts with non-whitespace text; a
 * line that starts with whitespace continues it; empty lines and lines whose
 * first non-whitespace character is '#' are ignored (also between a line and
 * its continuation). "\r\n" is accepted as a line end.
 *
 * dict_lines is incremental: feed it any number of bytes at a time, then
 * take the completed logical lines with dict_lines_next(). dict_source reads
 * a file through it.
 */
#ifndef POSTEL_DICT_DICT_LINES_H
#define POSTEL_DICT_DICT_LINES_H

#include <stddef.h>
#include <sys/stat.h>

/* Longest logical line: a longest key plus a longest value, and some. */
#define DICT_LINE_MAX (128 * 1024 + 1024 * 1024 + 1024)

struct dict_lines;

struct dict_lines *dict_lines_create(void);
void dict_lines_free(struct dict_lines **lp);
/* Longest logical line (default DICT_LINE_MAX); for tests and small inputs. */
void dict_lines_set_max(struct dict_lines *l, size_t max);
void dict_lines_feed(struct dict_lines *l, const char *data, size_t len);
/* End of input: the last line is complete even without a newline. */
void dict_lines_end(struct dict_lines *l);
/*
 * 1: a logical line in *line_r (valid until the next call) that starts on
 * line *lineno_r; 0: none ready (feed more, or the input is done); -1: a bad
 * line (*lineno_r, *why_r: too long, NUL byte, continuation without a line)
 * that is skipped.
 */
int dict_lines_next(struct dict_lines *l, const char **line_r, int *lineno_r, const char **why_r);

struct dict_source;

/* Open a text file for reading. NULL with *why_r ("open path: reason"). */
struct dict_source *dict_source_open(const char *path, const char **why_r);
/* Read from fd (not closed by dict_source_close), named name in messages. */
struct dict_source *dict_source_fdopen(int fd, const char *name);
/*
 * 1: the next logical line, 0: end of file, -1: read error (*why_r). Bad
 * lines are logged as warnings "name, line N: why" and skipped.
 */
int dict_source_next(struct dict_source *s, const char **line_r, int *lineno_r,
                     const char **why_r);
const char *dict_source_name(const struct dict_source *s);
/* fstat of the open file (taken at open). */
const struct stat *dict_source_stat(const struct dict_source *s);
void dict_source_close(struct dict_source **sp);

#endif
