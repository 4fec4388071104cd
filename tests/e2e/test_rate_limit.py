"""Rate-limit auto-continue with the real CLI: the model endpoint refuses a
turn with 429 (not to be retried), Claude Code shows the API error, and
claude-tm types ``continue`` after its first wait (15 s), which the model
then answers."""

from __future__ import annotations

import re
import time
from typing import Callable

from fakeapi import FakeApi
from support import Orchestrator, Worker, token, wait_until

CONTINUE = re.compile(r"(?m)^continue\s*$")


def test_a_rate_limited_turn_is_continued(start_worker: Callable[..., Worker], api: FakeApi, tm: Orchestrator) -> None:
    w = start_worker("e2e-limit")
    tok = token("RL")
    api.on(tok, status=429, times=1)
    api.on(CONTINUE, label=f"{tok}:continue", text=f"resumed {tok}", times=1)
    tm("tm_send", {"worker": w.name, "message": f"{tok} hello"})
    refused = api.wait_for(lambda r: r.answered_by == tok, f"{tok} refused with 429")
    wait_until("the API error on screen", lambda: "Request rejected (429)" in tm.screen(w.name), 30, 0.5)
    cont = api.wait_for(lambda r: r.answered_by == f"{tok}:continue", "claude-tm's `continue`", timeout=60)
    waited = cont.at - refused.at
    assert 14.0 <= waited, f"continued after {waited:.1f}s, before the 15 s wait"
    assert cont.last_user.strip().endswith("continue"), cont.last_user
    wait_until("the resumed answer on screen", lambda: f"resumed {tok}" in tm.screen(w.name), 30, 0.5)
    # One `continue` per stop: nothing more is typed while all is well.
    time.sleep(3.0)
    typed = [r for r in api.requests() if CONTINUE.search(r.last_user)]
    assert len(typed) == 1, api.dump()
    tm("tm_stop", {"worker": w.name})
    assert w.proc.wait(timeout=60) == 0
