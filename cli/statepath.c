/*
 * statepath.c - the default state file location (XDG Base Directory specification), and
 * the --state helpers shared by scan and state (server URLs, password files). It only
 * computes a path; creating directories is the state store's job (st_open).
 */
#include "statepath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int cli_state_is_url(const char *state)
{
    return state && (strncmp(state, "redis://", 8) == 0 || strncmp(state, "rediss://", 9) == 0);
}

int cli_read_password_file(const char *who, const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: --state-password-file %s: %s\n", who, path, strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, size - 1, f);
    int more = fgetc(f) != EOF, bad = ferror(f);
    fclose(f);
    buf[n] = '\0';
    size_t len = strcspn(buf, "\r\n");
    if (bad || (more && len == n) || len == 0) {
        fprintf(stderr, "%s: --state-password-file %s: %s\n", who, path,
                bad        ? "read error"
                : len == 0 ? "empty first line"
                           : "password too long");
        return -1;
    }
    buf[len] = '\0';
    return 0;
}
