"""Permission-rule tools (issue 19): tm_rules_set / tm_rules_list /
tm_rules_test, and a prompt the rules decide without anyone answering.

The rules are hub-wide, so these tests run on a hub of their own."""

from __future__ import annotations

import json

import pytest
from _support import Hub, call, mcp_client, ok_dict, ok_list

pytestmark = pytest.mark.anyio


async def test_a_rule_set_over_mcp_answers_the_next_prompt(rules_hub: Hub, worker: str, listen) -> None:
    chan = listen(worker, on=rules_hub)
    async with mcp_client(rules_hub) as c:
        saved = await ok_dict(
            c,
            "tm_rules_set",
            {
                "rules": [
                    {"name": "git reads", "tool": "Bash", "input": "^git (status|diff)$", "verdict": "allow"},
                    {"tool": "Bash", "verdict": "ask", "timeout_secs": 60},
                ]
            },
        )
        assert [r["verdict"] for r in saved["rules"]] == ["allow", "ask"], saved
        assert all(r["id"] for r in saved["rules"]), saved
        listed = await ok_dict(c, "tm_rules_list")
        assert listed == saved, (listed, saved)

        d = await ok_dict(c, "tm_rules_test", {"worker": worker, "tool_name": "Bash", "input_preview": "git diff"})
        assert d["verdict"] == "allow" and d["rule"]["index"] == 0, d
        d = await ok_dict(c, "tm_rules_test", {"worker": worker, "tool_name": "Bash", "input_preview": "make"})
        assert (d["verdict"], d["timeout_secs"], d["default_answer"]) == ("ask", 60, "deny"), d

        preview = json.dumps({"command": "git status", "description": "status"})
        rules_hub.permission_request(worker, "ruled", "Bash", "status", preview)
        _, data = chan.wait_for(lambda n, d: n == "permission_response", "permission_response on the worker stream")
        assert data.get("request_id") == "ruled" and data.get("behavior") == "allow", data
        assert await ok_list(c, "tm_pending_permissions", {"worker": worker}) == []
        evs = await ok_list(c, "tm_receive", {"worker": worker})
        resp = [e for e in evs if e["kind"] == "permission_response"]
        assert len(resp) == 1 and resp[0]["meta"]["decided_by"] == "rule", evs
        assert resp[0]["meta"]["rule"]["name"] == "git reads", resp

        rules_hub.permission_request(worker, "asked", "Bash", "build", json.dumps({"command": "make"}))
        pending = await ok_list(c, "tm_pending_permissions", {"worker": worker})
        assert [p["request_id"] for p in pending] == ["asked"], pending
        assert isinstance(pending[0].get("deadline"), float), pending


async def test_a_bad_regex_is_a_tool_error_and_changes_nothing(rules_hub: Hub) -> None:
    async with mcp_client(rules_hub) as c:
        before = await ok_dict(c, "tm_rules_list")
        r = await call(c, "tm_rules_set", {"rules": [{"tool": "Bash", "input": "(oops", "verdict": "deny"}]})
        assert r.is_error, r
        text = r.content[0].text
        assert "rule 0 (input): invalid regex" in text, text
        assert await ok_dict(c, "tm_rules_list") == before
