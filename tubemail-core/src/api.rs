//! HTTP request and response bodies of the hub's JSON API.
//!
//! The `/tubemail/{w}/*` and `/api/*` shapes are the original's; the rest
//! are ours (REST twins of the MCP tools).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::name::WorkerName;
use crate::wire::{
    Event, EventId, Flow, Meta, PendingPermission, RunLog, Timestamp, WorkerSummary,
};

#[cfg(feature = "schema")]
use schemars::JsonSchema;

macro_rules! wire_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(JsonSchema))]
        pub struct $name { $($body)* }
    };
}

wire_struct! {
    /// `POST /tubemail/{w}/register`.
    pub struct RegisterRequest {
        /// Working directory of the worker.
        pub cwd: String,
        /// Process id of the registering process (keeps its pending
        /// permissions across reconnects).
        #[serde(default)]
        pub pid: Option<i64>,
        /// Forwarder version string.
        #[serde(default)]
        pub forwarder_version: Option<String>,
        /// The Claude Code permission mode the session runs in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub permission_mode: Option<String>,
    }
}

wire_struct! {
    /// `{"worker", "cursor"}`.
    pub struct RegisterResponse {
        /// The worker.
        pub worker: WorkerName,
        /// Id of its newest event, or `""`.
        pub cursor: String,
    }
}

wire_struct! {
    /// `POST /tubemail/{w}/outbound`.
    pub struct OutboundRequest {
        /// Reply text.
        pub text: String,
        /// Metadata (`kind`: `ack`, `stop_relay`, `screenshot`, …).
        #[serde(default)]
        pub meta: Meta,
    }
}

wire_struct! {
    /// `POST /tubemail/{w}/permission-request`: a permission prompt as the
    /// channel relays it (also what the store keeps of it).
    #[derive(Default)]
    pub struct PermissionRequestBody {
        /// Claude Code's id for the prompt.
        #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
        pub request_id: String,
        /// The tool that wants to run.
        pub tool_name: String,
        /// Description of the call.
        #[serde(default)]
        pub description: String,
        /// Preview of the tool input.
        #[serde(default)]
        pub input_preview: String,
    }
}

wire_struct! {
    /// `POST /tubemail/{w}/permission-response` (answered at the worker).
    pub struct PermissionResponseBody {
        /// The prompt.
        pub request_id: String,
        /// `allow` or `deny`.
        pub behavior: crate::wire::Behavior,
    }
}

wire_struct! {
    /// `POST /tubemail/{w}/context-pct`: an integer 0–100 or null.
    pub struct ContextPctRequest {
        /// Percent of the context window in use.
        #[serde(default)]
        #[cfg_attr(feature = "schema", schemars(with = "Option<u8>", range(max = 100)))]
        pub pct: Value,
    }
}

wire_struct! {
    /// `POST /tubemail/{w}/condition`: the condition that holds now, or
    /// `null` when none does.
    pub struct ConditionRequest {
        /// The condition; `null` clears it.
        #[serde(default)]
        pub condition: Option<crate::wire::WorkerCondition>,
    }
}

wire_struct! {
    /// `POST /tubemail/{w}/active`.
    pub struct ActiveRequest {
        /// Whether the worker is working.
        #[serde(default)]
        #[cfg_attr(feature = "schema", schemars(with = "bool", required))]
        pub is_active: Value,
    }
}

wire_struct! {
    /// `POST /tubemail/{w}/delivered`: the worker passed events up to
    /// `through` on to its session.
    pub struct DeliveredRequest {
        /// Id of the newest event passed on.
        pub through: EventId,
    }
}

wire_struct! {
    /// `{"ok": bool}`.
    pub struct OkResponse {
        /// Whether it worked.
        pub ok: bool,
    }
}

wire_struct! {
    /// `{"ok": true, "changed": bool}`.
    pub struct ChangedResponse {
        /// Always true.
        pub ok: bool,
        /// Whether the value changed.
        pub changed: bool,
    }
}

wire_struct! {
    /// `{"ok", "request_id"}`.
    pub struct ResolveResponse {
        /// Whether a pending prompt was answered.
        pub ok: bool,
        /// The prompt.
        pub request_id: String,
    }
}

