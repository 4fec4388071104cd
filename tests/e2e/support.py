"""Support for the end-to-end suite: the pinned Claude Code CLI, a hub that
can be restarted in place, ``claude-tm`` in a pty as a user starts it, and an
orchestrator speaking MCP to the hub with the official Python SDK.

Every wait is bounded and its failure message carries what was seen.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import anyio

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "mcp"))

from _support import Hub, call, mcp_client  # noqa: E402  (tests/mcp/_support.py)
from hubproc import clean_env, tail  # noqa: E402

#: one directory per Claude Code version the suite is pinned to, each with
#: its own package.json and package-lock.json
VERSIONS = HERE / "versions"
API_KEY = "sk-e2e-test-key"
#: marks this run's processes (several runs may share a machine and worker
#: names; a teardown must not end another run's workers)
RUN_ID = secrets.token_hex(4)


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


def pinned_versions() -> list[str]:
    """The pinned versions, oldest first."""
    return sorted((d.name for d in VERSIONS.iterdir() if (d / "package-lock.json").is_file()), key=version_key)


#: the CLI version this run tests: ``TUBEMAIL_CLAUDE_VERSION`` (a pinned
#: version, or any npm version spec such as ``latest``), else the oldest
#: pinned one
CLAUDE_VERSION = os.environ.get("TUBEMAIL_CLAUDE_VERSION") or pinned_versions()[0]
#: what the installed CLI says it is (set by :func:`install_claude`)
INSTALLED: dict[str, str] = {"version": CLAUDE_VERSION}

T = TypeVar("T")

CHANNEL_TAG = re.compile(r'<channel source="tubemail-channel"([^>]*)>\n(.*?)\n</channel>', re.S)
REPLY_TOOL = "mcp__tubemail-channel__reply"


def token(label: str) -> str:
    """A unique marker for one test's messages (the fake model keys off it)."""
    return f"E2E-{label}-{secrets.token_hex(4)}"


def channel_blocks(text: str) -> list[tuple[dict[str, str], str]]:
    """``(attributes, body)`` of every ``<channel source="tubemail-channel">``
    block in ``text``."""
    return [(dict(re.findall(r'(\w+)="([^"]*)"', attrs)), body) for attrs, body in CHANNEL_TAG.findall(text)]


def wait_until(what: str, f: Callable[[], T | None], timeout: float = 60.0, every: float = 0.2, show: Callable[[], str] | None = None) -> T:
    """Polls ``f`` until it returns something truthy; fails after ``timeout``."""
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = f()
        if last:
            return last
        if time.monotonic() >= deadline:
            extra = f"\n{show()}" if show else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r}){extra}")
        time.sleep(every)


# ── the CLI ──────────────────────────────────────────────────────────────────


def install_claude(root: Path, spec: str = CLAUDE_VERSION) -> tuple[Path | None, str]:
    """Installs Claude Code ``spec`` into ``root/<spec>``: ``npm ci`` from
    ``versions/<spec>`` for a pinned version, else ``npm install`` of that
    npm version spec (``latest``, ``2.1.340``, ...). Reused when the install
    is there. Returns (path to ``claude``, why not)."""
    cache = root / spec
    exe = cache / "node_modules" / ".bin" / "claude"
    pinned = (VERSIONS / spec / "package-lock.json").is_file()

    def version() -> str:
        try:
            out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60,
                                 env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cache)})
            return out.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    def installed() -> bool:
        got = version()
        if got and (not pinned or got.startswith(spec + " ")):
            INSTALLED["version"] = got.split()[0]
            return True
        return False

    # A pinned install is reused; "latest" and other specs are asked again.
    if pinned and exe.exists() and installed():
        return exe, ""
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed"
    cache.mkdir(parents=True, exist_ok=True)
    if pinned:
        for f in ("package.json", "package-lock.json"):
            shutil.copyfile(VERSIONS / spec / f, cache / f)
        cmd = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    else:
        cmd = [npm, "install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error",
               f"@anthropic-ai/claude-code@{spec}"]
    try:
        r = subprocess.run(cmd, cwd=cache, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, f"npm of @anthropic-ai/claude-code@{spec} timed out after 600 s"
    if r.returncode != 0:
        return None, f"npm of @anthropic-ai/claude-code@{spec} failed: {(r.stderr or r.stdout)[-1500:]}"
    if not installed():
        return None, f"installed CLI does not run or is not {spec}: {version()!r}"
    return exe, ""


# ── the hub ──────────────────────────────────────────────────────────────────


class E2EHub(Hub):
    """A hub process that can be killed and started again on the same port
    and data dir."""

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def start_again(self) -> None:
        env = clean_env()
        env.update({"TUBEMAIL_SECRET": self.secret, "RUST_LOG": "info", "NO_COLOR": "1"})
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(self.binary), "--bind", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )
        self.wait_healthy()


# ── the orchestrator ─────────────────────────────────────────────────────────


