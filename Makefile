# Amtsstube – the two commands: `make demo` and `make test`.
# Both install what is missing (system packages via installer/deps.sh, npm packages,
# tauri-driver), build once, and then run.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
NPM ?= npm
ROOT := $(CURDIR)
TOOLS := $(ROOT)/target/tools
TAURI_DRIVER := $(TOOLS)/bin/tauri-driver
TAURI_DRIVER_VERSION := 2.1.0
DEMO := $(ROOT)/target/demo
# Run headless tests and the demo under Xvfb when there is no display.
XVFB := $(if $(DISPLAY),,xvfb-run -a -s "-screen 0 1920x1080x24")

.PHONY: all deps ui-deps ui build windows-target build-windows package-windows tools demo test test-windows chaos fuzz fuzz-guided test-rust test-conformance test-ui test-browser test-e2e lint bindings-check bench package package-server clean

all: build

deps:
	@installer/deps.sh

ui/node_modules/.installed: ui/package.json ui/package-lock.json
	cd ui && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

ui-deps: deps ui/node_modules/.installed

ui: ui-deps
	cd ui && $(NPM) run --silent build

# One feature set for the whole workspace, so tests and the app share one build.
build: ui
	$(CARGO) build --workspace --all-targets

$(TAURI_DRIVER):
	$(CARGO) install tauri-driver --version $(TAURI_DRIVER_VERSION) --locked --root $(TOOLS)

tools: $(TAURI_DRIVER)

# The CLI and the app for Windows, cross-built with Debian's mingw-w64 into their own
# folder of target/ (rustup adds the target's standard library once). Build scripts
# and macros are shared with the Linux build.
WINDOWS_TARGET := x86_64-pc-windows-gnu
windows-target: deps
	@rustup target list --installed 2>/dev/null | grep -qx $(WINDOWS_TARGET) || rustup target add $(WINDOWS_TARGET)

build-windows: ui windows-target
	$(CARGO) build --target $(WINDOWS_TARGET) -p workstation -p amtsstube-app --bin amtsstube --bin amtsstube-app

# ---- demo ---------------------------------------------------------------------
# `make demo BUERO=1`: the office variant (Rathaus-Server and three desks).
demo: build tools
	@if [ -n "$(BUERO)" ]; then installer/demo-buero.sh; else installer/demo.sh; fi

# ---- tests --------------------------------------------------------------------
test: build tools lint test-rust bindings-check test-conformance test-ui test-browser test-e2e test-windows

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd ui && $(NPM) run --silent check

test-rust:
	$(CARGO) test --workspace

# ts-rs rewrites ui/src/lib/bindings during `cargo test`; committed bindings must match.
bindings-check:
	@if [ -n "$$(git status --porcelain -- ui/src/lib/bindings)" ]; then \
	  git status --porcelain -- ui/src/lib/bindings; git diff -- ui/src/lib/bindings; \
	  echo "Die TypeScript-Bindungen sind veraltet: 'cargo test' ausführen und ui/src/lib/bindings einchecken." >&2; exit 1; \
	fi

# The portal simulator judged by the official OpenAPI document (schemathesis).
test-conformance:
	tests/conformance/run.sh

test-ui:
	cd ui && $(NPM) run --silent test

test-browser:
	cd ui && $(NPM) run --silent test:browser

test-e2e:
	$(XVFB) dbus-run-session -- node --test --test-concurrency=1 tests/e2e/

# The Windows CLI, app start and installer under Wine (tests/tests/windows.rs; Wine prefix under
# target/wine). `--workspace` keeps the features of test-rust: the test binary is
# built once, not again for one package.
test-windows: build-windows
	$(CARGO) test --workspace --test windows -- --ignored --test-threads=1

# Longer chaos run: the real `amtsstube` binary killed with SIGKILL during syncs
# against the faulty simulator (make test runs 50 rounds), and more simulated schedules.
CHAOS_ROUNDS ?= 500
chaos: build
	CHAOS_ROUNDS=$(CHAOS_ROUNDS) $(CARGO) test -p amtsstube-tests --test chaos -- --nocapture
	DST_SCHEDULES=100000 $(CARGO) test -p sync --test simulation -- --nocapture
	SIM_SCHEDULES=50000 $(CARGO) test --release -p office --test simulation -- --nocapture
	SERVER_CHAOS_COMMANDS=1000 $(CARGO) test -p server --test chaos -- --nocapture
	OFFICE_CHAOS_ROUNDS=200 $(CARGO) test -p amtsstube-tests --test office_desks desk_processes_killed -- --nocapture
	PICKUP_CHAOS_ROUNDS=100 $(CARGO) test -p amtsstube-tests --test office_pickup pickup_killed -- --nocapture
	LETTER_CHAOS_ROUNDS=100 $(CARGO) test -p amtsstube-tests --test office_pickup letters_sent -- --nocapture

