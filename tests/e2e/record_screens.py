"""Records the Claude Code screens claude-tm has to read, as golden files.

claude-tm still reads the rendered screen where the CLI offers no other
signal (start-up dialogs, the permission prompt while it is open, a
rate-limit stop, the idle prompt). Each supported CLI version gets its own
set of screens under ``bins/claude-tm/tests/screens/<version>/``; the Rust
tests in ``bins/claude-tm/tests/screens.rs`` feed every file to the screen
readers and check what they make of it, so a new release's differences show
up as failing fixtures instead of silent workers.

The CLI runs in tmux (``capture-pane`` gives the rendered screen), offline
against the fake model API, with claude-tm's channel as its MCP server and
the same flags claude-tm passes. Nothing here answers a dialog by itself:
each step types what a person would.

Usage::

    python3 tests/e2e/record_screens.py VERSION   # e.g. 2.1.332 or latest

It installs ``@anthropic-ai/claude-code@VERSION`` with npm into
``target/claude-code-<VERSION>`` (reused when present) and needs
``target/debug/claude-tm`` (``cargo build --workspace``) and tmux.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fakeapi import FakeApi  # noqa: E402
from support import API_KEY, REPO, claude_json  # noqa: E402

OUT = REPO / "bins" / "claude-tm" / "tests" / "screens"
SESSION = "tm-record"
COLS, ROWS = 120, 40


def install(version: str) -> tuple[Path, str]:
    """The CLI of ``version`` and the version it reports."""
    cache = REPO / "target" / f"claude-code-{version}"
    exe = cache / "node_modules" / ".bin" / "claude"
    if not exe.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error",
             f"@anthropic-ai/claude-code@{version}"],
            cwd=cache, check=True,
        )
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True).stdout
    return exe, out.split()[0]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait(what: str, pred: Callable[[str], bool], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        s = screen()
        if pred(s):
            return s
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}; screen:\n{s}")
        time.sleep(0.3)


def squeezed(s: str) -> str:
    return re.sub(r"\s+", "", s)


def keys(*k: str) -> None:
    tmux("send-keys", "-t", SESSION, *k)


def type_line(text: str) -> None:
    tmux("send-keys", "-t", SESSION, "-l", text)
    time.sleep(0.3)
    keys("Enter")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    exe, version = install(sys.argv[1])
    claude_tm = REPO / "target" / "debug" / "claude-tm"
    if not claude_tm.exists():
        raise SystemExit("build claude-tm first: cargo build --workspace")
    dest = OUT / version
    dest.mkdir(parents=True, exist_ok=True)
    saved: list[str] = []

    def save(name: str, text: str) -> None:
        # Trailing blanks carry nothing and differ between terminals.
        lines = [line.rstrip() for line in text.splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        (dest / f"{name}.txt").write_text("\n".join(lines) + "\n")
        saved.append(name)
        print(f"saved {version}/{name}.txt", flush=True)

    api = FakeApi().start()
    tmp = Path(tempfile.mkdtemp(prefix="tm-record-"))
    project = tmp / "proj"
    home = tmp / "home"
    project.mkdir()
    home.mkdir()
    (home / ".claude.json").write_text(json.dumps(claude_json(project) | {"lastOnboardingVersion": version}))
    # The original Python tool's project entry: the CLI asks about it.
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"tubemail-channel": {"command": "tubemail"}}}))
    mcp = tmp / "mcp.json"
    mcp.write_text(json.dumps({"mcpServers": {"tubemail-channel": {
        "type": "stdio", "command": str(claude_tm), "args": ["channel"],
        "env": {"TM_WORKER_NAME": "proj-tm", "TUBEMAIL_HUB_URL": "http://127.0.0.1:9", "TUBEMAIL_SECRET": "x"},
    }}}))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TERM": "xterm-256color",
        "LANG": "C.UTF-8", "ANTHROPIC_BASE_URL": api.url, "ANTHROPIC_API_KEY": API_KEY,
        "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1",
        "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost",
    }
    argv = [str(exe), "--mcp-config", str(mcp), "--dangerously-load-development-channels", "server:tubemail-channel",
            "--permission-mode", "default"]
    command = "env -i " + " ".join(f"{k}='{v}'" for k, v in env.items()) + " " + " ".join(argv)
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    tmux("new-session", "-d", "-s", SESSION, "-x", str(COLS), "-y", str(ROWS), "-c", str(project), command)
    try:
        # Start-up dialogs, in whatever order this version shows them.
        for _ in range(4):
            s = wait("a dialog or the prompt", lambda s: "localdevelopment" in squeezed(s)
                     or "NewMCPserver" in squeezed(s) or re.search(r"^\s*❯\s*$", s, re.M) is not None)
            if "localdevelopment" in squeezed(s):
                time.sleep(1.0)
                save("dev_channels", screen())
                keys("Enter")
                wait("the dev-channels dialog to close", lambda s: "localdevelopment" not in squeezed(s))
            elif "NewMCPserver" in squeezed(s):
                time.sleep(1.0)
                save("new_mcp_server", screen())
                keys("Down")
                time.sleep(0.5)
                save("new_mcp_server_moved", screen())
                # Continue without it, as a person would: move to that
                # option, then confirm.
                for _ in range(5):
                    cursor = next((l for l in screen().splitlines() if l.strip().startswith("❯")), "")
                    if "Continue without" in cursor:
                        break
                    keys("Down")
                    time.sleep(0.4)
                keys("Enter")
                wait("the MCP question to close", lambda s: "NewMCPserver" not in squeezed(s))
            else:
                break
        time.sleep(3.0)
        save("idle", wait("the idle prompt", lambda s: re.search(r"^\s*❯", s, re.M) is not None))

        api.on("SLOWLY", text="slowly answering " + "word " * 60, chunks=40, delay=0.4)
        type_line("SLOWLY please")
        time.sleep(4.0)
        save("busy", screen())
        wait("the answer to end", lambda s: "slowly answering" in s and "esc to interrupt" not in s.lower(), 60)
        time.sleep(1.5)
        save("idle_after_turn", screen())

        api.on("RUNBASH", tool="Bash", tool_input={"command": "echo recorded > recorded.txt", "description": "write recorded.txt"})
        type_line("RUNBASH now")
        s = wait("the permission prompt", lambda s: "Doyouwant" in squeezed(s), 60)
        time.sleep(1.0)
        save("permission_prompt", screen())
        keys("Escape")
        wait("the prompt to close", lambda s: "Doyouwant" not in squeezed(s))
        time.sleep(1.5)
        save("permission_denied", screen())
        # The denial goes to the model with the next prompt.
        type_line("AFTERDENY ok")
        wait("the answer after the denial", lambda s: "TOOL_RESULT_SEEN" in s and "esc to interrupt" not in s.lower())
        time.sleep(1.0)

        api.on("LIMITED", status=429, times=1)
        type_line("LIMITED please")
        time.sleep(6.0)
        save("rate_limited", screen())

        type_line("/mcp")
        time.sleep(2.5)
        save("mcp_list", screen())
        keys("Enter")
        time.sleep(1.5)
        save("mcp_detail", screen())
        keys("Escape")
        time.sleep(0.5)
        keys("Escape")
        time.sleep(1.0)

        type_line("/mcp reconnect tubemail-channel")
        s = wait("the reconnect verdict", lambda s: "reconnectedtotubemail-channel" in squeezed(s).lower()
                 or "failedtoreconnect" in squeezed(s).lower(), 40)
        time.sleep(0.5)
        save("mcp_reconnect_command", screen())
        type_line("/mcp reconnect no-such-server")
        time.sleep(3.0)
        save("mcp_reconnect_unknown", screen())
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
        api.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(saved)} screens for {version} in {dest}")


if __name__ == "__main__":
    main()
