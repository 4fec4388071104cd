//! Commands to a worker's manager, and the manager's answers.
//!
//! The hub files a command as an inbound event on the manager's timeline
//! (`<worker>-manager`) with the command in `meta.kind`; the manager reads
//! it from its stream, acts on the worker's terminal and answers some of
//! them with an outbound event whose `meta.kind` names the answer. The
//! encoding is the original's, so its managers and ours understand both
//! hubs.

use serde::{Deserialize, Serialize};

#[cfg(feature = "schema")]
use schemars::JsonSchema;

use crate::name::WorkerName;
use crate::wire::{hex, unhex};

/// A command to a worker's manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerCommand {
    /// Type this text into claude's prompt and submit it (a harness
    /// command such as `/compact`, sent with `tm_send`).
    Type(String),
    /// `/clear` (the first step of clear-and-send).
    Clear,
    /// `/rename <name>` (clear-and-send restoring the session's name).
    Rename(WorkerName),
    /// Write these bytes to the terminal as they are.
    Keys(Vec<u8>),
    /// Answer with the screen's text, its last N lines when given
    /// (answer kind `screenshot`).
    Screenshot(Option<u32>),
    /// Answer with process health (answer kind `health_response`).
    HealthCheck,
    /// Reconnect one of claude's MCP servers (answer kind
    /// `reconnect_mcp_result`).
    ReconnectMcp(String),
    /// Restart claude; it continues its session.
    Restart,
    /// Restart to pick up a new manager (the idle-gated `tm_update_manager`).
    UpdateManager,
    /// Stop claude and the manager.
    Stop,
}

/// The `meta.kind` of a manager's answer to [`ManagerCommand::Screenshot`].
pub const SCREENSHOT_REPLY: &str = "screenshot";
/// The `meta.kind` of a manager's answer to [`ManagerCommand::HealthCheck`].
pub const HEALTH_REPLY: &str = "health_response";
/// The `meta.kind` of a manager's answer to [`ManagerCommand::ReconnectMcp`].
pub const RECONNECT_REPLY: &str = "reconnect_mcp_result";

impl ManagerCommand {
    /// The `meta.kind` that carries the command.
    pub fn kind(&self) -> String {
        match self {
            ManagerCommand::Type(text) => format!("type:{text}"),
            ManagerCommand::Clear => "clear".into(),
            ManagerCommand::Rename(name) => format!("rename:{name}"),
            ManagerCommand::Keys(bytes) => format!("keystroke:{}", hex(bytes)),
            ManagerCommand::Screenshot(None) => "screenshot".into(),
            ManagerCommand::Screenshot(Some(n)) => format!("screenshot:{n}"),
            ManagerCommand::HealthCheck => "health_check".into(),
            ManagerCommand::ReconnectMcp(server) => format!("reconnect_mcp:{server}"),
            ManagerCommand::Restart => "force_restart".into(),
            ManagerCommand::UpdateManager => "update_manager".into(),
            ManagerCommand::Stop => "force_stop".into(),
        }
    }

    /// The event's text, as a person reads it on the manager's timeline
    /// (the manager acts on [`kind`](Self::kind), never on this).
    pub fn content(&self) -> String {
        match self {
            ManagerCommand::Type(text) => text.clone(),
            ManagerCommand::Clear => "/clear".into(),
            ManagerCommand::Rename(name) => format!("/rename {name}"),
            ManagerCommand::Keys(_) => "keystroke".into(),
            ManagerCommand::Screenshot(_) => "screenshot".into(),
            _ => self.kind(),
        }
    }

