"""``tubemail.AsyncClient`` against a real hub: every operation as a
coroutine, concurrency, and the async event iterator with resume."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Callable

import tubemail
from pyclient_support import Hub, SimManager


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_every_operation(hub: Hub, names: Callable[[int], list[str]], sim_manager: Callable[[str], SimManager]) -> None:
    w, other = names(2)
    sim_manager(w)

    async def main() -> None:
        c = tubemail.AsyncClient(hub.url, hub.secret)
        assert repr(c) == f"AsyncClient({hub.url!r})"
        assert (await c.health()).status == "ok"

        reg = await c.register(w, "/src", pid=os.getpid())
        assert reg.worker == w
        async with c.worker_events(w) as stream:  # online while open
            assert w in [x.name for x in await c.workers() if x.online]
            assert (await c.worker(w)).cwd == "/src"

            sent = await c.send(w, "hello", meta={"a": [1, 2]}, idempotency_key="k1")
            assert (await c.send(w, "hello", idempotency_key="k1")).duplicate
            ev = await stream.__anext__()
            assert (ev.id, ev.data["content"]) == (sent.event_id, "hello")
            assert [e.content for e in await c.receive(w, since=sent.event_id)] == []
            assert (await c.receive(w))[0].meta == {"a": [1, 2]}
            assert (await c.status(w)).last_event_id == sent.event_id

            # A wait parked in the runtime wakes on a reply sent meanwhile.
            waiting = asyncio.ensure_future(c.wait(w, since=sent.event_id, timeout=20))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await c.outbound(w, "reply", meta={"kind": "answer"})
            assert [e.content for e in await waiting] == ["reply"]

            await c.permission_request(w, "p1", "Bash")
            await c.permission_request(w, "p2", "Read")
            await c.permission_request(w, "p3", "Grep")
            assert [p.request_id for p in await c.permissions(w)] == ["p1", "p2", "p3"]
            assert await c.allow(w, "p1") is True
            assert await c.deny(w, "p2") is True
            assert await c.respond(w, "p3", "allow") is True
            assert await c.permission_response(w, "p3", "allow") is False
            assert await c.permissions(w, include_offline=True) == []

            assert (await c.interrupt(w)).isdigit()
            assert await c.restart(w) < await c.stop(w)
            assert await c.keystroke(w, "x") >= 1
            assert (await c.manager_health(w))["child_alive"] is True
            assert "SCREEN" in await c.screenshot(w)
            assert (await c.reconnect_mcp(w, "srv"))["ok"] is True

            assert await c.context_pct(w, 10) is True
            assert await c.set_active(w, True) is True
            last = (await c.receive(w))[-1].event_id
            assert await c.delivered(w, last) is True

        s = await c.settings()
        same = await c.update_settings(recording_enabled_by_default=s.recording_enabled_by_default)
        assert same.recording_keep_files == s.recording_keep_files

        flow = await c.save_flow(f"f-{w}", "body", default_worker=other)
        assert flow.default_worker == other
        assert flow.name in [f.name for f in await c.flows()]
        started = await c.run_flow(flow.name, meta={"x": 1})
        log = await c.run_log(started.run_id)
        assert log.worker == other and log.events[0].meta["x"] == 1
        assert await c.delete_flow(flow.name) is True

        await c.unregister(w)
        await c.goodbye(w)
        assert (await c.worker(w)).exited_cleanly
        assert await c.purge(w) is True

    run(main())


def test_concurrent_sends_overlap(hub: Hub, name: str) -> None:
    async def main() -> list[str]:
        c = tubemail.AsyncClient(hub.url, hub.secret)
        receipts = await asyncio.gather(*(c.send(name, f"m{i}") for i in range(200)))
        return [r.event_id for r in receipts]

    ids = run(main())
    assert len(set(ids)) == 200
    stored = hub.client().receive(name, limit=500)
    assert sorted(ids) == [e.event_id for e in stored]


def test_async_iterator_connects_on_await_or_first_use(hub: Hub, name: str) -> None:
    async def main() -> None:
        c = tubemail.AsyncClient(hub.url, hub.secret)
        stream = await c.events()  # connected: "from now" is from here
        assert isinstance(stream, tubemail.AsyncEventIterator)
        sent = await c.send(name, "after await")
        async for ev in stream:
            if ev.worker == name:
                assert (ev.id, ev.event) == (sent.event_id, "channel_event")
                break
        assert stream.last_id is not None and stream.last_id >= sent.event_id
        await stream.aclose()
        assert [ev async for ev in stream] == []  # closed: iteration ends

        # Iterated directly, it connects on first use; since= replays what
        # came after that id.
        later = await c.send(name, "later")
        async for ev in c.events(since=sent.event_id):
            if ev.worker == name:
                assert ev.id == later.event_id
                break

    run(main())


def test_async_iterator_resumes_across_a_hub_restart(own_hub: Hub, name: str) -> None:
    async def main() -> None:
        c = tubemail.AsyncClient(own_hub.url, own_hub.secret)
        stream = await c.worker_events(name)
        ids = [(await c.send(name, f"b{i}")).event_id for i in range(10)]
        got = [(await stream.__anext__()).id for _ in range(3)]

        await asyncio.to_thread(own_hub.stop)
        pending = asyncio.ensure_future(collect(stream, 17))  # 7 left + 10 new
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_hub.start)
        ids += [(await c.send(name, f"a{i}")).event_id for i in range(10)]
        got += await asyncio.wait_for(pending, 30)
        assert got == ids, "every event exactly once, in order"
        await stream.aclose()

    async def collect(stream: tubemail.AsyncEventIterator, n: int) -> list[str | None]:
        out = []
        async for ev in stream:
            out.append(ev.id)
            if len(out) == n:
                break
        return out

    run(main())


def test_coroutines_do_not_block_the_event_loop(hub: Hub, name: str) -> None:
    async def main() -> None:
        c = tubemail.AsyncClient(hub.url, hub.secret)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        t = asyncio.ensure_future(ticker())
        t0 = time.monotonic()
        assert await c.wait(name, timeout=0.5) == []
        assert time.monotonic() - t0 >= 0.45
        t.cancel()
        assert ticks >= 10  # the loop ran while the wait was parked

    run(main())
