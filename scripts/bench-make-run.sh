#!/usr/bin/env bash
# `make run` on a tree that is already built: how long from the command to
# a hub answering /health. Builds first (not timed), then starts `make run`
# RUNS times (default 5), each with a fresh data dir on a free port, and
# prints each time with the median and the worst.
#
# Usage: scripts/bench-make-run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}

make --no-print-directory ui >/dev/null
cargo build --release --locked -p tubemail-hub 2>/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
times=()
for i in $(seq "$runs"); do
  data=$(mktemp -d)
  start=$(date +%s.%N)
  TUBEMAIL_BIND=127.0.0.1:$port TUBEMAIL_DATA_DIR=$data setsid make --no-print-directory run >"$data/out.log" 2>&1 &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/health" >/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$data/out.log" >&2; exit 1; fi
    sleep 0.02
  done
  end=$(date +%s.%N)
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$data"
  t=$(echo "$end - $start" | bc)
  times+=("$t")
  printf 'run %d: %.2f s\n' "$i" "$t"
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "make run -> /health 200: median %.2f s, worst %.2f s (%d runs)\n", a[int((NR+1)/2)], a[NR], NR}'
