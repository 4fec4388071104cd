//! Wire types shared by the hub and its clients.
//!
//! Field names and shapes follow the original hub 1.2 so its clients work
//! unchanged; additions are new optional fields, never renamed ones.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::name::{FlowName, WorkerName};

/// A JSON object, as carried in `meta` fields.
pub type Meta = serde_json::Map<String, serde_json::Value>;

/// Seconds since the Unix epoch, as the original's `time.time()`.
pub type Timestamp = f64;

#[cfg(feature = "schema")]
use schemars::JsonSchema;

/// An event id: opaque to clients, but ordered (a later event has a greater
/// id, both as a number and as a string) so cursors are exact and resumable.
///
/// On the wire it is a zero-padded decimal string of at least 10 characters,
/// the width of the original's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId(pub u64);

impl EventId {
    /// Parses the wire form. Anything but an all-digit string is `None`
    /// (for instance the original hub's random ids).
    pub fn parse(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().map(EventId)
    }
}

/// A string that is not an event id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an event id: {0:?} (event ids are digits, e.g. 0000000042)")]
pub struct BadEventId(pub String);

impl std::str::FromStr for EventId {
    type Err = BadEventId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventId::parse(s.trim()).ok_or_else(|| BadEventId(s.to_owned()))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:010}", self.0)
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EventId::parse(&s).ok_or_else(|| serde::de::Error::custom("not an event id"))
    }
}

#[cfg(feature = "schema")]
impl JsonSchema for EventId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EventId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{10,20}$",
            "description": "ordered event id; compare as strings or numbers",
        })
    }
}

/// What happened on a worker's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A message to the worker (or a control command to a manager).
    Inbound,
    /// A reply or report from the worker.
    Outbound,
    /// The worker asks to run a tool.
    PermissionRequest,
    /// A permission prompt was answered.
    PermissionResponse,
    /// The worker was asked to stop what it is doing.
    Interrupt,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 5] = [
        EventKind::Inbound,
        EventKind::Outbound,
        EventKind::PermissionRequest,
        EventKind::PermissionResponse,
        EventKind::Interrupt,
    ];

    /// The wire name (`inbound`, `permission_request`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Inbound => "inbound",
            EventKind::Outbound => "outbound",
            EventKind::PermissionRequest => "permission_request",
            EventKind::PermissionResponse => "permission_response",
            EventKind::Interrupt => "interrupt",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Kinds a worker's own stream carries to it (outbound and
    /// permission requests come *from* the worker and are not echoed).
    pub fn is_delivered_to_worker(self) -> bool {
        matches!(
            self,
            EventKind::Inbound | EventKind::PermissionResponse | EventKind::Interrupt
        )
    }
}

/// One timeline event, in the original's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Event {
    /// Ordered id of the event.
    pub event_id: EventId,
    /// When the hub stored it.
    pub ts: Timestamp,
    /// What happened.
    pub kind: EventKind,
    /// Message text, tool name (permission_request) or behavior (permission_response).
    pub content: String,
    /// Free-form metadata.
    #[serde(default)]
    pub meta: Meta,
}

/// Whether a permission prompt is allowed or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Behavior {
    /// Let the tool run.
    Allow,
    /// Refuse the tool.
    Deny,
}

impl Behavior {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Behavior::Allow => "allow",
            Behavior::Deny => "deny",
        }
    }

    /// Parses `allow` / `deny`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allow" => Some(Behavior::Allow),
            "deny" => Some(Behavior::Deny),
            _ => None,
        }
    }
}

/// A permission prompt waiting for an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct PendingPermission {
    /// The worker that asked.
    pub worker: WorkerName,
    /// Claude Code's id for the prompt.
    pub request_id: String,
    /// The tool that wants to run.
    pub tool_name: String,
    /// Human description of the call.
    #[serde(default)]
    pub description: String,
    /// Preview of the tool input.
    #[serde(default)]
    pub input_preview: String,
    /// When the hub received the request.
    #[serde(default)]
    pub requested_at: Timestamp,
    /// Id of the `permission_request` event, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// Whether the worker's channel is connected now.
    #[serde(default)]
    pub online: bool,
    /// When the prompt is answered with its default answer if nobody
    /// answers first (absent = never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
}

