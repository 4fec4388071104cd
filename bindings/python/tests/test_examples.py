"""The Python examples (``examples/python``), run as programs against a real
hub with simulated workers (threads on the bindings that answer like a
worker would)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import tubemail
from pyclient_support import Hub, SimWorker, until

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "python"


def test_fan_out_prints_one_reply_per_worker(
    hub: Hub, names: Callable[[int], list[str]], sim_worker: Callable[..., SimWorker]
) -> None:
    *answering, silent = names(4)
    for w in answering:
        sim_worker(w)
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "fan_out.py"), "count the files", *answering, silent, "--within", "3"],
        env=hub.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    expected = "".join(f"== {w}\n{w}: done count the files\n\n" for w in answering)
    expected += f"== {silent}\n(no reply in time)\n\n"
    assert out.stdout == expected


def test_fan_out_reports_a_wrong_secret(hub: Hub, name: str) -> None:
    env = hub.env() | {"TUBEMAIL_SECRET": "wrong"}
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "fan_out.py"), "x", name], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert "unauthorized" in out.stderr


def test_auto_approve_allows_only_the_configured_tools(hub: Hub, client: tubemail.Client, name: str) -> None:
    with client.worker_events(name):  # online, so its prompts are listed
        client.permission_request(name, "r1", "Read")  # waiting before the approver starts
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "auto_approve.py"), "Read", "Grep", "--stop-after", "2"],
            env=hub.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # The backlog is cleared after the approver subscribed.
            until(lambda: client.permissions(name) == [] or proc.poll() is not None, timeout=30, what="r1 allowed")
            client.permission_request(name, "b1", "Bash", description="rm -rf /")
            client.permission_request(name, "g1", "Grep")
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, stderr
        assert stdout.splitlines() == [
            f"allowed Read for {name} (r1)",
            f"left Bash for {name} (b1) to a human",
            f"allowed Grep for {name} (g1)",
        ]
        assert [p.request_id for p in client.permissions(name)] == ["b1"], "Bash is left to a human"
        responses = [e.content for e in client.receive(name) if e.kind == "permission_response"]
        assert responses == ["allow", "allow"]


def test_mcp_call_lists_the_tools_and_sends_over_mcp(
    hub: Hub, client: tubemail.Client, name: str, sim_worker: Callable[..., SimWorker]
) -> None:
    sim_worker(name)  # online, and answers what reaches it
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "mcp_call.py"), name, "hello over mcp"],
        env=hub.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    first, *roster, last = out.stdout.splitlines()
    assert {"tm_list_workers", "tm_send", "tm_receive"} <= set(first.removeprefix("tools: ").split()), first
    assert any(name in row for row in roster), roster
    sent = json.loads(last.removeprefix("sent: "))
    assert sent["worker"] == name
    # The message went through the hub to the worker, which answered.
    def answered() -> list[tubemail.Event] | None:
        events = client.receive(name)
        return events if any(e.kind == "outbound" for e in events) else None

    events = until(answered, timeout=30, what="the worker's reply")
    assert [(e.kind, e.content) for e in events] == [
        ("inbound", "hello over mcp"),
        ("outbound", f"{name}: done hello over mcp"),
    ]
    assert events[0].event_id == sent["event_id"]


def test_mcp_call_reports_a_wrong_secret(hub: Hub) -> None:
    env = hub.env() | {"TUBEMAIL_SECRET": "wrong"}
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "mcp_call.py")], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 1
    assert out.stderr.startswith("mcp_call: "), out.stderr
