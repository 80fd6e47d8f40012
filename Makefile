# OpenEFM. `make test` is what CI runs (.ci/run); `make demo` runs the
# local demo cluster. Both install what they need from Debian's packages.
GO      ?= go
BIN     ?= bin/efm
BENCH_LOG ?= /tmp/efm-bench.log
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: build test test-short demo lint sim-long bench soak chaos clean

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

# Failover timings measured on real clusters against check-conf's
# predictions (integration/bench_test.go), idle cost, and the 3/5/7-node
# sweep (bench_sweep_test.go); not part of `make test` (about 10 minutes).
# EFM_BENCH_RUNS=n runs per line with the example's timers (3),
# EFM_BENCH_SLOW_RUNS=n with EFM's defaults (1; over a minute each),
# EFM_BENCH_SLOW=0 leaves EFM's defaults out, EFM_BENCH_SWEEP=3,5 (or 0).
bench:
	bash integration/setup-host.sh
	EFM_BENCH=1 $(GO) test -count=1 -timeout 0 -run '^TestBench(Idle|Sweep)?$$' -v ./integration/ > $(BENCH_LOG) 2>&1; s=$$?; \
	awk '/^OpenEFM (bench|idle|cluster-size)/{p=1} p&&!/^(\||OpenEFM)/{p=0} p' $(BENCH_LOG); grep -E '^\s*(--- FAIL|FAIL)' $(BENCH_LOG); \
	echo "full log: $(BENCH_LOG)"; exit $$s

# The false-failover soak (integration/soak_test.go): the example's timers
# under 5 % packet loss on every link, busy loops at twice the cores and
# standby agents frozen for half their tolerance; not part of `make test`.
# EFM_SOAK_DURATION=90s for a short run (10m).
soak:
	bash integration/setup-host.sh
	EFM_SOAK=1 $(GO) test -count=1 -timeout 0 -run '^TestSoak$$' -v ./integration/

# A long randomized chaos run on real clusters (integration/chaos,
# docs/chaos.md); `make test` runs one short schedule and the negative
# control. EFM_CHAOS_SCHEDULES=n schedules (50), EFM_CHAOS_LENGTH seconds of
# faults each (75), EFM_CHAOS_SEED=s the first seed, EFM_CHAOS_REJOIN (1: sets
# auto.rewind=true, auto.resume.*.period=10, update.physical.slots.period=1;
# 0: EFM's defaults, a failed primary stays fenced). The seeds that found a
# defect are replayed after the run (TestChaosRegressions).
CHAOS_LOG ?= /tmp/efm-chaos.log
chaos:
	bash integration/setup-host.sh
	EFM_CHAOS_SCHEDULES=$${EFM_CHAOS_SCHEDULES:-50} EFM_CHAOS_LENGTH=$${EFM_CHAOS_LENGTH:-75} \
	EFM_CHAOS_REJOIN=$${EFM_CHAOS_REJOIN:-1} EFM_CHAOS_REGRESSIONS=1 \
	$(GO) test -count=1 -timeout 0 -run '^(TestChaos|TestChaosRegressions)$$' -v ./integration/chaos/ > $(CHAOS_LOG) 2>&1; s=$$?; \
	awk '/^OpenEFM chaos run/{p=1} p&&!/^(\||OpenEFM)/{p=0} p' $(CHAOS_LOG); grep -E '(FAILED|^\s*--- FAIL|^FAIL)' $(CHAOS_LOG); \
	echo "full log: $(CHAOS_LOG)"; exit $$s

clean:
	rm -rf bin
