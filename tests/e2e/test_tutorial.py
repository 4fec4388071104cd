"""TUTORIAL.md, run as written: every block, in order, with the real Claude
Code CLI against the fake model endpoint.

A block is a fenced code block. ```` ```sh ```` runs to completion (its exit
status must be 0); ```` ```sh {terminal=NAME} ```` keeps running in a
terminal of its own (a pty, rendered with pyte); ```` ```text {type=NAME} ````
is typed into terminal NAME. The fake model stands in for the model of each
session: a rule per prompt below makes the lead call the hub's tools and the
workers answer, as a model would. Nothing else is given to the programs: a
fresh HOME (with Claude Code's first-run questions answered, as a user
would have), no TUBEMAIL_* credential, and `make install` into that HOME.

What the test changes in the text: the port (8004 becomes a free one, with
TUBEMAIL_BIND and TUBEMAIL_HUB_URL saying so, as a second hub on a machine
would need), `<request-id>` (the id the user reads off `tubemail
permissions`), and `make install` builds with PROFILE=dev to reuse the
suite's build. A block the test has no expectation for fails it, so the
tutorial and the test cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pyte
import pytest

from fakeapi import FakeApi, Request, block_texts
from support import REPLY_TOOL, REPO, RUN_ID, claude_env, claude_json, procs_with_env, read_pty, spawn_in_pty, wait_until

from hubproc import free_port, tail

TUTORIAL = REPO / "TUTORIAL.md"
FENCE = re.compile(r"^```(\w+)[ \t]*(?:\{([^}]*)\})?[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
COLS, ROWS = 140, 45


class Block:
    def __init__(self, lang: str, attrs: str, body: str, line: int):
        self.lang, self.body, self.line = lang, body.strip(), line
        self.attrs = dict(kv.split("=", 1) for kv in attrs.split()) if attrs else {}

    def __repr__(self) -> str:
        return f"TUTORIAL.md:{self.line} {self.lang} {self.attrs} {self.body[:60]!r}"


def blocks() -> list[Block]:
    text = TUTORIAL.read_text()
    return [Block(m[1], m[2] or "", m[3], text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)]


class Terminal:
    """``bash -c <command>`` in a pty of its own, as in a terminal window."""

    def __init__(self, name: str, command: str, env: dict[str, str], cwd: Path, log: Path):
        self.name = name
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.lock = threading.Lock()
        self.log = open(log, "wb")
        self.proc, self.master = spawn_in_pty(["bash", "-c", command], cwd=cwd, env=env, rows=ROWS, cols=COLS)
        threading.Thread(target=self._read, name=f"pty-{name}", daemon=True).start()

    def _read(self) -> None:
        def show(data: bytes) -> bool:
            with self.lock:
                if self.log.closed:
                    return False
                self.log.write(data)
                self.log.flush()
                self.stream.feed(data)
                return True

        read_pty(self.master, show)

    def text(self) -> str:
        with self.lock:
            return "\n".join(line.rstrip() for line in self.screen.display)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())
        time.sleep(0.3)
        os.write(self.master, b"\r")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            os.close(self.master)
        except OSError:
            pass
        with self.lock:
            self.log.close()


def blocks_of(req: Request, role: str, kind: str) -> Iterator[dict[str, Any]]:
    """The ``kind`` content blocks of ``role``'s messages in the conversation."""
    for m in req.body.get("messages", []):
        if m.get("role") == role and isinstance(m.get("content"), list):
            yield from (b for b in m["content"] if b.get("type") == kind)


def tool_inputs(req: Request, tool: str) -> list[tuple[str, dict[str, Any]]]:
    """``(tool_use_id, input)`` of every call of ``tool`` in the conversation."""
    return [(b["id"], b.get("input", {})) for b in blocks_of(req, "assistant", "tool_use") if b.get("name") == tool]


