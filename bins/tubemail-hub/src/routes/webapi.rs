//! `/api/*` routes of the original web UI: roster, permissions, settings.

use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tubemail_core::api::{
    ControlResponse, NotIdle, PermissionsResponse, PurgeResponse, Reply, ResolveRequest, SoftError,
    WorkersResponse,
};
use tubemail_core::engine::SettingsPatch;
use tubemail_core::{Behavior, HubConfig, WorkerName, WorkerSummary};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryArgs, Worker, soft_error, worker_name};
use crate::openapi::{Api, Route};

pub fn add(api: Api) -> Api {
    api.add(
        Route::get(
            "/api/workers",
            "The roster (managers included), a page at a time in name order: follow `next` as `after`",
        )
        .query::<WorkersQuery>()
        .returns::<WorkersResponse>(),
        get(workers),
    )
    .add(
        Route::get("/api/workers/{worker}", "One roster row").returns::<WorkerSummary>(),
        get(worker),
    )
    .add(
        Route::delete("/api/workers/{worker}", "Purge a worker with its timeline")
            .returns::<PurgeResponse>(),
        axum::routing::delete(purge),
    )
    .add(
        Route::post(
            "/api/workers/{worker}/update-manager",
            "Ask the manager to update itself (idle workers unless force)",
        )
        .query::<ForceQuery>()
        .returns::<ControlResponse>()
        .or_soft_error(),
        post(update_manager),
    )
    .add(
        Route::get(
            "/api/permissions",
            "Pending permission prompts (online workers unless include_offline)",
        )
        .query::<PermissionsQuery>()
        .returns::<PermissionsResponse>(),
        get(permissions),
    )
    .add(
        Route::post("/api/permissions/resolve", "Allow or deny a pending prompt")
            .body::<ResolveRequest>(),
        post(resolve),
    )
    .add(
        Route::post("/api/permissions/sweep", "Drop prompts proven answered").query::<SweepQuery>(),
        post(sweep),
    )
    .add(
        Route::get("/api/settings", "Hub settings (hub-config.json)").returns::<HubConfig>(),
        get(settings),
    )
    .add(
        Route::put(
            "/api/settings",
            "Update hub settings (absent or null keys unchanged)",
        )
        .body::<SettingsPatch>()
        .returns::<HubConfig>(),
        axum::routing::put(update_settings),
    )
}

/// Roster rows per page unless `limit` says otherwise.
const WORKERS_PAGE: i64 = 500;
/// The largest `limit`.
const WORKERS_PAGE_MAX: i64 = 5000;

/// A roster page.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WorkersQuery {
    /// Rows per page (default 500, clamped to 1–5000).
    #[serde(default)]
    limit: Option<i64>,
    /// Rows named after this one (the previous page's `next`).
    #[serde(default)]
    after: Option<String>,
}

async fn workers(
    State(s): State<AppState>,
    QueryArgs(q): QueryArgs<WorkersQuery>,
) -> Json<WorkersResponse> {
    let limit = q.limit.unwrap_or(WORKERS_PAGE).clamp(1, WORKERS_PAGE_MAX);
    // In range: the clamp above.
    let limit = usize::try_from(limit).unwrap_or(1);
    let (workers, more) = s.engine.workers_page(q.after.as_deref(), limit);
    let next = more
        .then(|| workers.last().map(|w| w.name.as_str().to_owned()))
        .flatten();
    Json(WorkersResponse { workers, next })
}

async fn worker(State(s): State<AppState>, Worker(w): Worker) -> ApiResult<Json<WorkerSummary>> {
    s.engine
        .worker(&w)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("unknown worker: {w}")))
}

async fn purge(State(s): State<AppState>, Worker(w): Worker) -> ApiResult<Json<PurgeResponse>> {
    let ok = s.engine.purge(&w).await?;
    Ok(Json(PurgeResponse { ok, worker: w }))
}

/// `?force=true` skips the idle check.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ForceQuery {
    /// Act even when the worker is not idle.
    #[serde(default)]
    force: bool,
}

async fn update_manager(
    State(s): State<AppState>,
    Worker(w): Worker,
    QueryArgs(q): QueryArgs<ForceQuery>,
) -> ApiResult<Json<Reply<ControlResponse>>> {
    Ok(Json(match s.engine.update_manager(&w, q.force).await? {
        Ok(sent) => Reply::Done(ControlResponse {
            ok: true,
            event_id: sent.event_id,
            routed_to: sent.worker,
        }),
        Err(state) => {
            let refusal = NotIdle::new(state, "pass force=true to override");
            Reply::Refused(SoftError {
                ok: false,
                error: refusal.detail,
                state: Some(state),
            })
        }
    }))
}

/// Filters of the pending list.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PermissionsQuery {
    /// Only this worker.
    #[serde(default)]
    worker: Option<String>,
    /// Include workers whose channel is not connected.
    #[serde(default)]
    include_offline: bool,
}

async fn permissions(
    State(s): State<AppState>,
    QueryArgs(q): QueryArgs<PermissionsQuery>,
) -> ApiResult<Json<PermissionsResponse>> {
    let worker = q.worker.as_deref().map(worker_name).transpose()?;
    Ok(Json(PermissionsResponse {
        pending: s
            .engine
            .pending_permissions(worker.as_ref(), !q.include_offline),
    }))
}

async fn resolve(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<ResolveRequest>,
) -> ApiResult<Json<Value>> {
    let Some(behavior) = Behavior::parse(&b.behavior) else {
        return Ok(Json(soft_error("behavior must be 'allow' or 'deny'")));
    };
    // Like the original, an unknown or malformed worker simply resolves nothing.
    let ok = match WorkerName::new(b.worker) {
        Ok(w) => {
            s.engine
                .resolve_permission(&w, &b.request_id, behavior)
                .await?
        }
        Err(_) => false,
    };
    Ok(Json(json!({"ok": ok, "request_id": b.request_id})))
}

/// Which worker to sweep (all when absent).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SweepQuery {
    /// Only this worker.
    #[serde(default)]
    worker: Option<String>,
}

async fn sweep(
    State(s): State<AppState>,
    QueryArgs(q): QueryArgs<SweepQuery>,
) -> ApiResult<Json<Value>> {
    let worker = q.worker.as_deref().map(worker_name).transpose()?;
    let swept = s.engine.sweep_permissions(worker.as_ref()).await?;
    let total: usize = swept.values().sum();
    Ok(Json(json!({"swept": swept, "total": total})))
}

async fn settings(State(s): State<AppState>) -> ApiResult<Json<HubConfig>> {
    Ok(Json(s.engine.settings()?))
}

async fn update_settings(
    State(s): State<AppState>,
    JsonBody(patch): JsonBody<SettingsPatch>,
) -> ApiResult<Json<HubConfig>> {
    Ok(Json(s.engine.update_settings(&patch)?))
}
