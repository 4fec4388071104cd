"""Helpers of the ``tubemail`` package tests: a restartable hub process,
wait-for-condition, and simulated workers and managers built on the bindings.
(Kept out of ``conftest.py`` so that test modules import them by a name no
other suite uses.)"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests"))

from hubproc import clean_env, free_port, tail  # noqa: E402

import tubemail  # noqa: E402

if Path(tubemail.__file__).resolve().is_relative_to(REPO / "bindings"):
    raise RuntimeError(f"tubemail imported from the source tree ({tubemail.__file__}), not the installed wheel")

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
