# transit — `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/transit
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 15000x

.PHONY: help build test demo demo-mysql demo-cutover demo-feeds bench lint services fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## build bin/transit (static, CGO off)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/transit

test: services ## run every test against the local servers, then each fuzz target briefly
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...
	$(MAKE) --no-print-directory fuzz

fuzz: ## run each fuzz target for FUZZTIME (default 15000x: executions, not seconds)
	@# A count, not a duration: with -fuzztime 8s, Go 1.26's coordinator can
	@# fail a clean run with "context deadline exceeded" at the deadline
	@# (golang/go#75804, fixed in Go 1.27).
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./plan
	$(GO) test -run '^$$' -fuzz '^FuzzCSVReader$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./sources/csv
	$(GO) test -run '^$$' -fuzz '^FuzzJSONLReader$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./sources/jsonl

demo: build ## migrate the bundled Chinook SQLite file into PostgreSQL (database transit_demo, schema chinook)
	@scripts/demo.sh sqlite

demo-mysql: build ## the same from MariaDB: loads Chinook_MySql.sql into database Chinook first
	@scripts/demo.sh mysql

demo-cutover: build ## walk Chinook's Track through shadow, the gates, migrating and a rollback (database transit_demo_cutover)
	@scripts/demo-cutover.sh

demo-feeds: build ## feeds on the Chinook target: customer index with invoices (ES test double) and a Redis track cache
	@scripts/demo-feeds.sh

bench: build ## benchmarks: Go benchmarks and the employees-shaped MariaDB → Postgres move (not in CI)
	@scripts/bench.sh

lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	"$$(command -v staticcheck || echo $$($(GO) env GOPATH)/bin/staticcheck)" ./...

services: ## make sure PostgreSQL and MariaDB answer (starts them), start Redis if installed, install Chromium
	@scripts/services.sh

clean: ## remove build output
	rm -rf bin bench/out examples/chinook/Chinook_Sqlite.sqlite
