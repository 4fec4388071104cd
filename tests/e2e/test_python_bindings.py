"""The send → channel → reply round trip with the real CLI, driven through
the Python bindings (``tubemail``, pyo3) instead of MCP."""

from __future__ import annotations

import time
from typing import Callable

import pytest

from fakeapi import FakeApi
from support import REPLY_TOOL, E2EHub, Worker, channel_blocks, token, wait_until

try:
    import tubemail
except ImportError:  # pragma: no cover - reported as a skip below
    tubemail = None

if tubemail is None or not hasattr(tubemail, "Client"):
    pytest.skip(
        "the tubemail Python bindings are not installed in this venv "
        "(make e2e-test builds them from bindings/python)",
        allow_module_level=True,
    )


def test_round_trip_through_the_python_bindings(
    start_worker: Callable[..., Worker], api: FakeApi, hub: E2EHub
) -> None:
    w = start_worker("e2e-py")
    client = tubemail.Client(hub.base, hub.secret)
    tok = token("PY")
    api.on(tok, tool=REPLY_TOOL, tool_input={"text": f"PONG {tok} ✓"})

    receipt = client.send(w.name, f"{tok} from Python", meta={"lang": "python", "n": 3})
    assert receipt.routed_to.startswith("worker"), receipt.to_dict()
    req = api.wait_for(lambda r: tok in r.last_user, f"{tok} in a model request")
    [(attrs, body)] = [b for b in channel_blocks(req.last_user) if tok in b[1]]
    assert body == f"{tok} from Python"
    assert attrs["lang"] == "python" and attrs["n"] == "3", attrs

    deadline = time.monotonic() + 60
    replies: list[tubemail.Event] = []
    since = receipt.event_id
    while not replies and time.monotonic() < deadline:
        for ev in client.wait(w.name, since=since, timeout=10):
            since = ev.event_id
            if ev.kind == "outbound" and tok in ev.content:
                replies.append(ev)
    assert [e.content for e in replies] == [f"PONG {tok} ✓"]

    client.stop(w.name)
    assert w.proc.wait(timeout=60) == 0, w.describe()
    wait_until("no process of the worker left", lambda: not w.processes(), 30, 0.5, lambda: str(w.processes()))
