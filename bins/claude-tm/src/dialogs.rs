//! Answers Claude Code's start-up dialogs and rate-limit stops from the
//! rendered screen, the way the original manager did:
//!
//! * the development-channels warning ("I am using this for local
//!   development") gets Enter — option 1 is preselected. Running claude-tm
//!   is the user's consent to load our channel. Answered only while it is
//!   on screen during this child's life, and at most a few times (an Enter
//!   the TUI was not ready for is repeated);
//! * the resume menu ("Resume from summary") gets `3` + Enter ("don't ask
//!   again"), once;
//! * "New MCP server found in this project: tubemail-channel" (a project
//!   `.mcp.json` left by the original Python tool) gets `3`, "continue
//!   without using this MCP server": claude-tm brings its own
//!   `tubemail-channel`, and the old entry would stall an unattended worker
//!   at this question on every fresh start. Prompts about any other server
//!   are left to the user;
//! * "temporarily limiting requests" (claude.ai accounts) or "Request
//!   rejected (429)" (API keys) gets `continue` typed after 15, 30, 60, then
//!   120 s; a quiet spell after a retry resets the wait;
//! * a permission prompt answered at the terminal is reported to the hub.
//!   Claude Code tells the channel nothing when the person at the terminal
//!   answers (seen with 2.1.197), so without this the hub would keep a
//!   ghost prompt. When a prompt leaves the screen, prompts of this worker
//!   the hub still holds from while it was open are resolved: `deny` when
//!   the screen then says the turn was interrupted ("What should Claude do
//!   instead?"), else `allow`. A prompt answered from the hub is no longer
//!   pending by then, so nothing is posted twice.
//!
//! The screen is matched with all whitespace removed (as the original
//! did), so line wrapping cannot hide a marker.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tubemail_client::Client;
use tubemail_client::core::{Behavior, WorkerName};
use tubemail_pty::{Pty, Screen, paste_input};

use crate::status::squeeze;

const DEV_CHANNELS: &str = "Iamusingthisforlocaldevelopment";
const RESUME_MENU: &str = "Resumefromsummary";
/// The project-server question about our server (its name followed by the
/// dialog's next line, so no longer name matches).
const LEGACY_CHANNEL: &str = "Thisproject:tubemail-channelMCPservers";
/// What Claude Code shows when the API refuses with 429: "Server is
/// temporarily limiting requests" for claude.ai accounts, "API Error:
/// Request rejected (429)" with an API key (2.1.197).
const RATE_LIMITED: &[&str] = &["temporarilylimitingrequests", "Requestrejected(429)"];
const PROMPT_QUESTION: &str = "Do you want";
const PROMPT_YES: &str = "1.Yes";
const DENIED: &str = "WhatshouldClaudedoinstead";

/// Time for the screen to show the outcome of a closed prompt.
const OUTCOME_WAIT: Duration = Duration::from_millis(1200);

/// How often the dialogs' timers are stepped.
const TICK: Duration = Duration::from_millis(200);
/// How often the screen is checked for a change (cheap when it did not).
const WATCH: Duration = Duration::from_millis(20);
/// A dialog must be on screen this long before it is answered (the TUI
/// draws before it listens).
const SETTLE: Duration = Duration::from_millis(400);
/// Pause before answering the same dialog again.
const REPEAT: Duration = Duration::from_secs(2);
/// Most Enters for one dialog.
const MAX_TRIES: u32 = 4;
/// Waits before typing `continue` after the 1st, 2nd, 3rd, … rate limit.
const RATE_WAITS: [u64; 4] = [15, 30, 60, 120];
/// No new rate-limit message this long after a `continue`: start over.
const RATE_RESET: Duration = Duration::from_secs(20);

