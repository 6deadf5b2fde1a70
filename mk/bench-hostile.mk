# mk/bench-hostile.mk - `make bench-hostile`: issue 22's quadratic cases at ten times the
# reported sizes (or the largest a limit admits, with the 10x input shown refused), CPU time
# and peak RSS per case; writes the section "Hostile sizes (issue 22)" of bench/RESULTS.md.
# HOSTILE_EVENTS=N sets the events scanned per query case (default 200,000). Never part of
# `make check`: nothing here asserts a time.
.PHONY: bench-hostile
bench-hostile: kadet
	bash bench/hostile.sh
