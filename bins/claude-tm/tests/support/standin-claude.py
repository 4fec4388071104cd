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
  ``Interrupted`` and keeps running, like the TUI.

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


def request_id():
    return "".join(random.choice("abcdefghijkmnopqrstuvwxyz") for _ in range(5))


def main():
    argv = sys.argv[1:]
    if argv == ["--version"]:
        print("2.1.197 (Claude Code)")
        return
    log(event="start", argv=argv, cwd=os.getcwd(), pid=os.getpid())
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
    if channels:
        show("Listening for channel messages from: " + ", ".join(sorted(channels)))
    prompt()

    asking = {}  # request_id -> (server, command)

    def call_reply(server, text):
        r = server.request("tools/call", {
            "name": "reply", "arguments": {"text": text},
            "_meta": {"claudecode/toolUseId": "toolu_" + request_id(), "progressToken": 1},
        })
        log(event="reply_called", text=text, result=r.get("result"), error=r.get("error"))
        result = r.get("result", {}).get("content", [{}])
        show("● " + (result[0].get("text", "") if result else ""))
        prompt()

    def answered(rid, behavior, via):
        server, command = asking.pop(rid)
        # The prompt leaves the screen once answered, as in the real TUI.
        with out_lock:
            sys.stdout.write("\x1b[5F\x1b[J")
            sys.stdout.flush()
        log(event="permission_decided", request_id=rid, behavior=behavior, via=via)
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
            if content.startswith("RUN "):
                rid = request_id()
                command = content[4:]
                asking[rid] = (server, command)
                server.notify("notifications/claude/channel/permission_request", {
                    "request_id": rid, "tool_name": "Bash", "description": "Run a command",
                    "input_preview": json.dumps({"command": command})[:200],
                })
                show("Bash command\r\n  " + command +
                     "\r\nDo you want to proceed?\r\n❯ 1. Yes\r\n  2. No")
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
            show("● echo: " + line)
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
