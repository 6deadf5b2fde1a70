/*
 * fuzz_glob.c - kx_glob_match against a slow reference matcher (recursive, memoised by
 * position pair) on pattern/subject pairs split at the first newline. Input is capped at
 * 256 bytes so the reference stays cheap.
 */
#include "fuzz.h"

#include "base/str.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* memo[p][s]: 0 unknown, 1 false, 2 true */
static bool ref(const char *p, size_t pl, const char *s, size_t sl, size_t pi, size_t si,
                unsigned char memo[257][257])
{
    if (memo[pi][si])
        return memo[pi][si] == 2;
    bool r;
    if (pi == pl)
        r = si == sl;
    else if (p[pi] == '*')
        r = ref(p, pl, s, sl, pi + 1, si, memo) || (si < sl && ref(p, pl, s, sl, pi, si + 1, memo));
    else
        r = si < sl && p[pi] == s[si] && ref(p, pl, s, sl, pi + 1, si + 1, memo);
    memo[pi][si] = r ? 2 : 1;
    return r;
}

FUZZ_TARGET(glob)
{
    if (size > 256)
        size = 256;
    const char *d = (const char *)data;
    const char *nl = memchr(d, '\n', size);
    size_t pl = nl ? (size_t)(nl - d) : size;
    const char *s = nl ? nl + 1 : d + size;
    size_t sl = nl ? size - pl - 1 : 0;
    static unsigned char memo[257][257];
    memset(memo, 0, sizeof(memo));
    bool want = ref(d, pl, s, sl, 0, 0, memo);
    bool got = kx_glob_match((kx_str){d, pl}, (kx_str){s, sl});
    if (want != got)
        abort();
    return 0;
}
