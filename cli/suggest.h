/*
 * suggest.h - "did you mean" for unknown commands, subcommands and options (git's help.c
 * idea: the closest known word by edit distance, offered only when it is close).
 */
#ifndef KAD_CLI_SUGGEST_H
#define KAD_CLI_SUGGEST_H

#include "cmd.h"

#include <getopt.h>
#include <stddef.h>

/* The candidate closest to word (optimal string alignment distance: insertions, deletions,
   substitutions, adjacent swaps), when it is at most max(1, strlen(word) / 3) edits away or
   word is a prefix of exactly one candidate; NULL otherwise. cands is NULL-terminated. */
const char *cli_suggest(const char *word, const char *const *cands);
/* The same for an option as typed ("--rule", "--outptu=x", "-rules") among longopts' names
   (terminated by a NULL name); returns the name without dashes. */
const char *cli_suggest_option(const char *arg, const struct option *longopts);
/* cmd_usage_error with "unknown option 'ARG'" and, when there is one, "; did you mean
   '--NAME'?" */
int cmd_unknown_option(const struct cmd *c, const struct option *longopts, const char *arg);

#endif
