//! `/tubemail/{worker}/*`: what the channel and the manager call.

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde::Deserialize;
use serde_json::Value;
use tubemail_core::Appended;
use tubemail_core::api::{
    ActiveRequest, ChangedResponse, ConditionRequest, ContextPctRequest, DeliveredRequest,
    EventsResponse, OkResponse, OutboundRequest, PermissionRequestBody, PermissionResponseBody,
    RegisterRequest, RegisterResponse, ResolveResponse,
};
use tubemail_core::engine::Registration;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryArgs, Worker};
use crate::openapi::{Api, Route};

pub fn add(api: Api) -> Api {
    api.add(
        Route::post(
            "/tubemail/{worker}/register",
            "Register (or re-register) a worker",
        )
        .body::<RegisterRequest>()
        .returns::<RegisterResponse>(),
        post(register),
    )
    .add(
        Route::post(
            "/tubemail/{worker}/unregister",
            "End the worker's streams; keep its state",
        )
        .returns::<OkResponse>(),
        post(unregister),
    )
    .add(
        Route::post(
            "/tubemail/{worker}/goodbye",
            "Clean exit: mark exited and end its streams",
        )
        .returns::<OkResponse>(),
        post(goodbye),
    )
    .add(
        Route::post("/tubemail/{worker}/outbound", "A reply from the worker")
            .body::<OutboundRequest>()
            .returns::<Appended>(),
        post(outbound),
    )
    .add(
        Route::get(
            "/tubemail/{worker}/events",
            "Read the timeline (original rules: unknown `since` reads from the start)",
        )
        .query::<CompatEventsQuery>()
        .returns::<EventsResponse>(),
        axum::routing::get(events),
    )
    .add(
        Route::post(
            "/tubemail/{worker}/permission-request",
            "The worker asks to run a tool",
        )
        .body::<PermissionRequestBody>()
        .returns::<Appended>(),
        post(permission_request),
    )
    .add(
        Route::post(
            "/tubemail/{worker}/permission-response",
            "A prompt was answered at the worker",
        )
        .body::<PermissionResponseBody>()
        .returns::<ResolveResponse>(),
        post(permission_response),
    )
    .add(
        Route::post(
            "/tubemail/{worker}/context-pct",
            "Context window use from the manager",
        )
        .body::<ContextPctRequest>()
        .returns::<ChangedResponse>(),
        post(context_pct),
    )
    .add(
        Route::post(
            "/tubemail/{worker}/active",
            "Activity observation (heartbeat) from the manager",
        )
        .body::<ActiveRequest>()
        .returns::<ChangedResponse>(),
        post(active),
    )
    .add(
        Route::post(
            "/tubemail/{worker}/condition",
            "A condition that keeps the worker from taking messages (its channel unavailable, \
             its terminal blocked), or null when it cleared; shown in `state_reason`",
        )
        .body::<ConditionRequest>()
        .returns::<ChangedResponse>(),
        post(condition),
    )
    .add(
        Route::post(
            "/tubemail/{worker}/delivered",
            "The worker passed events up to `through` on to its session (a fresh stream resumes after it)",
        )
        .body::<DeliveredRequest>()
        .returns::<ChangedResponse>(),
        post(delivered),
    )
}

async fn register(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(b): JsonBody<RegisterRequest>,
) -> ApiResult<Json<RegisterResponse>> {
    let reg = Registration {
        cwd: b.cwd,
        pid: b.pid,
        forwarder_version: b.forwarder_version,
        permission_mode: b.permission_mode,
    };
    Ok(Json(s.engine.register(&w, reg).await?))
}

async fn unregister(State(s): State<AppState>, Worker(w): Worker) -> Json<OkResponse> {
    s.engine.unregister(&w);
    Json(OkResponse { ok: true })
}

async fn goodbye(State(s): State<AppState>, Worker(w): Worker) -> ApiResult<Json<OkResponse>> {
    s.engine.goodbye(&w).await?;
    Ok(Json(OkResponse { ok: true }))
}

