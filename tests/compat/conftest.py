"""Fixtures for running the ORIGINAL Python channel plugin against OUR hub.

* ``channel_script`` (session): a venv with ``tubemail-channel==1.2.0`` from
  PyPI, cached in ``$TUBEMAIL_COMPAT_VENV`` (default ``<repo>/target/compat-venv``).
  If pip cannot install the package, every test is skipped with the reason.
* ``harness`` (per test): a fresh ``tubemail-hub`` (``$TUBEMAIL_HUB_BIN``,
  default ``<repo>/target/debug/tubemail-hub``) on a free loopback port with
  its own data dir and random secret, plus helpers to spawn channel
  processes and talk to the hub's HTTP API (stdlib ``urllib`` only).

Every wait is bounded by a deadline; failure messages include what was
actually received plus the tails of the hub log and the channel stderr.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hubproc import REPO_ROOT, HttpResult, HubProcess, clean_env, hub_binary, tail  # noqa: E402  (tests/hubproc.py)

CHANNEL_REQ = "tubemail-channel==1.2.0"
CHANNEL_VERSION = "1.2.0"

#: upper bound for any single wait in this suite (seconds)
WAIT_S = 20.0
POLL_S = 0.05

# ── venv with the original channel ───────────────────────────────────────────


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _venv_has_channel(venv: Path) -> bool:
    py = _venv_python(venv)
    if not py.exists() or not (venv / "bin" / "tubemail").exists():
        return False
    try:
        out = subprocess.run(
            [
                str(py),
                "-c",
                "import importlib.metadata as m; print(m.version('tubemail-channel'))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == CHANNEL_VERSION


@pytest.fixture(scope="session")
def channel_script() -> Path:
    """Path to the original ``tubemail`` console script (installed from PyPI)."""
    venv = Path(os.environ.get("TUBEMAIL_COMPAT_VENV", REPO_ROOT / "target" / "compat-venv"))
    if not _venv_has_channel(venv):
        venv.parent.mkdir(parents=True, exist_ok=True)
        mk = subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if mk.returncode != 0:
            pytest.skip(
                f"cannot create a venv at {venv} with {sys.executable} -m venv "
                f"(exit {mk.returncode}): {(mk.stdout + mk.stderr)[-1500:]}"
            )
        try:
            pip = subprocess.run(
                [
                    str(_venv_python(venv)),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    CHANNEL_REQ,
                ],
                capture_output=True,
                text=True,
                timeout=600,
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"pip install {CHANNEL_REQ} timed out after 600 s")
        if pip.returncode != 0:
            pytest.skip(
                f"pip could not install {CHANNEL_REQ} (exit {pip.returncode}); "
                f"the original channel is unavailable, so compat cannot be checked. "
                f"pip said: {(pip.stdout + pip.stderr)[-1500:]}"
            )
        if not _venv_has_channel(venv):
            pytest.skip(f"{CHANNEL_REQ} installed but not importable in {venv}")
    return venv / "bin" / "tubemail"


# ── hub binary ───────────────────────────────────────────────────────────────


@pytest.fixture(scope="session")
def hub_bin() -> Path:
    path = hub_binary()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"hub binary not found at {path}: build it first "
            f"(`cargo build -p tubemail-hub`) or point TUBEMAIL_HUB_BIN at it",
            pytrace=False,
        )
    return path


class Hub(HubProcess):
    """Our hub, plus the roster calls the compat tests use."""

    def workers(self) -> HttpResult:
        return self.get("/api/workers")

    def worker_entry(self, name: str) -> tuple[dict[str, Any] | None, HttpResult]:
        r = self.workers()
        if r.status != 200 or not isinstance(r.json, dict):
            return None, r
        for w in r.json.get("workers") or []:
            if isinstance(w, dict) and w.get("name") == name:
                return w, r
        return None, r

    def send(self, worker: str, message: str, meta: dict[str, Any] | None = None) -> HttpResult:
        body: dict[str, Any] = {"message": message}
        if meta is not None:
            body["meta"] = meta
        return self.post(f"/api/workers/{urllib.parse.quote(worker, safe='')}/send", body)


# ── the original channel process ─────────────────────────────────────────────


class ChannelProc:
    """The original ``tubemail`` channel as a stdio subprocess, driven the way
    Claude Code drives it. A background thread reads stdout line by line."""

    def __init__(self, script: Path, hub: Hub, worker: str, home: Path, tag: str):
        self.worker = worker
        self.tag = tag
        self.stderr_path = home.parent / f"channel-{tag}.stderr"
        env = clean_env()
        env.update(
            {
                "TUBEMAIL_HUB_URL": hub.base,
                "TUBEMAIL_SECRET": hub.secret,
                "TM_WORKER_NAME": worker,
                "HOME": str(home),
                "TUBEMAIL_LOG": "INFO",  # httpx logs every request at INFO → useful diagnostics
            }
        )
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=str(home),
        )
        self._cond = threading.Condition()
        self.messages: list[dict[str, Any]] = []  # every stdout line, parsed
        self.bad_lines: list[bytes] = []  # stdout lines that were not JSON-RPC objects
        self.eof = False
        self._next_id = 1
        self._reader = threading.Thread(target=self._read_stdout, name=f"chan-{tag}", daemon=True)
        self._reader.start()

    # -- reading --

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            try:
                msg = json.loads(raw.decode("utf-8"))
                ok = isinstance(msg, dict) and msg.get("jsonrpc") == "2.0"
            except (UnicodeDecodeError, json.JSONDecodeError):
                msg, ok = None, False
            with self._cond:
                if ok:
                    self.messages.append(msg)
                else:
                    self.bad_lines.append(raw)
                self._cond.notify_all()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def stderrtail(self) -> str:
        self._stderr.flush()
        return tail(self.stderr_path)

    def received_dump(self, start: int = 0) -> str:
        with self._cond:
            msgs = list(self.messages[start:])
            bad = list(self.bad_lines)
        lines = [json.dumps(m, ensure_ascii=False) for m in msgs] or ["<nothing>"]
        out = "\n".join(lines)
        if bad:
            out += "\nNON-JSON-RPC stdout lines:\n" + "\n".join(repr(b) for b in bad)
        return out

    def wait_for(
        self,
        pred: Callable[[dict[str, Any]], bool],
        what: str,
        *,
        timeout: float = WAIT_S,
        start: int = 0,
        diag: Callable[[], str] = lambda: "",
    ) -> dict[str, Any]:
        """Return the first stdout message (index >= start) matching ``pred``."""
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages[start:]:
                    if pred(m):
                        return m
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.eof:
                    break
                self._cond.wait(min(remaining, 0.5))
        why = "channel stdout closed (exit code %r)" % self.proc.poll() if self.eof else f"timeout {timeout:.0f}s"
        raise AssertionError(
            f"[{self.tag}] waiting for {what}: {why}\n"
            f"--- received on channel stdout ---\n{self.received_dump(start)}\n"
            f"--- channel stderr ---\n{self.stderrtail()}\n{diag()}"
        )

    def count(self) -> int:
        with self._cond:
            return len(self.messages)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self.messages)

    # -- writing --

    def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg, separators=(",", ":")) + "\n").encode("utf-8"))
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def request(
        self,
        method: str,
        params: Any = None,
        *,
        timeout: float = WAIT_S,
        diag: Callable[[], str] = lambda: "",
    ) -> dict[str, Any]:
        """Send a JSON-RPC request and wait for the response with the same id."""
        __tracebackhide__ = True
        req_id = self._next_id
        self._next_id += 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return self.wait_for(
            lambda m: m.get("id") == req_id and ("result" in m or "error" in m),
            f"response to {method} (id={req_id})",
            timeout=timeout,
            diag=diag,
        )

    # -- lifecycle --

    def close_stdin_and_wait(self, timeout: float = WAIT_S) -> int | None:
        """What Claude Code does on exit: close the pipe, let the plugin
        unregister and exit. Returns the exit code (None if it hung)."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        self._reader.join(timeout=2)
        self._stderr.close()