def tool_result_text(req: Request, tool_use_id: str) -> str:
    for b in blocks_of(req, "user", "tool_result"):
        if b.get("tool_use_id") == tool_use_id:
            return "\n".join(block_texts(b.get("content", "")))
    raise AssertionError(f"no result for {tool_use_id} in the lead's conversation")


def sent_event_id(req: Request, worker: str) -> str:
    """The event id the hub returned for the lead's tm_send to ``worker``,
    read from the conversation as the model reads it."""
    for tid, args in tool_inputs(req, "mcp__tubemail__tm_send"):
        if args.get("worker") == worker:
            text = tool_result_text(req, tid)
            m = re.search(r'"event_id"\s*:\s*"([^"]+)"', text)
            assert m, f"no event_id in tm_send's result: {text}"
            return m[1]
    raise AssertionError(f"the lead never sent to {worker}")


def script_the_model(api: FakeApi) -> None:
    """What the model of each session does with each prompt of the tutorial."""
    api.on(
        "Ask api-tm and web-tm what they are working on.",
        label="tutorial: hand out",
        calls=[
            ("mcp__tubemail__tm_send", {"worker": "api-tm", "message": "What are you working on, api-tm? (tutorial)"}),
            ("mcp__tubemail__tm_send", {"worker": "web-tm", "message": "What are you working on, web-tm? (tutorial)"}),
        ],
        then="Both workers have your question.",
    )

    def answer(req: Request) -> dict[str, Any]:
        where = "api" if "What are you working on, api-tm?" in req.last_user else "web"
        return {"text": f"TUTORIAL-{where.upper()}: the {where} layer, tests green"}

    api.on(re.compile(r"What are you working on, \w+-tm\? \(tutorial\)"), label="tutorial: worker answers", tool=REPLY_TOOL, tool_input=answer)
    api.on(
        "Wait for api-tm's answer and tell me what it said.",
        label="tutorial: wait",
        tool="mcp__tubemail__tm_wait_for_activity",
        tool_input=lambda req: {"worker": "api-tm", "since": sent_event_id(req, "api-tm"), "timeout_s": 30},
        then="LEAD-SAW-API {result}",
    )
    api.on(
        "What did web-tm answer?",
        label="tutorial: receive",
        tool="mcp__tubemail__tm_receive",
        tool_input={"worker": "web-tm"},
        then="LEAD-SAW-WEB {result}",
    )
    api.on(
        "Ask api-tm to run its tests.",
        label="tutorial: delegate tests",
        tool="mcp__tubemail__tm_send",
        tool_input={"worker": "api-tm", "message": "Run your tests. (tutorial)"},
        then="api-tm is running its tests.",
    )
    api.on(
        "Run your tests. (tutorial)",
        label="tutorial: worker runs tests",
        tool="Bash",
        # A command that writes a file, so Claude Code asks first.
        tool_input={"command": "echo TUTORIAL-TESTS-PASSED > test-report.txt && cat test-report.txt", "description": "run the tests"},
        then="TESTS-RAN {result}",
    )
    api.on(
        "Start recording api-tm's terminal.",
        label="tutorial: record",
        tool="mcp__tubemail__tm_recording_toggle",
        tool_input={"worker": "api-tm", "enabled": True},
        then="Recording api-tm.",
    )


