# TubeMail: one entry point for running, testing and benchmarking.
#   make run    start the hub on 127.0.0.1:8004 (data in ~/.local/share/tubemail)
#   make test   every test: lints, Rust unit + integration tests, Python compat suite
#   make bench  release build + load generator, figures on stdout

CARGO ?= cargo
PYTHON ?= python3
VENV := target/test-venv

.PHONY: run test lint rust-test compat-test bench

run:
	$(CARGO) run --release -p tubemail-hub --

test: lint rust-test compat-test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --locked

rust-test:
	$(CARGO) build --workspace --locked
	$(CARGO) test --workspace --locked

# The original Python channel (PyPI tubemail-channel 1.2.0) against our hub.
compat-test:
	$(CARGO) build --workspace --locked
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q -r tests/compat/requirements.txt
	TUBEMAIL_HUB_BIN=$(CURDIR)/target/debug/tubemail-hub $(VENV)/bin/python -m pytest tests/compat -q

bench:
	scripts/bench.sh
