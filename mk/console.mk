# mk/console.mk - the web console's test host (tools/console_host.c): serve/route.h's services
# over one engine, plain HTTP on 127.0.0.1, with the console of serve/console*.c mounted.
# tests/cli/test_console_api.sh and test_console_ui.sh run it (the sanitizer build in make
# check). `make console-host` builds the optimised one.
.PHONY: console-host
console-host: build/console-host

build/console-host: tools/console_host.c $(REL_SERVE_OBJ) libkad.a serve/route.h include/kad.h
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) -Iserve $(REL_CFLAGS) -o $@ $< $(REL_SERVE_OBJ) libkad.a $(LIBS)

build/asan/console-host: tools/console_host.c $(ASAN_SERVE_OBJ) build/asan/libkad.a serve/route.h include/kad.h
	@mkdir -p $(@D)
	$(CC) $(CLI_CPPFLAGS) -Iserve $(ASAN_CFLAGS) -o $@ $< $(ASAN_SERVE_OBJ) build/asan/libkad.a $(LIBS)

check: build/asan/console-host
