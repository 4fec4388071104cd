# TubeMail: one entry point for running, installing, testing and benchmarking.
#   make run      build the web UI and the hub (only what changed), then start
#                 the hub on 127.0.0.1:8004 (data in ~/.local/share/tubemail)
#   make install  tubemail-hub (UI inside), claude-tm and tubemail into
#                 $(PREFIX)/bin (default ~/.local), with shell completions,
#                 man pages and systemd user units
#   make dist     the same as a release archive in target/dist
#   make wheel    the Python package with the three commands, in target/wheels
#   make test   every test: lints, Rust unit + integration tests, the TypeScript MCP
#               SDK test, the Python suites (original channel, MCP SDK), every
#               program in examples/ (Rust and Python) and the web UI (vitest + headless Chromium against a real hub), and the
#               end-to-end suite with the real Claude Code CLI (npm, offline)
#   make bench  release build + load generator, figures on stdout
#   make openapi  refresh frontend/openapi.json from the hub's route table and
#               the TypeScript types generated from it (commit both)

CARGO ?= cargo
PYTHON ?= python3
VENV := target/test-venv
VENV_PY := $(VENV)/bin/python

.PHONY: run test lint rust-test node-test python-test e2e-test install-test ui ui-test bench openapi \
	install dist wheel crate-ui stage venv

run: ui
	$(CARGO) run --release --locked -p tubemail-hub --

test: lint rust-test node-test python-test ui-test install-test e2e-test

# The web UI: frontend/dist, embedded into the hub at build time. Rebuilt
# only when its sources or lockfile changed. `npm run build` first
# generates src/lib/api-types.gen.ts from the committed openapi.json.
UI_SOURCES := $(shell find frontend/src frontend/public -type f 2>/dev/null) \
	frontend/index.html frontend/vite.config.ts frontend/tsconfig.json frontend/package.json \
	frontend/openapi.json

ui: frontend/dist/index.html

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $@

frontend/dist/index.html: frontend/node_modules/.package-lock.json $(UI_SOURCES)
	cd frontend && npm run build
	touch $@

# The hub's OpenAPI document (what GET /api/openapi.json serves) into
# frontend/openapi.json, and the UI's API types generated from it. The
# hub's test openapi_document and `npm run gen:check` (in lint) fail while
# either committed file is stale.
openapi: frontend/node_modules/.package-lock.json
	$(CARGO) run -q --locked -p tubemail-hub -- --openapi > frontend/openapi.json.tmp
	mv frontend/openapi.json.tmp frontend/openapi.json
	cd frontend && npm run gen

# Installing: PROFILE=release (default) builds the hub and the CLI with the
# release profile and claude-tm with the worker profile (built for a small
# footprint beside claude; see Cargo.toml). Any other PROFILE (e.g. dev,
# what the tests use to reuse their build) builds all three with it.
PREFIX ?= $(HOME)/.local
PROFILE ?= release
WORKER_PROFILE := $(if $(filter release,$(PROFILE)),worker,$(PROFILE))
profile_dir = target/$(if $(filter dev,$(1)),debug,$(1))
BIN_DIR := $(call profile_dir,$(PROFILE))
WORKER_BIN_DIR := $(call profile_dir,$(WORKER_PROFILE))
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
HOST := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
DIST := target/dist/tubemail-$(VERSION)-$(HOST)
STAGE := target/stage

# Everything that is installed, laid out under $(STAGE) as under a prefix.
stage: ui
	$(CARGO) build --locked --profile $(PROFILE) -p tubemail-hub -p tubemail
	$(CARGO) build --locked --profile $(WORKER_PROFILE) -p claude-tm
	rm -rf $(STAGE) && mkdir -p $(STAGE)/bin
	cp $(BIN_DIR)/tubemail-hub $(BIN_DIR)/tubemail $(STAGE)/bin/
	cp $(WORKER_BIN_DIR)/claude-tm $(WORKER_BIN_DIR)/claude-tm-supervise $(STAGE)/bin/
	scripts/stage-extras.sh $(STAGE) $(PREFIX)

install: stage
	mkdir -p $(PREFIX)
	cp -R $(STAGE)/. $(PREFIX)/
	@echo "installed into $(PREFIX): tubemail-hub, claude-tm, tubemail"
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "note: $(PREFIX)/bin is not on your PATH";; esac

# A release archive: the staged tree plus the docs, as one .tar.gz.
dist: stage
	rm -rf $(DIST) && mkdir -p $(DIST)
	cp -R $(STAGE)/. $(DIST)/
	cp README.md LICENSE TUTORIAL.md DEPLOYMENT.md $(DIST)/
	tar -C target/dist -czf $(DIST).tar.gz $(notdir $(DIST))
	@echo "$(DIST).tar.gz"

