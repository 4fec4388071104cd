"""The real Claude Code CLI under ``claude-tm``, driven through the hub.

One worker (``e2e-main-tm``) serves most tests in order, as one long session
would; the restart and stop tests come last. Each test keys the fake model's
answers off its own token, so tests cannot answer each other's turns.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

import pytest

from fakeapi import FakeApi
from support import REPLY_TOOL, E2EHub, Orchestrator, Worker, channel_blocks, token, wait_until

def idle_screen(tm: Orchestrator, w: Worker, timeout: float = 60.0) -> str:
    """The screen once claude waits at its prompt."""

    def get() -> str | None:
        s = tm.screen(w.name, 60)
        return s if "for shortcuts" in s else None

    return wait_until("the idle prompt on screen", get, timeout, 0.5, lambda: tm.screen(w.name))


def screen_with(tm: Orchestrator, w: Worker, needle: str, timeout: float = 60.0) -> str:
    """The screen once it shows ``needle``."""

    def get() -> str | None:
        s = tm.screen(w.name, 60)
        return s if needle in s else None

    return wait_until(f"{needle!r} on screen", get, timeout, 0.5, lambda: tm.screen(w.name))


def outbound(tm: Orchestrator, worker: str, pred: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    return [e for e in tm.events(worker) if e["kind"] == "outbound" and pred(e)]


@pytest.fixture(scope="module")
def w(start_worker: Callable[..., Worker]) -> Worker:
    return start_worker("e2e-main")


# ── (a) a message in, a reply out ────────────────────────────────────────────


def test_send_reaches_the_model_and_reply_reaches_the_orchestrator(w: Worker, api: FakeApi, tm: Orchestrator) -> None:
    tok = token("A")
    api.on(tok, tool=REPLY_TOOL, tool_input={"text": f"PONG {tok}", "meta": {"in_reply_to": tok}})
    sent = tm("tm_send", {"worker": w.name, "message": f"{tok} please reply", "meta": {"thread": "t1"}})
    assert sent["routed_to"].startswith("worker"), sent

    req = api.wait_for(lambda r: tok in r.last_user, f"{tok} in the last user message")
    blocks = [b for b in channel_blocks(req.last_user) if tok in b[1]]
    assert blocks, f"no <channel source=\"tubemail-channel\"> block in {req.last_user!r}"
    attrs, body = blocks[0]
    assert body == f"{tok} please reply"
    assert attrs.get("thread") == "t1", attrs
    assert attrs.get("event_id") == sent["event_id"], attrs
    assert REPLY_TOOL in req.tool_names(), req.tool_names()

    got = wait_until(
        "the reply on the worker's timeline",
        lambda: outbound(tm, w.name, lambda e: e["content"] == f"PONG {tok}"),
        60,
        0.5,
    )
    assert got[0]["meta"].get("in_reply_to") == tok, got
    # The reply tool ran without a permission prompt, and its result went back.
    follow = api.wait_for(lambda r: r.answered_by == f"{tok}:then", "the reply's tool result")
    assert "delivered" in follow.last_user, follow.last_user
    assert not tm("tm_pending_permissions", {"worker": w.name})


# ── (b) permission prompts ───────────────────────────────────────────────────


def bash_rule(api: FakeApi, tok: str, w: Worker) -> str:
    """The model asks to run Bash, which needs approval; returns the file the
    command would write."""
    name = f"ran-{tok}.txt"
    api.on(tok, tool="Bash", tool_input={"command": f"echo {tok} > {name}", "description": f"write {name}"})
    return name


def pending(tm: Orchestrator, w: Worker) -> list[dict[str, Any]]:
    return tm("tm_pending_permissions", {"worker": w.name})


def wait_prompt(tm: Orchestrator, w: Worker, hub: E2EHub, tok: str) -> dict[str, Any]:
    p = wait_until(
        "a pending permission request",
        lambda: [x for x in pending(tm, w) if tok in x["input_preview"]],
        60,
        0.5,
        lambda: tm.screen(w.name),
    )[0]
    assert p["tool_name"] == "Bash" and p["online"], p
    assert re.fullmatch(r"[a-km-z]{5}", p["request_id"]), p
    web = hub.get_ok(f"/api/permissions?worker={hub.q(w.name)}")
    assert [x["request_id"] for x in web["pending"]] == [p["request_id"]], web
    return p


def prompt_gone_from_screen(tm: Orchestrator, w: Worker) -> bool:
    return "Do you want to proceed?" not in tm.screen(w.name)


@pytest.mark.parametrize("behavior", ["allow", "deny"])
def test_permission_answered_through_the_hub(
    w: Worker, api: FakeApi, tm: Orchestrator, hub: E2EHub, behavior: str
) -> None:
    tok = token(f"B{behavior}")
    name = bash_rule(api, tok, w)
    tm("tm_send", {"worker": w.name, "message": f"{tok} run the command"})
    p = wait_prompt(tm, w, hub, tok)
    assert "Do you want to proceed?" in tm.screen(w.name)
    r = tm("tm_respond_permission", {"worker": w.name, "request_id": p["request_id"], "behavior": behavior})
    assert r.get("ok") is True, r

    follow = api.wait_for(lambda r: r.answered_by == f"{tok}:then", "the Bash tool result")
    result = follow.tool_results[0]
    if behavior == "allow":
        assert not result.get("is_error"), result
        assert (w.dir / name).read_text().strip() == tok
    else:
        assert result.get("is_error") is True, result
        assert "Denied via channel tubemail-channel" in follow.last_user, follow.last_user
        assert not (w.dir / name).exists()
    assert not pending(tm, w)
    wait_until("the prompt to leave the screen", lambda: prompt_gone_from_screen(tm, w), 30, 0.5)


# Enter takes the preselected "Yes"; Esc cancels, which denies. Never an
# option's number: 2.1.332 renumbered the prompt ("3. Yes, and switch to
# auto mode", "4. No").
@pytest.mark.parametrize("key,behavior", [("\r", "allow"), ("\x1b", "deny")])
def test_permission_answered_at_the_terminal_leaves_no_ghost(
    w: Worker, api: FakeApi, tm: Orchestrator, hub: E2EHub, key: str, behavior: str
) -> None:
    tok = token(f"T{behavior}")
    name = bash_rule(api, tok, w)
    tm("tm_send", {"worker": w.name, "message": f"{tok} run the command"})
    p = wait_prompt(tm, w, hub, tok)
    time.sleep(0.5)  # the person reads the prompt
    w.type(key)
    wait_until(
        "the hub to drop the prompt answered at the terminal",
        lambda: not pending(tm, w),
        30,
        0.5,
        lambda: tm.screen(w.name),
    )
    assert not hub.get_ok(f"/api/permissions?worker={hub.q(w.name)}")["pending"]
    answers = [
        e for e in tm.events(w.name) if e["kind"] == "permission_response" and e["meta"].get("request_id") == p["request_id"]
    ]
    assert [e["content"] for e in answers] == [behavior], answers
    if behavior == "allow":
        wait_until("the command's file", lambda: (w.dir / name).exists(), 30)
    else:
        assert not (w.dir / name).exists()


# ── (f) what a message may contain ───────────────────────────────────────────


def ask_plain(api: FakeApi, tok: str) -> None:
    api.on(tok, text=f"noted {tok}")


def test_quotes_newlines_unicode_arrive_intact(w: Worker, api: FakeApi, tm: Orchestrator) -> None:
    tok = token("F")
    ask_plain(api, tok)
    body = f"{tok} \"double\" and 'single' quotes\nsecond line\n\ttabbed & <b>tags</b>\nünïcödé ✓ 日本語 🚀 \\ backslash"
    tm("tm_send", {"worker": w.name, "message": body})
    req = api.wait_for(lambda r: tok in r.last_user, f"{tok} in a model request")
    got = [b for a, b in channel_blocks(req.last_user) if tok in b]
    assert got == [body], req.last_user


def test_a_100_kb_message_arrives_whole(w: Worker, api: FakeApi, tm: Orchestrator) -> None:
    tok = token("BIG")
    ask_plain(api, tok)
    line = "0123456789abcdefghijklmnopqrstuvwxyz ÄÖÜ äöü — the quick brown fox\n"
    body = tok + "\n" + (line * (100_000 // len(line.encode()) + 1))
    assert len(body.encode()) > 100_000
    tm("tm_send", {"worker": w.name, "message": body})
    req = api.wait_for(lambda r: tok in r.last_user, f"{tok} in a model request", timeout=90)
    got = [b for a, b in channel_blocks(req.last_user) if tok in b]
    assert len(got) == 1, req.last_user[:2000]
    assert got[0] == body, f"{len(got[0])} chars arrived of {len(body)}"


def test_odd_meta_reaches_the_model_as_strings(w: Worker, api: FakeApi, tm: Orchestrator) -> None:
    tok = token("M")
    ask_plain(api, tok)
    meta = {
        "n": 42,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
        "obj": {"a": [1, "x"]},
        "in-reply-to": "msg-7",
        "1st": "first",
        "with space": "s",
        "source": "spoofed",
        "plain_key": "v",
    }
    tm("tm_send", {"worker": w.name, "message": f"{tok} meta test", "meta": meta})
    req = api.wait_for(lambda r: tok in r.last_user, f"{tok} in a model request")
    attrs = [a for a, b in channel_blocks(req.last_user) if tok in b]
    assert attrs, req.last_user
    a = attrs[0]
    # The CLI's own attribute stays the channel's name.
    assert req.last_user.count('source="tubemail-channel"') >= 1
    assert ' source="spoofed"' not in req.last_user, req.last_user
    assert a["plain_key"] == "v"
    assert a["n"] == "42" and a["ratio"] == "0.5" and a["flag"] == "true", a
    assert "nothing" in a and "obj" in a, a
    assert "msg-7" in a.values() and "first" in a.values() and "s" in a.values() and "spoofed" in a.values(), a


# ── (c) screen and status ────────────────────────────────────────────────────


def test_screenshot_shows_the_real_tui(w: Worker, tm: Orchestrator) -> None:
    s = idle_screen(tm, w)
    assert "← tubemail-channel:" in s, s
    assert "for shortcuts" in s and re.search(r"^\s*❯", s, re.M), s
    assert "\x1b" not in s, "a rendered screen, not raw bytes"


def test_plugin_commands_are_offered(w: Worker, tm: Orchestrator) -> None:
    idle_screen(tm, w)
    w.type("/tubemail:")
    try:
        s = screen_with(tm, w, "tubemail:sync-inbox", 30)
        for cmd in ("/tubemail:restart", "/tubemail:sync-inbox", "/tubemail:reconnect-mcp"):
            assert cmd in s, s
    finally:
        w.type("\x7f" * len("/tubemail:"))
    idle_screen(tm, w)


def test_status_is_busy_while_the_model_streams_and_idle_after(w: Worker, api: FakeApi, tm: Orchestrator) -> None:
    tok = token("S")
    api.on(tok, text=f"slowly answering {tok} " + "word " * 40, chunks=30, delay=0.5)
    tm("tm_send", {"worker": w.name, "message": f"{tok} take your time"})
    api.wait_for(lambda r: tok in r.last_user, f"{tok} in a model request")

    def state() -> dict[str, Any]:
        return tm("tm_status", {"worker": w.name})

    # The manager sees the spinner on the screen and reports it.
    wait_until(
        "tm_status busy from the screen",
        lambda: (s := state())["state"] == "busy" and s["state_reason"]["signal"] == "observed_active",
        30,
        0.5,
    )
    wait_until(
        "the streamed answer on screen",
        lambda: f"slowly answering {tok}" in tm.screen(w.name),
        60,
        0.5,
        lambda: tm.screen(w.name),
    )
    wait_until(
        "tm_status idle from the screen",
        lambda: (s := state())["state"] == "idle" and s["state_reason"]["signal"] == "observed_idle",
        60,
        0.5,
        lambda: f"{state()}\n{tm.screen(w.name)}",
    )


# ── (d) harness commands ─────────────────────────────────────────────────────


def test_compact_and_clear_reach_the_tui_as_commands(w: Worker, api: FakeApi, tm: Orchestrator) -> None:
    before = len(api.requests(side=None))
    sent = tm("tm_send", {"worker": w.name, "message": "/compact"})
    assert sent["routed_to"].startswith("manager"), sent
    # /compact makes the CLI ask the model for a summary of the conversation.
    req = wait_until(
        "a summary request after /compact",
        lambda: [r for r in api.requests(side=None)[before:] if "summary" in r.all_text().lower()],
        90,
        0.5,
        lambda: api.dump() + "\n" + tm.screen(w.name),
    )[0]
    assert "E2E-A-" in req.all_text(), "the summary request carries the conversation so far"
    wait_until("compaction done", lambda: "ompact" in tm.screen(w.name) and "for shortcuts" in tm.screen(w.name), 60, 0.5)

    sent = tm("tm_send", {"worker": w.name, "message": "/clear"})
    assert sent["routed_to"].startswith("manager"), sent
    time.sleep(1.0)
    wait_until("the prompt after /clear", lambda: "for shortcuts" in tm.screen(w.name), 30, 0.5)
    # The next message starts a fresh conversation: no earlier turn in it.
    tok = token("D")
    api.on(tok, text=f"fresh {tok}")
    tm("tm_send", {"worker": w.name, "message": f"{tok} after clear"})
    req = api.wait_for(lambda r: tok in r.last_user, f"{tok} in a model request")
    assert "E2E-A-" not in req.all_text() and "E2E-M-" not in req.all_text(), req.all_text()[:3000]


# ── reconnect_mcp drives the real /mcp dialog ────────────────────────────────


def test_reconnect_mcp_drives_the_real_mcp_dialog(w: Worker, api: FakeApi, tm: Orchestrator) -> None:
    idle_screen(tm, w)
    r = tm("tm_reconnect_mcp", {"worker": w.name, "server": "tubemail-channel"})
    assert r.get("ok") is True, r
    assert "Reconnected to tubemail-channel" in r.get("detail", ""), r
    # The reconnected channel delivers as before.
    wait_until("the worker online again", lambda: tm("tm_status", {"worker": w.name})["presence"] == "online", 60, 0.5)
    tok = token("MCPR")
    api.on(tok, text=f"ok {tok}")
    tm("tm_send", {"worker": w.name, "message": f"{tok} after the reconnect"})
    api.wait_for(lambda r: tok in r.last_user, f"{tok} in a model request")
    # A server the session does not have: a clear answer, the dialog closed.
    r = tm("tm_reconnect_mcp", {"worker": w.name, "server": "no-such-server"})
    assert r.get("ok") is False and "no-such-server" in r.get("detail", ""), r
    idle_screen(tm, w)


# ── (e) the hub goes away and comes back ─────────────────────────────────────


def test_hub_restart_mid_session(w: Worker, api: FakeApi, tm: Orchestrator, hub: E2EHub) -> None:
    tok = token("E")
    api.on(tok, tool=REPLY_TOOL, tool_input={"text": f"written while the hub was down {tok}"})
    hub.kill()
    try:
        # The person at the terminal asks something; the model replies
        # through the channel while the hub is down.
        w.type(f"{tok} from the terminal")
        time.sleep(0.3)
        w.type("\r")
        api.wait_for(lambda r: r.answered_by == f"{tok}:then", "the reply tool's result", timeout=60)
        time.sleep(2.0)
    finally:
        hub.start_again()
    wait_until("the worker online again", lambda: tm("tm_status", {"worker": w.name})["presence"] == "online", 60, 0.5)
    wait_until(
        "the reply written during the outage",
        lambda: outbound(tm, w.name, lambda e: tok in e["content"]),
        60,
        0.5,
    )
    # And only once, also after a while.
    time.sleep(6.0)
    assert len(outbound(tm, w.name, lambda e: tok in e["content"])) == 1

    # Messages flow to the model again, once each.
    tok2 = token("E2")
    api.on(tok2, text=f"back {tok2}")
    tm("tm_send", {"worker": w.name, "message": f"{tok2} after the restart"})
    api.wait_for(lambda r: tok2 in r.last_user, f"{tok2} in a model request")
    time.sleep(3.0)
    assert len([r for r in api.requests() if tok2 in r.last_user]) == 1, api.dump()


# ── (c) restart and stop (last: they end the session) ────────────────────────


def claude_pids(w: Worker, cli: str) -> list[int]:
    return [pid for pid, cmd in w.processes() if cmd.startswith(cli)]


def test_restart_continues_the_conversation(w: Worker, api: FakeApi, tm: Orchestrator, claude: Any) -> None:
    # Something to remember from before the restart.
    tok = token("R1")
    api.on(tok, text=f"remember {tok}")
    tm("tm_send", {"worker": w.name, "message": f"{tok} before restart"})
    api.wait_for(lambda r: r.answered_by == tok, f"{tok} answered")
    wait_until("the answer on screen", lambda: f"remember {tok}" in tm.screen(w.name), 30, 0.5)
    old = claude_pids(w, str(claude))
    assert len(old) == 1, w.processes()

    tm("tm_restart", {"worker": w.name})
    wait_until(
        "a new claude process",
        lambda: (new := claude_pids(w, str(claude))) and new != old and new,
        90,
        0.5,
        lambda: str(w.processes()) + "\n" + w.describe(),
    )
    args = next(cmd for pid, cmd in w.processes() if cmd.startswith(str(claude)))
    assert "--continue" in args, args
    wait_until("the channel back online", lambda: tm("tm_status", {"worker": w.name})["presence"] == "online", 90, 0.5)
    wait_until("the prompt after the restart", lambda: "for shortcuts" in tm.screen(w.name), 90, 0.5, lambda: tm.screen(w.name))

    tok2 = token("R2")
    api.on(tok2, text=f"continued {tok2}")
    tm("tm_send", {"worker": w.name, "message": f"{tok2} after restart"})
    req = api.wait_for(lambda r: tok2 in r.last_user, f"{tok2} in a model request", timeout=60)
    assert tok in req.all_text(), "the conversation before the restart is in the request"


def test_stop_ends_every_process(w: Worker, tm: Orchestrator) -> None:
    assert w.processes(), "the worker runs"
    tm("tm_stop", {"worker": w.name})
    rc = w.proc.wait(timeout=60)
    assert rc == 0, f"claude-tm exited with {rc}\n{w.describe()}"
    wait_until("no process of the worker left", lambda: not w.processes(), 30, 0.5, lambda: str(w.processes()))
    wait_until(
        "the hub to see the worker gone",
        lambda: tm("tm_status", {"worker": w.name})["presence"] != "online",
        30,
        0.5,
        lambda: str(tm("tm_status", {"worker": w.name})),
    )