/// What to send to claude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Raw keys.
    Keys(&'static [u8]),
    /// Text submitted like typed input (paste, then Enter).
    Type(&'static str),
}

/// One dialog answered by a key press while it is visible.
#[derive(Debug, Default)]
struct OneShot {
    seen_since: Option<Instant>,
    last_answer: Option<Instant>,
    tries: u32,
    done: bool,
}

impl OneShot {
    fn step(&mut self, visible: bool, now: Instant) -> bool {
        if self.done {
            return false;
        }
        if !visible {
            if self.tries > 0 {
                // Answered and gone: never again for this child.
                self.done = true;
            }
            self.seen_since = None;
            return false;
        }
        let since = *self.seen_since.get_or_insert(now);
        let ready = now.duration_since(since) >= SETTLE
            && self
                .last_answer
                .is_none_or(|t| now.duration_since(t) >= REPEAT);
        if ready && self.tries < MAX_TRIES {
            self.tries += 1;
            self.last_answer = Some(now);
            if self.tries == MAX_TRIES {
                tracing::warn!("a start-up dialog stays on screen after {MAX_TRIES} answers");
            }
            return true;
        }
        false
    }
}

/// The screen watcher's state for one claude process.
#[derive(Debug, Default)]
pub struct Dialogs {
    dev_channels: OneShot,
    resume: OneShot,
    legacy_channel: OneShot,
    rate_seen: usize,
    rate_retries: usize,
    rate_due: Option<Instant>,
    rate_typed: Option<Instant>,
}

impl Dialogs {
    /// Looks at the screen at `now`; returns what to send, if anything.
    pub fn step(&mut self, screen: &str, now: Instant) -> Option<Answer> {
        let s = squeeze(screen);
        if self.dev_channels.step(s.contains(DEV_CHANNELS), now) {
            return Some(Answer::Keys(b"\r"));
        }
        if self.resume.step(s.contains(RESUME_MENU), now) {
            return Some(Answer::Keys(b"3\r"));
        }
        let legacy = s.to_lowercase().contains(&LEGACY_CHANNEL.to_lowercase());
        if self.legacy_channel.step(legacy, now) {
            return Some(Answer::Keys(b"3"));
        }
        // A rate-limit message more than before is a new stop.
        let count: usize = RATE_LIMITED.iter().map(|m| s.matches(m).count()).sum();
        if count > self.rate_seen && self.rate_due.is_none() {
            let wait = RATE_WAITS[self.rate_retries.min(RATE_WAITS.len() - 1)];
            tracing::info!(wait_s = wait, "rate limited; typing `continue` later");
            self.rate_due = Some(now + Duration::from_secs(wait));
            self.rate_retries += 1;
            self.rate_typed = None;
        }
        self.rate_seen = count;
        if self.rate_due.is_some_and(|due| now >= due) {
            self.rate_due = None;
            self.rate_typed = Some(now);
            return Some(Answer::Type("continue"));
        }
        if self
            .rate_typed
            .is_some_and(|t| now.duration_since(t) >= RATE_RESET)
        {
            self.rate_typed = None;
            self.rate_retries = 0;
        }
        None
    }
}

/// A permission prompt that left the screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    /// Wall-clock seconds when it was first seen.
    pub opened: f64,
    /// Wall-clock seconds when it was gone.
    pub closed: f64,
    /// "What should Claude do instead?" count before it opened.
    denials_before: usize,
    /// The prompt's text, whitespace removed.
    text: String,
}

/// The input values a permission request's preview shows (whitespace
/// removed, long ones cut), to find its prompt on the screen. The preview
/// is JSON, cut at 200 characters by Claude Code, so a cut one is read as
/// far as it goes.
fn preview_values(preview: &str) -> Vec<String> {
    let values: Vec<String> = match serde_json::from_str::<serde_json::Value>(preview) {
        Ok(serde_json::Value::Object(m)) => m
            .values()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => preview
            .split_once("\": \"")
            .map(|(_, rest)| rest.split('"').next().unwrap_or("").to_owned())
            .into_iter()
            .collect(),
    };
    values
        .iter()
        .map(|v| {
            squeeze(v.trim_end_matches('…'))
                .chars()
                .take(40)
                .collect::<String>()
        })
        .filter(|v| v.chars().count() >= 2)
        .collect()
}

