# mk/bench-serve.mk - `make bench-serve`: kadet serve under load (bench/serve.sh, figures in
# bench/RESULTS.md). Never part of `make check`. Settings: see bench/serve.sh (SECONDS_RUN or
# DURATION, THREADS, EVENTS, MODES, RATE, KADET_BIN, OLD_BIN, SERVE_FLAGS); DURATION=600 is the
# issue's 10-minute RSS run.
.PHONY: bench-serve
build/bench/bench_serve: bench/bench_serve.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -Wall -Wextra -o $@ $< -lcurl -lpthread
bench-serve: kadet build/bench/bench_serve
	bash bench/serve.sh
