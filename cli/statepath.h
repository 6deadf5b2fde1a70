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

/* Whether a --state value names a server (redis:// or rediss://) rather than a file. */
int cli_state_is_url(const char *state);

/*
 * Read a --state-password-file: its first line, without the line end (a file of one line, as
 * `echo secret > FILE` writes it). Returns 0, or -1 with a message on stderr (unreadable,
 * empty, or longer than size - 1 bytes). `who` prefixes the message ("kadet scan").
 */
int cli_read_password_file(const char *who, const char *path, char *buf, size_t size);

#endif
