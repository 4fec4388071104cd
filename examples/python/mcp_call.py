"""Calls the hub's MCP endpoint (``/mcp/``) with the official Python MCP SDK,
as Claude Code does once the hub is added to it: lists the tools, reads the
roster with ``tm_list_workers`` and, given a worker and a message, sends it
with ``tm_send``.

    TUBEMAIL_SECRET=... python mcp_call.py                          # tools and workers
    TUBEMAIL_SECRET=... python mcp_call.py api-tm "run the tests"   # and a message

Needs the ``mcp`` package (``pip install mcp``). ``TUBEMAIL_HUB_URL``
defaults to http://127.0.0.1:8004.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


class ToolError(Exception):
    """A tool answered with ``isError``."""


async def call(mcp: Client, tool: str, arguments: dict[str, Any]) -> Any:
    """Calls ``tool``; returns its structured content (JSON), else its text."""
    result = await mcp.call_tool(tool, arguments)
    text = "\n".join(b.text for b in result.content if isinstance(b, types.TextContent))
    if result.is_error:
        raise ToolError(f"{tool}: {text}")
    return result.structured_content if result.structured_content is not None else text


async def run(url: str, secret: str, worker: str | None, message: str | None) -> None:
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with Client(streamable_http_client(f"{url}/mcp/", http_client=http)) as mcp:
            tools = await mcp.list_tools()
            print("tools:", " ".join(sorted(t.name for t in tools.tools)))
            print(str(await call(mcp, "tm_list_workers", {})).rstrip("\n"))
            if worker is not None and message is not None:
                sent = await call(mcp, "tm_send", {"worker": worker, "message": message})
                print("sent:", json.dumps(sent))


def first_cause(e: BaseException) -> BaseException:
    """The first error inside exception groups (the SDK's task groups wrap
    what went wrong in them)."""
    while isinstance(inner := getattr(e, "exceptions", None), tuple) and inner:
        e = inner[0]
    return e


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="List the hub's MCP tools and workers; optionally send a message.")
    p.add_argument("worker", nargs="?", help="worker to send MESSAGE to")
    p.add_argument("message", nargs="?", help="the message")
    args = p.parse_args(argv)
    if (args.worker is None) != (args.message is None):
        p.error("give both a worker and a message, or neither")
    url = os.environ.get("TUBEMAIL_HUB_URL") or "http://127.0.0.1:8004"
    secret = os.environ.get("TUBEMAIL_SECRET")
    if not secret:
        print("mcp_call: set TUBEMAIL_SECRET", file=sys.stderr)
        return 1
    try:
        asyncio.run(run(url.rstrip("/"), secret, args.worker, args.message))
    except Exception as e:
        cause = first_cause(e)
        print(f"mcp_call: {type(cause).__name__}: {cause}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
