/*
 * postmap - build, update, query and list Postel lookup tables.
 *
 * The whole of the work is done by tools/mapcmd.c, shared with postalias;
 * this file only chooses the "key whitespace value" source format. See
 * postmap(1).
 */
#include "config.h"

#include "tools/mapcmd.h"

int main(int argc, char **argv)
{
    return mapcmd_main(argc, argv, "postmap", MAPCMD_POSTMAP);
}
