/*
 * fuzz_redis_url.c - the Redis store's URL parser (src/state/state_redis.c) on arbitrary bytes,
 * without connecting anywhere.
 *
 * The input becomes "redis://" + the bytes up to the first NUL. Checks: the parser returns 0
 * or KAD_EINVAL with a message, never anything else; the shown (redacted) URL is the URL with
 * exactly the password (between the first ':' and the last '@' before any '/' or '?') replaced
 * by "***", and the URL itself otherwise.
 */
#include "fuzz.h"

#include "base/alloc.h"
#include "base/err.h"
#include "state/state_int.h"
#include <stdlib.h>
#include <string.h>

FUZZ_TARGET(redis_url)
{
    size_t n = strnlen((const char *)data, size);
    char *url = kx_malloc(n + 9);
    memcpy(url, "redis://", 8);
    memcpy(url + 8, data, n);
    url[n + 8] = '\0';
    kad_err e;
    kad_err_clear(&e);
    char *shown = NULL;
    int rc = st_redis_url_check(url, &shown, &e);
    if (rc != 0 && (rc != KAD_EINVAL || !e.msg[0]))
        abort();
    if (!shown)
        abort();
    /* with "user:password@" the password is replaced: exactly prefix + "***" + "@..." */
    const char *auth = url + 8, *end = auth + strcspn(auth, "/?");
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
        size_t head = (size_t)(colon + 1 - url);
        if (strncmp(shown, url, head) != 0 || strncmp(shown + head, "***", 3) != 0 ||
            strcmp(shown + head + 3, at) != 0)
            abort();
    } else if (strcmp(shown, url) != 0) {
        abort();
    }
    kx_free(shown);
    kx_free(url);
    return 0;
}
