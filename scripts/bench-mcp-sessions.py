#!/usr/bin/env python3
"""Hub memory per idle MCP session.

Spawns a hub (default target/debug/tubemail-hub) on a temporary data dir,
opens N MCP sessions with one credential (initialize + initialized, then
left idle) and prints the hub's RSS before and after, and the delta per
session opened. Extra arguments go to the hub, e.g. the old behaviour (no
cap, 5 minutes idle) with `--mcp-max-sessions 100000 --mcp-session-idle-s 300`.

Usage: scripts/bench-mcp-sessions.py [--hub BIN] [-n N] [-- hub args...]
Standard library only.
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

SECRET = "bench-mcp-sessions-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def post(port: int, body: dict, sid: str | None = None) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {
        "Authorization": f"Bearer {SECRET}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    if sid:
        headers["Mcp-Session-Id"] = sid
    conn.request("POST", "/mcp/", json.dumps(body), headers)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, resp.getheader("mcp-session-id")


def open_session(port: int) -> None:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    }
    status, sid = post(port, init)
    if status != 200 or not sid:
        raise RuntimeError(f"initialize answered {status}")
    post(port, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)


def settled(pid: int) -> int:
    """RSS once it stops changing (at most 5 s)."""
    last, deadline = rss_kib(pid), time.time() + 5
    while time.time() < deadline:
        time.sleep(0.5)
        now = rss_kib(pid)
        if now == last:
            break
        last = now
    return last


def live_sessions(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {SECRET}"})
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        if line.startswith("tubemail_mcp_sessions "):
            return int(line.split()[1])
    return -1


def main() -> int:
    argv = sys.argv[1:]
    hub_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, hub_args = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser()
    p.add_argument("--hub", default="target/debug/tubemail-hub")
    p.add_argument("-n", type=int, default=500, help="sessions to open")
    args = p.parse_args(argv)
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, TUBEMAIL_SECRET=SECRET)
        hub = subprocess.Popen(
            [args.hub, "--bind", f"127.0.0.1:{port}", "--data-dir", data, "--log", "warn", *hub_args],
            env=env,
        )
        try:
            for _ in range(200):
                try:
                    http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/health")
                    break
                except OSError:
                    time.sleep(0.05)
            open_session(port)  # warm up: first-use allocations are not per session
            before = settled(hub.pid)
            t = time.time()
            for _ in range(args.n):
                open_session(port)
            took = time.time() - t
            after = settled(hub.pid)
            live = live_sessions(port)
            delta = after - before
            print(f"hub args: {' '.join(hub_args) or '(defaults)'}")
            print(f"sessions opened: {args.n} in {took:.1f} s; live now: {live}")
            print(f"RSS before: {before} KiB, after: {after} KiB, delta: {delta} KiB")
            print(f"per session opened: {delta / args.n:.1f} KiB")
            if live > 1:
                print(f"per live session: {delta / (live - 1):.1f} KiB")
        finally:
            hub.terminate()
            hub.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
