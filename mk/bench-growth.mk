# mk/bench-growth.mk - `make bench-growth`: CPU time and peak RSS of kadet scan (founding rule,
# 29 kuery rules) and kadet preview (founding rule, streaming and --in-memory) on generated logs
# of 0.25, 1 and 4 GiB (bench/growth.sh); writes bench/growth.svg and the "growth" section of
# bench/RESULTS.md. GROWTH_SIZES, GROWTH_RUNS, GROWTH_INMEM_MAX: see bench/growth.sh. Never part
# of `make check`: nothing here asserts a time.
.PHONY: bench-growth
bench-growth: kadet build/kadet-gen
	bash bench/growth.sh
