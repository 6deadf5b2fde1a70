# mk/gen.mk - the project's tools (not part of libkad):
#   build/kadet-statebench  state store measurements and test fixtures (tools/kadet-statebench.c)
# `make tools` builds them; `make check` builds them first because tests/cli/ uses them.
.PHONY: tools
tools: build/kadet-statebench

build/kadet-statebench: tools/kadet-statebench.c libkad.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) -o $@ $< libkad.a $(LIBS)

check: tools
