//! HTTP request and response bodies of the hub's JSON API.
//!
//! The `/tubemail/{w}/*` and `/api/*` shapes are the original's; the rest
//! are ours (REST twins of the MCP tools).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::name::WorkerName;
use crate::wire::{Event, EventId, Flow, Meta, PendingPermission, RunLog, WorkerSummary};

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
    /// `POST /tubemail/{w}/permission-request`.
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
    /// `GET /api/workers`.
    pub struct WorkersResponse {
        /// Every registry entry, managers included.
        pub workers: Vec<WorkerSummary>,
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
    }
}
