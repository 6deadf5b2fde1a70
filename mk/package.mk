# mk/package.mk - packaging (issue 21). Included by the Makefile's `-include mk/*.mk`.

# ---- the build's git commit, for `kadet version` ------------------------------------------------
# build/gen/git_commit.h is rewritten only when the commit (or its dirty mark) changes, so only
# cmd_version.o is rebuilt.
.PHONY: FORCE
build/gen/git_commit.h: FORCE
	@mkdir -p $(@D)
	@c=$$(git describe --always --dirty --abbrev=12 --exclude='*' 2>/dev/null || echo unknown); \
	  printf '#define KADET_GIT_COMMIT "%s"\n' "$$c" > $@.tmp; \
	  if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
build/rel/cli/cmd_version.o build/asan/cli/cmd_version.o: build/gen/git_commit.h

# ---- installation layout ------------------------------------------------------------------------
#   make install install-extra PREFIX=/usr/local DESTDIR=...   (`install` is libkad's: binary,
#   library, header, pkg-config; install-extra is everything else, below)
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
KADET_SHARE = $(DATADIR)/kadet

# ---- man pages and completions (scripts/mkman.py, from `kadet help CMD` and docs/) --------------
# The pages' date is the last commit's (reproducible), else today's.
MAN_DATE := $(shell git log -1 --format=%cs 2>/dev/null || date -u +%F)
MAN_CMDS = $(patsubst cli/cmd_%.c,%,$(filter cli/cmd_%.c,$(CLI_SRC)))
MAN_PAGES = build/man/man1/kadet.1 $(MAN_CMDS:%=build/man/man1/kadet-%.1) \
            build/man/man5/kadet.toml.5 build/man/man7/kadet-rules.7
COMPLETIONS = build/man/completion/kadet.bash build/man/completion/_kadet

.PHONY: man install-extra uninstall-extra check-package deb image

man: build/man/.stamp
build/man/.stamp: kadet scripts/mkman.py docs/rules.md docs/config.md
	python3 scripts/mkman.py --kadet ./kadet --out build/man --date $(MAN_DATE)
	@touch $@
$(MAN_PAGES) $(COMPLETIONS): build/man/.stamp

RULE_FILES = $(sort $(wildcard rules/*.toml))

install-extra: man
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 644 $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 build/man/man5/kadet.toml.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 build/man/man7/kadet-rules.7 $(DESTDIR)$(MANDIR)/man7/
	install -D -m 644 build/man/completion/kadet.bash $(DESTDIR)$(BASHCOMPDIR)/kadet
	install -D -m 644 build/man/completion/_kadet $(DESTDIR)$(ZSHCOMPDIR)/_kadet
	install -d $(DESTDIR)$(KADET_SHARE)/rules $(DESTDIR)$(KADET_SHARE)/samples
	install -m 644 $(RULE_FILES) $(DESTDIR)$(KADET_SHARE)/rules/
	install -m 644 deploy/samples/audit-sample.jsonl.gz $(DESTDIR)$(KADET_SHARE)/samples/
	install -m 644 deploy/kadet.toml.example $(DESTDIR)$(KADET_SHARE)/kadet.toml.example
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  deploy/systemd/kadet.service > $(DESTDIR)$(SYSTEMDUNITDIR)/kadet.service
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/kadet.service

uninstall-extra:
	rm -f $(patsubst build/man/%,$(DESTDIR)$(MANDIR)/%,$(MAN_PAGES))
	rm -f $(DESTDIR)$(BASHCOMPDIR)/kadet $(DESTDIR)$(ZSHCOMPDIR)/_kadet
	rm -f $(RULE_FILES:rules/%=$(DESTDIR)$(KADET_SHARE)/rules/%)
	rm -f $(DESTDIR)$(KADET_SHARE)/samples/audit-sample.jsonl.gz $(DESTDIR)$(KADET_SHARE)/kadet.toml.example
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/kadet.service
	-rmdir $(DESTDIR)$(KADET_SHARE)/rules $(DESTDIR)$(KADET_SHARE)/samples $(DESTDIR)$(KADET_SHARE) 2>/dev/null

# tests/cli/test_package.sh (man pages, completion, install/uninstall) runs in `make check`;
# it needs the man pages, built from the optimised binary.
check: man

# ---- Debian package, image, Helm chart (docs/install.md) ---------------------------------------
DEB_OUT := build/deb
deb: deps-package kadet man
	bash scripts/mkdeb.sh $(DEB_OUT)
	lintian --fail-on error,warning $(DEB_OUT)/kadet_*.deb

# The .deb in a fresh Debian 12 root (debootstrap once into build/pkg/, minutes the first time),
# the image and the chart. Not part of `make check`: the first run takes minutes and needs root
# and the Debian mirror.
IMAGE_OUT := build/image
image: deb
	bash scripts/mkimage.sh $$(ls -t $(DEB_OUT)/kadet_*.deb | head -1) $(IMAGE_OUT)

check-package: deb image
	bash scripts/test-package.sh $$(ls -t $(DEB_OUT)/kadet_*.deb | head -1)
	bash scripts/test-image.sh $(IMAGE_OUT)
	bash scripts/check-helm.sh deploy/helm/kadet

# `make install` / `make uninstall` (the Makefile's: binary, library, header, pkg-config) take
# everything else with them: man pages, completion, bundled rules, unit, example config.
install: install-extra
uninstall: uninstall-extra
