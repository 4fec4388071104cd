"""Permission rules and expiry (issue 19) with the real Claude Code CLI: a
Bash prompt allowed by a rule with no click, and one denied when its rule's
timeout runs out, the model seeing the matching tool result each time.

The rules are hub-wide; every rule here names this module's worker, and the
list is emptied afterwards, so the other modules' prompts still wait."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from fakeapi import FakeApi
from support import E2EHub, Orchestrator, Worker, token, wait_until


@pytest.fixture(scope="module")
def w(start_worker: Callable[..., Worker], hub: E2EHub) -> Iterator[Worker]:
    worker = start_worker("e2e-rules")
    yield worker
    r = hub.request("PUT", "/api/rules", {"rules": []})
    assert r.status == 200, r.describe()


def set_rules(hub: E2EHub, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = hub.request("PUT", "/api/rules", {"rules": rules})
    assert r.status == 200, r.describe()
    return r.json["rules"]


def answers(tm: Orchestrator, w: Worker) -> list[dict[str, Any]]:
    return [e for e in tm.events(w.name) if e["kind"] == "permission_response"]


def test_a_rule_allows_bash_with_nobody_clicking(w: Worker, api: FakeApi, tm: Orchestrator, hub: E2EHub) -> None:
    tok = token("RA")
    name = f"ruled-{tok}.txt"
    rules = set_rules(
        hub,
        [{"name": "echo is fine", "worker": w.name, "tool": "Bash", "input": f"^echo {tok} > ", "verdict": "allow"}],
    )
    before = len(answers(tm, w))
    api.on(tok, tool="Bash", tool_input={"command": f"echo {tok} > {name}", "description": f"write {name}"})
    tm("tm_send", {"worker": w.name, "message": f"{tok} run the command"})

    follow = api.wait_for(lambda r: r.answered_by == f"{tok}:then", "the Bash tool result", timeout=90)
    result = follow.tool_results[0]
    assert not result.get("is_error"), result
    assert (w.dir / name).read_text().strip() == tok
    assert not tm("tm_pending_permissions", {"worker": w.name})
    got = answers(tm, w)[before:]
    assert [e["content"] for e in got] == ["allow"], got
    assert got[0]["meta"]["decided_by"] == "rule", got
    assert got[0]["meta"]["rule"]["id"] == rules[0]["id"], got
    assert got[0]["meta"]["rule"]["name"] == "echo is fine", got


def test_an_unanswered_prompt_is_denied_at_its_deadline(
    w: Worker, api: FakeApi, tm: Orchestrator, hub: E2EHub
) -> None:
    tok = token("RE")
    name = f"expired-{tok}.txt"
    set_rules(hub, [{"worker": w.name, "tool": "Bash", "verdict": "ask", "timeout_secs": 3, "default_answer": "deny"}])
    before = len(answers(tm, w))
    api.on(tok, tool="Bash", tool_input={"command": f"echo {tok} > {name}", "description": f"write {name}"})
    tm("tm_send", {"worker": w.name, "message": f"{tok} run the command"})

    p = wait_until(
        "a pending prompt with a deadline",
        lambda: [x for x in tm("tm_pending_permissions", {"worker": w.name}) if tok in x["input_preview"]],
        60,
        0.3,
        lambda: tm.screen(w.name),
    )[0]
    web = hub.get_ok(f"/api/permissions?worker={hub.q(w.name)}")["pending"]
    assert web and web[0]["deadline"] > web[0]["requested_at"], web

    follow = api.wait_for(lambda r: r.answered_by == f"{tok}:then", "the Bash tool result", timeout=60)
    result = follow.tool_results[0]
    assert result.get("is_error") is True, result
    assert "Denied via channel tubemail-channel" in follow.last_user, follow.last_user
    assert not (w.dir / name).exists()
    got = answers(tm, w)[before:]
    assert [(e["content"], e["meta"].get("request_id")) for e in got] == [("deny", p["request_id"])], got
    assert got[0]["meta"]["decided_by"] == "expiry", got
    assert not tm("tm_pending_permissions", {"worker": w.name})
