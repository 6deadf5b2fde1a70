/*
 * cmd_version.c - `kadet version`: the version of kadet, the git commit it was built from and
 * the versions of the libraries it runs with.
 *
 * SQLite, zlib and libmicrohttpd are linked and asked directly. GnuTLS (loaded by
 * libmicrohttpd) and curl are looked up among the loaded objects with dlsym(RTLD_DEFAULT), so
 * this file adds no link dependency: a library the binary does not load is reported as such.
 * hiredis has no run-time version call: its header version is printed when it is loaded.
 * KADET_GIT_COMMIT comes from build/gen/git_commit.h (mk/package.mk), "unknown" without git.
 */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include "cmd.h"
#include "kad.h"

#include <dlfcn.h>
#include <microhttpd.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#if defined(__has_include)
#if __has_include("git_commit.h")
#include "git_commit.h"
#endif
#if __has_include(<hiredis/hiredis.h>)
#include <hiredis/hiredis.h>
#endif
#endif
#ifndef KADET_GIT_COMMIT
#define KADET_GIT_COMMIT "unknown"
#endif

/* A function of a loaded object by name, NULL when none is loaded (POSIX's dlsym idiom). */
static void *loaded(const char *sym) { return dlsym(RTLD_DEFAULT, sym); }

static const char *gnutls_version(void)
{
    const char *(*fn)(const char *);
    void *p = loaded("gnutls_check_version");
    if (!p)
        return NULL;
    memcpy(&fn, &p, sizeof fn);
    return fn(NULL);
}

static const char *curl_version_string(void)
{
    /* curl_version() returns "libcurl/7.88.1 GnuTLS/... zlib/..."; keep the first word's
       version */
    static char buf[64];
    char *(*fn)(void);
    void *p = loaded("curl_version");
    if (!p)
        return NULL;
    memcpy(&fn, &p, sizeof fn);
    const char *s = fn();
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash)
        return s;
    size_t n = strcspn(slash + 1, " ");
    snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf ? n : sizeof buf - 1), slash + 1);
    return buf;
}

static const char *hiredis_version(void)
{
#ifdef HIREDIS_MAJOR
    static char buf[32];
    if (!loaded("redisConnect"))
        return NULL;
    snprintf(buf, sizeof buf, "%d.%d.%d", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
    return buf;
#else
    return NULL;
#endif
}

static void line(const char *name, const char *version)
{
    printf("%-14s %s\n", name, version ? version : "(not loaded)");
}

static int run(int argc, char **argv)
{
    if (argc > 1) {
        extern const struct cmd cmd_version;
        return cmd_usage_error(&cmd_version, "unexpected argument '%s'", argv[1]);
    }
    printf("kadet %s\n", kad_version());
    line("commit", KADET_GIT_COMMIT);
    line("sqlite", sqlite3_libversion());
    line("zlib", zlibVersion());
    line("libmicrohttpd", MHD_get_version());
    line("gnutls", gnutls_version());
    line("curl", curl_version_string());
    line("hiredis", hiredis_version());
    return EXIT_OK;
}

const struct cmd cmd_version = {
    .name = "version",
    .summary = "print the version of kadet and its libraries",
    .usage = "usage: kadet version\n\nPrint kadet's version, the git commit it was built from and "
             "the versions of the\nlibraries it runs with (SQLite, zlib, libmicrohttpd, GnuTLS, "
             "curl, hiredis); a\nlibrary this binary does not load is shown as (not loaded).\n",
    .run = run,
};
