# mk/bench-state.mk - `make bench-state`: the state store's issue-19 figures (lookup, observe,
# insert and commit of 1 M, preload, bytes per combination), this tree's kadet-statebench side
# by side with an older build (bench/state.sh; BENCH_STATE_TERMS, BENCH_STATE_RUNS,
# BENCH_STATE_BENCH_RUNS, BENCH_STATE_BASE, BENCH_STATE_CALLGRIND) -> section of bench/RESULTS.md.
# Never part of `make check`: nothing here asserts a time.

.PHONY: bench-state

bench-state: build/kadet-statebench
	bash bench/state.sh
