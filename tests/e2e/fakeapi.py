"""A fake Anthropic Messages API for driving the real Claude Code CLI offline.

Python stdlib only. It answers:

* ``HEAD /`` (and ``GET /``): 200 — the CLI's connectivity probe;
* ``POST /v1/messages`` (any query string, e.g. ``?beta=true``): streaming
  (SSE ``message_start`` … ``message_stop``) when the body says
  ``"stream": true``, else one JSON message;
* ``POST /v1/messages/count_tokens``: a rough token count;
* anything else: 404 with an Anthropic-style JSON error.

Replies are scripted per test with :meth:`FakeApi.on` rules, matched against
the text of the request's LAST user message (so history never re-triggers a
rule). A rule answers with plain text, or with a ``tool_use`` of a named tool
(e.g. our channel's ``mcp__tubemail-channel__reply``); when the CLI sends the
tool's result back, the rule's ``then`` text answers it. Requests no rule
matches get ``FAKE_REPLY: <start of the prompt>``.

Requests without tools are the CLI's side requests (session-title
generation, summaries); they are logged with ``side=True`` and answered with
a short text, never with a rule, so they cannot consume a scripted step.
``role: "system"`` entries in ``messages`` are accepted.

A rule with ``status`` answers with that HTTP error instead (429 for a rate
limit), marked not to be retried. Every request is kept in :attr:`FakeApi.log` (:class:`Request`), which tests
search with :meth:`FakeApi.wait_for`.

Run it by hand with ``python3 fakeapi.py [PORT]``.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_fake{next(_ids):06d}"


def block_texts(content: Any) -> list[str]:
    """The text pieces of a message's content (string or blocks); tool results
    count with their own text."""
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    for b in content if isinstance(content, list) else []:
        if not isinstance(b, dict):
            continue
        if b.get("type") == "text":
            out.append(str(b.get("text", "")))
        elif b.get("type") == "tool_result":
            out.extend(block_texts(b.get("content", "")))
    return out


@dataclass
class Request:
    """One ``POST /v1/messages`` as the CLI sent it."""

    n: int
    at: float
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    #: a side request (no tools): title generation, summaries
    side: bool
    #: the text blocks of the last user message, joined with newlines
    last_user: str
    #: ``tool_result`` blocks of the last user message
    tool_results: list[dict[str, Any]]
    #: which rule answered (its label), if any
    answered_by: str | None = None

    def all_text(self) -> str:
        """Every text of every message (system prompt excluded)."""
        parts: list[str] = []
        for m in self.body.get("messages") or []:
            if isinstance(m, dict):
                parts.extend(block_texts(m.get("content", "")))
        return "\n".join(parts)

    def tool_names(self) -> list[str]:
        return [t.get("name", "") for t in self.body.get("tools") or [] if isinstance(t, dict)]

    def brief(self) -> str:
        kind = "side" if self.side else "main"
        res = f" tool_results={len(self.tool_results)}" if self.tool_results else ""
        return f"#{self.n} {kind}{res} by={self.answered_by} last_user={self.last_user[-300:]!r}"


@dataclass
class Rule:
    """``when`` is a substring (or compiled regex) of the last user message."""

    label: str
    when: str | re.Pattern[str]
    text: str | None = None
    tool: str | None = None
    tool_input: dict[str, Any] | Callable[[Request], dict[str, Any]] | None = None
    #: several tool calls in one answer, as the model makes them in
    #: parallel: ``(tool, input)`` pairs (instead of ``tool``)
    calls: list[tuple[str, dict[str, Any] | Callable[[Request], dict[str, Any]]]] | None = None
    #: answer to the tool's result; ``{result}`` is replaced by its text
    #: (the texts of all its calls' results, one per line)
    then: str = "TOOL_RESULT_SEEN: {result}"
    #: stream the text in this many pieces, ``delay`` seconds apart
    chunks: int = 1
    delay: float = 0.0
    #: answer with this HTTP error status instead (e.g. 429), Anthropic's
    #: error body and ``x-should-retry: false``
    status: int | None = None
    #: answer at most this many times (None: always)
    times: int | None = None
    used: int = 0
    tool_use_ids: list[str] = field(default_factory=list)

    def matches(self, req: Request) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if isinstance(self.when, str):
            return self.when in req.last_user
        return self.when.search(req.last_user) is not None


@dataclass
class Answer:
    """What one request is answered with."""

    blocks: list[dict[str, Any]]
    stop_reason: str
    chunks: int = 1
    delay: float = 0.0
    status: int | None = None


class FakeApi:
    """The server; ``start()`` runs it on a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.log: list[Request] = []
        self.rules: list[Rule] = []
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def start(self) -> "FakeApi":
        self._thread = threading.Thread(target=self._server.serve_forever, name="fakeapi", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- scripting --

    def on(self, when: str | re.Pattern[str], *, label: str | None = None, **kw: Any) -> Rule:
        """Adds a rule (newest rules win). See :class:`Rule` for ``kw``."""
        rule = Rule(label=label or str(when)[:40], when=when, **kw)
        with self._cond:
            self.rules.insert(0, rule)
        return rule

    def clear_rules(self) -> None:
        with self._cond:
            self.rules.clear()

    # -- the log --

    def requests(self, *, side: bool | None = False) -> list[Request]:
        with self._cond:
            return [r for r in self.log if side is None or r.side == side]

    def wait_for(
        self, pred: Callable[[Request], bool], what: str, timeout: float = 60.0, *, side: bool | None = False
    ) -> Request:
        """The first logged request matching ``pred``; fails with the log."""
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self.log:
                    if (side is None or r.side == side) and pred(r):
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.25))
        raise AssertionError(f"fake API: no request with {what} within {timeout:.0f}s\n{self.dump()}")

    def dump(self, last: int = 12) -> str:
        with self._cond:
            lines = [r.brief() for r in self.log[-last:]]
        return "fake API requests (latest last):\n" + ("\n".join(lines) or "<none>")

    # -- answering --

    def _record(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Request:
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        content = last.get("content", "")
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"] if isinstance(content, list) else []
        with self._cond:
            req = Request(
                n=len(self.log) + 1,
                at=time.time(),
                path=path,
                headers=headers,
                body=body,
                side=not body.get("tools"),
                last_user="\n".join(block_texts(content)),
                tool_results=results,
            )
            self.log.append(req)
            self._cond.notify_all()
        return req

    def answer(self, req: Request) -> Answer:
        if req.side:
            return Answer([{"type": "text", "text": "Fake session title"}], "end_turn")
        with self._cond:
            for res in req.tool_results:
                rule = next((r for r in self.rules if res.get("tool_use_id") in r.tool_use_ids), None)
                if rule is not None:
                    req.answered_by = rule.label + ":then"
                    texts = []
                    for mine in (x for x in req.tool_results if x.get("tool_use_id") in rule.tool_use_ids):
                        text = "\n".join(block_texts(mine.get("content", "")))
                        texts.append("[error] " + text if mine.get("is_error") else text)
                    return Answer([{"type": "text", "text": rule.then.replace("{result}", "\n".join(texts))}], "end_turn")
            rule = next((r for r in self.rules if r.matches(req)), None)
            if rule is None:
                prompt = req.last_user.strip().splitlines()
                return Answer([{"type": "text", "text": f"FAKE_REPLY: {(prompt[-1] if prompt else '')[:80]}"}], "end_turn")
            rule.used += 1
            req.answered_by = rule.label
            if rule.status:
                return Answer([], "error", status=rule.status)
            if rule.calls:
                blocks = []
                for tool, tool_input in rule.calls:
                    tid = _id("toolu")
                    rule.tool_use_ids.append(tid)
                    args = tool_input(req) if callable(tool_input) else tool_input
                    blocks.append({"type": "tool_use", "id": tid, "name": tool, "input": args})
                return Answer(blocks, "tool_use", rule.chunks, rule.delay)
            if rule.tool:
                tid = _id("toolu")
                rule.tool_use_ids.append(tid)
                args = rule.tool_input(req) if callable(rule.tool_input) else (rule.tool_input or {})
                return Answer(
                    [{"type": "tool_use", "id": tid, "name": rule.tool, "input": args}],
                    "tool_use",
                    rule.chunks,
                    rule.delay,
                )
            return Answer([{"type": "text", "text": rule.text or ""}], "end_turn", rule.chunks, rule.delay)


def _pieces(s: str, n: int) -> list[str]:
    n = max(1, min(n, len(s) or 1))
    size = -(-len(s) // n) if s else 1
    return [s[i : i + size] for i in range(0, len(s), size)] or [""]


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _json(self, status: int, obj: Any) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, kind: str, message: str) -> None:
            self._json(status, {"type": "error", "error": {"type": kind, "message": message}})

        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] == "/":
                self._json(200, {"ok": True})
            else:
                self._error(404, "not_found_error", f"no route GET {self.path}")

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError as e:
                self._error(400, "invalid_request_error", f"body is not JSON: {e}")
                return
            if not isinstance(body, dict):
                self._error(400, "invalid_request_error", "body is not a JSON object")
                return
            if path == "/v1/messages/count_tokens":
                n = len(json.dumps(body.get("messages", []))) // 4
                self._json(200, {"input_tokens": n})
                return
            if path != "/v1/messages":
                self._error(404, "not_found_error", f"no route POST {path}")
                return
            req = api._record(path, {k.lower(): v for k, v in self.headers.items()}, body)
            ans = api.answer(req)
            if ans.status:
                kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(ans.status, "api_error")
                data = json.dumps({"type": "error", "error": {"type": kind, "message": f"fake {kind}"}}).encode()
                self.send_response(ans.status)
                self.send_header("content-type", "application/json")
                self.send_header("x-should-retry", "false")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            model = str(body.get("model") or "claude-fake")
            if body.get("stream"):
                self._stream(model, ans)
            else:
                self._json(
                    200,
                    {
                        "id": _id("msg"),
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": ans.blocks,
                        "stop_reason": ans.stop_reason,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 10, "output_tokens": 5},
                    },
                )

        def _event(self, name: str, data: dict[str, Any]) -> None:
            payload = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()

        def _stream(self, model: str, ans: Answer) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                self._event(
                    "message_start",
                    {
                        "type": "message_start",
                        "message": {
                            "id": _id("msg"),
                            "type": "message",
                            "role": "assistant",
                            "model": model,
                            "content": [],
                            "stop_reason": None,
                            "stop_sequence": None,
                            "usage": {"input_tokens": 10, "output_tokens": 1},
                        },
                    },
                )
                for i, b in enumerate(ans.blocks):
                    if b["type"] == "text":
                        self._event(
                            "content_block_start",
                            {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}},
                        )
                        for j, piece in enumerate(_pieces(b["text"], ans.chunks)):
                            if j and ans.delay:
                                time.sleep(ans.delay)
                            self._event(
                                "content_block_delta",
                                {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": piece}},
                            )
                    else:
                        self._event(
                            "content_block_start",
                            {
                                "type": "content_block_start",
                                "index": i,
                                "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}},
                            },
                        )
                        for j, piece in enumerate(_pieces(json.dumps(b["input"]), ans.chunks)):
                            if j and ans.delay:
                                time.sleep(ans.delay)
                            self._event(
                                "content_block_delta",
                                {
                                    "type": "content_block_delta",
                                    "index": i,
                                    "delta": {"type": "input_json_delta", "partial_json": piece},
                                },
                            )
                    self._event("content_block_stop", {"type": "content_block_stop", "index": i})
                self._event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": ans.stop_reason, "stop_sequence": None},
                        "usage": {"output_tokens": 5},
                    },
                )
                self._event("message_stop", {"type": "message_stop"})
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):  # the CLI gave up (interrupt)
                pass

    return Handler


if __name__ == "__main__":
    api = FakeApi(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print(f"fake Anthropic API on {api.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        api.stop()
