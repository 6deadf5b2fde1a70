/*
 * rulesdir.c - where the bundled rules are when no PATH is given (docs/rules.md).
 *
 * In order: $KADET_RULES; a `rules/` directory beside the kadet binary or two levels up (the
 * source tree, for ./kadet and build/asan/kadet); `../share/kadet/rules` beside the binary (an
 * installed tree); the compiled-in KADET_RULES_DIR.
 */
#include "rulesdir.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KADET_RULES_DIR
#define KADET_RULES_DIR "/usr/local/share/kadet/rules"
#endif

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *cli_rules_dir(void)
{
    static char buf[PATH_MAX + 64];
    const char *env = getenv("KADET_RULES");
    if (env && *env)
        return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            static const char *const rel[] = {"rules", "../../rules", "../share/kadet/rules"};
            for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
                snprintf(buf, sizeof buf, "%s/%s", exe, rel[i]);
                if (is_dir(buf))
                    return buf;
            }
        }
    }
    return KADET_RULES_DIR;
}

bool cli_rules_path_ok(const char *cmd, const char *option, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 &&
        (S_ISDIR(sb.st_mode) ? access(path, R_OK | X_OK) == 0 : access(path, R_OK) == 0))
        return true;
    int en = errno ? errno : EACCES;
    fprintf(stderr, "kadet %s: %s %s: %s\nTry 'kadet help %s'.\n", cmd, option, path, strerror(en),
            cmd);
    return false;
}
