# mk/bench-outputs.mk - what a slow alert receiver costs `kadet scan` (issue 14).
#
#   make bench-outputs   bench/outputs.sh: scan and serve with no sink, a fast and a 2 s-per-request
#                        webhook receiver, round-robin; writes the section "Outputs: a slow
#                        receiver" of bench/RESULTS.md (OUTPUTS_BENCH_MB, OUTPUTS_BENCH_REPS).
# Never part of `make check`: nothing here asserts a time.

.PHONY: bench-outputs

bench-outputs: kadet build/kadet-gen
	bash bench/outputs.sh