# Fuzzing, long. First the mutation fuzzing on stable Rust: damaged submissions, event
# tokens, metadata, scans and configuration files (`make test` runs 48 cases per
# target; a failing input is kept under tests/tests/fuzz.proptest-regressions: commit
# it). Then, where a nightly toolchain is installed (`cargo +nightly`), the
# coverage-guided targets of tests/fuzz with cargo-fuzz (libFuzzer, AddressSanitizer),
# FUZZ_SECONDS each, seeded with the same samples; a finding is copied to
# tests/fuzz/regressions/<target>/, which `make test` replays: fix it and commit it.
FUZZ_CASES ?= 20000
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := submission metadata event_token scan config
CARGO_FUZZ := $(TOOLS)/bin/cargo-fuzz
CARGO_FUZZ_VERSION := 0.13.2
fuzz: deps
	FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release -p amtsstube-tests --test fuzz -- --nocapture
	@if $(CARGO) +nightly --version >/dev/null 2>&1; then $(MAKE) --no-print-directory fuzz-guided; \
	else echo "Kein nightly-Rust (cargo +nightly): nur die stabile Mutation lief, die geführte Suche (cargo-fuzz) nicht."; fi

$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(TOOLS)

fuzz-guided: $(CARGO_FUZZ)
	cp Cargo.lock tests/fuzz/Cargo.lock
	rm -rf target/fuzz/artifacts
	FUZZ_SEEDS=$(ROOT)/target/fuzz/corpus $(CARGO) test -p amtsstube-tests --test fuzz write_seed_corpus -- --ignored
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p target/fuzz/artifacts/$$t; \
	  if ! PATH="$(TOOLS)/bin:$$PATH" AMTSSTUBE_FUZZ_KEYS=$(ROOT)/target/fuzz/corpus/schluessel $(CARGO) +nightly fuzz run --fuzz-dir tests/fuzz $$t target/fuzz/corpus/$$t -- \
	      -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=20 -artifact_prefix=$(ROOT)/target/fuzz/artifacts/$$t/; then \
	    cp target/fuzz/artifacts/$$t/* tests/fuzz/regressions/$$t/; \
	    echo "Fund im Ziel $$t, abgelegt unter tests/fuzz/regressions/$$t/: beheben und einchecken." >&2; exit 1; \
	  fi; \
	done

# ---- other --------------------------------------------------------------------
bench: deps ui tools
	$(CARGO) bench -p store --bench store_bench
	$(CARGO) bench -p portal-sim --bench pickup_bench
	$(CARGO) bench -p amtsstube-tests --bench sync_bench
	$(CARGO) bench -p letters --bench letters_bench
	$(CARGO) bench -p reports --bench reports_bench
	$(CARGO) bench -p amtsstube-tests --bench dashboard_bench
	$(CARGO) bench -p amtsstube-tests --bench worklist_bench
	$(CARGO) bench -p amtsstube-tests --bench hostile_bench
	$(CARGO) bench -p amtsstube-tests --bench backup_bench
	AMTSSTUBE_OCR=aus $(CARGO) bench -p amtsstube-tests --bench scan_bench
	$(CARGO) bench -p server --bench office_bench
	$(CARGO) build --release -p workstation -p amtsstube-app --bin amtsstube --bin amtsstube-app
	$(XVFB) dbus-run-session -- node tests/benches/app_start.mjs

# The workstation's .deb (app, CLI, desktop entry, icons; see installer/README.md),
# built with dpkg-deb by the same script the package test uses.
package: ui
	$(CARGO) build --release -p workstation -p amtsstube-app --bin amtsstube --bin amtsstube-app
	installer/package-app.sh

# The Rathaus-Server's .deb (systemd unit, daily backup timer; see installer/README.md).
package-server: deps
	$(CARGO) build --release -p server --bin amtsstube-server
	installer/package-server.sh

# The Windows installer (NSIS 3 from Debian, no downloads): the CLI and the app
# cross-built in release mode; silent switches and what is left for a Windows build
# machine in installer/README.md. The installer itself is tested under Wine in
# `make test` (tests/tests/windows.rs, with the CLI alone).
package-windows: ui windows-target
	$(CARGO) build --release --target $(WINDOWS_TARGET) -p workstation -p amtsstube-app --bin amtsstube --bin amtsstube-app
	installer/package-windows.sh

clean:
	$(CARGO) clean
	rm -rf ui/dist ui/node_modules
