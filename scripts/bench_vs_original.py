"""Side-by-side benchmark: the original Python hub (PyPI tubemail 1.2.0) and
ours (release build), the same scenarios with the same client in one run.

Run it through scripts/bench-vs-original.sh, which installs the original
into a venv, builds ours and calls this with that venv's Python (httpx
comes with the original's dependencies).

Every scenario speaks only what both hubs share: POST /tubemail/{w}/register,
GET /tubemail/{w}/stream (SSE), MCP at /mcp/ (tm_send, tm_status) and
GET /health. Messages are matched on the stream by a unique token in their
text, so neither hub's ids matter. The bearer is sent everywhere (the
original ignores it on /mcp/).

Scenarios, each hub fresh (own temp data dir, random secret):
  cold start   process spawn -> first /health 200 (median of --starts)
  memory       RSS with 10, 100, 1000 registered workers, each streaming
  latency      sequential tm_send -> arrival on the worker's stream
  throughput   concurrent tm_send for --seconds; acknowledged vs arrived
  mcp          tm_status round trip
  reconnect    a worker's stream cut while messages are sent; reopened
               with Last-Event-ID (the last SSE id seen, if the hub sends
               ids): messages that never arrive on the stream are lost
  lean client  with --bench: `tubemail-bench mcp --url` (Rust, raw HTTP, one
               MCP session) against the same hub: tm_status and tm_send ->
               stream arrival without this script's Python client cost,
               which is about the same for both hubs and hides their
               difference
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    """Resident set of pid plus its children (uvicorn runs one process)."""
    total = 0
    pids = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


@dataclass
class HubSpec:
    name: str
    argv: list[str]  # {port} and {data} are filled in
    env: dict[str, str]  # data dir env var etc.; {data} filled in


@dataclass
class Hub:
    spec: HubSpec
    proc: subprocess.Popen[bytes]
    base: str
    secret: str
    workdir: Path
    started_s: float

    @classmethod
    async def start(cls, spec: HubSpec) -> "Hub":
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-{spec.name}-"))
        data = workdir / "data"
        data.mkdir()
        port = free_port()
        secret = secrets.token_urlsafe(24)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TUBEMAIL_", "TM_"))}
        env.update({k: v.format(data=data, port=port) for k, v in spec.env.items()})
        env["TUBEMAIL_SECRET"] = secret
        argv = [a.format(data=data, port=port) for a in spec.argv]
        log = open(workdir / "hub.log", "wb")
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=2.0) as c:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{spec.name} exited: {(workdir / 'hub.log').read_text()[-2000:]}")
                try:
                    r = await c.get(base + "/health")
                    if r.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{spec.name}: no /health in 60 s")
                await asyncio.sleep(0.005)
        return cls(spec, proc, base, secret, workdir, time.perf_counter() - t0)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


class Client:
    """Short requests, MCP and SSE streams against one hub."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.auth = {"Authorization": f"Bearer {hub.secret}"}
        self.http = httpx.AsyncClient(
            base_url=hub.base, headers=self.auth, timeout=30.0, limits=httpx.Limits(max_connections=64)
        )
        self.streams = httpx.AsyncClient(
            base_url=hub.base,
            headers=self.auth,
            timeout=httpx.Timeout(30.0, read=None),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
        )
        self.session: str | None = None
        self.rpc_id = 0

    async def close(self) -> None:
        await self.http.aclose()
        await self.streams.aclose()

    async def register(self, worker: str) -> None:
        r = await self.http.post(f"/tubemail/{worker}/register", json={"cwd": "/bench", "pid": os.getpid()})
        r.raise_for_status()

    async def mcp(self, method: str, params: dict[str, Any], notify: bool = False) -> Any:
        headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
        if self.session:
            headers["Mcp-Session-Id"] = self.session
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if not notify:
            self.rpc_id += 1
            body["id"] = self.rpc_id
        r = await self.http.post("/mcp/", json=body, headers=headers)
        if r.status_code >= 300:
            raise RuntimeError(f"MCP {method}: HTTP {r.status_code} {r.text[:300]}")
        if "mcp-session-id" in r.headers:
            self.session = r.headers["mcp-session-id"]
        if notify:
            return None
        text = r.text
        if r.headers.get("content-type", "").startswith("text/event-stream"):
            for line in text.splitlines():
                if line.startswith("data:") and line[5:].strip():
                    msg = json.loads(line[5:])
                    if msg.get("id") == body["id"]:
                        return msg
            raise RuntimeError(f"MCP {method}: no response in {text[:300]}")
        return json.loads(text)

    async def mcp_init(self) -> None:
        await self.mcp(
            "initialize",
            {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
        )
        await self.mcp("notifications/initialized", {}, notify=True)

    async def tool(self, name: str, args: dict[str, Any]) -> Any:
        msg = await self.mcp("tools/call", {"name": name, "arguments": args})
        if "error" in msg or msg.get("result", {}).get("isError"):
            raise RuntimeError(f"{name}: {json.dumps(msg)[:300]}")
        return msg["result"]


@dataclass
class Stream:
    """One worker's SSE stream: records when each token arrived."""

    worker: str
    arrived: dict[str, float] = field(default_factory=dict)
    last_id: str | None = None
    task: asyncio.Task[None] | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self, client: Client, last_event_id: str | None = None) -> None:
        self.opened = asyncio.Event()
        self.task = asyncio.create_task(self._run(client, last_event_id))

    async def _run(self, client: Client, last_event_id: str | None) -> None:
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        async with client.streams.stream("GET", f"/tubemail/{self.worker}/stream", headers=headers) as r:
            r.raise_for_status()
            self.opened.set()
            event, data, sid = None, [], None
            async for line in r.aiter_lines():
                if line == "":
                    if event == "channel_event" and data:
                        try:
                            content = json.loads("\n".join(data)).get("content", "")
                        except json.JSONDecodeError:
                            content = ""
                        self.arrived.setdefault(content, time.perf_counter())
                    if sid:
                        self.last_id = sid
                    event, data, sid = None, [], None
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
                elif line.startswith("id:"):
                    sid = line[3:].strip()

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass


