# mk/bench-kql.mk - KQL evaluation micro-benchmark (issue 4).
#
#   make bench-kql   build build/bench/bench_kql (optimised, against libkad.a), run it and
#                    write its table into bench/RESULTS.md, section "KQL evaluation"
#                    (BENCH_KQL_SECONDS=N sets the time per scenario, default 2).
# Never part of `make check`; it exits non-zero when the seed query evaluates at under 5 M/s.

.PHONY: bench-kql

build/bench/bench_kql: bench/bench_kql.c libkad.a $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) -o $@ bench/bench_kql.c libkad.a $(LIBS)

bench-kql: deps build/bench/bench_kql
	@./build/bench/bench_kql --markdown > build/bench/kql.md; rc=$$?; \
	  cat build/bench/kql.md; bash bench/kql_section.sh build/bench/kql.md; exit $$rc