class Harness:
    """Per-test world: one hub, any number of channel processes."""

    def __init__(self, hub: Hub, script: Path, workdir: Path, test_name: str):
        self.hub = hub
        self.script = script
        self.workdir = workdir
        self.channels: list[ChannelProc] = []
        # Unique per test: the channel's hook socket lives at the fixed path
        # /tmp/tubemail-hook-<worker>.sock, outside HOME.
        short = test_name.removeprefix("test_")[:24]
        safe = "".join(c if c.isalnum() else "-" for c in short).strip("-")
        self.worker = f"compat-{safe}-{secrets.token_hex(3)}"
        self.home = workdir / "home"
        self.home.mkdir()

    def diag(self) -> str:
        parts = [f"--- hub log ({self.hub.log_path}) ---\n{self.hub.logtail()}"]
        for c in self.channels:
            parts.append(f"--- stderr of channel {c.tag} ---\n{c.stderrtail()}")
        return "\n".join(parts)

    def fail(self, msg: str) -> None:
        __tracebackhide__ = True
        raise AssertionError(f"{msg}\n{self.diag()}")

    def spawn_channel(self, worker: str | None = None) -> ChannelProc:
        tag = f"#{len(self.channels) + 1}"
        chan = ChannelProc(self.script, self.hub, worker or self.worker, self.home, tag)
        self.channels.append(chan)
        return chan

    def start_channel(self, worker: str | None = None) -> ChannelProc:
        """Spawn + MCP handshake (as Claude Code does), then wait until the
        hub lists the worker as online."""
        chan = self.spawn_channel(worker)
        resp = chan.request(
            "initialize",
            {
                "protocolVersion": "2024-11-05",
                "capabilities": {},
                "clientInfo": {"name": "compat-test", "version": "0"},
            },
            diag=self.diag,
        )
        if "result" not in resp:
            self.fail(f"initialize failed: {resp}")
        caps = resp["result"].get("capabilities", {}).get("experimental", {})
        if "claude/channel" not in caps:
            self.fail(f"initialize result lacks experimental claude/channel: {resp}")
        chan.notify("notifications/initialized")
        self.wait_online(chan.worker, True, chan)
        return chan

    def wait_online(self, worker: str, online: bool, chan: ChannelProc | None = None) -> dict[str, Any]:
        __tracebackhide__ = True
        deadline = time.monotonic() + WAIT_S
        last = "no attempt"
        while time.monotonic() < deadline:
            entry, r = self.hub.worker_entry(worker)
            if entry is not None and entry.get("online") is online:
                return entry
            last = r.describe()
            time.sleep(0.1)
        extra = f"\n--- channel stdout ---\n{chan.received_dump()}" if chan else ""
        self.fail(
            f"hub did not show worker {worker!r} with online={online} within {WAIT_S:.0f}s; "
            f"last GET /api/workers: {last}{extra}"
        )
        raise AssertionError("unreachable")

    def close(self) -> None:
        for c in self.channels:
            c.kill()
        self.hub.stop()


@pytest.fixture
def harness(request: pytest.FixtureRequest, hub_bin: Path, channel_script: Path, tmp_path: Path):
    hub = Hub(hub_bin, tmp_path)
    h = Harness(hub, channel_script, tmp_path, request.node.name)
    try:
        hub.wait_healthy()
        yield h
    finally:
        h.close()
        # keep /tmp tidy even if a channel was SIGKILLed before removing its socket
        sock = Path(f"/tmp/tubemail-hook-{h.worker}.sock")
        if sock.exists() or sock.is_symlink():
            try:
                sock.unlink()
            except OSError:
                pass
