# mk/bench-serve.mk - `make bench-serve`: kadet serve under load (bench/serve.sh, figures in
# bench/RESULTS.md). Never part of `make check`. SECONDS, THREADS and EVENTS set the run
# (defaults 20 s, 4 threads, 500 events per request; the issue's target run is SECONDS=600).
.PHONY: bench-serve
build/bench/bench_serve: bench/bench_serve.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -Wall -Wextra -o $@ $< -lcurl -lpthread
bench-serve: kadet build/bench/bench_serve
	bash bench/serve.sh
