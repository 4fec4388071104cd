//! The stdio MCP channel.
//!
//! Hub events become `notifications/claude/channel` in the session, and
//! each one passed on is confirmed to the hub (`/delivered`), so a channel
//! that dies mid-delivery does not lose a message: the next one resumes
//! after the last confirmed event. Replies and permission traffic go
//! through the [`Relay`], which retries and spools while the hub is away.
//! Nothing here waits on the hub inside the stdio loop.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, CustomNotification, ExperimentalCapabilities, Implementation,
    JsonObject, MetaObject, ProtocolVersion, ServerCapabilities, ServerConfig, ServerNotification,
};
use rmcp::service::{NotificationContext, Peer};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tubemail_client::core::{
    Behavior, ConditionSignal, EventId, Meta, WorkerCondition, WorkerName,
};
use tubemail_client::{Client, StreamEvent};

use crate::listening::Listening;
use crate::relay::{Outcome, Post, Relay};

/// Pause before retrying a failed registration or stream.
const RETRY: Duration = Duration::from_secs(1);

/// What `channel_health` reports.
#[derive(Debug, Default, Clone, serde::Serialize)]
struct Health {
    connected: bool,
    registered: bool,
    register_failures_since_boot: u64,
    last_outbound_success_at: Option<f64>,
    /// Replies and permission posts waiting on disk for the hub.
    spooled: usize,
    hub_url: String,
}

#[derive(Clone)]
struct Channel {
    client: Client,
    worker: WorkerName,
    relay: Arc<Relay>,
    health: Arc<Mutex<Health>>,
    /// Whether Claude Code takes this channel ([`crate::listening`]).
    listening: watch::Receiver<Listening>,
    tool_router: ToolRouter<Self>,
}

/// Arguments of `reconnect_mcp`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ReconnectArgs {
    /// Name of the MCP server to reconnect, as `/mcp` lists it.
    server: String,
}

/// How long `reconnect_mcp` waits for the manager.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(40);

/// Arguments of `reply`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ReplyArgs {
    /// The reply to the orchestrator.
    text: String,
    /// Optional metadata (e.g. `in_reply_to`).
    #[serde(default)]
    meta: Option<Meta>,
}

/// `_meta` of every channel tool: never deferred behind Claude Code's tool
/// search (the server's `alwaysLoad` in the MCP config says the same; this
/// holds when someone loads the channel with a config of their own).
fn always_load() -> MetaObject {
    let mut meta = JsonObject::new();
    meta.insert("anthropic/alwaysLoad".into(), Value::Bool(true));
    MetaObject(meta)
}

#[tool_router]
impl Channel {
    fn new(
        client: Client,
        worker: WorkerName,
        relay: Arc<Relay>,
        listening: watch::Receiver<Listening>,
    ) -> Self {
        let health = Health {
            hub_url: client.url().to_owned(),
            ..Health::default()
        };
        Channel {
            client,
            worker,
            relay,
            health: Arc::new(Mutex::new(health)),
            listening,
            tool_router: Self::tool_router(),
        }
    }