/// The original's derived worker state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Nothing to do.
    Idle,
    /// Working on something.
    Busy,
    /// Blocked on a permission prompt.
    WaitingPermission,
    /// Not in the registry.
    Unknown,
}

/// Whether the worker process is reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Its stream is connected.
    Online,
    /// Not connected, and it did not say goodbye.
    Offline,
    /// Not connected after a clean exit (goodbye).
    Exited,
}

/// The signal that decided a worker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum StateSignal {
    /// At least one permission prompt is pending.
    PendingPermission,
    /// The manager watching the terminal reported activity (fresh < 30 s).
    ObservedActive,
    /// The manager watching the terminal reported no activity (fresh < 30 s).
    ObservedIdle,
    /// The last timeline event is a message the worker has not answered.
    UnansweredInbound,
    /// The unanswered message is older than 10 minutes.
    InboundDecayed,
    /// The worker was active after the message and then quiet for 60 s.
    QuietAfterInbound,
    /// The last timeline event is not an unanswered message.
    NoUnansweredInbound,
    /// The worker is not in the registry.
    UnknownWorker,
    /// Claude Code did not take the worker's channel: messages are stored
    /// but never reach the session (`detail` has the CLI's words).
    ChannelUnavailable,
    /// The worker's terminal shows a screen its manager does not know and
    /// input makes no progress (`detail` has the screen's last lines).
    Blocked,
}

/// A condition the worker side reports that keeps a worker from taking
/// messages, until it clears (or a new worker process registers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConditionSignal {
    /// Claude Code did not take the channel (an older or newer CLI, the
    /// development-channels flag missing, a variable or policy that turns
    /// channels off).
    ChannelUnavailable,
    /// A screen the manager does not know holds the terminal.
    Blocked,
}

impl ConditionSignal {
    /// The state signal this condition reports as.
    pub fn state_signal(self) -> StateSignal {
        match self {
            ConditionSignal::ChannelUnavailable => StateSignal::ChannelUnavailable,
            ConditionSignal::Blocked => StateSignal::Blocked,
        }
    }
}

/// What the worker side reports with `POST /tubemail/{w}/condition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct WorkerCondition {
    /// Which condition.
    pub signal: ConditionSignal,
    /// In the worker side's words: the CLI's reason, or the screen's last
    /// lines.
    #[serde(default)]
    pub detail: String,
}

/// Why a worker is in its state, and since when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct StateReason {
    /// The state this explains.
    pub state: WorkerState,
    /// The deciding signal.
    pub signal: StateSignal,
    /// Since when the signal holds (epoch seconds; 0 when unknown).
    pub since: Timestamp,
    /// For `channel_unavailable` and `blocked`: what the worker side saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A roster row, as `GET /api/workers` returns it (original fields first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct WorkerSummary {
    /// Worker name.
    pub name: WorkerName,
    /// Working directory it registered with.
    pub cwd: String,
    /// Whether its stream is connected.
    pub online: bool,
    /// Derived state (original algorithm).
    pub state: WorkerState,
    /// Last sign of life (epoch seconds).
    pub last_activity: Timestamp,
    /// Pending permission prompts.
    pub pending_count: usize,
    /// Events on its timeline.
    pub event_count: u64,
    /// Version string its forwarder registered with.
    pub forwarder_version: String,
    /// Whether it said goodbye.
    pub exited_cleanly: bool,
    /// Whether recording is on.
    pub recording_enabled: bool,
    /// Context window use reported by the manager.
    pub context_pct: Option<u8>,
    /// First registration (epoch seconds).
    pub registered_at: Timestamp,
    /// online / offline / exited.
    pub presence: Presence,
    /// Why `state` is what it is.
    pub state_reason: StateReason,
    /// Process id the channel registered with.
    pub pid: Option<i64>,
    /// Last manager observation of activity.
    pub observed_active: Option<bool>,
    /// Id of the newest timeline event.
    pub last_event_id: Option<EventId>,
    /// The Claude Code permission mode the worker runs in (`default`,
    /// `auto`, `acceptEdits`, `plan`, `bypassPermissions`), as its channel
    /// registered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
}

