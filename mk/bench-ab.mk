# mk/bench-ab.mk - `make bench-ab`: kadet scan of two commits side by side (bench/ab.sh):
# instruction counts (callgrind) and interleaved CPU-time medians, founding rule and the kuery
# rules; writes the "A/B" section of bench/RESULTS.md. Never part of `make check`.
#   make bench-ab AB_OLD=REV AB_NEW=REV     (defaults: the commit before libkad, and HEAD)
# 76fdb85 is main just before the first libkad merge (f2d43f4, issue 12).
# With build/bench/ref_simdjson built (make bench-tools) the simdjson reference runs in the same
# rounds as the founding rule, and jq too with AB_JQ=1: the ratios of issue 19, side by side.
AB_OLD ?= 76fdb85
AB_NEW ?= HEAD
.PHONY: bench-ab
bench-ab: build/kadet-gen
	bash bench/ab.sh $(AB_OLD) $(AB_NEW)