class Orchestrator:
    """Calls the hub's MCP tools (one SDK session per call, synchronously)."""

    def __init__(self, hub: Hub):
        self.hub = hub

    def raw(self, name: str, args: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        async def go() -> Any:
            async with mcp_client(self.hub) as c:
                return await call(c, name, args or {}, timeout=timeout)

        return anyio.run(go)

    def __call__(self, name: str, args: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        """The tool's value: structured content (unwrapped ``result``), else
        the text parsed as JSON, else the text. A tool error fails."""
        __tracebackhide__ = True
        r = self.raw(name, args, timeout)
        texts = [b.text for b in r.content if getattr(b, "type", None) == "text"]
        assert not r.is_error, f"{name}({args}) failed: {texts}"
        sc = r.structured_content
        if sc is not None:
            return sc["result"] if isinstance(sc, dict) and set(sc) == {"result"} else sc
        text = "\n".join(texts)
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    def events(self, worker: str, since: str | None = None) -> list[dict[str, Any]]:
        args: dict[str, Any] = {"worker": worker, "limit": 500}
        if since:
            args["since"] = since
        return self("tm_receive", args)

    def screen(self, worker: str, lines: int = 60) -> str:
        v = self("tm_screenshot", {"worker": worker, "max_lines": lines}, timeout=30)
        return v if isinstance(v, str) else json.dumps(v)


# ── claude-tm in a pty ───────────────────────────────────────────────────────


def claude_json(project: Path) -> dict[str, Any]:
    """``~/.claude.json`` that skips onboarding, the API-key question and the
    trust dialog for ``project``, and turns channels on offline."""
    return {
        "hasCompletedOnboarding": True,
        "lastOnboardingVersion": INSTALLED["version"],
        "theme": "dark",
        "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
        "projects": {str(project): {"hasTrustDialogAccepted": True, "allowedTools": []}},
        "cachedGrowthBookFeatures": {"tengu_harbor": True, "tengu_harbor_permissions": True},
    }


def shut_down(tm: "Orchestrator", w: "Worker", hub: "Hub", api: Any) -> None:
    """Ends a benchmark's worker (a stop from the hub, then whatever is
    left), its hub and its fake model endpoint."""
    try:
        tm("tm_stop", {"worker": w.name})
        w.proc.wait(timeout=30)
    except Exception:  # noqa: BLE001 - best effort before the hard stop
        pass
    w.stop()
    hub.stop()
    api.stop()


def procs_with_env(marker: str) -> list[tuple[int, str]]:
    """Processes whose environment holds ``marker`` (``KEY=value``)."""
    found = []
    needle = marker.encode() + b"\0"
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            env = (d / "environ").read_bytes()
            if needle in env:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append((int(d.name), cmd))
        except OSError:
            continue
    return found


def claude_env(api_url: str, *, home: Path, runtime: Path, path: str | None = None) -> dict[str, str]:
    """The environment of a Claude Code process (or of what starts one) in
    the suite: its own HOME and runtime dir, the fake model endpoint, and
    everything not on loopback failing fast (telemetry, flags, marketplace)."""
    return {
        "PATH": path or os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "XDG_RUNTIME_DIR": str(runtime),
        "ANTHROPIC_BASE_URL": api_url,
        "ANTHROPIC_API_KEY": API_KEY,
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
    }


def spawn_in_pty(
    argv: list[str], *, cwd: Path, env: dict[str, str], stderr: Any = None, rows: int = 40, cols: int = 120
) -> tuple[subprocess.Popen[bytes], int]:
    """``argv`` in a new session whose controlling terminal is a pty of
    ``rows`` x ``cols``, as a terminal window starts it; stderr goes to the
    pty unless given. Returns the process and the pty's master fd."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def controlling_tty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=slave,
        stdout=slave,
        stderr=slave if stderr is None else stderr,
        env=env,
        start_new_session=True,
        preexec_fn=controlling_tty,
    )
    os.close(slave)
    return proc, master


def read_pty(master: int, on_data: Callable[[bytes], bool | None]) -> None:
    """Reads a pty's output until it closes, handing each piece to
    ``on_data`` (which returns False to stop reading). Run on a thread."""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            return
        if not data or on_data(data) is False:
            return


class Worker:
    """``claude-tm`` started in ``<root>/<project>`` inside a pty, with its own
    HOME (pre-seeded ``.claude.json``) and runtime dir; ``files`` are written
    into the project first. The worker is named ``<project>-tm`` by
    claude-tm itself."""

    def __init__(
        self,
        root: Path,
        project: str,
        *,
        hub: Hub,
        api_url: str,
        claude: Path,
        claude_tm: Path,
        args: list[str] | None = None,
        files: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        cols: int = 120,
        rows: int = 40,
    ):
        self.name = f"{project}-tm"
        self.dir = root / project
        self.home = root / f"{project}.home"
        self.runtime = root / f"{project}.run"
        for d in (self.dir, self.home, self.runtime):
            d.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        (self.home / ".claude.json").write_text(json.dumps(claude_json(self.dir)))
        for rel, text in (files or {}).items():
            (self.dir / rel).write_text(text)
        self.log_path = root / f"{project}.log"
        self.out = bytearray()
        self._lock = threading.Lock()
        extra = env or {}
        env = {
            **claude_env(api_url, home=self.home, runtime=self.runtime),
            "TUBEMAIL_HUB_URL": hub.base,
            "TUBEMAIL_SECRET": hub.secret,
            "TUBEMAIL_CLAUDE_BIN": str(claude),
            "TUBEMAIL_LOG": "info",
            "E2E_WORKER": f"{self.name}@{RUN_ID}",  # marks every process of this worker
            **extra,
        }
        self._log = open(self.log_path, "ab")
        self.proc, self.master = spawn_in_pty(
            [str(claude_tm), *(args or [])], cwd=self.dir, env=env, stderr=self._log, rows=rows, cols=cols
        )
        self._reader = threading.Thread(target=self._read, name=f"pty-{project}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        def keep(data: bytes) -> None:
            with self._lock:
                self.out += data

        read_pty(self.master, keep)

    def type(self, data: str | bytes) -> None:
        """Keys as the user types them at the terminal."""
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def processes(self) -> list[tuple[int, str]]:
        return procs_with_env(f"E2E_WORKER={self.name}@{RUN_ID}")

    def describe(self) -> str:
        return f"--- {self.name} claude-tm log ---\n{tail(self.log_path, 3000)}"

    def stop(self) -> None:
        """Ends whatever is left (teardown)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for pid, _ in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.close(self.master)
        except OSError:
            pass
        self._log.close()
