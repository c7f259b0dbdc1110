/*
 * mapcmd - the engine shared by postmap(1), postalias(1) and newaliases(1):
 * options, building a table from its source file, incremental updates,
 * queries, deletions and listing.
 */
#ifndef POSTEL_TOOLS_MAPCMD_H
#define POSTEL_TOOLS_MAPCMD_H

enum mapcmd_format {
    MAPCMD_POSTMAP, /* "key whitespace value" */
    MAPCMD_ALIASES, /* aliases(5): "name: value, value" */
};

/* Run the command; returns the exit status. prog names it in messages and usage. */
int mapcmd_main(int argc, char **argv, const char *prog, enum mapcmd_format format);

/* newaliases: rebuild every table in alias_database. Returns the exit status. */
int mapcmd_newaliases(int argc, char **argv);

#endif
