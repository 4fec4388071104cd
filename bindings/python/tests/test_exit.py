"""Programs using the package exit cleanly, also while the runtime's
threads still have work: after an awaited call failed, with coroutines
still pending, and with daemon threads blocked in calls or iterators."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pyclient_support import Hub

PROGRAMS = {
    # An awaited call fails and the program ends at once: the runtime thread
    # that resolved the future may still be inside Python.
    "after_failed_await": """
        import asyncio, sys, tubemail
        async def main():
            c = tubemail.AsyncClient(URL, "wrong secret")
            results = await asyncio.gather(*(c.workers() for _ in range(20)), return_exceptions=True)
            assert all(isinstance(r, tubemail.Unauthorized) for r in results), results
        asyncio.run(main())
    """,
    # asyncio.run cancels what is still pending; the Rust tasks end with it.
    "pending_coroutines": """
        import asyncio, tubemail
        async def main():
            c = tubemail.AsyncClient(URL, SECRET)
            for i in range(10):
                asyncio.ensure_future(c.wait(f"exit-{i}-tm", timeout=30))
            asyncio.ensure_future(c.events().__anext__())
            await asyncio.sleep(0.2)
        asyncio.run(main())
    """,
    # Daemon threads blocked in a call and in an iterator when main ends.
    "daemon_threads": """
        import threading, time, tubemail
        c = tubemail.Client(URL, SECRET)
        threading.Thread(target=lambda: c.wait("exit-d-tm", timeout=0.5), daemon=True).start()
        threading.Thread(target=lambda: list(c.events()), daemon=True).start()
        time.sleep(0.4)
    """,
}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_program_exits_cleanly(hub: Hub, program: str) -> None:
    code = f"URL = {hub.url!r}\nSECRET = {hub.secret!r}\n" + textwrap.dedent(PROGRAMS[program])
    for attempt in range(8):  # the failure this guards against was a race
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"attempt {attempt}: exit {out.returncode}\n{out.stderr}"
