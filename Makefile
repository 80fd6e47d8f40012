# OpenEFM. `make test` is what CI runs (.ci/run); `make demo` runs the
# local demo cluster. Both install what they need from Debian's packages.
GO      ?= go
BIN     ?= bin/efm
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: build test test-short demo lint sim-long clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/efm

# The whole suite: unit tests, the simulator's default run, and (as root)
# the integration tests with real PostgreSQL in network namespaces.
test: lint
	bash integration/setup-host.sh
	$(GO) test -count=1 -timeout 40m ./...

# Unit tests only, no root needed.
test-short:
	EFM_SKIP_INTEGRATION=1 $(GO) test -count=1 ./...

demo: build
	bash integration/setup-host.sh
	$(GO) run ./examples/demo -efm $(BIN)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The nightly-style simulator run.
sim-long:
	EFM_SIM_SCHEDULES=100000 $(GO) test -count=1 -run TestSimulation -timeout 120m -v ./internal/sim/

clean:
	rm -rf bin
