//! MCP at `/mcp/` (streamable HTTP, rmcp): the `tm_*` tools an orchestrator
//! drives workers with. Each tool calls the same engine method as its REST
//! twin under `/api/`; this module only adapts arguments and result shapes.
//!
//! # Layout
//! - `tools`: the original's 32 tools (names, parameters and shapes).
//! - `rules`: the 3 permission-rule tools.
//! - `hooks`: the 5 webhook tools (shared secret only).
//! - `table`: the text roster of `tm_list_workers`.
//! - `sessions`: the session cap per credential and the idle expiry.

mod hooks;
mod rules;
pub mod sessions;
mod table;
mod tools;

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, JsonObject, ProtocolVersion, ServerCapabilities,
    ServerConfig,
};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, tool_handler};
use serde::Serialize;
use serde_json::{Value, json};

use crate::AppState;

/// Usage notes sent as the server's `instructions` (and by `get_instructions`).
pub const INSTRUCTIONS: &str = "\
TubeMail drives fleets of Claude Code workers. Each worker is a claude session \
started with `claude-tm`; its name is `<project dir>-tm` (or `<dir>-<role>-tm`).

- See who is there: tm_list_workers (text roster), tm_status(worker) for one worker's \
state (idle / busy / waiting_permission) with the reason.
- Give work: tm_send(worker, message). Slash commands such as /compact or /clear go to \
the worker's manager, which types them into the terminal.
- Get replies: tm_wait_for_activity(worker, since=<event_id of your send>) waits (up to \
45 s per call) for new events; tm_receive(worker, since) reads the timeline. Replies \
are `outbound` events. Pass the last event_id you saw as `since` to read only newer ones.
- Permission prompts: tm_pending_permissions, then tm_respond_permission(worker, \
request_id, 'allow'|'deny').
- Control: tm_interrupt, tm_restart, tm_stop, tm_keystroke, tm_screenshot, tm_health, \
tm_clear_and_send (idle workers only), tm_update_manager.
- Saved messages: tm_save_flow, tm_list_flows, tm_run_flow, tm_get_run_log, tm_finish_run.
- Permission rules (answer prompts before a person sees them): tm_rules_list, \
tm_rules_set (the whole ordered list; first match wins), tm_rules_test.

Event ids are ordered strings: a later event has a greater id.";

/// The tool table, built once: building it (40 tools and their JSON
/// schemas) for every session cost most of a session's memory.
static TOOLS: std::sync::LazyLock<Arc<ToolRouter<HubMcp>>> =
    std::sync::LazyLock::new(|| Arc::new(HubMcp::all_tools()));

/// The MCP handler: one per session.
#[derive(Clone)]
pub struct HubMcp {
    state: AppState,
    tool_router: Arc<ToolRouter<Self>>,
}

impl HubMcp {
    /// The tool table: the original's tools and the webhook tools.
    fn all_tools() -> ToolRouter<Self> {
        Self::tool_router() + Self::rules_router() + Self::webhook_tools()
    }

    fn new(state: AppState) -> Self {
        HubMcp {
            state,
            tool_router: TOOLS.clone(),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for HubMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("tubemail", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    /// Versions up to 2025-11-25 keep a session with a standalone stream, so
    /// notifications sent outside a request (`tools/list_changed`) reach the
    /// client; the stateless 2026-07-28 mode would drop them.
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }
}

/// The tower service mounted at `/mcp/`. Bearer, Host and Origin checks run
/// in the hub's guard before it, as for every route.
pub fn service(state: AppState) -> StreamableHttpService<HubMcp, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(state.shutdown.child_token())
        .with_max_request_body_bytes(state.options.max_body_bytes)
        .disable_allowed_hosts();
    let manager = state.mcp_sessions.manager();
    StreamableHttpService::new(move || Ok(HubMcp::new(state.clone())), manager, config)
}

/// What every tool returns.
type ToolResult = Result<CallToolResult, ErrorData>;

/// A dict result: JSON text plus `structuredContent`.
fn dict(value: impl Serialize) -> ToolResult {
    let value = serde_json::to_value(value).map_err(|e| {
        ErrorData::internal_error(format!("failed to encode the result: {e}"), None)
    })?;
    Ok(CallToolResult::structured(value))
}

/// A list result: the JSON list as text, `{"result": [...]}` as
/// `structuredContent` (as the original's FastMCP does).
fn list(items: impl Serialize) -> ToolResult {
    let value = serde_json::to_value(items).map_err(|e| {
        ErrorData::internal_error(format!("failed to encode the result: {e}"), None)
    })?;
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content = Some(json!({ "result": value }));
    Ok(result)
}

/// A plain text result.
fn text(s: impl Into<String>) -> ToolResult {
    Ok(CallToolResult::success(vec![ContentBlock::text(s.into())]))
}

/// A tool-level error (`isError: true`) the caller can act on.
fn fail(message: impl Into<String>) -> ToolResult {
    Ok(CallToolResult::error(vec![ContentBlock::text(
        message.into(),
    )]))
}

/// Output schema: any JSON object (shapes that vary by outcome).
fn any_object() -> Arc<JsonObject> {
    Arc::new(
        json!({"type": "object", "additionalProperties": true})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    )
}

/// Output schema of a list result: `{"result": [T]}`.
fn list_of<T: schemars::JsonSchema + std::any::Any>() -> Arc<JsonObject> {
    let item = rmcp::handler::server::common::schema_for_output::<T>();
    let mut item: Value = Value::Object((*item).clone());
    // Definitions must live at the root of the wrapping schema.
    let defs = item.as_object_mut().and_then(|o| o.remove("$defs"));
    let mut schema = json!({
        "type": "object",
        "properties": {"result": {"type": "array", "items": item}},
        "required": ["result"],
    });
    if let Some(defs) = defs {
        schema["$defs"] = defs;
    }
    strip_numeric_formats(&mut schema);
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

/// Output schema of a dict result of type `T`.
fn object_of<T: schemars::JsonSchema + std::any::Any>() -> Arc<JsonObject> {
    let mut schema =
        Value::Object((*rmcp::handler::server::common::schema_for_output::<T>()).clone());
    strip_numeric_formats(&mut schema);
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

/// schemars marks integers with Rust formats (`uint64`, `int32`, …) that
/// JSON Schema validators do not know and warn about; the type and minimum
/// already say everything a client can check.
fn strip_numeric_formats(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let numeric = map.get("format").and_then(Value::as_str).is_some_and(|f| {
                f.starts_with("int") || f.starts_with("uint") || f == "double" || f == "float"
            });
            if numeric {
                map.remove("format");
            }
            map.values_mut().for_each(strip_numeric_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_numeric_formats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tool list as clients see it (names, descriptions, input and
    /// output schemas), compared with a reviewed snapshot so no schema
    /// changes by accident. `UPDATE_SNAPSHOTS=1 cargo test` rewrites it.
    #[test]
    fn tool_schemas_match_the_snapshot() {
        let mut tools: Vec<Value> = HubMcp::all_tools()
            .list_all()
            .into_iter()
            .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
            .collect();
        tools.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        assert_eq!(tools.len(), 40);
        let current = serde_json::to_string_pretty(&tools).unwrap_or_default() + "\n";
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/snapshots/mcp-tools.json"
        );
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(path, &current).unwrap_or_else(|e| panic!("writing {path}: {e}"));
            return;
        }
        let expected = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            expected == current,
            "MCP tool schemas changed; review and run `UPDATE_SNAPSHOTS=1 cargo test -p tubemail-hub tool_schemas`"
        );
    }
}
