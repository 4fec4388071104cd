"""Control tools routed to ``<worker>-manager`` (spec §3, §4.4): interrupt,
restart, stop, purge, keystroke, update_manager, clear_and_send,
reconnect_mcp, self_reconnect_mcp, health, screenshot — with a simulated
manager answering on the original HTTP/SSE protocol."""

from __future__ import annotations

import time

import anyio
import pytest
from _support import (
    ENV_WORKER,
    EVENT_ID,
    Hub,
    SimManager,
    assert_event,
    assert_recent,
    call,
    dump_result,
    mcp_client,
    ok_dict,
    ok_list,
    ok_text,
    payload,
    soft_dict,
    tool_error,
)

pytestmark = pytest.mark.anyio


async def manager_inbounds(c, worker: str) -> list[dict]:
    evs = await ok_list(c, "tm_receive", {"worker": f"{worker}-manager"})
    return [e for e in evs if e["kind"] == "inbound"]


def wait_kind(mgr: SimManager, kind: str, timeout: float = 10) -> dict:
    __tracebackhide__ = True
    _, data = mgr.wait_for(
        lambda n, d: n == "channel_event" and (d.get("meta") or {}).get("kind") == kind,
        f"channel_event with meta.kind {kind!r}",
        timeout,
    )
    return data


# ── interrupt / restart / stop / purge ───────────────────────────────────────


async def test_interrupt(hub: Hub, worker: str, listen) -> None:
    chan = listen(worker)
    async with mcp_client(hub) as c:
        res = await ok_dict(c, "tm_interrupt", {"worker": worker})
        assert res.get("ok") is True and EVENT_ID.match(res.get("event_id", "")), res
        chan.wait_for(lambda n, d: n == "interrupt", "interrupt on the worker stream")
        evs = await ok_list(c, "tm_receive", {"worker": worker})
    assert evs and evs[-1]["event_id"] == res["event_id"], evs
    assert_event(evs[-1], kind="interrupt", content="")


@pytest.mark.parametrize(("tool", "kind"), [("tm_restart", "force_restart"), ("tm_stop", "force_stop")])
async def test_restart_and_stop_route_to_manager(hub: Hub, worker: str, manager, tool: str, kind: str) -> None:
    mgr = manager(worker)
    async with mcp_client(hub) as c:
        res = await ok_dict(c, tool, {"worker": worker})
        assert {"ok", "event_id", "routed_to"} <= set(res), res
        assert res["ok"] is True and res["routed_to"] == f"{worker}-manager", res
        assert EVENT_ID.match(res["event_id"]), res
        data = wait_kind(mgr, kind)
        assert data["content"] == kind and data.get("event_id") == res["event_id"], data
        inb = await manager_inbounds(c, worker)
        assert inb[-1]["event_id"] == res["event_id"], inb
        assert_event(inb[-1], kind="inbound", content=kind)
        assert inb[-1]["meta"].get("kind") == kind, inb[-1]
        # nothing lands on the worker's own timeline
        assert await ok_list(c, "tm_receive", {"worker": worker}) == []


async def test_purge_worker(hub: Hub, worker: str, listen) -> None:
    chan = listen(worker)
    hub.outbound(worker, "some history")
    async with mcp_client(hub) as c:
        res = await ok_dict(c, "tm_purge_worker", {"worker": worker})
        assert res == {"ok": True, "worker": worker}, res
        st = await ok_dict(c, "tm_status", {"worker": worker})
        assert st["state"] == "unknown" and st["event_count"] == 0, st
        again = await ok_dict(c, "tm_purge_worker", {"worker": worker})
        assert again == {"ok": False, "worker": worker}, again
    # an online worker's stream is closed by the purge
    deadline = time.monotonic() + 5
    while not chan.ended and time.monotonic() < deadline:
        await anyio.sleep(0.05)
    assert chan.ended, f"worker stream still open after purge\n{chan.dump()}"


