"""Fixtures for the ``tubemail`` package tests.

They run against a real ``tubemail-hub`` process (``$TUBEMAIL_HUB_BIN``,
default ``<repo>/target/debug/tubemail-hub``) on a loopback port, and import
``tubemail`` from the installed wheel (``pip install ./bindings/python``),
never from the source tree.

* ``hub`` (session): one shared hub; tests keep apart by worker names.
* ``own_hub``: a hub of the test's own, which it may stop and restart on
  the same port and data dir (``restart()``).
* ``client`` / ``aclient``: ``tubemail.Client`` / ``AsyncClient`` for ``hub``.
* ``name``: a fresh worker name; ``names(n)``: n of them.
* ``sim_worker(name)``: a simulated worker thread that answers every
  message with ``"<name>: done <message>"``.
* ``sim_manager(worker)``: a simulated ``<worker>-manager`` that answers
  health checks, screenshots and MCP reconnects.

A watchdog dumps tracebacks and ends the run if one test exceeds
``TUBEMAIL_PY_TEST_LIMIT_S`` (default 120 s).
"""

from __future__ import annotations

import faulthandler
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))

from hubproc import clean_env, free_port, hub_binary, tail  # noqa: E402

import tubemail  # noqa: E402

if Path(tubemail.__file__).resolve().is_relative_to(REPO):
    raise RuntimeError(f"tubemail imported from the source tree ({tubemail.__file__}), not the installed wheel")

TEST_LIMIT_S = float(os.environ.get("TUBEMAIL_PY_TEST_LIMIT_S", "120"))
START_S = 20.0


def until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Polls ``cond`` until it returns something truthy; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Hub:
    """A ``tubemail-hub`` process with a fixed port, data dir and secret, so
    it can be stopped and started again as the same hub."""

    def __init__(self, binary: Path, workdir: Path):
        self.binary = binary
        self.secret = secrets.token_urlsafe(24)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / "hub-data"
        self.data_dir.mkdir(parents=True)
        self.log_path = workdir / "hub.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = clean_env()
        env["TUBEMAIL_SECRET"] = self.secret
        env.setdefault("RUST_LOG", "info")
        env["NO_COLOR"] = "1"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "--bind", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.wait_healthy()

    def wait_healthy(self) -> None:
        probe = tubemail.Client(self.url, self.secret, timeout=2.0)
        deadline = time.monotonic() + START_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"hub exited with {self.proc.returncode}\n{tail(self.log_path)}")
            try:
                probe.health()
                return
            except tubemail.Unreachable as e:  # still binding
                last = e
            time.sleep(0.05)
        raise AssertionError(f"hub not healthy within {START_S}s ({last!r})\n{tail(self.log_path)}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def env(self) -> dict[str, str]:
        """A clean environment pointing the client at this hub."""
        env = clean_env()
        env["TUBEMAIL_HUB_URL"] = self.url
        env["TUBEMAIL_SECRET"] = self.secret
        return env

    def client(self, **kw: Any) -> tubemail.Client:
        return tubemail.Client(self.url, self.secret, **kw)


_HUBS: list[Hub] = []


@pytest.fixture(autouse=True)
def _watchdog() -> Iterator[None]:
    faulthandler.dump_traceback_later(TEST_LIMIT_S, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="session")
def hub_bin() -> Path:
    path = hub_binary()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"hub binary not found at {path}: run `cargo build -p tubemail-hub` or set TUBEMAIL_HUB_BIN")
    return path


def _start(hub_bin: Path, workdir: Path) -> Hub:
    h = Hub(hub_bin, workdir)
    _HUBS.append(h)
    try:
        h.start()
    except BaseException:
        h.stop()
        raise
    return h


