//! Reconnects one of claude's MCP servers by driving its `/mcp` dialog,
//! reading the rendered screen at every step.
//!
//! What Claude Code 2.1 shows (seen in a real session):
//!
//! ```text
//!   Manage MCP servers
//!   2 servers
//!   ❯ dummy · ✔ connected · 1 tool
//!     other · ✘ failed
//!  ↑/↓ to navigate · Enter to confirm · Esc to cancel
//! ```
//!
//! Enter on a server opens its detail view, whose numbered options include
//! `Reconnect` (typing the digit picks it), after which the transcript says
//! `Reconnected to other.` or `Failed to reconnect to other: <why>`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tubemail_pty::{Pty, Screen, paste_input};

/// How long each dialog step may take to appear.
const STEP: Duration = Duration::from_secs(5);
/// How long the reconnect itself may take.
const RECONNECT: Duration = Duration::from_secs(20);
/// Screen polling interval.
const POLL: Duration = Duration::from_millis(100);
/// Pause between arrow keys, so the TUI sees each one.
const KEY_GAP: Duration = Duration::from_millis(120);
/// Attempts for failures that come from timing (a dialog too slow to open).
const ATTEMPTS: u32 = 3;

const UP: &[u8] = b"\x1b[A";
const DOWN: &[u8] = b"\x1b[B";
const ESC: &[u8] = b"\x1b";

/// The answer sent back to the hub (`reconnect_mcp_result`) or the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub ok: bool,
    pub server: String,
    pub detail: String,
    pub attempts: u32,
}

/// A server row of the list: its name and whether the cursor is on it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    name: String,
    selected: bool,
}

fn strip_cursor(line: &str) -> (bool, &str) {
    let t = line.trim();
    match t.strip_prefix('❯') {
        Some(rest) => (true, rest.trim_start()),
        None => (false, t),
    }
}

/// The server rows of the list view, top to bottom.
fn server_rows(screen: &str) -> Vec<Row> {
    let Some(start) = screen.find("Manage MCP servers") else {
        return Vec::new();
    };
    screen[start..]
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (selected, t) = strip_cursor(line);
            let (name, rest) = t.split_once(" · ")?;
            let status = rest.to_lowercase();
            ["connect", "fail", "auth", "disabl", "pending"]
                .iter()
                .any(|w| status.contains(w))
                .then(|| Row {
                    name: name.trim().to_owned(),
                    selected,
                })
        })
        .collect()
}

/// The digit of the detail view's `Reconnect` (or `Restart`) option.
fn reconnect_option(screen: &str) -> Option<char> {
    screen.lines().find_map(|line| {
        let (_, t) = strip_cursor(line);
        let (num, label) = t.split_once(". ")?;
        let digit = num.chars().next().filter(|_| num.len() == 1)?;
        (digit.is_ascii_digit()
            && matches!(label.trim(), "Reconnect" | "Restart" | "Reconnect server"))
        .then_some(digit)
    })
}

/// Whether a level of the `/mcp` dialog is on screen (the list or a
/// server's detail view).
fn dialog_open(screen: &str) -> bool {
    !server_rows(screen).is_empty()
        || reconnect_option(screen).is_some()
        || screen.contains("Esc to back")
}

/// What the transcript says about reconnecting `server` under the newest
/// `/mcp` command, if anything yet (older attempts may still be on screen
/// above it).
fn verdict(screen: &str, server: &str) -> Option<Result<String, String>> {
    let ok = format!("Reconnected to {server}");
    let failed = format!("Failed to reconnect to {server}");
    let lines: Vec<&str> = screen.lines().collect();
    let ours = lines
        .iter()
        .rposition(|l| l.trim() == "❯ /mcp")
        .map_or(0, |i| i + 1);
    lines[ours..].iter().find_map(|line| {
        let t = line.trim().trim_start_matches('⎿').trim();
        if t.starts_with(&ok) {
            Some(Ok(t.to_owned()))
        } else if t.starts_with(&failed) {
            Some(Err(t.to_owned()))
        } else {
            None
        }
    })
}

/// The terminal the driver works on.
pub struct Tui<'a> {
    pub pty: &'a Pty,
    pub screen: &'a Mutex<Screen>,
}

