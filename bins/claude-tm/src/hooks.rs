//! Claude Code's own signals: its hooks, and the session transcript it
//! writes, instead of the rendered screen.
//!
//! The manager passes `--settings <runtime>/<worker>/hooks.json` (merged by
//! the CLI with the user's settings; the project is not touched). Each hook
//! runs `claude-tm hook`, which reads the event Claude Code writes on its
//! stdin and hands a compact copy to the manager over its local socket
//! (`TUBEMAIL_LOCAL_SOCK`), then exits 0 with nothing on stdout: a hook's
//! stdout can add context (SessionStart, UserPromptSubmit) or decide a
//! permission (PreToolUse, PermissionRequest), and ours must do neither.
//! Hooks run synchronously, so the manager sees them in order; the forwarder
//! gives up after [`FORWARD_TIMEOUT`].
//!
//! What the events mean (seen with 2.1.197 and 2.1.332, which both have
//! every event used here):
//!
//! * `UserPromptSubmit` (typed prompts and channel messages alike),
//!   `PreToolUse`, `PostToolUse`, `PostToolUseFailure`, `PreCompact`: busy;
//! * `Stop`, `StopFailure`, `SessionStart` (not after a compaction),
//!   `SessionEnd`, an `idle_prompt` notification: idle;
//! * `PermissionRequest` or a `permission_prompt` notification: waiting on
//!   a person (reported as busy; the hub derives waiting_permission from its
//!   pending permissions).
//!
//! Neither version runs any hook when a turn is interrupted (Esc) or a
//! permission prompt is answered "No" at the terminal. Both write it to the
//! session transcript (`transcript_path` of every event) at once: a
//! `[Request interrupted by user…]` user entry, and for a refused tool a
//! `tool_result` whose `toolUseResult` is `User rejected tool use`. The
//! manager follows that file's new lines a few times a second
//! ([`Hooks::poll_transcript`]), and before each hook.
//!
//! A prompt answered at the terminal is resolved on the hub from these
//! signals: `PostToolUse`/`PostToolUseFailure` of the tool that asked means
//! allowed, the transcript's rejection means denied. The screen reading in
//! `dialogs` stays as the fallback (both are harmless together: the hub
//! takes the first answer only).
//!
//! Until the first hook arrives (an old CLI, `disableAllHooks`), activity
//! comes from the screen as before.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tubemail_client::Client;
use tubemail_client::core::{Behavior, PendingPermission, WorkerName};

/// The events the manager listens to (all present in 2.1.197 and 2.1.332).
pub const EVENTS: &[&str] = &[
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PermissionRequest",
    "Notification",
    "PreCompact",
    "Stop",
    "StopFailure",
    "SessionEnd",
];

/// Claude Code's own limit for one hook run, in seconds (a stuck manager
/// must not hold a turn; the forwarder gives up long before).
const HOOK_TIMEOUT_S: u64 = 5;
/// The forwarder's limit for connecting, writing and reading the answer.
const FORWARD_TIMEOUT: Duration = Duration::from_millis(800);
/// Most bytes of hook input read from stdin.
const STDIN_MAX: u64 = 4 << 20;
/// A tool input bigger than this (as JSON) is not forwarded.
const INPUT_MAX: usize = 16 << 10;
/// Most new transcript bytes read at once (the rest is skipped).
const TRANSCRIPT_CHUNK: u64 = 4 << 20;

/// Text of Claude Code's transcript entry for an interrupted turn (`…` or
/// ` for tool use]` follows).
const INTERRUPTED: &str = "[Request interrupted by user";
/// `toolUseResult` of a tool refused at the terminal's permission prompt.
const REJECTED: &str = "User rejected tool use";

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The `--settings` document: every [`EVENTS`] hook runs `<exe> hook`.
pub fn settings(exe: &Path) -> Value {
    let command = format!("{} hook", shell_quote(&exe.display().to_string()));
    let hooks: serde_json::Map<String, Value> = EVENTS
        .iter()
        .map(|e| {
            let entry = json!([{ "hooks": [{
                "type": "command",
                "command": command,
                "timeout": HOOK_TIMEOUT_S,
            }]}]);
            ((*e).to_owned(), entry)
        })
        .collect();
    json!({ "hooks": hooks })
}

