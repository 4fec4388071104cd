//! The 32 tools, with the original's names, parameters, defaults and
//! result shapes.

use std::time::Duration;

use rmcp::RoleServer;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::ProgressNotificationParam;
use rmcp::service::RequestContext;
use rmcp::{schemars, tool, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};
use tubemail_core::api::{
    ControlResponse, FlowDeleted, InterruptResponse, KeystrokeResponse, NotIdle, PurgeResponse,
    RunFinished,
};
use tubemail_core::engine::{ControlOutcome, Error as EngineError};
use tubemail_core::limits;
use tubemail_core::recording::{FramesQuery, RecordError};
use tubemail_core::{
    Behavior, Event, FlowName, FlowSummary, ManagerCommand, Meta, PendingPermission, SendReceipt,
    WorkerName, WorkerStatus,
};

use super::{
    HubMcp, INSTRUCTIONS, ToolResult, any_object, dict, fail, list, list_of, object_of, text,
};

/// Longest wait of `tm_wait_for_activity`, below MCP clients' timeouts.
const MAX_WAIT: Duration = Duration::from_secs(45);
/// Progress notifications while a wait runs (when the client asked).
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Validates a worker name or returns an explanatory tool error.
macro_rules! worker {
    ($raw:expr) => {
        match WorkerName::new($raw.as_str()) {
            Ok(name) => name,
            Err(e) => {
                return fail(format!(
                    "invalid worker name {:?}: {e}. Worker names are 1-64 letters, digits, \
                     spaces, '_', '.' or '-', starting with a letter or digit (see tm_list_workers).",
                    $raw
                ))
            }
        }
    };
}

/// Unwraps an engine result or returns it as a tool error.
macro_rules! engine {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return engine_failure(e),
        }
    };
}

pub(super) fn engine_failure(e: EngineError) -> ToolResult {
    match e {
        EngineError::InvalidName(n) => fail(format!("invalid worker name: {n}")),
        EngineError::NotFound(m) | EngineError::BadRequest(m) => fail(m),
        EngineError::ShuttingDown => fail("the hub is shutting down; retry in a moment"),
        other if other.is_storage_full() => fail("the hub's storage is full; nothing was stored"),
        other => {
            tracing::error!(error = ?other, "tool failed");
            fail("internal error in the hub (see its log)")
        }
    }
}

/// `{"worker": ...}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WorkerArgs {
    /// Worker name, e.g. `myproject-tm` (see tm_list_workers).
    worker: String,
}

/// Arguments of tm_list_workers.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ListWorkersArgs {
    /// Also list workers whose name does not end in `-tm` (stale or foreign entries).
    #[serde(default)]
    include_stale: bool,
}

/// Arguments of tm_send.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SendArgs {
    /// Worker name.
    worker: String,
    /// The message. A leading harness command (`/compact`, `/clear`, …) is typed into the worker's terminal by its manager instead.
    message: String,
    /// Optional metadata delivered with the message (string keys; `idempotency_key` makes retries safe).
    #[serde(default)]
    meta: Option<Meta>,
}

/// Arguments of tm_receive.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReceiveArgs {
    /// Worker name.
    worker: String,
    /// Only events after this event_id; omit for the newest `limit` events.
    #[serde(default)]
    since: Option<String>,
    /// Most events to return (default 100).
    #[serde(default = "default_receive_limit")]
    limit: i64,
}

fn default_receive_limit() -> i64 {
    100
}

/// Arguments of tm_my_inbox.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct MyInboxArgs {
    /// Most events to return (default 20).
    #[serde(default = "default_inbox_limit")]
    limit: i64,
}

fn default_inbox_limit() -> i64 {
    20
}

/// Arguments of tm_wait_for_activity.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WaitArgs {
    /// Worker name.
    worker: String,
    /// Wait for events after this event_id (use the id tm_send returned); omit to wait for events from now on.
    #[serde(default)]
    since: Option<String>,
    /// Seconds to wait (default 30, at most 45); returns [] on timeout.
    #[serde(default = "default_wait")]
    timeout_s: f64,
}

