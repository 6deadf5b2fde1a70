# mk/bench-redis-tls.mk - what TLS (rediss://) costs the Redis store.
#
#   make bench-redis-tls   a round trip over plain TCP, over the store's TLS (GnuTLS in the
#                          caller's thread) and over a relay thread behind redisConnectFd (the
#                          alternative design), side by side (build/kadet-rtlsbench); then
#                          `kadet scan` on redis:// and on rediss:// (events/s, CPU seconds);
#                          the table goes into bench/RESULTS.md, section "Redis over TLS".
# Never part of `make check`. Needs redis-server built with TLS (Debian's is) and openssl.

.PHONY: bench-redis-tls

build/kadet-rtlsbench: bench/redis_tls.c libkad.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) -o $@ $< libkad.a $(LIBS)

bench-redis-tls: kadet build/kadet-gen build/kadet-rtlsbench
	bash bench/redis-tls.sh
