"""Support code for the MCP suite (imported by conftest.py and the tests).

* ``Hub``: a real ``tubemail-hub`` process on a free loopback port with its
  own data dir and random secret, plus a stdlib HTTP client for the worker
  side of the protocol (register / outbound / permission-request / active).
* ``SseListener``: reads ``GET /tubemail/<name>/stream`` on a thread and
  records every SSE event — a simulated worker channel.
* ``SimManager``: an ``SseListener`` on ``<worker>-manager`` that answers the
  manager control commands the way the original manager does
  (``health_response``, ``screenshot``, ``reconnect_mcp_result``).
* ``mcp_client``: an MCP client from the OFFICIAL Python SDK (``mcp`` 2.x,
  ``mcp.Client`` over ``streamable_http_client`` with an ``httpx2`` client that
  carries the bearer and optionally ``X-TM-Worker``).
* ``call`` / ``ok_dict`` / ``ok_list`` / ``ok_text`` / ``tool_error`` /
  ``payload``: call a tool and check the result envelope (text content,
  ``structuredContent``, ``isError``), failing with the raw result.

Every wait is bounded; failure messages carry what was actually received.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hubproc import HubProcess, hub_binary  # noqa: E402, F401  (tests/hubproc.py, shared with tests/compat; hub_binary is re-exported)


#: upper bound for ordinary waits (seconds)
WAIT_S = 15.0
POLL_S = 0.05
#: how the SDK client negotiates: "auto" (the SDK default: server/discover
#: probe, then initialize) or "legacy" (initialize handshake only)
MCP_MODE = os.environ.get("TUBEMAIL_MCP_MODE", "auto")

EVENT_ID = re.compile(r"^[0-9]{10,20}$")

#: TM_WORKER_NAME in the environment of the ``env_hub`` fixture's hub
ENV_WORKER = f"envw-{secrets.token_hex(3)}-tm"

# ── the hub process and its plain-HTTP side ──────────────────────────────────


class Hub(HubProcess):
    """A running ``tubemail-hub`` plus the worker side of the protocol."""

    def __init__(self, binary: Path, workdir: Path, extra_env: dict[str, str] | None = None):
        super().__init__(binary, workdir, extra_env)
        self.mcp_url = f"{self.base}/mcp/"

    def post_ok(self, path: str, body: Any = None) -> Any:
        __tracebackhide__ = True
        r = self.request("POST", path, body)
        assert r.status == 200 and isinstance(r.json, dict), f"worker-side call failed: {r.describe()}"
        return r.json

    def get_ok(self, path: str) -> Any:
        __tracebackhide__ = True
        r = self.request("GET", path)
        assert r.status == 200, f"call failed: {r.describe()}"
        return r.json

    @staticmethod
    def q(name: str) -> str:
        return urllib.parse.quote(name, safe="")

    # -- the worker side of the protocol (what channel/manager do) --

    def register(self, worker: str, cwd: str = "/tmp/x", pid: int | None = 1) -> dict[str, Any]:
        return self.post_ok(f"/tubemail/{self.q(worker)}/register", {"cwd": cwd, "pid": pid})

    def outbound(self, worker: str, text: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.post_ok(f"/tubemail/{self.q(worker)}/outbound", {"text": text, "meta": meta or {}})

    def permission_request(
        self, worker: str, request_id: str, tool_name: str = "Bash", description: str = "", input_preview: str = ""
    ) -> dict[str, Any]:
        return self.post_ok(
            f"/tubemail/{self.q(worker)}/permission-request",
            {
                "request_id": request_id,
                "tool_name": tool_name,
                "description": description,
                "input_preview": input_preview,
            },
        )

    def set_active(self, worker: str, is_active: bool) -> dict[str, Any]:
        return self.post_ok(f"/tubemail/{self.q(worker)}/active", {"is_active": is_active})

    def timeline(self, worker: str, limit: int = 500) -> list[dict[str, Any]]:
        """The worker's events through the original forwarder route."""
        r = self.get_ok(f"/tubemail/{self.q(worker)}/events?limit={limit}")
        return r["events"]


# ── SSE listeners: a simulated worker channel and a simulated manager ───────


