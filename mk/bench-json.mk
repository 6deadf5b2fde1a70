# mk/bench-json.mk - `make bench-json`: throughput of kadet's JSON reader (issue 3) on a
# generated audit log, against `cat` on the same file; figures go to bench/RESULTS.md (section
# "JSON extractor", between marker comments). Never part of `make check`.
#
#   make bench-json                    1 GB (BENCH_JSON_MB=1024), 3 passes per mode
#   make bench-json BENCH_JSON_MB=100  smaller, for development
#
# The input is bench/data/json-audit-<MB>m.jsonl from the project's generator build/kadet-gen
# (tools/kadet-gen.c; deterministic, seed 42).

BENCH_JSON_MB ?= 1024
BENCH_JSON_REPEAT ?= 3
BENCH_JSON_FILE := bench/data/json-audit-$(BENCH_JSON_MB)m.jsonl
BENCH_JSON_CFLAGS := $(REL_CFLAGS) $(CPPFLAGS)

build/bench/bench_json: bench/bench_json.c libkad.a
	@mkdir -p $(@D)
	$(CC) $(BENCH_JSON_CFLAGS) -o $@ $< libkad.a $(LIBS)

$(BENCH_JSON_FILE): build/kadet-gen
	@mkdir -p $(@D)
	build/kadet-gen --bytes $$(( $(BENCH_JSON_MB) * 1048576 )) --seed 42 --out $@.tmp && mv $@.tmp $@

bench-json: deps build/bench/bench_json $(BENCH_JSON_FILE)
	bash bench/bench-json.sh $(BENCH_JSON_FILE) $(BENCH_JSON_REPEAT)
