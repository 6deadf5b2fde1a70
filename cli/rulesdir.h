/*
 * rulesdir.h - the default rules directory of the CLI (shared by the commands that load rules).
 */
#ifndef KAD_CLI_RULESDIR_H
#define KAD_CLI_RULESDIR_H

#include <stdbool.h>

/* The bundled rules directory (see rulesdir.c for the search order). Never NULL; the string is
   static or from the environment. */
const char *cli_rules_dir(void);

#endif
