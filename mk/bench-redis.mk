# mk/bench-redis.mk - several kadet instances sharing one Redis state (issue 15).
#
#   make bench-redis   events/s of 1, 2 and 3 `kadet scan` instances sharing a redis-server
#                      on 127.0.0.1 (and one instance on a state file, for comparison), and
#                      Redis commands per 1,000 events (INFO commandstats); the table goes into
#                      bench/RESULTS.md, section "Redis: instances sharing one state"
#                      (BENCH_REDIS_EVENTS=N events, default 60000; BENCH_REDIS_RUNS=N, default 3);
#                      then the same on a 3-master Redis Cluster with replicas, without and with
#                      ?wait=1, and the replication window (bench/redis_cluster.sh, section
#                      "Redis Cluster"; BENCH_REDIS_PROBES=N probes, default 2000).
# Never part of `make check`: nothing here asserts a time. Needs redis-server (scripts/deps.sh
# --test installs it).

.PHONY: bench-redis

bench-redis: kadet build/kadet-gen
	bash bench/redis.sh
	bash bench/redis_cluster.sh