# ── keystrokes ───────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("hello world enter", b"helloworld\r"),
        ("Up DOWN left Right esc ESCAPE tab backspace delete space", b"\x1b[A\x1b[B\x1b[D\x1b[C\x1b\x1b\t\x7f\x1b[3~ "),
        ("y Enter", b"y\r"),
        ("é", "é".encode()),
    ],
)
async def test_keystroke(hub: Hub, worker: str, manager, keys: str, expected: bytes) -> None:
    mgr = manager(worker)
    async with mcp_client(hub) as c:
        res = await ok_dict(c, "tm_keystroke", {"worker": worker, "keys": keys})
        assert {"event_id", "queued_at", "routed_to", "bytes_sent"} <= set(res), res
        assert res["routed_to"] == f"{worker}-manager", res
        assert res["bytes_sent"] == len(expected), res
        assert_recent(res["queued_at"], "queued_at")
        data = wait_kind(mgr, f"keystroke:{expected.hex()}")
        assert data["content"] == f"keystroke:{keys}", data
        assert data.get("event_id") == res["event_id"], data


# ── update_manager ───────────────────────────────────────────────────────────


async def test_update_manager_idle_worker(hub: Hub, worker: str, manager) -> None:
    hub.register(worker)
    mgr = manager(worker)
    async with mcp_client(hub) as c:
        res = await ok_dict(c, "tm_update_manager", {"worker": worker})
        assert {"event_id", "queued_at", "routed_to", "forced", "note"} <= set(res), res
        assert res["routed_to"] == f"{worker}-manager" and res["forced"] is False, res
        assert isinstance(res["note"], str) and res["note"], res
        data = wait_kind(mgr, "update_manager")
        assert data["content"] == "update_manager" and data.get("event_id") == res["event_id"], data


async def test_update_manager_refuses_busy_worker_unless_forced(hub: Hub, worker: str, manager) -> None:
    mgr = manager(worker)
    async with mcp_client(hub) as c:
        await ok_dict(c, "tm_send", {"worker": worker, "message": "keep busy"})
        refused = await soft_dict(c, "tm_update_manager", {"worker": worker})
        assert refused.get("state") == "busy" and refused.get("pending_count") == 0, refused
        assert str(refused.get("error", "")).startswith("worker not idle (state=busy)"), refused
        assert "force" in refused["error"], refused
        assert "update_manager" not in mgr.commands, mgr.commands
        assert not [e for e in await manager_inbounds(c, worker) if e["content"] == "update_manager"]

        forced = await ok_dict(c, "tm_update_manager", {"worker": worker, "force": True})
        assert forced["forced"] is True and forced["routed_to"] == f"{worker}-manager", forced
        wait_kind(mgr, "update_manager")


async def test_update_manager_unknown_worker(hub: Hub, worker: str) -> None:
    async with mcp_client(hub) as c:
        refused = await soft_dict(c, "tm_update_manager", {"worker": worker})
    assert refused.get("state") == "unknown", refused
    assert str(refused.get("error", "")).startswith("worker not idle (state=unknown)"), refused


# ── clear_and_send ───────────────────────────────────────────────────────────


async def test_clear_and_send_routes_clear_rename_message(hub: Hub, worker: str, listen, manager) -> None:
    chan = listen(worker)
    mgr = manager(worker)
    async with mcp_client(hub) as c:
        t0 = time.monotonic()
        res = await ok_dict(
            c, "tm_clear_and_send", {"worker": worker, "message": "fresh start", "delay_s": 0.3}, timeout=20
        )
        elapsed = time.monotonic() - t0
        mname = f"{worker}-manager"
        assert res.get("routed_to") == {"clear": mname, "rename": mname, "message": worker}, res
        assert res.get("delay_s") == 0.3 and res.get("restored_name") is True, res
        ids = [res.get("clear_event_id"), res.get("rename_event_id"), res.get("message_event_id")]
        assert all(isinstance(i, str) and EVENT_ID.match(i) for i in ids), res
        assert ids == sorted(ids), f"clear < rename < message expected: {res}"
        assert elapsed >= 0.55, f"two delays of 0.3 s took only {elapsed:.2f}s"

        clear = wait_kind(mgr, "clear")
        assert clear["content"] == "/clear" and clear.get("event_id") == ids[0], clear
        rename = wait_kind(mgr, f"rename:{worker}")
        assert rename["content"] == f"/rename {worker}" and rename.get("event_id") == ids[1], rename
        _, msg = chan.wait_for(lambda n, d: n == "channel_event" and d.get("event_id") == ids[2], "the message")
        assert msg["content"] == "fresh start" and msg["meta"] == {}, msg


