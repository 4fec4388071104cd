//! Answers Claude Code's start-up dialogs and rate-limit stops, reports
//! prompts answered at the terminal and dialogs nobody answers, all from
//! the rendered screen (read through [`claude_tm::screen`]):
//!
//! * the start-up dialogs of [`Dialog`] get their option chosen by its
//!   text: arrow keys until the cursor is on it, then Enter. Answered only
//!   while on screen during this child's life, with a few Enters at most
//!   (an Enter the TUI was not ready for is repeated). Prompts about any
//!   other MCP server are left to the user;
//! * "temporarily limiting requests" (claude.ai accounts) or "Request
//!   rejected (429)" (API keys) gets `continue` typed after 15, 30, 60, then
//!   120 s; a quiet spell after a retry resets the wait;
//! * a dialog claude-tm does not know, open for [`BLOCKED_AFTER`], is
//!   reported (the worker is blocked: nothing it is sent gets through) and
//!   never typed into;
//! * a permission prompt answered at the terminal is reported to the hub.
//!   Claude Code tells the channel nothing when the person at the terminal
//!   answers (seen with 2.1.197 and 2.1.332), so without this the hub would
//!   keep a ghost prompt. When a prompt leaves the screen, prompts of this
//!   worker the hub still holds from while it was open are resolved:
//!   `deny` when the screen then says the turn was interrupted ("What
//!   should Claude do instead?"), else `allow`. A prompt answered from the
//!   hub is no longer pending by then, so nothing is posted twice.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use claude_tm::screen::{self, Dialog};
use tokio::sync::watch;
use tubemail_client::Client;
use tubemail_client::core::{Behavior, ConditionSignal, WorkerCondition, WorkerName};
use tubemail_pty::{Pty, Screen, paste_input};

/// Time for the screen to show the outcome of a closed prompt.
const OUTCOME_WAIT: Duration = Duration::from_millis(1200);

/// How often the dialogs' timers are stepped.
const TICK: Duration = Duration::from_millis(200);
/// How often the screen is checked for a change (cheap when it did not).
const WATCH: Duration = Duration::from_millis(20);
/// A dialog must be on screen this long before it is answered (the TUI
/// draws before it listens).
const SETTLE: Duration = Duration::from_millis(400);
/// Pause before pressing Enter on the same dialog again.
const REPEAT: Duration = Duration::from_secs(2);
/// Pause after an arrow key, for the TUI to move its cursor.
const ARROW_GAP: Duration = Duration::from_millis(250);
/// Most Enters for one dialog.
const MAX_TRIES: u32 = 4;
/// Most arrow keys for one dialog (its list is a handful of lines).
const MAX_ARROWS: u32 = 12;
/// An unknown dialog open this long blocks the worker.
pub const BLOCKED_AFTER: Duration = Duration::from_secs(15);
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

/// One dialog, answered while it is visible.
#[derive(Debug, Default)]
struct OneShot {
    seen_since: Option<Instant>,
    /// The last key sent, and whether it was Enter.
    last_key: Option<(Instant, bool)>,
    enters: u32,
    arrows: u32,
    done: bool,
}

