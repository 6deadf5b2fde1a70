/*
 * kql-batch.c - compile KQL queries read one per line and print `OK <canonical dump>` or
 * `ERR <byte offset> <expected list>`, the format of tools/kql_ref.py, for make kql-diff.
 * A development tool; not part of the library or the CLI.
 */
#include "kql/kql.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    static char line[1 << 16];
    while (fgets(line, sizeof(line), stdin)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n')
            line[--n] = '\0';
        kx_arena a;
        kx_arena_init(&a, 4096, 0);
        kad_err err;
        kad_err_clear(&err);
        struct kql_query *k = kql_compile(&a, line, n, "<query>", &err);
        if (k) {
            kx_buf b;
            kx_buf_init(&b, 1 << 22);
            kql_dump(k, &b);
            printf("OK %s\n", b.ptr);
            kx_buf_fini(&b);
        } else {
            const char *s = strstr(err.msg, "expected "), *e = strstr(err.msg, " but ");
            if (s && e)
                printf("ERR %lld %.*s\n", (long long)err.offset, (int)(e - s - 9), s + 9);
            else
                printf("ERR %lld %s\n", (long long)err.offset, err.msg);
        }
        kx_arena_fini(&a);
    }
    return 0;
}