/// `tm_status` / `GET /api/workers/{w}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct WorkerStatus {
    /// Derived state, `unknown` for a worker not in the registry.
    pub state: WorkerState,
    /// Pending permission prompts.
    pub pending_count: usize,
    /// Last sign of life (epoch seconds).
    pub last_activity: Timestamp,
    /// Events on its timeline.
    pub event_count: u64,
    /// Why `state` is what it is.
    pub state_reason: StateReason,
    /// online / offline / exited (`None` for an unknown worker).
    pub presence: Option<Presence>,
    /// Id of the newest timeline event.
    pub last_event_id: Option<EventId>,
    /// The newest event the worker's stream has handed over.
    pub delivered_through: Option<EventId>,
    /// The newest event the worker confirmed it passed on to its session
    /// (the channel acknowledges each notification it writes to claude).
    #[serde(default)]
    pub acknowledged_through: Option<EventId>,
    /// The Claude Code permission mode the worker runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
}

/// Hub settings kept in `hub-config.json` (original keys and bounds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct HubConfig {
    /// New workers start recording.
    pub recording_enabled_by_default: bool,
    /// Rotate a recording file at this size (≥ 65 536).
    pub recording_max_bytes_per_file: u64,
    /// Recording files kept per worker (1–64).
    pub recording_keep_files: u32,
    /// Timeline events older than this many days are deleted (0 = kept
    /// forever; at most 36 500).
    #[serde(default)]
    pub retention_max_age_days: u32,
    /// Each worker keeps at most this many events, the oldest beyond it
    /// are deleted (0 = no limit; otherwise at least 100).
    #[serde(default)]
    pub retention_max_events_per_worker: u64,
    /// The database (`tubemail.db` with its write-ahead log) is kept under
    /// this many MiB: past 90 % of it the oldest events go, fleet-wide,
    /// until it is back under 80 % (0 = no limit; otherwise at least 16).
    #[serde(default)]
    pub retention_max_database_mib: u64,
    /// A permission prompt nobody answers within this many seconds gets
    /// `permission_default_answer` (0 = never expire; a matching rule's
    /// `timeout_secs` takes precedence).
    #[serde(default)]
    pub permission_timeout_secs: u64,
    /// The answer an expired prompt gets unless its rule says otherwise.
    #[serde(default = "default_answer_deny")]
    pub permission_default_answer: Behavior,
}

fn default_answer_deny() -> Behavior {
    Behavior::Deny
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            recording_enabled_by_default: false,
            recording_max_bytes_per_file: 5_242_880,
            recording_keep_files: 4,
            retention_max_age_days: 0,
            retention_max_events_per_worker: 0,
            retention_max_database_mib: 0,
            permission_timeout_secs: 0,
            permission_default_answer: Behavior::Deny,
        }
    }
}

impl HubConfig {
    /// Smallest accepted `recording_max_bytes_per_file`.
    pub const MIN_MAX_BYTES: u64 = 65_536;
    /// Largest accepted `retention_max_age_days` (a century).
    pub const MAX_RETENTION_DAYS: u32 = 36_500;
    /// Smallest accepted non-zero `retention_max_events_per_worker`.
    pub const MIN_RETENTION_EVENTS: u64 = 100;
    /// Smallest accepted non-zero `retention_max_database_mib` (the
    /// write-ahead log alone reaches ~16 MiB between checkpoints).
    pub const MIN_RETENTION_DATABASE_MIB: u64 = 32;
    /// Largest accepted `retention_max_database_mib` (1 TiB).
    pub const MAX_RETENTION_DATABASE_MIB: u64 = 1 << 20;
    /// Largest accepted `permission_timeout_secs` (and rule `timeout_secs`): a week.
    pub const MAX_PERMISSION_TIMEOUT_SECS: u64 = 604_800;

