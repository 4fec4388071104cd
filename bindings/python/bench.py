"""Benchmark of the ``tubemail`` Python package against a freshly spawned hub.

    scripts/bench-python.sh            # release hub + release wheel, then this
    python bindings/python/bench.py --hub-bin target/release/tubemail-hub [--sends 5000] [--events 50000]

Measures:

* ``Client.send()`` round trip: sequential sends on loopback, each timed
  from the call to the returned ``SendReceipt`` (the hub answers once the
  message is on disk). Target: p50 < 1 ms.
* Event iterator throughput: a worker timeline of N events, read back
  through ``Client.worker_events(since=...)`` (the same SSE stream and
  resume path as live events, so the hub is not the limit). Target:
  >= 20 000 events/s. The ``AsyncEventIterator`` is measured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tubemail


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_hub(binary: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    secret = secrets.token_urlsafe(24)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TUBEMAIL_", "TM_"))}
    env |= {"TUBEMAIL_SECRET": secret, "RUST_LOG": "warn"}
    proc = subprocess.Popen(
        [binary, "--bind", f"127.0.0.1:{port}", "--data-dir", str(data_dir)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    client = tubemail.Client(url, secret)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.health()
            return proc, url, secret
        except tubemail.Unreachable:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def pct(sorted_ms: list[float], p: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p))]


def bench_send(client: tubemail.Client, n: int) -> dict[str, float]:
    worker = "bench-send-tm"
    for i in range(200):  # warm up connections and the hub's caches
        client.send(worker, f"warm {i}")
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        client.send(worker, f"message {i}")
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "p50": pct(times, 0.50),
        "p90": pct(times, 0.90),
        "p99": pct(times, 0.99),
        "max": times[-1],
        "mean": statistics.fmean(times),
    }


async def fill(client: tubemail.AsyncClient, worker: str, n: int) -> str:
    """Puts n messages on ``worker``'s timeline (64 in flight); returns the id
    just before the first."""
    before = await client.send(worker, "start")
    sem = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with sem:
            await client.send(worker, f"event {i}")

    await asyncio.gather(*(one(i) for i in range(n)))
    return before.event_id


def bench_iter(client: tubemail.Client, worker: str, since: str, n: int) -> float:
    with client.worker_events(worker, since=since) as events:
        t0 = time.perf_counter()
        count = 0
        for ev in events:
            if ev.id is not None:
                count += 1
                if count == n:
                    break
        return n / (time.perf_counter() - t0)


async def bench_aiter(client: tubemail.AsyncClient, worker: str, since: str, n: int) -> float:
    stream = await client.worker_events(worker, since=since)
    t0 = time.perf_counter()
    count = 0
    async for ev in stream:
        if ev.id is not None:
            count += 1
            if count == n:
                break
    rate = n / (time.perf_counter() - t0)
    await stream.aclose()
    return rate


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hub-bin", default="target/release/tubemail-hub")
    p.add_argument("--sends", type=int, default=5000)
    p.add_argument("--events", type=int, default=50000)
    p.add_argument("--runs", type=int, default=3, help="iterator runs (best and all are reported)")
    args = p.parse_args()

    print(f"python {platform.python_version()}, tubemail {tubemail.__version__} ({tubemail.__file__})")
    print(f"cpus {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="tm-pybench-") as tmp:
        proc, url, secret = start_hub(args.hub_bin, Path(tmp))
        client, aclient = tubemail.Client(url, secret), tubemail.AsyncClient(url, secret)
        try:
            s = bench_send(client, args.sends)
            print(
                f"send round trip ({args.sends} sequential): p50 {s['p50']:.3f} ms, p90 {s['p90']:.3f} ms, "
                f"p99 {s['p99']:.3f} ms, max {s['max']:.2f} ms, mean {s['mean']:.3f} ms "
                f"[target p50 < 1 ms: {'met' if s['p50'] < 1 else 'MISSED'}]"
            )

            worker = "bench-iter-tm"
            t0 = time.perf_counter()
            since = asyncio.run(fill(aclient, worker, args.events))
            fill_s = time.perf_counter() - t0
            print(f"filled {args.events} events in {fill_s:.1f} s ({args.events / fill_s:.0f} sends/s, AsyncClient, 64 in flight)")

            rates = [bench_iter(client, worker, since, args.events) for _ in range(args.runs)]
            print(
                f"EventIterator: {max(rates):.0f} events/s best of {args.runs} "
                f"({', '.join(f'{r:.0f}' for r in rates)}) "
                f"[target >= 20000: {'met' if max(rates) >= 20000 else 'MISSED'}]"
            )
            arates = [asyncio.run(bench_aiter(aclient, worker, since, args.events)) for _ in range(args.runs)]
            print(f"AsyncEventIterator: {max(arates):.0f} events/s best of {args.runs} ({', '.join(f'{r:.0f}' for r in arates)})")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
