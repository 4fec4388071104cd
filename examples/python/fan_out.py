"""Fans one task out to several workers, waits for every reply, prints them.

    TUBEMAIL_SECRET=... python fan_out.py "summarise the open issues" api-tm web-tm docs-tm

The Python twin of ``orchestrator fan-out`` (``examples/rust``), on the
asyncio client: the waits for the workers' replies run side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import tubemail


async def collect_reply(
    hub: tubemail.AsyncClient, worker: str, since: str, deadline: float
) -> tubemail.Event | None:
    """The first reply (``outbound`` event) of ``worker`` after ``since``, or
    ``None`` if none comes before ``deadline`` (a ``time.monotonic()``)."""
    while (left := deadline - time.monotonic()) > 0:
        events = await hub.wait(worker, since=since, timeout=min(left, 45.0))
        if events:
            since = events[-1].event_id
        for ev in events:
            if ev.kind == "outbound":
                return ev
    return None


async def run(
    hub: tubemail.AsyncClient, task: str, workers: list[str], within: float
) -> list[tubemail.Event | None]:
    """Sends ``task`` to every worker and waits up to ``within`` seconds for
    one reply from each; replies in the workers' order, ``None`` for a worker
    that did not answer in time."""
    sent = await asyncio.gather(*(hub.send(w, task) for w in workers))
    deadline = time.monotonic() + within
    return list(
        await asyncio.gather(*(collect_reply(hub, w, s.event_id, deadline) for w, s in zip(workers, sent)))
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Send a task to several workers and print their replies.")
    p.add_argument("task")
    p.add_argument("workers", nargs="+")
    p.add_argument("--within", type=float, default=600.0, help="seconds to wait for the replies (default 600)")
    args = p.parse_args(argv)
    try:
        hub = tubemail.AsyncClient.from_env()  # TUBEMAIL_HUB_URL, TUBEMAIL_SECRET
        replies = asyncio.run(run(hub, args.task, args.workers, args.within))
    except tubemail.TubemailError as e:
        print(f"fan_out: {e}", file=sys.stderr)
        return 1
    for worker, reply in zip(args.workers, replies):
        print(f"== {worker}")
        print(reply.content if reply else "(no reply in time)")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
