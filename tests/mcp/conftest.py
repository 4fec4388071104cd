"""Fixtures for the MCP suite.

* ``hub`` (session): one ``tubemail-hub`` (``$TUBEMAIL_HUB_BIN``, default
  ``<repo>/target/debug/tubemail-hub``) on a free loopback port, own data dir,
  random ``TUBEMAIL_SECRET``; no ``TM_*`` / ``TUBEMAIL_*`` from the shell.
  Tests share it and stay apart by using their own worker names.
* ``env_hub`` (module): a second hub started with ``TM_WORKER_NAME`` set, for
  the caller-identity fallback.
* ``worker`` / ``new_worker``: unique worker names (ending ``-tm``).
* ``listen`` / ``manager``: simulated worker streams and managers, stopped at
  teardown.

Async tests run on anyio's pytest plugin (shipped with anyio, an ``mcp``
dependency) with the asyncio backend. A watchdog ends the run with a
traceback dump if one test exceeds ``TUBEMAIL_MCP_TEST_LIMIT_S`` (default 90).
"""

from __future__ import annotations

import faulthandler
import os
import secrets
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import ENV_WORKER, Hub, SimManager, SseListener, hub_binary  # noqa: E402

TEST_LIMIT_S = float(os.environ.get("TUBEMAIL_MCP_TEST_LIMIT_S", "90"))

_HUBS: list[Hub] = []


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
        pytest.fail(
            f"hub binary not found at {path}: run `cargo build --workspace` or set TUBEMAIL_HUB_BIN",
            pytrace=False,
        )
    return path


def _start(hub_bin: Path, tmp: Path, extra_env: dict[str, str] | None = None) -> Hub:
    hub = Hub(hub_bin, tmp, extra_env)
    try:
        hub.wait_healthy()
    except BaseException:
        hub.stop()
        raise
    _HUBS.append(hub)
    return hub


@pytest.fixture(scope="session")
def hub(hub_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    h = _start(hub_bin, tmp_path_factory.mktemp("hub"))
    yield h
    _HUBS.remove(h)
    h.stop()


@pytest.fixture(scope="module")
def env_hub(hub_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub whose own environment has ``TM_WORKER_NAME=ENV_WORKER``."""
    h = _start(hub_bin, tmp_path_factory.mktemp("envhub"), {"TM_WORKER_NAME": ENV_WORKER})
    yield h
    _HUBS.remove(h)
    h.stop()


@pytest.fixture(scope="module")
def rules_hub(hub_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub of its own: permission rules are hub-wide."""
    h = _start(hub_bin, tmp_path_factory.mktemp("ruleshub"))
    yield h
    _HUBS.remove(h)
    h.stop()


@pytest.fixture
def new_worker(request: pytest.FixtureRequest) -> Callable[[], str]:
    short = request.node.name.removeprefix("test_")[:16]
    safe = "".join(ch if ch.isalnum() else "-" for ch in short).strip("-") or "t"

    def make() -> str:
        return f"{safe}-{secrets.token_hex(3)}-tm"

    return make


@pytest.fixture
def worker(new_worker: Callable[[], str]) -> str:
    return new_worker()


@pytest.fixture
def listen(hub: Hub) -> Iterator[Callable[..., SseListener]]:
    """``listen(name, hub=hub)``: register ``name`` and read its stream."""
    started: list[SseListener] = []

    def start(name: str, on: Hub | None = None, **kw: Any) -> SseListener:
        s = SseListener(on or hub, name, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def manager(hub: Hub) -> Iterator[Callable[..., SimManager]]:
    """``manager(worker, hub=hub)``: a simulated ``<worker>-manager``."""
    started: list[SimManager] = []

    def start(worker: str, on: Hub | None = None, **kw: Any) -> SimManager:
        m = SimManager(on or hub, worker, **kw)
        started.append(m)
        return m

    yield start
    for m in started:
        m.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and _HUBS:
        for h in _HUBS:
            report.sections.append((f"hub log tail ({h.base})", h.log_tail(3000)))
