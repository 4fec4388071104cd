"""Messages sent while a worker is not running wait on the hub and reach the
model once claude-tm starts (the channel must not push them before Claude
Code listens for channel notifications)."""

from __future__ import annotations

from typing import Callable

from fakeapi import FakeApi
from support import Orchestrator, Worker, channel_blocks, token, wait_until


def test_messages_queued_before_the_worker_starts_arrive_once(
    start_worker: Callable[..., Worker], api: FakeApi, tm: Orchestrator
) -> None:
    name = "e2e-queued-tm"
    toks = [token(f"Q{i}") for i in range(3)]
    for t in toks:
        api.on(t, text=f"ok {t}")
        sent = tm("tm_send", {"worker": name, "message": f"{t} queued"})
        assert sent["worker"] == name, sent
    w = start_worker("e2e-queued")
    assert w.name == name
    for t in toks:
        req = api.wait_for(lambda r: t in r.last_user, f"{t} in a model request", timeout=60)
        assert f"{t} queued" in [b for a, b in channel_blocks(req.last_user)], req.last_user
    wait_until("the turns to end", lambda: "for shortcuts" in tm.screen(w.name), 60, 0.5)
    for t in toks:
        seen = [r for r in api.requests() if t in r.last_user]
        assert len(seen) == 1, api.dump()
    tm("tm_stop", {"worker": w.name})
    assert w.proc.wait(timeout=60) == 0
