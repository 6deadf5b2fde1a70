/*
 * statepath.c - the default state file location (XDG Base Directory specification).
 * It only computes a path; creating directories is the state store's job (st_open).
 */
#include "statepath.h"

#include <stdio.h>
#include <stdlib.h>

char *cli_default_state_path(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n;
    /* the specification says relative paths in XDG_* variables are invalid: ignore them */
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, size, "%s/kadet/state.db", xdg);
    else if (home && home[0] == '/')
        n = snprintf(buf, size, "%s/.local/state/kadet/state.db", home);
    else
        n = snprintf(buf, size, "kadet-state.db");
    return n > 0 && (size_t)n < size ? buf : NULL;
}
