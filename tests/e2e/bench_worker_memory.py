"""Worker-side memory with the real Claude Code CLI (BENCHMARKS.md, issue 15).

Starts a hub, the fake model API and one worker (``claude-tm`` in a pty with
the real CLI), waits until the worker is online and its prompt is idle, lets
it settle, then reads for each of the three processes beside claude — the
launcher (``claude-tm``), the manager (``claude-tm manager``) and the channel
(``claude-tm channel``, started by claude) — ``VmRSS`` from
``/proc/<pid>/status`` and ``Pss`` from ``/proc/<pid>/smaps_rollup``, and
prints them with their sums. RSS counts shared pages (the binary's text,
libc) once per process; Pss divides them among the processes mapping them.

Usage (after ``cargo build --release -p tubemail-hub`` and ``cargo build
--profile worker -p claude-tm``, the profile claude-tm is installed with)::

    TUBEMAIL_HUB_BIN=target/release/tubemail-hub TUBEMAIL_CLAUDE_TM_BIN=target/worker/claude-tm \\
      python tests/e2e/bench_worker_memory.py [VERSION] [SAMPLES]

``VERSION`` (else ``TUBEMAIL_CLAUDE_VERSION``, else 2.1.197) is installed
under ``TUBEMAIL_CLAUDE_CODE_DIR`` (default ``target/claude-code``);
``SAMPLES`` readings (default 5, one a second) are taken and each figure is
their median.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakeapi import FakeApi  # noqa: E402
from support import INSTALLED, REPO, E2EHub, Orchestrator, Worker, install_claude, shut_down, wait_until  # noqa: E402

#: seconds the idle worker is left alone before the first reading
SETTLE_S = 5.0


def kib_field(text: str, name: str) -> int:
    """``name:  1234 kB`` from a /proc status-like text, in KiB."""
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise ValueError(f"no {name} in /proc text")


#: the figures read per process: /proc/<pid>/status (VmRSS = RssAnon +
#: RssFile + RssShmem: heap and stacks vs the binary's and libraries'
#: pages) and /proc/<pid>/smaps_rollup (Pss)
FIELDS = ("VmRSS", "RssAnon", "RssFile", "Pss")


def memory(pid: int) -> dict[str, int]:
    """The :data:`FIELDS` of ``pid`` in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return {f: kib_field(rollup if f == "Pss" else status, f) for f in FIELDS}


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's list)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def descendants(pid: int) -> list[int]:
    seen: list[int] = []
    todo = [pid]
    while todo:
        for c in children(todo.pop()):
            seen.append(c)
            todo.append(c)
    return seen


def argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def roles(launcher: int, claude_tm: Path) -> dict[str, int] | None:
    """The pids of the launcher, manager and channel, once all three run."""
    found = {"launcher": launcher}
    for pid in descendants(launcher):
        a = argv(pid)
        if len(a) >= 2 and Path(a[0]).name == claude_tm.name and a[1] in ("manager", "channel"):
            found[a[1]] = pid
    return found if len(found) == 3 else None


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def main() -> None:
    # The MCP SDK's notes on closing its sessions are not part of the figures.
    logging.getLogger("mcp").setLevel(logging.ERROR)
    version = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TUBEMAIL_CLAUDE_VERSION", "2.1.197")
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    exe, why = install_claude(Path(os.environ.get("TUBEMAIL_CLAUDE_CODE_DIR", REPO / "target" / "claude-code")), version)
    if exe is None:
        sys.exit(f"cannot install the CLI: {why}")
    hub_bin = Path(os.environ.get("TUBEMAIL_HUB_BIN", REPO / "target/release/tubemail-hub")).resolve()
    claude_tm = Path(os.environ.get("TUBEMAIL_CLAUDE_TM_BIN", REPO / "target/worker/claude-tm")).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="tm-mem-"))
    api = FakeApi().start()
    hub = E2EHub(hub_bin, tmp / "hub")
    hub.wait_healthy()
    tm = Orchestrator(hub)
    w = Worker(tmp, "mem", hub=hub, api_url=api.url, claude=exe, claude_tm=claude_tm)
    try:
        wait_until("worker online", lambda: tm("tm_status", {"worker": w.name}).get("presence") == "online", 90, 0.5, w.describe)
        wait_until("idle prompt", lambda: "for shortcuts" in tm.screen(w.name), 90, 0.5, w.describe)
        pids = wait_until("launcher, manager and channel", lambda: roles(w.proc.pid, claude_tm), 30, 0.5, w.describe)
        time.sleep(SETTLE_S)
        readings: dict[str, list[dict[str, int]]] = {r: [] for r in pids}
        for i in range(samples):
            if i:
                time.sleep(1.0)
            for role, pid in pids.items():
                readings[role].append(memory(pid))
        print(f"Claude Code {INSTALLED['version']}; {claude_tm}; median of {samples} readings, MiB")
        print(f"{'process':<10} {'pid':>8}" + "".join(f" {f:>8}" for f in FIELDS))
        total = dict.fromkeys(FIELDS, 0.0)
        for role, pid in pids.items():
            row = {f: statistics.median(r[f] for r in readings[role]) for f in FIELDS}
            for f in FIELDS:
                total[f] += row[f]
            print(f"{role:<10} {pid:>8}" + "".join(f" {mib(row[f]):>8}" for f in FIELDS))
        print(f"{'total':<10} {'':>8}" + "".join(f" {mib(total[f]):>8}" for f in FIELDS), flush=True)
    finally:
        shut_down(tm, w, hub, api)


if __name__ == "__main__":
    main()
