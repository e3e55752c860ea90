# The front door: `make run` and `make test` work on a fresh Debian machine with Swift.
SWIFT ?= swift
CONFIG ?= conf/weevent.properties
# A hung test fails the run after this long instead of stalling CI; stdbuf keeps the test
# output line by line, so what ran last is visible even then.
TEST_TIMEOUT ?= 20m
BIN_DEBUG = $(shell $(SWIFT) build --show-bin-path 2>/dev/null)

.PHONY: run cluster test chaos chaos-run build bench deps clean format format-check

## Install what is missing, build, start a local mosquitto and ZooKeeper on loopback when
## none is listening, serve on :8080 with conf/weevent.properties.
run:
	scripts/install-deps.sh run
	$(SWIFT) build --product weevent
	scripts/run.sh $(BIN_DEBUG)/weevent $(CONFIG)

## A ZooKeeper ensemble, Patroni (primary and synchronous standby), mosquitto and three
## instances on 8080-8082 sharing them.
cluster:
	scripts/install-deps.sh cluster
	$(SWIFT) build --product weevent
	scripts/cluster.sh $(BIN_DEBUG)/weevent

## Everything the tests need, then every test (real brokers included), then the fault test.
test: format-check
	scripts/install-deps.sh test
	$(SWIFT) build --build-tests
	WEEVENT_BIN=$(BIN_DEBUG)/weevent timeout -k 10 $(TEST_TIMEOUT) stdbuf -oL -eL $(SWIFT) test --skip-build --skip ChaosTests
	$(MAKE) --no-print-directory chaos-run

## The fault test alone: the highly available cluster of `make cluster` under load, killing in
## turn the PostgreSQL primary, a ZooKeeper server, the bridge leader, a follower and mosquitto.
## Runs on its own (not beside the other suites): its recovery times are measured.
chaos:
	scripts/install-deps.sh test
	$(SWIFT) build --build-tests
	$(MAKE) --no-print-directory chaos-run

chaos-run:
	WEEVENT_BIN=$(BIN_DEBUG)/weevent timeout -k 10 $(TEST_TIMEOUT) stdbuf -oL -eL $(SWIFT) test --skip-build --filter ChaosTests

build:
	$(SWIFT) build

## swift-format with the repository's .swift-format: `make format` rewrites, `make test` checks.
FORMATTED = Package.swift Sources Tests benchmarks/Package.swift benchmarks/BenchSupport benchmarks/BridgeBench benchmarks/LedgerBench benchmarks/MQTTBench benchmarks/StreamBench
format:
	$(SWIFT) format format --in-place --recursive --parallel --configuration .swift-format $(FORMATTED)

format-check:
	$(SWIFT) format lint --strict --recursive --parallel --configuration .swift-format $(FORMATTED)

## Throughput and latency tables (release build); see docs/performance.md.
bench:
	scripts/install-deps.sh bench
	scripts/bench.sh

deps:
	scripts/install-deps.sh test

clean:
	rm -rf .build .build-* benchmarks/.build data