wire_struct! {
    /// `{"events": [...]}`.
    pub struct EventsResponse {
        /// Events, oldest first.
        pub events: Vec<Event>,
    }
}

wire_struct! {
    /// `GET /api/workers`: a page of the roster, in name order.
    pub struct WorkersResponse {
        /// Registry entries (managers included), up to the page's `limit`.
        pub workers: Vec<WorkerSummary>,
        /// The `after` cursor of the next page; `null` on the last one
        /// (and from hubs that do not page).
        #[serde(default)]
        pub next: Option<String>,
    }
}

wire_struct! {
    /// `GET /api/permissions`.
    pub struct PermissionsResponse {
        /// Pending prompts.
        pub pending: Vec<PendingPermission>,
    }
}

wire_struct! {
    /// `POST /api/permissions/resolve`.
    pub struct ResolveRequest {
        /// Worker that asked.
        pub worker: String,
        /// The prompt.
        pub request_id: String,
        /// `allow` or `deny`.
        pub behavior: String,
    }
}

wire_struct! {
    /// `{"ok": false, "error": ...}` — the original's soft errors (HTTP 200).
    pub struct SoftError {
        /// Always false.
        pub ok: bool,
        /// What was wrong.
        pub error: String,
        /// The worker's state, when it was refused for it (not idle).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub state: Option<crate::wire::WorkerState>,
    }
}

wire_struct! {
    /// `GET /api/flows`.
    pub struct FlowsResponse {
        /// Every flow, by name.
        pub flows: Vec<Flow>,
    }
}

wire_struct! {
    /// `POST /api/flows`.
    pub struct FlowSaveRequest {
        /// Flow name (required; an empty one is the original's soft error,
        /// `{"ok": false}`).
        pub name: String,
        /// Message text (required, as `name`).
        pub body: String,
        /// Worker a run goes to when none is given.
        #[serde(default)]
        pub default_worker: Option<String>,
        /// Meta sent with every run.
        #[serde(default)]
        pub meta: Option<Meta>,
    }
}

wire_struct! {
    /// `POST /api/flows/{name}/run`.
    pub struct FlowRunRequest {
        /// Target worker (else the flow's default).
        #[serde(default)]
        pub worker: Option<String>,
        /// Meta overlaid on the flow's.
        #[serde(default)]
        pub meta: Option<Meta>,
    }
}

wire_struct! {
    /// `{"ok": true, "run": RunLog}`.
    pub struct RunResponse {
        /// Always true.
        pub ok: bool,
        /// The run.
        pub run: RunLog,
    }
}

wire_struct! {
    /// `POST /api/workers/{w}/send` (`tm_send`).
    pub struct SendRequest {
        /// Message text; a harness command (`/compact`, …) goes to the manager.
        pub message: String,
        /// Metadata passed to the worker.
        #[serde(default)]
        pub meta: Option<Meta>,
        /// Repeating a key returns the first send's receipt instead of a duplicate.
        #[serde(default)]
        pub idempotency_key: Option<String>,
    }
}

wire_struct! {
    /// `POST /api/workers/{w}/keystroke` (`tm_keystroke`).
    pub struct KeystrokeRequest {
        /// Whitespace-separated tokens: named keys (`enter`, `esc`, `up`, …)
        /// or literal text; at least one.
        #[cfg_attr(feature = "schema", schemars(regex(pattern = r"\S")))]
        pub keys: String,
    }
}

wire_struct! {
    /// `POST /api/workers/{w}/clear-and-send` (`tm_clear_and_send`).
    pub struct ClearAndSendRequest {
        /// Message sent after `/clear`.
        pub message: String,
        /// Seconds between steps (0–30).
        #[serde(default = "default_delay")]
        pub delay_s: f64,
        /// Type `/rename <worker>` after `/clear`.
        #[serde(default = "default_true")]
        pub restore_name: bool,
    }
}

fn default_delay() -> f64 {
    1.5
}

fn default_true() -> bool {
    true
}