    /// Checks the bounds; the message reads after "invalid settings: ".
    pub fn validate(&self) -> Result<(), String> {
        if self.recording_max_bytes_per_file < Self::MIN_MAX_BYTES {
            return Err(format!(
                "recording_max_bytes_per_file must be >= {}",
                Self::MIN_MAX_BYTES
            ));
        }
        if !(1..=64).contains(&self.recording_keep_files) {
            return Err("recording_keep_files must be between 1 and 64".into());
        }
        if self.retention_max_age_days > Self::MAX_RETENTION_DAYS {
            return Err(format!(
                "retention_max_age_days must be between 0 (keep forever) and {}",
                Self::MAX_RETENTION_DAYS
            ));
        }
        if (1..Self::MIN_RETENTION_EVENTS).contains(&self.retention_max_events_per_worker) {
            return Err(format!(
                "retention_max_events_per_worker must be 0 (no limit) or at least {}",
                Self::MIN_RETENTION_EVENTS
            ));
        }
        if self.retention_max_database_mib != 0
            && !(Self::MIN_RETENTION_DATABASE_MIB..=Self::MAX_RETENTION_DATABASE_MIB)
                .contains(&self.retention_max_database_mib)
        {
            return Err(format!(
                "retention_max_database_mib must be 0 (no limit) or between {} and {}",
                Self::MIN_RETENTION_DATABASE_MIB,
                Self::MAX_RETENTION_DATABASE_MIB
            ));
        }
        if self.permission_timeout_secs > Self::MAX_PERMISSION_TIMEOUT_SECS {
            return Err(format!(
                "permission_timeout_secs must be between 0 (never expire) and {}",
                Self::MAX_PERMISSION_TIMEOUT_SECS
            ));
        }
        Ok(())
    }
}

/// What a permission rule does with a prompt it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum RuleVerdict {
    /// Answer `allow` at once.
    Allow,
    /// Answer `deny` at once.
    Deny,
    /// Leave it to a person (with the rule's timeout and default answer).
    Ask,
}

impl RuleVerdict {
    /// `allow`, `deny` or `ask`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleVerdict::Allow => "allow",
            RuleVerdict::Deny => "deny",
            RuleVerdict::Ask => "ask",
        }
    }
}

/// An operator-defined permission rule. Rules are an ordered list; the
/// first rule that matches a prompt decides it, and a prompt no rule
/// matches waits for a person with the global timeout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct PermissionRule {
    /// Stable id (the hub assigns one when empty).
    #[serde(default)]
    pub id: String,
    /// Free text shown with the decisions the rule makes.
    #[serde(default)]
    pub name: String,
    /// Worker name, exact or a glob (`*` any run, `?` one character).
    #[serde(default = "match_all")]
    pub worker: String,
    /// The worker's registered working directory, exact or a glob (absent
    /// = any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Tool name, exact or a glob (`Bash`, `mcp__*`).
    #[serde(default = "match_all")]
    pub tool: String,
    /// Regular expression searched in the tool's main argument when the
    /// input is Claude Code's JSON (`command`, `file_path`, `url`, …), else
    /// in the input preview (absent = any input); anchor both ends
    /// (`^git (status|diff)$`) for allow rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// What to do with a matching prompt.
    pub verdict: RuleVerdict,
    /// For `ask`: answer with `default_answer` after this many seconds
    /// (absent = the global `permission_timeout_secs`; 0 = never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// For `ask`: the answer on expiry (absent = the global
    /// `permission_default_answer`, deny unless configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_answer: Option<Behavior>,
}

/// Which rule made a decision (in the decision's event meta as `rule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct RuleRef {
    /// The rule's id.
    pub id: String,
    /// The rule's name (may be empty).
    #[serde(default)]
    pub name: String,
    /// Its position in the list when it matched (0-based).
    pub index: usize,
}

fn match_all() -> String {
    "*".to_owned()
}

/// A saved message template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Flow {
    /// Flow name.
    pub name: FlowName,
    /// Message text.
    pub body: String,
    /// Worker a run goes to when none is given.
    pub default_worker: Option<WorkerName>,
    /// Meta sent with every run.
    #[serde(default)]
    pub meta: Meta,
    /// First save.
    pub created_at: Timestamp,
    /// Last save.
    pub updated_at: Timestamp,
    /// Last run.
    pub last_run_at: Option<Timestamp>,
}

/// A flow as `tm_list_flows` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct FlowSummary {
    /// Flow name.
    pub name: FlowName,
    /// First 80 characters of the body, `…` when cut.
    pub body_preview: String,
    /// Worker a run goes to when none is given.
    pub default_worker: Option<WorkerName>,
    /// First save.
    pub created_at: Timestamp,
    /// Last save.
    pub updated_at: Timestamp,
    /// Last run.
    pub last_run_at: Option<Timestamp>,
}

