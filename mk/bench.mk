# mk/bench.mk - benchmarks (issue 8). Never part of `make check`: nothing here asserts a time.
#
#   make bench          1 GB side by side (cat, simdjson reference, jq, kadet scan/hunt), state
#                       scale at 1 M combinations, growth 0.25/1/4 GB -> bench/RESULTS.md + .svg
#   make bench-quick    the same at small sizes, for development (same report files)
#   make bench-profile  perf (or callgrind) profile of `kadet scan` with the founding rule
#
# Benchmark-only packages (libsimdjson-dev, g++, gnuplot-nox, hyperfine, time) are installed by
# `scripts/deps.sh --bench`. Generated data lives in bench/data/, outputs in bench/out/ (both
# ignored by git). The reference extractor is C++ and built only here.

BENCH_BIN := build/bench
BENCH_CXXFLAGS := -std=c++17 -O2 -march=native -Wall -Wextra -g
# The generator (build/kadet-gen) and the state measuring tool (build/kadet-statebench) are the
# project's tools, built by mk/gen.mk; the harness reports what is missing.
BENCH_TOOLS := $(BENCH_BIN)/ref_simdjson
ifneq ($(wildcard tools/kadet-gen.c),)
BENCH_TOOLS += build/kadet-gen
endif
ifneq ($(wildcard tools/kadet-statebench.c),)
BENCH_TOOLS += build/kadet-statebench
endif

.PHONY: bench bench-quick bench-profile bench-deps bench-tools

bench-deps:
	@bash scripts/deps.sh --bench

$(BENCH_BIN)/ref_simdjson: bench/ref/ref_simdjson.cpp | bench-deps
	@mkdir -p $(@D)
	g++ $(BENCH_CXXFLAGS) -o $@ $< -lsimdjson

bench-tools: deps bench-deps kadet libkad.a $(BENCH_TOOLS)

# make bench-kql (mk/bench-kql.mk, issue 4) refreshes its own section of RESULTS.md; its exit
# status (non-zero under 5 M evaluations/s) does not stop the run.
bench: bench-tools
	bash bench/run.sh full
	-@$(MAKE) --no-print-directory bench-kql

bench-quick: bench-tools
	bash bench/run.sh quick

bench-profile: bench-tools
	bash bench/profile.sh

# make bench-langs (bench/langs.sh): kadet scan with the kuery, EQL, ES|QL and all Kubernetes
# rules on one generated log (BENCH_LANGS_SIZE, default 1GB) -> section of bench/RESULTS.md.
.PHONY: bench-langs
bench-langs: deps kadet build/kadet-gen
	bash bench/langs.sh
