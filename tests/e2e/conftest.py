"""Fixtures for the end-to-end suite (real hub + ``claude-tm`` + the real
Claude Code CLI against a fake model endpoint).

* ``claude`` (session): the CLI of ``$TUBEMAIL_CLAUDE_VERSION`` (a version
  pinned in ``versions/``, installed with ``npm ci`` from its lockfile, or
  any npm version spec such as ``latest``; default: the oldest pinned), in
  ``$TUBEMAIL_CLAUDE_CODE_DIR/<version>`` (default
  ``<repo>/target/claude-code``). The suite is skipped, saying why, only
  when that install fails.
* ``api`` (session): the fake Messages API (``fakeapi.py``).
* ``hub`` (session): one ``tubemail-hub`` (``$TUBEMAIL_HUB_BIN``).
* ``tm``: the orchestrator (MCP tools on the hub).
* ``start_worker``: ``claude-tm`` (``$TUBEMAIL_CLAUDE_TM_BIN``) in a pty,
  waited for until the real TUI is ready; stopped at the end of the test
  (or module, for ``main_worker``).

A watchdog ends the run with a traceback dump if one test takes longer than
``TUBEMAIL_E2E_TEST_LIMIT_S`` (default 240).
"""

from __future__ import annotations

import faulthandler
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakeapi import FakeApi  # noqa: E402
from support import CLAUDE_VERSION, INSTALLED, REPO, E2EHub, Orchestrator, Worker, install_claude, wait_until  # noqa: E402

TEST_LIMIT_S = float(os.environ.get("TUBEMAIL_E2E_TEST_LIMIT_S", "240"))
READY_S = 90.0

_WORKERS: list[Worker] = []
_HUBS: list[E2EHub] = []
_APIS: list[FakeApi] = []


def pytest_report_header() -> str:
    return f"Claude Code CLI under test: {CLAUDE_VERSION} (TUBEMAIL_CLAUDE_VERSION)"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(f"Claude Code CLI tested: {INSTALLED['version']}")


@pytest.fixture(autouse=True)
def _watchdog() -> Iterator[None]:
    faulthandler.dump_traceback_later(TEST_LIMIT_S, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _binary(env: str, name: str) -> Path:
    path = Path(os.environ.get(env, REPO / "target" / "debug" / name))
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"{name} not found at {path}: run `cargo build --workspace` or set {env}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def claude() -> Path:
    cache = Path(os.environ.get("TUBEMAIL_CLAUDE_CODE_DIR", REPO / "target" / "claude-code"))
    exe, why = install_claude(cache, CLAUDE_VERSION)
    if exe is None:
        pytest.skip(f"the Claude Code CLI cannot be installed here, so the real-CLI suite cannot run: {why}")
    return exe


@pytest.fixture(scope="session")
def claude_tm() -> Path:
    return _binary("TUBEMAIL_CLAUDE_TM_BIN", "claude-tm")


@pytest.fixture(scope="session")
def api() -> Iterator[FakeApi]:
    a = FakeApi().start()
    _APIS.append(a)
    yield a
    a.stop()


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EHub]:
    h = E2EHub(_binary("TUBEMAIL_HUB_BIN", "tubemail-hub"), tmp_path_factory.mktemp("hub"))
    try:
        h.wait_healthy()
    except BaseException:
        h.stop()
        raise
    _HUBS.append(h)
    yield h
    h.stop()


@pytest.fixture(scope="session")
def tm(hub: E2EHub) -> Orchestrator:
    return Orchestrator(hub)


def ready(w: Worker, tm: Orchestrator) -> None:
    """Waits until the channel and the manager are online and the TUI shows
    its prompt (claude-tm answered the development-channels dialog itself)."""

    def online() -> bool:
        if w.proc.poll() is not None:
            raise AssertionError(f"claude-tm exited with {w.proc.returncode}\n{w.describe()}")
        st = tm("tm_status", {"worker": w.name})
        return st.get("presence") == "online"

    wait_until(f"{w.name} online on the hub", online, READY_S, 0.5, w.describe)

    def prompt() -> str | None:
        s = tm.screen(w.name)
        ok = "for shortcuts" in s and not re.search(r"local\s*development", s)
        return s if ok else None

    wait_until(f"{w.name}'s prompt on screen", prompt, READY_S, 0.5, lambda: tm.screen(w.name))


@pytest.fixture(scope="session")
def start_worker(
    tmp_path_factory: pytest.TempPathFactory, hub: E2EHub, api: FakeApi, claude: Path, claude_tm: Path, tm: Orchestrator
) -> Iterator[Callable[..., Worker]]:
    root = tmp_path_factory.mktemp("workers")

    def start(
        project: str,
        args: list[str] | None = None,
        files: dict[str, str] | None = None,
        wait: bool = True,
        env: dict[str, str] | None = None,
    ) -> Worker:
        w = Worker(
            root, project, hub=hub, api_url=api.url, claude=claude, claude_tm=claude_tm, args=args, files=files, env=env
        )
        _WORKERS.append(w)
        if wait:
            ready(w, tm)
        return w

    yield start
    for w in _WORKERS:
        w.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for a in _APIS:
            report.sections.append(("fake API", a.dump(20)))
        for w in _WORKERS:
            if w.proc.poll() is None or report.when == "call":
                report.sections.append((f"{w.name} log", w.describe()))
        for h in _HUBS:
            report.sections.append((f"hub log tail ({h.base})", h.log_tail(3000)))