/// Writes `hooks.json` into the worker's directory `dir`; returns claude's
/// extra arguments (`--settings <path>`).
pub fn write_settings(dir: &Path, exe: &Path) -> Result<Vec<String>> {
    let path = dir.join("hooks.json");
    let body = serde_json::to_vec_pretty(&settings(exe))?;
    crate::runtime::write_private(&path, &body)?;
    Ok(vec!["--settings".to_owned(), path.display().to_string()])
}

/// One hook event, as the forwarder passes it to the manager.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// `hook_event_name`.
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_input: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_type: Option<String>,
    /// SessionStart's `source` (`startup`, `resume`, `clear`, `compact`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_path: Option<String>,
}

impl Note {
    /// The compact copy of Claude Code's hook input; `None` without an
    /// event name.
    pub fn from_input(v: &Value) -> Option<Note> {
        let s = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        let tool_input = v
            .get("tool_input")
            .filter(|i| i.to_string().len() <= INPUT_MAX)
            .cloned();
        Some(Note {
            event: s("hook_event_name")?,
            tool_name: s("tool_name"),
            tool_use_id: s("tool_use_id"),
            tool_input,
            notification_type: s("notification_type"),
            source: s("source"),
            transcript_path: s("transcript_path"),
        })
    }
}

/// `claude-tm hook`: forwards the event on stdin to the manager. Never
/// fails and prints nothing: Claude Code must go on as if no hook ran.
pub fn forward() {
    let Some(sock) = std::env::var_os("TUBEMAIL_LOCAL_SOCK") else {
        return;
    };
    let mut input = String::new();
    if std::io::stdin()
        .take(STDIN_MAX)
        .read_to_string(&mut input)
        .is_err()
    {
        return;
    }
    let Some(note) = serde_json::from_str::<Value>(&input)
        .ok()
        .and_then(|v| Note::from_input(&v))
    else {
        return;
    };
    if let Err(e) = send(Path::new(&sock), &note) {
        tracing::debug!(error = %e, event = note.event, "hook not forwarded");
    }
}

fn send(sock: &Path, note: &Note) -> std::io::Result<()> {
    let mut stream = std::os::unix::net::UnixStream::connect(sock)?;
    stream.set_write_timeout(Some(FORWARD_TIMEOUT))?;
    stream.set_read_timeout(Some(FORWARD_TIMEOUT))?;
    let mut line = json!({"action": "hook", "hook": note}).to_string();
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    // The answer says the manager took it in: the next hook comes after.
    let mut answer = [0u8; 64];
    let _ = stream.read(&mut answer)?;
    Ok(())
}

/// What the hooks say claude is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Idle,
    Busy,
    /// A permission prompt is open.
    Waiting,
}

impl Activity {
    /// What the hub is told (`set_active`): waiting is not idle.
    pub fn is_active(self) -> bool {
        !matches!(self, Activity::Idle)
    }
}

/// A tool that started (`PreToolUse`) and has not finished.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub id: String,
    pub name: String,
    pub input: Value,
    /// Wall-clock seconds at `PreToolUse`.
    pub started: f64,
    /// A permission prompt opened for it.
    pub asked: bool,
}

/// A prompt of a tool that was answered at the terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    pub tool: Tool,
    pub behavior: Behavior,
}

/// Something found in the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// The turn was interrupted.
    Interrupted,
    /// This tool was refused at its permission prompt.
    Rejected(String),
}

/// The hook state machine of one claude process.
#[derive(Debug, Default)]
pub struct Tracker {
    state: Option<Activity>,
    /// The state before a compaction began.
    before_compact: Option<Activity>,
    tools: Vec<Tool>,
    transcript: Option<PathBuf>,
}

impl Tracker {
    /// The state from hooks; `None` until the first hook.
    pub fn state(&self) -> Option<Activity> {
        self.state
    }