async fn outbound(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(b): JsonBody<OutboundRequest>,
) -> ApiResult<Json<Appended>> {
    Ok(Json(s.engine.outbound(&w, b.text, b.meta).await?))
}

/// `since` and `limit` of the original's events route.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct CompatEventsQuery {
    /// Events strictly after this id (unknown ids read from the start).
    #[serde(default)]
    since: Option<String>,
    /// 1–1000, default 50.
    #[serde(default)]
    limit: Option<i64>,
}

async fn events(
    State(s): State<AppState>,
    Worker(w): Worker,
    QueryArgs(q): QueryArgs<CompatEventsQuery>,
) -> ApiResult<Json<EventsResponse>> {
    super::ops::read_events(&s, &w, q.since.as_deref(), q.limit.unwrap_or(50), false).await
}

async fn permission_request(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(b): JsonBody<PermissionRequestBody>,
) -> ApiResult<Json<Appended>> {
    Ok(Json(s.engine.permission_request(&w, b).await?))
}

async fn permission_response(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(b): JsonBody<PermissionResponseBody>,
) -> ApiResult<Json<ResolveResponse>> {
    let ok = s
        .engine
        .resolve_permission(&w, &b.request_id, b.behavior)
        .await?;
    Ok(Json(ResolveResponse {
        ok,
        request_id: b.request_id,
    }))
}

/// The original coerces like Python's `int()`: integers, integral floats
/// and numeric strings pass.
fn coerce_pct(v: &Value) -> ApiResult<Option<u8>> {
    let bad = || ApiError::bad_request("pct must be an integer or null");
    let n = match v {
        Value::Null => return Ok(None),
        Value::Bool(b) => i64::from(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i,
            (None, Some(f)) if f.is_finite() => f.trunc() as i64,
            _ => return Err(bad()),
        },
        Value::String(s) => s.trim().parse().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    u8::try_from(n)
        .ok()
        .filter(|p| *p <= 100)
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("pct must be between 0 and 100"))
}

async fn context_pct(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(b): JsonBody<ContextPctRequest>,
) -> ApiResult<Json<ChangedResponse>> {
    let pct = coerce_pct(&b.pct)?;
    let changed = s.engine.set_context_pct(&w, pct).await?;
    Ok(Json(ChangedResponse { ok: true, changed }))
}

async fn active(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(b): JsonBody<ActiveRequest>,
) -> ApiResult<Json<ChangedResponse>> {
    let Value::Bool(is_active) = b.is_active else {
        return Err(ApiError::bad_request("is_active must be a boolean"));
    };
    let changed = s.engine.set_active(&w, is_active).await?;
    Ok(Json(ChangedResponse { ok: true, changed }))
}

async fn condition(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(b): JsonBody<ConditionRequest>,
) -> ApiResult<Json<ChangedResponse>> {
    let changed = s.engine.set_condition(&w, b.condition).await?;
    Ok(Json(ChangedResponse { ok: true, changed }))
}

async fn delivered(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(b): JsonBody<DeliveredRequest>,
) -> ApiResult<Json<ChangedResponse>> {
    let changed = s.engine.acknowledge(&w, b.through).await?;
    Ok(Json(ChangedResponse { ok: true, changed }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pct_coercion() {
        assert_eq!(coerce_pct(&json!(null)).ok(), Some(None));
        assert_eq!(coerce_pct(&json!(42)).ok(), Some(Some(42)));
        assert_eq!(coerce_pct(&json!(42.9)).ok(), Some(Some(42)));
        assert_eq!(coerce_pct(&json!("7")).ok(), Some(Some(7)));
        assert!(coerce_pct(&json!(101)).is_err());
        assert!(coerce_pct(&json!(-1)).is_err());
        assert!(coerce_pct(&json!("x")).is_err());
        assert!(coerce_pct(&json!([1])).is_err());
    }
}
