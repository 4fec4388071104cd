#!/usr/bin/env python3
"""A scripted stand-in for the Claude Code CLI, for claude-tm's tests.

It does what the real CLI (2.1.x) does with the parts claude-tm relies on,
as seen on the wire and on screen (see /work/shared/docs/claude-code-offline.md):

* reads ``--mcp-config FILE`` servers, starts each as a stdio MCP server
  (newline-delimited JSON-RPC) with its ``env`` on top of ours, sends
  ``initialize`` (protocol 2025-11-25, clientInfo ``claude-code``),
  ``notifications/initialized`` and ``tools/list``;
* treats a server as a channel only when it declares the experimental
  ``claude/channel`` capability AND is named in
  ``--dangerously-load-development-channels server:NAME``, after showing the
  development-channels warning until Enter is pressed;
* shows each ``notifications/claude/channel`` as ``← NAME: content``; its
  "model" then answers by calling the server's ``reply`` tool
  (``tools/call`` with ``_meta.claudecode/toolUseId``) with
  ``echo: <content>`` — or, for content starting ``RUN ``, first asks for
  permission: it sends ``notifications/claude/channel/permission_request``
  (5-letter id without ``l``), draws a "Do you want to proceed?" dialog and
  waits for ``notifications/claude/channel/permission`` from the channel or a
  ``1``/``2`` key at the terminal, takes the dialog off the screen, then
  replies ``ran: …`` or ``denied: …``;
* draws a prompt line ``❯`` and takes typed input (bracketed paste, then
  Enter): ``/exit`` ends the session (exit 0), ``/compact`` and ``/clear``
  print what the real CLI prints, anything else gets ``● echo: <text>``;
* prints ``2.1.197 (Claude Code)`` for ``--version`` (claude-tm asks);
* shows ``Resumed`` when started with ``--continue``; Ctrl-C prints
  ``Interrupted`` and keeps running, like the TUI;
* runs the command hooks of ``--settings FILE`` (unless ``STANDIN_NO_HOOKS``
  is set, as with ``disableAllHooks``) with ``sh -c``, the event as JSON on
  stdin, when 2.1.197 and 2.1.332 run them: SessionStart at start,
  UserPromptSubmit for a channel message or a typed line, PreToolUse and
  PermissionRequest before a prompt, PostToolUse after the tool ran (and
  around the ``reply`` call), Stop at the end of a turn; and, like them,
  none when a prompt is refused at the terminal: that is written to the
  session transcript only (``toolUseResult: "User rejected tool use"`` and
  ``[Request interrupted by user for tool use]``);
* a channel message ``SLOW <n>`` keeps the turn open ``n`` seconds with
  nothing on screen (only the hooks tell that it works).

Everything it does is appended as JSON lines to ``$STANDIN_LOG`` when set,
so tests can check what reached it.
"""

import json
import os
import queue
import random
import select
import signal
import subprocess
import sys
import termios
import threading
import time
import tty

LOG = os.environ.get("STANDIN_LOG")
events = queue.Queue()
out_lock = threading.Lock()


def log(**kw):
    if LOG:
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(kw) + "\n")


def show(text):
    with out_lock:
        sys.stdout.write(text.replace("\n", "\r\n") + "\r\n")
        sys.stdout.flush()


def prompt():
    with out_lock:
        sys.stdout.write("❯ ")
        sys.stdout.flush()


