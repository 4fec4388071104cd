"""Claude Code's hooks drive the worker's activity (claude-tm's --settings
hooks file), and what no hook tells (an interrupt at the terminal) comes
from the session transcript, not from the screen."""

from __future__ import annotations

from typing import Any, Callable

from fakeapi import FakeApi
from support import Orchestrator, Worker, token, wait_until


def test_hooks_drive_activity_and_an_interrupt_ends_the_turn(
    start_worker: Callable[..., Worker], api: FakeApi, tm: Orchestrator
) -> None:
    w = start_worker("hooked")
    try:
        def log() -> str:
            return w.log_path.read_text(errors="replace")

        wait_until("the first hook", lambda: "hooks are live" in log(), 30, 0.5, log)

        def state() -> dict[str, Any]:
            return tm("tm_status", {"worker": w.name})

        tok = token("H")
        api.on(tok, text=f"slowly {tok} " + "word " * 60, chunks=60, delay=0.5)
        tm("tm_send", {"worker": w.name, "message": f"{tok} take your time"})
        api.wait_for(lambda r: tok in r.last_user, f"{tok} in a model request")
        wait_until(
            "busy",
            lambda: (s := state())["state"] == "busy" and s["state_reason"]["signal"] == "observed_active",
            30,
            0.5,
        )
        # Esc at the terminal: the CLI runs no hook for it (no Stop), and
        # writes it to the transcript at once.
        w.type("\x1b")
        wait_until("the interrupt read from the transcript", lambda: "interrupted at the terminal" in log(), 15, 0.25, log)
        wait_until(
            "idle",
            lambda: (s := state())["state"] == "idle" and s["state_reason"]["signal"] == "observed_idle",
            15,
            0.5,
            lambda: f"{state()}\n{tm.screen(w.name)}",
        )
    finally:
        w.stop()
