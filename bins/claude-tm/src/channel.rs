//! The stdio MCP channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, CustomNotification, ExperimentalCapabilities, Implementation,
    JsonObject, ServerCapabilities, ServerConfig, ServerNotification,
};
use rmcp::service::{NotificationContext, Peer};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};
use tubemail_client::core::{Behavior, Meta, WorkerName};
use tubemail_client::{Client, StreamEvent};

/// Pause before retrying a failed registration or stream.
const RETRY: Duration = Duration::from_secs(1);

/// What `channel_health` reports.
#[derive(Debug, Default, Clone, serde::Serialize)]
struct Health {
    connected: bool,
    registered: bool,
    register_failures_since_boot: u64,
    last_outbound_success_at: Option<f64>,
    hub_url: String,
}

#[derive(Clone)]
struct Channel {
    client: Client,
    worker: WorkerName,
    health: Arc<Mutex<Health>>,
    tool_router: ToolRouter<Self>,
}

/// Arguments of `reply`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct ReplyArgs {
    /// The reply to the orchestrator.
    text: String,
    /// Optional metadata (e.g. `in_reply_to`).
    #[serde(default)]
    meta: Option<Meta>,
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[tool_router]
impl Channel {
    fn new(client: Client, worker: WorkerName) -> Self {
        let health = Health {
            hub_url: client.url().to_owned(),
            ..Health::default()
        };
        Channel {
            client,
            worker,
            health: Arc::new(Mutex::new(health)),
            tool_router: Self::tool_router(),
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[tool(description = "Send a reply to the TubeMail orchestrator that messaged you.")]
    async fn reply(
        &self,
        Parameters(a): Parameters<ReplyArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        self.client
            .outbound(&self.worker, &a.text, a.meta)
            .await
            .map_err(|e| {
                ErrorData::internal_error(format!("hub post_outbound failed: {e}"), None)
            })?;
        self.health().last_outbound_success_at = Some(now());
        Ok(CallToolResult::success(vec![ContentBlock::text(
            "delivered to tubemail",
        )]))
    }

    #[tool(description = "Acknowledge a TubeMail message without replying yet.")]
    async fn ack(&self) -> Result<CallToolResult, ErrorData> {
        let mut meta = Meta::new();
        meta.insert("kind".into(), "ack".into());
        self.client
            .outbound(&self.worker, "", Some(meta))
            .await
            .map_err(|e| {
                ErrorData::internal_error(format!("hub post_outbound failed: {e}"), None)
            })?;
        Ok(CallToolResult::success(vec![ContentBlock::text("acked")]))
    }

    #[tool(description = "Whether this channel is connected to the TubeMail hub.")]
    async fn channel_health(&self) -> Result<CallToolResult, ErrorData> {
        let h = self.health().clone();
        let v = serde_json::to_value(h).unwrap_or(Value::Null);
        Ok(CallToolResult::structured(v))
    }
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
        let result = match n.method.as_str() {
            "notifications/claude/channel/permission_request" => self
                .client
                .permission_request(
                    &self.worker,
                    &s("request_id"),
                    &s("tool_name"),
                    &s("description"),
                    &s("input_preview"),
                )
                .await
                .map(drop),
            "notifications/claude/channel/permission" => {
                let behavior = Behavior::parse(&s("behavior")).unwrap_or(Behavior::Deny);
                self.client
                    .permission_response(&self.worker, &s("request_id"), behavior)
                    .await
                    .map(drop)
            }
            other => {
                tracing::debug!(method = other, "ignoring notification");
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, method = n.method, "relaying to the hub failed");
        }
    }
}

async fn notify(peer: &Peer<RoleServer>, method: &str, params: Value) {
    let n = ServerNotification::CustomNotification(CustomNotification::new(method, Some(params)));
    if let Err(e) = peer.send_notification(n).await {
        tracing::warn!(error = %e, "could not notify claude");
    }
}

/// Turns one hub event into what Claude Code expects.
async fn deliver(peer: &Peer<RoleServer>, ev: &StreamEvent) {
    let d = &ev.data;
    match ev.event.as_str() {
        "channel_event" => {
            let mut meta = d["meta"].as_object().cloned().unwrap_or_default();
            meta.insert("source".into(), json!("tubemail"));
            if let Some(id) = ev.id {
                meta.insert("event_id".into(), json!(id.to_string()));
            }
            let content = d["content"].as_str().unwrap_or("");
            notify(
                peer,
                "notifications/claude/channel",
                json!({"content": content, "meta": meta}),
            )
            .await;
        }
        "permission_response" => {
            let behavior = d["behavior"].as_str().unwrap_or("deny");
            notify(
                peer,
                "notifications/claude/channel/permission",
                json!({"request_id": d["request_id"], "behavior": behavior}),
            )
            .await;
        }
        "interrupt" => {
            notify(
                peer,
                "notifications/claude/channel",
                json!({"content": "interrupt", "meta": {"source": "tubemail", "kind": "interrupt"}}),
            )
            .await;
        }
        _ => {}
    }
}

/// Registers, then follows the worker's stream for as long as the channel
/// lives. The stream resumes by itself after hub restarts.
async fn pump(ch: Channel, peer: Peer<RoleServer>) {
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
    loop {
        match ch.client.worker_stream(&ch.worker, None).await {
            Ok(mut stream) => {
                ch.health().connected = true;
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(ev) => deliver(&peer, &ev).await,
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

/// Serves the channel on stdin/stdout until Claude Code closes it, then
/// unregisters.
pub async fn run(client: Client, worker: WorkerName) -> anyhow::Result<()> {
    tracing::info!(worker = %worker, hub = client.url(), "tubemail-channel starting");
    let channel = Channel::new(client.clone(), worker.clone());
    let service = channel.serve(rmcp::transport::stdio()).await?;
    let _ = service.waiting().await;
    if let Err(e) = client.unregister(&worker).await {
        tracing::debug!(error = %e, "unregister at exit failed");
    }
    Ok(())
}
