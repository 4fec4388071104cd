"""``tubemail.Client`` (blocking) against a real hub: every operation."""

from __future__ import annotations

import os
import threading
import time

import pytest

import tubemail
from pyclient_support import Hub, until


def test_health_and_repr(client: tubemail.Client, hub: Hub) -> None:
    h = client.health()
    assert isinstance(h, tubemail.Health)
    assert (h.status, h.service) == ("ok", "tubemail")
    assert isinstance(h.workers_total, int) and isinstance(h.disk_mb, float)
    assert client.url == hub.url
    assert repr(client) == f"Client({hub.url!r})"
    assert "status='ok'" in repr(h)
    assert h.to_dict()["service"] == "tubemail"
    assert tubemail.DEFAULT_HUB_URL == "http://localhost:8004"


def test_send_receive_status_and_idempotency(client: tubemail.Client, name: str) -> None:
    meta = {"n": 1, "big": 2**63 + 5, "f": 1.5, "ok": True, "none": None, "list": [1, "a", {"x": []}]}
    sent = client.send(name, "hello", meta=meta, idempotency_key="job-1")
    assert isinstance(sent, tubemail.SendReceipt)
    assert sent.worker == name and not sent.duplicate
    assert sent.routed_to.startswith("worker")
    assert len(sent.event_id) >= 10 and sent.event_id.isdigit()

    again = client.send(name, "hello", idempotency_key="job-1")
    assert again.duplicate and again.event_id == sent.event_id

    second = client.send(name, "second")
    assert second.event_id > sent.event_id  # ids are ordered strings

    events = client.receive(name)
    assert [e.content for e in events] == ["hello", "second"]
    first = events[0]
    assert isinstance(first, tubemail.Event)
    assert (first.event_id, first.kind) == (sent.event_id, "inbound")
    assert first.meta == meta  # JSON types survive both ways
    assert isinstance(first.ts, float)

    assert [e.content for e in client.receive(name, since=sent.event_id)] == ["second"]
    assert [e.content for e in client.receive(name, since=int(sent.event_id))] == ["second"]
    assert [e.content for e in client.receive(name, limit=1)] == ["second"]

    st = client.status(name)
    assert isinstance(st, tubemail.WorkerStatus)
    assert st.event_count == 2 and st.last_event_id == second.event_id
    assert isinstance(st.state_reason, tubemail.StateReason)
    assert st.state_reason.state == st.state


def test_harness_command_goes_to_the_manager(client: tubemail.Client, name: str) -> None:
    sent = client.send(name, "/clear")
    assert sent.worker == f"{name}-manager"
    assert sent.routed_to.startswith("manager")


def test_wait_returns_a_reply_and_releases_the_gil(client: tubemail.Client, name: str) -> None:
    sent = client.send(name, "question")
    got: list[list[tubemail.Event]] = []
    waiter = threading.Thread(target=lambda: got.append(client.wait(name, since=sent.event_id, timeout=20)))
    waiter.start()
    # This thread keeps running Python while the other one waits in Rust:
    # the wait released the GIL.
    spins = 0
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        spins += 1
    assert spins > 1000
    client.outbound(name, "answer")
    waiter.join(timeout=20)
    assert not waiter.is_alive()
    assert [(e.kind, e.content) for e in got[0]] == [("outbound", "answer")]

    t0 = time.monotonic()
    assert client.wait(name, timeout=0.3) == []  # nothing new from now
    assert time.monotonic() - t0 >= 0.25


def test_roster_and_worker_side_calls(client: tubemail.Client, name: str) -> None:
    reg = client.register(name, "/work/proj", pid=os.getpid(), forwarder_version="py-test")
    assert isinstance(reg, tubemail.Registration) and reg.worker == name
    with client.worker_events(name):  # online while the stream is open
        w = until(lambda: next((w for w in client.workers() if w.name == name and w.online), None), what="online")
        assert isinstance(w, tubemail.Worker)
        assert (w.cwd, w.pid, w.forwarder_version, w.presence) == ("/work/proj", os.getpid(), "py-test", "online")
        assert client.worker(name).name == name

        assert client.context_pct(name, 42) is True
        assert client.context_pct(name, 42) is False
        assert client.worker(name).context_pct == 42
        assert client.set_active(name, True) is True
        assert client.worker(name).observed_active is True

        sent = client.send(name, "to deliver")
        assert client.delivered(name, sent.event_id) is True
        assert client.status(name).acknowledged_through == sent.event_id

        appended = client.outbound(name, "report", meta={"kind": "ack"})
        assert isinstance(appended, tubemail.Appended)
        assert appended.event_id > sent.event_id
    client.unregister(name)
    client.goodbye(name)
    until(lambda: client.worker(name).presence == "exited", what="presence exited")
    assert client.worker(name).exited_cleanly

    assert client.purge(name) is True
    assert client.purge(name) is False
    with pytest.raises(tubemail.NotFound):
        client.worker(name)


