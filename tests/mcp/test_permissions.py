"""Permission tools: tm_pending_permissions / tm_respond_permission /
tm_sweep_stale_permissions (spec §3, §5.4)."""

from __future__ import annotations

import pytest
from _support import Hub, assert_event, mcp_client, ok_dict, ok_list, tool_error

pytestmark = pytest.mark.anyio

PENDING_KEYS = ("worker", "request_id", "tool_name", "description", "input_preview")


def entry(worker: str, rid: str, tool: str, desc: str, preview: str) -> dict:
    return dict(zip(PENDING_KEYS, (worker, rid, tool, desc, preview), strict=True))


def pick(row: dict) -> dict:
    return {k: row.get(k) for k in PENDING_KEYS}


@pytest.mark.parametrize("behavior", ["allow", "deny"])
async def test_pending_then_respond(hub: Hub, worker: str, listen, behavior: str) -> None:
    chan = listen(worker)
    req = hub.permission_request(worker, "qwert", "Bash", "list the files", "ls -la /tmp")
    async with mcp_client(hub) as c:
        mine = await ok_list(c, "tm_pending_permissions", {"worker": worker})
        assert [pick(p) for p in mine] == [entry(worker, "qwert", "Bash", "list the files", "ls -la /tmp")], mine
        everyone = await ok_list(c, "tm_pending_permissions")
        assert entry(worker, "qwert", "Bash", "list the files", "ls -la /tmp") in [pick(p) for p in everyone], everyone
        st = await ok_dict(c, "tm_status", {"worker": worker})
        assert st["state"] == "waiting_permission" and st["pending_count"] == 1, st

        res = await ok_dict(c, "tm_respond_permission", {"worker": worker, "request_id": "qwert", "behavior": behavior})
        assert res.get("ok") is True, res

        _, data = chan.wait_for(lambda n, d: n == "permission_response", "permission_response on the worker stream")
        assert data.get("request_id") == "qwert" and data.get("behavior") == behavior, data

        assert await ok_list(c, "tm_pending_permissions", {"worker": worker}) == []
        st = await ok_dict(c, "tm_status", {"worker": worker})
        assert st["state"] != "waiting_permission" and st["pending_count"] == 0, st

        evs = await ok_list(c, "tm_receive", {"worker": worker})
        assert [e["kind"] for e in evs] == ["permission_request", "permission_response"], evs
        assert evs[0]["event_id"] == req["event_id"], (req, evs)
        assert_event(evs[0], kind="permission_request", content="Bash")
        assert evs[0]["meta"].get("request_id") == "qwert", evs[0]
        assert evs[0]["meta"].get("description") == "list the files", evs[0]
        assert evs[0]["meta"].get("input_preview") == "ls -la /tmp", evs[0]
        assert_event(evs[1], kind="permission_response", content=behavior)
        assert evs[1]["meta"].get("request_id") == "qwert", evs[1]

        again = await ok_dict(
            c, "tm_respond_permission", {"worker": worker, "request_id": "qwert", "behavior": behavior}
        )
        assert again.get("ok") is False, f"answering twice: {again}"


async def test_respond_unknown_request_is_not_ok(hub: Hub, worker: str) -> None:
    hub.register(worker)
    async with mcp_client(hub) as c:
        res = await ok_dict(c, "tm_respond_permission", {"worker": worker, "request_id": "nopez", "behavior": "allow"})
    assert res.get("ok") is False, res


async def test_respond_bad_behavior_is_tool_error(hub: Hub, worker: str) -> None:
    hub.register(worker)
    hub.permission_request(worker, "zyxwv", "Edit")
    async with mcp_client(hub) as c:
        msg = await tool_error(
            c, "tm_respond_permission", {"worker": worker, "request_id": "zyxwv", "behavior": "maybe"}
        )
        assert "allow" in msg and "deny" in msg, f"error does not say what is allowed: {msg!r}"
        still = await ok_list(c, "tm_pending_permissions", {"worker": worker})
    assert [p["request_id"] for p in still] == ["zyxwv"], still


async def test_pending_includes_offline_workers(hub: Hub, worker: str) -> None:
    """Unlike /api/permissions, the tool lists entries of offline workers."""
    hub.register(worker)
    hub.permission_request(worker, "offln", "Write", "d", "p")
    async with mcp_client(hub) as c:
        mine = await ok_list(c, "tm_pending_permissions", {"worker": worker})
    assert [pick(p) for p in mine] == [entry(worker, "offln", "Write", "d", "p")], mine


async def test_sweep_keeps_genuinely_pending(hub: Hub, worker: str) -> None:
    hub.register(worker)
    hub.permission_request(worker, "keepm", "Bash")
    # a reply right after the request is inside the 60 s grace: not proof yet
    hub.outbound(worker, "still thinking")
    async with mcp_client(hub) as c:
        one = await ok_dict(c, "tm_sweep_stale_permissions", {"worker": worker})
        assert one == {"swept": {}, "total": 0}, one
        everyone = await ok_dict(c, "tm_sweep_stale_permissions")
        assert set(everyone) == {"swept", "total"}, everyone
        assert isinstance(everyone["swept"], dict) and isinstance(everyone["total"], int), everyone
        assert worker not in everyone["swept"], everyone
        assert everyone["total"] == sum(everyone["swept"].values()), everyone
        assert all(n > 0 for n in everyone["swept"].values()), everyone
        still = await ok_list(c, "tm_pending_permissions", {"worker": worker})
    assert [p["request_id"] for p in still] == ["keepm"], still
