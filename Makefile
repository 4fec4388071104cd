# TubeMail: one entry point for running, testing and benchmarking.
#   make run    build the web UI, then start the hub on 127.0.0.1:8004
#               (data in ~/.local/share/tubemail)
#   make test   every test: lints, Rust unit + integration tests, the TypeScript MCP
#               SDK test, the Python suites (original channel, MCP SDK) and the
#               web UI (vitest + headless Chromium against a real hub), and the
#               end-to-end suite with the real Claude Code CLI (npm, offline)
#   make bench  release build + load generator, figures on stdout

CARGO ?= cargo
PYTHON ?= python3
VENV := target/test-venv

.PHONY: run test lint rust-test node-test python-test e2e-test ui ui-test bench

run: ui
	$(CARGO) run --release -p tubemail-hub --

test: lint rust-test node-test python-test ui-test e2e-test

# The web UI: frontend/dist, embedded into the hub at build time.
ui:
	cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build

# Unit tests (vitest), then the browser suite: headless Chromium
# (CHROMIUM_BIN, default /usr/bin/chromium) against a real hub; screenshots
# of each tab land in target/ui-screenshots.
ui-test: ui
	$(CARGO) build -p tubemail-hub --locked
	cd frontend && npm test
	cd frontend && TUBEMAIL_HUB_BIN=$(CURDIR)/target/debug/tubemail-hub npm run e2e

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --locked

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
# with maturin; the dev profile reuses the debug build above) against our hub.
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
