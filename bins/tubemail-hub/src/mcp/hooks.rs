//! `tm_webhooks_*`: webhooks over MCP, for the shared secret only (as
//! `/api/webhooks`); an operator token's session gets a tool error.

use rmcp::RoleServer;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{schemars, tool, tool_router};
use serde::Deserialize;
use serde_json::json;
use tubemail_core::hooks::{MAX_WEBHOOKS, WebhookEvent, WebhookFormat, WebhookRequest, url_host};
use tubemail_core::store::hooks::WebhookRow;

use super::{HubMcp, ToolResult, any_object, dict, fail};
use crate::routes::webhooks::{new_id, validate};
use crate::tokens::Scope;

/// Arguments of tm_webhooks_add.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AddArgs {
    /// Where to POST (http or https). May hold a secret: it is never shown again, only its host.
    url: String,
    /// What to send: permission_waiting, worker_blocked, worker_exited, reply, rule_decision.
    events: Vec<WebhookEvent>,
    /// Body preset: json (default), slack or discord.
    #[serde(default)]
    format: WebhookFormat,
    /// permission_waiting fires once a prompt waited this many seconds (default 60).
    #[serde(default)]
    waiting_secs: Option<u64>,
    /// Only workers whose name matches this glob (`*`, `?`).
    #[serde(default)]
    worker_glob: Option<String>,
    /// HMAC key of the X-TubeMail-Signature header (write-only).
    #[serde(default)]
    secret: Option<String>,
}

/// `{"id": ...}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct IdArgs {
    /// Webhook id (see tm_webhooks_list).
    id: String,
}

/// Arguments of tm_webhooks_deliveries.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DeliveriesArgs {
    /// Webhook id.
    id: String,
    /// Most notifications to return, newest first (default 20, at most 1000).
    #[serde(default)]
    limit: Option<usize>,
}

fn admin(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<Scope>())
        .is_some_and(|s| matches!(s, Scope::Admin))
}

const ADMIN_ONLY: &str = "only the shared secret manages webhooks";

impl HubMcp {
    /// `Err` (the tool's answer) when no webhook has this id.
    fn known_webhook(&self, id: &str) -> Result<(), ToolResult> {
        if self.state.engine.webhook_rows().iter().any(|h| h.id == id) {
            Ok(())
        } else {
            Err(fail(format!("no webhook with id {id:?}")))
        }
    }
}

#[tool_router(router = webhook_tools, vis = "pub(crate)")]
impl HubMcp {
    #[tool(description = "Every webhook (URLs redacted to scheme and host, secrets never shown). Shared secret only.", output_schema = any_object())]
    async fn tm_webhooks_list(&self, ctx: RequestContext<RoleServer>) -> ToolResult {
        if !admin(&ctx) {
            return fail(ADMIN_ONLY);
        }
        let hooks: Vec<_> = self
            .state
            .engine
            .webhook_rows()
            .iter()
            .map(WebhookRow::view)
            .collect();
        dict(json!({"webhooks": hooks}))
    }

    #[tool(description = "Add a webhook: POSTs signed notifications (permission_waiting with single-use approval links, worker_blocked, worker_exited, reply, rule_decision) to a URL. Shared secret only.", output_schema = any_object())]
    async fn tm_webhooks_add(
        &self,
        Parameters(a): Parameters<AddArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        if !admin(&ctx) {
            return fail(ADMIN_ONLY);
        }
        if self.state.engine.webhook_rows().len() >= MAX_WEBHOOKS {
            return fail(format!("a hub keeps at most {MAX_WEBHOOKS} webhooks"));
        }
        let Some(id) = new_id() else {
            return fail("internal error in the hub (no randomness)");
        };
        let req = WebhookRequest {
            url: a.url,
            events: a.events,
            waiting_secs: a.waiting_secs,
            worker_glob: a.worker_glob,
            format: a.format,
            secret: a.secret,
            enabled: None,
        };
        let row = match validate(req, id, None) {
            Ok(row) => row,
            Err(m) => return fail(m),
        };
        tracing::info!(webhook = %row.id, host = url_host(&row.url), "webhook added over MCP");
        let view = row.view();
        match self.state.engine.put_webhook(row).await {
            Ok(()) => dict(view),
            Err(e) => super::tools::engine_failure(e),
        }
    }

    #[tool(description = "Remove a webhook and its undelivered notifications. Shared secret only.", output_schema = any_object())]
    async fn tm_webhooks_remove(
        &self,
        Parameters(a): Parameters<IdArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        if !admin(&ctx) {
            return fail(ADMIN_ONLY);
        }
        match self.state.engine.delete_webhook(&a.id).await {
            Ok(true) => dict(json!({"deleted": true, "id": a.id})),
            Ok(false) => fail(format!("no webhook with id {:?}", a.id)),
            Err(e) => super::tools::engine_failure(e),
        }
    }

    #[tool(description = "A webhook's notifications, newest first, with status (pending, delivered, failed, skipped), attempts and the last error. Shared secret only.", output_schema = any_object())]
    async fn tm_webhooks_deliveries(
        &self,
        Parameters(a): Parameters<DeliveriesArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        if !admin(&ctx) {
            return fail(ADMIN_ONLY);
        }
        if let Err(unknown) = self.known_webhook(&a.id) {
            return unknown;
        }
        let limit = a.limit.unwrap_or(20).clamp(1, 1000);
        match self.state.engine.webhook_deliveries(&a.id, limit).await {
            Ok(rows) => {
                let rows: Vec<_> = rows.iter().map(|r| r.view()).collect();
                dict(json!({"deliveries": rows}))
            }
            _ => fail("could not read the deliveries (see the hub's log)"),
        }
    }

    #[tool(description = "Send a test notification to a webhook now; see tm_webhooks_deliveries for the outcome. Shared secret only.", output_schema = any_object())]
    async fn tm_webhooks_test(
        &self,
        Parameters(a): Parameters<IdArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        if !admin(&ctx) {
            return fail(ADMIN_ONLY);
        }
        if let Err(unknown) = self.known_webhook(&a.id) {
            return unknown;
        }
        match self.state.engine.enqueue_test_notification(&a.id).await {
            Ok(id) => {
                self.state.hooks.wake.notify_one();
                dict(json!({"delivery_id": id}))
            }
            _ => fail("could not queue the test notification (see the hub's log)"),
        }
    }
}
