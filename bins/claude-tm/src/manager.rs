//! The manager: runs claude in a pty and carries out the hub's control
//! commands (`<worker>-manager` on the hub).
//!
//! It passes the user's terminal through (raw mode, keys, resize) when
//! started from one, types harness commands and keystrokes, answers
//! screenshots from a model of the screen and health checks, and
//! stops or restarts through `/exit` with the launcher's exit codes. A
//! stop never depends on the CLI obeying: when its terminal is still held
//! a grace period after the request (`TM_STOP_GRACE_S`, 10 s), its
//! process group gets SIGTERM, then SIGKILL.
//! It reports the worker's activity from Claude Code's hooks (see
//! [`crate::hooks`]) as they come, and every 3 s its context use, and its
//! activity from the screen while no hook has come.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use nix::sys::signal::Signal;
use serde_json::Value;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tubemail_client::Client;
use tubemail_client::StreamEvent;
use tubemail_client::core::command::{
    HEALTH_REPLY, ManagerHealth, RECONNECT_REPLY, ReconnectOutcome, SCREENSHOT_REPLY,
};
use tubemail_client::core::{ManagerCommand, Meta, WorkerName};
use tubemail_pty::{Pty, PtyCommand, Screen, paste_input};

/// Exit code that asks the launcher to start the manager again.
pub const RESTART_EXIT: i32 = 42;
/// How often the screen is checked for context use and activity.
const STATUS_EVERY: Duration = Duration::from_secs(3);
/// Activity is re-posted this often even unchanged, so the hub's 30 s
/// freshness window never lapses during a long steady state.
const ACTIVE_HEARTBEAT: Duration = Duration::from_secs(9);

/// Pause before registering or opening the control stream again.
const CONTROL_RETRY: Duration = Duration::from_secs(2);

/// CPU use is measured over this window for a health check.
const HEALTH_SAMPLE: Duration = Duration::from_millis(500);

/// How long activity is re-posted every [`STATUS_EVERY`] until the hub
/// takes a post as a change (the worker may not be registered yet).
const UNCONFIRMED_FOR: Duration = Duration::from_secs(30);

/// How often the session transcript is read for what no hook tells.
const TRANSCRIPT_EVERY: Duration = Duration::from_millis(250);

/// How long typed text waits for an open permission prompt to close.
const PROMPT_WAIT: Duration = Duration::from_secs(30);

/// How long `/mcp reconnect` may take to say how it went.
const RECONNECT_WAIT: Duration = Duration::from_secs(30);

/// Pause between a pasted text and the Enter that submits it.
const ENTER_GAP: Duration = Duration::from_millis(120);

/// How long claude has to leave after a stop or restart request (`/exit`
/// is typed then) before its process group is signalled
/// (`TM_STOP_GRACE_S`).
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// Longest grace period accepted (a day): a typo must not mean "never".
const STOP_GRACE_MAX_S: f64 = 86_400.0;
/// Between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// A grace period in seconds, as `TM_STOP_GRACE_S` and `--stop-grace`
/// take it (`10`, `2.5`; 0 signals at once).
pub fn parse_grace(secs: &str) -> Result<Duration, String> {
    match secs.trim().parse::<f64>() {
        Ok(s) if (0.0..=STOP_GRACE_MAX_S).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{secs:?} is not a number of seconds from 0 to {STOP_GRACE_MAX_S}"
        )),
    }
}

/// `TM_STOP_GRACE_S`, else [`STOP_GRACE`] (with a warning when the value
/// is not a grace period).
fn stop_grace() -> Duration {
    match std::env::var("TM_STOP_GRACE_S") {
        Ok(v) if !v.trim().is_empty() => parse_grace(&v).unwrap_or_else(|e| {
            tracing::warn!("TM_STOP_GRACE_S: {e}; using {} s", STOP_GRACE.as_secs());
            STOP_GRACE
        }),
        _ => STOP_GRACE,
    }
}

