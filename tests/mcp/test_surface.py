"""The MCP endpoint itself: auth, redirect, handshake, tool list and schemas,
and the meta tools (get_instructions, refresh_tools, server_info)."""

from __future__ import annotations

import http.client
import json
import socket
import time

import anyio
import pytest
from _support import (
    Hub,
    Recorder,
    call,
    dump_result,
    mcp_client,
    ok_text,
)
from mcp.shared.exceptions import MCPError
from mcp_types.version import KNOWN_PROTOCOL_VERSIONS

pytestmark = pytest.mark.anyio

DICT_TOOLS = {
    "tm_send", "tm_status", "tm_my_inbox", "tm_respond_permission", "tm_sweep_stale_permissions",
    "tm_interrupt", "tm_restart", "tm_stop", "tm_purge_worker", "tm_keystroke", "tm_update_manager",
    "tm_clear_and_send", "tm_reconnect_mcp", "tm_self_reconnect_mcp", "tm_health",
    "tm_recording_toggle", "tm_recording_status", "tm_get_recording", "tm_save_flow",
    "tm_delete_flow", "tm_run_flow", "tm_get_run_log", "tm_finish_run",
    "tm_rules_list", "tm_rules_set", "tm_rules_test",
    # Ours (issue 19): webhooks, shared secret only.
    "tm_webhooks_list", "tm_webhooks_add", "tm_webhooks_remove", "tm_webhooks_deliveries",
    "tm_webhooks_test",
}  # fmt: skip
LIST_TOOLS = {"tm_receive", "tm_wait_for_activity", "tm_pending_permissions", "tm_list_flows"}
STR_TOOLS = {"tm_list_workers", "get_instructions", "refresh_tools", "tm_screenshot", "server_info"}

#: tool -> (every parameter, the required ones), from spec §3
PARAMS: dict[str, tuple[set[str], set[str]]] = {
    "tm_list_workers": ({"include_stale"}, set()),
    "tm_send": ({"worker", "message", "meta"}, {"worker", "message"}),
    "tm_receive": ({"worker", "since", "limit"}, {"worker"}),
    "tm_status": ({"worker"}, {"worker"}),
    "tm_my_inbox": ({"limit"}, set()),
    "tm_wait_for_activity": ({"worker", "since", "timeout_s"}, {"worker"}),
    "tm_pending_permissions": ({"worker"}, set()),
    "tm_respond_permission": ({"worker", "request_id", "behavior"}, {"worker", "request_id", "behavior"}),
    "tm_sweep_stale_permissions": ({"worker"}, set()),
    "tm_interrupt": ({"worker"}, {"worker"}),
    "tm_restart": ({"worker"}, {"worker"}),
    "tm_stop": ({"worker"}, {"worker"}),
    "tm_purge_worker": ({"worker"}, {"worker"}),
    "tm_keystroke": ({"worker", "keys"}, {"worker", "keys"}),
    "tm_update_manager": ({"worker", "force"}, {"worker"}),
    "tm_clear_and_send": ({"worker", "message", "delay_s", "restore_name"}, {"worker", "message"}),
    "tm_reconnect_mcp": ({"worker", "server"}, {"worker", "server"}),
    "tm_self_reconnect_mcp": ({"server"}, {"server"}),
    "tm_health": ({"worker"}, {"worker"}),
    "tm_recording_toggle": ({"worker", "enabled"}, {"worker", "enabled"}),
    "tm_recording_status": ({"worker"}, {"worker"}),
    "tm_get_recording": ({"worker", "since", "until", "grep", "limit"}, {"worker"}),
    "tm_screenshot": ({"worker", "max_lines"}, {"worker"}),
    "get_instructions": (set(), set()),
    "refresh_tools": (set(), set()),
    "tm_save_flow": ({"name", "body", "default_worker", "meta"}, {"name", "body"}),
    "tm_list_flows": (set(), set()),
    "tm_run_flow": ({"name", "worker", "meta"}, {"name"}),
    "tm_get_run_log": ({"run_id"}, {"run_id"}),
    "tm_finish_run": ({"run_id"}, {"run_id"}),
    "tm_delete_flow": ({"name"}, {"name"}),
    "server_info": (set(), set()),
    # Ours (issue 19): permission rules.
    "tm_rules_list": (set(), set()),
    "tm_rules_set": ({"rules"}, {"rules"}),
    "tm_rules_test": ({"worker", "tool_name", "input_preview", "project"}, {"worker", "tool_name"}),
    "tm_webhooks_list": (set(), set()),
    "tm_webhooks_add": (
        {"url", "events", "format", "waiting_secs", "worker_glob", "secret"},
        {"url", "events"},
    ),
    "tm_webhooks_remove": ({"id"}, {"id"}),
    "tm_webhooks_deliveries": ({"id", "limit"}, {"id"}),
    "tm_webhooks_test": ({"id"}, {"id"}),
}
ALL_TOOLS = set(PARAMS)
assert ALL_TOOLS == DICT_TOOLS | LIST_TOOLS | STR_TOOLS and len(ALL_TOOLS) == 40

