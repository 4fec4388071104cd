"""Messaging tools: tm_send / tm_receive / tm_status / tm_my_inbox /
tm_wait_for_activity / tm_list_workers, checked against spec §3 and §5.3
with a simulated worker (plain HTTP + its SSE stream)."""

from __future__ import annotations

import time

import anyio
import pytest
from _support import (
    ENV_WORKER,
    EVENT_ID,
    Hub,
    assert_event,
    assert_recent,
    call,
    dump_result,
    mcp_client,
    ok_dict,
    ok_list,
    ok_text,
    payload,
    tool_error,
)

pytestmark = pytest.mark.anyio

STATUS_KEYS = {
    "state", "pending_count", "last_activity", "event_count",
    "state_reason", "presence", "last_event_id", "delivered_through",
}  # fmt: skip


def check_status(st: dict, state: str, *, pending: int | None = None, events: int | None = None) -> None:
    __tracebackhide__ = True
    missing = STATUS_KEYS - set(st)
    assert not missing, f"tm_status lacks {sorted(missing)}: {st}"
    assert st["state"] == state, f"state {st['state']!r} != {state!r}: {st}"
    r = st["state_reason"]
    assert isinstance(r, dict) and {"state", "signal", "since"} <= set(r), f"state_reason: {st}"
    assert r["state"] == state and isinstance(r["signal"], str) and r["signal"], f"state_reason: {st}"
    assert isinstance(r["since"], (int, float)), f"state_reason.since: {st}"
    if pending is not None:
        assert st["pending_count"] == pending, f"pending_count: {st}"
    if events is not None:
        assert st["event_count"] == events, f"event_count: {st}"


# ── tm_send / tm_receive ─────────────────────────────────────────────────────


async def test_send_receive_round_trip(hub: Hub, worker: str, listen) -> None:
    chan = listen(worker)
    async with mcp_client(hub) as c:
        sent = await ok_dict(c, "tm_send", {"worker": worker, "message": "hello worker", "meta": {"x": "1"}})
        assert {"event_id", "queued_at", "routed_to"} <= set(sent), sent
        assert EVENT_ID.match(sent["event_id"]), sent
        assert_recent(sent["queued_at"], "queued_at")
        assert sent["routed_to"] == "worker (tubemail channel)", sent

        _, data = chan.wait_for(
            lambda n, d: n == "channel_event" and d.get("event_id") == sent["event_id"], "the sent message"
        )
        assert data["content"] == "hello worker" and data["meta"].get("x") == "1", data

        reply = hub.outbound(worker, "reply from worker", {"kind": "ack"})

        evs = await ok_list(c, "tm_receive", {"worker": worker})
        assert [e["event_id"] for e in evs] == [sent["event_id"], reply["event_id"]], evs
        assert_event(evs[0], kind="inbound", content="hello worker", what="inbound")
        assert evs[0]["meta"].get("x") == "1", evs[0]
        assert_event(evs[1], kind="outbound", content="reply from worker", what="outbound")
        assert evs[1]["meta"] == {"kind": "ack"}, evs[1]
        # ordered ids, as strings and as numbers
        assert evs[0]["event_id"] < evs[1]["event_id"] and int(evs[0]["event_id"]) < int(evs[1]["event_id"])

        after = await ok_list(c, "tm_receive", {"worker": worker, "since": sent["event_id"]})
        assert [e["event_id"] for e in after] == [reply["event_id"]], after
        none = await ok_list(c, "tm_receive", {"worker": worker, "since": reply["event_id"]})
        assert none == [], none
        newest = await ok_list(c, "tm_receive", {"worker": worker, "limit": 1})
        assert [e["event_id"] for e in newest] == [reply["event_id"]], newest


async def test_receive_limit_and_since_page(hub: Hub, worker: str) -> None:
    ids = [hub.outbound(worker, f"m{i}")["event_id"] for i in range(5)]
    async with mcp_client(hub) as c:
        last2 = await ok_list(c, "tm_receive", {"worker": worker, "limit": 2})
        assert [e["event_id"] for e in last2] == ids[-2:], last2
        page = await ok_list(c, "tm_receive", {"worker": worker, "since": ids[0], "limit": 2})
        assert [e["event_id"] for e in page] == ids[1:3], page
        unknown = await ok_list(c, "tm_receive", {"worker": f"{worker}-never"})
        assert unknown == []
        # spec §3 / §2.2: a `since` that is no event id reads from the beginning
        start = await ok_list(c, "tm_receive", {"worker": worker, "since": "not-an-id", "limit": 2})
        assert [e["event_id"] for e in start] == ids[:2], start