/// What the manager was asked to do when claude exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnExit {
    Stop,
    Restart,
}

/// What the manager does for a command of the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Control {
    /// Type text and submit it.
    Type(String),
    /// Raw bytes.
    Keys(Vec<u8>),
    /// Screen text, the last N lines.
    Screenshot(Option<usize>),
    Health,
    /// Reconnect one MCP server through the `/mcp` dialog.
    ReconnectMcp(String),
    Stop,
    Restart,
}

impl Control {
    /// Reads that leave the terminal alone: answered at once, beside
    /// whatever input is in progress. Everything else goes to the terminal
    /// and keeps its order (a `/compact` held back behind an open prompt
    /// holds back the keys sent after it, but not a screenshot).
    fn is_read(&self) -> bool {
        matches!(self, Control::Screenshot(_) | Control::Health)
    }
}

impl From<ManagerCommand> for Control {
    fn from(command: ManagerCommand) -> Self {
        match command {
            ManagerCommand::Type(text) => Control::Type(text),
            ManagerCommand::Clear | ManagerCommand::Rename(_) => Control::Type(command.content()),
            ManagerCommand::Keys(bytes) => Control::Keys(bytes),
            ManagerCommand::Screenshot(n) => {
                Control::Screenshot(n.and_then(|n| usize::try_from(n).ok()))
            }
            ManagerCommand::HealthCheck => Control::Health,
            ManagerCommand::ReconnectMcp(server) => Control::ReconnectMcp(server),
            ManagerCommand::Restart | ManagerCommand::UpdateManager => Control::Restart,
            ManagerCommand::Stop => Control::Stop,
        }
    }
}

struct Manager {
    hub: Client,
    /// The worker claude serves, and this manager's own name.
    worker: WorkerName,
    me: WorkerName,
    pty: Arc<Pty>,
    screen: Arc<Mutex<Screen>>,
    started: Instant,
    /// Times the launcher started a manager for this worker before this one.
    restarts: u32,
    on_exit: Mutex<Option<OnExit>>,
    /// Wait after a stop or restart request before signalling claude.
    stop_grace: Duration,
    /// The stop deadline runs (once, for the first stop or restart).
    stop_armed: AtomicBool,
    /// Notices already printed on the user's terminal.
    notices: Mutex<std::collections::HashSet<String>>,
    /// Becomes true when claude's output ends: nothing holds its terminal.
    ended: tokio::sync::watch::Receiver<bool>,
    /// One `/mcp reconnect` at a time (the hub's and the channel's).
    dialog: tokio::sync::Mutex<()>,
    /// What Claude Code's hooks said.
    hooks: Arc<crate::hooks::Hooks>,
}

impl Manager {
    /// Process health of claude and everything it started, plus the
    /// manager's own memory.
    async fn health(&self) -> ManagerHealth {
        let pid = self.pty.pid();
        let cpu = crate::procs::cpu_percent(pid, HEALTH_SAMPLE).await;
        let tree = crate::procs::tree(pid);
        let me = crate::procs::tree(std::process::id()).map(|t| t.rss_bytes);
        let mb = |b: u64| (b as f64 / 104_857.6).round() / 10.0;
        ManagerHealth {
            child_alive: tree.is_some(),
            child_pid: Some(i64::from(pid)),
            processes: tree.and_then(|t| u64::try_from(t.processes).ok()),
            cpu_percent: cpu,
            memory_mb: tree.map(|t| mb(t.rss_bytes)),
            manager_memory_mb: me.map(mb),
            uptime_s: self.started.elapsed().as_secs(),
            restart_count: self.restarts,
        }
    }

