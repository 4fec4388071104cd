#!/usr/bin/env bash
# Python client benchmark: release hub + release wheel of bindings/python in
# their own venv, then bindings/python/bench.py against a fresh hub.
#
# Usage: scripts/bench-python.sh [bench.py args...]   e.g. --sends 2000 --events 20000
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
venv="$target_dir/bench-py-venv"

cargo build --release --locked -p tubemail-hub
test -x "$venv/bin/python" || "${PYTHON:-python3}" -m venv "$venv"
# pip builds the wheel with maturin in release mode (the default).
"$venv/bin/python" -m pip install -q --force-reinstall ./bindings/python
"$venv/bin/python" bindings/python/bench.py --hub-bin "$target_dir/release/tubemail-hub" "$@"
