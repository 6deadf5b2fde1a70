/*
 * statepath.h - where kadet keeps its state file when --state is not given.
 */
#ifndef KAD_CLI_STATEPATH_H
#define KAD_CLI_STATEPATH_H

#include <stddef.h>

/*
 * Write the default state path into buf: $XDG_STATE_HOME/kadet/state.db, else
 * $HOME/.local/state/kadet/state.db (XDG Base Directory specification), else
 * ./kadet-state.db. Returns buf, or NULL when it does not fit.
 */
char *cli_default_state_path(char *buf, size_t size);

#endif