    /// Posts through the relay and words the outcome for the model.
    async fn relay_tool(&self, post: Post, sent: &str) -> Result<CallToolResult, ErrorData> {
        let text = match self.relay.post(post).await {
            Outcome::Sent => {
                self.health().last_outbound_success_at = Some(crate::epoch_secs());
                sent.to_owned()
            }
            Outcome::Spooled => "the TubeMail hub is unreachable; this is queued and will be \
                                 delivered when it is back"
                .to_owned(),
            Outcome::Failed(e) => {
                return Err(ErrorData::internal_error(
                    format!("tubemail hub refused it: {e}"),
                    None,
                ));
            }
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[tool(description = "Send a reply to the TubeMail orchestrator that messaged you.", meta = always_load())]
    async fn reply(
        &self,
        Parameters(a): Parameters<ReplyArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let post = Post::Outbound {
            text: a.text,
            meta: a.meta.unwrap_or_default(),
        };
        self.relay_tool(post, "delivered to tubemail").await
    }

    #[tool(description = "Acknowledge a TubeMail message without replying yet.", meta = always_load())]
    async fn ack(&self) -> Result<CallToolResult, ErrorData> {
        let mut meta = Meta::new();
        meta.insert("kind".into(), "ack".into());
        let post = Post::Outbound {
            text: String::new(),
            meta,
        };
        self.relay_tool(post, "acked").await
    }

    #[tool(description = "Whether this channel is connected to the TubeMail hub.", meta = always_load())]
    async fn channel_health(&self) -> Result<CallToolResult, ErrorData> {
        self.health().spooled = self.relay.spooled();
        let h = self.health().clone();
        let v = serde_json::to_value(h).unwrap_or(Value::Null);
        Ok(CallToolResult::structured(v))
    }

    #[tool(
        description = "Reconnect one of this session's MCP servers through the /mcp dialog \
                       (works without the TubeMail hub; the tubemail MCP server included).",
        meta = always_load()
    )]
    async fn reconnect_mcp(
        &self,
        Parameters(a): Parameters<ReconnectArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let fail = |m: String| ErrorData::internal_error(m, None);
        let sock = match std::env::var_os("TUBEMAIL_LOCAL_SOCK") {
            Some(path) => std::path::PathBuf::from(path),
            None => crate::manager::local_socket(&self.worker).map_err(|e| fail(e.to_string()))?,
        };
        let req = json!({"action": "reconnect_mcp", "server": a.server});
        let ask = crate::manager::ask_local(&sock, &req);
        let answer = tokio::time::timeout(RECONNECT_TIMEOUT, ask)
            .await
            .map_err(|_| fail("the manager did not answer in time".into()))?
            .map_err(|e| fail(format!("could not reach the manager: {e}")))?;
        let v: Value = serde_json::from_str(&answer)
            .map_err(|e| fail(format!("unreadable answer from the manager: {e}")))?;
        Ok(CallToolResult::structured(v))
    }
}

/// Meta as Claude Code keeps it: string values under keys matching
/// `[a-zA-Z_][a-zA-Z0-9_]*`. Other values are sent as JSON text, other
/// keys are rewritten, and keys the CLI itself puts on the `<channel>` tag
/// (`source`) get a `tm_` prefix, so nothing the orchestrator sent is
/// silently dropped.
fn channel_meta(meta: Option<&serde_json::Map<String, Value>>, id: Option<EventId>) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in meta.into_iter().flatten() {
        let mut key: String = k
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if key.is_empty() || key.starts_with(|c: char| c.is_ascii_digit()) || key == "source" {
            key.insert_str(0, if key == "source" { "tm_" } else { "_" });
        }
        let value = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.insert(key, Value::String(value));
    }
    if let Some(id) = id {
        out.insert("event_id".into(), Value::String(id.to_string()));
    }
    Value::Object(out)
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Channel {
    fn get_info(&self) -> ServerConfig {
        let mut exp = ExperimentalCapabilities::new();
        exp.insert("claude/channel".into(), JsonObject::new());
        exp.insert("claude/channel/permission".into(), JsonObject::new());
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_experimental_with(exp)
                .enable_tools()
                .build(),
        )
        .with_server_info(Implementation::new("tubemail", env!("CARGO_PKG_VERSION")))
    }

    /// Only revisions with an initialize step and a session that carries
    /// unsolicited notifications: Claude Code delivers channel messages on
    /// those alone. Offered 2026-07-28 (rmcp's newest), Claude Code 2.1.292
    /// and later pick it after their `server/discover` probe, skip the
    /// initialize step (so [`Self::on_initialized`] never runs) and log
    /// "Channel notifications skipped: … no unsolicited notification path".
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }

    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        tokio::spawn(pump(self.clone(), ctx.peer));
    }

    async fn on_custom_notification(
        &self,
        n: CustomNotification,
        _ctx: NotificationContext<RoleServer>,
    ) {
        let p = n.params.clone().unwrap_or(Value::Null);
        let s = |k: &str| p[k].as_str().unwrap_or("").to_owned();
        let post = match n.method.as_str() {
            "notifications/claude/channel/permission_request" => Post::PermissionRequest {
                request_id: s("request_id"),
                tool_name: s("tool_name"),
                description: s("description"),
                input_preview: s("input_preview"),
            },
            "notifications/claude/channel/permission" => Post::PermissionResponse {
                request_id: s("request_id"),
                behavior: Behavior::parse(&s("behavior")).unwrap_or(Behavior::Deny),
            },
            other => {
                tracing::debug!(method = other, "ignoring notification");
                return;
            }
        };
        // The stdio loop never waits on the hub.
        let relay = self.relay.clone();
        tokio::spawn(async move {
            if let Outcome::Failed(e) = relay.post(post).await {
                tracing::warn!(error = %e, "relaying to the hub failed");
            }
        });
    }
}