fn default_wait() -> f64 {
    30.0
}

/// Optional worker filter.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct MaybeWorkerArgs {
    /// Only this worker; omit for all.
    #[serde(default)]
    worker: Option<String>,
}

/// Arguments of tm_respond_permission.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RespondArgs {
    /// Worker that asked.
    worker: String,
    /// The request_id from tm_pending_permissions.
    request_id: String,
    /// `allow` or `deny`.
    #[schemars(extend("enum" = ["allow", "deny"]))]
    behavior: String,
}

/// Arguments of tm_keystroke.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct KeystrokeArgs {
    /// Worker name.
    worker: String,
    /// Whitespace-separated keys: enter, esc, up, down, left, right, tab, backspace, delete, space, or literal text (tokens are joined without spaces).
    keys: String,
}

/// Arguments of tm_update_manager.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct UpdateManagerArgs {
    /// Worker name.
    worker: String,
    /// Update even when the worker is not idle.
    #[serde(default)]
    force: bool,
}

/// Arguments of tm_clear_and_send.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ClearAndSendArgs {
    /// Worker name (must be idle).
    worker: String,
    /// Message sent after /clear.
    message: String,
    /// Seconds between steps (default 1.5, at most 30).
    #[serde(default = "default_delay")]
    delay_s: f64,
    /// Type `/rename <worker>` after /clear so the session keeps its name (default true).
    #[serde(default = "default_true")]
    restore_name: bool,
}

fn default_delay() -> f64 {
    1.5
}

fn default_true() -> bool {
    true
}

/// Arguments of tm_reconnect_mcp.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReconnectArgs {
    /// Worker whose MCP server to reconnect.
    worker: String,
    /// MCP server name as in that worker's /mcp list.
    server: String,
}

/// Arguments of tm_self_reconnect_mcp.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SelfReconnectArgs {
    /// MCP server name as in your own /mcp list.
    server: String,
}

/// Arguments of tm_screenshot.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ScreenshotArgs {
    /// Worker name.
    worker: String,
    /// Last lines of the screen to return (default 50).
    #[serde(default = "default_lines")]
    max_lines: i64,
}

fn default_lines() -> i64 {
    50
}

/// Arguments of tm_recording_toggle.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RecordingToggleArgs {
    /// Worker name.
    worker: String,
    /// Record the worker's terminal.
    enabled: bool,
}

/// Arguments of tm_get_recording.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct GetRecordingArgs {
    /// Worker name.
    worker: String,
    /// ISO-8601 time, inclusive.
    #[serde(default)]
    since: Option<String>,
    /// ISO-8601 time, exclusive.
    #[serde(default)]
    until: Option<String>,
    /// Regular expression the frame text must match.
    #[serde(default)]
    grep: Option<String>,
    /// Most frames (default 200).
    #[serde(default = "default_frames")]
    limit: i64,
}

fn default_frames() -> i64 {
    200
}

/// Arguments of tm_save_flow.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SaveFlowArgs {
    /// Flow name (same rules as worker names).
    name: String,
    /// Message text the flow sends.
    body: String,
    /// Worker a run goes to when tm_run_flow gets none.
    #[serde(default)]
    default_worker: Option<String>,
    /// Metadata sent with every run.
    #[serde(default)]
    meta: Option<Meta>,
}

/// Arguments of tm_run_flow.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RunFlowArgs {
    /// Flow name.
    name: String,
    /// Target worker (else the flow's default_worker).
    #[serde(default)]
    worker: Option<String>,
    /// Metadata overlaid on the flow's.
    #[serde(default)]
    meta: Option<Meta>,
}

/// `{"run_id": ...}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RunIdArgs {
    /// Run id from tm_run_flow.
    run_id: String,
}

/// `{"name": ...}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct NameArgs {
    /// Flow name.
    name: String,
}

/// Who is calling: the `X-TM-Worker` header of the MCP request, else the
/// hub's own `TM_WORKER_NAME` (the original's only source).
fn caller(ctx: &RequestContext<RoleServer>) -> Option<String> {
    ctx.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.headers.get("x-tm-worker"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| std::env::var("TM_WORKER_NAME").ok())
        .filter(|s| !s.is_empty())
}

