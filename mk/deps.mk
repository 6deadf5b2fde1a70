# mk/deps.mk - which package set each target installs (scripts/deps.sh, issue 21):
#   make, make lib/cli/asan     the build set only (`deps` in the Makefile)
#   make check/demo/valgrind/fuzz/lint
#                               + the test set (scripts/deps.sh --test)
#   make deb/image/check-package
#                               + the packaging tools (scripts/deps.sh --package)
.PHONY: deps-test deps-package
deps-test:
	@bash scripts/deps.sh --test
deps-package:
	@bash scripts/deps.sh --test --package

check valgrind fuzz lint demo: deps-test