def test_permissions_list_and_respond(client: tubemail.Client, name: str) -> None:
    with client.worker_events(name):
        a = client.permission_request(name, "req-a", "Bash", description="run ls", input_preview="ls -la")
        client.permission_request(name, "req-b", "Read")
        client.permission_request(name, "req-c", "Write")
        pending = client.permissions(name)
        assert [p.request_id for p in pending] == ["req-a", "req-b", "req-c"]
        p = pending[0]
        assert isinstance(p, tubemail.PendingPermission)
        assert (p.worker, p.tool_name, p.description, p.input_preview, p.online) == (
            name,
            "Bash",
            "run ls",
            "ls -la",
            True,
        )
        assert p.event_id == a.event_id
        assert any(q.request_id == "req-a" for q in client.permissions())

        assert client.allow(name, "req-a") is True
        assert client.allow(name, "req-a") is False  # no longer pending
        assert client.respond(name, "req-b", "deny") is True
        # Answered at the worker's terminal instead:
        assert client.permission_response(name, "req-c", "allow") is True
        assert client.permissions(name) == []
        kinds = [(e.kind, e.content) for e in client.receive(name) if e.kind == "permission_response"]
        assert kinds == [("permission_response", "allow"), ("permission_response", "deny"), ("permission_response", "allow")]
        assert client.deny(name, "never-asked") is False
    with pytest.raises(tubemail.BadRequest, match="allow"):
        client.respond(name, "req-a", "maybe")  # type: ignore[arg-type]


def test_permissions_of_offline_workers(client: tubemail.Client, name: str) -> None:
    client.permission_request(name, "req-off", "Bash")
    assert client.permissions(name) == []
    assert [p.request_id for p in client.permissions(name, include_offline=True)] == ["req-off"]


def test_control_commands(client: tubemail.Client, name: str, sim_manager) -> None:
    manager = sim_manager(name)
    interrupt = client.interrupt(name)
    assert interrupt.isdigit()
    assert client.receive(name)[-1].kind == "interrupt"
    restart, stop = client.restart(name), client.stop(name)
    assert restart < stop
    assert client.keystroke(name, "hi") >= 2
    # The manager gets them as commands (keys hex-encoded).
    until(
        lambda: manager.commands[:3] == ["force_restart", "force_stop", "keystroke:6869"],
        what=f"manager commands, got {manager.commands}",
    )

    health = client.manager_health(name)
    assert health["child_alive"] is True
    screen = client.screenshot(name, max_lines=5)
    assert f"SCREEN of {name}" in screen
    result = client.reconnect_mcp(name, "github")
    assert result["server"] == "github"


def test_clear_and_send_on_an_idle_worker(client: tubemail.Client, name: str, sim_manager) -> None:
    manager = sim_manager(name)
    with client.worker_events(name):
        client.register(name, "/src")
        assert client.status(name).state == "idle"
        r = client.clear_and_send(name, "fresh task", delay=0)
    assert r["routed_to"] == {"clear": f"{name}-manager", "rename": f"{name}-manager", "message": name}
    assert [e.content for e in client.receive(name)] == ["fresh task"]
    assert [e.content for e in client.receive(f"{name}-manager")] == ["/clear", f"/rename {name}"]
    until(lambda: manager.commands == ["clear", f"rename:{name}"], what=f"manager commands, got {manager.commands}")


def test_clear_and_send_refuses_a_busy_worker(client: tubemail.Client, name: str) -> None:
    client.send(name, "unanswered")  # an unanswered message makes the worker busy
    with pytest.raises(tubemail.ServerError) as e:
        client.clear_and_send(name, "fresh start", delay=0)
    assert e.value.status == 409
    assert isinstance(e.value, tubemail.TubemailError)


