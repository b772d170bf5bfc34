# stocksync developer tasks. `make` alone lists them.

# golangci-lint runs from the Go module proxy at a pinned version, so every
# machine lints with the same rules without installing anything.
GOLANGCI_LINT ?= github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable

.DEFAULT_GOAL := help
.PHONY: help build test test-pg race lint bench demo sim fuzz ci

help: ## list the targets
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z0-9_-]+:.*?## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build the binary into bin/stocksync
	go build -o bin/stocksync ./cmd/stocksync

test: ## run the tests (PostgreSQL tests skip unless STOCKSYNC_TEST_DATABASE_URL is set)
	go test ./...

test-pg: ## run the tests with PostgreSQL too, on TEST_DATABASE_URL
	STOCKSYNC_TEST_DATABASE_URL='$(TEST_DATABASE_URL)' go test ./...

race: ## run the tests with the race detector
	go test -race ./...

lint: ## gofmt check, go vet, golangci-lint (.golangci.yml)
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt -l lists files to format:"; echo "$$out"; exit 1; fi
	go vet ./...
	go run $(GOLANGCI_LINT) run ./...

bench: ## the shift-end benchmarks at full size, by hand (PostgreSQL on TEST_DATABASE_URL; BENCH_FLAGS='--devices 40 --ops 1000' for less), see docs/benchmarks.md
	go run ./cmd/stocksync bench --db '$(TEST_DATABASE_URL)' $(BENCH_FLAGS)

sim: ## the fault simulation, SEEDS seeds per store (default 1000; PostgreSQL on TEST_DATABASE_URL), see docs/reliability.md
	STOCKSYNC_TEST_DATABASE_URL='$(TEST_DATABASE_URL)' go test -count=1 -timeout 2h ./sim -run 'TestSimulation$$' -sim.seeds=$(or $(SEEDS),1000)

fuzz: ## run every fuzz target for FUZZTIME each (default 1m)
	@for t in syncproto:FuzzDecodePush syncproto:FuzzParseVersion syncproto:FuzzParseBacklog syncproto:FuzzDecodeEnroll \
	  server:FuzzPullQuery server:FuzzAuthenticate server:FuzzCatalogCSV server:FuzzCapReader \
	  ledger:FuzzDecodeCursor ledger:FuzzOperation ledger:FuzzParseSecret ledger:FuzzParsePasswordHash mobile/scan:FuzzParseGS1 sim:FuzzDifferential; do \
	  pkg=$${t%%:*}; name=$${t#*:}; echo "-- $$name ($$pkg)"; \
	  go test ./$$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(or $(FUZZTIME),1m) || exit 1; done

demo: ## seed the demo tenant into ./data/stocksync.db and check it
	go run ./cmd/stocksync demo && go run ./cmd/stocksync check

ci: ## run what CI runs (.ci/run: starts PostgreSQL, gofmt, vet, race tests)
	bash .ci/run
