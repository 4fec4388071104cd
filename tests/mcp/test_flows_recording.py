"""Flow tools (save / list / run / get_run_log / finish / delete, with their
soft errors) and the recording tools on the hub's real recorder: terminal
output posted the way a manager streams it is recorded, the ``.cast`` parses
with the ``asciinema`` package (and ``asciinema cat`` prints it back), and
the text frames are searchable through ``tm_get_recording``."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from typing import Any

import anyio
import asciinema.asciicast as asciicast
import pytest
from _support import (
    EVENT_ID,
    WAIT_S,
    Hub,
    SseListener,
    assert_event,
    assert_recent,
    mcp_client,
    ok_dict,
    ok_list,
    soft_dict,
)

pytestmark = pytest.mark.anyio

RUN_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
FLOW_SUMMARY_KEYS = {"name", "body_preview", "default_worker", "created_at", "updated_at", "last_run_at"}


def ts(value: float):
    """Timestamps are epoch floats; the hub stores them to the microsecond,
    so a value read back may differ from the one first returned below that."""
    return pytest.approx(value, abs=2e-6)


def flow_name() -> str:
    return f"flow-{secrets.token_hex(4)}"


async def test_flow_lifecycle(hub: Hub, worker: str, listen) -> None:
    chan = listen(worker)
    name = flow_name()
    long_body = "Review the open PRs and summarise each one in two sentences. " * 2
    async with mcp_client(hub) as c:
        saved = await ok_dict(
            c,
            "tm_save_flow",
            {"name": name, "body": long_body, "default_worker": worker, "meta": {"src": "flow", "a": "1"}},
        )
        assert saved.get("ok") is True and saved.get("name") == name, saved
        assert_recent(saved.get("saved_at"), "saved_at")

        flows = await ok_list(c, "tm_list_flows")
        mine = [f for f in flows if f.get("name") == name]
        assert len(mine) == 1, flows
        f = mine[0]
        assert set(f) >= FLOW_SUMMARY_KEYS, f
        assert f["body_preview"] == long_body[:80] + "…", f
        assert f["default_worker"] == worker and f["last_run_at"] is None, f
        assert f["updated_at"] == ts(saved["saved_at"]), (f, saved)
        created = f["created_at"]
        assert_recent(created, "created_at")

        # overwrite keeps created_at; a short body is previewed whole
        body = "Summarise the open PRs."
        saved2 = await ok_dict(
            c, "tm_save_flow", {"name": name, "body": body, "default_worker": worker, "meta": {"src": "flow", "a": "1"}}
        )
        assert saved2.get("ok") is True and saved2["saved_at"] >= saved["saved_at"], saved2
        f = [x for x in await ok_list(c, "tm_list_flows") if x["name"] == name][0]
        assert f["body_preview"] == body and f["created_at"] == ts(created), f
        assert f["updated_at"] == ts(saved2["saved_at"]), f

        # run with the default worker; the run's meta overlays the flow's
        run = await ok_dict(c, "tm_run_flow", {"name": name, "meta": {"a": "2"}})
        assert run.get("ok") is True and run.get("worker") == worker, run
        assert RUN_ID.match(run.get("run_id", "")), run
        assert EVENT_ID.match(run.get("first_event_id", "")), run
        assert_recent(run.get("queued_at"), "queued_at")
        _, msg = chan.wait_for(
            lambda n, d: n == "channel_event" and d.get("event_id") == run["first_event_id"], "the flow's message"
        )
        assert msg["content"] == body, msg
        assert msg["meta"].get("src") == "flow" and msg["meta"].get("a") == "2", msg

        reply = hub.outbound(worker, "PR summary done")

        log = await ok_dict(c, "tm_get_run_log", {"run_id": run["run_id"]})
        assert log.get("ok") is True and log.get("run_id") == run["run_id"], log
        assert log.get("flow_name") == name and log.get("worker") == worker, log
        assert log.get("finished_at") is None, log
        assert_recent(log.get("started_at"), "started_at")
        ids = [e["event_id"] for e in log["events"]]
        assert ids == [run["first_event_id"], reply["event_id"]], log
        assert_event(log["events"][0], kind="inbound", content=body)
        assert_event(log["events"][1], kind="outbound", content="PR summary done")

        fin = await ok_dict(c, "tm_finish_run", {"run_id": run["run_id"]})
        assert fin.get("ok") is True and fin.get("run_id") == run["run_id"], fin
        assert_recent(fin.get("finished_at"), "finished_at")
        hub.outbound(worker, "after the finish")
        log = await ok_dict(c, "tm_get_run_log", {"run_id": run["run_id"]})
        assert log["finished_at"] == ts(fin["finished_at"]), log
        assert [e["event_id"] for e in log["events"]] == ids, f"events after finished_at leaked in: {log}"

        f = [x for x in await ok_list(c, "tm_list_flows") if x["name"] == name][0]
        assert f["last_run_at"] is not None, f
        assert_recent(f["last_run_at"], "last_run_at")

        # an explicit worker wins over the default
        other = f"{worker}-b"
        run2 = await ok_dict(c, "tm_run_flow", {"name": name, "worker": other})
        assert run2.get("ok") is True and run2.get("worker") == other, run2
        evs = await ok_list(c, "tm_receive", {"worker": other})
        assert [e["event_id"] for e in evs] == [run2["first_event_id"]], evs

        deleted = await ok_dict(c, "tm_delete_flow", {"name": name})
        assert deleted == {"ok": True, "name": name}, deleted
        again = await ok_dict(c, "tm_delete_flow", {"name": name})
        assert again == {"ok": False, "name": name}, again
        assert name not in [x["name"] for x in await ok_list(c, "tm_list_flows")]
        # run logs outlive the flow
        log = await ok_dict(c, "tm_get_run_log", {"run_id": run["run_id"]})
        assert log.get("ok") is True and log["flow_name"] == name, log


async def test_flow_soft_errors(hub: Hub, worker: str) -> None:
    async with mcp_client(hub) as c:
        bad = await soft_dict(c, "tm_save_flow", {"name": "../bad", "body": "x"})
        assert bad.get("ok") is False and str(bad.get("error", "")).startswith("invalid flow name"), bad

        missing = flow_name()
        nf = await soft_dict(c, "tm_run_flow", {"name": missing, "worker": worker})
        assert nf == {"ok": False, "error": f"flow not found: '{missing}'"}, nf

        name = flow_name()
        await ok_dict(c, "tm_save_flow", {"name": name, "body": "no default worker here"})
        nt = await soft_dict(c, "tm_run_flow", {"name": name})
        assert nt.get("ok") is False and str(nt.get("error", "")).startswith("no target worker"), nt
        assert await ok_list(c, "tm_receive", {"worker": worker}) == []

        rid = "A" * 22
        rl = await soft_dict(c, "tm_get_run_log", {"run_id": rid})
        assert rl == {"ok": False, "error": f"run not found: '{rid}'"}, rl
        fr = await soft_dict(c, "tm_finish_run", {"run_id": rid})
        assert fr.get("ok") is False, fr

        await ok_dict(c, "tm_delete_flow", {"name": name})


async def test_list_flows_is_sorted_by_name(hub: Hub) -> None:
    names = [flow_name() for _ in range(3)]
    async with mcp_client(hub) as c:
        for n in names:
            await ok_dict(c, "tm_save_flow", {"name": n, "body": f"body of {n}"})
        listed = [f["name"] for f in await ok_list(c, "tm_list_flows")]
        for n in names:
            await ok_dict(c, "tm_delete_flow", {"name": n})
    assert listed == sorted(listed), listed
    assert set(names) <= set(listed), listed


# ── recording ────────────────────────────────────────────────────────────────

STATUS_KEYS = {"worker", "enabled", "active_file", "files", "max_bytes_per_file", "keep_files"}
FILE_KEYS = {"stem", "cast_path", "frames_path", "size_bytes", "modified", "active"}
FRAME_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def check_recording_status(st: dict, worker: str, *, enabled: bool) -> None:
    __tracebackhide__ = True
    assert STATUS_KEYS <= set(st), st
    assert st["worker"] == worker and st["enabled"] is enabled, st
    # hub-config defaults (spec §5.2); no test changes the settings
    assert st["max_bytes_per_file"] == 5242880 and st["keep_files"] == 4, st
    for f in st["files"]:
        assert FILE_KEYS <= set(f), f
        # relative to the data dir, never an absolute hub path
        assert f["cast_path"] == f"recordings/{worker}/{f['stem']}.cast", f
        assert f["frames_path"] == f"recordings/{worker}/{f['stem']}.frames.jsonl", f


def pty_out(hub: Hub, worker: str, data: bytes) -> int:
    """What a manager posts while it streams its pty."""
    r = hub.request(
        "POST",
        f"/tubemail/{Hub.q(worker)}/pty-out",
        raw_body=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status in (200, 404), r.describe()
    return r.status


async def frames_matching(c: Any, worker: str, grep: str) -> list[dict]:
    """``tm_get_recording`` frames matching ``grep``, once the recorder (off
    the hot path) has written them."""
    deadline = time.monotonic() + WAIT_S
    while True:
        rec = await ok_dict(c, "tm_get_recording", {"worker": worker, "grep": grep})
        if rec["frames"] or time.monotonic() > deadline:
            return rec["frames"]
        await anyio.sleep(0.05)


async def test_recording_toggle_unknown_worker(hub: Hub, worker: str) -> None:
    async with mcp_client(hub) as c:
        res = await soft_dict(c, "tm_recording_toggle", {"worker": worker, "enabled": True})
    assert res == {"ok": False, "error": f"unknown worker: '{worker}'"}, res


async def test_a_recorded_terminal_parses_as_asciicast_v2(hub: Hub, worker: str, manager) -> None:
    hub.register(worker)
    mgr = manager(worker)
    ui = SseListener(hub, "web UI", register=False, path="/api/events/stream")
    printed = [
        "$ echo café \x1b[1mbold\x1b[0m\r\n".encode(),
        "café \x1b[1mbold\x1b[0m\r\n".encode(),
        b"$ echo rec-$((40+2))\r\nrec-42\r\n",
    ]
    try:
        async with mcp_client(hub) as c:
            st = await ok_dict(c, "tm_recording_status", {"worker": worker})
            check_recording_status(st, worker, enabled=False)
            assert st["files"] == [] and st["active_file"] is None, st
            # nobody watches or records: the manager is told to stop
            assert pty_out(hub, worker, b"not recorded\r\n") == 404

            on = await ok_dict(c, "tm_recording_toggle", {"worker": worker, "enabled": True})
            assert on.get("ok") is True, on
            check_recording_status(on, worker, enabled=True)
            # the manager is asked to stream; web UIs flip their Rec switch
            mgr.wait_for(lambda n, d: n == "pty_attach", "pty_attach on the manager's stream")
            ui.wait_for(
                lambda n, d: n == "recording" and d == {"worker": worker, "enabled": True},
                "the recording notice (on)",
            )
            # what the manager streams: its size, then output
            r = hub.request("POST", f"/tubemail/{Hub.q(worker)}/pty-control", {"kind": "size", "cols": 100, "rows": 30})
            assert r.status == 200, r.describe()
            for chunk in printed:
                assert pty_out(hub, worker, chunk) == 200

            frames = await frames_matching(c, worker, r"rec-42\r?\n")
            assert len(frames) == 1 and "rec-42" in frames[0]["delta"], frames
            assert FRAME_TIME.match(frames[0]["t"]), frames
            # frames are plain text: escape sequences stripped
            bold = await frames_matching(c, worker, "café bold")
            assert bold and all("\x1b" not in f["delta"] for f in bold), bold
            first = await ok_dict(c, "tm_get_recording", {"worker": worker, "limit": 1})
            assert first["truncated"] is True and len(first["frames"]) == 1, first
            assert first["frames"][0]["delta"].startswith("$ echo café bold"), first

            st = await ok_dict(c, "tm_recording_status", {"worker": worker})
            check_recording_status(st, worker, enabled=True)
            assert len(st["files"]) == 1 and st["files"][0]["active"] is True, st
            assert st["active_file"] == f"{st['files'][0]['stem']}.cast", st

            off = await ok_dict(c, "tm_recording_toggle", {"worker": worker, "enabled": False})
            check_recording_status(off, worker, enabled=False)
            assert off["active_file"] is None and len(off["files"]) == 1, off
            mgr.wait_for(lambda n, d: n == "pty_detach", "pty_detach on the manager's stream")
            ui.wait_for(
                lambda n, d: n == "recording" and d == {"worker": worker, "enabled": False},
                "the recording notice (off)",
            )
            assert pty_out(hub, worker, b"after the stop\r\n") == 404
    finally:
        ui.stop()

    cast = hub.data_dir / off["files"][0]["cast_path"]
    with asciicast.open_from_url(str(cast)) as a:
        assert a.version == 2
        header = a.v2_header
        events = list(a.events())
    assert header["width"] == 100 and header["height"] == 30, header
    assert isinstance(header["timestamp"], int) and abs(header["timestamp"] - time.time()) < 600, header
    assert header["title"] == f"tubemail recording: {worker}", header
    times = [e[0] for e in events]
    assert all(isinstance(t, float) for t in times) and times == sorted(times), events
    assert {e[1] for e in events} <= {"o", "r"}, events
    assert all(len(e) == 3 and isinstance(e[2], str) for e in events), events
    expected = b"".join(printed).decode()
    assert "".join(e[2] for e in events if e[1] == "o") == expected, events
    # the package's own player path: `asciinema cat` prints the output back
    out = subprocess.run(
        [sys.executable, "-m", "asciinema", "cat", str(cast)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode() == expected, out.stdout
