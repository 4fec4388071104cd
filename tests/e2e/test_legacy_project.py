"""A project that still has the original Python tool's ``.mcp.json`` entry
for ``tubemail-channel``: Claude Code asks "New MCP server found in this
project" before anything else. claude-tm declines that old entry (its own
channel comes through ``--mcp-config``), so the worker starts unattended and
its channel is ours."""

from __future__ import annotations

import json
from typing import Callable

from fakeapi import FakeApi
from support import Orchestrator, Worker, channel_blocks, token


def test_an_old_project_channel_entry_does_not_stall_the_worker(
    start_worker: Callable[..., Worker], api: FakeApi, tm: Orchestrator
) -> None:
    # What the original's bootstrap wrote (its `tubemail` command is not
    # installed here, so only our channel can answer).
    old = json.dumps({"mcpServers": {"tubemail-channel": {"command": "tubemail"}}})
    w = start_worker("e2e-legacy", files={".mcp.json": old})
    tok = token("L")
    api.on(tok, text=f"ok {tok}")
    tm("tm_send", {"worker": w.name, "message": f"{tok} hello"})
    req = api.wait_for(lambda r: tok in r.last_user, f"{tok} in a model request")
    assert [b for a, b in channel_blocks(req.last_user) if tok in b] == [f"{tok} hello"]
    # Claude Code remembers the answer for the project, as if the user gave it.
    local = json.loads((w.dir / ".claude" / "settings.local.json").read_text())
    assert local.get("disabledMcpjsonServers") == ["tubemail-channel"], local
    tm("tm_stop", {"worker": w.name})
    assert w.proc.wait(timeout=60) == 0
