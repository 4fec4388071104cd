"""The ORIGINAL Python channel plugin (PyPI ``tubemail-channel==1.2.0``),
unchanged, against OUR hub.

Each test drives the real ``tubemail`` console script over stdio the way
Claude Code does, and drives our hub over its HTTP API. See NOTES.md for
what the original client does on the wire.
"""

from __future__ import annotations

import json
import random
import time
import urllib.parse
from typing import Any

# Fixtures and helpers live in conftest.py (the `harness` fixture); nothing is
# imported from it directly so the suite works under any pytest import mode.
Harness = Any
ChannelProc = Any
WAIT_S = 20.0  # same bound as conftest.WAIT_S

CHANNEL = "notifications/claude/channel"
PERMISSION = "notifications/claude/channel/permission"
PERMISSION_REQUEST = "notifications/claude/channel/permission_request"


def _is_channel_msg(m: dict[str, Any], content: str) -> bool:
    return m.get("method") == CHANNEL and (m.get("params") or {}).get("content") == content


def _channel_contents(chan: ChannelProc) -> list[str]:
    return [
        (m.get("params") or {}).get("content")
        for m in chan.snapshot()
        if m.get("method") == CHANNEL
    ]


def _assert_clean_stdout(h: Harness, chan: ChannelProc) -> None:
    if chan.bad_lines:
        h.fail(f"channel {chan.tag} wrote non-JSON-RPC lines on stdout: {chan.bad_lines!r}")


def _send_ok(h: Harness, worker: str, message: str, meta: dict[str, Any] | None = None) -> str:
    r = h.hub.send(worker, message, meta)
    if r.status != 200 or not isinstance(r.json, dict):
        h.fail(f"send via REST API failed: {r.describe()}")
    event_id = r.json.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        h.fail(f"send response has no event_id: {r.describe()}")
    return event_id


def _events(h: Harness, worker: str) -> list[dict[str, Any]]:
    r = h.hub.get(f"/tubemail/{urllib.parse.quote(worker, safe='')}/events?limit=500")
    if r.status != 200 or not isinstance(r.json, dict) or not isinstance(r.json.get("events"), list):
        h.fail(f"GET events failed: {r.describe()}")
    return r.json["events"]


def test_round_trip_send_notify_reply(harness: Harness) -> None:
    h = harness
    chan = h.start_channel()

    # hub -> worker: REST send becomes a channel_event on the SSE stream,
    # which the original plugin turns into a notification on its stdout.
    event_id = _send_ok(h, h.worker, "hello from the hub", {"k": "v"})
    note = chan.wait_for(
        lambda m: _is_channel_msg(m, "hello from the hub"),
        f"{CHANNEL} with content 'hello from the hub' (event_id {event_id})",
        diag=h.diag,
    )
    meta = note["params"].get("meta") or {}
    assert meta.get("k") == "v", f"meta not passed through: {note}"
    assert meta.get("source") == "tubemail", f"unexpected meta: {note}"

    # The plugin's own view of the hub link.
    health = chan.request(
        "tools/call", {"name": "channel_health", "arguments": {}}, diag=h.diag
    )
    sc = (health.get("result") or {}).get("structuredContent") or {}
    assert sc.get("registered") is True and sc.get("connected") is True, (
        f"channel_health says the link is not healthy: {health}\n{h.diag()}"
    )

    # worker -> hub: the reply tool POSTs /tubemail/<w>/outbound.
    resp = chan.request(
        "tools/call",
        {"name": "reply", "arguments": {"text": "pong", "meta": {"in_reply_to": event_id}}},
        diag=h.diag,
    )
    if "result" not in resp:
        h.fail(f"tools/call reply returned an error (hub rejected outbound?): {resp}")
    texts = [c.get("text") for c in resp["result"].get("content", [])]
    assert texts == ["delivered to tubemail"], f"unexpected reply result: {resp}"

    events = _events(h, h.worker)
    outbound = [e for e in events if e.get("kind") == "outbound" and e.get("content") == "pong"]
    if len(outbound) != 1:
        h.fail(
            f"expected exactly one outbound 'pong' event, got {len(outbound)}; events: "
            f"{json.dumps(events, ensure_ascii=False)}"
        )
    assert (outbound[0].get("meta") or {}).get("in_reply_to") == event_id, (
        f"outbound meta not stored as sent: {outbound[0]}"
    )
    _assert_clean_stdout(h, chan)