async def test_clear_and_send_without_rename(hub: Hub, worker: str, manager) -> None:
    hub.register(worker)
    mgr = manager(worker)
    async with mcp_client(hub) as c:
        res = await ok_dict(
            c, "tm_clear_and_send", {"worker": worker, "message": "go", "delay_s": 0.1, "restore_name": False}
        )
        assert res.get("rename_event_id") is None and res.get("restored_name") is False, res
        assert res.get("routed_to") == {"clear": f"{worker}-manager", "rename": None, "message": worker}, res
        wait_kind(mgr, "clear")
        inb = await manager_inbounds(c, worker)
    assert [e["meta"].get("kind") for e in inb] == ["clear"], inb


async def test_clear_and_send_refused_when_not_idle(hub: Hub, worker: str, manager) -> None:
    mgr = manager(worker)
    async with mcp_client(hub) as c:
        await ok_dict(c, "tm_send", {"worker": worker, "message": "busy now"})
        refused = await soft_dict(c, "tm_clear_and_send", {"worker": worker, "message": "x", "delay_s": 0})
        assert refused.get("state") == "busy" and refused.get("pending_count") == 0, refused
        assert refused.get("error") == "worker not idle (state=busy); clear+send is only safe when idle", refused
        assert await manager_inbounds(c, worker) == [], "refused clear+send still queued commands"
        evs = await ok_list(c, "tm_receive", {"worker": worker})
    assert [e["content"] for e in evs] == ["busy now"], evs
    assert "clear" not in mgr.commands


# ── reconnect_mcp / self_reconnect_mcp ───────────────────────────────────────


async def test_reconnect_mcp_passes_manager_result_through(hub: Hub, worker: str, manager) -> None:
    mgr = manager(worker)
    async with mcp_client(hub) as c:
        res = await ok_dict(c, "tm_reconnect_mcp", {"worker": worker, "server": "github"}, timeout=35)
        assert res == {"ok": True, "server": "github", "detail": "reconnected github (simulated)"}, res
        assert "reconnect_mcp:github" in mgr.commands, mgr.commands
        data = wait_kind(mgr, "reconnect_mcp:github")
        assert data["content"] == "reconnect_mcp:github", data

        mgr.reconnect = lambda server: "dialog never appeared"
        raw = await ok_dict(c, "tm_reconnect_mcp", {"worker": worker, "server": "linear"}, timeout=35)
        assert raw == {"raw": "dialog never appeared"}, raw


async def test_reconnect_mcp_ignores_stale_results(hub: Hub, worker: str, manager) -> None:
    """A result posted before the command must not be taken as the answer."""
    hub.outbound(
        f"{worker}-manager", '{"ok": false, "server": "old", "detail": "stale"}', {"kind": "reconnect_mcp_result"}
    )
    manager(worker)
    async with mcp_client(hub) as c:
        res = await ok_dict(c, "tm_reconnect_mcp", {"worker": worker, "server": "new"}, timeout=35)
    assert res == {"ok": True, "server": "new", "detail": "reconnected new (simulated)"}, res


async def test_reconnect_mcp_self_target_teaches_channel_tool(hub: Hub, worker: str, manager) -> None:
    mgr = manager(worker)
    async with mcp_client(hub, worker=worker) as c:
        t0 = time.monotonic()
        res = await soft_dict(c, "tm_reconnect_mcp", {"worker": worker, "server": "github"})
        assert time.monotonic() - t0 < 5, "self-target check must not wait for the manager"
        inb = await manager_inbounds(c, worker)
    assert res.get("ok") is False and res.get("server") == "github", res
    assert res.get("suggested_tool") == "mcp__tubemail-channel__reconnect_mcp", res
    assert "mcp__tubemail-channel__reconnect_mcp" in str(res.get("detail", "")), res
    assert not any(cmd.startswith("reconnect_mcp:") for cmd in mgr.commands), mgr.commands
    assert not [e for e in inb if e["content"].startswith("reconnect_mcp:")], inb


