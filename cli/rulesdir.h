/*
 * rulesdir.h - the default rules directory of the CLI (shared by the commands that load rules).
 */
#ifndef KAD_CLI_RULESDIR_H
#define KAD_CLI_RULESDIR_H

#include <stdbool.h>

/* The bundled rules directory (see rulesdir.c for the search order). Never NULL; the string is
   static or from the environment. */
const char *cli_rules_dir(void);
/* A --rules/--exceptions PATH given on the command line that cannot be read: print
   "kadet CMD: OPTION PATH: reason" and return false (the caller exits with a usage error). */
bool cli_rules_path_ok(const char *cmd, const char *option, const char *path);

#endif
