# mk/bench-outputs.mk - what a slow alert receiver costs `kadet scan` and `kadet serve` (issue 14).
#
#   make bench-outputs   bench/outputs.sh: scan (1 GB) and serve (bench_serve load, saturation and
#                        a paced rate) with no sink, a fast and a 2 s-per-request webhook receiver,
#                        interleaved; OLD_BIN=... runs another build side by side; writes the
#                        section "Outputs: a slow receiver" of bench/RESULTS.md (settings: see
#                        bench/outputs.sh).
# Never part of `make check`: nothing here asserts a time.

.PHONY: bench-outputs

bench-outputs: kadet build/kadet-gen build/bench/bench_serve
	bash bench/outputs.sh