    /// Takes one hook in at wall time `now`; returns the prompts it shows
    /// were answered.
    pub fn apply(&mut self, n: &Note, now: f64) -> Vec<Answered> {
        if let Some(p) = &n.transcript_path {
            self.transcript = Some(PathBuf::from(p));
        }
        let mut answered = Vec::new();
        let next = match n.event.as_str() {
            "UserPromptSubmit" => {
                // A prompt still open here was refused (its answer left no
                // other trace, see the module docs).
                answered.extend(self.close_all(Behavior::Deny));
                Some(Activity::Busy)
            }
            "PreToolUse" => {
                if let (Some(id), Some(name)) = (&n.tool_use_id, &n.tool_name) {
                    self.tools.retain(|t| &t.id != id);
                    self.tools.push(Tool {
                        id: id.clone(),
                        name: name.clone(),
                        input: n.tool_input.clone().unwrap_or(Value::Null),
                        started: now,
                        asked: false,
                    });
                }
                Some(Activity::Busy)
            }
            "PermissionRequest" => {
                // It carries no tool_use_id: the latest started tool of the
                // same name and input is the one asking.
                let input = n.tool_input.clone().unwrap_or(Value::Null);
                if let Some(t) = self
                    .tools
                    .iter_mut()
                    .rev()
                    .find(|t| Some(&t.name) == n.tool_name.as_ref() && t.input == input)
                {
                    t.asked = true;
                }
                Some(Activity::Waiting)
            }
            "PostToolUse" | "PostToolUseFailure" => {
                if let Some(i) = self
                    .tools
                    .iter()
                    .position(|t| Some(&t.id) == n.tool_use_id.as_ref())
                {
                    let tool = self.tools.remove(i);
                    if tool.asked {
                        answered.push(Answered {
                            tool,
                            behavior: Behavior::Allow,
                        });
                    }
                }
                Some(Activity::Busy)
            }
            "Notification" => match n.notification_type.as_deref() {
                Some("permission_prompt") => Some(Activity::Waiting),
                Some("idle_prompt") => Some(Activity::Idle),
                _ => None,
            },
            "PreCompact" => {
                self.before_compact = self.state;
                Some(Activity::Busy)
            }
            "SessionStart" if n.source.as_deref() == Some("compact") => {
                Some(self.before_compact.take().unwrap_or(Activity::Idle))
            }
            "Stop" | "StopFailure" | "SessionStart" | "SessionEnd" => {
                answered.extend(self.close_all(Behavior::Deny));
                Some(Activity::Idle)
            }
            _ => None,
        };
        if let Some(s) = next {
            self.state = Some(s);
        }
        answered
    }

    /// Forgets the open tools; those that asked are answered `behavior`.
    fn close_all(&mut self, behavior: Behavior) -> Vec<Answered> {
        self.tools
            .drain(..)
            .filter(|t| t.asked)
            .map(|tool| Answered { tool, behavior })
            .collect()
    }

    /// Takes in what the transcript says; returns the prompts answered.
    pub fn mark(&mut self, m: &Mark) -> Vec<Answered> {
        match m {
            Mark::Rejected(id) => match self.tools.iter().position(|t| &t.id == id) {
                Some(i) => {
                    let tool = self.tools.remove(i);
                    if tool.asked {
                        vec![Answered {
                            tool,
                            behavior: Behavior::Deny,
                        }]
                    } else {
                        Vec::new()
                    }
                }
                None => Vec::new(),
            },
            Mark::Interrupted => {
                self.state = Some(Activity::Idle);
                self.close_all(Behavior::Deny)
            }
        }
    }
}

/// What a transcript line says, if anything we follow.
pub fn transcript_mark(line: &str) -> Option<Mark> {
    if !line.contains(INTERRUPTED) && !line.contains(REJECTED) {
        return None;
    }
    let v: Value = serde_json::from_str(line).ok()?;
    if v["type"] != "user" {
        return None;
    }
    if v["toolUseResult"]
        .as_str()
        .is_some_and(|r| r.starts_with(REJECTED))
    {
        let content = v["message"]["content"].as_array()?;
        let id = content
            .iter()
            .find(|b| b["type"] == "tool_result")?
            .get("tool_use_id")?
            .as_str()?;
        return Some(Mark::Rejected(id.to_owned()));
    }
    let text = match &v["message"]["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => return None,
    };
    text.trim_start()
        .starts_with(INTERRUPTED)
        .then_some(Mark::Interrupted)
}

/// Follows the new lines of a transcript file.
#[derive(Debug, Default)]
struct Follow {
    path: Option<PathBuf>,
    offset: u64,
    partial: String,
}