def test_mail_sent_while_offline_is_delivered_once_in_order(harness: Harness) -> None:
    h = harness
    first = h.start_channel()

    # Claude Code exits: stdin closes, the plugin unregisters and exits.
    code = first.close_stdin_and_wait()
    if code is None:
        h.fail(f"channel {first.tag} did not exit within {WAIT_S:.0f}s after stdin EOF")
    assert code == 0, f"channel exited with {code}\n{first.stderr_tail()}"
    _assert_clean_stdout(h, first)
    h.wait_online(h.worker, False)

    token = f"{random.randrange(16**6):06x}"
    expected = [f"offline mail {i}/3 [{token}]" for i in (1, 2, 3)]
    for i, text in enumerate(expected, 1):
        _send_ok(h, h.worker, text, {"seq": str(i)})

    # Nobody saw them yet: the first process is gone.
    assert not any(c in expected for c in _channel_contents(first))

    second = h.start_channel()
    second.wait_for(
        lambda m: _is_channel_msg(m, expected[-1]),
        f"the 3rd offline message {expected[-1]!r} (the original channel sends no "
        f"Last-Event-ID; the hub must replay undelivered mail on subscribe)",
        diag=h.diag,
    )

    # Barrier: a live message sent now must arrive after the replayed ones.
    barrier = f"live barrier [{token}]"
    _send_ok(h, h.worker, barrier)
    second.wait_for(lambda m: _is_channel_msg(m, barrier), f"live message {barrier!r}", diag=h.diag)
    # Short quiet window so a late duplicate (e.g. replay after the plugin's
    # own re-register/reconnect) would be caught.
    time.sleep(1.0)

    got = [c for c in _channel_contents(second) if c in expected or c == barrier]
    if got != expected + [barrier]:
        h.fail(
            "offline mail not delivered exactly once and in order.\n"
            f"expected: {expected + [barrier]}\n"
            f"got:      {got}\n"
            f"--- all stdout of {second.tag} ---\n{second.received_dump()}"
        )
    _assert_clean_stdout(h, second)


def test_permission_request_relay_and_resolve(harness: Harness) -> None:
    h = harness
    chan = h.start_channel()

    # Claude Code generates 5-letter ids (lowercase, no 'l').
    rid = "".join(random.choice("abcdefghijkmnopqrstuvwxyz") for _ in range(5))
    request = {
        "request_id": rid,
        "tool_name": "Bash",
        "description": "List files",
        "input_preview": "ls -la /tmp",
    }
    chan.notify(PERMISSION_REQUEST, request)

    deadline = time.monotonic() + WAIT_S
    entry = None
    last = None
    while time.monotonic() < deadline:
        last = h.hub.get("/api/permissions")
        if last.status == 200 and isinstance(last.json, dict):
            for p in last.json.get("pending") or []:
                if p.get("worker") == h.worker and p.get("request_id") == rid:
                    entry = p
                    break
        if entry is not None:
            break
        time.sleep(0.1)
    if entry is None:
        h.fail(
            f"permission request {rid} did not show up in GET /api/permissions within "
            f"{WAIT_S:.0f}s; last: {last.describe() if last else '-'}"
        )
    for key in ("tool_name", "description", "input_preview"):
        assert entry.get(key) == request[key], f"pending entry {entry} != sent {request}"

    body = {"worker": h.worker, "request_id": rid, "behavior": "allow"}
    r = h.hub.post("/api/permissions/resolve", body)
    if r.status != 200 or not isinstance(r.json, dict) or r.json.get("ok") is not True:
        h.fail(f"resolve failed: {r.describe()}")

    note = chan.wait_for(
        lambda m: m.get("method") == PERMISSION and (m.get("params") or {}).get("request_id") == rid,
        f"{PERMISSION} for request_id {rid}",
        diag=h.diag,
    )
    assert note["params"] == {"request_id": rid, "behavior": "allow"}, f"unexpected: {note}"

    # And the hub no longer lists it as pending.
    deadline = time.monotonic() + WAIT_S
    while True:
        r = h.hub.get("/api/permissions")
        still = r.status == 200 and any(
            p.get("request_id") == rid for p in (r.json or {}).get("pending") or []
        )
        if r.status == 200 and not still:
            break
        if time.monotonic() > deadline:
            h.fail(f"request {rid} still pending after resolve: {r.describe()}")
        time.sleep(0.1)
    _assert_clean_stdout(h, chan)
