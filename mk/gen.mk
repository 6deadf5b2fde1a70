# mk/gen.mk - the project's tools (not part of libkad):
#   build/kadet-gen         deterministic generator of raw audit.k8s.io/v1 logs (tools/kadet-gen.c)
#   build/kadet-statebench  state store measurements and test fixtures (tools/kadet-statebench.c)
# `make tools` builds both; `make check` builds them first because tests/cli/ uses them.
.PHONY: tools
tools: build/kadet-gen build/kadet-statebench

build/kadet-gen: tools/kadet-gen.c libkad.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) -o $@ $< libkad.a $(LIBS)

build/kadet-statebench: tools/kadet-statebench.c libkad.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) -o $@ $< libkad.a $(LIBS)

check: tools