wire_struct! {
    /// `PUT /api/settings`: absent or `null` keys are left as they are.
    #[derive(Default)]
    pub struct SettingsPatch {
        /// New workers start recording.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub recording_enabled_by_default: Option<bool>,
        /// Rotate a recording file at this size (≥ 65 536).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub recording_max_bytes_per_file: Option<u64>,
        /// Recording files kept per worker (1–64).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub recording_keep_files: Option<u32>,
        /// Delete timeline events older than this many days (0 = keep forever).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub retention_max_age_days: Option<u32>,
        /// Keep at most this many events per worker (0 = no limit, else ≥ 100).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub retention_max_events_per_worker: Option<u64>,
        /// Keep the database under this many MiB (0 = no limit, else 32 to
        /// 1 048 576).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub retention_max_database_mib: Option<u64>,
        /// Answer unanswered permission prompts after this many seconds
        /// (0 = never expire).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub permission_timeout_secs: Option<u64>,
        /// The answer an expired prompt gets (`allow` or `deny`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub permission_default_answer: Option<crate::wire::Behavior>,
    }
}

wire_struct! {
    /// `GET /api/rules` (and the answer of `PUT /api/rules`): the ordered
    /// permission rules; `PUT` replaces the whole list with its body.
    pub struct RulesList {
        /// First match wins.
        pub rules: Vec<crate::wire::PermissionRule>,
    }
}

wire_struct! {
    /// `DELETE /api/rules/{id}`.
    pub struct RuleDeleted {
        /// Whether a rule was removed.
        pub ok: bool,
        /// The rule asked for.
        pub id: String,
    }
}

wire_struct! {
    /// `POST /api/rules/test`: a prompt to try the rules on (nothing is
    /// recorded).
    pub struct RuleTestRequest {
        /// The worker that would ask.
        pub worker: String,
        /// The tool.
        pub tool_name: String,
        /// The tool input preview.
        #[serde(default)]
        pub input_preview: String,
        /// The worker's working directory (defaults to the registered one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub project: Option<String>,
    }
}

wire_struct! {
    /// What the rules would do with a prompt.
    pub struct RuleDecision {
        /// The first rule that matches (absent = none: ask with the global
        /// settings).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub rule: Option<crate::wire::RuleRef>,
        /// `allow`, `deny` or `ask`.
        pub verdict: crate::wire::RuleVerdict,
        /// For `ask`: seconds until the default answer (0 = never).
        pub timeout_secs: u64,
        /// For `ask`: the answer on expiry.
        pub default_answer: crate::wire::Behavior,
    }
}

/// What a scoped token may do (`/api/tokens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub enum TokenKind {
    /// Acts as one worker and its manager only (what `claude-tm` needs).
    #[serde(rename = "worker")]
    Worker,
    /// Reads the operator API (`GET` under `/api`, not `/api/tokens`) and
    /// `/metrics`; changes nothing, and has no MCP.
    #[serde(rename = "operator-ro")]
    OperatorRo,
    /// Drives workers as an orchestrator does: the operator API and MCP,
    /// but no tokens and no worker-side (`/tubemail/*`) routes.
    #[serde(rename = "operator")]
    Operator,
}

impl TokenKind {
    /// The wire name: `worker`, `operator-ro` or `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Worker => "worker",
            TokenKind::OperatorRo => "operator-ro",
            TokenKind::Operator => "operator",
        }
    }

    /// The kind with this wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            TokenKind::Worker,
            TokenKind::OperatorRo,
            TokenKind::Operator,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for TokenKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

wire_struct! {
    /// A token as the hub lists it (never the token itself).
    pub struct TokenInfo {
        /// Id (use it to revoke).
        pub id: String,
        /// What it may do.
        pub kind: TokenKind,
        /// The worker a worker token acts as.
        pub worker: Option<String>,
        /// Label given at issue.
        pub label: String,
        /// Issue time (Unix seconds).
        pub created_at: Timestamp,
        /// Last successful use (Unix seconds, saved about once a minute).
        pub last_used_at: Option<Timestamp>,
        /// Revoked tokens authenticate nothing.
        pub revoked: bool,
    }
}

