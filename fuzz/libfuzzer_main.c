/*
 * libfuzzer_main.c - glue between libFuzzer and one FUZZ_TARGET, chosen at compile time with
 * -DFUZZ_ENTRY=fuzz_<name> (see the `fuzz` target of the Makefile).
 */
#include <stddef.h>
#include <stdint.h>

int FUZZ_ENTRY(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return FUZZ_ENTRY(data, size); }