impl Follow {
    /// New complete lines since the last read. An existing file first
    /// seen is read from its end (its past is not news); one that does not
    /// exist yet, from its start once it does.
    fn read(&mut self, path: &Path) -> Vec<String> {
        if self.path.as_deref() != Some(path) {
            self.path = Some(path.to_owned());
            self.offset = std::fs::metadata(path).map_or(0, |m| m.len());
            self.partial.clear();
            return Vec::new();
        }
        let Ok(mut f) = std::fs::File::open(path) else {
            return Vec::new();
        };
        let len = f.metadata().map_or(0, |m| m.len());
        if len < self.offset {
            // Replaced: all of it is new.
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset {
            return Vec::new();
        }
        let from = self.offset.max(len.saturating_sub(TRANSCRIPT_CHUNK));
        if from != self.offset {
            self.partial.clear();
        }
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(from)).is_err()
            || f.take(len - from).read_to_end(&mut buf).is_err()
        {
            return Vec::new();
        }
        self.offset = from + buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let Some(end) = self.partial.rfind('\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(end + 1);
        let done = std::mem::replace(&mut self.partial, rest);
        done.lines().map(str::to_owned).collect()
    }
}

/// The hook side of the manager: the state, and a wake-up for the status
/// poster when it changed.
#[derive(Debug, Default)]
pub struct Hooks {
    tracker: Mutex<Tracker>,
    follow: Mutex<Follow>,
    /// Set by the first hook; `dialogs` may check it.
    pub live: Arc<AtomicBool>,
    /// Notified when the state may have changed.
    pub changed: tokio::sync::Notify,
}

impl Hooks {
    fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.tracker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether claude works (or waits on a person), from hooks; `None` until
    /// the first hook.
    pub fn active(&self) -> Option<bool> {
        self.tracker().state().map(Activity::is_active)
    }

    /// Applies what the transcript gained since the last look.
    fn drain(&self, t: &mut Tracker) -> Vec<Answered> {
        let Some(path) = t.transcript.clone() else {
            return Vec::new();
        };
        let lines = self
            .follow
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .read(&path);
        let mut answered = Vec::new();
        for m in lines.iter().filter_map(|l| transcript_mark(l)) {
            if m == Mark::Interrupted && t.state().is_some_and(Activity::is_active) {
                tracing::info!("the turn was interrupted at the terminal (transcript)");
            } else {
                tracing::debug!(?m, "seen in the transcript");
            }
            answered.extend(t.mark(&m));
        }
        answered
    }

    /// Takes one forwarded hook in; returns the prompts it shows answered.
    pub fn on_note(&self, note: &Note) -> Vec<Answered> {
        let mut t = self.tracker();
        // What the transcript says happened before this hook comes first.
        let mut answered = self.drain(&mut t);
        answered.extend(t.apply(note, crate::epoch_secs()));
        drop(t);
        if !self.live.swap(true, Ordering::Relaxed) {
            tracing::info!(
                first = note.event,
                "Claude Code's hooks are live: activity comes from them, not the screen"
            );
        }
        self.changed.notify_one();
        answered
    }

