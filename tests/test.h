/*
 * test.h - kadet's test runner interface (tests/run.c).
 *
 * A unit test is a function written `TEST(name) { ... }` in tests/unit/test_<module>.c; the
 * Makefile collects every `TEST(` at the start of a line into build/gen/test_list.h, so adding
 * a test needs no registration. A failed ASSERT prints file:line and ends the test.
 *
 * Data-driven drivers (kql/parse.test, toml-test, cases/...) are TESTs too; they report each
 * case with t_case(), which prints one line per case and counts it as a test of its own.
 * t_skip() ends a test as skipped with a reason (e.g. ../shared/data absent).
 */
#ifndef KAD_TEST_H
#define KAD_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define TEST(name)                                                                                 \
    void test_##name(void);                                                                        \
    void test_##name(void)

void t_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)))
__attribute__((noreturn));
_Noreturn void t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report one data-driven case; `detail` (may be NULL) is printed on failure. Returns ok. */
bool t_case(bool ok, const char *name, const char *detail);
/* Root of the repository's shared data (../shared/data by default, $KAD_SHARED_DATA), or NULL
 * when it is absent. */
const char *t_shared_data(void);
/* Path of the kadet binary under test ($KADET, default ./kadet). */
const char *t_kadet(void);
/* Read a whole file into a kx_malloc'd NUL-terminated buffer; NULL if unreadable. */
char *t_read_file(const char *path, size_t *len);
/* Split text into lines in place (each '\n' becomes NUL); returns a kx_malloc'd array of the
 * line starts and their count in *n. */
char **t_split_lines(char *text, size_t *n);

#define ASSERT(c)                                                                                  \
    do {                                                                                           \
        if (!(c))                                                                                  \
            t_fail(__FILE__, __LINE__, "assertion failed: %s", #c);                                \
    } while (0)
#define ASSERT_TRUE(c) ASSERT(c)
#define ASSERT_FALSE(c) ASSERT(!(c))
#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        if (t_a_ != t_b_)                                                                          \
            t_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, t_a_, t_b_);              \
    } while (0)
#define ASSERT_OK(x) ASSERT_EQ((x), 0)
#define ASSERT_NULL(p) ASSERT((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT((p) != NULL)
#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *t_a_ = (a), *t_b_ = (b);                                                       \
        if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0)                                             \
            t_fail(__FILE__, __LINE__, "%s == %s:\n  got:      \"%s\"\n  expected: \"%s\"", #a,    \
                   #b, t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                            \
    } while (0)
#define ASSERT_MEM_EQ(a, b, n)                                                                     \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0)                                                            \
            t_fail(__FILE__, __LINE__, "memory differs: %s vs %s", #a, #b);                        \
    } while (0)

#endif