class Server:
    """One stdio MCP server."""

    def __init__(self, name, spec):
        env = dict(os.environ)
        env.update(spec.get("env") or {})
        self.name = name
        self.proc = subprocess.Popen(
            [spec["command"], *spec.get("args", [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Like Claude Code: a server's stderr goes to a log, not the TUI.
            stderr=open(LOG + ".mcp-stderr", "ab") if LOG else subprocess.DEVNULL,
            env=env,
        )
        self.next_id = 0
        self.pending = {}
        self.lock = threading.Lock()
        threading.Thread(target=self.read, daemon=True).start()

    def send(self, msg):
        with self.lock:
            self.proc.stdin.write((json.dumps(msg) + "\n").encode())
            self.proc.stdin.flush()

    def request(self, method, params, timeout=30):
        with self.lock:
            self.next_id += 1
            rid = self.next_id
        box = queue.Queue()
        self.pending[rid] = box
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return box.get(timeout=timeout)

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def read(self):
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "id" in msg and ("result" in msg or "error" in msg):
                box = self.pending.pop(msg["id"], None)
                if box:
                    box.put(msg)
            elif "method" in msg:
                events.put(("mcp", self, msg))

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


def arg_values(argv, flag):
    vals = []
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            vals.append(argv[i + 1])
        elif a.startswith(flag + "="):
            vals.append(a.split("=", 1)[1])
    return vals


class Hooks:
    """The command hooks of ``--settings`` files, run like Claude Code."""

    def __init__(self, argv):
        self.by_event = {}
        self.session = "standin-%08x" % random.getrandbits(32)
        home = os.environ.get("HOME", "/tmp")
        self.transcript = os.path.join(home, ".standin", self.session + ".jsonl")
        os.makedirs(os.path.dirname(self.transcript), exist_ok=True)
        if os.environ.get("STANDIN_NO_HOOKS"):
            return
        for path in arg_values(argv, "--settings"):
            with open(path, encoding="utf-8") as f:
                for event, groups in (json.load(f).get("hooks") or {}).items():
                    for g in groups:
                        self.by_event.setdefault(event, []).extend(g.get("hooks", []))

    def run(self, event, **fields):
        payload = {"session_id": self.session, "transcript_path": self.transcript,
                   "cwd": os.getcwd(), "permission_mode": "default",
                   "hook_event_name": event, **fields}
        for h in self.by_event.get(event, []):
            if h.get("type") != "command":
                continue
            started = time.monotonic()
            try:
                r = subprocess.run(["/bin/sh", "-c", h["command"]], input=json.dumps(payload).encode(),
                                   capture_output=True, timeout=h.get("timeout", 60))
                rc, out = r.returncode, r.stdout.decode(errors="replace")
            except subprocess.TimeoutExpired:
                rc, out = None, ""
            log(event="hook", name=event, rc=rc, stdout=out,
                ms=round((time.monotonic() - started) * 1000, 1))

    def write(self, entry):
        with open(self.transcript, "a", encoding="utf-8") as f:
            f.write(json.dumps({"sessionId": self.session, **entry}) + "\n")


def request_id():
    return "".join(random.choice("abcdefghijkmnopqrstuvwxyz") for _ in range(5))


def main():
    argv = sys.argv[1:]
    if argv == ["--version"]:
        print("2.1.197 (Claude Code)")
        return
    log(event="start", argv=argv, cwd=os.getcwd(), pid=os.getpid())
    hooks = Hooks(argv)
    dev = {v.split(":", 1)[1] for v in arg_values(argv, "--dangerously-load-development-channels")
           if v.startswith("server:")}
    specs = {}
    for path in arg_values(argv, "--mcp-config"):
        with open(path, encoding="utf-8") as f:
            specs.update(json.load(f).get("mcpServers", {}))

    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    tty.setraw(fd)
    signal.signal(signal.SIGINT, lambda *_: events.put(("key", None, b"\x03")))

    show("╭─── Claude Code (stand-in) ───╮")
    if "--continue" in argv or "-c" in argv:
        show("Resumed the previous conversation")

    keys = bytearray()

    def read_keys(timeout):
        r, _, _ = select.select([fd], [], [], timeout)
        if r:
            data = os.read(fd, 4096)
            if not data:
                raise EOFError
            return data
        return b""

    if dev:
        show("WARNING: Loading development channels\r\n"
             "❯ 1. I am using this for local development\r\n  2. Exit")
        while b"\r" not in keys:
            keys += read_keys(1.0)
        log(event="dev_channels_accepted")
        keys.clear()
        # The TUI replaces the warning with the session screen.
        with out_lock:
            sys.stdout.write("\x1b[2J\x1b[H")
        show("╭─── Claude Code (stand-in) ───╮")

    servers = {}
    channels = set()
    for name, spec in specs.items():
        try:
            s = Server(name, spec)
            init = s.request("initialize", {
                "protocolVersion": "2025-11-25",
                "capabilities": {"roots": {}, "elicitation": {}},
                "clientInfo": {"name": "claude-code", "version": "2.1.197"},
            })
            s.notify("notifications/initialized", {})
            tools = s.request("tools/list", {})
            servers[name] = s
            caps = init.get("result", {}).get("capabilities", {})
            if "claude/channel" in caps.get("experimental", {}) and name in dev:
                channels.add(name)
            log(event="mcp_ready", server=name, pid=s.proc.pid,
                tools=[t["name"] for t in tools.get("result", {}).get("tools", [])],
                channel=name in channels)
        except Exception as e:  # the real CLI shows the server as failed
            log(event="mcp_failed", server=name, error=str(e))
    hooks.run("SessionStart", source="continue" if "--continue" in argv else "startup")
    if channels:
        show("Listening for channel messages from: " + ", ".join(sorted(channels)))
    prompt()

    asking = {}  # request_id -> (server, command, tool_use_id)

    def call_reply(server, text, delay=0.0):
        time.sleep(delay)
        tid = "toolu_" + request_id()
        args = {"text": text}
        name = f"mcp__{server.name}__reply"
        hooks.run("PreToolUse", tool_name=name, tool_input=args, tool_use_id=tid)
        r = server.request("tools/call", {
            "name": "reply", "arguments": args,
            "_meta": {"claudecode/toolUseId": tid, "progressToken": 1},
        })
        log(event="reply_called", text=text, result=r.get("result"), error=r.get("error"))
        hooks.run("PostToolUse", tool_name=name, tool_input=args, tool_use_id=tid,
                  tool_response=r.get("result"))
        result = r.get("result", {}).get("content", [{}])
        show("● " + (result[0].get("text", "") if result else ""))
        hooks.run("Stop", stop_hook_active=False, last_assistant_message=text)
        prompt()

    def answered(rid, behavior, via):
        server, command, tid = asking.pop(rid)
        # The prompt leaves the screen once answered, as in the real TUI.
        with out_lock:
            sys.stdout.write("\x1b[5F\x1b[J")
            sys.stdout.flush()
        log(event="permission_decided", request_id=rid, behavior=behavior, via=via)
        tool_input = {"command": command}
        if behavior == "allow":
            hooks.run("PostToolUse", tool_name="Bash", tool_input=tool_input, tool_use_id=tid,
                      tool_response={"stdout": "", "stderr": "", "interrupted": False})
        elif via == "terminal":
            # Refused at the terminal: the turn ends with no hook at all.
            hooks.write({"type": "user", "message": {"role": "user", "content": [
                {"type": "tool_result", "content": "The user doesn't want to proceed with this tool use.",
                 "is_error": True, "tool_use_id": tid}]}, "toolUseResult": "User rejected tool use"})
            hooks.write({"type": "user", "message": {"role": "user", "content": [
                {"type": "text", "text": "[Request interrupted by user for tool use]"}]}})
            show("  ⎿  Interrupted · What should Claude do instead?")
            prompt()
            return
        text = f"ran: {command}" if behavior == "allow" else f"denied: {command}"
        threading.Thread(target=call_reply, args=(server, text), daemon=True).start()

    def on_mcp(server, msg):
        method, params = msg["method"], msg.get("params") or {}
        if server.name not in channels:
            return
        if method == "notifications/claude/channel":
            content = params.get("content", "")
            log(event="channel", content=content, meta=params.get("meta", {}))
            show(f"← {server.name}: {content}")
            if content != "interrupt":
                hooks.run("UserPromptSubmit",
                          prompt=f'<channel source="{server.name}">\n{content}\n</channel>')
            if content.startswith("RUN "):
                rid = request_id()
                command = content[4:]
                tid = "toolu_" + request_id()
                asking[rid] = (server, command, tid)
                hooks.run("PreToolUse", tool_name="Bash", tool_input={"command": command}, tool_use_id=tid)
                hooks.run("PermissionRequest", tool_name="Bash", tool_input={"command": command},
                          permission_suggestions=[])
                server.notify("notifications/claude/channel/permission_request", {
                    "request_id": rid, "tool_name": "Bash", "description": "Run a command",
                    "input_preview": json.dumps({"command": command})[:200],
                })
                show("Bash command\r\n  " + command +
                     "\r\nDo you want to proceed?\r\n❯ 1. Yes\r\n  2. No")
            elif content.startswith("SLOW "):
                threading.Thread(target=call_reply, args=(server, "slow: " + content[5:],
                                                          float(content[5:])), daemon=True).start()
            elif content != "interrupt":
                threading.Thread(target=call_reply, args=(server, "echo: " + content),
                                 daemon=True).start()
        elif method == "notifications/claude/channel/permission":
            rid = str(params.get("request_id", "")).lower()
            if rid in asking:
                answered(rid, params.get("behavior"), "channel")

    def on_line(line):
        line = line.replace("\x1b[200~", "").replace("\x1b[201~", "").strip()
        log(event="typed", text=line)
        if line == "/exit":
            return True
        if line == "/compact":
            show("⎿ Compacted (ctrl+o to see full summary)")
        elif line == "/clear":
            show("⎿ (no content)")
        elif line:
            hooks.run("UserPromptSubmit", prompt=line)
            show("● echo: " + line)
            hooks.run("Stop", stop_hook_active=False, last_assistant_message="echo: " + line)
        prompt()
        return False

    try:
        while True:
            try:
                kind, server, data = events.get(timeout=0.05)
            except queue.Empty:
                data = read_keys(0.05)
                if not data:
                    continue
                kind, server = "key", None
            if kind == "mcp":
                on_mcp(server, data)
                continue
            if data == b"\x03":
                log(event="interrupt")
                show("Interrupted by user")
                prompt()
                continue
            if asking and data in (b"1", b"2"):
                rid = next(iter(asking))
                answered(rid, "allow" if data == b"1" else "deny", "terminal")
                continue
            keys += data
            with out_lock:
                sys.stdout.write(data.decode("utf-8", "replace").replace("\r", ""))
                sys.stdout.flush()
            while b"\r" in keys:
                line, _, rest = bytes(keys).partition(b"\r")
                keys[:] = rest
                sys.stdout.write("\r\n")
                if on_line(line.decode("utf-8", "replace")):
                    raise EOFError
    except EOFError:
        pass
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
        for s in servers.values():
            s.close()
        log(event="exit")


if __name__ == "__main__":
    main()
