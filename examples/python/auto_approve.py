"""Allows permission prompts for a configured set of tools and leaves the
rest to a human (who answers in the web UI, the CLI or at the terminal).

    TUBEMAIL_SECRET=... python auto_approve.py Read Grep Glob

The Python twin of ``orchestrator auto-approve`` (``examples/rust``), on the
blocking client and its event iterator.
"""

from __future__ import annotations

import argparse
import sys

import tubemail


def run(hub: tubemail.Client, allowed: set[str], stop_after: int | None = None) -> int:
    """Answers pending and future prompts whose tool is in ``allowed``;
    returns after ``stop_after`` approvals (``None``: until the stream ends).
    Returns the number of approvals."""
    approved = 0

    def done() -> bool:
        return stop_after is not None and approved >= stop_after

    # Subscribe first, then clear the backlog, so nothing falls in between.
    with hub.events() as events:
        for p in hub.permissions():
            if p.tool_name in allowed and hub.allow(p.worker, p.request_id):
                print(f"allowed {p.tool_name} for {p.worker} ({p.request_id})", flush=True)
                approved += 1
        while not done():
            ev = next(events, None)
            if ev is None:
                break
            if ev.event != "permission_request" or ev.worker is None:
                continue
            tool, request_id = ev.data.get("tool_name", ""), ev.data.get("request_id", "")
            if tool not in allowed:
                print(f"left {tool} for {ev.worker} ({request_id}) to a human", flush=True)
            elif hub.allow(ev.worker, request_id):
                print(f"allowed {tool} for {ev.worker} ({request_id})", flush=True)
                approved += 1
    return approved


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Allow permission prompts of the given tools; leave the rest.")
    p.add_argument("tools", nargs="+", help="tool names to allow, e.g. Read Grep Glob")
    p.add_argument("--stop-after", type=int, default=None, help="exit after this many approvals")
    args = p.parse_args(argv)
    try:
        run(tubemail.Client.from_env(), set(args.tools), args.stop_after)
    except tubemail.TubemailError as e:
        print(f"auto_approve: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
