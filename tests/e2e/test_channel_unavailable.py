"""No silent dead worker: when Claude Code does not take the channel, the hub
says so with the CLI's words, ``tm_status`` shows it, a send is stored with a
warning, and the user's terminal gets one line. Here channels are off the way
users turn them off by accident: ``DISABLE_TELEMETRY`` in the environment
(Claude Code's feature flags then fall back to "off")."""

from __future__ import annotations

import time
from typing import Callable

from support import Orchestrator, Worker, tail, wait_until

# The bound, from the channel's start to the reason on the hub.
WITHIN_S = 10.0


def test_a_channel_claude_skips_is_reported_with_the_reason(
    start_worker: Callable[..., Worker], tm: Orchestrator
) -> None:
    w = start_worker("e2e-nochan", wait=False, env={"DISABLE_TELEMETRY": "1"})

    def channel_started() -> float | None:
        if w.proc.poll() is not None:
            raise AssertionError(f"claude-tm exited with {w.proc.returncode}\n{w.describe()}")
        found = [cmd for _, cmd in w.processes() if "claude-tm" in cmd and " channel" in cmd]
        return time.monotonic() if found else None

    t0 = wait_until("the channel process", channel_started, 120, 0.1, w.describe)

    def reported() -> dict | None:
        # The CLI's own reason (a first report may name only the variable,
        # when claude's log is not on disk yet).
        st = tm("tm_status", {"worker": w.name})
        r = st["state_reason"]
        ok = r["signal"] == "channel_unavailable" and "Claude Code skipped the channel:" in (r.get("detail") or "")
        return st if ok else None

    st = wait_until("channel_unavailable on the hub", reported, 60, 0.25, w.describe)
    took = time.monotonic() - t0
    assert took <= WITHIN_S, f"reported {took:.1f} s after the channel started"
    detail = st["state_reason"]["detail"]
    # Claude Code's own reason, and the variable behind it.
    assert "Claude Code skipped the channel:" in detail, detail
    assert "DISABLE_TELEMETRY" in detail, detail
    print(f"reported {took:.1f} s after the channel started: {detail}")
    assert st["permission_mode"] == "default", st

    sent = tm("tm_send", {"worker": w.name, "message": "anyone there?"})
    assert "cannot be delivered yet" in (sent.get("warning") or ""), sent
    events = tm.events(w.name)
    assert any(e["content"] == "anyone there?" for e in events), events

    # One line for the user, through the manager.
    wait_until(
        "the terminal notice",
        lambda: "will not receive hub messages" in tail(w.log_path, 20000),
        20,
        0.5,
        w.describe,
    )
    tm("tm_stop", {"worker": w.name})
    assert w.proc.wait(timeout=60) == 0
