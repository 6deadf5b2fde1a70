/*
 * enospc_shim.c - an LD_PRELOAD library for tests/hostile/faults.sh: a full disk under one
 * file, without root (a tiny tmpfs would need a mount). write(2) to the file named by
 * KADET_SHIM_PATH (the path as /proc/self/fd shows it) succeeds until KADET_SHIM_BYTES bytes
 * have been written to it in this process, then writes what still fits and fails with ENOSPC,
 * as a filesystem that fills up does. Every other write goes through unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long long written;

static int is_target(int fd)
{
    const char *want = getenv("KADET_SHIM_PATH");
    if (!want || fd < 3)
        return 0;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n < 0)
        return 0;
    path[n] = '\0';
    return strcmp(path, want) == 0;
}

ssize_t write(int fd, const void *buf, size_t count)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (is_target(fd)) {
        const char *b = getenv("KADET_SHIM_BYTES");
        long long room = (b ? atoll(b) : 0) - written;
        if (room <= 0) {
            errno = ENOSPC;
            return -1;
        }
        if ((long long)count > room)
            count = (size_t)room;
        ssize_t w = real(fd, buf, count);
        if (w > 0)
            written += w;
        return w;
    }
    return real(fd, buf, count);
}