async def test_send_without_meta_stores_empty_meta(hub: Hub, worker: str) -> None:
    async with mcp_client(hub) as c:
        sent = await ok_dict(c, "tm_send", {"worker": worker, "message": "plain"})
        evs = await ok_list(c, "tm_receive", {"worker": worker})
    assert len(evs) == 1 and evs[0]["event_id"] == sent["event_id"], evs
    assert_event(evs[0], kind="inbound", content="plain")
    assert evs[0]["meta"] == {}, evs[0]


async def test_send_harness_command_routes_to_manager(hub: Hub, worker: str, manager) -> None:
    mgr = manager(worker)
    async with mcp_client(hub) as c:
        sent = await ok_dict(c, "tm_send", {"worker": worker, "message": "/compact"})
        assert sent["routed_to"] == "manager (harness command)", sent
        assert EVENT_ID.match(sent["event_id"]), sent
        assert_recent(sent["queued_at"], "queued_at")
        _, data = mgr.wait_for(
            lambda n, d: n == "channel_event" and (d.get("meta") or {}).get("kind") == "type:/compact",
            "channel_event with meta.kind type:/compact",
        )
        assert data["content"] == "/compact", data
        assert data.get("event_id") == sent["event_id"], data

        mevs = await ok_list(c, "tm_receive", {"worker": f"{worker}-manager"})
        assert mevs and mevs[-1]["event_id"] == sent["event_id"], mevs
        assert_event(mevs[-1], kind="inbound", content="/compact")
        assert mevs[-1]["meta"].get("kind") == "type:/compact", mevs[-1]
        wevs = await ok_list(c, "tm_receive", {"worker": worker})
        assert all(e["content"] != "/compact" for e in wevs), f"harness command also landed on the worker: {wevs}"

        # first token decides; arguments and surrounding blanks are fine
        r = await ok_dict(c, "tm_send", {"worker": worker, "message": "  /model opus"})
        assert r["routed_to"] == "manager (harness command)", r
        for msg in ("/notacommand", "please run /compact", "/compacting"):
            r = await ok_dict(c, "tm_send", {"worker": worker, "message": msg})
            assert r["routed_to"] == "worker (tubemail channel)", (msg, r)


# ── tm_status ────────────────────────────────────────────────────────────────


async def test_status_unknown_worker(hub: Hub, worker: str) -> None:
    async with mcp_client(hub) as c:
        st = await ok_dict(c, "tm_status", {"worker": worker})
    check_status(st, "unknown", pending=0, events=0)
    assert st["last_activity"] == 0, st
    assert st["presence"] is None and st["last_event_id"] is None, st


async def test_status_idle_busy_waiting_permission(hub: Hub, worker: str, listen) -> None:
    chan = listen(worker)
    async with mcp_client(hub) as c:
        st = await ok_dict(c, "tm_status", {"worker": worker})
        check_status(st, "idle", pending=0, events=0)
        assert st["presence"] == "online", st
        assert_recent(st["last_activity"], "last_activity after register")

        sent = await ok_dict(c, "tm_send", {"worker": worker, "message": "do something"})
        st = await ok_dict(c, "tm_status", {"worker": worker})
        check_status(st, "busy", pending=0, events=1)
        assert st["last_event_id"] == sent["event_id"], st

        # the worker's stream handed the message over → delivered_through
        chan.wait_for(lambda n, d: d.get("event_id") == sent["event_id"], "the message on the worker stream")
        with anyio.move_on_after(3):
            while st["delivered_through"] != sent["event_id"]:
                await anyio.sleep(0.1)
                st = await ok_dict(c, "tm_status", {"worker": worker})
        assert st["delivered_through"] == sent["event_id"], st

        reply = hub.outbound(worker, "done")
        st = await ok_dict(c, "tm_status", {"worker": worker})
        check_status(st, "idle", pending=0, events=2)
        assert st["last_event_id"] == reply["event_id"], st

        hub.permission_request(worker, "reqab", "Bash", "list files", "ls")
        st = await ok_dict(c, "tm_status", {"worker": worker})
        check_status(st, "waiting_permission", pending=1, events=3)


async def test_status_observed_activity(hub: Hub, worker: str) -> None:
    hub.register(worker)
    async with mcp_client(hub) as c:
        hub.set_active(worker, True)
        st = await ok_dict(c, "tm_status", {"worker": worker})
        check_status(st, "busy")
        hub.set_active(worker, False)
        st = await ok_dict(c, "tm_status", {"worker": worker})
        check_status(st, "idle")
        assert st["presence"] == "offline", st


# ── tm_my_inbox ──────────────────────────────────────────────────────────────


