# kadet - one GNU Makefile (no autotools).
#
#   make               ./kadet, libkad.a, libkad.so and kadet.pc (optimised)
#   make install       kadet, kad.h, libkad.a, libkad.so and kadet.pc under $(DESTDIR)$(PREFIX)
#                      (PREFIX=/usr/local; the rest is mk/package.mk's install-extra);
#                      make uninstall removes them
#   make check         unit + data-driven + CLI tests + fuzz corpus replay, under ASan+UBSan
#   make asan          build the sanitizer binaries only (build/asan/)
#   make valgrind      run the test runner (optimised build) under valgrind
#   make fuzz          libFuzzer targets with clang (build/fuzz/)
#   make demo          the main job on a bundled sample
#   make bench         benchmarks (bench/RESULTS.md)
#   make format / format-check / lint / clean
#
# Sources are found by wildcard: src/*/*.c make libkad, cli/*.c make kadet, tests/unit/*.c and
# fuzz/fuzz_*.c join the test runner. Tables of tests, subcommands and fuzz targets are
# generated into build/gen/ from `TEST(name)`, `const struct cmd cmd_name` and
# `FUZZ_TARGET(name)` lines.

SHELL := /bin/bash
CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif
CLANG ?= clang-14

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wno-unused-parameter
ifeq ($(CI),true)
WARN += -Werror
endif
ifneq ($(WERROR),)
WARN += -Werror
endif
CPPFLAGS := -Iinclude -Isrc -Icli -Itests -Ifuzz -Ibuild/gen -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
# The CLI and the examples are libkad's clients: they see include/kad.h, never src/.
CLI_CPPFLAGS := -Iinclude -Icli -Iserve -Ibuild/gen -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
BASEFLAGS := -std=c11 $(WARN) -fvisibility=hidden -g
REL_CFLAGS := $(BASEFLAGS) -O2 -msse4.2
ASAN_CFLAGS := $(BASEFLAGS) -O1 -msse4.2 -fsanitize=address,undefined -fno-sanitize-recover=undefined \
               -fno-omit-frame-pointer
# Test hooks (st_test_* in src/state/state.h, the engine's kill points KADET_TEST_CRASH and
# KADET_NO_PREFILTER, failure injection points) exist only in builds
# that define KAD_TEST_HOOKS: the sanitizer build (build/asan/: the runner and the kadet that
# `make check` runs) and the optimised runner of `make valgrind` (build/relh/). libkad.a,
# ./kadet and the tools are built without them.
TEST_HOOKS := -DKAD_TEST_HOOKS
ASAN_CFLAGS += $(TEST_HOOKS)
LIBS := -lsqlite3 -lhiredis -lz -lmicrohttpd -lcurl -lgnutls -lm -lpthread
LIB_LIBS := -lsqlite3 -lhiredis -lz -lcurl -lgnutls -lm -lpthread
PREFIX ?= /usr/local
DESTDIR ?=
SO_VERSION := 0

