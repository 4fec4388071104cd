//! Whether, and when, Claude Code listens for our channel notifications.
//!
//! Claude Code sets its handler for `notifications/claude/channel` a moment
//! after the MCP handshake and tells the server nothing; a notification
//! sent before that is dropped. It does log its decision, always (no
//! `--debug` needed), in its per-server MCP log:
//! `<cache>/claude-cli-nodejs/<project>/mcp-logs-<server>/<time>.jsonl`
//! gets `{"debug":"Channel notifications registered",…,"cwd":…}`, or
//! `"Channel notifications skipped: <reason>"` when it will not deliver
//! (the development-channels flag missing, channels off by a flag, a
//! variable or a policy, a protocol revision without a channel path). Both
//! wordings are the same from 2.1.197 to 2.1.332; the log reaches the disk
//! in batches, about a second after the connection.
//!
//! [`follow`] reads that log and publishes a [`Listening`]: the channel
//! streams once claude listens, never while it skipped us (a notification
//! claude drops would count as delivered), and tells the hub and the user
//! why. Without a log to read (another client, a log not flushed yet) it
//! streams after a fixed moment, as without this check.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

/// What Claude Code logs when it sets the handler.
const REGISTERED: &str = "Channel notifications registered";
/// What it logs when it sets the handler again after `/mcp` reconnects.
const REREGISTERED: &str = "Channel notifications re-registered";
/// What it logs when it will not deliver, followed by the reason.
const SKIPPED: &str = "Channel notifications skipped: ";
/// Without a log to read: stream this long after the session began
/// (enough for 2.1.197 on an idle machine).
pub const SETTLE: Duration = Duration::from_millis(1500);
/// With a log that says nothing yet: stream anyway after this long (a busy
/// machine; a later version that words it differently).
const LOG_CAP: Duration = Duration::from_secs(5);
/// Stop reading the log after this long.
const GIVE_UP: Duration = Duration::from_secs(60);
/// How often the log is read.
const POLL: Duration = Duration::from_millis(50);

/// What is known about Claude Code taking the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listening {
    /// Nothing yet.
    Waiting,
    /// Its log says it listens.
    Registered,
    /// Its log says it will not deliver, and why (its words).
    Skipped(String),
    /// It has written no log where we look.
    NoLog,
    /// Its log says neither, [`LOG_CAP`] after the session began.
    Unconfirmed,
}

impl Listening {
    /// Whether the channel may stream now.
    pub fn may_stream(&self) -> bool {
        matches!(
            self,
            Listening::Registered | Listening::NoLog | Listening::Unconfirmed
        )
    }
}

/// Claude Code's MCP log directory for `server` when run in `cwd`: the
/// project's name there is its path with every character that is not an
/// ASCII letter or digit turned into `-`.
pub fn log_dir(cache: &Path, cwd: &Path, server: &str) -> PathBuf {
    let project: String = cwd
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    cache
        .join("claude-cli-nodejs")
        .join(project)
        .join(format!("mcp-logs-{server}"))
}

/// `$XDG_CACHE_HOME`, else `~/.cache`.
fn cache_home() -> Option<PathBuf> {
    match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(d) => Some(PathBuf::from(d)),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")),
    }
}

/// Claude Code's latest decision about the channel of a session in `cwd`,
/// from logs in `dir` written since `since`: [`Listening::Registered`],
/// [`Listening::Skipped`], or `None` when they say neither.
pub fn decision(dir: &Path, cwd: &Path, since: SystemTime) -> Option<Listening> {
    let entries = std::fs::read_dir(dir).ok()?;
    let cwd = cwd.to_string_lossy();
    let mut logs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since)
        })
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    // Named by their start time: the newest decision is the last one.
    logs.sort();
    let mut latest = None;
    for log in logs {
        let Ok(text) = std::fs::read_to_string(&log) else {
            continue;
        };
        for line in text.lines().filter(|l| l.contains("Channel notifications")) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if v["cwd"].as_str() != Some(cwd.as_ref()) {
                continue;
            }
            let msg = v["debug"].as_str().unwrap_or_default();
            if msg.starts_with(REGISTERED) || msg.starts_with(REREGISTERED) {
                latest = Some(Listening::Registered);
            } else if let Some(reason) = msg.strip_prefix(SKIPPED) {
                latest = Some(Listening::Skipped(reason.trim().to_owned()));
            }
        }
    }
    latest
}