async fn notify(peer: &Peer<RoleServer>, method: &str, params: Value) -> bool {
    let n = ServerNotification::CustomNotification(CustomNotification::new(method, Some(params)));
    match peer.send_notification(n).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not notify claude");
            false
        }
    }
}

/// Turns one hub event into what Claude Code expects; `true` once it is
/// passed on (or is not for the session).
async fn deliver(peer: &Peer<RoleServer>, ev: &StreamEvent) -> bool {
    match ev {
        StreamEvent::ChannelEvent {
            content,
            meta,
            event_id,
            ..
        } => {
            let meta = channel_meta(Some(meta), Some(*event_id));
            notify(
                peer,
                "notifications/claude/channel",
                json!({"content": content, "meta": meta}),
            )
            .await
        }
        StreamEvent::PermissionResponse {
            request_id,
            behavior,
            ..
        } => {
            notify(
                peer,
                "notifications/claude/channel/permission",
                json!({"request_id": request_id, "behavior": behavior}),
            )
            .await
        }
        StreamEvent::Interrupt { .. } => {
            notify(
                peer,
                "notifications/claude/channel",
                json!({"content": "interrupt", "meta": {"kind": "interrupt"}}),
            )
            .await
        }
        _ => true,
    }
}

/// Confirms deliveries to the hub in the background, newest id only.
fn spawn_acks(client: Client, worker: WorkerName) -> watch::Sender<Option<EventId>> {
    let (tx, mut rx) = watch::channel(None::<EventId>);
    tokio::spawn(async move {
        let mut confirmed = None;
        while rx.changed().await.is_ok() {
            loop {
                let Some(id) = *rx.borrow_and_update() else {
                    break;
                };
                if confirmed >= Some(id) {
                    break;
                }
                match client.delivered(&worker, id).await {
                    Ok(_) => confirmed = Some(id),
                    Err(e) if matches!(e, tubemail_client::Error::BadRequest(_)) => {
                        tracing::warn!(error = %e, "the hub refused a delivery receipt");
                        confirmed = Some(id);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "delivery receipt failed; retrying");
                        tokio::time::sleep(RETRY).await;
                    }
                }
            }
        }
    });
    tx
}

