# Hermes gateway. `make demo` shows it working; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
PKG := github.com/hermes-gateway/hermes
REVISION ?= $(shell git rev-parse --verify -q HEAD 2>/dev/null)
# As scripts/install.sh names versions: v0.1.0+abc1234.
VERSION ?= v$(shell cat VERSION)$(if $(REVISION),+$(shell echo $(REVISION) | cut -c1-7))
MODIFIED ?= $(shell test -n "$$(git status --porcelain 2>/dev/null)" && echo true)
LDFLAGS := -X $(PKG)/pkg/version.Version=$(VERSION) -X $(PKG)/pkg/version.Revision=$(REVISION) -X $(PKG)/pkg/version.Modified=$(MODIFIED)
BIN ?= bin
# Packages whose tests need the sandbox user manager (build tag e2e).
E2E_PKGS := ./e2e/... ./pkg/systemd/... ./pkg/journal/...

# Fuzz targets, as package:Target. `make fuzz` runs each for FUZZTIME;
# `make test` runs each briefly (its corpus in testdata/fuzz is replayed by
# the unit tests anyway).
FUZZ := ./pkg/config:FuzzParse ./pkg/control:FuzzControlAPI ./pkg/store:FuzzDecodeItem \
	./pkg/telegram:FuzzDecodeUpdates ./pkg/telegram:FuzzWebhookHandler ./pkg/markdown:FuzzRender
FUZZTIME ?= 60s

# The fault campaign (soak/): DURATION of random faults, SEED to replay one.
DURATION ?= 2m
SEED ?= 0

.PHONY: all build man install test unit e2e matrix-test demo vet fuzz fuzz-short soak bench clean vmtest

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/hermes-gateway ./cmd/gateway
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/hermes ./cmd/hermes
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/fakebot ./cmd/fakebot
	$(GO) build -trimpath -o $(BIN)/hermes-probe ./scripts/probe

# The manual pages hermes(1) and hermes-gateway(1), written into
# $(MANDIR)/man1 (the units' Documentation= lines point at them);
# `make install` installs them into ~/.local/share/man.
MANDIR ?= $(BIN)/man
man: build
	$(BIN)/hermes man $(MANDIR)

# Installs as a version under ~/.local/lib/hermes (see scripts/install.sh),
# with the manual pages in ~/.local/share/man, then runs hermes
# install-unit. ARGS go to install-unit.
install:
	scripts/install.sh $(ARGS)

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt: not formatted (run gofmt -w on them):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...
	$(GO) vet -tags soak ./soak/

# Unit tests, then the e2e tests inside a private systemd --user + journald.
test: vet unit fuzz-short e2e matrix-test soak

unit:
	$(GO) test -race -count=1 ./...

e2e: build
	scripts/sandbox -- $(GO) test -tags e2e -count=1 -timeout 20m $(E2E_PKGS)

# The Matrix adapter, and the whole gateway serving Matrix rooms (happy
# path, pairing, /restart, SIGKILLs in flight, the homeserver down and
# back), against a real homeserver (build tag matrix): Dendrite
# is built from the Go module proxy on the first run (about 8 minutes on 2
# busy cores) and cached in ~/.cache/hermes (or $HERMES_DENDRITE_BIN).
matrix-test:
	$(GO) vet -tags matrix ./pkg/matrix/ ./internal/dendrite/ ./pkg/cli/ ./pkg/gateway/
	$(GO) test -tags matrix -count=1 -timeout 30m ./pkg/matrix/
	$(GO) test -tags matrix -count=1 -timeout 15m -run Matrix ./pkg/gateway/
	$(GO) test -tags matrix -count=1 -timeout 10m -run Matrix ./pkg/cli/

fuzz:
	@for f in $(FUZZ); do pkg=$${f%%:*}; t=$${f##*:}; echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; done

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=5s

soak: build
	HERMES_DENDRITE_BIN=$(DENDRITE_BIN) scripts/sandbox -- $(GO) test -tags soak -count=1 -v -timeout 90m ./soak/ -args -soak.duration=$(DURATION) -soak.seed=$(SEED)

# Benchmarks in the sandbox user manager; writes docs/BENCHMARKS.md. The
# Matrix round trip runs Dendrite from the cache make matrix-test fills (the
# sandbox moves HOME, so its path is given here).
DENDRITE_BIN ?= $(or $(HERMES_DENDRITE_BIN),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hermes/dendrite-v0.13.8)
bench: build
	HERMES_DENDRITE_BIN=$(DENDRITE_BIN) scripts/sandbox -- $(GO) run ./scripts/bench $(BENCH_ARGS)

demo: build
	scripts/demo

# The VM suite: a normal user under a real systemd (PID 1, logind, linger,
# reboots) on Debian 12 (systemd 252), 12 with backports (254) and 13 (257),
# booted with qemu from images built by debootstrap (cached in
# ~/.cache/hermes/vm). VMTEST_SUITES picks releases. See scripts/vm/run.
vmtest:
	scripts/vm/run $(VMTEST_SUITES)

clean:
	rm -rf $(BIN)