    /// The `meta.kind` of the manager's answer, for the commands that get
    /// one.
    pub fn reply_kind(&self) -> Option<&'static str> {
        match self {
            ManagerCommand::Screenshot(_) => Some(SCREENSHOT_REPLY),
            ManagerCommand::HealthCheck => Some(HEALTH_REPLY),
            ManagerCommand::ReconnectMcp(_) => Some(RECONNECT_REPLY),
            _ => None,
        }
    }

    /// Reads a command from `meta.kind`; `None` for a kind this version
    /// does not know (or a malformed one), which a manager ignores.
    ///
    /// Besides what [`kind`](Self::kind) writes, it takes the original's
    /// other spellings: `restart`, `compact`.
    pub fn parse(kind: &str) -> Option<ManagerCommand> {
        if let Some((verb, arg)) = kind.split_once(':') {
            return match verb {
                "type" => Some(ManagerCommand::Type(arg.to_owned())),
                "keystroke" => unhex(arg)
                    .filter(|b| !b.is_empty())
                    .map(ManagerCommand::Keys),
                "screenshot" => arg
                    .parse()
                    .ok()
                    .map(|n| ManagerCommand::Screenshot(Some(n))),
                "rename" => WorkerName::new(arg).ok().map(ManagerCommand::Rename),
                "reconnect_mcp" if !arg.trim().is_empty() => {
                    Some(ManagerCommand::ReconnectMcp(arg.trim().to_owned()))
                }
                _ => None,
            };
        }
        Some(match kind {
            "screenshot" => ManagerCommand::Screenshot(None),
            "health_check" => ManagerCommand::HealthCheck,
            "force_stop" => ManagerCommand::Stop,
            "force_restart" | "restart" => ManagerCommand::Restart,
            "update_manager" => ManagerCommand::UpdateManager,
            "compact" => ManagerCommand::Type("/compact".into()),
            "clear" => ManagerCommand::Clear,
            _ => return None,
        })
    }
}

/// A manager's process health (`GET /api/workers/{w}/health`, `tm_health`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ManagerHealth {
    /// Whether claude runs.
    #[serde(default)]
    pub child_alive: bool,
    /// claude's process id.
    #[serde(default)]
    pub child_pid: Option<i64>,
    /// Processes in claude's tree, when it runs.
    #[serde(default)]
    pub processes: Option<u64>,
    /// CPU use of claude's tree over a short sample, in percent.
    #[serde(default)]
    pub cpu_percent: Option<f64>,
    /// Resident memory of claude's tree, MiB.
    #[serde(default)]
    pub memory_mb: Option<f64>,
    /// Resident memory of the manager, MiB.
    #[serde(default)]
    pub manager_memory_mb: Option<f64>,
    /// Seconds since the manager started claude.
    #[serde(default)]
    pub uptime_s: u64,
    /// Times claude was restarted before this run.
    #[serde(default)]
    pub restart_count: u32,
}

/// What a manager's MCP reconnect did (`POST
/// /api/workers/{w}/reconnect-mcp`, `tm_reconnect_mcp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ReconnectOutcome {
    /// Whether claude reported the server connected.
    #[serde(default)]
    pub ok: bool,
    /// The server.
    #[serde(default)]
    pub server: String,
    /// What claude said, or why it failed.
    #[serde(default)]
    pub detail: String,
    /// Attempts made.
    #[serde(default)]
    pub attempts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses_back() {
        let cmds = [
            ManagerCommand::Type("/compact".into()),
            ManagerCommand::Clear,
            ManagerCommand::Rename(WorkerName::new("w-tm").expect("name")),
            ManagerCommand::Keys(vec![0x1b, 0x0d]),
            ManagerCommand::Screenshot(None),
            ManagerCommand::Screenshot(Some(20)),
            ManagerCommand::HealthCheck,
            ManagerCommand::ReconnectMcp("github".into()),
            ManagerCommand::Restart,
            ManagerCommand::UpdateManager,
            ManagerCommand::Stop,
        ];
        for c in cmds {
            assert_eq!(ManagerCommand::parse(&c.kind()), Some(c.clone()), "{c:?}");
        }
    }

    #[test]
    fn the_originals_spellings() {
        assert_eq!(
            ManagerCommand::Keys(vec![0x1b, 0x0d]).kind(),
            "keystroke:1b0d"
        );
        assert_eq!(ManagerCommand::Screenshot(Some(5)).content(), "screenshot");
        assert_eq!(ManagerCommand::Keys(vec![1]).content(), "keystroke");
        assert_eq!(
            ManagerCommand::parse("restart"),
            Some(ManagerCommand::Restart)
        );
        assert_eq!(
            ManagerCommand::parse("compact"),
            Some(ManagerCommand::Type("/compact".into()))
        );
        for bad in [
            "keystroke:zz",
            "keystroke:",
            "reconnect_mcp: ",
            "screenshot:x",
            "dance",
        ] {
            assert_eq!(ManagerCommand::parse(bad), None, "{bad}");
        }
    }
}
