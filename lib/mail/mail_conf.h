/*
 * mail_conf - main.cf: reading, expansion, typed access (lib/mail/config.c).
 *
 * Every parameter is declared once in the table of param.c (see param.h).
 * config_read() parses <config_dir>/main.cf: "name = value", continuation
 * lines starting with white space, '#' comments. Values are expanded on
 * access: $name, ${name}, ${name?text} (text if name is non-empty),
 * ${name:text} (text if name is empty), with a guard against recursion.
 * An unknown name is a warning naming file and line; a value that does not
 * fit its type or range is an error naming file, line and the allowed range.
 * "<service>_<suffix>" for a master.cf service and a suffix of
 * param_suffix_table (relay_destination_recipient_limit) is known, typed
 * like its generic parameter (param.h).
 *
 * Precedence: -o overrides (config_override) > main.cf > table default.
 */
#ifndef POSTEL_MAIL_MAIL_CONF_H
#define POSTEL_MAIL_MAIL_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/util/argv.h"

/* The configuration directory: -c dir, else $POSTEL_CONFIG_DIR, else DEF_CONFIG_DIR. */
const char *config_dir_default(void);

/*
 * Read <dir>/main.cf (a missing main.cf is fine: all defaults) and check
 * every value. Returns 0, or -1 with *why_r = "file, line N: what is wrong".
 * Sets config_directory = dir. May be called again (SIGHUP): the previous
 * values are replaced as a whole only if the new file is valid.
 */
int config_read(const char *dir, const char **why_r);

/* -o name=value: checked like main.cf. Returns 0 or -1 with *why_r. */
int config_override(const char *name, const char *value, const char **why_r);

/*
 * Typed, expanded access. The name must be in the table, or be a
 * per-transport name "<service>_<suffix>" (param.h; the value of its
 * generic parameter unless set for a master.cf service), else msg_panic.
 */
const char *config_str(const char *name);      /* expanded text */
long long config_int(const char *name);
bool config_bool(const char *name);            /* yes/no, true/false, on/off, 1/0 */
long long config_time(const char *name);       /* seconds; units s m h d w */
long long config_size(const char *name);       /* bytes; plain number, or k m g suffix */
struct argv *config_list(const char *name);    /* split at white space and commas; caller frees */

/* Raw (unexpanded) value and where it came from, for postconf. */
const char *config_raw(const char *name);      /* NULL if not set in main.cf or -o */
bool config_is_set(const char *name);          /* set in main.cf or by -o */

/* Expand $name references in arbitrary text (master.cf -o values, etc.). */
char *config_expand(const char *text);         /* caller frees */

/* The main.cf path of the last config_read(), or NULL before one. */
const char *config_file(void);

/*
 * Strings returned by config_str(), config_raw() and config_file() stay
 * valid until the next config_read() or config_reset().
 */

/* Names set in main.cf or by -o (known and user-defined), sorted; caller frees. */
struct argv *config_names_set(void);

/*
 * Check text as if it were the main.cf at path (postconf -e checks its
 * result before it writes). Nothing changes. 0, or -1 with *why_r.
 */
int config_check_text(const char *path, const char *text, size_t len, const char **why_r);

/* Forget everything read and every override (tests; exit-time cleanup). */
void config_reset(void);

/*
 * Read a whole regular file of at most max bytes into *text_r (NUL-terminated,
 * caller frees). 1 when read, 0 when it does not exist (*text_r = NULL),
 * -1 with *why_r on any other error or when it is larger than max.
 */
int config_load_file(const char *path, size_t max, char **text_r, size_t *len_r,
                     const char **why_r);

/* Limits of main.cf (and master.cf): whole file, one physical line, one value. */
#define CONFIG_FILE_MAX (4 * 1024 * 1024)
#define CONFIG_LINE_MAX (64 * 1024)
#define CONFIG_VALUE_MAX (256 * 1024)
#define CONFIG_EXPAND_MAX (1024 * 1024) /* one value after $name expansion */

#endif