# The Python package (bindings/python) with the three commands inside, in
# the wheel's scripts (installed on the venv's PATH), as uv and ruff ship
# theirs. The wheel takes the binaries of PROFILE.
wheel: stage venv
	rm -rf bindings/python/tubemail.data && mkdir -p bindings/python/tubemail.data/scripts
	cp $(STAGE)/bin/* bindings/python/tubemail.data/scripts/
	$(VENV_PY) -m maturin build --locked --profile $(PROFILE) -m bindings/python/Cargo.toml --out target/wheels
	rm -rf bindings/python/tubemail.data

# The built UI inside the hub crate (bins/tubemail-hub/ui-dist), so the
# published crate carries it and `cargo install tubemail-hub` gets the UI.
crate-ui: ui
	rm -rf bins/tubemail-hub/ui-dist && cp -R frontend/dist bins/tubemail-hub/ui-dist

# Unit tests (vitest), then the browser suite: headless Chromium
# (CHROMIUM_BIN, default /usr/bin/chromium) against a real hub; screenshots
# of each tab land in target/ui-screenshots.
ui-test: ui
	$(CARGO) build -p tubemail-hub --locked
	cd frontend && npm test
	cd frontend && TUBEMAIL_HUB_BIN=$(CURDIR)/target/debug/tubemail-hub npm run e2e

# The venv of the Python suites, with what `make wheel` needs (maturin).
venv:
	test -x $(VENV_PY) || $(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install -q -r tests/install/requirements.txt

# make install, make dist and make wheel (with the dev build the other
# suites use), then the installed commands: the hub serving its embedded UI,
# a client round trip from the wheel in a fresh venv, the archive's layout.
install-test: venv
	$(CARGO) build --workspace --locked
	TUBEMAIL_MAKE="$(MAKE)" $(VENV_PY) -m pytest tests/install -q

# gen:check runs before any UI build, which regenerates the types.
lint: frontend/node_modules/.package-lock.json
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --locked
	cd frontend && npm run gen:check

# The workspace's tests, examples/rust's included (examples/rust/tests runs
# the orchestrator and the embedded hub as programs against a real hub).
rust-test:
	$(CARGO) build --workspace --locked
	$(CARGO) test --workspace --locked

# The official TypeScript MCP SDK against /mcp/.
node-test:
	$(CARGO) build --workspace --locked
	cd tests/mcp-node && npm ci --no-audit --no-fund --loglevel=error
	cd tests/mcp-node && TUBEMAIL_HUB_BIN=$(CURDIR)/target/debug/tubemail-hub npm test

# The original Python channel (PyPI tubemail-channel 1.2.0), the official
# Python MCP SDK, schemathesis against /api/openapi.json (tests/schema, its
# own venv), and our `tubemail` package (bindings/python, built by pip
# with maturin; the dev profile reuses the debug build above) against our hub,
# which also runs the programs in examples/python (test_examples.py).
python-test:
	$(CARGO) build --workspace --locked
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -r tests/compat/requirements.txt -r tests/mcp/requirements.txt -r tests/schema/requirements.txt -r bindings/python/tests/requirements.txt
	MATURIN_PEP517_ARGS="--profile dev" $(VENV)/bin/python -m pip install -q --force-reinstall ./bindings/python
	TUBEMAIL_HUB_BIN=$(CURDIR)/target/debug/tubemail-hub $(VENV)/bin/python -m pytest tests/compat tests/mcp tests/schema bindings/python/tests -q

# The real Claude Code CLI under claude-tm in a pty, against a real hub and
# a fake model endpoint; also through the Python bindings, built into the
# venv with maturin. Once per CLI version: every version pinned in
# tests/e2e/versions/ (each with its own lockfile, installed with npm into
# target/claude-code/<version>), oldest first. Any other version, the
# newest included: make e2e-test CLAUDE_VERSIONS=latest
CLAUDE_VERSIONS ?= $(shell ls tests/e2e/versions | sort -V)

e2e-test:
	$(CARGO) build --workspace --locked
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -r tests/e2e/requirements.txt
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop -q -m bindings/python/Cargo.toml
	set -e; for v in $(CLAUDE_VERSIONS); do \
	  echo "== end-to-end suite with Claude Code $$v"; \
	  TUBEMAIL_CLAUDE_VERSION=$$v TUBEMAIL_HUB_BIN=$(CURDIR)/target/debug/tubemail-hub \
	    TUBEMAIL_CLAUDE_TM_BIN=$(CURDIR)/target/debug/claude-tm \
	    $(VENV)/bin/python -m pytest tests/e2e -q; \
	done

bench:
	scripts/bench.sh
