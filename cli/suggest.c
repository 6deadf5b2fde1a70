/*
 * suggest.c - "did you mean" for unknown commands, subcommands and options (suggest.h).
 */
#include "suggest.h"

#include <stdio.h>
#include <string.h>

#define WORD_MAX 64

/* Optimal string alignment distance between a and b (both at most WORD_MAX bytes). */
static size_t distance(const char *a, size_t n, const char *b, size_t m)
{
    size_t d[WORD_MAX + 1][WORD_MAX + 1];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

static const char *suggest_n(const char *word, size_t n, const char *const *cands)
{
    if (n == 0 || n > WORD_MAX)
        return NULL;
    size_t limit = n / 3 > 1 ? n / 3 : 1;
    const char *best = NULL, *prefix = NULL;
    size_t best_d = limit + 1, prefixes = 0;
    for (const char *const *p = cands; *p; p++) {
        size_t m = strlen(*p);
        if (m > WORD_MAX)
            continue;
        if (m > n && strncmp(*p, word, n) == 0) {
            prefix = *p;
            prefixes++;
        }
        size_t dd = distance(word, n, *p, m);
        if (dd < best_d) {
            best_d = dd;
            best = *p;
        }
    }
    if (best)
        return best;
    return prefixes == 1 ? prefix : NULL;
}

const char *cli_suggest(const char *word, const char *const *cands)
{
    return suggest_n(word, strlen(word), cands);
}

const char *cli_suggest_option(const char *arg, const struct option *longopts)
{
    while (*arg == '-')
        arg++;
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    const char *names[128];
    size_t k = 0;
    for (const struct option *o = longopts; o->name && k + 1 < sizeof(names) / sizeof(*names); o++)
        names[k++] = o->name;
    names[k] = NULL;
    return suggest_n(arg, n, names);
}

int cmd_unknown_option(const struct cmd *c, const struct option *longopts, const char *arg)
{
    const char *s = cli_suggest_option(arg, longopts);
    if (s)
        return cmd_usage_error(c, "unknown option '%s'; did you mean '--%s'?", arg, s);
    return cmd_usage_error(c, "unknown option '%s'", arg);
}
