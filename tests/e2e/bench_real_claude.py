"""Latency figures with the real Claude Code CLI (BENCHMARKS.md).

* TUI ready → worker online: from the first screenshot (through the hub,
  polled every 20 ms) that shows the idle prompt until the hub reports the
  worker online (negative: online before the prompt was drawn); over a few
  fresh starts.
* send → text in the model request: from the orchestrator's ``send`` (Python
  bindings) until the fake model endpoint has read the request that carries
  the message; one message at a time, each turn finished before the next.
* permission request → hub: from the fake model's ``tool_use`` answer until
  the hub lists the pending prompt; hub → decision applied: from the
  orchestrator's ``allow`` until the CLI sends the tool's result back.

Usage (after ``make e2e-test`` built everything)::

    TUBEMAIL_HUB_BIN=target/debug/tubemail-hub TUBEMAIL_CLAUDE_TM_BIN=target/debug/claude-tm \\
      TUBEMAIL_CLAUDE_VERSION=2.1.332 \\
      target/test-venv/bin/python tests/e2e/bench_real_claude.py [MESSAGES] [PROMPTS] [STARTS]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tubemail  # noqa: E402

from fakeapi import FakeApi  # noqa: E402
from support import INSTALLED, REPO, E2EHub, Orchestrator, Worker, install_claude, shut_down, token, wait_until  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def show(label: str, xs: list[float]) -> None:
    ms = [x * 1000 for x in xs]
    print(
        f"{label}: n={len(ms)} p50={statistics.median(ms):.1f} ms p90={pct(ms, 90):.1f} ms "
        f"min={min(ms):.1f} ms max={max(ms):.1f} ms",
        flush=True,
    )


def main() -> None:
    n_msgs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    n_prompts = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    n_starts = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    exe, why = install_claude(Path(os.environ.get("TUBEMAIL_CLAUDE_CODE_DIR", REPO / "target" / "claude-code")))
    if exe is None:
        sys.exit(f"cannot install the CLI: {why}")
    tmp = Path(tempfile.mkdtemp(prefix="tm-bench-"))
    api = FakeApi().start()
    hub = E2EHub(Path(os.environ.get("TUBEMAIL_HUB_BIN", REPO / "target/debug/tubemail-hub")).resolve(), tmp / "hub")
    hub.wait_healthy()
    tm = Orchestrator(hub)
    claude_tm = Path(os.environ.get("TUBEMAIL_CLAUDE_TM_BIN", REPO / "target/debug/claude-tm")).resolve()
    client = tubemail.Client(hub.base, hub.secret)
    print(f"Claude Code {INSTALLED['version']}", flush=True)

    online_after_ready: list[float] = []
    for i in range(n_starts):
        s = Worker(tmp, f"start{i}", hub=hub, api_url=api.url, claude=exe, claude_tm=claude_tm)
        try:
            ready_at = online_at = None
            deadline = time.monotonic() + 90
            while (ready_at is None or online_at is None) and time.monotonic() < deadline:
                now = time.time()
                if online_at is None and any(x.name == s.name and x.online for x in client.workers()):
                    online_at = now
                if ready_at is None:
                    try:
                        if "for shortcuts" in client.screenshot(s.name):
                            ready_at = now
                    except Exception:  # noqa: BLE001 - the manager is not up yet
                        pass
                time.sleep(0.02)
            if ready_at is None or online_at is None:
                sys.exit(f"start {i}: ready={ready_at} online={online_at}\n{s.describe()}")
            online_after_ready.append(online_at - ready_at)
        finally:
            client.stop(s.name)
            s.proc.wait(timeout=60)
            s.stop()
    show("TUI ready → worker online", online_after_ready)

    w = Worker(
        tmp,
        "bench",
        hub=hub,
        api_url=api.url,
        claude=exe,
        claude_tm=claude_tm,
    )
    try:
        wait_until("worker online", lambda: tm("tm_status", {"worker": w.name}).get("presence") == "online", 90, 0.5)
        wait_until("prompt", lambda: "for shortcuts" in tm.screen(w.name), 90, 0.5)

        def idle() -> None:
            wait_until("idle prompt", lambda: "for shortcuts" in client.screenshot(w.name), 60, 0.05)

        sends: list[float] = []
        for i in range(n_msgs + 2):
            tok = token(f"L{i}")
            api.on(tok, text=f"ok {tok}", times=1)
            t0 = time.time()
            client.send(w.name, f"{tok} latency probe")
            req = api.wait_for(lambda r: tok in r.last_user, tok, timeout=60)
            if i >= 2:  # the first turns warm up the session
                sends.append(req.at - t0)
            api.wait_for(lambda r: r.answered_by == tok, f"{tok} answered", timeout=60)
            idle()
        show("send → text in the model request", sends)

        to_hub: list[float] = []
        applied: list[float] = []
        for i in range(n_prompts):
            tok = token(f"P{i}")
            api.on(tok, tool="Bash", tool_input={"command": f"echo {tok} > probe-{i}.txt", "description": "probe"}, times=1)
            client.send(w.name, f"{tok} permission probe")
            asked = api.wait_for(lambda r: r.answered_by == tok, tok, timeout=60)
            # The tool_use answer has been written once the next poll sees it.
            p = wait_until(
                "pending prompt",
                lambda: [x for x in client.permissions(w.name) if tok in x.input_preview],
                60,
                0.005,
            )[0]
            to_hub.append(p.requested_at - asked.at)
            t1 = time.time()
            client.allow(w.name, p.request_id)
            done = api.wait_for(lambda r: r.answered_by == f"{tok}:then", f"{tok} result", timeout=60)
            applied.append(done.at - t1)
            idle()
        show("tool_use answered → permission request on the hub", to_hub)
        show("allow on the hub → tool result at the model", applied)
    finally:
        shut_down(tm, w, hub, api)


if __name__ == "__main__":
    main()
