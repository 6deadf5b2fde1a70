/*
 * cmd_version.c - `kadet version`: the version of kadet and of the libraries it links.
 */
#include "cmd.h"
#include "kad.h"

#include <sqlite3.h>
#include <stdio.h>
#include <zlib.h>

static int run(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        extern const struct cmd cmd_version;
        return cmd_usage_error(&cmd_version, "unexpected argument '%s'", argv[1]);
    }
    printf("kadet %s\nsqlite %s\nzlib %s\n", kad_version(), sqlite3_libversion(), zlibVersion());
    return EXIT_OK;
}

const struct cmd cmd_version = {
    .name = "version",
    .summary = "print the version of kadet and its libraries",
    .usage = "usage: kadet version\n\nPrint kadet's version and the versions of the libraries "
             "it is linked with.\n",
    .run = run,
};
