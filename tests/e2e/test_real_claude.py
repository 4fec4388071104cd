"""The real Claude Code CLI under ``claude-tm``, driven through the hub.

One worker (``e2e-main-tm``) serves most tests in order, as one long session
would; the restart and stop tests come last. Each test keys the fake model's
answers off its own token, so tests cannot answer each other's turns.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any, Callable

import pytest

from fakeapi import FakeApi
from support import E2EHub, Orchestrator, Worker, wait_until

CHANNEL_TAG = re.compile(r'<channel source="tubemail-channel"([^>]*)>\n(.*?)\n</channel>', re.S)
REPLY_TOOL = "mcp__tubemail-channel__reply"


def token(label: str) -> str:
    return f"E2E-{label}-{secrets.token_hex(4)}"


def channel_blocks(text: str) -> list[tuple[dict[str, str], str]]:
    """``(attributes, body)`` of every ``<channel …>`` block in ``text``."""
    out = []
    for attrs, body in CHANNEL_TAG.findall(text):
        out.append((dict(re.findall(r'(\w+)="([^"]*)"', attrs)), body))
    return out


def outbound(tm: Orchestrator, worker: str, pred: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    return [e for e in tm.events(worker) if e["kind"] == "outbound" and pred(e)]


@pytest.fixture(scope="module")
def w(start_worker: Callable[..., Worker]) -> Worker:
    return start_worker("e2e-main")


# ── (a) a message in, a reply out ────────────────────────────────────────────


def test_send_reaches_the_model_and_reply_reaches_the_orchestrator(w: Worker, api: FakeApi, tm: Orchestrator) -> None:
    tok = token("A")
    api.on(tok, tool=REPLY_TOOL, tool_input={"text": f"PONG {tok}", "meta": {"in_reply_to": tok}})
    sent = tm("tm_send", {"worker": w.name, "message": f"{tok} please reply", "meta": {"thread": "t1"}})
    assert sent["routed_to"].startswith("worker"), sent

    req = api.wait_for(lambda r: tok in r.last_user, f"{tok} in the last user message")
    blocks = [b for b in channel_blocks(req.last_user) if tok in b[1]]
    assert blocks, f"no <channel source=\"tubemail-channel\"> block in {req.last_user!r}"
    attrs, body = blocks[0]
    assert body == f"{tok} please reply"
    assert attrs.get("thread") == "t1", attrs
    assert attrs.get("event_id") == sent["event_id"], attrs
    assert REPLY_TOOL in req.tool_names(), req.tool_names()

    got = wait_until(
        "the reply on the worker's timeline",
        lambda: outbound(tm, w.name, lambda e: e["content"] == f"PONG {tok}"),
        60,
        0.5,
    )
    assert got[0]["meta"].get("in_reply_to") == tok, got
    # The reply tool ran without a permission prompt, and its result went back.
    follow = api.wait_for(lambda r: r.answered_by == f"{tok}:then", "the reply's tool result")
    assert "delivered" in follow.last_user, follow.last_user
    assert not tm("tm_pending_permissions", {"worker": w.name})
