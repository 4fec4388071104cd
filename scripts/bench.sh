#!/usr/bin/env bash
# Builds the hub and the bench in release mode and runs every bench scenario
# with its defaults against a freshly spawned hub, teeing the report.
#
# Usage: scripts/bench.sh [tubemail-bench args...]   e.g. scripts/bench.sh latency --messages 500
# Output: target/bench/bench-<timestamp>.txt (report on stdout, logs on stderr; both teed).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cargo build --release -p tubemail-bench -p tubemail-hub -p claude-tm

# The memory scenario holds ~1000 SSE connections: one fd each in the bench
# and in the hub (which inherits this limit).
want=4096
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi
echo "open files limit: $(ulimit -n)" >&2

target_dir="${CARGO_TARGET_DIR:-$root/target}"
out_dir="$target_dir/bench"
mkdir -p "$out_dir"
out="$out_dir/bench-$(date +%Y%m%d-%H%M%S).txt"

"$target_dir/release/tubemail-bench" --hub-bin "$target_dir/release/tubemail-hub" "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
echo "report saved to $out" >&2
exit "$status"