async def open_streams(client: Client, names: list[str], concurrency: int = 50) -> list[Stream]:
    sem = asyncio.Semaphore(concurrency)

    async def one(n: str) -> Stream:
        async with sem:
            await client.register(n)
            s = Stream(n)
            s.start(client)
            await asyncio.wait_for(s.opened.wait(), 30)
            return s

    return list(await asyncio.gather(*(one(n) for n in names)))


async def wait_for(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.002)
    return pred()


async def settle_rss(pid: int, min_s: float = 2.0) -> int:
    await asyncio.sleep(min_s)
    # Wait until two samples 0.5 s apart agree within 2 %.
    prev = rss_kib(pid)
    for _ in range(20):
        await asyncio.sleep(0.5)
        cur = rss_kib(pid)
        if abs(cur - prev) <= prev * 0.02:
            return cur
        prev = cur
    return prev


# ── scenarios ────────────────────────────────────────────────────────────


async def cold_start(spec: HubSpec, n: int) -> dict[str, Any]:
    times = []
    for _ in range(n):
        hub = await Hub.start(spec)
        times.append(hub.started_s)
        hub.stop()
    return {"cold_start_ms": statistics.median(times) * 1000, "cold_start_all_ms": [round(t * 1000, 1) for t in times]}


async def memory(spec: HubSpec, steps: list[int]) -> dict[str, Any]:
    hub = await Hub.start(spec)
    client = Client(hub)
    out: dict[str, Any] = {"rss_idle_kib": await settle_rss(hub.proc.pid, 1.0)}
    streams: list[Stream] = []
    try:
        have = 0
        for n in steps:
            names = [f"mem-{i:05d}" for i in range(have, n)]
            streams += await open_streams(client, names)
            have = n
            out[f"rss_{n}_kib"] = await settle_rss(hub.proc.pid)
    finally:
        await asyncio.gather(*(s.stop() for s in streams))
        await client.close()
        hub.stop()
    return out