impl Closed {
    /// Whether the pending request (`preview`, `requested_at`) is this
    /// prompt: one of its input values is on it; when the preview shows
    /// nothing usable, by time (the request comes as the prompt opens).
    fn is_for(&self, preview: &str, requested_at: f64) -> bool {
        let values = preview_values(preview);
        if values.is_empty() {
            return requested_at <= (self.opened + 2.0).min(self.closed - 0.2);
        }
        requested_at <= self.closed && values.iter().any(|v| self.text.contains(v.as_str()))
    }
}

/// The lines of an open permission prompt: from the rule above it down to
/// its question, which tells one prompt from the next.
fn prompt_on(screen: &str) -> Option<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let q = lines.iter().rposition(|l| l.contains(PROMPT_QUESTION))?;
    if !squeeze(&lines[q..].join("\n")).contains(PROMPT_YES) {
        return None;
    }
    let top = lines[..q]
        .iter()
        .rposition(|l| l.trim_start().starts_with("──"))
        .map_or(0, |i| i + 1);
    Some(squeeze(&lines[top..=q].join("\n")))
}

/// Whether a permission prompt is open (typed text would land in it).
pub fn prompt_open(screen: &str) -> bool {
    prompt_on(screen).is_some()
}

/// Follows permission prompts on the screen.
#[derive(Debug, Default)]
pub struct PromptWatch {
    open: Option<(String, f64, usize)>,
}

impl PromptWatch {
    /// Looks at the screen at wall time `now`; returns the prompt that just
    /// closed (gone, or replaced by another).
    pub fn step(&mut self, screen: &str, now: f64) -> Option<Closed> {
        let current = prompt_on(screen);
        let denials = squeeze(screen).matches(DENIED).count();
        let same = matches!((&self.open, &current), (Some((a, ..)), Some(b)) if a == b);
        if same {
            return None;
        }
        let closed = self
            .open
            .take()
            .map(|(text, opened, denials_before)| Closed {
                opened,
                closed: now,
                denials_before,
                text,
            });
        self.open = current.map(|id| (id, now, denials));
        closed
    }
}

/// What the person at the terminal chose, read from the screen after the
/// prompt closed.
fn outcome(c: &Closed, screen: &str) -> Behavior {
    if squeeze(screen).matches(DENIED).count() > c.denials_before {
        Behavior::Deny
    } else {
        Behavior::Allow
    }
}

/// Resolves, on the hub, the prompts this worker still has pending from
/// while the closed one was open: they were answered at the terminal.
async fn report_closed(hub: Client, worker: WorkerName, screen: Arc<Mutex<Screen>>, c: Closed) {
    tokio::time::sleep(OUTCOME_WAIT).await;
    let text = screen.lock().unwrap_or_else(|p| p.into_inner()).text();
    let behavior = outcome(&c, &text);
    let pending = match hub.pending_permissions(Some(&worker), true).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list pending permissions");
            return;
        }
    };
    for p in pending
        .iter()
        .filter(|p| c.is_for(&p.input_preview, p.requested_at))
    {
        match hub
            .permission_response(&worker, &p.request_id, behavior)
            .await
        {
            Ok(true) => tracing::info!(
                request_id = p.request_id,
                behavior = behavior.as_str(),
                "prompt answered at the terminal"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot report a prompt answered at the terminal"),
        }
    }
}