def test_every_step_of_the_tutorial(tmp_path: Path, api: FakeApi, claude: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "claude").symlink_to(claude)
    # Claude Code's first-run questions (theme, API key, trusting each
    # folder), answered as the user would.
    seeded = claude_json(home / "work/api")
    for project in ("web", "lead"):
        seeded["projects"].update(claude_json(home / "work" / project)["projects"])
    (home / ".claude.json").write_text(json.dumps(seeded))

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cargo = shutil.which("cargo")
    assert cargo, "cargo is not on PATH (make install needs it)"
    real_home = Path(os.environ.get("HOME", "/root"))
    marker = f"E2E_TUTORIAL={RUN_ID}"
    env = {
        **claude_env(
            api.url,
            home=home,
            runtime=runtime,
            path=f"{home}/.local/bin:{bindir}:{Path(cargo).parent}:/usr/local/bin:/usr/bin:/bin",
        ),
        # the toolchain stays the user's own
        "CARGO_HOME": os.environ.get("CARGO_HOME", str(real_home / ".cargo")),
        "RUSTUP_HOME": os.environ.get("RUSTUP_HOME", str(real_home / ".rustup")),
        "PROFILE": os.environ.get("TUBEMAIL_INSTALL_PROFILE", "dev"),
        # a free port instead of 8004
        "TUBEMAIL_BIND": f"127.0.0.1:{port}",
        "TUBEMAIL_HUB_URL": base,
        "E2E_TUTORIAL": RUN_ID,
    }
    script_the_model(api)
    terminals: dict[str, Terminal] = {}

    def secret() -> str:
        return (home / ".local/share/tubemail/secret").read_text().strip()

    def hub_get(path: str) -> Any:
        req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {secret()}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def shows(name: str, *needles: str) -> str:
        t = terminals[name]
        wait_until(
            f"{name}'s terminal to show {needles}",
            lambda: all(n in t.text() for n in needles) or None,
            90,
            0.3,
            lambda: f"--- {name} ---\n{t.text()}",
        )
        return t.text()

    def worker_online(name: str) -> None:
        t = terminals[name.removesuffix("-tm")]

        def online() -> bool:
            if t.proc.poll() is not None:
                raise AssertionError(f"{name}'s claude-tm exited ({t.proc.returncode})\n{t.text()}")
            try:
                return hub_get(f"/api/workers/{name}/status").get("presence") == "online"
            except OSError:
                return False

        wait_until(f"{name} online", online, 90, 0.5, t.text)
        shows(name.removesuffix("-tm"), "for shortcuts")

    def saw(rule: str, text: str) -> None:
        """The lead's model got ``text`` back from the tool of ``rule``."""
        api.wait_for(
            lambda r: r.answered_by == f"{rule}:then" and text in json.dumps(r.tool_results),
            f"{text} in the result of the lead's tool ({rule})",
            timeout=90,
        )

    def events(worker: str) -> list[dict[str, Any]]:
        return hub_get(f"/api/workers/{worker}/events?limit=100")["events"]

    def run(block: Block) -> str:
        body = block.body.replace("8004", str(port)).replace("<request-id>", state.get("request_id", "<none>"))
        cwd = REPO if body.startswith("make ") else home
        done = subprocess.run(["bash", "-c", body], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, f"{block} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout + done.stderr

    state: dict[str, str] = {}
    steps = blocks()
    assert len(steps) >= 10, steps
    try:
        for block in steps:
            if block.lang == "sh" and "terminal" in block.attrs:
                name = block.attrs["terminal"]
                body = block.body.replace("8004", str(port))
                terminals[name] = Terminal(name, body, env, home, tmp_path / f"{name}.log")
                if name == "hub":
                    # Long log lines wrap on the screen: read the log.
                    log = tmp_path / "hub.log"
                    want = [f"web UI: {base}/", f"claude mcp add --transport http tubemail {base}/mcp/"]
                    wait_until("the hub's start-up lines", lambda: all(w in tail(log) for w in want) or None, 60, 0.3,
                               lambda: tail(log))
                    assert secret() not in log.read_text(errors="replace")
                elif name in ("api", "web"):
                    worker_online(f"{name}-tm")
                elif name == "lead":
                    # The footer under the prompt: "? for shortcuts", or the
                    # permission mode in the newer CLIs.
                    t = terminals["lead"]
                    wait_until("the lead's prompt", lambda: re.search(r"for shortcuts|shift\+tab to cycle", t.text()),
                               90, 0.3, t.text)
                else:
                    raise AssertionError(f"no expectation for {block}")
            elif block.lang == "text" and "type" in block.attrs:
                t = terminals[block.attrs["type"]]
                prompt = block.body
                t.type(prompt)
                if prompt.startswith("Ask api-tm and web-tm"):
                    shows("lead", "Both workers have your question.")
                    for w in ("api-tm", "web-tm"):
                        wait_until(
                            f"{w}'s answer on the hub",
                            lambda w=w: any(e["kind"] == "outbound" and "TUTORIAL-" in e["content"] for e in events(w)),
                            90,
                            0.5,
                        )
                elif prompt.startswith("Wait for api-tm"):
                    saw("tutorial: wait", "TUTORIAL-API")
                    shows("lead", "LEAD-SAW-API")
                elif prompt.startswith("What did web-tm"):
                    saw("tutorial: receive", "TUTORIAL-WEB")
                    shows("lead", "LEAD-SAW-WEB")
                elif prompt.startswith("Ask api-tm to run"):
                    shows("lead", "api-tm is running its tests.")
                    pending = wait_until(
                        "api-tm's Bash prompt in the hub's inbox",
                        lambda: [p for p in hub_get("/api/permissions")["pending"] if p["worker"] == "api-tm"] or None,
                        90,
                        0.5,
                        lambda: terminals["api"].text(),
                    )
                    assert pending[0]["tool_name"] == "Bash", pending
                    state["request_id"] = pending[0]["request_id"]
                elif prompt.startswith("Start recording"):
                    shows("lead", "Recording api-tm.")
                else:
                    raise AssertionError(f"no expectation for {block}")
            elif block.lang == "sh":
                out = run(block)
                if block.body.startswith("make install"):
                    assert (home / ".local/bin/tubemail-hub").is_file(), out
                elif block.body.startswith("export PATH"):
                    pass  # the test's PATH already has ~/.local/bin first
                elif block.body == "tubemail workers":
                    for w in ("api-tm", "web-tm"):
                        row = next((line for line in out.splitlines() if line.startswith(w)), "")
                        assert "online" in row and "idle" in row, out
                elif block.body.startswith("mkdir -p ~/work/lead"):
                    config = json.loads((home / ".claude.json").read_text())
                    server = config["projects"][str(home / "work/lead")]["mcpServers"]["tubemail"]
                    assert server["url"] == f"{base}/mcp/", server
                    assert server["headers"]["Authorization"] == f"Bearer {secret()}"
                elif block.body == "tubemail receive api-tm":
                    assert "TUTORIAL-API" in out and "What are you working on, api-tm?" in out, out
                elif block.body == "tubemail permissions":
                    assert state["request_id"] in out and "Bash" in out, out
                elif block.body.startswith("tubemail allow"):
                    api.wait_for(
                        lambda r: r.answered_by == "tutorial: worker runs tests:then"
                        and "TUTORIAL-TESTS-PASSED" in json.dumps(r.tool_results),
                        "the allowed command's output reaching the worker's model",
                        timeout=90,
                    )
                    kinds = [e["kind"] for e in events("api-tm")]
                    assert "permission_request" in kinds and "permission_response" in kinds, kinds
                    assert kinds.index("permission_request") < kinds.index("permission_response"), kinds
                elif block.body.startswith("ls ~/.local/share/tubemail/recordings/api-tm"):
                    assert ".cast" in out, out
                elif block.body.startswith("tubemail stop"):
                    for name in ("api", "web"):
                        t = terminals[name]
                        wait_until(f"{name}'s claude-tm to end", lambda t=t: t.proc.poll() is not None, 60, 0.5, t.text)
                        assert t.proc.returncode == 0, (name, t.proc.returncode, tail(tmp_path / f"{name}.log"))
                else:
                    raise AssertionError(f"no expectation for {block}")
            else:
                raise AssertionError(f"a block the test cannot run: {block}")
        assert "request_id" in state, "the tutorial never approved a prompt"
    finally:
        for t in terminals.values():
            t.stop()
        for pid, _ in procs_with_env(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
