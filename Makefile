# binflow - see README.md. Servers for tests, demo and benchmarks are sandboxed
# MariaDB instances on loopback managed by testenv/env.sh (installed from
# Debian packages when missing); their data lives in .testenv/.

SHELL := /bin/bash
GO ?= go
ENV_SH := testenv/env.sh

.PHONY: all build testenv-up testenv-down testenv-reset testenv-status test bench demo fmt vet clean

all: build

build:
	$(GO) build -o bin/binflow ./cmd/binflow

testenv-up:
	$(ENV_SH) install
	$(ENV_SH) start upstream downstream

testenv-down:
	$(ENV_SH) stop all

testenv-reset:
	$(ENV_SH) reset

testenv-status:
	$(ENV_SH) status

# -p 1: the packages share the servers.
test: testenv-up vet
	BINFLOW_REQUIRE_TESTENV=1 $(GO) test -count=1 -p 1 -timeout 20m ./...

# Every package's benchmarks (the end-to-end ones live in bench/), each run
# once; the replica is the native MariaDB reference.
bench: testenv-up
	$(ENV_SH) start replica
	BINFLOW_REQUIRE_TESTENV=1 $(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -timeout 60m ./...

# DEMO_SECONDS=N (default 60, 0 = until Ctrl-C); see testenv/demo.sh.
demo: testenv-up build
	testenv/demo.sh

fmt:
	$(GO) fmt ./...

vet:
	$(GO) vet ./...

clean:
	rm -rf bin/
