//! `/api/webhooks`: configure webhooks, list their deliveries, send a
//! test (shared secret only, like `/api/settings`). URLs are listed
//! redacted and secrets never; neither is logged.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::Deserialize;
use tubemail_core::hooks::{
    DEFAULT_WAITING_SECS, DeliveriesResponse, MAX_GLOB_LEN, MAX_SECRET_LEN, MAX_URL_LEN,
    MAX_WEBHOOKS, WebhookDeleted, WebhookEvent, WebhookRequest, WebhookTestResponse, WebhookView,
    WebhooksResponse, url_host,
};
use tubemail_core::store::hooks::WebhookRow;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryArgs};
use crate::openapi::{Api, Route};
use crate::tokens::Scope;
use tubemail_core::engine::now;

/// Longest `waiting_secs` (a week).
const MAX_WAITING_SECS: u64 = 7 * 24 * 3600;
/// Most deliveries one listing returns.
const MAX_DELIVERIES: usize = 1000;

pub fn add(api: Api) -> Api {
    api.add(
        Route::get("/api/webhooks", "Every webhook, URLs redacted, secrets never shown (shared secret only)")
            .returns::<WebhooksResponse>(),
        get(list),
    )
    .add(
        Route::post("/api/webhooks", "Add a webhook (shared secret only)")
            .body::<WebhookRequest>()
            .returns::<WebhookView>(),
        post(create),
    )
    .add(
        Route::put("/api/webhooks/{id}", "Replace a webhook's settings; a missing url or secret keeps the current one, an empty secret removes it (shared secret only)")
            .body::<WebhookRequest>()
            .returns::<WebhookView>(),
        axum::routing::put(update),
    )
    .add(
        Route::delete("/api/webhooks/{id}", "Remove a webhook and its undelivered notifications (shared secret only)")
            .returns::<WebhookDeleted>(),
        axum::routing::delete(remove),
    )
    .add(
        Route::get("/api/webhooks/{id}/deliveries", "A webhook's notifications, newest first, with attempts and the last error (shared secret only)")
            .query::<DeliveriesQuery>()
            .returns::<DeliveriesResponse>(),
        get(deliveries),
    )
    .add(
        Route::post("/api/webhooks/{id}/test", "Enqueue a `test` notification for this webhook now (shared secret only)")
            .returns::<WebhookTestResponse>(),
        post(test),
    )
}

fn admin_only(scope: Option<&Extension<Scope>>) -> ApiResult<()> {
    match scope {
        Some(Extension(Scope::Admin)) => Ok(()),
        _ => Err(ApiError::forbidden(
            "only the shared secret manages webhooks",
        )),
    }
}

/// Checks a request; `current` is the row an update replaces. The error
/// is a message for the caller (never echoing the URL).
pub(crate) fn validate(
    b: WebhookRequest,
    id: String,
    current: Option<&WebhookRow>,
) -> Result<WebhookRow, String> {
    let mut b = b;
    if b.url.is_empty()
        && let Some(c) = current
    {
        b.url.clone_from(&c.url);
    }
    if b.url.is_empty() {
        return Err("url is required".into());
    }
    if b.url.len() > MAX_URL_LEN {
        return Err(format!("url is longer than {MAX_URL_LEN} bytes"));
    }
    // The URL itself is never echoed: it may hold a secret.
    let parsed = reqwest::Url::parse(&b.url).map_err(|_| "url is not a valid URL".to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("url must be an http:// or https:// URL with a host".into());
    }
    if b.events.is_empty() {
        return Err("events must name at least one event".into());
    }
    if b.events.contains(&WebhookEvent::Test) {
        return Err("test is not subscribable; POST /api/webhooks/{id}/test sends one".into());
    }
    let waiting_secs = b.waiting_secs.unwrap_or(DEFAULT_WAITING_SECS);
    if waiting_secs > MAX_WAITING_SECS {
        return Err(format!("waiting_secs must be at most {MAX_WAITING_SECS}"));
    }
    if let Some(g) = &b.worker_glob
        && (g.is_empty() || g.len() > MAX_GLOB_LEN)
    {
        return Err(format!("worker_glob must be 1-{MAX_GLOB_LEN} bytes"));
    }
    if b.secret.as_ref().is_some_and(|s| s.len() > MAX_SECRET_LEN) {
        return Err(format!("secret is longer than {MAX_SECRET_LEN} bytes"));
    }
    let mut events: Vec<WebhookEvent> = Vec::new();
    for e in b.events {
        if !events.contains(&e) {
            events.push(e);
        }
    }
    let secret = match b.secret {
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s),
        None => current.and_then(|c| c.secret.clone()),
    };
    Ok(WebhookRow {
        id,
        url: b.url,
        events,
        waiting_secs,
        worker_glob: b.worker_glob,
        format: b.format,
        secret,
        enabled: b.enabled.unwrap_or(true),
        created_at: current.map_or_else(now, |c| c.created_at),
    })
}

