/*
 * fuzz.h - fuzz target convention. A target file fuzz/fuzz_<name>.c defines
 *
 *     FUZZ_TARGET(name) { ... use data[0..size) ...; return 0; }
 *
 * which becomes `int fuzz_<name>(const uint8_t *data, size_t size)`. The test runner replays
 * fuzz/corpus/<name>/ through it in `make check`; `make fuzz` links it with libFuzzer through
 * fuzz/libfuzzer_main.c. Targets must not keep global state between calls.
 */
#ifndef KAD_FUZZ_H
#define KAD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_TARGET(name)                                                                         \
    int fuzz_##name(const uint8_t *data, size_t size);                                            \
    int fuzz_##name(const uint8_t *data, size_t size)

#endif