    /// Reconnects one of claude's MCP servers with the command form
    /// `/mcp reconnect <server>` (every supported version has it; the
    /// `/mcp` dialog's layout changes between releases) and reads the
    /// verdict from the transcript.
    async fn reconnect_mcp(&self, server: &str) -> ReconnectOutcome {
        let outcome = |ok: bool, detail: String| ReconnectOutcome {
            ok,
            server: server.to_owned(),
            detail,
            attempts: 1,
        };
        if server.is_empty() || server.chars().any(char::is_whitespace) {
            return outcome(false, format!("not an MCP server name: {server:?}"));
        }
        let _one = self.dialog.lock().await;
        if let Err(e) = self.type_text(&format!("/mcp reconnect {server}")).await {
            return outcome(false, e.to_string());
        }
        let deadline = Instant::now() + RECONNECT_WAIT;
        loop {
            if let Some(verdict) = claude_tm::screen::reconnect_verdict(&self.screen_text(), server)
            {
                return match verdict {
                    Ok(line) => outcome(true, line),
                    Err(line) => outcome(false, line),
                };
            }
            if Instant::now() >= deadline {
                return outcome(
                    false,
                    format!(
                        "no answer to /mcp reconnect within {} s; check the session",
                        RECONNECT_WAIT.as_secs()
                    ),
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn screen_text(&self) -> String {
        self.screen.lock().unwrap_or_else(|p| p.into_inner()).text()
    }

    async fn reply(&self, text: &str, kind: &str) {
        let mut meta = Meta::new();
        meta.insert("kind".into(), kind.into());
        if let Err(e) = self.hub.outbound(&self.me, text, Some(meta)).await {
            tracing::warn!(error = %e, kind, "could not answer the hub");
        }
    }

    /// Types `text` and submits it, once no permission prompt or unknown
    /// dialog is open: typed into one it would pick an option nobody
    /// chose (or be lost).
    async fn type_text(&self, text: &str) -> std::io::Result<()> {
        let deadline = Instant::now() + PROMPT_WAIT;
        loop {
            let screen = self.screen_text();
            let open = if claude_tm::screen::prompt_open(&screen) {
                "a permission prompt"
            } else if claude_tm::screen::unknown_dialog(&screen).is_some() {
                "a dialog claude-tm does not know"
            } else {
                break;
            };
            if Instant::now() >= deadline {
                return Err(std::io::Error::other(format!(
                    "claude shows {open}; not typing {text:?} into it"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (paste, enter) = paste_input(text);
        self.pty.write_all(&paste).await?;
        tokio::time::sleep(ENTER_GAP).await;
        self.pty.write_all(enter).await
    }

    /// Records that claude is to stop (or restart) and starts the stop's
    /// deadline, at the moment the request arrives: typing `/exit` may
    /// wait behind earlier input, or never happen (a prompt that does not
    /// close), and claude may ignore it. If claude's terminal is still
    /// held [`Manager::stop_grace`] later, its process group gets SIGTERM,
    /// and SIGKILL [`TERM_GRACE`] after that.
    fn request_exit(&self, want: OnExit) {
        *self.on_exit.lock().unwrap_or_else(|p| p.into_inner()) = Some(want);
        if self.stop_armed.swap(true, Ordering::SeqCst) {
            return;
        }
        let pty = self.pty.clone();
        let mut ended = self.ended.clone();
        let grace = self.stop_grace;
        tokio::spawn(async move {
            for (wait, signal) in [(grace, Signal::SIGTERM), (TERM_GRACE, Signal::SIGKILL)] {
                // Ok(Err) is a manager on its way out: nothing to do either.
                if tokio::time::timeout(wait, ended.wait_for(|e| *e))
                    .await
                    .is_ok()
                {
                    return;
                }
                tracing::warn!(
                    pid = pty.pid(),
                    %signal,
                    waited_s = wait.as_secs_f64(),
                    "claude is still running after the stop request; signalling its process group"
                );
                match pty.signal_group(signal) {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => tracing::warn!(error = %e, "cannot signal claude"),
                }
            }
        });
    }

    async fn handle(&self, control: Control) -> std::io::Result<()> {
        match control {
            Control::Type(text) => self.type_text(&text).await?,
            Control::Keys(bytes) => self.pty.write_all(&bytes).await?,
            Control::Screenshot(n) => {
                let text = {
                    let screen = self.screen.lock().unwrap_or_else(|p| p.into_inner());
                    n.map_or_else(|| screen.text(), |n| screen.last_lines(n))
                };
                self.reply(&text, SCREENSHOT_REPLY).await;
            }
            Control::Health => {
                let body = self.health().await;
                let body = serde_json::to_string(&body).unwrap_or_default();
                self.reply(&body, HEALTH_REPLY).await;
            }
            Control::ReconnectMcp(server) => {
                let outcome = self.reconnect_mcp(&server).await;
                let mut meta = Meta::new();
                meta.insert("kind".into(), RECONNECT_REPLY.into());
                meta.insert("ok".into(), outcome.ok.into());
                meta.insert("server".into(), outcome.server.clone().into());
                let text = serde_json::to_string(&outcome).unwrap_or_default();
                if let Err(e) = self.hub.outbound(&self.me, &text, Some(meta)).await {
                    tracing::warn!(error = %e, "could not answer the hub");
                }
            }
            Control::Stop | Control::Restart => {
                self.request_exit(if control == Control::Stop {
                    OnExit::Stop
                } else {
                    OnExit::Restart
                });
                // An explicit stop or restart cancels an open prompt.
                if claude_tm::screen::prompt_open(&self.screen_text()) {
                    self.pty.write_all(b"\x1b").await?;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                self.type_text("/exit").await?;
            }
        }
        Ok(())
    }
}

/// Longest request line on the local socket.
const LOCAL_LINE_MAX: u64 = 64 * 1024;

/// Where the manager of `worker` listens for local requests.
pub fn local_socket(worker: &WorkerName) -> anyhow::Result<std::path::PathBuf> {
    Ok(crate::runtime::worker_dir(worker)?.join("manager.sock"))
}

/// Binds the manager's local socket (`<runtime>/<worker>/manager.sock`,
/// in a 0700 directory, the socket itself 0600). The channel reaches the
/// manager through it without the hub. `None` (with a warning) when it
/// cannot be had; claude still runs.
fn bind_local(worker: &WorkerName) -> Option<(std::path::PathBuf, tokio::net::UnixListener)> {
    let path = match local_socket(worker) {
        Ok(path) => path,
        Err(e) => {
            tracing::warn!(error = %e, "no local control socket");
            return None;
        }
    };
    let _ = std::fs::remove_file(&path);
    let bound = tokio::net::UnixListener::bind(&path).and_then(|l| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(l)
    });
    match bound {
        Ok(l) => Some((path, l)),
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "no local control socket");
            None
        }
    }
}

/// Sends one request to a manager's local socket and returns its answer
/// line.
pub async fn ask_local(sock: &std::path::Path, req: &serde_json::Value) -> std::io::Result<String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let stream = tokio::net::UnixStream::connect(sock).await?;
    let (rd, mut wr) = stream.into_split();
    let mut line = req.to_string();
    line.push('\n');
    wr.write_all(line.as_bytes()).await?;
    let mut answer = String::new();
    tokio::io::BufReader::new(rd).read_line(&mut answer).await?;
    Ok(answer)
}

/// How long a notice may take to reach the manager.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(2);

/// Has the manager of this session (`TUBEMAIL_LOCAL_SOCK`, set for claude
/// and so for its channel) print one `claude-tm:` line on the user's
/// terminal. Nothing happens without a manager.
pub async fn notice(text: &str) {
    let Some(sock) = std::env::var_os("TUBEMAIL_LOCAL_SOCK") else {
        return;
    };
    let req = json!({"action": "notice", "text": text});
    let sent = tokio::time::timeout(NOTICE_TIMEOUT, ask_local(sock.as_ref(), &req)).await;
    if !matches!(sent, Ok(Ok(_))) {
        tracing::debug!("the manager did not take the notice");
    }
}

/// Prints a notice on the user's terminal, once per text: on its own line,
/// over claude's screen (which redraws it away on its next frame).
fn print_notice(m: &Manager, text: &str) {
    use std::io::{IsTerminal, Write};
    let text: String = text.chars().filter(|c| !c.is_control()).take(600).collect();
    let fresh = m
        .notices
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(text.clone());
    if !fresh {
        return;
    }
    tracing::warn!(notice = %text, "claude-tm notice");
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = write!(err, "\r\n\x1b[1;33mclaude-tm:\x1b[0m {text}\r\n");
        let _ = err.flush();
    }
}

/// Answers one local request: a JSON line in, a JSON line out.
async fn local_request(m: &Manager, line: &str) -> serde_json::Value {
    let Ok(req) = serde_json::from_str::<serde_json::Value>(line) else {
        return json!({"ok": false, "error": "invalid json"});
    };
    let mut answer = match req["action"].as_str().unwrap_or("") {
        "reconnect_mcp" => match req["server"].as_str().map(str::trim) {
            Some(server) if !server.is_empty() => {
                serde_json::to_value(m.reconnect_mcp(server).await).unwrap_or_default()
            }
            _ => json!({"ok": false, "server": "", "detail": "missing 'server' in request"}),
        },
        "hook" => match serde_json::from_value::<crate::hooks::Note>(req["hook"].clone()) {
            Ok(note) => {
                tracing::debug!(event = note.event, "hook");
                let answered = m.hooks.on_note(&note);
                if !answered.is_empty() {
                    let (hub, worker) = (m.hub.clone(), m.worker.clone());
                    tokio::spawn(async move {
                        crate::hooks::resolve(&hub, &worker, answered).await;
                    });
                }
                json!({"ok": true})
            }
            Err(e) => json!({"ok": false, "error": format!("bad hook: {e}")}),
        },
        "notice" => match req["text"].as_str().map(str::trim) {
            Some(text) if !text.is_empty() => {
                print_notice(m, text);
                json!({"ok": true})
            }
            _ => json!({"ok": false, "error": "missing 'text' in request"}),
        },
        "health" => {
            let mut h = serde_json::to_value(m.health().await).unwrap_or_else(|_| json!({}));
            h["ok"] = true.into();
            h
        }
        other => json!({"ok": false, "error": format!("unknown action: {other}")}),
    };
    if let Some(id) = req.get("request_id") {
        answer["request_id"] = id.clone();
    }
    answer
}

/// Serves the local socket: one request per connection.
fn spawn_local(listener: tokio::net::UnixListener, m: Arc<Manager>) -> tokio::task::JoinHandle<()> {
    use tokio::io::AsyncBufReadExt;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let m = m.clone();
            tokio::spawn(async move {
                let (rd, mut wr) = stream.into_split();
                let mut line = String::new();
                let mut rd = tokio::io::BufReader::new(rd.take(LOCAL_LINE_MAX));
                let read = tokio::time::timeout(Duration::from_secs(5), rd.read_line(&mut line));
                let answer = match read.await {
                    Ok(Ok(_)) if line.ends_with('\n') => local_request(&m, &line).await,
                    _ => json!({"ok": false, "error": "expected one JSON line"}),
                };
                let mut out = answer.to_string();
                out.push('\n');
                let _ = wr.write_all(out.as_bytes()).await;
            });
        }
    })
}

/// Posts context use (on change) and activity (on change, and as a
/// heartbeat) for the worker: activity from the hooks as soon as one
/// changes it, from the screen until the first hook; context use from the
/// screen every few seconds.
fn spawn_status(
    hub: Client,
    worker: WorkerName,
    screen: Arc<Mutex<Screen>>,
    hooks: Arc<crate::hooks::Hooks>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_pct: Option<Option<u8>> = None;
        let mut last_active: Option<(bool, Instant)> = None;
        let (started, mut confirmed) = (Instant::now(), false);
        let mut tick = tokio::time::interval(STATUS_EVERY);
        loop {
            let ticked = tokio::select! {
                _ = tick.tick() => true,
                () = hooks.changed.notified() => false,
            };
            let hooked = hooks.active();
            let text = (ticked || hooked.is_none())
                .then(|| screen.lock().unwrap_or_else(|p| p.into_inner()).text());
            if let Some(text) = &text {
                let pct = claude_tm::screen::context_pct(text);
                if last_pct != Some(pct) && hub.context_pct(&worker, pct).await.is_ok() {
                    last_pct = Some(pct);
                }
            }
            let active = hooked
                .or_else(|| text.as_deref().map(claude_tm::screen::is_active))
                .unwrap_or(false);
            // The hub ignores a post for a worker its channel has not
            // registered yet (and says "unchanged"): early on, repeat
            // every few seconds until a post changes something.
            let heartbeat = if confirmed || started.elapsed() >= UNCONFIRMED_FOR {
                ACTIVE_HEARTBEAT
            } else {
                STATUS_EVERY
            };
            let due =
                last_active.is_none_or(|(was, at)| was != active || at.elapsed() >= heartbeat);
            if due && let Ok(changed) = hub.set_active(&worker, active).await {
                confirmed |= changed;
                last_active = Some((active, Instant::now()));
            }
        }
    })
}