async def latency_throughput_mcp(spec: HubSpec, args: argparse.Namespace) -> dict[str, Any]:
    hub = await Hub.start(spec)
    client = Client(hub)
    out: dict[str, Any] = {}
    streams: list[Stream] = []
    try:
        await client.mcp_init()
        names = [f"lat-{i:04d}" for i in range(args.workers)]
        streams = await open_streams(client, names)
        # Delivery latency: one message at a time, send -> arrival.
        lat: list[float] = []
        lost = 0
        for i in range(args.warmup + args.messages):
            s = streams[i % len(streams)]
            token = f"lat-{i}-{secrets.token_hex(4)}"
            t0 = time.perf_counter()
            await client.tool("tm_send", {"worker": s.worker, "message": token})
            if not await wait_for(lambda: token in s.arrived, args.deadline):
                lost += 1
                continue
            if i >= args.warmup:
                lat.append(s.arrived[token] - t0)
        out["latency_p50_ms"] = pct(lat, 50) * 1000
        out["latency_p99_ms"] = pct(lat, 99) * 1000
        out["latency_lost"] = lost
        # Throughput: concurrent senders, each with its own MCP session.
        senders = []
        for _ in range(args.senders):
            c = Client(hub)
            await c.mcp_init()
            senders.append(c)
        acked: list[tuple[Stream, str]] = []
        errors = 0
        stop_at = time.monotonic() + args.seconds

        async def sender(c: Client, k: int) -> None:
            nonlocal errors
            j = 0
            while time.monotonic() < stop_at:
                s = streams[(k * 7919 + j) % len(streams)]
                token = f"tp-{k}-{j}"
                j += 1
                try:
                    await c.tool("tm_send", {"worker": s.worker, "message": token})
                    acked.append((s, token))
                except Exception:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(sender(c, k) for k, c in enumerate(senders)))
        elapsed = time.perf_counter() - t0
        await wait_for(lambda: all(t in s.arrived for s, t in acked), args.deadline)
        arrived = sum(1 for s, t in acked if t in s.arrived)
        out["throughput_msg_s"] = len(acked) / elapsed
        out["throughput_acked"] = len(acked)
        out["throughput_lost"] = len(acked) - arrived
        out["throughput_errors"] = errors
        for c in senders:
            await c.close()
        # MCP call latency: tm_status.
        mcp: list[float] = []
        for i in range(args.warmup + args.mcp_calls):
            t0 = time.perf_counter()
            await client.tool("tm_status", {"worker": streams[i % len(streams)].worker})
            if i >= args.warmup:
                mcp.append(time.perf_counter() - t0)
        out["mcp_p50_ms"] = pct(mcp, 50) * 1000
        out["mcp_p99_ms"] = pct(mcp, 99) * 1000
    finally:
        await asyncio.gather(*(s.stop() for s in streams))
        await client.close()
        hub.stop()
    return out


async def reconnect(spec: HubSpec, args: argparse.Namespace) -> dict[str, Any]:
    hub = await Hub.start(spec)
    client = Client(hub)
    try:
        await client.mcp_init()
        (s,) = await open_streams(client, ["rc-worker"])
        tokens: list[str] = []

        async def send(n: int, tag: str) -> None:
            for i in range(n):
                t = f"rc-{tag}-{i}"
                tokens.append(t)
                await client.tool("tm_send", {"worker": s.worker, "message": t})

        n = args.reconnect_messages
        await send(n, "before")
        await wait_for(lambda: all(t in s.arrived for t in tokens), args.deadline)
        await s.stop()  # the connection drops
        await send(n, "while-down")
        s.start(client, s.last_id)  # the client resumes where it was
        await asyncio.wait_for(s.opened.wait(), 30)
        await send(n, "after")
        await wait_for(lambda: all(t in s.arrived for t in tokens), args.deadline)
        lost = [t for t in tokens if t not in s.arrived]
        await s.stop()
        return {"reconnect_sent": len(tokens), "reconnect_lost": len(lost)}
    finally:
        await client.close()
        hub.stop()


BENCH_LINE = re.compile(r"^\s*(tools/call tm_status|tm_send -> arrival on the stream):\s+p50 ([\d.]+) ms, p90 [\d.]+ ms, p99 ([\d.]+) ms")


async def lean_client(spec: HubSpec, args: argparse.Namespace) -> dict[str, Any]:
    """tubemail-bench's mcp scenario (Rust) against a fresh hub."""
    hub = await Hub.start(spec)
    try:
        cmd = [args.bench, "mcp", "--url", hub.base, "--mcp-wakes", "0", "--mcp-calls", str(args.lean_calls)]
        env = dict(os.environ, TUBEMAIL_SECRET=hub.secret, RUST_LOG="warn")
        out = await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr[-2000:]}")
        res: dict[str, Any] = {}
        for line in out.stdout.splitlines():
            m = BENCH_LINE.match(line)
            if m:
                key = "lean_status" if m.group(1).startswith("tools") else "lean_delivery"
                res[f"{key}_p50_ms"] = float(m.group(2))
                res[f"{key}_p99_ms"] = float(m.group(3))
        if len(res) != 4:
            raise RuntimeError(f"unexpected tubemail-bench output:\n{out.stdout}")
        return res
    finally:
        hub.stop()