impl From<&Flow> for FlowSummary {
    fn from(f: &Flow) -> Self {
        let mut preview: String = f.body.chars().take(80).collect();
        if f.body.chars().count() > 80 {
            preview.push('…');
        }
        FlowSummary {
            name: f.name.clone(),
            body_preview: preview,
            default_worker: f.default_worker.clone(),
            created_at: f.created_at,
            updated_at: f.updated_at,
            last_run_at: f.last_run_at,
        }
    }
}

/// One run of a flow with the events of its worker during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct RunLog {
    /// Run id (22 characters, URL-safe).
    pub run_id: String,
    /// The flow that ran.
    pub flow_name: FlowName,
    /// The worker it went to.
    pub worker: WorkerName,
    /// When it started.
    pub started_at: Timestamp,
    /// The message the run sent.
    pub first_event_id: EventId,
    /// When it was finished (`tm_finish_run`).
    pub finished_at: Option<Timestamp>,
    /// Worker events from the start to the finish (or now).
    pub events: Vec<Event>,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Health {
    /// Always `ok`.
    pub status: String,
    /// Always `tubemail`.
    pub service: String,
    /// Hub version.
    pub version: String,
    /// Git revision the hub was built from, when known.
    pub git_sha: String,
    /// Time since start, `{h}h {m}m` or `{m}m {s}s`.
    pub uptime: String,
    /// Size of the data dir in MiB.
    pub disk_mb: f64,
    /// No online worker has a pending permission.
    pub safe_to_restart: bool,
    /// Online workers, managers excluded.
    pub workers_online: usize,
    /// Registry entries, managers included.
    pub workers_total: usize,
    /// Pending permissions of online workers.
    pub pending_permissions: usize,
}

/// Where a send was routed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct SendReceipt {
    /// Id of the stored event.
    pub event_id: EventId,
    /// When it was stored.
    pub queued_at: Timestamp,
    /// `worker (tubemail channel)` or `manager (harness command)`.
    pub routed_to: String,
    /// The timeline it went to (the worker or its manager).
    pub worker: WorkerName,
    /// True when an idempotency key matched an earlier send.
    #[serde(default)]
    pub duplicate: bool,
    /// Set when the message is stored but cannot reach the worker's
    /// session yet (its channel is unavailable, or its terminal blocked):
    /// it is delivered once that clears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The answer to an append (`{event_id, ts}` in the original).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Appended {
    /// Id of the stored event.
    pub event_id: EventId,
    /// When it was stored.
    pub ts: Timestamp,
}

/// Harness (slash) commands that `tm_send` routes to the manager, which types
/// them into the TUI instead of delivering them as channel messages.
pub const HARNESS_COMMANDS: &[&str] = &[
    "/exit",
    "/quit",
    "/clear",
    "/reset",
    "/new",
    "/resume",
    "/continue",
    "/branch",
    "/fork",
    "/rename",
    "/compact",
    "/config",
    "/settings",
    "/model",
    "/effort",
    "/fast",
    "/theme",
    "/color",
    "/keybindings",
    "/permissions",
    "/allowed-tools",
    "/plan",
    "/diff",
    "/rewind",
    "/checkpoint",
    "/copy",
    "/export",
    "/add-dir",
    "/debug",
    "/doctor",
    "/hooks",
    "/context",
    "/cost",
    "/usage",
    "/status",
    "/stats",
    "/insights",
    "/ide",
    "/desktop",
    "/app",
    "/terminal-setup",
    "/statusline",
    "/sandbox",
    "/login",
    "/logout",
    "/upgrade",
    "/extra-usage",
    "/passes",
    "/privacy-settings",
    "/remote-control",
    "/rc",
    "/teleport",
    "/tp",
    "/autofix-pr",
    "/remote-env",
    "/mcp",
    "/chrome",
    "/install-github-app",
    "/install-slack-app",
    "/setup-bedrock",
    "/setup-vertex",
    "/memory",
    "/agents",
    "/init",
    "/help",
    "/verbose",
    "/btw",
    "/tasks",
    "/bashes",
    "/release-notes",
    "/powerup",
    "/reload-plugins",
    "/team-onboarding",
    "/plugin",
    "/voice",
    "/stickers",
    "/mobile",
    "/ios",
    "/android",
    "/web-setup",
];