class SseListener:
    """Reads ``GET /tubemail/<name>/stream`` (or another SSE ``path``) on a
    thread and records events.

    ``events`` holds ``(event_name, data, id)`` tuples in arrival order.
    ``stop()`` shuts the socket down (what a dying forwarder does).
    """

    def __init__(
        self, hub: Hub, name: str, *, register: bool = True, cwd: str = "/tmp/x", path: str | None = None
    ):
        """``path`` reads another stream instead (e.g. ``/api/events/stream``,
        the web UI's; then pass ``register=False``)."""
        self.hub = hub
        self.name = name
        self.events: list[tuple[str, Any, str | None]] = []
        self.errors: list[str] = []
        self.ended = False
        self._cond = threading.Condition()
        if register:
            hub.register(name, cwd=cwd)
        self._conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=60)
        path = path or f"/tubemail/{Hub.q(name)}/stream"
        self._conn.request(
            "GET",
            path,
            headers={
                "Authorization": f"Bearer {hub.secret}",
                "Accept": "text/event-stream",
                "Cache-Control": "no-store",
            },
        )
        self._sock = self._conn.sock
        self._resp = self._conn.getresponse()
        ctype = self._resp.getheader("content-type", "")
        if self._resp.status != 200 or not ctype.startswith("text/event-stream"):
            body = self._resp.read(2000)
            self._conn.close()
            raise AssertionError(f"GET {path} -> {self._resp.status} {ctype!r} {body!r}")
        self._thread = threading.Thread(target=self._run, name=f"sse-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ev_name, data_lines, ev_id = "message", [], None
        try:
            while True:
                raw = self._resp.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line == "":
                    if data_lines:
                        text = "\n".join(data_lines)
                        try:
                            data: Any = json.loads(text)
                        except json.JSONDecodeError:
                            data = text
                        self._dispatch(ev_name, data, ev_id)
                    ev_name, data_lines, ev_id = "message", [], None
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    ev_name = value
                elif field == "data":
                    data_lines.append(value)
                elif field == "id":
                    ev_id = value
        except (OSError, ValueError) as e:  # socket shut down by stop(), or timeout
            if not self.ended:
                self.errors.append(repr(e))
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def _dispatch(self, name: str, data: Any, ev_id: str | None) -> None:
        with self._cond:
            self.events.append((name, data, ev_id))
            self._cond.notify_all()
        self.on_event(name, data)

    def on_event(self, name: str, data: Any) -> None:  # overridden by SimManager
        pass

    def dump(self) -> str:
        with self._cond:
            evs = list(self.events)
        lines = [f"{n} id={i} {json.dumps(d, ensure_ascii=False)}" for n, d, i in evs] or ["<nothing>"]
        extra = f"\n(stream ended; errors: {self.errors})" if self.ended else ""
        return f"SSE events on {self.name}:\n" + "\n".join(lines) + extra

    def wait_for(self, pred: Callable[[str, Any], bool], what: str, timeout: float = WAIT_S) -> tuple[str, Any]:
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for n, d, _ in self.events:
                    if pred(n, d):
                        return n, d
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.ended:
                    break
                self._cond.wait(min(remaining, 0.25))
        raise AssertionError(f"waiting for {what} on {self.name}: not seen within {timeout:.0f}s\n{self.dump()}")

    def stop(self) -> None:
        with self._cond:
            self.ended = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._thread.join(timeout=5)
        try:
            self._resp.close()
            self._conn.close()
        except OSError:
            pass


class SimManager(SseListener):
    """A simulated process manager for ``worker`` (registers ``<worker>-manager``).

    Answers control commands arriving as ``channel_event`` (command =
    ``meta.kind``, else ``content``), like ``tubemail.manager``:

    * ``health_check`` → outbound ``health_response`` with ``self.health`` as JSON
    * ``screenshot`` / ``screenshot:<N>`` → outbound ``screenshot`` with
      ``self.screen(kind)``
    * ``reconnect_mcp:<server>`` → outbound ``reconnect_mcp_result`` with
      ``self.reconnect(server)`` (a JSON string, or any text)

    ``commands`` lists every command received, in order.
    """

    def __init__(self, hub: Hub, worker: str, *, answer: bool = True):
        self.worker = worker
        self.answer = answer
        self.commands: list[str] = []
        self.replies: list[dict[str, Any]] = []
        self.health: dict[str, Any] = {
            "child_alive": True,
            "cpu_percent": 1.5,
            "memory_mb": 123.4,
            "uptime_s": 42,
            "restart_count": 0,
        }
        self.screen: Callable[[str], str] = lambda kind: f"SIM SCREEN of {worker}\nkind={kind}\n> "
        self.reconnect: Callable[[str], str] = lambda server: json.dumps(
            {"ok": True, "server": server, "detail": f"reconnected {server} (simulated)"}
        )
        super().__init__(hub, f"{worker}-manager")

    def on_event(self, name: str, data: Any) -> None:
        if name != "channel_event" or not isinstance(data, dict):
            return
        meta = data.get("meta") or {}
        cmd = (meta.get("kind") if isinstance(meta, dict) else None) or data.get("content") or ""
        self.commands.append(cmd)
        if not self.answer:
            return
        if cmd == "health_check":
            self._reply(json.dumps(self.health), "health_response")
        elif cmd == "screenshot" or cmd.startswith("screenshot:"):
            self._reply(self.screen(cmd), "screenshot")
        elif cmd.startswith("reconnect_mcp:"):
            self._reply(self.reconnect(cmd.removeprefix("reconnect_mcp:")), "reconnect_mcp_result")

    def _reply(self, text: str, kind: str) -> None:
        try:
            r = self.hub.request(
                "POST", f"/tubemail/{Hub.q(self.name)}/outbound", {"text": text, "meta": {"kind": kind}}
            )
            self.replies.append({"kind": kind, "status": r.status, "body": r.json})
        except OSError as e:
            self.errors.append(f"reply {kind} failed: {e!r}")


# ── the MCP client (official SDK) ────────────────────────────────────────────


class Recorder:
    """``message_handler`` that records everything the session hands it."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def __call__(self, message: Any) -> None:
        self.messages.append(message)

    def notifications(self, method: str) -> list[Any]:
        out = []
        for m in self.messages:
            root = getattr(m, "root", m)
            if getattr(root, "method", None) == method:
                out.append(root)
        return out


@asynccontextmanager
async def mcp_client(
    hub: Hub,
    *,
    worker: str | None = None,
    bearer: str | None | bool = True,
    url: str | None = None,
    mode: str | None = None,
    message_handler: Any = None,
) -> AsyncIterator[Client]:
    """An initialized SDK client on ``hub``'s ``/mcp/``.

    ``worker`` sets the ``X-TM-Worker`` header (caller identity);
    ``bearer=True`` uses the hub secret, a string uses that token, ``None``
    sends no Authorization header.
    """
    headers: dict[str, str] = {}
    if bearer is True:
        headers["Authorization"] = f"Bearer {hub.secret}"
    elif isinstance(bearer, str):
        headers["Authorization"] = f"Bearer {bearer}"
    if worker is not None:
        headers["X-TM-Worker"] = worker
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(20.0, read=90.0)) as http:
        client = Client(
            streamable_http_client(url or hub.mcp_url, http_client=http),
            mode=mode or MCP_MODE,
            cache=None,
            read_timeout_seconds=40.0,
            message_handler=message_handler,
        )
        async with client as c:
            yield c


def dump_result(r: types.CallToolResult) -> str:
    try:
        return json.dumps(r.model_dump(by_alias=True, mode="json", exclude_none=True), ensure_ascii=False)[:4000]
    except Exception:  # pragma: no cover - diagnostics only
        return repr(r)[:4000]


async def call(
    c: Client, name: str, args: dict[str, Any] | None = None, *, timeout: float = WAIT_S
) -> types.CallToolResult:
    """``tools/call`` bounded by ``timeout``; a JSON-RPC error or a hang is a failure."""
    __tracebackhide__ = True
    args = args or {}
    try:
        with anyio.fail_after(timeout):
            return await c.call_tool(name, args, read_timeout_seconds=timeout + 5)
    except TimeoutError:
        raise AssertionError(f"{name}({json.dumps(args)}) did not answer within {timeout:.0f}s") from None
    except MCPError as e:
        raise AssertionError(
            f"{name}({json.dumps(args)}) answered with a JSON-RPC error "
            f"{e.error.code} {e.error.message!r} data={e.error.data!r} — expected a tool result"
        ) from None
    except RuntimeError as e:  # the SDK's outputSchema validation
        raise AssertionError(f"{name}({json.dumps(args)}): SDK rejected the result: {e}") from None


def texts(r: types.CallToolResult) -> list[str]:
    return [b.text for b in r.content if getattr(b, "type", None) == "text"]


def _single_text(r: types.CallToolResult, what: str) -> str:
    __tracebackhide__ = True
    assert len(r.content) == 1 and getattr(r.content[0], "type", None) == "text", (
        f"{what}: expected exactly one text content item, got {dump_result(r)}"
    )
    return r.content[0].text


def payload(r: types.CallToolResult, what: str = "result") -> Any:
    """The JSON value of a result: ``structuredContent`` (unwrapped when it is
    ``{"result": …}``) if present, else the single text item parsed as JSON.
    Does not look at ``isError``."""
    __tracebackhide__ = True
    sc = r.structured_content
    if sc is not None:
        if isinstance(sc, dict) and set(sc) == {"result"} and isinstance(sc["result"], list):
            return sc["result"]
        return sc
    text = _single_text(r, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise AssertionError(f"{what}: text content is not JSON: {dump_result(r)}") from None


async def ok_dict(
    c: Client, name: str, args: dict[str, Any] | None = None, *, timeout: float = WAIT_S
) -> dict[str, Any]:
    """A dict-returning tool: not an error, ``structuredContent`` is the dict and
    the one text item is the same dict as JSON."""
    __tracebackhide__ = True
    r = await call(c, name, args, timeout=timeout)
    what = f"{name}({json.dumps(args or {})})"
    assert not r.is_error, f"{what}: unexpected isError: {dump_result(r)}"
    sc = r.structured_content
    assert isinstance(sc, dict), f"{what}: structuredContent is not an object: {dump_result(r)}"
    text = _single_text(r, what)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        raise AssertionError(f"{what}: text content is not JSON: {dump_result(r)}") from None
    assert parsed == sc, f"{what}: text content and structuredContent differ: {dump_result(r)}"
    return sc


async def ok_list(c: Client, name: str, args: dict[str, Any] | None = None, *, timeout: float = WAIT_S) -> list[Any]:
    """A list-returning tool: ``structuredContent`` is ``{"result": [...]}`` and
    the one text item is the JSON list."""
    __tracebackhide__ = True
    r = await call(c, name, args, timeout=timeout)
    what = f"{name}({json.dumps(args or {})})"
    assert not r.is_error, f"{what}: unexpected isError: {dump_result(r)}"
    sc = r.structured_content
    assert isinstance(sc, dict) and set(sc) == {"result"} and isinstance(sc["result"], list), (
        f'{what}: structuredContent is not {{"result": [...]}}: {dump_result(r)}'
    )
    text = _single_text(r, what)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        raise AssertionError(f"{what}: text content is not JSON: {dump_result(r)}") from None
    assert parsed == sc["result"], (
        f"{what}: text content is not the JSON list of structuredContent.result: {dump_result(r)}"
    )
    return sc["result"]


async def ok_text(c: Client, name: str, args: dict[str, Any] | None = None, *, timeout: float = WAIT_S) -> str:
    """A string-returning tool: not an error, exactly one text item."""
    __tracebackhide__ = True
    r = await call(c, name, args, timeout=timeout)
    what = f"{name}({json.dumps(args or {})})"
    assert not r.is_error, f"{what}: unexpected isError: {dump_result(r)}"
    return _single_text(r, what)


async def tool_error(c: Client, name: str, args: dict[str, Any] | None = None, *, timeout: float = WAIT_S) -> str:
    """A call that must fail as a TOOL result (``isError: true``) with a
    non-empty text message; returns the message."""
    __tracebackhide__ = True
    r = await call(c, name, args, timeout=timeout)
    what = f"{name}({json.dumps(args or {})})"
    assert r.is_error is True, f"{what}: expected isError=true, got {dump_result(r)}"
    msg = "\n".join(texts(r)).strip()
    assert msg, f"{what}: isError result without a text message: {dump_result(r)}"
    return msg


async def soft_dict(
    c: Client, name: str, args: dict[str, Any] | None = None, *, timeout: float = WAIT_S
) -> dict[str, Any]:
    """A dict the tool RETURNS to report a refusal (``{"error": …}`` /
    ``{"ok": false, …}``). The spec returns these as ordinary values; this
    helper accepts them with or without ``isError`` but requires the dict."""
    __tracebackhide__ = True
    r = await call(c, name, args, timeout=timeout)
    what = f"{name}({json.dumps(args or {})})"
    p = payload(r, what)
    assert isinstance(p, dict), f"{what}: expected a JSON object, got {dump_result(r)}"
    if r.structured_content is not None and r.content:
        try:
            parsed = json.loads(r.content[0].text)
        except (json.JSONDecodeError, AttributeError):
            parsed = None
        assert parsed == r.structured_content, f"{what}: text content and structuredContent differ: {dump_result(r)}"
    return p


def assert_event(ev: Any, *, kind: str | None = None, content: str | None = None, what: str = "event") -> None:
    """The spec's Event shape: {event_id, ts, kind, content, meta}."""
    __tracebackhide__ = True
    assert isinstance(ev, dict), f"{what}: not an object: {ev!r}"
    missing = {"event_id", "ts", "kind", "content", "meta"} - set(ev)
    assert not missing, f"{what}: missing {sorted(missing)}: {ev!r}"
    assert isinstance(ev["event_id"], str) and EVENT_ID.match(ev["event_id"]), f"{what}: bad event_id: {ev!r}"
    assert isinstance(ev["ts"], (int, float)) and abs(ev["ts"] - time.time()) < 600, f"{what}: bad ts: {ev!r}"
    assert isinstance(ev["content"], str), f"{what}: content not a string: {ev!r}"
    assert isinstance(ev["meta"], dict), f"{what}: meta not an object: {ev!r}"
    if kind is not None:
        assert ev["kind"] == kind, f"{what}: kind {ev['kind']!r} != {kind!r}: {ev!r}"
    if content is not None:
        assert ev["content"] == content, f"{what}: content {ev['content']!r} != {content!r}: {ev!r}"


def assert_recent(ts: Any, what: str) -> None:
    __tracebackhide__ = True
    assert isinstance(ts, (int, float)) and not isinstance(ts, bool), f"{what}: not a number: {ts!r}"
    assert abs(ts - time.time()) < 120, f"{what}: {ts!r} is not a recent epoch timestamp"
