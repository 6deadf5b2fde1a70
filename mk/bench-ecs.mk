# mk/bench-ecs.mk - `make bench-ecs`: the ECS mapping of one event with 3.49 M sourceIPs (ten
# times the size of issue 22's report), optimised build. Never part of `make check`.
#
#   make bench-ecs                  3,490,000 addresses
#   make bench-ecs BENCH_ECS_N=N    another size

BENCH_ECS_N ?= 3490000

build/bench/bench_ecs: bench/bench_ecs.c libkad.a $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) -o $@ bench/bench_ecs.c libkad.a $(LIBS)

bench-ecs: deps build/bench/bench_ecs
	./build/bench/bench_ecs $(BENCH_ECS_N)
.PHONY: bench-ecs
