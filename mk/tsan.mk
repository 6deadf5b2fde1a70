# mk/tsan.mk - `make tsan-threads`: kadet built with ThreadSanitizer in build/tsan/ (its own
# build directory: TSan and ASan do not mix) and a small run of the parallel decode under it
# (tests/cli/test_threads.sh, which compares --threads 1, 2 and 4; TSan makes a report fail the
# run). Not part of `make check` (a third full build); docs/internals/pipeline.md.

TSAN_CFLAGS := $(BASEFLAGS) -O1 -msse4.2 -fsanitize=thread -fno-omit-frame-pointer
TSAN_LIB_OBJ := $(LIB_SRC:%.c=build/tsan/%.o)
TSAN_CLI_OBJ := $(CLI_SRC:%.c=build/tsan/%.o)
TSAN_SERVE_OBJ := $(SERVE_SRC:%.c=build/tsan/%.o) build/tsan/gen/console_assets.o

.PHONY: tsan-threads

build/tsan/%.o: %.c $(HDRS) $(GEN)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(TSAN_CFLAGS) -c $< -o $@
build/tsan/cli/%.o: cli/%.c $(HDRS) $(GEN)
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) $(TSAN_CFLAGS) -c $< -o $@
build/tsan/serve/%.o: serve/%.c $(HDRS) $(SERVE_HDRS) $(GEN)
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) -Iserve $(TSAN_CFLAGS) -c $< -o $@
build/tsan/gen/console_assets.o: build/gen/console_assets.c serve/console_int.h include/kad.h
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) -Iserve $(TSAN_CFLAGS) -c $< -o $@
build/tsan/libkad.a: $(TSAN_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
build/tsan/kadet: $(TSAN_CLI_OBJ) $(TSAN_SERVE_OBJ) build/tsan/libkad.a
	$(CC) $(TSAN_CFLAGS) -o $@ $(TSAN_CLI_OBJ) $(TSAN_SERVE_OBJ) build/tsan/libkad.a $(LIBS)

tsan-threads: build/tsan/kadet build/kadet-gen
	TSAN_OPTIONS=halt_on_error=1:exitcode=66 KADET=$(CURDIR)/build/tsan/kadet \
	  bash tests/cli/test_threads.sh