/// Reads the session transcript for what no hook tells (an interrupted
/// turn, a prompt refused at the terminal) and resolves such prompts on
/// the hub.
fn spawn_transcript(
    hub: Client,
    worker: WorkerName,
    hooks: Arc<crate::hooks::Hooks>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TRANSCRIPT_EVERY);
        loop {
            tick.tick().await;
            let answered = hooks.poll_transcript();
            crate::hooks::resolve(&hub, &worker, answered).await;
        }
    })
}

/// Copies the user's keys into the pty and follows their terminal's size.
fn spawn_passthrough(pty: Arc<Pty>, screen: Arc<Mutex<Screen>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 4096];
        let mut winch =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
        loop {
            let resized = async {
                match winch.as_mut() {
                    Some(w) => w.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                n = stdin.read(&mut buf) => match n {
                    Ok(n @ 1..) => {
                        if pty.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    _ => break,
                },
                Some(()) = resized => {
                    if let Some(size) = tubemail_pty::terminal_size(std::io::stdin().as_fd()) {
                        let _ = pty.resize(size);
                        let _ = screen.lock().unwrap_or_else(|p| p.into_inner()).resize(size);
                    }
                }
            }
        }
    })
}

/// Runs `program args` for worker `worker` until it exits; returns the
/// launcher exit code: 0 after a stop or when claude exited cleanly on its
/// own (`/exit`), [`RESTART_EXIT`] after a restart request, 1 when claude
/// failed (the launcher retries). `permission_mode` is the mode claude
/// runs in; its channel reports it to the hub (`TM_PERMISSION_MODE`).
pub async fn run(
    hub: Client,
    worker: WorkerName,
    program: &str,
    args: &[String],
    permission_mode: &str,
) -> anyhow::Result<i32> {
    let me = worker.manager()?;
    // A user at a terminal sees and drives claude directly.
    let user_tty = tubemail_pty::terminal_size(std::io::stdin().as_fd());
    let size = user_tty.unwrap_or_default();
    let local = bind_local(&worker);
    let mut command = PtyCommand::new(program)
        .args(args)
        .env("TM_WORKER_NAME", worker.as_str())
        .env("TM_PERMISSION_MODE", permission_mode)
        .size(size);
    if let Some((path, _)) = &local {
        command = command.env("TUBEMAIL_LOCAL_SOCK", path.as_os_str());
    }
    let pty = Arc::new(Pty::spawn(&command)?);
    let screen = Arc::new(Mutex::new(Screen::new(size)?));
    let _raw = match user_tty {
        Some(_) => Some(tubemail_pty::raw_mode(std::io::stdin().as_fd())?),
        None => None,
    };
    let passthrough = user_tty.map(|_| spawn_passthrough(pty.clone(), screen.clone()));
    let (ended_tx, ended) = tokio::sync::watch::channel(false);
    let m = Arc::new(Manager {
        hub: hub.clone(),
        worker: worker.clone(),
        me: me.clone(),
        pty: pty.clone(),
        screen: screen.clone(),
        started: Instant::now(),
        restarts: std::env::var("TM_RESTART_COUNT")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        dialog: tokio::sync::Mutex::new(()),
        on_exit: Mutex::new(None),
        hooks: Arc::new(crate::hooks::Hooks::default()),
        stop_grace: stop_grace(),
        stop_armed: AtomicBool::new(false),
        notices: Mutex::new(std::collections::HashSet::new()),
        ended,
    });
    // Output feeds the screen model (and the user's terminal) until claude
    // is gone.
    let mirror = user_tty.is_some();
    // Browsers and the recorder get the output while attached (pty_stream).
    let stream =
        crate::pty_stream::PtyStream::start(hub.clone(), worker.clone(), screen.clone(), mirror);
    let tee = stream.clone();
    let reader = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        let mut buf = vec![0u8; 16 * 1024];
        let mut since_yield = 0usize;
        while let Ok(n @ 1..) = pty.read(&mut buf).await {
            {
                let mut s = screen.lock().unwrap_or_else(|p| p.into_inner());
                s.feed(&buf[..n]);
                tee.tee(&s, &buf[..n]);
            }
            if mirror && (out.write_all(&buf[..n]).await.is_err() || out.flush().await.is_err()) {
                break;
            }
            // Parsing a flood keeps this task busy: let the hub's commands
            // (a browser's Ctrl-C) and the poster run every 64 KiB.
            since_yield += n;
            if since_yield >= 64 << 10 {
                since_yield = 0;
                tokio::task::yield_now().await;
            }
        }
        let _ = ended_tx.send(true);
    });
    // Input for the terminal, in the order the hub sent it.
    let (input_tx, mut input_rx) = tokio::sync::mpsc::unbounded_channel::<Control>();
    let input = {
        let m = m.clone();
        tokio::spawn(async move {
            while let Some(control) = input_rx.recv().await {
                if let Err(e) = m.handle(control).await {
                    tracing::warn!(error = %e, "control command failed");
                }
            }
        })
    };
    let commands = {
        let m = m.clone();
        let stream = stream.clone();
        // claude runs whatever the hub does: registration and the control
        // stream are retried for as long as the manager lives (the stream
        // itself resumes across hub restarts).
        let reg = crate::registration();
        tokio::spawn(async move {
            // Said once, not every retry: the log shares the user's
            // terminal with claude.
            let mut unreachable = false;
            loop {
                let opened = async {
                    m.hub.register(&m.me, &reg).await?;
                    m.hub.worker_stream(&m.me, None).await
                };
                let mut control = match opened.await {
                    Ok(control) => control,
                    Err(e) => {
                        if unreachable {
                            tracing::debug!(error = %e, "cannot reach the hub; retrying");
                        } else {
                            tracing::warn!(error = %e, "cannot reach the hub; retrying every {} s, quietly", CONTROL_RETRY.as_secs());
                            unreachable = true;
                        }
                        tokio::time::sleep(CONTROL_RETRY).await;
                        continue;
                    }
                };
                if std::mem::take(&mut unreachable) {
                    tracing::info!("the hub is back");
                }
                while let Some(item) = control.next().await {
                    let ev = match item {
                        Ok(ev) => ev,
                        Err(e) => {
                            tracing::warn!(error = %e, "control stream refused");
                            break;
                        }
                    };
                    if stream.handle(&ev, &m.pty).await {
                        continue;
                    }
                    let StreamEvent::ChannelEvent { content, meta, .. } = ev else {
                        continue;
                    };
                    let kind = meta
                        .get("kind")
                        .and_then(Value::as_str)
                        .filter(|k| !k.is_empty())
                        .unwrap_or(&content)
                        .to_owned();
                    let Some(command) = ManagerCommand::parse(&kind) else {
                        tracing::debug!(kind, "ignoring control command");
                        continue;
                    };
                    let control = Control::from(command);
                    // The stop's deadline starts now, not when the input
                    // queue reaches the request.
                    match control {
                        Control::Stop => m.request_exit(OnExit::Stop),
                        Control::Restart => m.request_exit(OnExit::Restart),
                        _ => {}
                    }
                    if control.is_read() {
                        let m = m.clone();
                        tokio::spawn(async move {
                            if let Err(e) = m.handle(control).await {
                                tracing::warn!(error = %e, kind, "control command failed");
                            }
                        });
                    } else if input_tx.send(control).is_err() {
                        tracing::error!(kind, "the terminal input task is gone; command dropped");
                    }
                }
                tokio::time::sleep(CONTROL_RETRY).await;
            }
        })
    };
    let status = spawn_status(
        m.hub.clone(),
        worker.clone(),
        m.screen.clone(),
        m.hooks.clone(),
    );
    let transcript = spawn_transcript(m.hub.clone(), worker.clone(), m.hooks.clone());
    let local = local.map(|(path, listener)| (path, spawn_local(listener, m.clone())));
    let dialogs = crate::dialogs::spawn(
        m.pty.clone(),
        m.screen.clone(),
        m.hub.clone(),
        worker.clone(),
    );
    let _ = reader.await;
    commands.abort();
    input.abort();
    stream.stop();
    status.abort();
    transcript.abort();
    if let Some((path, task)) = local {
        task.abort();
        let _ = std::fs::remove_file(path);
    }
    dialogs.abort();
    if let Some(p) = passthrough {
        p.abort();
    }
    if let Err(e) = hub.unregister(&me).await {
        tracing::debug!(error = %e, "unregister at exit failed");
    }
    let on_exit = *m.on_exit.lock().unwrap_or_else(|p| p.into_inner());
    // The output ends as claude exits; its status says how.
    let status = tokio::time::timeout(Duration::from_secs(5), m.pty.wait()).await;
    let clean = matches!(status, Ok(Ok(s)) if s.success());
    Ok(match on_exit {
        Some(OnExit::Stop) => 0,
        Some(OnExit::Restart) => RESTART_EXIT,
        // `/exit` typed at the terminal: the user is done.
        None if clean => 0,
        None => {
            tracing::warn!(?status, "claude ended unexpectedly");
            1
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_periods() {
        assert_eq!(parse_grace("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_grace(" 2.5 "), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_grace("0"), Ok(Duration::ZERO));
        for bad in ["", "-1", "ten", "NaN", "inf", "1e9"] {
            assert!(parse_grace(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commands_become_actions() {
        let act = |kind: &str| ManagerCommand::parse(kind).map(Control::from);
        assert_eq!(act("type:/compact"), Some(Control::Type("/compact".into())));
        assert_eq!(act("keystroke:1b0d"), Some(Control::Keys(vec![0x1b, 0x0d])));
        assert_eq!(act("keystroke:zz"), None);
        assert_eq!(act("screenshot:20"), Some(Control::Screenshot(Some(20))));
        assert_eq!(act("screenshot"), Some(Control::Screenshot(None)));
        assert_eq!(
            act("rename:w-tm"),
            Some(Control::Type("/rename w-tm".into()))
        );
        assert_eq!(act("clear"), Some(Control::Type("/clear".into())));
        assert_eq!(act("force_stop"), Some(Control::Stop));
        assert_eq!(act("update_manager"), Some(Control::Restart));
        assert_eq!(act("health_check"), Some(Control::Health));
        assert_eq!(
            act("reconnect_mcp:github"),
            Some(Control::ReconnectMcp("github".into()))
        );
        assert_eq!(act("reconnect_mcp: "), None);
    }
}