async def test_my_inbox_uses_x_tm_worker_header(hub: Hub, worker: str) -> None:
    ids = [hub.outbound(worker, f"r{i}")["event_id"] for i in range(3)]
    async with mcp_client(hub) as c:
        sent = await ok_dict(c, "tm_send", {"worker": worker, "message": "for you"})
    ids.append(sent["event_id"])
    async with mcp_client(hub, worker=worker) as c:
        box = await ok_dict(c, "tm_my_inbox")
        assert box.get("worker") == worker, box
        assert [e["event_id"] for e in box["events"]] == ids, box
        for e in box["events"]:
            assert_event(e)
        two = await ok_dict(c, "tm_my_inbox", {"limit": 2})
        assert [e["event_id"] for e in two["events"]] == ids[-2:], two


async def test_my_inbox_default_limit_is_20(hub: Hub, worker: str) -> None:
    ids = [hub.outbound(worker, f"n{i}")["event_id"] for i in range(25)]
    async with mcp_client(hub, worker=worker) as c:
        box = await ok_dict(c, "tm_my_inbox")
    assert [e["event_id"] for e in box["events"]] == ids[-20:], box


async def test_my_inbox_without_identity_is_an_error_dict(hub: Hub) -> None:
    async with mcp_client(hub) as c:
        r = await call(c, "tm_my_inbox")
    p = payload(r, "tm_my_inbox")
    assert isinstance(p, dict) and isinstance(p.get("error"), str), dump_result(r)
    assert p["error"].startswith("TM_WORKER_NAME not set"), dump_result(r)
    assert "events" not in p, dump_result(r)


async def test_my_inbox_falls_back_to_hub_env(env_hub: Hub) -> None:
    ev = env_hub.outbound(ENV_WORKER, "env reply")
    other = f"{ENV_WORKER}-other"
    env_hub.outbound(other, "other reply")
    async with mcp_client(env_hub) as c:
        box = await ok_dict(c, "tm_my_inbox")
    assert box.get("worker") == ENV_WORKER, box
    assert ev["event_id"] in [e["event_id"] for e in box["events"]], box
    # the header wins over the hub's environment
    async with mcp_client(env_hub, worker=other) as c:
        box = await ok_dict(c, "tm_my_inbox")
    assert box.get("worker") == other, box
    assert [e["content"] for e in box["events"]] == ["other reply"], box


# ── tm_wait_for_activity ─────────────────────────────────────────────────────


async def test_wait_without_since_waits_for_new_send(hub: Hub, worker: str) -> None:
    hub.outbound(worker, "old news")
    result: dict = {}
    async with mcp_client(hub) as waiter, mcp_client(hub) as sender:

        async def wait() -> None:
            t0 = time.monotonic()
            result["events"] = await ok_list(waiter, "tm_wait_for_activity", {"worker": worker, "timeout_s": 10})
            result["elapsed"] = time.monotonic() - t0

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.sleep(1.0)
            assert "events" not in result, f"returned before anything new happened: {result}"
            result["sent"] = await ok_dict(sender, "tm_send", {"worker": worker, "message": "fresh"})
    evs = result["events"]
    assert evs, f"wait returned [] although a message was sent mid-wait: {result}"
    assert [e["content"] for e in evs] == ["fresh"], f"expected only the new message: {evs}"
    assert evs[0]["event_id"] == result["sent"]["event_id"], result
    assert_event(evs[0], kind="inbound", content="fresh")
    assert result["elapsed"] < 8, f"woke only after {result['elapsed']:.1f}s"


