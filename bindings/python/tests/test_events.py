"""Event iterators: live events, typed fields, resume after ``since`` and
across a hub restart (no loss, no duplicate), superseded worker streams,
``close()`` and Ctrl-C."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest

import tubemail
from pyclient_support import Hub, until


class Collector:
    """Iterates ``it`` in a thread, keeping every event."""

    def __init__(self, it: tubemail.EventIterator):
        self.it = it
        self.events: list[tubemail.StreamEvent] = []
        self.errors: list[BaseException] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for ev in self.it:
                self.events.append(ev)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.errors.append(e)
        finally:
            self.done.set()

    def timeline(self, worker: str | None = None) -> list[tubemail.StreamEvent]:
        return [e for e in self.events if e.id is not None and (worker is None or e.worker == worker)]


def test_global_stream_yields_typed_events_and_notices(client: tubemail.Client, name: str) -> None:
    with client.events() as events:
        assert isinstance(events, tubemail.EventIterator)
        col = Collector(events)
        sent = client.send(name, "hi", meta={"k": "v"})
        client.outbound(name, "hello back")
        client.context_pct(name, 55)
        until(lambda: len(col.timeline(name)) >= 2 and any(e.event == "context_pct" for e in col.events))
        ev = col.timeline(name)[0]
        assert isinstance(ev, tubemail.StreamEvent)
        assert (ev.id, ev.event, ev.worker) == (sent.event_id, "channel_event", name)
        assert ev.data["content"] == "hi" and ev.data["meta"] == {"k": "v"}
        assert col.timeline(name)[1].event == "outbound"
        notice = next(e for e in col.events if e.event == "context_pct")
        assert notice.id is None and notice.worker == name and notice.data["context_pct"] == 55
        assert events.last_id == col.timeline()[-1].id
        assert "EventIterator('all workers'" in repr(events)
    # Leaving the with-block closed it: the thread's iteration ended.
    assert col.done.wait(10) and not col.errors


def test_since_resumes_exactly_after_an_id(client: tubemail.Client, name: str) -> None:
    first = client.send(name, "one")
    client.send(name, "two")
    client.send(name, "three")
    with client.events(since=first.event_id) as events:
        got = [next(events) for _ in range(2)]
    assert [e.data["content"] for e in got] == ["two", "three"]
    assert events.last_id == got[-1].id


def test_worker_stream_gets_messages_and_is_superseded(client: tubemail.Client, name: str) -> None:
    old = client.worker_events(name)
    sent = client.send(name, "task")
    ev = next(old)
    assert (ev.event, ev.id, ev.data["content"]) == ("channel_event", sent.event_id, "task")
    client.interrupt(name)
    assert next(old).event == "interrupt"
    # A newer reader of the same worker takes over; the old iterator gets
    # `closed` (superseded) and then stops.
    new = client.worker_events(name)
    closed = next(old)
    assert (closed.event, closed.data["reason"]) == ("closed", "superseded")
    with pytest.raises(StopIteration):
        next(old)
    sent2 = client.send(name, "after")
    # The new stream resumes after what the old one handed over.
    assert next(new).id == sent2.event_id
    new.close()
    with pytest.raises(StopIteration):
        next(new)


def test_close_from_another_thread_ends_a_blocked_next(client: tubemail.Client, name: str) -> None:
    events = client.worker_events(name)
    col = Collector(events)
    time.sleep(0.3)  # let the thread block in next()
    assert not col.done.is_set()
    events.close()
    assert col.done.wait(10), "close() did not end the pending next()"
    assert col.events == [] and col.errors == []


def test_ctrl_c_interrupts_a_blocked_next(client: tubemail.Client, name: str) -> None:
    class Interrupted(Exception):
        pass

    def on_alarm(signum: int, frame: Any) -> None:
        raise Interrupted

    events = client.worker_events(name)
    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        t0 = time.monotonic()
        with pytest.raises(Interrupted):
            next(events)  # nothing comes: only the signal handler ends this
        assert time.monotonic() - t0 < 5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    # The iterator is still usable after the interruption.
    sent = client.send(name, "still there")
    assert next(events).id == sent.event_id
    events.close()


def test_many_events_arrive_in_order_exactly_once(client: tubemail.Client, name: str) -> None:
    with client.worker_events(name) as events:
        ids = [client.send(name, f"m{i}").event_id for i in range(300)]
        got = [next(events).id for _ in ids]
    assert got == ids


@pytest.mark.parametrize("stream", ["global", "worker"])
def test_resume_across_a_hub_restart(own_hub: Hub, names: Any, stream: str) -> None:
    (w,) = names(1)
    c = own_hub.client()
    it = c.events() if stream == "global" else c.worker_events(w)
    col = Collector(it)
    # Worker-stream data has no "worker" field: everything on it is w's.
    mine = (lambda: col.timeline(w)) if stream == "global" else (lambda: col.timeline())
    before = [c.send(w, f"before {i}").event_id for i in range(20)]
    until(lambda: len(mine()) >= 5, what="some events before the restart")

    own_hub.stop()
    time.sleep(0.5)  # the iterator is retrying against a dead hub now
    assert not col.errors
    own_hub.start()

    after = [c.send(w, f"after {i}").event_id for i in range(20)]
    want = before + after
    until(lambda: len(mine()) >= len(want), timeout=30, what=f"{len(want)} events, have {len(mine())}")
    time.sleep(0.3)  # room for a duplicate to show up
    got = [e.id for e in mine()]
    assert got == want, "every event exactly once, in order"
    assert not col.errors
    it.close()
    assert col.done.wait(10)