async def test_reconnect_mcp_self_target_from_hub_env(env_hub: Hub, manager) -> None:
    mgr = manager(ENV_WORKER, on=env_hub)
    async with mcp_client(env_hub) as c:
        res = await soft_dict(c, "tm_reconnect_mcp", {"worker": ENV_WORKER, "server": "github"})
    assert res.get("ok") is False and res.get("suggested_tool") == "mcp__tubemail-channel__reconnect_mcp", res
    assert "reconnect_mcp:github" not in mgr.commands, mgr.commands


async def test_reconnect_mcp_other_caller_is_not_self_target(hub: Hub, new_worker, manager) -> None:
    target, caller = new_worker(), new_worker()
    manager(target)
    async with mcp_client(hub, worker=caller) as c:
        res = await ok_dict(c, "tm_reconnect_mcp", {"worker": target, "server": "github"}, timeout=35)
    assert res.get("ok") is True and res.get("server") == "github", res


async def test_self_reconnect_without_identity_is_an_error(hub: Hub) -> None:
    async with mcp_client(hub) as c:
        t0 = time.monotonic()
        r = await call(c, "tm_self_reconnect_mcp", {"server": "github"})
        assert time.monotonic() - t0 < 5
    if r.is_error:
        assert r.content and r.content[0].text.strip(), dump_result(r)
    else:
        p = payload(r, "tm_self_reconnect_mcp")
        assert isinstance(p, dict) and isinstance(p.get("error"), str) and p["error"], dump_result(r)
        assert p.get("ok") is not True, dump_result(r)


async def test_self_reconnect_routes_to_callers_manager(hub: Hub, worker: str, manager) -> None:
    mgr = manager(worker)
    async with mcp_client(hub, worker=worker) as c:
        res = await ok_dict(c, "tm_self_reconnect_mcp", {"server": "notion"}, timeout=35)
    assert res == {"ok": True, "server": "notion", "detail": "reconnected notion (simulated)"}, res
    assert "reconnect_mcp:notion" in mgr.commands, mgr.commands


async def test_self_reconnect_falls_back_to_hub_env(env_hub: Hub, manager) -> None:
    mgr = manager(ENV_WORKER, on=env_hub)
    async with mcp_client(env_hub) as c:
        res = await ok_dict(c, "tm_self_reconnect_mcp", {"server": "slack"}, timeout=35)
    assert res == {"ok": True, "server": "slack", "detail": "reconnected slack (simulated)"}, res
    assert "reconnect_mcp:slack" in mgr.commands, mgr.commands


# ── health / screenshot ──────────────────────────────────────────────────────


async def test_health_and_screenshot_via_manager(hub: Hub, worker: str, manager) -> None:
    mgr = manager(worker)
    async with mcp_client(hub) as c:
        t0 = time.monotonic()
        health = await ok_dict(c, "tm_health", {"worker": worker}, timeout=10)
        assert time.monotonic() - t0 < 4, "health took too long with a responsive manager"
        assert health == mgr.health, health
        data = wait_kind(mgr, "health_check")
        assert data["content"] == "health_check", data

        screen = await ok_text(c, "tm_screenshot", {"worker": worker, "max_lines": 7}, timeout=10)
        kind = [k for k in mgr.commands if k.startswith("screenshot")][-1]
        assert kind in ("screenshot", "screenshot:7"), f"screenshot command kind {kind!r}"
        assert screen == mgr.screen(kind), screen

        screen = await ok_text(c, "tm_screenshot", {"worker": worker}, timeout=10)
        kind = [k for k in mgr.commands if k.startswith("screenshot")][-1]
        assert kind in ("screenshot", "screenshot:50"), f"default screenshot command kind {kind!r}"
        assert screen == mgr.screen(kind), screen