async def test_wait_wakes_on_worker_reply(hub: Hub, worker: str) -> None:
    async with mcp_client(hub) as c:
        sent = await ok_dict(c, "tm_send", {"worker": worker, "message": "question"})
        result: dict = {}

        async def wait() -> None:
            result["events"] = await ok_list(
                c, "tm_wait_for_activity", {"worker": worker, "since": sent["event_id"], "timeout_s": 10}
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.sleep(0.7)
            reply = await anyio.to_thread.run_sync(lambda: hub.outbound(worker, "answer"))
    assert [e["event_id"] for e in result["events"]] == [reply["event_id"]], result
    assert_event(result["events"][0], kind="outbound", content="answer")


async def test_wait_with_since_returns_existing_events_immediately(hub: Hub, worker: str) -> None:
    a = hub.outbound(worker, "a")
    b = hub.outbound(worker, "b")
    c_ = hub.outbound(worker, "c")
    async with mcp_client(hub) as c:
        t0 = time.monotonic()
        evs = await ok_list(c, "tm_wait_for_activity", {"worker": worker, "since": a["event_id"], "timeout_s": 10})
        elapsed = time.monotonic() - t0
    assert [e["event_id"] for e in evs] == [b["event_id"], c_["event_id"]], evs
    assert elapsed < 3, f"took {elapsed:.1f}s although events were already there"


async def test_wait_timeout_returns_empty_list(hub: Hub, worker: str) -> None:
    hub.outbound(worker, "old")
    async with mcp_client(hub) as c:
        t0 = time.monotonic()
        evs = await ok_list(c, "tm_wait_for_activity", {"worker": worker, "timeout_s": 1})
        elapsed = time.monotonic() - t0
    assert evs == [], evs
    assert 0.8 <= elapsed < 6, f"timeout_s=1 took {elapsed:.2f}s"


@pytest.mark.parametrize("since", ["not-an-id", "9999999999"])
async def test_wait_unknown_since_is_an_error(hub: Hub, worker: str, since: str) -> None:
    hub.outbound(worker, "x")
    async with mcp_client(hub) as c:
        t0 = time.monotonic()
        msg = await tool_error(c, "tm_wait_for_activity", {"worker": worker, "since": since, "timeout_s": 5})
        assert time.monotonic() - t0 < 3, "an unknown since must fail fast, not wait"
    assert "since" in msg.lower() or since in msg, msg


# ── tm_list_workers ──────────────────────────────────────────────────────────


def row_of(text: str, name: str) -> str:
    __tracebackhide__ = True
    rows = [ln for ln in text.splitlines() if name in ln.split()]
    rows = rows or [ln for ln in text.splitlines() if name in ln and f"{name}-manager" not in ln]
    assert rows, f"{name} not listed:\n{text}"
    return rows[0]


async def test_list_workers_text_table(hub: Hub, new_worker, listen, manager) -> None:
    w = new_worker()
    cwd = f"/tmp/proj-{w}"
    listen(w, cwd=cwd)
    manager(w)
    hub.permission_request(w, "perma", "Bash")
    plain = "plain-" + new_worker().removesuffix("-tm")
    hub.register(plain, cwd=f"/tmp/{plain}")
    async with mcp_client(hub) as c:
        text = await ok_text(c, "tm_list_workers")
        stale = await ok_text(c, "tm_list_workers", {"include_stale": True})
    header = text.splitlines()[0] if text else ""
    assert "Worker" in header and "State" in header and "Directory" in header, f"no header line:\n{text}"
    for project in ("leanspecs", "iris-qa", "architrix", "actuatrix"):
        assert project not in text, f"hard-coded ecosystem project {project!r} listed:\n{text}"
    row = row_of(text, w)
    assert "🟢" in row, f"online worker not marked 🟢: {row!r}"
    assert "mgr:🟢" in row, f"online manager not marked mgr:🟢: {row!r}"
    assert "waiting_permission" in row and "⚠️1 pending" in row, f"pending not shown: {row!r}"
    assert cwd in row, f"cwd not shown: {row!r}"
    assert f"{w}-manager" not in text, f"manager entry listed as a worker:\n{text}"
    assert plain not in text, f"non -tm worker listed without include_stale:\n{text}"
    prow = row_of(stale, plain)
    assert "🔴" in prow and "mgr:--" in prow, f"offline worker without manager: {prow!r}"


async def test_list_workers_groups_roles_by_directory(hub: Hub, new_worker, listen) -> None:
    a, b = new_worker(), new_worker()
    project = f"grp-{a[-9:-3]}"
    listen(a, cwd=f"/tmp/one/{project}")
    hub.register(b, cwd=f"/tmp/two/{project}")
    async with mcp_client(hub) as c:
        text = await ok_text(c, "tm_list_workers")
    lines = text.splitlines()
    head = [ln for ln in lines if project in ln and "2 roles" in ln]
    assert head, f"no project header with '2 roles' for {project}:\n{text}"
    ra, rb = row_of(text, a), row_of(text, b)
    assert any(m in ra for m in ("├─ ", "└─ ")) and any(m in rb for m in ("├─ ", "└─ ")), f"{ra!r} / {rb!r}"
    assert "🟢" in head[0], f"group header not 🟢 although one role is online: {head[0]!r}"


async def test_wait_reports_progress_when_asked(hub: Hub, worker: str) -> None:
    """A client that passes a progress token hears from a long wait every 5 s."""
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with mcp_client(hub) as c:
        with anyio.fail_after(20):
            r = await c.call_tool(
                "tm_wait_for_activity",
                {"worker": worker, "timeout_s": 6},
                read_timeout_seconds=20,
                progress_callback=on_progress,
            )
    assert not r.is_error, dump_result(r)
    assert r.structured_content == {"result": []}, dump_result(r)
    assert seen, "no progress notification during a 6 s wait"
    progress, total, message = seen[0]
    assert progress == 5 and total == 6, seen
    assert message and worker in message, seen