/// `POST /api/tokens`. The schema says what the hub enforces: a worker
/// token names its worker, an operator or operator-ro token names none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[cfg_attr(feature = "schema", schemars(extend("oneOf" = [
    {"properties": {"kind": {"const": "worker"}}, "required": ["worker"]},
    {"properties": {"kind": {"const": "operator-ro"}}, "not": {"required": ["worker"]}},
    {"properties": {"kind": {"const": "operator"}}, "not": {"required": ["worker"]}},
])))]
#[serde(deny_unknown_fields)]
pub struct TokenIssueRequest {
    /// `worker` (acts as one worker and its manager), `operator-ro` (GET
    /// under /api only) or `operator` (the operator API and MCP, no
    /// tokens: for an orchestrator).
    pub kind: TokenKind,
    /// The worker a `worker` token acts as (required for that kind, refused
    /// for the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// Free text to tell tokens apart (at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `POST /api/tokens`: a token just issued, the only time the hub shows
/// it. `Debug` leaves the token out.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct IssuedToken {
    /// The token: pass it as `Authorization: Bearer <token>` (or
    /// `TUBEMAIL_TOKEN`). The hub keeps only its hash.
    pub token: String,
    /// Its description.
    #[serde(flatten)]
    pub info: TokenInfo,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

wire_struct! {
    /// `GET /api/tokens`.
    pub struct TokensResponse {
        /// Oldest first.
        pub tokens: Vec<TokenInfo>,
    }
}

wire_struct! {
    /// `DELETE /api/tokens/{id}`.
    pub struct RevokeResponse {
        /// Always true.
        pub ok: bool,
        /// False when it was revoked already.
        pub revoked: bool,
    }
}

wire_struct! {
    /// `GET /api/whoami`: what the presented credential is.
    pub struct WhoAmI {
        /// `secret` (the shared secret: everything), `worker`, `operator-ro`
        /// or `operator`.
        pub kind: String,
        /// The token's id (absent for the shared secret).
        pub id: Option<String>,
        /// The worker a worker token acts as.
        pub worker: Option<String>,
    }
}

/// A body the hub answers either with `T` or with the original's soft
/// error (`{"ok": false, "error": …}`, HTTP 200).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(untagged)]
pub enum Reply<T> {
    /// Refused.
    Refused(SoftError),
    /// Done.
    Done(T),
}

impl<T> Reply<T> {
    /// `Ok(T)`, or the soft error's text.
    pub fn into_result(self) -> Result<T, String> {
        match self {
            Reply::Done(t) => Ok(t),
            Reply::Refused(e) => Err(e.error),
        }
    }

