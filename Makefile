# devbox-quadlet: build, test and install. `make install` is the one install
# path: the Debian/Ubuntu steps in the README, the VM test bed
# (test/vm/e2e.sh, with DESTDIR) and the Nix package (nix/package.nix runs
# `make install-data PREFIX=$out`) all put the same files from contrib/ in
# place.
#
#   make build                   the three static binaries, in build/bin
#   make test                    every check, the VM suite included (.ci/run)
#   make demo                    boot the test VM and drive a real container
#   make bench                   the benchmarks of docs/benchmarks.md
#   make install [PREFIX=/usr/local] [DESTDIR=]
#   make clean

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SYSTEMDSYSTEMUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSTEMDUSERUNITDIR ?= $(PREFIX)/lib/systemd/user
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DBUSSERVICEDIR ?= $(PREFIX)/share/dbus-1/system-services
# dbus-daemon and dbus-broker read bus policy from /usr/share/dbus-1/system.d
# and /etc/dbus-1/system.d only: under /usr/local the policy goes to /etc.
ifeq ($(PREFIX),/usr/local)
DBUSPOLICYDIR ?= /etc/dbus-1/system.d
else
DBUSPOLICYDIR ?= $(PREFIX)/share/dbus-1/system.d
endif
DOCDIR ?= $(PREFIX)/share/doc/devbox-quadlet
MANDIR ?= $(PREFIX)/share/man
# Where bash-completion (on demand, by command name), zsh ($fpath) and fish
# look for completions under a prefix; /usr/local/share is on all three's
# default search paths.
BASHCOMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPLETIONDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPLETIONDIR ?= $(PREFIX)/share/fish/vendor_completions.d

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
GO ?= go
GOFLAGS_BUILD = -trimpath -ldflags "-s -w -X github.com/devbox-quadlet/devbox-quadlet/internal/cli.Version=$(VERSION) -X github.com/devbox-quadlet/devbox-quadlet/internal/agentd.Version=$(VERSION)"
BIN = build/bin

INSTALL ?= install

.PHONY: all build test demo bench install install-bin install-data clean

all: build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/ ./cmd/devbox-quadlet ./cmd/devbox-quadlet-agent ./cmd/devbox-init

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

bench:
	bash scripts/bench.sh

install: build install-bin install-data

# devbox-init is not installed: it is the container's PID 1 and goes into
# the image (containers/, nix/image.nix), not onto the host.
install-bin:
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(BIN)/devbox-quadlet $(BIN)/devbox-quadlet-agent $(DESTDIR)$(BINDIR)/

# install-data puts every non-binary file in place, with @BINDIR@ in the
# units replaced by the installed binaries' directory: the units never name
# the path a CLI happened to run from. The timers.target.wants link enables
# the reaper for every user, as `systemctl --global enable` would; an admin
# opts a user out with `systemctl --user mask`, everyone with a mask in
# /etc/systemd/user. The man pages are generated from the code and committed
# (contrib/man; `go generate ./internal/cli ./internal/agentd` rewrites them),
# so installing them needs no Go. The completion scripts are the ones the CLI
# embeds and prints with `completion SHELL` (internal/cli/completion).
install-data:
	$(INSTALL) -d $(DESTDIR)$(SYSTEMDSYSTEMUNITDIR) $(DESTDIR)$(SYSTEMDUSERUNITDIR)/timers.target.wants \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DBUSSERVICEDIR) $(DESTDIR)$(DBUSPOLICYDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BASHCOMPLETIONDIR) $(DESTDIR)$(ZSHCOMPLETIONDIR) $(DESTDIR)$(FISHCOMPLETIONDIR)
	sed 's|@BINDIR@|$(BINDIR)|g' contrib/systemd/system/devbox-quadlet-agent.service.in >$(DESTDIR)$(SYSTEMDSYSTEMUNITDIR)/devbox-quadlet-agent.service
	sed 's|@BINDIR@|$(BINDIR)|g' contrib/systemd/user/devbox-quadlet-reap.service.in >$(DESTDIR)$(SYSTEMDUSERUNITDIR)/devbox-quadlet-reap.service
	chmod 0644 $(DESTDIR)$(SYSTEMDSYSTEMUNITDIR)/devbox-quadlet-agent.service $(DESTDIR)$(SYSTEMDUSERUNITDIR)/devbox-quadlet-reap.service
	$(INSTALL) -m 0644 contrib/systemd/user/devbox-quadlet-reap.timer $(DESTDIR)$(SYSTEMDUSERUNITDIR)/
	ln -sf ../devbox-quadlet-reap.timer $(DESTDIR)$(SYSTEMDUSERUNITDIR)/timers.target.wants/devbox-quadlet-reap.timer
	$(INSTALL) -m 0644 contrib/sysusers.d/devbox-quadlet.conf $(DESTDIR)$(SYSUSERSDIR)/devbox-quadlet.conf
	$(INSTALL) -m 0644 contrib/dbus/io.github.DevboxQuadlet.Agent1.service $(DESTDIR)$(DBUSSERVICEDIR)/
	$(INSTALL) -m 0644 contrib/dbus/io.github.DevboxQuadlet.Agent1.conf $(DESTDIR)$(DBUSPOLICYDIR)/
	$(INSTALL) -m 0644 contrib/dbus/io.github.DevboxQuadlet.Agent1.group.conf.example README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 0644 contrib/man/devbox-quadlet.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 contrib/man/devbox-quadlet-agent.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 internal/cli/completion/devbox-quadlet.bash $(DESTDIR)$(BASHCOMPLETIONDIR)/devbox-quadlet
	$(INSTALL) -m 0644 internal/cli/completion/_devbox-quadlet $(DESTDIR)$(ZSHCOMPLETIONDIR)/_devbox-quadlet
	$(INSTALL) -m 0644 internal/cli/completion/devbox-quadlet.fish $(DESTDIR)$(FISHCOMPLETIONDIR)/devbox-quadlet.fish

clean:
	rm -rf build/bin build/vm-test build/vm-demo build/vm-bench
