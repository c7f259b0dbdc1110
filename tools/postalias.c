/*
 * postalias - build, update, query and list alias tables; installed also as
 * newaliases, which rebuilds every table named in alias_database.
 *
 * The work is done by tools/mapcmd.c (shared with postmap) with the
 * aliases(5) source format. See postalias(1) and newaliases(1).
 */
#include "config.h"

#include <string.h>

#include "tools/mapcmd.h"

int main(int argc, char **argv)
{
    const char *slash = argv[0] != NULL ? strrchr(argv[0], '/') : NULL;
    const char *name = slash != NULL ? slash + 1 : argv[0] != NULL ? argv[0] : "postalias";

    if (strcmp(name, "newaliases") == 0)
        return mapcmd_newaliases(argc, argv);
    return mapcmd_main(argc, argv, "postalias", MAPCMD_ALIASES);
}