    /// Reads the transcript's new lines for an interrupt or a refused
    /// prompt (no hook tells either); returns the prompts answered.
    pub fn poll_transcript(&self) -> Vec<Answered> {
        let mut t = self.tracker();
        let before = t.state();
        let answered = self.drain(&mut t);
        if t.state() != before {
            self.changed.notify_one();
        }
        answered
    }
}

/// The 5-letter id Claude Code 2.1.197 gives a tool use's channel
/// permission request (FNV-1a of the UTF-16 tool_use_id, avoiding a list of
/// words; later versions draw it at random, see [`matches`]).
pub fn request_id(tool_use_id: &str) -> String {
    const LETTERS: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const AVOID: &[&str] = &[
        "fuck", "shit", "cunt", "cock", "dick", "twat", "piss", "crap", "bitch", "whore", "ass",
        "tit", "cum", "fag", "dyke", "nig", "kike", "rape", "nazi", "damn", "poo", "pee", "wank",
        "anus",
    ];
    let hash = |s: &str| {
        let mut h: u32 = 2_166_136_261;
        for unit in s.encode_utf16() {
            h ^= u32::from(unit);
            h = h.wrapping_mul(16_777_619);
        }
        (0..5)
            .map(|_| {
                let c = LETTERS[(h % 25) as usize] as char;
                h /= 25;
                c
            })
            .collect::<String>()
    };
    let mut id = hash(tool_use_id);
    for n in 0..10 {
        if !AVOID.iter().any(|w| id.contains(w)) {
            break;
        }
        id = hash(&format!("{tool_use_id}:{n}"));
    }
    id
}

/// Whether the hub's pending request `p` is the prompt of `tool`: its id
/// (2.1.197), else its tool and input preview, asked after the tool began.
pub fn matches(p: &PendingPermission, tool: &Tool) -> bool {
    if p.request_id.eq_ignore_ascii_case(&request_id(&tool.id)) {
        return true;
    }
    if p.tool_name != tool.name || p.requested_at < tool.started - 2.0 {
        return false;
    }
    if let Ok(v) = serde_json::from_str::<Value>(&p.input_preview) {
        return v == tool.input;
    }
    // A preview cut at 200 characters: a value of the input is in it.
    let cut = p.input_preview.trim_end_matches('…');
    tool.input.as_object().is_some_and(|o| {
        o.values().filter_map(Value::as_str).any(|s| {
            let quoted = Value::from(s).to_string();
            let inner = quoted.trim_matches('"');
            let head: String = inner.chars().take(40).collect();
            head.chars().count() >= 2 && cut.contains(&head)
        })
    })
}

/// Resolves on the hub the prompts answered at the terminal.
pub async fn resolve(hub: &Client, worker: &WorkerName, answered: Vec<Answered>) {
    if answered.is_empty() {
        return;
    }
    let pending = match hub.pending_permissions(Some(worker), true).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list pending permissions");
            return;
        }
    };
    for a in &answered {
        for p in pending.iter().filter(|p| matches(p, &a.tool)) {
            match hub
                .permission_response(worker, &p.request_id, a.behavior)
                .await
            {
                Ok(true) => tracing::info!(
                    request_id = p.request_id,
                    tool = a.tool.name,
                    behavior = a.behavior.as_str(),
                    "prompt answered at the terminal (hooks)"
                ),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot report a prompt answered at the terminal");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(event: &str) -> Note {
        Note {
            event: event.into(),
            ..Note::default()
        }
    }

    fn tool_note(event: &str, id: Option<&str>, cmd: &str) -> Note {
        Note {
            event: event.into(),
            tool_name: Some("Bash".into()),
            tool_use_id: id.map(str::to_owned),
            tool_input: Some(json!({"command": cmd, "description": "d"})),
            ..Note::default()
        }
    }

    #[test]
    fn events_to_activity() {
        let mut t = Tracker::default();
        assert_eq!(t.state(), None, "nothing known before the first hook");
        let steps = [
            (note("SessionStart"), Activity::Idle),
            (note("UserPromptSubmit"), Activity::Busy),
            (
                tool_note("PreToolUse", Some("toolu_1"), "ls"),
                Activity::Busy,
            ),
            (
                tool_note("PostToolUse", Some("toolu_1"), "ls"),
                Activity::Busy,
            ),
            (note("Stop"), Activity::Idle),
            (
                tool_note("PreToolUse", Some("toolu_2"), "x"),
                Activity::Busy,
            ),
            (tool_note("PermissionRequest", None, "x"), Activity::Waiting),
            (
                Note {
                    notification_type: Some("permission_prompt".into()),
                    ..note("Notification")
                },
                Activity::Waiting,
            ),
            (
                Note {
                    notification_type: Some("auth_success".into()),
                    ..note("Notification")
                },
                Activity::Waiting,
            ),
            (note("StopFailure"), Activity::Idle),
            (
                Note {
                    notification_type: Some("idle_prompt".into()),
                    ..note("Notification")
                },
                Activity::Idle,
            ),
            (note("PreCompact"), Activity::Busy),
            (
                Note {
                    source: Some("compact".into()),
                    ..note("SessionStart")
                },
                Activity::Idle,
            ),
            (note("UserPromptSubmit"), Activity::Busy),
            (note("PreCompact"), Activity::Busy),
            (
                Note {
                    source: Some("compact".into()),
                    ..note("SessionStart")
                },
                Activity::Busy,
            ),
            (note("SessionEnd"), Activity::Idle),
            (note("SomethingNew"), Activity::Idle),
        ];
        for (i, (n, want)) in steps.iter().enumerate() {
            t.apply(n, 1.0);
            assert_eq!(t.state(), Some(*want), "step {i}: {}", n.event);
        }
        assert!(Activity::Waiting.is_active() && !Activity::Idle.is_active());
    }

    #[test]
    fn prompts_answered_at_the_terminal() {
        let mut t = Tracker::default();
        t.apply(&note("UserPromptSubmit"), 1.0);
        // Allowed: the tool that asked ran.
        t.apply(&tool_note("PreToolUse", Some("toolu_a"), "make"), 2.0);
        t.apply(&tool_note("PermissionRequest", None, "make"), 2.1);
        let a = t.apply(&tool_note("PostToolUse", Some("toolu_a"), "make"), 3.0);
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].tool.id.as_str(), a[0].behavior),
            ("toolu_a", Behavior::Allow)
        );
        assert_eq!(a[0].tool.started, 2.0);
        // A tool that never asked is nobody's answer.
        t.apply(&tool_note("PreToolUse", Some("toolu_b"), "ls"), 4.0);
        assert!(
            t.apply(&tool_note("PostToolUse", Some("toolu_b"), "ls"), 4.1)
                .is_empty()
        );
        // Refused: only the transcript says so, and the turn ends.
        t.apply(&tool_note("PreToolUse", Some("toolu_c"), "rm"), 5.0);
        t.apply(&tool_note("PermissionRequest", None, "rm"), 5.1);
        assert!(t.mark(&Mark::Rejected("toolu_zzz".into())).is_empty());
        let a = t.mark(&Mark::Rejected("toolu_c".into()));
        assert_eq!(
            (a[0].tool.id.as_str(), a[0].behavior),
            ("toolu_c", Behavior::Deny)
        );
        assert_eq!(t.state(), Some(Activity::Waiting));
        assert!(t.mark(&Mark::Interrupted).is_empty());
        assert_eq!(t.state(), Some(Activity::Idle));
        // Still open at the next prompt: it was refused.
        t.apply(&tool_note("PreToolUse", Some("toolu_d"), "rm"), 6.0);
        t.apply(&tool_note("PermissionRequest", None, "rm"), 6.1);
        let a = t.apply(&note("UserPromptSubmit"), 7.0);
        assert_eq!(
            (a[0].tool.id.as_str(), a[0].behavior),
            ("toolu_d", Behavior::Deny)
        );
        assert!(t.apply(&note("Stop"), 8.0).is_empty());
    }

    #[test]
    fn transcript_lines() {
        // As 2.1.197 and 2.1.332 write them (trimmed).
        let interrupted = r#"{"parentUuid":"2","type":"user","message":{"role":"user","content":[{"type":"text","text":"[Request interrupted by user]"}]},"uuid":"e"}"#;
        let for_tool = r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"[Request interrupted by user for tool use]\n"}]}}"#;
        let rejected = r#"{"parentUuid":"2","type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"The user doesn't want to proceed with this tool use.","is_error":true,"tool_use_id":"toolu_fake000006"}]},"toolUseResult":"User rejected tool use","uuid":"ef"}"#;
        assert_eq!(transcript_mark(interrupted), Some(Mark::Interrupted));
        assert_eq!(transcript_mark(for_tool), Some(Mark::Interrupted));
        assert_eq!(
            transcript_mark(rejected),
            Some(Mark::Rejected("toolu_fake000006".into()))
        );
        // A prompt quoting the marker, an assistant's text: not ours.
        let quoted = r#"{"type":"user","message":{"role":"user","content":"why [Request interrupted by user] ?"}}"#;
        let said = r#"{"type":"assistant","message":{"content":[{"type":"text","text":"[Request interrupted by user]"}]}}"#;
        assert_eq!(transcript_mark(quoted), None);
        assert_eq!(transcript_mark(said), None);
        assert_eq!(
            transcript_mark("not json [Request interrupted by user"),
            None
        );
        assert_eq!(transcript_mark(r#"{"type":"user"}"#), None);
    }

    #[test]
    fn follows_new_lines_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        std::fs::write(&p, "old 1\nold 2\n").unwrap();
        let mut f = Follow::default();
        assert!(f.read(&p).is_empty(), "the past is not news");
        let mut file = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        file.write_all(b"new 1\nnew ").unwrap();
        assert_eq!(f.read(&p), ["new 1"]);
        file.write_all(b"2\n").unwrap();
        assert_eq!(f.read(&p), ["new 2"], "a line written in two parts");
        assert!(f.read(&p).is_empty());
        // A transcript that does not exist yet is read from its start.
        let later = dir.path().join("later.jsonl");
        let mut g = Follow::default();
        assert!(g.read(&later).is_empty());
        std::fs::write(&later, "first\n").unwrap();
        assert_eq!(g.read(&later), ["first"]);
    }

    #[test]
    fn claude_code_request_ids() {
        // Computed with 2.1.197's own function; the first two also seen on
        // the wire (its permission_request for these tool uses).
        for (tool_use_id, want) in [
            ("toolu_fake000002", "iyxod"),
            ("toolu_fake000006", "hewtg"),
            ("", "mathv"),
            ("toolu_01AbCdEf", "agvyi"),
            ("é☃x", "iijzp"),
        ] {
            assert_eq!(request_id(tool_use_id), want, "{tool_use_id:?}");
        }
        let id = request_id("toolu_01AbCdEf");
        assert_eq!(id.len(), 5);
        assert!(
            id.chars().all(|c| c.is_ascii_lowercase() && c != 'l'),
            "{id}"
        );
    }

    #[test]
    fn pending_requests_found_by_id_or_input() {
        let tool = Tool {
            id: "toolu_x".into(),
            name: "Bash".into(),
            input: json!({"command": "touch /tmp/a b", "description": "touch"}),
            started: 100.0,
            asked: true,
        };
        let p = |id: &str, name: &str, preview: &str, at: f64| PendingPermission {
            worker: "w-tm".parse().unwrap(),
            request_id: id.into(),
            tool_name: name.into(),
            description: String::new(),
            input_preview: preview.into(),
            requested_at: at,
            event_id: None,
            online: true,
            deadline: None,
        };
        let preview = r#"{"command":"touch /tmp/a b","description":"touch"}"#;
        assert!(matches(&p("qwert", "Bash", preview, 100.5), &tool));
        assert!(matches(&p(&request_id("toolu_x"), "Other", "", 1.0), &tool));
        assert!(!matches(&p("qwert", "Edit", preview, 100.5), &tool));
        assert!(
            !matches(&p("qwert", "Bash", preview, 50.0), &tool),
            "asked long before"
        );
        let other = r#"{"command":"touch /tmp/c","description":"touch"}"#;
        assert!(!matches(&p("qwert", "Bash", other, 100.5), &tool));
        assert!(matches(
            &p(
                "qwert",
                "Bash",
                r#"{"command":"touch /tmp/a b","descr…"#,
                100.5
            ),
            &tool
        ));
        assert!(!matches(
            &p("qwert", "Bash", r#"{"command":"make","descr…"#, 100.5),
            &tool
        ));
    }

    #[test]
    fn settings_run_this_binary_for_every_event() {
        let s = settings(Path::new("/opt/it's here/claude-tm"));
        let hooks = s["hooks"].as_object().unwrap();
        assert_eq!(hooks.len(), EVENTS.len());
        for e in EVENTS {
            let h = &hooks[*e][0]["hooks"][0];
            assert_eq!(h["type"], "command");
            assert_eq!(h["command"], r"'/opt/it'\''s here/claude-tm' hook");
            assert_eq!(h["timeout"], HOOK_TIMEOUT_S);
        }
        let dir = tempfile::tempdir().unwrap();
        let args = write_settings(dir.path(), Path::new("/bin/claude-tm")).unwrap();
        assert_eq!(args[0], "--settings");
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&args[1]).unwrap()).unwrap();
        assert_eq!(written, settings(Path::new("/bin/claude-tm")));
    }

    #[test]
    fn notes_from_claude_codes_input() {
        let v = json!({
            "session_id": "s", "transcript_path": "/t.jsonl", "cwd": "/p",
            "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": "ls"}, "tool_use_id": "toolu_1",
            "permission_mode": "default"
        });
        let n = Note::from_input(&v).unwrap();
        assert_eq!(n.event, "PreToolUse");
        assert_eq!(n.tool_use_id.as_deref(), Some("toolu_1"));
        assert_eq!(n.transcript_path.as_deref(), Some("/t.jsonl"));
        assert_eq!(n.tool_input, Some(json!({"command": "ls"})));
        let big = json!({"hook_event_name": "PreToolUse", "tool_input": {"content": "x".repeat(INPUT_MAX)}});
        assert_eq!(Note::from_input(&big).unwrap().tool_input, None);
        assert_eq!(Note::from_input(&json!({"tool_name": "Bash"})), None);
        // Round trip through the local socket's line.
        let back: Note = serde_json::from_value(serde_json::to_value(&n).unwrap()).unwrap();
        assert_eq!(back, n);
    }
}
