"""A real ``tubemail-hub`` process for the Python suites, with a tiny stdlib
HTTP client. Shared by ``tests/compat`` and ``tests/mcp``, which put this
directory on ``sys.path``."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

#: upper bound for the hub to come up (seconds)
START_S = 20.0
POLL_S = 0.05

# Variables that must not leak from the developer's shell into the processes
# under test.
_SCRUB_PREFIXES = ("TUBEMAIL_", "TM_")
_SCRUB_NAMES = {"ANTHROPIC_API_KEY"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB_NAMES}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, limit: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        return f"<unreadable {path}: {e}>"
    text = _ANSI.sub("", data[-limit:].decode("utf-8", "replace"))
    return ("…" if len(data) > limit else "") + text


def hub_binary() -> Path:
    return Path(os.environ.get("TUBEMAIL_HUB_BIN", REPO_ROOT / "target" / "debug" / "tubemail-hub"))


class HttpResult:
    def __init__(self, method: str, url: str, body: Any, status: int, raw: bytes, headers: Any):
        self.method, self.url, self.request_body = method, url, body
        self.status, self.raw, self.headers = status, raw, headers
        try:
            self.json: Any = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.json = None

    def describe(self) -> str:
        req = "" if self.request_body is None else " " + json.dumps(self.request_body)
        return f"{self.method} {self.url}{req} -> {self.status} {self.raw[:2000].decode('utf-8', 'replace')!r}"


class HubProcess:
    """``tubemail-hub`` on a free loopback port with its own data dir and a
    random secret; its output goes to ``<workdir>/hub.log``."""

    def __init__(self, binary: Path, workdir: Path, extra_env: dict[str, str] | None = None):
        self.binary = binary
        self.secret = secrets.token_urlsafe(24)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = workdir / "hub-data"
        self.data_dir.mkdir(parents=True)
        self.log_path = workdir / "hub.log"
        env = clean_env()
        env["TUBEMAIL_SECRET"] = self.secret
        env.setdefault("RUST_LOG", "info")
        env["NO_COLOR"] = "1"
        env.update(extra_env or {})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "--bind", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_healthy(self, timeout: float = START_S) -> None:
        deadline = time.monotonic() + timeout
        last = "no attempt"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"hub exited with code {self.proc.returncode} before /health answered\n"
                    f"--- hub log ---\n{self.log_tail()}"
                )
            try:
                r = self.request("GET", "/health", auth=False, timeout=2.0)
                if r.status == 200:
                    return
                last = r.describe()
            except OSError as e:  # connection refused while binding, etc.
                last = repr(e)
            time.sleep(POLL_S)
        raise AssertionError(
            f"hub /health did not answer 200 within {timeout:.0f}s (last: {last})\n--- hub log ---\n{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()

    def log_tail(self, limit: int = 4000) -> str:
        try:
            self._log.flush()
        except ValueError:  # already closed
            pass
        return tail(self.log_path, limit)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
        raw_body: bytes | None = None,
    ) -> HttpResult:
        url = self.base + path
        data = raw_body
        hdrs = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if auth:
            hdrs["Authorization"] = f"Bearer {self.secret}"
        hdrs.update(headers or {})
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return HttpResult(method, url, body, resp.status, resp.read(), resp.headers)
        except urllib.error.HTTPError as e:
            return HttpResult(method, url, body, e.code, e.read(), e.headers)

    def get(self, path: str, **kw: Any) -> HttpResult:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> HttpResult:
        return self.request("POST", path, body, **kw)