impl OneShot {
    /// The key to send now for `dialog` on `screen`, if any.
    fn step(
        &mut self,
        dialog: Dialog,
        screen: &str,
        visible: bool,
        now: Instant,
    ) -> Option<&'static [u8]> {
        if self.done {
            return None;
        }
        if !visible {
            if self.enters > 0 {
                // Answered and gone: never again for this child.
                self.done = true;
            }
            self.seen_since = None;
            return None;
        }
        let since = *self.seen_since.get_or_insert(now);
        let quiet = match self.last_key {
            None => now.duration_since(since) >= SETTLE,
            Some((at, true)) => now.duration_since(at) >= REPEAT,
            Some((at, false)) => now.duration_since(at) >= ARROW_GAP,
        };
        if !quiet {
            return None;
        }
        let Some(key) = screen::key_toward(screen, dialog.choice()) else {
            tracing::warn!(
                dialog = dialog.name(),
                "the dialog does not offer the expected option"
            );
            return None;
        };
        let enter = key == b"\r";
        if enter {
            if self.enters >= MAX_TRIES {
                return None;
            }
            self.enters += 1;
            if self.enters == MAX_TRIES {
                tracing::warn!(
                    dialog = dialog.name(),
                    "a start-up dialog stays on screen after {MAX_TRIES} answers"
                );
            }
        } else {
            if self.arrows >= MAX_ARROWS {
                return None;
            }
            self.arrows += 1;
        }
        self.last_key = Some((now, enter));
        Some(key)
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
    pub fn step(&mut self, text: &str, now: Instant) -> Option<Answer> {
        let on = screen::dialog(text);
        for (kind, state) in [
            (Dialog::DevChannels, &mut self.dev_channels),
            (Dialog::ResumeMenu, &mut self.resume),
            (Dialog::LegacyChannel, &mut self.legacy_channel),
        ] {
            if let Some(key) = state.step(kind, text, on == Some(kind), now) {
                tracing::info!(dialog = kind.name(), "answering a dialog");
                return Some(Answer::Keys(key));
            }
        }
        // A rate-limit message more than before is a new stop.
        let count = screen::rate_limits(text);
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

/// Follows dialogs nobody answers: `Some(Some(lines))` once one has been
/// open for [`BLOCKED_AFTER`] (report it), `Some(None)` once it is gone
/// (clear the report), `None` while nothing changes.
#[derive(Debug, Default)]
pub struct BlockedWatch {
    since: Option<Instant>,
    reported: bool,
}

impl BlockedWatch {
    pub fn step(&mut self, text: &str, now: Instant) -> Option<Option<String>> {
        match screen::unknown_dialog(text) {
            Some(lines) => {
                let since = *self.since.get_or_insert(now);
                if !self.reported && now.duration_since(since) >= BLOCKED_AFTER {
                    self.reported = true;
                    return Some(Some(lines));
                }
                None
            }
            None => {
                self.since = None;
                if self.reported {
                    self.reported = false;
                    return Some(None);
                }
                None
            }
        }
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
            screen::squeeze(v.trim_end_matches('…'))
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

/// Follows permission prompts on the screen.
#[derive(Debug, Default)]
pub struct PromptWatch {
    open: Option<(String, f64, usize)>,
}

impl PromptWatch {
    /// Looks at the screen at wall time `now`; returns the prompt that just
    /// closed (gone, or replaced by another).
    pub fn step(&mut self, text: &str, now: f64) -> Option<Closed> {
        let current = screen::prompt_on(text);
        let denials = screen::denials(text);
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
fn outcome(c: &Closed, text: &str) -> Behavior {
    if screen::denials(text) > c.denials_before {
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

/// Tells the hub, in order and retrying while it is away, that a dialog
/// nobody answers blocks the worker (`Some`, with the lines a person needs
/// to see: its `state_reason` becomes `blocked`), or that it is gone
/// (`None`). Only the newest news is sent.
fn spawn_blocked_reporter(hub: Client, worker: WorkerName) -> watch::Sender<Option<String>> {
    let (tx, mut rx) = watch::channel(None::<String>);
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            loop {
                let lines = rx.borrow_and_update().clone();
                match &lines {
                    Some(l) => {
                        tracing::warn!(screen = %l, "a dialog claude-tm does not know blocks the worker");
                    }
                    None => tracing::info!("the unknown dialog is gone"),
                }
                let condition = lines.map(|detail| WorkerCondition {
                    signal: ConditionSignal::Blocked,
                    detail,
                });
                match hub.set_condition(&worker, condition.as_ref()).await {
                    Ok(_) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot report the blocked screen; retrying");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        }
    });
    tx
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
        let mut blocked = BlockedWatch::default();
        let blocked_news = spawn_blocked_reporter(hub.clone(), worker.clone());
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
            if let Some(change) = blocked.step(&text, stepped) {
                blocked_news.send_replace(change);
            }
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

    const DEV: &str = "WARNING: Loading development channels\n ❯ 1. I am using this for local\n        development\n   2. Exit\n Enter to confirm · Esc to cancel";

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

    /// The "New MCP server" question with the cursor on option `at`,
    /// numbered (2.1.197) or not (2.1.260 and later).
    fn ask(name: &str, at: usize, numbered: bool) -> String {
        let options = [
            "Use this MCP server",
            "Use this and all future MCP servers in this project",
            "Continue without using this MCP server",
        ];
        let lines: Vec<String> = options
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let cursor = if i == at { "❯ " } else { "  " };
                let number = if numbered {
                    format!("{}. ", i + 1)
                } else {
                    String::new()
                };
                format!("  {cursor}{number}{o}")
            })
            .collect();
        format!(
            "  New MCP server found in this project: {name}\n\n  MCP servers may execute code or access \
             system resources.\n{}\n  Enter to confirm · Esc to cancel",
            lines.join("\n")
        )
    }

    #[test]
    fn legacy_project_channel_is_declined_by_text_other_servers_are_not() {
        for numbered in [true, false] {
            let t0 = Instant::now();
            let at = |ms: u64| t0 + Duration::from_millis(ms);
            let mut d = Dialogs::default();
            assert_eq!(d.step(&ask("tubemail-channel", 0, numbered), at(0)), None);
            // Down to the third option, one key per redraw, then Enter.
            assert_eq!(
                d.step(&ask("tubemail-channel", 0, numbered), at(500)),
                Some(Answer::Keys(b"\x1b[B"))
            );
            assert_eq!(d.step(&ask("tubemail-channel", 1, numbered), at(600)), None);
            assert_eq!(
                d.step(&ask("tubemail-channel", 1, numbered), at(800)),
                Some(Answer::Keys(b"\x1b[B"))
            );
            assert_eq!(
                d.step(&ask("tubemail-channel", 2, numbered), at(1100)),
                Some(Answer::Keys(b"\r"))
            );
            // A cursor past the option moves back up.
            let mut d = Dialogs::default();
            d.step(&ask("tubemail-channel", 2, numbered), at(0));
            assert_eq!(
                d.step(&ask("tubemail-channel", 2, numbered), at(500)),
                Some(Answer::Keys(b"\r"))
            );
            for other in ["github", "tubemail-channel-2"] {
                let mut d = Dialogs::default();
                let screen = ask(other, 0, numbered);
                d.step(&screen, t0);
                assert_eq!(d.step(&screen, at(1000)), None, "{other}");
            }
        }
    }

    #[test]
    fn resume_menu() {
        let t0 = Instant::now();
        let mut d = Dialogs::default();
        let menu = "  ❯ 1. Resume from summary (recommended)\n    2. Resume full session\n    3. Don't ask me again";
        d.step(menu, t0);
        assert_eq!(
            d.step(menu, t0 + Duration::from_secs(1)),
            Some(Answer::Keys(b"\x1b[B"))
        );
        let last = "    1. Resume from summary (recommended)\n    2. Resume full session\n  ❯ 3. Don't ask me again";
        assert_eq!(
            d.step(last, t0 + Duration::from_secs(2)),
            Some(Answer::Keys(b"\r"))
        );
    }

    #[test]
    fn an_unknown_dialog_is_reported_after_a_while_and_cleared() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let unknown =
            "● done\n  Pick a theme\n  ❯ 1. Dark\n    2. Light\n  Enter to confirm · Esc to cancel";
        let mut w = BlockedWatch::default();
        assert_eq!(w.step(unknown, at(0)), None);
        assert_eq!(w.step(unknown, at(14)), None);
        let lines = w.step(unknown, at(15)).flatten().unwrap();
        assert!(lines.contains("Pick a theme"), "{lines}");
        assert_eq!(w.step(unknown, at(30)), None, "reported once");
        assert_eq!(w.step("❯ \n  ? for shortcuts", at(31)), Some(None));
        assert_eq!(w.step("❯ ", at(32)), None);
        // Dialogs claude-tm answers, and permission prompts, are not blocks.
        let mut w = BlockedWatch::default();
        for s in [DEV, &ask("tubemail-channel", 0, false)] {
            assert_eq!(w.step(s, at(0)), None);
            assert_eq!(w.step(s, at(60)), None);
        }
        // And nothing ever types into it.
        let mut d = Dialogs::default();
        assert!((0..60).all(|i| d.step(unknown, at(i)).is_none()));
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
        assert_eq!(screen::prompt_on("Do you want tea?"), None);
    }
}
