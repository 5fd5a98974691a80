# zonecert — see README.md. `make demo` and `make test` do all set-up.
SHELL := /usr/bin/env bash
GO ?= go
ROOT := $(CURDIR)
TOOLS := $(ROOT)/.tools
BIN := $(ROOT)/bin
export PATH := $(BIN):$(TOOLS):$(PATH)
# Tests find the real components through these.
export ZONECERT_PEBBLE := $(TOOLS)/pebble
export ZONECERT_BIN := $(BIN)
# Benchmarks that write figures and plots (the renewal storm) put them here.
export ZONECERT_BENCH_DIR := $(BIN)/bench
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/zonecert/zonecert/core.Version=$(VERSION)
PROVIDER_LDFLAGS := -X main.version=$(VERSION)
PROVIDERS := $(notdir $(patsubst %/,%,$(dir $(wildcard providers/*/main.go))))
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
TEST_TIMEOUT ?= 8m
# Each fuzz target runs this long in `make fuzz`, and TEST_FUZZTIME in `make test`.
# make test counts executions rather than seconds: with a time limit, Go's fuzz
# engine fails with "context deadline exceeded" when a loaded machine is still
# running the seed corpus as the time runs out.
FUZZTIME ?= 5s
TEST_FUZZTIME ?= 2000x

.PHONY: all build build-core tools test test-short bench fuzz faults demo playground generate lint clean cross-vet repro-check dist dist-check

all: build

# The providers of this module, and those in a Go module of their own (the
# lego bridge: its ~120 dependencies stay out of this module's graph).
OWN_MODULE_PROVIDERS := $(notdir $(patsubst %/,%,$(dir $(wildcard providers/*/go.mod))))
CORE_PROVIDERS := $(filter-out $(OWN_MODULE_PROVIDERS),$(PROVIDERS))

build: build-core
	@for p in $(OWN_MODULE_PROVIDERS); do \
		echo "(cd providers/$$p && $(GO) build -o $(BIN)/zonecert-dns-$$p .)"; \
		(cd providers/$$p && $(GO) build -trimpath -ldflags '$(PROVIDER_LDFLAGS)' -o $(BIN)/zonecert-dns-$$p .) || exit 1; \
	done

# zonecert and the providers of this module: what the demo needs.
build-core:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/zonecert ./cmd/zonecert
	@for p in $(CORE_PROVIDERS); do \
		echo $(GO) build -o $(BIN)/zonecert-dns-$$p ./providers/$$p; \
		$(GO) build -trimpath -ldflags '$(PROVIDER_LDFLAGS)' -o $(BIN)/zonecert-dns-$$p ./providers/$$p || exit 1; \
	done

tools:
	@testdata/scripts/install-tools.sh pebble bind etcd

test: tools build lint cross-vet repro-check
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	@# Pebble's deadlock (core/acme/ordergate.go) needs Pebble short of CPU;
	@# under -race the slower client no longer makes it so, so this test
	@# runs once more without the race detector.
	$(GO) test -count=1 -run '^TestPebbleNewOrderAmidAuthorizationPolls$$' ./core/acme
	cd testdata/example-plugin && $(GO) vet ./... && $(GO) test -race -count=1 ./...
	cd testdata/libdns-example && $(GO) vet ./... && $(GO) test -race -count=1 ./...
	@# The lego bridge's tests build only the providers they run (-tags
	@# legotest): the race build of all of lego's dependencies takes ten
	@# minutes on two cores. make build compiles the whole registry.
	cd providers/lego && $(GO) vet -tags legotest ./... && $(GO) test -race -tags legotest -count=1 ./...
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME)

# Every fuzz target of the module, found by name, for FUZZTIME each. Seeds
# live in each package's testdata/fuzz/<target>; a failing input is written
# there too, and then fails the plain test run until it is fixed.
fuzz:
	@set -e; for f in $$(git ls-files -co --exclude-standard '*_test.go' | grep -v '^testdata/'); do \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(f \*testing\.F).*/\1/p' $$f); do \
			echo "fuzz $$fn ./$$(dirname $$f) ($(FUZZTIME))"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f) 2>&1) || \
				{ echo "$$out"; exit 1; }; \
		done; \
	done

test-short: build
	$(GO) test -short -count=1 ./...

# One package at a time (-p 1): go test runs packages in parallel, and a
# benchmark sharing the cores with another measures both.
bench: tools build
	$(GO) test -p 1 -run '^$$' -bench . -benchmem -count=1 ./...

# The whole fault suite (docs/RELIABILITY.md): real Pebble, BIND9 and plugin
# processes; `make test` runs only its fast cases.
FAULTS_TIMEOUT ?= 20m
faults: tools build
	ZONECERT_FAULTS=1 $(GO) test -count=1 -timeout $(FAULTS_TIMEOUT) -run '^TestFault' -v ./cmd/zonecert