impl Tui<'_> {
    fn text(&self) -> String {
        self.screen.lock().unwrap_or_else(|p| p.into_inner()).text()
    }

    async fn keys(&self, bytes: &[u8]) -> Result<(), String> {
        self.pty
            .write_all(bytes)
            .await
            .map_err(|e| format!("cannot write to claude: {e}"))?;
        tokio::time::sleep(KEY_GAP).await;
        Ok(())
    }

    async fn wait_for<T>(&self, within: Duration, f: impl Fn(&str) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = f(&self.text()) {
                return Some(v);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// One pass through the dialog. `Err((transient, why))`.
    async fn attempt(&self, server: &str) -> Result<String, (bool, String)> {
        let io = |e: String| (false, e);
        let (paste, enter) = paste_input("/mcp");
        self.keys(&paste).await.map_err(io)?;
        self.keys(enter).await.map_err(io)?;
        let rows = self
            .wait_for(STEP, |s| Some(server_rows(s)).filter(|r| !r.is_empty()))
            .await
            .ok_or((true, "the /mcp dialog did not open".to_owned()))?;
        let Some(target) = rows.iter().position(|r| r.name == server) else {
            let listed: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
            return Err((
                false,
                format!("no MCP server {server:?}; listed: {listed:?}"),
            ));
        };
        let at = rows.iter().position(|r| r.selected).unwrap_or(0);
        let step = if target > at { DOWN } else { UP };
        for _ in 0..target.abs_diff(at) {
            self.keys(step).await.map_err(io)?;
        }
        self.keys(b"\r").await.map_err(io)?;
        let digit = self.wait_for(STEP, reconnect_option).await.ok_or((
            true,
            "the server's detail view did not offer Reconnect".to_owned(),
        ))?;
        let mut buf = [0u8; 4];
        self.keys(digit.encode_utf8(&mut buf).as_bytes())
            .await
            .map_err(io)?;
        match self.wait_for(RECONNECT, |s| verdict(s, server)).await {
            Some(Ok(line)) => Ok(line),
            Some(Err(line)) => Err((false, line)),
            None => Err((
                false,
                format!(
                    "no confirmation within {}s; check the session",
                    RECONNECT.as_secs()
                ),
            )),
        }
    }

    /// Backs out of the `/mcp` dialog, one level at a time, and no further:
    /// an Esc too many at the empty prompt would open another dialog
    /// (two Escs there are Claude Code's "rewind").
    async fn close_dialog(&self) {
        for _ in 0..3 {
            if !dialog_open(&self.text()) {
                return;
            }
            let _ = self.keys(ESC).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Reconnects `server`, retrying steps that failed from timing. The
    /// dialog is closed again whenever an attempt fails.
    pub async fn reconnect_mcp(&self, server: &str) -> Outcome {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = self.attempt(server).await;
            let (ok, detail, retry) = match result {
                Ok(line) => (true, line, false),
                Err((transient, why)) => {
                    self.close_dialog().await;
                    (false, why, transient && attempts < ATTEMPTS)
                }
            };
            if !retry {
                return Outcome {
                    ok,
                    server: server.to_owned(),
                    detail,
                    attempts,
                };
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "\
❯ /mcp
────────────────
  Manage MCP servers
  2 servers
    Built-in MCPs (always available)
  ❯ dummy · ✔ connected · 1 tool
    tubemail-channel · ✘ failed
  ※ Run claude --debug to see error logs
  https://code.claude.com/docs/en/mcp for help
 ↑/↓ to navigate · Enter to confirm · Esc to cancel";

    const DETAIL: &str = "\
  Other MCP Server
  Status:           ✔ connected
  Tools: 1 tool
  ❯ 1. View tools
    2. Reconnect
    3. Disable
  ↑/↓ to navigate · Enter to select · Esc to back";

    #[test]
    fn reads_the_server_list() {
        let rows = server_rows(LIST);
        assert_eq!(
            rows,
            vec![
                Row {
                    name: "dummy".into(),
                    selected: true
                },
                Row {
                    name: "tubemail-channel".into(),
                    selected: false
                },
            ]
        );
        assert!(
            server_rows("❯ hello · world").is_empty(),
            "no dialog, no rows"
        );
    }

    #[test]
    fn knows_when_the_dialog_is_open() {
        assert!(dialog_open(LIST));
        assert!(dialog_open(DETAIL));
        assert!(!dialog_open("❯ /mcp\n  ⎿  MCP dialog dismissed\n❯ "));
    }

    #[test]
    fn finds_the_reconnect_option() {
        assert_eq!(reconnect_option(DETAIL), Some('2'));
        assert_eq!(
            reconnect_option("  ❯ 1. Reconnect\n    2. Disable"),
            Some('1')
        );
        assert_eq!(reconnect_option(LIST), None);
    }

    #[test]
    fn only_the_newest_command_counts() {
        let s = "❯ /mcp\n  ⎿  Failed to reconnect to other: -32000\n❯ /mcp\n  ⎿  Reconnected to other.\n";
        assert_eq!(
            verdict(s, "other"),
            Some(Ok("Reconnected to other.".to_owned()))
        );
        let s = "❯ /mcp\n  ⎿  Reconnected to other.\n❯ /mcp\n  ⎿  Failed to reconnect to other: -32000\n";
        assert_eq!(
            verdict(s, "other"),
            Some(Err("Failed to reconnect to other: -32000".to_owned()))
        );
        assert_eq!(verdict(s, "dummy"), None);
        // A verdict from an earlier reconnect is not this one's.
        let s = "❯ /mcp\n  ⎿  Reconnected to other.\n❯ /mcp\n  Manage MCP servers\n";
        assert_eq!(verdict(s, "other"), None);
    }
}