/// True when the message's first word is a harness command.
pub fn is_harness_command(message: &str) -> bool {
    message
        .split_whitespace()
        .next()
        .is_some_and(|first| HARNESS_COMMANDS.contains(&first))
}

/// Turns `tm_keystroke` tokens into bytes: named keys (`enter`, `esc`, `up`,
/// …, case-insensitive) map to their sequences, anything else is typed as is,
/// with no separator between tokens (as the original).
pub fn keystroke_bytes(keys: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for token in keys.split_whitespace() {
        let seq: &[u8] = match token.to_ascii_lowercase().as_str() {
            "enter" => b"\r",
            "esc" | "escape" => b"\x1b",
            "up" => b"\x1b[A",
            "down" => b"\x1b[B",
            "right" => b"\x1b[C",
            "left" => b"\x1b[D",
            "tab" => b"\t",
            "backspace" => b"\x7f",
            "delete" => b"\x1b[3~",
            "space" => b" ",
            _ => token.as_bytes(),
        };
        out.extend_from_slice(seq);
    }
    out
}

/// The bytes of a [`hex`] string (either case); `None` unless it is whole
/// pairs of hex digits.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_order_as_strings_and_numbers() {
        let a = EventId(9);
        let b = EventId(10);
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        assert_eq!(a.to_string(), "0000000009");
        assert_eq!(EventId::parse("0000000010"), Some(b));
        assert_eq!(EventId::parse("ab12cd34ef"), None);
        assert_eq!(EventId::parse(""), None);
        assert_eq!(
            serde_json::to_string(&Event {
                event_id: b,
                ts: 1.5,
                kind: EventKind::PermissionRequest,
                content: "Bash".into(),
                meta: Meta::new(),
            })
            .unwrap(),
            r#"{"event_id":"0000000010","ts":1.5,"kind":"permission_request","content":"Bash","meta":{}}"#
        );
    }

    #[test]
    fn harness_routing() {
        assert!(is_harness_command("/compact"));
        assert!(is_harness_command("  /rename foo"));
        assert!(!is_harness_command("/nope"));
        assert!(!is_harness_command("please /compact"));
        assert!(!is_harness_command(""));
    }

    #[test]
    fn keystrokes() {
        assert_eq!(keystroke_bytes("hello world"), b"helloworld");
        assert_eq!(keystroke_bytes("ESC up Enter"), b"\x1b\x1b[A\r");
        assert_eq!(hex(&keystroke_bytes("tab")), "09");
        assert_eq!(unhex("03ff"), Some(vec![3, 255]));
        assert_eq!(unhex(&hex(b"\x1b[A")), Some(b"\x1b[A".to_vec()));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn config_bounds() {
        assert!(HubConfig::default().validate().is_ok());
        let c = HubConfig {
            recording_keep_files: 0,
            ..HubConfig::default()
        };
        assert!(c.validate().is_err());
        let c = HubConfig {
            recording_max_bytes_per_file: 1,
            ..HubConfig::default()
        };
        assert!(c.validate().is_err());
        for (days, events, ok) in [
            (0, 0, true),
            (30, 100, true),
            (36_501, 0, false),
            (0, 99, false),
        ] {
            let c = HubConfig {
                retention_max_age_days: days,
                retention_max_events_per_worker: events,
                ..HubConfig::default()
            };
            assert_eq!(c.validate().is_ok(), ok, "{days} days, {events} events");
        }
    }

    #[test]
    fn flow_preview_cuts_at_80_chars() {
        let f = Flow {
            name: FlowName::new("f").unwrap(),
            body: "é".repeat(81),
            default_worker: None,
            meta: Meta::new(),
            created_at: 0.0,
            updated_at: 0.0,
            last_run_at: None,
        };
        let s = FlowSummary::from(&f);
        assert_eq!(s.body_preview.chars().count(), 81);
        assert!(s.body_preview.ends_with('…'));
    }
}