/// Follows Claude Code's decision about `server`'s channel and publishes
/// it on `tx` until it is known (or reading on makes no sense). `started`
/// is when the channel began (`since` the same on the wall clock, a little
/// earlier is fine).
pub async fn follow(
    server: &str,
    started: Instant,
    since: SystemTime,
    tx: watch::Sender<Listening>,
) {
    let dir = match (cache_home(), std::env::current_dir()) {
        (Some(cache), Ok(cwd)) => Some((log_dir(&cache, &cwd, server), cwd)),
        _ => None,
    };
    loop {
        let elapsed = started.elapsed();
        let found = dir
            .as_ref()
            .filter(|(d, _)| d.is_dir())
            .map(|(d, cwd)| decision(d, cwd, since));
        match found {
            Some(Some(decided)) => {
                match &decided {
                    Listening::Skipped(reason) => {
                        tracing::warn!(reason = %reason, "Claude Code skipped the channel");
                    }
                    _ => tracing::info!(
                        after_ms = elapsed.as_millis(),
                        "Claude Code listens for channel notifications"
                    ),
                }
                tx.send_replace(decided);
                return;
            }
            Some(None) if elapsed >= LOG_CAP && *tx.borrow() == Listening::Waiting => {
                tracing::warn!(
                    "Claude Code's MCP log does not say yet whether it listens for channel notifications; streaming anyway"
                );
                tx.send_replace(Listening::Unconfirmed);
            }
            None if elapsed >= SETTLE && *tx.borrow() == Listening::Waiting => {
                tx.send_replace(Listening::NoLog);
            }
            _ => {}
        }
        if elapsed >= GIVE_UP {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_directory_is_the_path_with_dashes() {
        let dir = log_dir(
            Path::new("/h/.cache"),
            Path::new("/tmp/pytest-of-root/pytest-178/workers0/e2e_main.x"),
            "tubemail-channel",
        );
        assert_eq!(
            dir,
            Path::new(
                "/h/.cache/claude-cli-nodejs/-tmp-pytest-of-root-pytest-178-workers0-e2e-main-x/mcp-logs-tubemail-channel"
            )
        );
    }

    #[test]
    fn only_a_fresh_decision_for_this_cwd_counts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let since = SystemTime::now() - Duration::from_secs(5);
        let cwd = Path::new("/work/proj \"a\"");
        let line = |msg: &str, cwd: &str| {
            format!(
                "{{\"debug\":\"{msg}\",\"timestamp\":\"2026-11-26T01:12:33.784Z\",\"sessionId\":\"s\",\"cwd\":{}}}\n",
                serde_json::to_string(cwd).unwrap()
            )
        };
        assert_eq!(decision(&dir.join("missing"), cwd, since), None);
        let log = dir.join("2026-11-26T01-12-32-847Z.jsonl");
        std::fs::write(&log, line("Successfully connected", "/work/proj \"a\"")).unwrap();
        assert_eq!(decision(dir, cwd, since), None);
        // Another project's session in the same log directory.
        std::fs::write(
            &log,
            line("Channel notifications registered", "/work/other"),
        )
        .unwrap();
        assert_eq!(decision(dir, cwd, since), None);
        let mut text = line("Successfully connected", "/work/proj \"a\"");
        text.push_str(&line(
            "Channel notifications registered",
            "/work/proj \"a\"",
        ));
        std::fs::write(&log, &text).unwrap();
        assert_eq!(decision(dir, cwd, since), Some(Listening::Registered));
        // An older session's log does not count.
        assert_eq!(
            decision(dir, cwd, SystemTime::now() + Duration::from_secs(60)),
            None
        );
        // Nor a file that is not a log.
        std::fs::rename(&log, dir.join("notes.txt")).unwrap();
        assert_eq!(decision(dir, cwd, since), None);
    }

    #[test]
    fn a_skip_carries_the_cli_reason_and_the_latest_decision_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let since = SystemTime::now() - Duration::from_secs(5);
        let cwd = Path::new("/w");
        let line = |msg: &str| {
            format!(
                "{{\"debug\":{},\"timestamp\":\"t\",\"cwd\":\"/w\"}}\n",
                serde_json::to_string(msg).unwrap()
            )
        };
        let skipped = "Channel notifications skipped: server tubemail-channel not in --channels list for this session";
        let log = dir.join("2026-11-26T01-12-32-847Z.jsonl");
        std::fs::write(&log, line(skipped)).unwrap();
        let got = decision(dir, cwd, since);
        assert_eq!(
            got,
            Some(Listening::Skipped(
                "server tubemail-channel not in --channels list for this session".into()
            ))
        );
        assert!(!got.unwrap().may_stream());
        // A half-written last line is not a decision.
        std::fs::write(
            &log,
            format!("{}{{\"debug\":\"Channel notifications regis", line(skipped)),
        )
        .unwrap();
        assert!(matches!(
            decision(dir, cwd, since),
            Some(Listening::Skipped(_))
        ));
        // A reconnect that registers later wins, in a newer log.
        std::fs::write(
            dir.join("2026-11-26T01-20-00-000Z.jsonl"),
            line("Channel notifications re-registered after reconnect"),
        )
        .unwrap();
        assert_eq!(decision(dir, cwd, since), Some(Listening::Registered));
        assert!(Listening::Registered.may_stream());
        assert!(!Listening::Waiting.may_stream());
    }
}
