"""The two long waits, run together (~45 s); skipped unless TUBEMAIL_MCP_SLOW=1.

* tm_wait_for_activity caps timeout_s at 45 s (asked for 120).
* tm_reconnect_mcp gives up after 30 s with the original's timeout value.
"""

from __future__ import annotations

import os
import time

import anyio
import pytest
from _support import Hub, mcp_client, ok_dict, ok_list

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(os.environ.get("TUBEMAIL_MCP_SLOW") != "1", reason="slow (45 s): set TUBEMAIL_MCP_SLOW=1"),
]


async def test_wait_cap_and_reconnect_timeout(hub: Hub, new_worker) -> None:
    quiet, silent = new_worker(), new_worker()
    hub.register(silent)
    out: dict = {}
    async with mcp_client(hub) as c:

        async def wait() -> None:
            t0 = time.monotonic()
            out["wait"] = await ok_list(c, "tm_wait_for_activity", {"worker": quiet, "timeout_s": 120}, timeout=70)
            out["wait_s"] = time.monotonic() - t0

        async def reconnect() -> None:
            t0 = time.monotonic()
            out["reconnect"] = await ok_dict(c, "tm_reconnect_mcp", {"worker": silent, "server": "github"}, timeout=60)
            out["reconnect_s"] = time.monotonic() - t0

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            tg.start_soon(reconnect)
    assert out["wait"] == [], out
    assert 44 <= out["wait_s"] < 55, f"timeout_s=120 should be capped at 45 s: {out}"
    assert out["reconnect"] == {
        "error": "manager did not post a reconnect_mcp_result within 30s",
        "detail": "worker may be unresponsive; try tm_screenshot to inspect",
    }, out
    assert 29 <= out["reconnect_s"] < 40, out