def test_settings(client: tubemail.Client) -> None:
    s = client.settings()
    assert isinstance(s, tubemail.Settings)
    changed = client.update_settings(recording_keep_files=7)
    assert changed.recording_keep_files == 7
    assert changed.recording_max_bytes_per_file == s.recording_max_bytes_per_file
    assert client.settings().recording_keep_files == 7
    with pytest.raises(tubemail.BadRequest) as e:
        client.update_settings(recording_keep_files=0)
    assert "recording_keep_files" in e.value.reason
    client.update_settings(recording_keep_files=s.recording_keep_files)
    kept = client.update_settings(retention_max_age_days=30, retention_max_database_mib=512)
    assert (kept.retention_max_age_days, kept.retention_max_database_mib) == (30, 512)
    assert kept.retention_max_events_per_worker == s.retention_max_events_per_worker
    with pytest.raises(tubemail.BadRequest) as e:
        client.update_settings(retention_max_database_mib=8)
    assert "retention_max_database_mib" in e.value.reason
    client.update_settings(retention_max_age_days=0, retention_max_database_mib=0)
    expiring = client.update_settings(permission_timeout_secs=600, permission_default_answer="allow")
    assert (expiring.permission_timeout_secs, expiring.permission_default_answer) == (600, "allow")
    client.update_settings(permission_timeout_secs=0, permission_default_answer="deny")


def test_rules_decide_a_prompt_with_no_person(client: tubemail.Client, name: str) -> None:
    client.register(name, "/tmp/rules-project")
    rule = client.add_rule("allow", worker=name, tool="Bash", input="^git status$", name="py status", position=0)
    try:
        assert rule["id"] and rule["verdict"] == "allow" and rule["worker"] == name
        assert any(r["id"] == rule["id"] for r in client.rules())
        decision = client.test_rules(name, "Bash", '{"command": "git status"}')
        assert decision["verdict"] == "allow" and decision["rule"]["id"] == rule["id"]
        client.permission_request(name, "py-rule-1", "Bash", input_preview='{"command": "git status"}')
        assert not client.permissions(worker=name, include_offline=True), "answered by the rule"
        answer = [e for e in client.receive(name) if e.kind == "permission_response"]
        assert answer[-1].content == "allow" and answer[-1].meta["decided_by"] == "rule"
        other = client.test_rules(name, "Bash", '{"command": "rm -rf /"}')
        assert other["verdict"] == "ask" and "rule" not in other
        with pytest.raises(tubemail.BadRequest) as e:
            client.add_rule("allow", worker=name, input="(unclosed")
        assert "invalid regex" in e.value.reason
        with pytest.raises(tubemail.BadRequest):
            client.add_rule("sometimes", worker=name)
    finally:
        client.delete_rule(rule["id"])
    assert all(r["id"] != rule["id"] for r in client.rules())
    assert isinstance(client.webhooks(), list)


def test_flows_and_runs(client: tubemail.Client, name: str) -> None:
    flow_name = f"flow-{name}"
    flow = client.save_flow(flow_name, "do the thing", default_worker=name, meta={"tag": "t"})
    assert isinstance(flow, tubemail.Flow)
    assert (flow.name, flow.body, flow.default_worker, flow.meta) == (flow_name, "do the thing", name, {"tag": "t"})
    assert flow.last_run_at is None
    assert flow_name in [f.name for f in client.flows()]

    run = client.run_flow(flow_name)
    assert isinstance(run, tubemail.RunStarted)
    client.outbound(name, "did the thing")
    log = client.run_log(run.run_id)
    assert isinstance(log, tubemail.Run)
    assert (log.flow_name, log.worker, log.first_event_id) == (flow_name, name, run.first_event_id)
    assert [e.content for e in log.events] == ["do the thing", "did the thing"]
    assert all(isinstance(e, tubemail.Event) for e in log.events)

    assert client.delete_flow(flow_name) is True
    assert client.delete_flow(flow_name) is False
    with pytest.raises(tubemail.NotFound):
        client.run_flow(flow_name, worker=name)
    with pytest.raises(tubemail.NotFound):
        client.run_log("no-such-run-id-0000000")


def test_non_json_arguments_are_type_errors(client: tubemail.Client, name: str) -> None:
    with pytest.raises(TypeError, match="not JSON"):
        client.send(name, "x", meta={"when": object()})
    with pytest.raises(TypeError, match="keys must be str"):
        client.send(name, "x", meta={1: "a"})
    with pytest.raises(TypeError, match="meta must be a dict"):
        client.send(name, "x", meta=["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.send(name, "x", meta={"nan": float("nan")})
    with pytest.raises(tubemail.BadRequest, match="event id"):
        client.receive(name, since="latest")
    assert client.receive(name) == []  # nothing was sent


def test_one_client_shared_by_threads(client: tubemail.Client, name: str) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def sender(t: int) -> None:
        for i in range(50):
            r = client.send(name, f"t{t}-{i}")
            with lock:
                ids.append(r.event_id)

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(set(ids)) == 400
    assert sorted(ids) == [e.event_id for e in client.receive(name, limit=500)]