LIB_SRC := $(sort $(wildcard src/*.c src/*/*.c))
CLI_SRC := $(sort $(wildcard cli/*.c))
# kadet serve (serve/): part of the kadet program, a client of kad.h like cli/; the console
# (serve/console*.c) joins by being there (serve/srv_http.c refers to it weakly)
SERVE_SRC := $(sort $(wildcard serve/*.c))
TEST_SRC := $(sort tests/run.c $(wildcard tests/unit/*.c))
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
HDRS := $(wildcard include/*.h src/*/*.h src/*/*.inc cli/*.h serve/*.h tests/*.h fuzz/*.h)
SERVE_HDRS := $(wildcard serve/*.h)
# the console's pages (serve/ui/) are embedded as C arrays (scripts/embed-assets.py)
SERVE_UI := $(sort $(wildcard serve/ui/*.html serve/ui/*.js serve/ui/*.css serve/ui/*.svg))
REL_SERVE_OBJ := $(SERVE_SRC:%.c=build/rel/%.o) build/rel/gen/console_assets.o
ASAN_SERVE_OBJ := $(SERVE_SRC:%.c=build/asan/%.o) build/asan/gen/console_assets.o

REL_LIB_OBJ := $(LIB_SRC:%.c=build/rel/%.o)
REL_CLI_OBJ := $(CLI_SRC:%.c=build/rel/%.o)
REL_TEST_OBJ := $(TEST_SRC:%.c=build/relh/%.o) $(FUZZ_SRC:%.c=build/relh/%.o)
RELH_LIB_OBJ := $(LIB_SRC:%.c=build/relh/%.o)
ASAN_LIB_OBJ := $(LIB_SRC:%.c=build/asan/%.o)
ASAN_CLI_OBJ := $(CLI_SRC:%.c=build/asan/%.o)
ASAN_TEST_OBJ := $(TEST_SRC:%.c=build/asan/%.o) $(FUZZ_SRC:%.c=build/asan/%.o)
GEN := build/gen/test_list.h build/gen/cmd_list.h build/gen/fuzz_list.h \
       build/gen/fields_ecs.h build/gen/fields_k8s.h

.PHONY: all lib cli check asan valgrind fuzz demo bench bench-json format format-check lint \
        clean deps check-src install uninstall examples
.DEFAULT_GOAL := all

all: deps kadet libkad.a libkad.so kadet.pc
lib: libkad.a
cli: kadet

deps:
	@bash scripts/deps.sh

# ---- generated tables -------------------------------------------------------------------------
build/gen/test_list.h: $(TEST_SRC) Makefile
	@mkdir -p $(@D)
	@{ for f in $(filter tests/unit/%,$(TEST_SRC)); do \
	     sed -n 's/^TEST(\([A-Za-z0-9_]*\)).*/X(\1)/p' $$f; done; } > $@.tmp && mv $@.tmp $@
build/gen/cmd_list.h: $(CLI_SRC) Makefile
	@mkdir -p $(@D)
	@{ for f in $(CLI_SRC); do \
	     sed -n 's/^const struct cmd cmd_\([A-Za-z0-9_]*\) =.*/X(\1)/p' $$f; done; } > $@.tmp && mv $@.tmp $@
build/gen/fuzz_list.h: $(FUZZ_SRC) Makefile
	@mkdir -p $(@D)
	@{ for f in $(FUZZ_SRC); do \
	     sed -n 's/^FUZZ_TARGET(\([A-Za-z0-9_]*\)).*/X(\1)/p' $$f; done; } > $@.tmp && mv $@.tmp $@

# rule lint's field lists (data/fields/*.txt, `NAME TYPE` lines) as F("NAME", "TYPE") lines
build/gen/fields_ecs.h: data/fields/ecs.txt Makefile
	@mkdir -p $(@D)
	@sed -n 's/^\([^# ][^ ]*\) \([a-z_]*\)$$/F("\1", "\2")/p' $< > $@.tmp && mv $@.tmp $@
build/gen/fields_k8s.h: data/fields/kubernetes-audit.txt Makefile
	@mkdir -p $(@D)
	@sed -n 's/^\([^# ][^ ]*\) \([a-z_]*\)$$/F("\1", "\2")/p' $< > $@.tmp && mv $@.tmp $@

# ---- optimised build --------------------------------------------------------------------------
build/rel/%.o: %.c $(HDRS) $(GEN)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) -c $< -o $@
build/rel/cli/%.o: cli/%.c $(HDRS) $(GEN)
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) $(REL_CFLAGS) -c $< -o $@
build/rel/serve/%.o: serve/%.c $(HDRS) $(SERVE_HDRS) $(GEN)
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) -Iserve $(REL_CFLAGS) -c $< -o $@
build/gen/console_assets.c: $(SERVE_UI) scripts/embed-assets.py
	@mkdir -p $(@D)
	python3 scripts/embed-assets.py $@ $(SERVE_UI)
build/rel/gen/console_assets.o: build/gen/console_assets.c serve/console_int.h include/kad.h
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) -Iserve $(REL_CFLAGS) -c $< -o $@
# the shared library: position-independent objects, only kad_* exported (mk/libkad.map)
build/pic/%.o: %.c $(HDRS) $(GEN)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) -fPIC -c $< -o $@
libkad.so: $(LIB_SRC:%.c=build/pic/%.o) mk/libkad.map
	$(CC) -shared -Wl,-soname,libkad.so.$(SO_VERSION) -Wl,--version-script=mk/libkad.map \
	  -o $@ $(LIB_SRC:%.c=build/pic/%.o) $(LIB_LIBS)
KAD_VERSION_STR = $(shell sed -n 's/^\#define KAD_VERSION "\(.*\)"/\1/p' include/kad.h)
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(KAD_VERSION_STR)|' mk/kadet.pc.in
kadet.pc: mk/kadet.pc.in include/kad.h
	$(PC_SED) > $@