async def run_hub(spec: HubSpec, args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {}
    print(f"[{spec.name}] cold start", file=sys.stderr)
    res.update(await cold_start(spec, args.starts))
    print(f"[{spec.name}] memory", file=sys.stderr)
    res.update(await memory(spec, args.memory_steps))
    print(f"[{spec.name}] latency, throughput, mcp", file=sys.stderr)
    res.update(await latency_throughput_mcp(spec, args))
    print(f"[{spec.name}] reconnect", file=sys.stderr)
    res.update(await reconnect(spec, args))
    if args.bench:
        print(f"[{spec.name}] lean client (tubemail-bench mcp)", file=sys.stderr)
        res.update(await lean_client(spec, args))
    return res


ROWS = [
    ("cold start (spawn -> /health 200), median ms", "cold_start_ms", "lower"),
    ("RSS idle, MiB", "rss_idle_kib", "lower"),
    ("RSS, 10 workers streaming, MiB", "rss_10_kib", "lower"),
    ("RSS, 100 workers streaming, MiB", "rss_100_kib", "lower"),
    ("RSS, 1000 workers streaming, MiB", "rss_1000_kib", "lower"),
    ("delivery latency p50 (tm_send -> stream), ms", "latency_p50_ms", "lower"),
    ("delivery latency p99, ms", "latency_p99_ms", "lower"),
    ("messages lost (latency run)", "latency_lost", "count"),
    ("throughput, acknowledged tm_send/s", "throughput_msg_s", "higher"),
    ("throughput: acknowledged, not delivered", "throughput_lost", "count"),
    ("throughput: failed sends", "throughput_errors", "count"),
    ("MCP tm_status p50, ms", "mcp_p50_ms", "lower"),
    ("MCP tm_status p99, ms", "mcp_p99_ms", "lower"),
    ("messages lost across a stream reconnect (of sent)", "reconnect_lost", "count"),
    ("lean client: delivery p50 (tm_send -> stream), ms", "lean_delivery_p50_ms", "lower"),
    ("lean client: delivery p99, ms", "lean_delivery_p99_ms", "lower"),
    ("lean client: MCP tm_status p50, ms", "lean_status_p50_ms", "lower"),
    ("lean client: MCP tm_status p99, ms", "lean_status_p99_ms", "lower"),
]


def fmt(key: str, v: Any) -> str:
    if v is None:
        return "-"
    if key.endswith("_kib"):
        return f"{v / 1024:.1f}"
    if isinstance(v, float):
        return f"{v:.2f}" if v < 100 else f"{v:.0f}"
    return str(v)


def table(orig: dict[str, Any], ours: dict[str, Any]) -> str:
    lines = ["| scenario | original 1.2.0 | ours | ratio |", "|---|---:|---:|---:|"]
    for label, key, better in ROWS:
        o, r = orig.get(key), ours.get(key)
        ratio = "-"
        if isinstance(o, (int, float)) and isinstance(r, (int, float)) and better != "count":
            if better == "lower" and r > 0:
                ratio = f"{o / r:.1f}× lower"
            elif better == "higher" and o > 0:
                ratio = f"{r / o:.1f}× higher"
        if key == "reconnect_lost":
            o = f"{o} of {orig.get('reconnect_sent')}"
            r = f"{r} of {ours.get('reconnect_sent')}"
            lines.append(f"| {label} | {o} | {r} | {ratio} |")
            continue
        lines.append(f"| {label} | {fmt(key, o)} | {fmt(key, r)} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", required=True, help="our release tubemail-hub binary")
    ap.add_argument("--original-venv", required=True, help="venv with tubemail==1.2.0 (uvicorn inside)")
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--memory-steps", type=lambda s: [int(x) for x in s.split(",")], default=[10, 100, 1000])
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--senders", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--mcp-calls", type=int, default=300)
    ap.add_argument("--reconnect-messages", type=int, default=20)
    ap.add_argument("--deadline", type=float, default=5.0, help="a message not on its stream after this is lost")
    ap.add_argument("--bench", help="tubemail-bench binary: adds the lean-client rows")
    ap.add_argument("--lean-calls", type=int, default=2000, help="measured calls and sends of the lean client")
    ap.add_argument("--json", help="also write both columns here as JSON")
    args = ap.parse_args()

    venv = Path(args.original_venv)
    original = HubSpec(
        "original",
        [
            str(venv / "bin" / "python"),
            "-m",
            "uvicorn",
            "--factory",
            "tubemail_hub.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--log-level",
            "warning",
        ],
        {"TUBEMAIL_DATA_DIR": "{data}"},
    )
    ours = HubSpec(
        "ours",
        [args.ours, "--bind", "127.0.0.1:{port}", "--data-dir", "{data}"],
        {"RUST_LOG": "warn"},
    )
    results = {}
    for spec in (original, ours):
        results[spec.name] = asyncio.run(run_hub(spec, args))
    print(table(results["original"], results["ours"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
