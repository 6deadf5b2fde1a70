# mk/bench-threads.mk - `make bench-threads`: kadet scan --threads 1 against --threads 2 on a
# generated log (bench/threads.sh; BENCH_THREADS_MB, default 1000; BENCH_THREADS_ROUNDS, 5;
# OLD_BIN=path/to/kadet adds another build side by side) -> section of bench/RESULTS.md, with
# the calling thread's serial part (KADET_PIPE_CPU). Never part of `make check`: nothing here
# asserts a time.

.PHONY: bench-threads

bench-threads: kadet build/kadet-gen
	bash bench/threads.sh
