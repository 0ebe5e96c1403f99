# binflow - see README.md. Servers for tests, demo and benchmarks are sandboxed
# MariaDB instances on loopback managed by testenv/env.sh (installed from
# Debian packages when missing); their data lives in .testenv/.

SHELL := /bin/bash
GO ?= go
ENV_SH := testenv/env.sh

.PHONY: all build testenv-up testenv-down testenv-reset testenv-status test bench chaos fuzz demo fmt vet clean

all: build

build:
	$(GO) build -o bin/binflow ./cmd/binflow

testenv-up:
	$(ENV_SH) install
	$(ENV_SH) start upstream downstream postgres

testenv-down:
	$(ENV_SH) stop all

testenv-reset:
	$(ENV_SH) reset

testenv-status:
	$(ENV_SH) status

# -p 1: the packages share the servers.
# chromium: the status page test drives it headless.
test: testenv-up vet
	$(ENV_SH) install-chromium
	BINFLOW_REQUIRE_TESTENV=1 $(GO) test -count=1 -p 1 -timeout 20m ./...

# The end-to-end benchmark (bench/: binflow vs go-mysql canal and a native
# MariaDB replica on the same binlog, reported as ratios) runs once; the
# in-process micro-benchmarks (decode, functions, SQL building) run with
# go test's usual timing.
bench: testenv-up
	$(ENV_SH) start replica
	BINFLOW_REQUIRE_TESTENV=1 $(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -timeout 60m ./bench
	BINFLOW_REQUIRE_TESTENV=1 $(GO) test -run '^$$' -bench . -benchmem -timeout 30m $$($(GO) list ./... | grep -v /bench$$)

# The fault-injection scenarios at soak size: 200 kill -9 of a loaded
# binflow, a 30 s downstream outage, an upstream restart, upstream
# connections killed, lock wait timeouts, a deadlock, a duplicate key, a
# stalled downstream; each ends with every derived table compared with its
# SQL recomputation. Prints one summary line per scenario.
CHAOS_KILLS ?= 200
chaos: testenv-up
	set -o pipefail; BINFLOW_REQUIRE_TESTENV=1 BINFLOW_CHAOS_KILLS=$(CHAOS_KILLS) BINFLOW_CHAOS_OUTAGE=30 \
		$(GO) test -count=1 -p 1 -timeout 60m -v -run 'TestChaos|TestKill9|TestPurged|TestCheckpointOfAnotherUpstream' ./cmd/binflow | grep -E '^(--- |ok|FAIL)|chaos:'

# Config parsing and validation under go test -fuzz (no servers needed):
# never a panic, every rejection naming the file and the key or line.
FUZZ_TIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZ_TIME) -fuzzminimizetime 2s ./config

# DEMO_SECONDS=N (default 60, 0 = until Ctrl-C); see testenv/demo.sh.
demo: testenv-up build
	testenv/demo.sh

fmt:
	$(GO) fmt ./...

vet:
	$(GO) vet ./...

clean:
	rm -rf bin/
