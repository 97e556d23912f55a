# mixerless: `make demo` runs the walk-through locally, `make test` runs every check.
# Both install what they need (`make deps`).

SHELL := /bin/bash
.DEFAULT_GOAL := help

ENVOY_VERSION ?= 1.40.0
VENV          ?= .venv
APT_PACKAGES  ?= binaryen hey wrk prometheus openssl
WASM_TARGET   := wasm32-wasip1
WASM_OUT      := target/$(WASM_TARGET)/wasm/mixerless_filter_wasm.wasm
WASM_DIST     := dist/mixerless-filter.wasm
# --converge repeats -Oz until the module stops shrinking: ~500 bytes (keeps the filter with TCP,
# gRPC messages and istio_build under 180 KiB) for ~3x the wasm-opt time (10 s instead of 3 s).
WASM_OPT_FLAGS := -Oz --converge --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals
NATIVE        := --workspace --exclude mixerless-filter-wasm
# nextest when the machine has it (it does not run doctests, so they run separately).
HAVE_NEXTEST  := $(shell cargo nextest --version >/dev/null 2>&1 && echo yes)

export ENVOY_BIN := $(CURDIR)/$(VENV)/bin/envoy

.PHONY: help deps wasm test-wasm wasm-both demo test lint lint-wasm fmt unit-wasm bench fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

deps: ## install what is missing: wasm target, Envoy $(ENVOY_VERSION) (local venv), Debian packages
	@scripts/deps.sh "$(VENV)" "$(ENVOY_VERSION)" "$(APT_PACKAGES)"

define wasm-opt-dist
	@mkdir -p dist
	wasm-opt $(WASM_OPT_FLAGS) $(WASM_OUT) -o $(WASM_DIST)
	@echo "$(WASM_DIST): $$(stat -c %s $(WASM_DIST)) bytes"
endef

wasm: ## build dist/mixerless-filter.wasm (wasm32-wasip1, wasm-opt -Oz --converge)
	cargo build -p mixerless-filter-wasm --target $(WASM_TARGET) --profile wasm
	$(wasm-opt-dist)

test-wasm: ## build the test-only module that plays Istio's metadata exchange (tests/istio-exchange; never shipped)
	cargo build -p mixerless-test-istio-exchange --target $(WASM_TARGET) --profile wasm

# `make test` builds both modules in one cargo command: each ends in a single-threaded LTO
# link (`codegen-units = 1`), and one command runs the two side by side.
wasm-both:
	cargo build -p mixerless-filter-wasm -p mixerless-test-istio-exchange --target $(WASM_TARGET) --profile wasm
	$(wasm-opt-dist)

fmt: ## format the code
	cargo fmt --all

lint: lint-wasm ## rustfmt check, clippy -D warnings (native and wasm32-wasip1)
	cargo clippy $(NATIVE) --all-targets -- -D warnings

lint-wasm: ## rustfmt check, clippy -D warnings on wasm32-wasip1
	cargo fmt --all --check
	cargo clippy -p mixerless-filter -p mixerless-filter-wasm -p mixerless-test-istio-exchange --target $(WASM_TARGET) -- -D warnings

# `make test` lints the native crates while it builds them: clippy-driver compiles the
# workspace's own crates (as the workspace wrapper, which is how `cargo clippy` runs it) with
# warnings denied, and the dependencies are compiled once, for the build and the tests, instead
# of once more as `cargo clippy`'s check-only artifacts. Every native cargo command of `make test`
# carries the same settings, so none rebuilds what another built.
LINTED        := RUSTC_WORKSPACE_WRAPPER=clippy-driver RUSTFLAGS='-D warnings'

unit-wasm: ## the filter's host-free unit tests, compiled to wasm32-wasip1 and run in wasmtime
	cargo test -p mixerless-filter --lib --target $(WASM_TARGET)

# The binaries that end-to-end tests run as processes (the demo test runs both).
E2E_BINS      := -p mixerless-adapter -p mixerless-demo

demo: deps wasm ## the walk-through locally: real Envoys, hey load, the adapter, live HPA decisions (DEMO_FLAGS='--steady 2m')
	cargo build $(E2E_BINS)
	target/debug/mixerless-demo $(DEMO_FLAGS)

# Upstream conformance data (Prometheus' promqltest files, Istio's CRDs): `shared/` beside the
# checkout, or MIXERLESS_SHARED_DIR. Without it the tests that read it skip, and say so.
SHARED_DIR ?= $(or $(MIXERLESS_SHARED_DIR),$(abspath $(CURDIR)/../shared))

test: deps lint-wasm wasm-both unit-wasm ## everything: deps, lint, wasm, unit tests (native and wasm), end-to-end
	@[ -d "$(SHARED_DIR)/conformance" ] || echo "make test: skipping Prometheus promqltest conformance and Istio CRD validation: no $(SHARED_DIR)/conformance (set MIXERLESS_SHARED_DIR to the shared data directory)"
	$(LINTED) cargo build $(NATIVE) --all-targets
	FUZZ_SEED=1 fuzz/run.sh $(FUZZ_SMOKE_SECONDS)
ifeq ($(HAVE_NEXTEST),yes)
	$(LINTED) cargo test --doc $(NATIVE)
	$(LINTED) cargo nextest run --no-fail-fast $(NATIVE)
else
	$(LINTED) cargo test --no-fail-fast $(NATIVE)
endif

# Fuzzing (cargo-fuzz, nightly): `make test` runs each target FUZZ_SMOKE_SECONDS with a fixed seed, `make fuzz`
# FUZZ_SECONDS (FUZZ_TARGETS='quantity promql' for some); FUZZ_JOBS targets at a time (default: one per core).
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_TARGETS       ?=

fuzz: ## every fuzz target for FUZZ_SECONDS each (nightly toolchain; installs cargo-fuzz if missing)
	fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

bench: deps wasm ## every benchmark (scripts/bench-*.sh); results go to BENCHMARKS.md
	@set -e; for b in scripts/bench-*.sh; do [ -e "$$b" ] || continue; echo "== $$b"; "$$b"; done

clean: ## remove build output (keeps the venv)
	cargo clean
	rm -rf dist