    /// A soft error saying `error`.
    pub fn refused(error: impl Into<String>) -> Self {
        Reply::Refused(SoftError {
            ok: false,
            error: error.into(),
            state: None,
        })
    }
}

wire_struct! {
    /// `POST /api/workers/{w}/interrupt` (`tm_interrupt`).
    pub struct InterruptResponse {
        /// Always true.
        pub ok: bool,
        /// The `interrupt` event.
        pub event_id: EventId,
    }
}

wire_struct! {
    /// A command filed for the worker's manager: restart, stop,
    /// update-manager.
    pub struct ControlResponse {
        /// Always true.
        pub ok: bool,
        /// The command's event (on the manager's timeline).
        pub event_id: EventId,
        /// The manager.
        pub routed_to: WorkerName,
    }
}

wire_struct! {
    /// `POST /api/workers/{w}/keystroke` (`tm_keystroke`).
    pub struct KeystrokeResponse {
        /// The command's event (on the manager's timeline).
        pub event_id: EventId,
        /// When it was stored.
        pub queued_at: Timestamp,
        /// The manager.
        pub routed_to: WorkerName,
        /// Bytes the keys encode to.
        pub bytes_sent: u64,
    }
}

wire_struct! {
    /// Which timeline each step of a clear-and-send went to.
    pub struct ClearAndSendRoutes {
        /// The manager (typed `/clear`).
        pub clear: WorkerName,
        /// The manager, when `/rename` was typed.
        pub rename: Option<WorkerName>,
        /// The worker (the message).
        pub message: WorkerName,
    }
}

wire_struct! {
    /// `POST /api/workers/{w}/clear-and-send` (`tm_clear_and_send`).
    pub struct ClearAndSendResponse {
        /// The `/clear` command.
        pub clear_event_id: EventId,
        /// The `/rename` command, if any.
        pub rename_event_id: Option<EventId>,
        /// The message to the worker.
        pub message_event_id: EventId,
        /// Pause between the steps, seconds.
        pub delay_s: f64,
        /// Whether the session name was restored.
        pub restored_name: bool,
        /// Timelines of each step.
        pub routed_to: ClearAndSendRoutes,
    }
}

wire_struct! {
    /// The 409 body of an operation that needs an idle worker.
    pub struct NotIdle {
        /// What was refused and why.
        pub detail: String,
        /// The state the worker is in.
        pub state: crate::wire::WorkerState,
    }
}

impl NotIdle {
    /// The refusal of an operation that needs an idle worker: the state
    /// by its wire name, then `what` to do about it.
    pub fn new(state: crate::wire::WorkerState, what: &str) -> Self {
        let name = serde_json::to_value(state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into());
        NotIdle {
            detail: format!("worker not idle (state={name}); {what}"),
            state,
        }
    }
}

wire_struct! {
    /// `GET /api/workers/{w}/screenshot` (`tm_screenshot`).
    pub struct ScreenshotResponse {
        /// The worker.
        pub worker: WorkerName,
        /// The screen's text.
        pub screen: String,
        /// The manager's answer event.
        pub event_id: EventId,
    }
}

wire_struct! {
    /// `POST /api/workers/{w}/reconnect-mcp` (`tm_reconnect_mcp`).
    pub struct ReconnectRequest {
        /// Server name as in claude's `/mcp` list.
        pub server: String,
    }
}

wire_struct! {
    /// `DELETE /api/workers/{w}`.
    pub struct PurgeResponse {
        /// Whether the worker existed.
        pub ok: bool,
        /// The worker.
        pub worker: WorkerName,
    }
}

wire_struct! {
    /// `POST /api/pty-ticket`.
    pub struct PtyTicketRequest {
        /// The worker whose terminal to open.
        pub worker: String,
    }
}

wire_struct! {
    /// A single-use ticket for `/api/events/stream?ticket=…`: a browser
    /// opens the event stream without the secret in its URL.
    pub struct StreamTicket {
        /// Pass as `?ticket=`.
        pub ticket: String,
        /// Seconds the ticket stays valid.
        pub ttl_s: u64,
    }
}

wire_struct! {
    /// A single-use ticket for `/ws/pty/{worker}?ticket=…`.
    pub struct PtyTicket {
        /// Always true.
        pub ok: bool,
        /// Pass as `?ticket=`.
        pub ticket: String,
        /// Seconds the ticket stays valid.
        pub ttl_s: u64,
        /// The worker it is for.
        pub worker: WorkerName,
    }
}

wire_struct! {
    /// `POST /api/workers/{w}/recording`.
    pub struct RecordingToggle {
        /// Record the worker's terminal (absent = off, as the original).
        #[serde(default)]
        pub enabled: bool,
    }
}

wire_struct! {
    /// `POST /api/flows`: the saved flow.
    pub struct FlowSaved {
        /// Always true.
        pub ok: bool,
        /// The flow as stored.
        pub flow: Flow,
    }
}

wire_struct! {
    /// `DELETE /api/flows/{name}`.
    pub struct FlowDeleted {
        /// Whether the flow existed.
        pub ok: bool,
        /// The name asked for.
        pub name: String,
    }
}

wire_struct! {
    /// `POST /api/flows/{name}/run` (`tm_run_flow`): a started run.
    pub struct RunStarted {
        /// Always true.
        #[serde(default = "default_true")]
        pub ok: bool,
        /// Run id.
        pub run_id: String,
        /// The message the run sent.
        pub first_event_id: EventId,
        /// When it was sent.
        pub queued_at: Timestamp,
        /// Target worker.
        pub worker: WorkerName,
    }
}

wire_struct! {
    /// `POST /api/flows/runs/{id}/finish` (`tm_finish_run`).
    pub struct RunFinished {
        /// Always true.
        pub ok: bool,
        /// The run.
        pub run_id: String,
        /// When it was marked finished.
        pub finished_at: Timestamp,
    }
}