#: spec §3 defaults; checked when the schema states a default
DEFAULTS = {
    ("tm_list_workers", "include_stale"): False,
    ("tm_receive", "limit"): 100,
    ("tm_my_inbox", "limit"): 20,
    ("tm_wait_for_activity", "timeout_s"): 30.0,
    ("tm_update_manager", "force"): False,
    ("tm_clear_and_send", "delay_s"): 1.5,
    ("tm_clear_and_send", "restore_name"): True,
    ("tm_get_recording", "limit"): 200,
    ("tm_screenshot", "max_lines"): 50,
}

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "tubemail-mcp-tests", "version": "0"},
    },
}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def list_all_tools(c) -> list:
    tools, cursor = [], None
    for _ in range(20):
        res = await c.list_tools(cursor=cursor)
        tools.extend(res.tools)
        cursor = res.next_cursor
        if not cursor:
            return tools
    raise AssertionError("tools/list kept paginating after 20 pages")


# ── auth and redirect ────────────────────────────────────────────────────────


def raw_post(hub: Hub, path: str, body: dict, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def test_initialize_without_bearer_is_401(hub: Hub) -> None:
    status, _, body = raw_post(hub, "/mcp/", INIT, MCP_ACCEPT)
    assert status == 401, f"POST /mcp/ initialize without Authorization -> {status} {body[:500]!r}"


def test_initialize_with_wrong_bearer_is_401(hub: Hub) -> None:
    status, _, body = raw_post(hub, "/mcp/", INIT, {**MCP_ACCEPT, "Authorization": "Bearer not-the-secret"})
    assert status == 401, f"POST /mcp/ initialize with a wrong bearer -> {status} {body[:500]!r}"


def test_initialize_with_bearer_is_accepted(hub: Hub) -> None:
    status, headers, body = raw_post(hub, "/mcp/", INIT, {**MCP_ACCEPT, "Authorization": f"Bearer {hub.secret}"})
    assert status == 200, f"POST /mcp/ initialize with the secret -> {status} {headers} {body[:800]!r}"


def test_mcp_without_slash_redirects_307(hub: Hub) -> None:
    status, headers, body = raw_post(hub, "/mcp", INIT, {**MCP_ACCEPT, "Authorization": f"Bearer {hub.secret}"})
    assert status == 307, f"POST /mcp -> {status} {headers} {body[:500]!r}"
    loc = headers.get("location", "")
    assert loc in ("/mcp/", f"{hub.base}/mcp/"), f"POST /mcp -> 307 with Location {loc!r}"


def test_redirect_does_not_drop_a_kept_alive_connection(hub: Hub) -> None:
    """An HTTP/1.1 client (httpx, as the SDK uses it) may send the body of a
    POST a little after its headers and then reuse the connection for the
    redirected request. The hub reads the whole body before answering, so the
    307 comes after it and the connection stays usable; a silent close would
    make the client's next request fail with "Server disconnected without
    sending a response" (seen intermittently in
    test_sdk_client_follows_redirect_from_mcp_without_slash)."""
    body = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\nAuthorization: Bearer {hub.secret}\r\n"
        f"Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as s:
        s.sendall(head)
        time.sleep(0.2)  # the body arrives late, as it may from a busy client
        s.sendall(body)
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 307"), first
        announces_close = b"\r\nconnection: close" in first.lower()
        try:
            s.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\n\r\n".encode())
            second = s.recv(65536)
        except OSError as e:
            second = repr(e).encode()
    assert announces_close or second.startswith(b"HTTP/1.1 200"), (
        f"POST /mcp (body sent late) -> {first!r}; the hub then closed the "
        f"connection without 'Connection: close' — next request on it got {second!r}"
    )


def leaves(e: BaseException) -> list[BaseException]:
    if isinstance(e, BaseExceptionGroup):
        return [leaf for sub in e.exceptions for leaf in leaves(sub)]
    return [e]


@pytest.mark.parametrize("bearer", [None, "wrong-secret"], ids=["no-bearer", "wrong-bearer"])
async def test_sdk_client_is_refused(hub: Hub, bearer: str | None) -> None:
    """The SDK maps the HTTP 401 of initialize to an MCPError; it must fail, fast."""
    t0 = time.monotonic()
    try:
        async with mcp_client(hub, bearer=bearer) as c:
            await c.list_tools()
    except Exception as e:  # noqa: BLE001 - inspected below
        errs = leaves(e)
    else:
        raise AssertionError(f"connected and listed tools with bearer={bearer!r}")
    assert time.monotonic() - t0 < 15, "refusal took too long"
    assert any(isinstance(x, MCPError) for x in errs), f"unexpected failure: {errs!r}"


async def test_sdk_client_follows_redirect_from_mcp_without_slash(hub: Hub) -> None:
    async with mcp_client(hub, url=f"{hub.base}/mcp") as c:
        names = {t.name for t in await list_all_tools(c)}
    assert "tm_send" in names


# ── handshake ────────────────────────────────────────────────────────────────


async def test_legacy_initialize_server_name_and_instructions(hub: Hub) -> None:
    async with mcp_client(hub, mode="legacy") as c:
        assert c.protocol_version in KNOWN_PROTOCOL_VERSIONS
        assert c.server_info is not None and c.server_info.name == "tubemail", f"serverInfo: {c.server_info!r}"
        assert isinstance(c.instructions, str) and c.instructions.strip(), f"instructions: {c.instructions!r}"
        assert c.server_capabilities.tools is not None, "server does not advertise the tools capability"
        instructions = c.instructions
        text = await ok_text(c, "get_instructions")
    assert text == instructions, "get_instructions differs from the initialize instructions"


async def test_default_sdk_negotiation_works(hub: Hub) -> None:
    """The SDK default ('auto': server/discover probe, then initialize)."""
    async with mcp_client(hub, mode="auto") as c:
        assert c.protocol_version in KNOWN_PROTOCOL_VERSIONS, c.protocol_version
        text = await ok_text(c, "get_instructions")
        assert text.strip()
        if c.instructions is not None:
            assert text == c.instructions
        if c.server_info is not None:
            assert c.server_info.name == "tubemail"


# ── tools/list ───────────────────────────────────────────────────────────────


async def test_tools_list_exact_names(hub: Hub) -> None:
    async with mcp_client(hub) as c:
        tools = await list_all_tools(c)
    names = [t.name for t in tools]
    assert len(names) == len(set(names)), f"duplicate tool names: {sorted(names)}"
    assert set(names) == ALL_TOOLS, (
        f"missing: {sorted(ALL_TOOLS - set(names))}; unexpected: {sorted(set(names) - ALL_TOOLS)}"
    )
    assert len(names) == 40


async def test_tools_schemas(hub: Hub) -> None:
    async with mcp_client(hub) as c:
        tools = {t.name: t for t in await list_all_tools(c)}
    problems: list[str] = []
    for name, (params, required) in PARAMS.items():
        t = tools.get(name)
        if t is None:
            problems.append(f"{name}: not listed")
            continue
        if not (t.description or "").strip():
            problems.append(f"{name}: no description")
        schema = t.input_schema
        if not isinstance(schema, dict) or schema.get("type") != "object":
            problems.append(f"{name}: inputSchema is not an object schema: {schema!r}")
            continue
        props = schema.get("properties") or {}
        if set(props) != params:
            problems.append(f"{name}: parameters {sorted(props)} != spec {sorted(params)}")
        if set(schema.get("required") or []) != required:
            problems.append(f"{name}: required {sorted(schema.get('required') or [])} != spec {sorted(required)}")
        for pname, pschema in props.items():
            desc = pschema.get("description") if isinstance(pschema, dict) else None
            if not (isinstance(desc, str) and desc.strip()):
                problems.append(f"{name}.{pname}: no description: {pschema!r}")
            if (name, pname) in DEFAULTS and isinstance(pschema, dict) and "default" in pschema:
                if pschema["default"] != DEFAULTS[(name, pname)]:
                    problems.append(
                        f"{name}.{pname}: default {pschema['default']!r} != spec {DEFAULTS[(name, pname)]!r}"
                    )
        out = t.output_schema
        if name in DICT_TOOLS | LIST_TOOLS:
            if not isinstance(out, dict) or out.get("type") != "object":
                problems.append(f"{name}: returns a dict/list but has no object outputSchema: {out!r}")
            elif name in LIST_TOOLS and "result" not in (out.get("properties") or {}):
                problems.append(f"{name}: list tool outputSchema lacks the 'result' property: {out!r}")
    assert not problems, "tool schema problems:\n" + "\n".join(problems)


async def test_behavior_schema_names_allow_and_deny(hub: Hub) -> None:
    async with mcp_client(hub) as c:
        tools = {t.name: t for t in await list_all_tools(c)}
    b = tools["tm_respond_permission"].input_schema["properties"]["behavior"]
    if "enum" in b:
        assert sorted(b["enum"]) == ["allow", "deny"], f"behavior enum: {b!r}"
    else:  # a plain string: the description must say what is accepted
        assert "allow" in b.get("description", "") and "deny" in b.get("description", ""), b


# ── meta tools ───────────────────────────────────────────────────────────────


async def test_server_info(hub: Hub) -> None:
    async with mcp_client(hub) as c:
        text = await ok_text(c, "server_info")
    info = json.loads(text)
    health = hub.get_ok("/health")
    assert info == {
        "name": "tubemail",
        "version": info.get("version"),
        "category": "repo_agnostic",
        "pan_repo_writes": None,
        "pan_repo_reads": None,
        "data_identity": "worker name + flow id — no repo concept",
        "meta_tools": [],
        "cross_repo_tools": [],
    }, f"server_info: {text}"
    assert isinstance(info["version"], str) and info["version"], f"server_info.version: {info['version']!r}"
    assert info["version"] == health["version"], (
        f"server_info version {info['version']!r} != /health {health['version']!r}"
    )


async def test_get_instructions_is_usage_text(hub: Hub) -> None:
    async with mcp_client(hub) as c:
        text = await ok_text(c, "get_instructions")
    assert text.strip(), "get_instructions returned an empty string"
    assert "tm_" in text, f"usage notes mention no tm_* tool: {text!r}"


async def test_refresh_tools_text(hub: Hub) -> None:
    async with mcp_client(hub) as c:
        text = await ok_text(c, "refresh_tools")
    assert text == "Tool list refreshed. New and changed tools are now available."


async def test_refresh_tools_sends_list_changed(hub: Hub) -> None:
    """Checked on a session (initialize handshake, 2025-11-25): there a
    notification sent during the call must reach the client. (At 2026-07-28
    list changes travel through subscriptions/listen instead.)"""
    rec = Recorder()
    async with mcp_client(hub, mode="legacy", message_handler=rec) as c:
        r = await call(c, "refresh_tools")
        assert not r.is_error, dump_result(r)
        assert len(r.content) == 1 and r.content[0].text == (
            "Tool list refreshed. New and changed tools are now available."
        ), dump_result(r)
        with anyio.move_on_after(3):
            while not rec.notifications("notifications/tools/list_changed"):
                await anyio.sleep(0.05)
        version = c.protocol_version
        assert rec.notifications("notifications/tools/list_changed"), (
            f"no notifications/tools/list_changed reached the client within 3 s "
            f"(negotiated {version}); messages seen: {rec.messages!r}"
        )
        # the tool list is still complete afterwards
        names = {t.name for t in await list_all_tools(c)}
    assert names == ALL_TOOLS
