#!/usr/bin/env bash
# Side-by-side benchmark against the original Python hub: installs PyPI
# tubemail 1.2.0 into a venv under target/ (with fastmcp 2.14, the release
# it was built against: later fastmcp refuses its task tools), builds our
# hub and tubemail-bench in release mode, and runs scripts/bench_vs_original.py
# with the same clients against both (its Python client, then tubemail-bench's
# lean Rust MCP client). Figures go to BENCHMARKS.md by hand.
#
# Usage: scripts/bench-vs-original.sh [bench_vs_original.py args...]
#   e.g. scripts/bench-vs-original.sh --messages 500 --memory-steps 10,100,1000
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
venv="$target_dir/original-venv"

if ! "$venv/bin/python" -c 'import tubemail_hub, httpx' >/dev/null 2>&1; then
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install -q "tubemail==1.2.0" "fastmcp>=2.14,<2.15"
fi
cargo build --release --locked -p tubemail-hub -p tubemail-bench

# 1000 streams: one fd each in the client and in the hub.
want=4096
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi

out_dir="$target_dir/bench"
mkdir -p "$out_dir"
out="$out_dir/vs-original-$(date +%Y%m%d-%H%M%S)"
"$venv/bin/python" scripts/bench_vs_original.py \
  --ours "$target_dir/release/tubemail-hub" --bench "$target_dir/release/tubemail-bench" --original-venv "$venv" --json "$out.json" "$@" | tee "$out.md"
echo "report saved to $out.md and $out.json" >&2