@pytest.fixture(scope="session")
def hub(hub_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    h = _start(hub_bin, tmp_path_factory.mktemp("hub"))
    yield h
    h.stop()
    _HUBS.remove(h)


@pytest.fixture
def own_hub(hub_bin: Path, tmp_path: Path) -> Iterator[Hub]:
    h = _start(hub_bin, tmp_path)
    yield h
    h.stop()
    _HUBS.remove(h)


@pytest.fixture
def client(hub: Hub) -> tubemail.Client:
    return hub.client()


@pytest.fixture
def aclient(hub: Hub) -> tubemail.AsyncClient:
    return tubemail.AsyncClient(hub.url, hub.secret)


@pytest.fixture
def names(request: pytest.FixtureRequest) -> Callable[[int], list[str]]:
    short = request.node.name.removeprefix("test_")[:16]
    safe = "".join(ch if ch.isalnum() else "-" for ch in short).strip("-") or "t"

    def make(n: int) -> list[str]:
        return [f"{safe}-{secrets.token_hex(3)}-tm" for _ in range(n)]

    return make


@pytest.fixture
def name(names: Callable[[int], list[str]]) -> str:
    return names(1)[0]


class SimWorker:
    """Reads ``name``'s own stream through the bindings and answers each
    message with an outbound ``"<name>: done <message>"`` (after
    ``delay`` s)."""

    def __init__(self, client: tubemail.Client, name: str, delay: float = 0.05):
        self.client, self.name, self.delay = client, name, delay
        self.received: list[tubemail.StreamEvent] = []
        self.errors: list[BaseException] = []
        self.stream = client.worker_events(name)  # online once this returns
        self.thread = threading.Thread(target=self._run, name=f"sim-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for ev in self.stream:
                self.received.append(ev)
                if ev.event == "channel_event":
                    time.sleep(self.delay)
                    self.on_message(ev)
        except tubemail.TubemailError as e:
            self.errors.append(e)

    def on_message(self, ev: tubemail.StreamEvent) -> None:
        self.client.outbound(self.name, f"{self.name}: done {ev.data['content']}")

    def stop(self) -> None:
        self.stream.close()
        self.thread.join(timeout=10)


class SimManager(SimWorker):
    """A simulated ``<worker>-manager``: answers ``health_check``,
    ``screenshot[:N]`` and ``reconnect_mcp:<server>`` like claude-tm's
    manager, with outbound events of the matching ``meta.kind``."""

    def __init__(self, client: tubemail.Client, worker: str):
        self.worker = worker
        self.commands: list[str] = []
        super().__init__(client, f"{worker}-manager", delay=0)

    def on_message(self, ev: tubemail.StreamEvent) -> None:
        data = ev.data
        cmd = (data.get("meta") or {}).get("kind") or data.get("content") or ""
        self.commands.append(cmd)
        if cmd == "health_check":
            text, kind = json.dumps({"child_alive": True, "restart_count": 0}), "health_response"
        elif cmd.startswith("screenshot"):
            text, kind = f"SCREEN of {self.worker}\n> ", "screenshot"
        elif cmd.startswith("reconnect_mcp:"):
            server = cmd.removeprefix("reconnect_mcp:")
            text, kind = json.dumps({"ok": True, "server": server}), "reconnect_mcp_result"
        else:
            return
        self.client.outbound(self.name, text, meta={"kind": kind})


@pytest.fixture
def sim_worker(hub: Hub) -> Iterator[Callable[..., SimWorker]]:
    started: list[SimWorker] = []

    def start(name: str, on: Hub | None = None, **kw: Any) -> SimWorker:
        w = SimWorker((on or hub).client(), name, **kw)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


@pytest.fixture
def sim_manager(hub: Hub) -> Iterator[Callable[[str], SimManager]]:
    started: list[SimManager] = []

    def start(worker: str) -> SimManager:
        m = SimManager(hub.client(), worker)
        started.append(m)
        return m

    yield start
    for m in started:
        m.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for h in _HUBS:
            report.sections.append((f"hub log tail ({h.url})", tail(h.log_path, 3000)))
