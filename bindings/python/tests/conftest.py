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
import os
import secrets
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from pyclient_support import Hub, SimManager, SimWorker, tail
from hubproc import hub_binary

import tubemail

TEST_LIMIT_S = float(os.environ.get("TUBEMAIL_PY_TEST_LIMIT_S", "120"))


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
