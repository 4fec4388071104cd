//! When Claude Code starts listening for our channel notifications.
//!
//! Claude Code sets its handler for `notifications/claude/channel` a moment
//! after the MCP handshake and tells the server nothing; a notification
//! sent before that is dropped. It does log the moment, always (no
//! `--debug` needed), in its per-server MCP log:
//! `<cache>/claude-cli-nodejs/<project>/mcp-logs-<server>/<time>.jsonl`
//! gets a line `{"debug":"Channel notifications registered",…,"cwd":…}`
//! (seen with 2.1.197, 36 ms after the connection; the log reaches the
//! disk in batches, here about a second later). The channel waits for that
//! line while the log directory exists (up to a cap, in case a later
//! version words it differently); while it does not (another client, a
//! first session whose log is not flushed yet), it waits a fixed moment
//! after `initialized` as before, whichever comes first.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// What Claude Code logs when it sets the handler.
const REGISTERED: &str = "\"Channel notifications registered\"";
/// Without a log to watch: this long after `initialized` (enough for
/// 2.1.197 on an idle machine).
const SETTLE: Duration = Duration::from_millis(1500);
/// With a log to watch: at most this long, for a busy machine.
const LOG_CAP: Duration = Duration::from_secs(5);
/// How often the log is read.
const POLL: Duration = Duration::from_millis(50);

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

/// Whether a log in `dir` written since `since` says the handler for a
/// session in `cwd` is set.
pub fn registered(dir: &Path, cwd: &Path, since: SystemTime) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let cwd_field = match serde_json::to_string(&cwd.to_string_lossy()) {
        Ok(quoted) => format!("\"cwd\":{quoted}"),
        Err(_) => return false,
    };
    entries.filter_map(Result::ok).any(|e| {
        let path = e.path();
        let fresh = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= since);
        fresh
            && path.extension().is_some_and(|x| x == "jsonl")
            && std::fs::read_to_string(&path).is_ok_and(|text| {
                text.lines()
                    .any(|l| l.contains(REGISTERED) && l.contains(&cwd_field))
            })
    })
}

/// Returns once Claude Code listens for `server`'s channel notifications
/// (or once waiting longer makes no sense). `started` is when the MCP
/// session began (`since` the same on the wall clock, a little earlier is
/// fine).
pub async fn claude_listening(server: &str, started: Instant, since: SystemTime) {
    let dir = match (cache_home(), std::env::current_dir()) {
        (Some(cache), Ok(cwd)) => Some((log_dir(&cache, &cwd, server), cwd)),
        _ => None,
    };
    loop {
        let watching = dir.as_ref().filter(|(d, _)| d.is_dir());
        if let Some((d, cwd)) = watching {
            if registered(d, cwd, since) {
                tracing::info!(
                    after_ms = started.elapsed().as_millis(),
                    "Claude Code listens for channel notifications"
                );
                return;
            }
            if started.elapsed() >= LOG_CAP {
                tracing::warn!(
                    log = %d.display(),
                    "Claude Code's MCP log never said it listens for channel notifications; streaming anyway"
                );
                return;
            }
        } else if started.elapsed() >= SETTLE {
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
    fn only_a_fresh_registration_for_this_cwd_counts() {
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
        assert!(!registered(&dir.join("missing"), cwd, since));
        let log = dir.join("2026-11-26T01-12-32-847Z.jsonl");
        std::fs::write(&log, line("Successfully connected", "/work/proj \"a\"")).unwrap();
        assert!(!registered(dir, cwd, since));
        // Another project's session in the same log directory.
        std::fs::write(
            &log,
            line("Channel notifications registered", "/work/other"),
        )
        .unwrap();
        assert!(!registered(dir, cwd, since));
        let mut text = line("Successfully connected", "/work/proj \"a\"");
        text.push_str(&line(
            "Channel notifications registered",
            "/work/proj \"a\"",
        ));
        std::fs::write(&log, text).unwrap();
        assert!(registered(dir, cwd, since));
        // An older session's log does not count.
        assert!(!registered(
            dir,
            cwd,
            SystemTime::now() + Duration::from_secs(60)
        ));
        // Nor a file that is not a log.
        std::fs::rename(&log, dir.join("notes.txt")).unwrap();
        assert!(!registered(dir, cwd, since));
    }
}