libkad.a: $(REL_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
kadet: $(REL_CLI_OBJ) $(REL_SERVE_OBJ) libkad.a
	$(CC) $(REL_CFLAGS) -o $@ $(REL_CLI_OBJ) $(REL_SERVE_OBJ) libkad.a $(LIBS)
# the runner of `make valgrind`: optimised, with the test hooks (its own objects and library)
build/relh/%.o: %.c $(HDRS) $(GEN)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) $(TEST_HOOKS) -c $< -o $@
build/relh/libkad.a: $(RELH_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
build/rel/run: $(REL_TEST_OBJ) build/relh/libkad.a
	$(CC) $(REL_CFLAGS) -o $@ $(REL_TEST_OBJ) build/relh/libkad.a $(LIBS)

# ---- sanitizer build --------------------------------------------------------------------------
build/asan/%.o: %.c $(HDRS) $(GEN)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ASAN_CFLAGS) -c $< -o $@
build/asan/cli/%.o: cli/%.c $(HDRS) $(GEN)
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) $(ASAN_CFLAGS) -c $< -o $@
build/asan/serve/%.o: serve/%.c $(HDRS) $(SERVE_HDRS) $(GEN)
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) -Iserve $(ASAN_CFLAGS) -c $< -o $@
build/asan/gen/console_assets.o: build/gen/console_assets.c serve/console_int.h include/kad.h
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) -Iserve $(ASAN_CFLAGS) -c $< -o $@
# examples/*.c: programs on kad.h alone, built and run by make check (tests/cli/test_examples.sh)
EXAMPLES := $(patsubst examples/%.c,build/asan/examples/%,$(wildcard examples/*.c))
build/asan/examples/%: examples/%.c include/kad.h build/asan/libkad.a
	@mkdir -p $(@D)
	$(CC) -Iinclude $(ASAN_CFLAGS) -o $@ $< build/asan/libkad.a $(LIB_LIBS)
examples: $(EXAMPLES)
build/asan/libkad.a: $(ASAN_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
build/asan/kadet: $(ASAN_CLI_OBJ) $(ASAN_SERVE_OBJ) build/asan/libkad.a
	$(CC) $(ASAN_CFLAGS) -o $@ $(ASAN_CLI_OBJ) $(ASAN_SERVE_OBJ) build/asan/libkad.a $(LIBS)
build/asan/run: $(ASAN_TEST_OBJ) build/asan/libkad.a
	$(CC) $(ASAN_CFLAGS) -o $@ $(ASAN_TEST_OBJ) build/asan/libkad.a $(LIBS)

asan: deps build/asan/kadet build/asan/run

check-src:
	@bash scripts/check-src.sh

# The runner runs unit tests, data-driven drivers, tests/cli/*.sh (against $KADET) and the
# fuzz corpus replay, and ends with `N passed, N failed`.
check: deps check-src build/asan/kadet build/asan/run kadet libkad.so kadet.pc examples
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  KADET=$(CURDIR)/build/asan/kadet ./build/asan/run

valgrind: deps kadet build/rel/run
	KADET=$(CURDIR)/kadet valgrind --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
	  --quiet ./build/rel/run --no-cli

# ---- fuzzing (clang + libFuzzer) --------------------------------------------------------------
FUZZ_FLAGS := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS)
FUZZ_BINS := $(patsubst fuzz/fuzz_%.c,build/fuzz/%,$(FUZZ_SRC))
build/fuzz/%: fuzz/fuzz_%.c fuzz/libfuzzer_main.c $(LIB_SRC) $(HDRS) $(GEN)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_FLAGS) -DFUZZ_ENTRY=fuzz_$* -o $@ $< fuzz/libfuzzer_main.c $(LIB_SRC) $(LIBS)
# fuzz_serve_body compiles serve/srv_body.c in (the webhook's framing is not part of libkad)
build/asan/fuzz/fuzz_serve_body.o build/relh/fuzz/fuzz_serve_body.o build/fuzz/serve_body: serve/srv_body.c
fuzz: deps $(FUZZ_BINS)
	@echo "fuzzers in build/fuzz/; run e.g. mkdir -p build/corpus/T && build/fuzz/T build/corpus/T fuzz/corpus/T"
	@echo "(new inputs go to the first directory; commit only minimised crashers into fuzz/corpus/T)"

# ---- formatting and lint ----------------------------------------------------------------------
FMT_FILES = $(LIB_SRC) $(CLI_SRC) $(SERVE_SRC) $(TEST_SRC) $(FUZZ_SRC) $(wildcard include/*.h src/*/*.h cli/*.h serve/*.h tests/*.h tools/*.c bench/*.c)
format:
	clang-format -i $(FMT_FILES)
format-check:
	clang-format --dry-run -Werror $(FMT_FILES)
lint: deps $(GEN)
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
	  --suppress=missingIncludeSystem --inline-suppr -Iinclude -Isrc -Iserve src cli serve
	clang-tidy --quiet $(LIB_SRC) $(CLI_SRC) $(SERVE_SRC) -- $(CPPFLAGS) -Iserve -std=c11

# ---- demo and benchmarks (filled in by the engine and bench work) -----------------------------
-include mk/*.mk

# ---- install ----------------------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 kadet $(DESTDIR)$(PREFIX)/bin/kadet
	install -m 644 include/kad.h $(DESTDIR)$(PREFIX)/include/kad.h
	install -m 644 libkad.a $(DESTDIR)$(PREFIX)/lib/libkad.a
	install -m 755 libkad.so $(DESTDIR)$(PREFIX)/lib/libkad.so.$(SO_VERSION)
	ln -sf libkad.so.$(SO_VERSION) $(DESTDIR)$(PREFIX)/lib/libkad.so
	$(PC_SED) > $(DESTDIR)$(PREFIX)/lib/pkgconfig/kadet.pc
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/kadet $(DESTDIR)$(PREFIX)/include/kad.h \
	  $(DESTDIR)$(PREFIX)/lib/libkad.a $(DESTDIR)$(PREFIX)/lib/libkad.so \
	  $(DESTDIR)$(PREFIX)/lib/libkad.so.$(SO_VERSION) $(DESTDIR)$(PREFIX)/lib/pkgconfig/kadet.pc

clean:
	rm -rf build kadet libkad.a libkad.so kadet.pc