fn parse_json_reply(ev: &Event) -> Value {
    serde_json::from_str(&ev.content).unwrap_or_else(|_| json!({"raw": ev.content}))
}

#[tool_router(vis = "pub(super)")]
impl HubMcp {
    #[tool(
        description = "List workers as a text table: status, manager, version, state and directory, grouped by project."
    )]
    async fn tm_list_workers(&self, Parameters(a): Parameters<ListWorkersArgs>) -> ToolResult {
        text(super::table::render(
            &self.state.engine.workers(),
            a.include_stale,
        ))
    }

    #[tool(
        description = "Send a message to a worker. Harness commands (/compact, /clear, …) are routed to its manager, which types them into the terminal. Returns the event_id to use as `since` when waiting for the reply.",
        output_schema = object_of::<SendReceipt>()
    )]
    async fn tm_send(&self, Parameters(a): Parameters<SendArgs>) -> ToolResult {
        let w = worker!(a.worker);
        dict(engine!(
            self.state
                .engine
                .send(&w, a.message, a.meta.unwrap_or_default(), None)
                .await
        ))
    }

    #[tool(
        description = "Read a worker's timeline (inbound, outbound, permission_request, permission_response, interrupt events), oldest first. Replies from the worker are `outbound` events.",
        output_schema = list_of::<Event>()
    )]
    async fn tm_receive(&self, Parameters(a): Parameters<ReceiveArgs>) -> ToolResult {
        let w = worker!(a.worker);
        let limit = limits::events_per_read(a.limit);
        list(engine!(
            self.state
                .engine
                .events(&w, a.since.as_deref(), limit, false)
                .await
        ))
    }

    #[tool(
        description = "A worker's state (idle, busy, waiting_permission, unknown) with the signal that decided it, pending permission count, last activity and event count.",
        output_schema = object_of::<WorkerStatus>()
    )]
    async fn tm_status(&self, Parameters(a): Parameters<WorkerArgs>) -> ToolResult {
        let w = worker!(a.worker);
        dict(self.state.engine.status(&w))
    }

    #[tool(
        description = "Your own inbox, when you are a TubeMail worker (identity from the X-TM-Worker header of your MCP connection).",
        output_schema = any_object()
    )]
    async fn tm_my_inbox(
        &self,
        Parameters(a): Parameters<MyInboxArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let Some(me) = caller(&ctx) else {
            return dict(
                json!({"error": "TM_WORKER_NAME not set — tm_my_inbox only works from inside a claude-tm session (send an X-TM-Worker header)"}),
            );
        };
        let w = worker!(me);
        let limit = limits::events_per_read(a.limit);
        let events = engine!(self.state.engine.events(&w, None, limit, false).await);
        dict(json!({"worker": w, "events": events}))
    }

    #[tool(
        description = "Wait until a worker's timeline has events after `since` (or, without it, new events from now) and return them; [] after timeout_s (at most 45 s). Pass the event_id from tm_send to catch the reply.",
        output_schema = list_of::<Event>()
    )]
    async fn tm_wait_for_activity(
        &self,
        Parameters(a): Parameters<WaitArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let w = worker!(a.worker);
        let since = match a.since.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match tubemail_core::EventId::parse(raw) {
                Some(id) => Some(id),
                None => {
                    return fail(format!(
                        "unknown since {raw:?}: pass an event_id from tm_send or tm_receive, or omit it to wait from now"
                    ));
                }
            },
        };
        let secs = if a.timeout_s.is_finite() {
            a.timeout_s.max(0.0)
        } else {
            0.0
        };
        let timeout = Duration::from_secs_f64(secs).min(MAX_WAIT);
        let wait = self.state.engine.wait_for_activity(&w, since, timeout);
        tokio::pin!(wait);
        let token = ctx.meta.get_progress_token();
        let mut ticks = tokio::time::interval(PROGRESS_EVERY);
        ticks.tick().await;
        let mut elapsed = 0.0;
        loop {
            tokio::select! {
                r = &mut wait => return list(engine!(r)),
                () = ctx.ct.cancelled() => return list(Vec::<Event>::new()),
                () = self.state.shutdown.cancelled() => return list(Vec::<Event>::new()),
                _ = ticks.tick() => {
                    elapsed += PROGRESS_EVERY.as_secs_f64();
                    if let Some(token) = token.clone() {
                        let mut p = ProgressNotificationParam::new(token, elapsed);
                        p.total = Some(timeout.as_secs_f64());
                        p.message = Some(format!("waiting for {w}"));
                        let _ = ctx.peer.notify_progress(p).await;
                    }
                }
            }
        }
    }

    #[tool(
        description = "Pending permission prompts (all workers, or one), including workers that are offline now.",
        output_schema = list_of::<PendingPermission>()
    )]
    async fn tm_pending_permissions(
        &self,
        Parameters(a): Parameters<MaybeWorkerArgs>,
    ) -> ToolResult {
        let w = match a.worker.filter(|w| !w.is_empty()) {
            Some(raw) => Some(worker!(raw)),
            None => None,
        };
        list(self.state.engine.pending_permissions(w.as_ref(), false))
    }

    #[tool(
        description = "Answer a pending permission prompt with `allow` or `deny`. ok=false when it is no longer pending.",
        output_schema = any_object()
    )]
    async fn tm_respond_permission(&self, Parameters(a): Parameters<RespondArgs>) -> ToolResult {
        let w = worker!(a.worker);
        let Some(behavior) = Behavior::parse(&a.behavior) else {
            return fail(format!(
                "behavior must be 'allow' or 'deny', not {:?}",
                a.behavior
            ));
        };
        let ok = engine!(
            self.state
                .engine
                .resolve_permission(&w, &a.request_id, behavior)
                .await
        );
        dict(json!({"ok": ok}))
    }

    #[tool(
        description = "Drop permission prompts the timeline proves answered (a later reply exists and the request is over a minute old).",
        output_schema = any_object()
    )]
    async fn tm_sweep_stale_permissions(
        &self,
        Parameters(a): Parameters<MaybeWorkerArgs>,
    ) -> ToolResult {
        let w = match a.worker.filter(|w| !w.is_empty()) {
            Some(raw) => Some(worker!(raw)),
            None => None,
        };
        let swept = engine!(self.state.engine.sweep_permissions(w.as_ref()).await);
        let total: usize = swept.values().sum();
        dict(json!({"swept": swept, "total": total}))
    }

    #[tool(description = "Interrupt what the worker is doing.", output_schema = any_object())]
    async fn tm_interrupt(&self, Parameters(a): Parameters<WorkerArgs>) -> ToolResult {
        let w = worker!(a.worker);
        let ev = engine!(self.state.engine.interrupt(&w).await);
        dict(InterruptResponse {
            ok: true,
            event_id: ev.event_id,
        })
    }

    #[tool(description = "Restart the worker's claude (it continues its session) via its manager.", output_schema = any_object())]
    async fn tm_restart(&self, Parameters(a): Parameters<WorkerArgs>) -> ToolResult {
        self.control(&a.worker, ManagerCommand::Restart).await
    }

    #[tool(description = "Stop the worker (claude and its manager) via its manager.", output_schema = any_object())]
    async fn tm_stop(&self, Parameters(a): Parameters<WorkerArgs>) -> ToolResult {
        self.control(&a.worker, ManagerCommand::Stop).await
    }

    #[tool(description = "Remove a worker from the registry with its timeline (online workers too).", output_schema = any_object())]
    async fn tm_purge_worker(&self, Parameters(a): Parameters<WorkerArgs>) -> ToolResult {
        let w = worker!(a.worker);
        let ok = engine!(self.state.engine.purge(&w).await);
        dict(PurgeResponse { ok, worker: w })
    }

    #[tool(description = "Type keys into the worker's terminal via its manager.", output_schema = any_object())]
    async fn tm_keystroke(&self, Parameters(a): Parameters<KeystrokeArgs>) -> ToolResult {
        let w = worker!(a.worker);
        let (sent, bytes) = engine!(self.state.engine.keystroke(&w, &a.keys).await);
        dict(KeystrokeResponse {
            event_id: sent.event_id,
            queued_at: sent.queued_at,
            routed_to: sent.worker,
            bytes_sent: bytes as u64,
        })
    }

    #[tool(description = "Ask the worker's manager to update itself and restart. Refused unless the worker is idle, or force=true.", output_schema = any_object())]
    async fn tm_update_manager(&self, Parameters(a): Parameters<UpdateManagerArgs>) -> ToolResult {
        let w = worker!(a.worker);
        match engine!(self.state.engine.update_manager(&w, a.force).await) {
            Ok(sent) => dict(json!({
                "event_id": sent.event_id, "queued_at": sent.queued_at, "routed_to": sent.worker,
                "forced": a.force,
                "note": "the manager updates itself and restarts claude with --continue",
            })),
            Err(state) => dict(json!({
                "error": NotIdle::new(state, "pass force=True to override").detail,
                "state": state,
                "pending_count": self.state.engine.status(&w).pending_count,
            })),
        }
    }

    #[tool(description = "For an idle worker: /clear, then /rename <worker> (restore_name), then the message, with delay_s between steps.", output_schema = any_object())]
    async fn tm_clear_and_send(&self, Parameters(a): Parameters<ClearAndSendArgs>) -> ToolResult {
        let w = worker!(a.worker);
        match engine!(
            self.state
                .engine
                .clear_and_send(&w, a.message, a.delay_s, a.restore_name)
                .await
        ) {
            Ok(done) => dict(done),
            Err(state) => dict(json!({
                "error": NotIdle::new(state, "clear+send is only safe when idle").detail,
                "state": state,
                "pending_count": self.state.engine.status(&w).pending_count,
            })),
        }
    }

    #[tool(description = "Reconnect one of a worker's MCP servers (its manager drives the /mcp dialog); waits up to 30 s for the result.", output_schema = any_object())]
    async fn tm_reconnect_mcp(
        &self,
        Parameters(a): Parameters<ReconnectArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        if caller(&ctx).as_deref() == Some(a.worker.as_str()) {
            return dict(json!({
                "ok": false,
                "server": a.server,
                "detail": "you are asking to reconnect your own MCP server through the hub; use your channel's mcp__tubemail-channel__reconnect_mcp tool instead (it works even when the hub is unreachable)",
                "suggested_tool": "mcp__tubemail-channel__reconnect_mcp",
            }));
        }
        self.reconnect(&a.worker, &a.server).await
    }

    #[tool(description = "Reconnect one of your own MCP servers via your manager (identity from the X-TM-Worker header).", output_schema = any_object())]
    async fn tm_self_reconnect_mcp(
        &self,
        Parameters(a): Parameters<SelfReconnectArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        match caller(&ctx) {
            Some(me) => self.reconnect(&me, &a.server).await,
            None => dict(
                json!({"error": "TM_WORKER_NAME not set — tm_self_reconnect_mcp only works from inside a claude-tm session (send an X-TM-Worker header)"}),
            ),
        }
    }

    #[tool(description = "Process health from the worker's manager (cpu_percent, memory_mb, uptime_s, child_alive, restart_count); waits up to 5 s.", output_schema = any_object())]
    async fn tm_health(&self, Parameters(a): Parameters<WorkerArgs>) -> ToolResult {
        let w = worker!(a.worker);
        match engine!(self.state.engine.health_check(&w).await) {
            ControlOutcome::Answered(ev) => dict(parse_json_reply(&ev)),
            ControlOutcome::TimedOut(_) => dict(
                json!({"error": "manager did not respond within 5s", "child_alive": "unknown"}),
            ),
        }
    }

    #[tool(description = "Turn terminal recording on or off for a worker.", output_schema = any_object())]
    async fn tm_recording_toggle(
        &self,
        Parameters(a): Parameters<RecordingToggleArgs>,
    ) -> ToolResult {
        let w = worker!(a.worker);
        match self.state.terminals.set_recording(&w, a.enabled).await {
            Ok(()) => {
                let mut status = match self.recording_status(&w).await {
                    Ok(s) => s,
                    Err(e) => return e,
                };
                status["ok"] = json!(true);
                dict(status)
            }
            Err(EngineError::NotFound(_)) => {
                dict(json!({"ok": false, "error": format!("unknown worker: '{w}'")}))
            }
            Err(e) => engine_failure(e),
        }
    }

    #[tool(description = "Recording state and files of a worker.", output_schema = any_object())]
    async fn tm_recording_status(&self, Parameters(a): Parameters<WorkerArgs>) -> ToolResult {
        let w = worker!(a.worker);
        match self.recording_status(&w).await {
            Ok(status) => dict(status),
            Err(e) => e,
        }
    }

    #[tool(description = "Recorded terminal text frames of a worker, oldest first, filtered by time and a regex.", output_schema = any_object())]
    async fn tm_get_recording(&self, Parameters(a): Parameters<GetRecordingArgs>) -> ToolResult {
        let w = worker!(a.worker);
        let query = FramesQuery {
            since: a.since,
            until: a.until,
            grep: a.grep,
            limit: limits::frames_per_read(Some(a.limit)),
        };
        match self.state.terminals.frames(&w, query).await {
            Ok(frames) => dict(frames),
            Err(e @ (RecordError::BadRegex(_) | RecordError::BadTime(_))) => fail(e.to_string()),
            Err(e) => {
                tracing::error!(error = ?e, "recordings unreadable");
                fail("could not read the recordings (see the hub's log)")
            }
        }
    }

    #[tool(description = "The text on the worker's screen, from its manager; waits up to 5 s.")]
    async fn tm_screenshot(&self, Parameters(a): Parameters<ScreenshotArgs>) -> ToolResult {
        let w = worker!(a.worker);
        let lines = limits::screenshot_lines(a.max_lines);
        match engine!(self.state.engine.screenshot(&w, Some(lines)).await) {
            ControlOutcome::Answered(ev) => text(ev.content),
            ControlOutcome::TimedOut(_) => {
                text("(manager did not respond within 5s — may be offline)")
            }
        }
    }

    #[tool(description = "How to use TubeMail's tools.")]
    async fn get_instructions(&self) -> ToolResult {
        text(INSTRUCTIONS)
    }

    #[tool(
        description = "Tell the client to re-read the tool list (sends notifications/tools/list_changed)."
    )]
    async fn refresh_tools(&self, ctx: RequestContext<RoleServer>) -> ToolResult {
        if let Err(e) = ctx.peer.notify_tool_list_changed().await {
            tracing::debug!(error = %e, "could not send tools/list_changed");
        }
        text("Tool list refreshed. New and changed tools are now available.")
    }

    #[tool(description = "Save (or overwrite) a flow: a named message you can run on a worker later.", output_schema = any_object())]
    async fn tm_save_flow(&self, Parameters(a): Parameters<SaveFlowArgs>) -> ToolResult {
        let Ok(name) = FlowName::new(a.name.as_str()) else {
            return dict(json!({"ok": false, "error": format!("invalid flow name: '{}'", a.name)}));
        };
        let default_worker = match a.default_worker.filter(|w| !w.is_empty()) {
            Some(raw) => Some(worker!(raw)),
            None => None,
        };
        if a.body.is_empty() {
            return dict(json!({"ok": false, "error": "name and body required"}));
        }
        let flow = engine!(
            self.state
                .engine
                .save_flow(name, a.body, default_worker, a.meta.unwrap_or_default())
                .await
        );
        dict(json!({"ok": true, "name": flow.name, "saved_at": flow.updated_at}))
    }

    #[tool(description = "Every saved flow with a preview of its body.", output_schema = list_of::<FlowSummary>())]
    async fn tm_list_flows(&self) -> ToolResult {
        list(self.state.engine.flow_summaries())
    }

    #[tool(description = "Send a flow's message to a worker (or its default_worker); returns a run_id for tm_get_run_log.", output_schema = any_object())]
    async fn tm_run_flow(&self, Parameters(a): Parameters<RunFlowArgs>) -> ToolResult {
        let Ok(name) = FlowName::new(a.name.as_str()) else {
            return dict(json!({"ok": false, "error": format!("flow not found: '{}'", a.name)}));
        };
        let w = match a.worker.filter(|w| !w.is_empty()) {
            Some(raw) => Some(worker!(raw)),
            None => None,
        };
        match self
            .state
            .engine
            .run_flow(&name, w, a.meta.unwrap_or_default())
            .await
        {
            Ok(started) => dict(started),
            Err(EngineError::NotFound(m) | EngineError::BadRequest(m)) => {
                dict(json!({"ok": false, "error": m}))
            }
            Err(e) => engine_failure(e),
        }
    }

    #[tool(description = "A flow run with every event of its worker from the run's start to its finish (or now).", output_schema = any_object())]
    async fn tm_get_run_log(&self, Parameters(a): Parameters<RunIdArgs>) -> ToolResult {
        match engine!(self.state.engine.run_log(&a.run_id).await) {
            Some(run) => {
                let mut v = json!(run);
                v["ok"] = json!(true);
                dict(v)
            }
            None => dict(json!({"ok": false, "error": format!("run not found: '{}'", a.run_id)})),
        }
    }

    #[tool(description = "Mark a flow run finished (its log stops collecting events).", output_schema = any_object())]
    async fn tm_finish_run(&self, Parameters(a): Parameters<RunIdArgs>) -> ToolResult {
        match engine!(self.state.engine.finish_run(&a.run_id).await) {
            Some(finished_at) => dict(RunFinished {
                ok: true,
                run_id: a.run_id,
                finished_at,
            }),
            None => dict(json!({"ok": false, "error": format!("run not found: '{}'", a.run_id)})),
        }
    }

    #[tool(description = "Delete a flow (its run logs stay).", output_schema = any_object())]
    async fn tm_delete_flow(&self, Parameters(a): Parameters<NameArgs>) -> ToolResult {
        let ok = match FlowName::new(a.name.as_str()) {
            Ok(name) => engine!(self.state.engine.delete_flow(&name).await),
            Err(_) => false,
        };
        dict(FlowDeleted { ok, name: a.name })
    }

    #[tool(description = "What this server is (JSON string).")]
    async fn server_info(&self) -> ToolResult {
        text(
            json!({
                "name": "tubemail",
                "version": env!("CARGO_PKG_VERSION"),
                "category": "repo_agnostic",
                "pan_repo_writes": null,
                "pan_repo_reads": null,
                "data_identity": "worker name + flow id — no repo concept",
                "meta_tools": [],
                "cross_repo_tools": [],
            })
            .to_string(),
        )
    }
}

impl HubMcp {
    async fn control(&self, raw: &str, command: ManagerCommand) -> ToolResult {
        let w = worker!(raw.to_owned());
        let sent = engine!(self.state.engine.control(&w, &command).await);
        dict(ControlResponse {
            ok: true,
            event_id: sent.event_id,
            routed_to: sent.worker,
        })
    }

    async fn reconnect(&self, raw: &str, server: &str) -> ToolResult {
        let w = worker!(raw.to_owned());
        match engine!(self.state.engine.reconnect_mcp(&w, server).await) {
            ControlOutcome::Answered(ev) => dict(parse_json_reply(&ev)),
            ControlOutcome::TimedOut(_) => dict(json!({
                "error": "manager did not post a reconnect_mcp_result within 30s",
                "detail": "worker may be unresponsive; try tm_screenshot to inspect",
            })),
        }
    }

    async fn recording_status(&self, w: &WorkerName) -> Result<Value, ToolResult> {
        match self.state.terminals.status(w).await {
            Ok(status) => Ok(json!(status)),
            Err(e) => {
                tracing::error!(error = ?e, "recordings unreadable");
                Err(fail("could not list the recordings (see the hub's log)"))
            }
        }
    }
}