/// Registers, delivers anything spooled, then follows the worker's stream
/// for as long as the channel lives. The stream resumes by itself after
/// hub restarts.
async fn pump(ch: Channel, peer: Peer<RoleServer>) {
    let started = std::time::Instant::now();
    let reg = crate::registration();
    loop {
        match ch.client.register(&ch.worker, &reg).await {
            Ok(_) => {
                ch.health().registered = true;
                break;
            }
            Err(e) => {
                {
                    let mut h = ch.health();
                    h.registered = false;
                    h.register_failures_since_boot += 1;
                }
                tracing::warn!(error = %e, "registration failed; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
    ch.relay.spawn_drainer();
    let acks = spawn_acks(ch.client.clone(), ch.worker.clone());
    // Claude Code drops a channel notification sent before it listens
    // (messages waiting on the hub when the worker started never reached
    // the model, though delivered), and every one when it skipped the
    // channel: stream once it listens, never while it skipped us (the
    // messages wait on the hub for a channel it takes).
    let mut listening = ch.listening.clone();
    let now = match listening.wait_for(|l| *l != Listening::Waiting).await {
        Ok(now) => now.clone(),
        Err(_) => return,
    };
    if !now.may_stream() {
        return;
    }
    if now == Listening::NoLog {
        tokio::time::sleep(crate::listening::SETTLE.saturating_sub(started.elapsed())).await;
    }
    loop {
        match ch.client.worker_stream(&ch.worker, None).await {
            Ok(mut stream) => {
                ch.health().connected = true;
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(ev) => {
                            if !ch.listening.borrow().may_stream() {
                                tracing::warn!("Claude Code skipped the channel; not streaming");
                                return;
                            }
                            if deliver(&peer, &ev).await {
                                if let Some(id) = ev.event_id() {
                                    acks.send_replace(Some(id));
                                }
                            } else {
                                // claude is gone; the next channel picks up
                                // from the last confirmed event.
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "stream refused");
                            break;
                        }
                    }
                }
                ch.health().connected = false;
            }
            Err(e) => tracing::warn!(error = %e, "could not open the stream; retrying"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// What the hub and the user are told when Claude Code skipped the
/// channel: its words, and the variables that turn channels off.
fn unavailable_detail(reason: Option<&str>, blockers: &[&str]) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(reason) = reason {
        parts.push(format!("Claude Code skipped the channel: {reason}"));
    }
    if !blockers.is_empty() {
        parts.push(format!(
            "{} set in the worker's environment, which turns Claude Code's channels off; unset it",
            blockers.join(", ")
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Tells the hub (the worker's `state_reason`) and the user (one line on
/// the worker's terminal, through the manager) when Claude Code does not
/// take the channel, and clears it once it does.
async fn report_condition(client: Client, worker: WorkerName, mut rx: watch::Receiver<Listening>) {
    let blockers = crate::claude::channel_blockers(|k| std::env::var(k).ok());
    // What the hub was told, so a later word (the CLI's reason after only
    // the variables were known) replaces it and nothing is said twice.
    let mut reported: Option<String> = None;
    loop {
        let now = rx.borrow_and_update().clone();
        let detail = match &now {
            Listening::Skipped(reason) => unavailable_detail(Some(reason), &blockers),
            Listening::NoLog | Listening::Unconfirmed => unavailable_detail(None, &blockers),
            Listening::Registered | Listening::Waiting => None,
        };
        match detail {
            Some(detail) if reported.as_ref() != Some(&detail) => {
                let condition = WorkerCondition {
                    signal: ConditionSignal::ChannelUnavailable,
                    detail: detail.clone(),
                };
                // Registered first, so this process's pid is the worker's
                // and a registration after the report does not clear it.
                let reg = crate::registration();
                loop {
                    let posted = async {
                        client.register(&worker, &reg).await?;
                        client.set_condition(&worker, Some(&condition)).await
                    };
                    match posted.await {
                        Ok(_) => break,
                        Err(e) => {
                            tracing::debug!(error = %e, "could not report the condition; retrying");
                            tokio::time::sleep(RETRY).await;
                        }
                    }
                }
                if reported.replace(detail.clone()).is_none() {
                    crate::manager::notice(&format!(
                        "this worker will not receive hub messages: {detail}"
                    ))
                    .await;
                }
            }
            None if reported.is_some() && now == Listening::Registered => {
                if let Err(e) = client.set_condition(&worker, None).await {
                    tracing::debug!(error = %e, "could not clear the condition");
                }
                reported = None;
            }
            _ => {}
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Serves the channel on stdin/stdout until Claude Code closes it, then
/// unregisters.
pub async fn run(client: Client, worker: WorkerName) -> anyhow::Result<()> {
    tracing::info!(worker = %worker, hub = client.url(), "tubemail-channel starting");
    let relay = Relay::new(client.clone(), worker.clone(), Relay::default_dir(&worker));
    // Claude Code's decision about this channel is followed from the start:
    // a CLI that never initializes the session (a protocol revision with no
    // channel path) still gets it reported.
    let (tx, listening) = watch::channel(Listening::Waiting);
    tokio::spawn(crate::listening::follow(
        crate::claude::CHANNEL_SERVER,
        std::time::Instant::now(),
        std::time::SystemTime::now(),
        tx,
    ));
    tokio::spawn(report_condition(
        client.clone(),
        worker.clone(),
        listening.clone(),
    ));
    let channel = Channel::new(client.clone(), worker.clone(), relay, listening);
    let service = channel.serve(rmcp::transport::stdio()).await?;
    let _ = service.waiting().await;
    if let Err(e) = client.unregister(&worker).await {
        tracing::debug!(error = %e, "unregister at exit failed");
    }
    Ok(())
}