demo: build-core
	@testdata/scripts/install-tools.sh pebble
	@testdata/scripts/demo.sh

# The demo, then its CA left running (with the environment to use printed)
# until Ctrl-C, to try renew, revoke, account and run against it.
playground: build-core
	@testdata/scripts/install-tools.sh pebble
	@ZONECERT_PLAYGROUND=1 testdata/scripts/demo.sh

generate:
	@command -v protoc >/dev/null || { echo "protoc is required: apt-get install protobuf-compiler" >&2; exit 1; }
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	cd plugin/proto && protoc --plugin=protoc-gen-go=$(TOOLS)/protoc-gen-go \
		--plugin=protoc-gen-go-grpc=$(TOOLS)/protoc-gen-go-grpc \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		provider/v1/provider.proto

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -count=1 ./internal/layering

clean:
	rm -rf $(BIN) .demo

# Every release target type-checks, tests included (go vet compiles the
# _test.go files): a change that breaks Windows or macOS fails here even
# though their tests cannot run on this machine.
CROSS_TARGETS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 freebsd/amd64
cross-vet:
	@set -e; for t in $(CROSS_TARGETS); do \
		echo "vet $$t"; \
		GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet ./...; \
		(cd testdata/example-plugin && GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet ./...); \
		(cd testdata/libdns-example && GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet ./...); \
	done

# Release archives for every CROSS_TARGETS entry into dist/: zonecert, every
# provider plugin (a provider with a go.mod of its own is built from its
# directory), README, the systemd units, man pages and shell completions
# (zonecert gendocs), as .tar.gz (.zip for Windows), with SHA256SUMS.
# Reproducible: -trimpath, no build id, no cgo, and every archive entry
# dated at the commit time, sorted and owned by root (internal/release).
DIST := $(ROOT)/dist
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
DIST_LDFLAGS := -buildid= $(LDFLAGS)
DIST_PROVIDER_LDFLAGS := -buildid= $(PROVIDER_LDFLAGS)
dist:
	@rm -rf $(DIST) && mkdir -p $(DIST)/.stage
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' -o $(DIST)/.stage/gendocs ./cmd/zonecert
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(DIST)/.stage/gendocs gendocs $(DIST)/.stage/docs
	$(GO) build -o $(DIST)/.stage/release ./cmd/zonecert/internal/release
	@set -e; for t in $(CROSS_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; arc=tar.gz; \
		if [ $$os = windows ]; then ext=.exe; arc=zip; fi; \
		name=zonecert_$(VERSION)_$${os}_$${arch}; stage=$(DIST)/.stage/$$name; \
		echo "dist $$name.$$arc"; mkdir -p $$stage; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' -o $$stage/zonecert$$ext ./cmd/zonecert; \
		for p in $(PROVIDERS); do \
			if [ -f providers/$$p/go.mod ]; then \
				(cd providers/$$p && CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(DIST_PROVIDER_LDFLAGS)' -o $$stage/zonecert-dns-$$p$$ext .); \
			else \
				CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(DIST_PROVIDER_LDFLAGS)' -o $$stage/zonecert-dns-$$p$$ext ./providers/$$p; \
			fi; \
		done; \
		cp README.md $$stage/; cp -r contrib/systemd $$stage/systemd; \
		cp -r $(DIST)/.stage/docs/man $(DIST)/.stage/docs/completions $$stage/; \
		$(DIST)/.stage/release -mtime $(SOURCE_DATE_EPOCH) -o $(DIST)/$$name.$$arc -C $(DIST)/.stage $$name; \
	done
	@rm -rf $(DIST)/.stage
	cd $(DIST) && sha256sum zonecert_* > SHA256SUMS && cat SHA256SUMS

# The part of dist-check that fits make test: zonecert linked for Windows
# twice, in two work directories, with dist's flags, must come out the same
# bytes (the archives themselves: internal/release's TestPackReproducible).
repro-check:
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	for i in 1 2; do \
		CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' -o $$d/$$i.exe ./cmd/zonecert || exit 1; \
	done && \
	a=$$(sha256sum < $$d/1.exe) && b=$$(sha256sum < $$d/2.exe) && \
	if [ "$$a" != "$$b" ]; then echo "repro-check: two builds of zonecert differ"; exit 1; fi && \
	echo "repro-check: two builds of zonecert.exe are identical ($${a%% *})"

# make dist twice; the checksums must agree (reproducible builds).
dist-check:
	@$(MAKE) --no-print-directory dist
	@cp $(DIST)/SHA256SUMS $(ROOT)/bin/SHA256SUMS.first 2>/dev/null || { mkdir -p $(BIN) && cp $(DIST)/SHA256SUMS $(BIN)/SHA256SUMS.first; }
	@$(MAKE) --no-print-directory dist
	@diff -u $(BIN)/SHA256SUMS.first $(DIST)/SHA256SUMS && echo "dist is reproducible"