async def test_health_and_screenshot_time_out_without_manager(hub: Hub, worker: str) -> None:
    hub.register(worker)
    out: dict = {}
    async with mcp_client(hub) as c:

        async def health() -> None:
            t0 = time.monotonic()
            out["health"] = await ok_dict(c, "tm_health", {"worker": worker}, timeout=15)
            out["health_s"] = time.monotonic() - t0

        async def screenshot() -> None:
            t0 = time.monotonic()
            out["screen"] = await ok_text(c, "tm_screenshot", {"worker": worker}, timeout=15)
            out["screen_s"] = time.monotonic() - t0

        async with anyio.create_task_group() as tg:
            tg.start_soon(health)
            tg.start_soon(screenshot)
    assert out["health"] == {"error": "manager did not respond within 5s", "child_alive": "unknown"}, out
    assert out["screen"] == "(manager did not respond within 5s — may be offline)", out
    assert 4.5 <= out["health_s"] < 10 and 4.5 <= out["screen_s"] < 10, out


# ── invalid worker names ─────────────────────────────────────────────────────

BAD = "../x"


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("tm_send", {"worker": BAD, "message": "hi"}),
        ("tm_receive", {"worker": BAD}),
        ("tm_status", {"worker": BAD}),
        ("tm_wait_for_activity", {"worker": BAD, "timeout_s": 1}),
        ("tm_respond_permission", {"worker": BAD, "request_id": "abcde", "behavior": "allow"}),
        ("tm_interrupt", {"worker": BAD}),
        ("tm_restart", {"worker": BAD}),
        ("tm_stop", {"worker": BAD}),
        ("tm_purge_worker", {"worker": BAD}),
        ("tm_keystroke", {"worker": BAD, "keys": "enter"}),
        ("tm_update_manager", {"worker": BAD, "force": True}),
        ("tm_clear_and_send", {"worker": BAD, "message": "m", "delay_s": 0}),
        ("tm_reconnect_mcp", {"worker": BAD, "server": "github"}),
        ("tm_health", {"worker": BAD}),
        ("tm_screenshot", {"worker": BAD}),
        ("tm_recording_toggle", {"worker": BAD, "enabled": True}),
        ("tm_recording_status", {"worker": BAD}),
        ("tm_get_recording", {"worker": BAD}),
        ("tm_pending_permissions", {"worker": BAD}),
        ("tm_sweep_stale_permissions", {"worker": BAD}),
        ("tm_run_flow", {"name": "some-flow", "worker": BAD}),
        ("tm_save_flow", {"name": "some-flow", "body": "b", "default_worker": BAD}),
    ],
)
async def test_invalid_worker_name_is_tool_error(hub: Hub, tool: str, args: dict) -> None:
    async with mcp_client(hub) as c:
        t0 = time.monotonic()
        msg = await tool_error(c, tool, args, timeout=10)
        assert time.monotonic() - t0 < 3, f"{tool} with an invalid name took {time.monotonic() - t0:.1f}s"
    assert "name" in msg.lower() or BAD in msg, f"{tool}: unhelpful error {msg!r}"


# ── bad arguments ────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("tool", "args", "hint"),
    [
        ("tm_send", {"worker": "args-tm"}, "message"),
        ("tm_send", {"worker": "args-tm", "message": "x", "meta": "not an object"}, ""),
        ("tm_receive", {"worker": "args-tm", "limit": "many"}, ""),
        ("tm_keystroke", {"worker": "args-tm", "keys": "   "}, "key"),
        ("tm_clear_and_send", {"worker": "args-tm", "message": "m", "delay_s": -1}, "delay_s"),
        ("tm_respond_permission", {"worker": "args-tm", "request_id": "abcde"}, "behavior"),
    ],
)
async def test_bad_arguments_are_tool_errors(hub: Hub, tool: str, args: dict, hint: str) -> None:
    """Never a JSON-RPC error, never a hang: the model must see what was wrong."""
    async with mcp_client(hub) as c:
        msg = await tool_error(c, tool, args, timeout=10)
        assert await ok_list(c, "tm_receive", {"worker": "args-tm-manager"}) == []
    assert hint in msg, f"{tool}: error does not mention {hint!r}: {msg!r}"