/// Watches `screen`, answers into `pty` and reports prompts answered at
/// the terminal to the hub, until aborted.
pub fn spawn(
    pty: Arc<Pty>,
    screen: Arc<Mutex<Screen>>,
    hub: Client,
    worker: WorkerName,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut dialogs = Dialogs::default();
        let mut prompts = PromptWatch::default();
        // The screen is looked at as soon as it changed (a prompt answered
        // quickly is still seen open), the dialogs' timers every TICK.
        let mut tick = tokio::time::interval(WATCH);
        let mut seen = u64::MAX;
        let mut stepped = Instant::now();
        loop {
            tick.tick().await;
            let (generation, text) = {
                let s = screen.lock().unwrap_or_else(|p| p.into_inner());
                let g = s.generation();
                let due = g != seen || stepped.elapsed() >= TICK;
                (g, due.then(|| s.text()))
            };
            let Some(text) = text else {
                continue;
            };
            if generation != seen {
                seen = generation;
                if let Some(closed) = prompts.step(&text, crate::epoch_secs()) {
                    tokio::spawn(report_closed(
                        hub.clone(),
                        worker.clone(),
                        screen.clone(),
                        closed,
                    ));
                }
            }
            if stepped.elapsed() < TICK {
                continue;
            }
            stepped = Instant::now();
            let result = match dialogs.step(&text, Instant::now()) {
                None => continue,
                Some(Answer::Keys(k)) => {
                    tracing::info!(keys = ?String::from_utf8_lossy(k), "answering a dialog");
                    pty.write_all(k).await
                }
                Some(Answer::Type(t)) => {
                    let (paste, enter) = paste_input(t);
                    match pty.write_all(&paste).await {
                        Ok(()) => {
                            tokio::time::sleep(Duration::from_millis(120)).await;
                            pty.write_all(enter).await
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            if result.is_err() {
                break;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = "WARNING: Loading development channels\n ❯ 1. I am using this for local\n development\n   2. Exit";

    #[test]
    fn dev_channels_answered_once_it_settles_and_never_again() {
        let t0 = Instant::now();
        let mut d = Dialogs::default();
        assert_eq!(d.step(DEV, t0), None, "not before it settles");
        assert_eq!(
            d.step(DEV, t0 + Duration::from_millis(500)),
            Some(Answer::Keys(b"\r"))
        );
        // Still there a moment later: no second Enter yet.
        assert_eq!(d.step(DEV, t0 + Duration::from_millis(900)), None);
        // Still there after the repeat pause: the Enter was lost; again.
        assert_eq!(
            d.step(DEV, t0 + Duration::from_secs(3)),
            Some(Answer::Keys(b"\r"))
        );
        assert_eq!(d.step("❯ ", t0 + Duration::from_secs(4)), None);
        // Gone, then shown again (say, a transcript): not answered.
        assert_eq!(d.step(DEV, t0 + Duration::from_secs(10)), None);
        assert_eq!(d.step(DEV, t0 + Duration::from_secs(20)), None);
    }

    #[test]
    fn tries_are_capped() {
        let t0 = Instant::now();
        let mut d = Dialogs::default();
        let answers = (0..40)
            .filter(|i| d.step(DEV, t0 + Duration::from_secs(*i)).is_some())
            .count();
        assert_eq!(answers, MAX_TRIES as usize);
    }

    #[test]
    fn legacy_project_channel_is_skipped_other_servers_are_not() {
        let t0 = Instant::now();
        let ask = |name: &str| {
            format!(
                "  New MCP server found in this project: {name}\n\n  MCP servers may execute code or access \
                 system resources.\n  ❯ 1. Use this MCP server\n    2. Use this and all future MCP servers \
                 in this project\n    3. Continue without using this MCP server"
            )
        };
        let mut d = Dialogs::default();
        let ours = ask("tubemail-channel");
        d.step(&ours, t0);
        assert_eq!(
            d.step(&ours, t0 + Duration::from_secs(1)),
            Some(Answer::Keys(b"3"))
        );
        for other in ["github", "tubemail-channel-2"] {
            let mut d = Dialogs::default();
            let screen = ask(other);
            d.step(&screen, t0);
            assert_eq!(
                d.step(&screen, t0 + Duration::from_secs(1)),
                None,
                "{other}"
            );
        }
    }

    #[test]
    fn resume_menu() {
        let t0 = Instant::now();
        let mut d = Dialogs::default();
        let menu = "❯ 1. Resume from summary (recommended)\n  2. Resume full session\n  3. Don't ask me again";
        d.step(menu, t0);
        assert_eq!(
            d.step(menu, t0 + Duration::from_secs(1)),
            Some(Answer::Keys(b"3\r"))
        );
    }

    #[test]
    fn rate_limit_backs_off_and_resets() {
        let t0 = Instant::now();
        let s = |n: u64| t0 + Duration::from_secs(n);
        let mut d = Dialogs::default();
        let one = "⎿ API Error: We are temporarily limiting requests";
        let two = format!("{one}\n> continue\n{one}");
        assert_eq!(d.step(one, s(0)), None);
        assert_eq!(d.step(one, s(14)), None);
        assert_eq!(d.step(one, s(15)), Some(Answer::Type("continue")));
        // The same message still on screen is not a new stop.
        assert_eq!(d.step(one, s(16)), None);
        // A second stop soon after waits longer.
        assert_eq!(d.step(&two, s(17)), None);
        assert_eq!(d.step(&two, s(46)), None);
        assert_eq!(d.step(&two, s(47)), Some(Answer::Type("continue")));
        // Quiet for a while: the next stop waits 15 s again.
        assert_eq!(d.step(&two, s(70)), None);
        let three = format!("{two}\n{one}");
        assert_eq!(d.step(&three, s(100)), None);
        assert_eq!(d.step(&three, s(115)), Some(Answer::Type("continue")));
        // With an API key Claude Code words it differently.
        let mut d = Dialogs::default();
        let key = "● API Error: Request rejected (429) · rate limited";
        assert_eq!(d.step(key, s(0)), None);
        assert_eq!(d.step(key, s(15)), Some(Answer::Type("continue")));
    }

    const PROMPT: &str = "● Bash(echo hi)\n  ⎿  Waiting…\n────────────\n Bash command\n\n   echo hi\n   say hi\n\n Do you want to proceed?\n ❯ 1. Yes\n   2. Yes, and always allow\n   3. No\n\n Esc to cancel";

    #[test]
    fn prompts_closing_and_their_outcome() {
        let mut w = PromptWatch::default();
        assert_eq!(w.step("❯ ", 1.0), None);
        assert_eq!(w.step(PROMPT, 2.0), None);
        assert_eq!(w.step(PROMPT, 3.0), None);
        let c = w.step("● Bash(echo hi)\n  ⎿  hi\n❯ ", 4.0).unwrap();
        assert_eq!((c.opened, c.closed), (2.0, 4.0));
        assert_eq!(outcome(&c, "● Bash(echo hi)\n  ⎿  hi"), Behavior::Allow);
        assert_eq!(
            outcome(&c, "  ⎿  Interrupted · What should Claude do instead?"),
            Behavior::Deny
        );
        // One prompt replaced by another counts as closed.
        assert_eq!(w.step(PROMPT, 5.0), None);
        let other = PROMPT.replace("echo hi", "echo ho");
        let c = w.step(&other, 6.0).unwrap();
        assert_eq!(c.opened, 5.0);
        assert!(w.step(&other, 7.0).is_none());
        // Its request is told apart from the next prompt's by what it shows.
        assert!(c.is_for(r#"{"command": "echo hi"}"#, 5.5));
        assert!(!c.is_for(r#"{"command": "make"}"#, 5.5));
        assert!(
            !c.is_for(r#"{"command": "echo hi"}"#, 6.5),
            "asked after it closed"
        );
        // A cut preview is read as far as it goes; none at all falls back
        // to the time the request came.
        assert!(!c.is_for(r#"{"command": "echo hi && echo mo…"#, 5.5));
        assert!(c.is_for(r#"{"command": "echo h…"#, 5.5));
        assert!(c.is_for("", 5.1));
        // Text that merely mentions the question is no prompt.
        assert_eq!(prompt_on("Do you want tea?"), None);
    }
}