/// A fresh webhook id (`wh_` and 16 hex digits).
pub(crate) fn new_id() -> Option<String> {
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).ok()?;
    Some(format!("wh_{}", crate::hooks::sign::hex(&raw)))
}

fn find(s: &AppState, id: &str) -> ApiResult<WebhookRow> {
    s.engine
        .webhook_rows()
        .iter()
        .find(|h| h.id == id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no webhook with id {id:?}")))
}

async fn list(
    State(s): State<AppState>,
    scope: Option<Extension<Scope>>,
) -> ApiResult<Json<WebhooksResponse>> {
    admin_only(scope.as_ref())?;
    Ok(Json(WebhooksResponse {
        webhooks: s
            .engine
            .webhook_rows()
            .iter()
            .map(WebhookRow::view)
            .collect(),
    }))
}

async fn create(
    State(s): State<AppState>,
    scope: Option<Extension<Scope>>,
    JsonBody(b): JsonBody<WebhookRequest>,
) -> ApiResult<Json<WebhookView>> {
    admin_only(scope.as_ref())?;
    if s.engine.webhook_rows().len() >= MAX_WEBHOOKS {
        return Err(ApiError::bad_request(format!(
            "a hub keeps at most {MAX_WEBHOOKS} webhooks"
        )));
    }
    let id = new_id().ok_or_else(|| {
        ApiError::Status(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal error".into(),
        )
    })?;
    let row = validate(b, id, None).map_err(ApiError::bad_request)?;
    tracing::info!(webhook = %row.id, host = url_host(&row.url), "webhook added");
    let view = row.view();
    s.engine.put_webhook(row).await?;
    Ok(Json(view))
}

async fn update(
    State(s): State<AppState>,
    scope: Option<Extension<Scope>>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<WebhookRequest>,
) -> ApiResult<Json<WebhookView>> {
    admin_only(scope.as_ref())?;
    let current = find(&s, &id)?;
    let row = validate(b, id, Some(&current)).map_err(ApiError::bad_request)?;
    tracing::info!(webhook = %row.id, host = url_host(&row.url), "webhook changed");
    let view = row.view();
    s.engine.put_webhook(row).await?;
    Ok(Json(view))
}

async fn remove(
    State(s): State<AppState>,
    scope: Option<Extension<Scope>>,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookDeleted>> {
    admin_only(scope.as_ref())?;
    if s.engine.delete_webhook(&id).await? {
        tracing::info!(webhook = %id, "webhook removed");
        Ok(Json(WebhookDeleted { deleted: true }))
    } else {
        Err(ApiError::not_found(format!("no webhook with id {id:?}")))
    }
}

/// `GET /api/webhooks/{id}/deliveries` query.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<usize>,
}

async fn deliveries(
    State(s): State<AppState>,
    scope: Option<Extension<Scope>>,
    Path(id): Path<String>,
    QueryArgs(q): QueryArgs<DeliveriesQuery>,
) -> ApiResult<Json<DeliveriesResponse>> {
    admin_only(scope.as_ref())?;
    find(&s, &id)?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_DELIVERIES);
    let rows = s.engine.webhook_deliveries(&id, limit).await?;
    Ok(Json(DeliveriesResponse {
        deliveries: rows.iter().map(|r| r.view()).collect(),
    }))
}

async fn test(
    State(s): State<AppState>,
    scope: Option<Extension<Scope>>,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookTestResponse>> {
    admin_only(scope.as_ref())?;
    let hook = find(&s, &id)?;
    let delivery_id = s.engine.enqueue_test_notification(&hook.id).await?;
    s.hooks.wake.notify_one();
    Ok(Json(WebhookTestResponse { delivery_id }))
}
