//! REST twins of the MCP operations the original only offered as tools
//! (send, receive, status, wait, interrupt, control commands).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tubemail_core::api::{
    ClearAndSendRequest, ClearAndSendResponse, ControlResponse, EventsResponse, InterruptResponse,
    KeystrokeRequest, KeystrokeResponse, NotIdle, ReconnectRequest, ScreenshotResponse,
    SendRequest,
};
use tubemail_core::command::{ManagerHealth, ReconnectOutcome};
use tubemail_core::engine::{ControlOutcome, MANAGER_REPLY, RECONNECT_REPLY};
use tubemail_core::limits;
use tubemail_core::{EventId, ManagerCommand, SendReceipt, WorkerName, WorkerStatus};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryArgs, Worker};
use crate::openapi::{Api, Route};

pub fn add(api: Api) -> Api {
    api.add(
        Route::post("/api/workers/{worker}/send", "Send a message (tm_send); harness commands go to the manager. Answered after the message is on disk; an Idempotency-Key header (or idempotency_key) makes retries safe")
            .body::<SendRequest>()
            .returns::<SendReceipt>(),
        post(send),
    )
    .add(
        Route::get("/api/workers/{worker}/events", "Read the timeline (tm_receive); an unknown `since` is an error")
            .query::<EventsQuery>()
            .returns::<EventsResponse>(),
        get(events),
    )
    .add(
        Route::get("/api/workers/{worker}/status", "State with its reason and receipts (tm_status)").returns::<WorkerStatus>(),
        get(status),
    )
    .add(
        Route::get("/api/workers/{worker}/wait", "Wait for new events (tm_wait_for_activity); without `since`, from now")
            .query::<WaitQuery>()
            .returns::<EventsResponse>(),
        get(wait),
    )
    .add(
        Route::post("/api/workers/{worker}/interrupt", "Interrupt the worker (tm_interrupt)")
            .returns::<InterruptResponse>(),
        post(interrupt),
    )
    .add(
        Route::post("/api/workers/{worker}/restart", "Restart claude via the manager (tm_restart)")
            .returns::<ControlResponse>(),
        post(restart),
    )
    .add(
        Route::post("/api/workers/{worker}/stop", "Stop the worker via the manager (tm_stop)")
            .returns::<ControlResponse>(),
        post(stop),
    )
    .add(
        Route::post("/api/workers/{worker}/keystroke", "Type keys into the worker's terminal (tm_keystroke)")
            .body::<KeystrokeRequest>()
            .returns::<KeystrokeResponse>(),
        post(keystroke),
    )
    .add(
        Route::post("/api/workers/{worker}/clear-and-send", "/clear, /rename, then a message; idle workers only (tm_clear_and_send)")
            .body::<ClearAndSendRequest>()
            .returns::<ClearAndSendResponse>(),
        post(clear_and_send),
    )
    .add(
        Route::get("/api/workers/{worker}/health", "Process health from the manager (tm_health); 409 when it is not connected, 504 when it does not answer in 5 s")
            .returns::<ManagerHealth>(),
        get(health),
    )
    .add(
        Route::get("/api/workers/{worker}/screenshot", "Screen text from the manager (tm_screenshot); 409 when it is not connected, 504 when it does not answer in 5 s")
            .query::<ScreenshotQuery>()
            .returns::<ScreenshotResponse>(),
        get(screenshot),
    )
    .add(
        Route::post("/api/workers/{worker}/reconnect-mcp", "Reconnect one of the worker's MCP servers (tm_reconnect_mcp); 409 when its manager is not connected, 504 after 30 s")
            .body::<ReconnectRequest>()
            .returns::<ReconnectOutcome>(),
        post(reconnect_mcp),
    )
}

async fn send(
    State(s): State<AppState>,
    Worker(w): Worker,
    headers: HeaderMap,
    JsonBody(b): JsonBody<SendRequest>,
) -> ApiResult<Json<SendReceipt>> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(b.idempotency_key);
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 200) {
        return Err(ApiError::bad_request(
            "idempotency key must be 1-200 characters",
        ));
    }
    let receipt = s
        .engine
        .send(&w, b.message, b.meta.unwrap_or_default(), key)
        .await?;
    Ok(Json(receipt))
}

/// Where to read from.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct EventsQuery {
    /// Events strictly after this id; without it, the newest `limit`.
    #[serde(default)]
    since: Option<String>,
    /// Events strictly before this id, the newest `limit` of them (oldest
    /// first): the page above one already read. Not together with `since`.
    #[serde(default)]
    before: Option<String>,
    /// 1–1000, default 100.
    #[serde(default)]
    limit: Option<i64>,
}

async fn events(
    State(s): State<AppState>,
    Worker(w): Worker,
    QueryArgs(q): QueryArgs<EventsQuery>,
) -> ApiResult<Json<EventsResponse>> {
    let limit = q.limit.unwrap_or(100);
    let given = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    match (given(&q.since).as_deref(), given(&q.before).as_deref()) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "pass since (to read forwards) or before (to read backwards), not both",
        )),
        (None, Some(before)) => {
            let limit = limits::events_per_read(limit);
            let events = s.engine.events_before(&w, before, limit).await?;
            Ok(Json(EventsResponse { events }))
        }
        (since, None) => read_events(&s, &w, since, limit, true).await,
    }
}

/// Reads a timeline page (`limit` bounded by [`limits::events_per_read`]);
/// `strict` refuses an
/// unknown `since` instead of reading from the start.
pub(super) async fn read_events(
    s: &AppState,
    w: &WorkerName,
    since: Option<&str>,
    limit: i64,
    strict: bool,
) -> ApiResult<Json<EventsResponse>> {
    let limit = limits::events_per_read(limit);
    let events = s.engine.events(w, since, limit, strict).await?;
    Ok(Json(EventsResponse { events }))
}

async fn status(State(s): State<AppState>, Worker(w): Worker) -> Json<WorkerStatus> {
    Json(s.engine.status(&w))
}

/// What to wait for.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WaitQuery {
    /// Events after this id; without it, events from now on.
    #[serde(default)]
    since: Option<String>,
    /// Seconds to wait (default 30, at most 300).
    #[serde(default)]
    timeout_s: Option<f64>,
}

async fn wait(
    State(s): State<AppState>,
    Worker(w): Worker,
    QueryArgs(q): QueryArgs<WaitQuery>,
) -> ApiResult<Json<EventsResponse>> {
    let since = match q.since.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(
            EventId::parse(raw)
                .ok_or_else(|| ApiError::bad_request(format!("unknown since: {raw:?}")))?,
        ),
    };
    let secs = q.timeout_s.unwrap_or(30.0);
    if !secs.is_finite() || secs < 0.0 {
        return Err(ApiError::bad_request(
            "timeout_s must be a number of seconds >= 0",
        ));
    }
    let timeout = Duration::from_secs_f64(secs.min(300.0));
    let events = tokio::select! {
        r = s.engine.wait_for_activity(&w, since, timeout) => r?,
        () = s.shutdown.cancelled() => Vec::new(),
    };
    Ok(Json(EventsResponse { events }))
}

async fn interrupt(
    State(s): State<AppState>,
    Worker(w): Worker,
) -> ApiResult<Json<InterruptResponse>> {
    let a = s.engine.interrupt(&w).await?;
    Ok(Json(InterruptResponse {
        ok: true,
        event_id: a.event_id,
    }))
}

async fn control(
    s: &AppState,
    w: &WorkerName,
    command: ManagerCommand,
) -> ApiResult<Json<ControlResponse>> {
    let sent = s.engine.control(w, &command).await?;
    Ok(Json(ControlResponse {
        ok: true,
        event_id: sent.event_id,
        routed_to: sent.worker,
    }))
}

async fn restart(State(s): State<AppState>, Worker(w): Worker) -> ApiResult<Json<ControlResponse>> {
    control(&s, &w, ManagerCommand::Restart).await
}

async fn stop(State(s): State<AppState>, Worker(w): Worker) -> ApiResult<Json<ControlResponse>> {
    control(&s, &w, ManagerCommand::Stop).await
}

async fn keystroke(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(b): JsonBody<KeystrokeRequest>,
) -> ApiResult<Json<KeystrokeResponse>> {
    let (sent, bytes) = s.engine.keystroke(&w, &b.keys).await?;
    Ok(Json(KeystrokeResponse {
        event_id: sent.event_id,
        queued_at: sent.queued_at,
        routed_to: sent.worker,
        bytes_sent: bytes as u64,
    }))
}

async fn clear_and_send(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(b): JsonBody<ClearAndSendRequest>,
) -> ApiResult<Response> {
    match s
        .engine
        .clear_and_send(&w, b.message, b.delay_s, b.restore_name)
        .await?
    {
        Ok(done) => Ok(Json(done).into_response()),
        Err(state) => Ok((
            StatusCode::CONFLICT,
            Json(NotIdle::new(state, "clear+send is only safe when idle")),
        )
            .into_response()),
    }
}

fn manager_reply(
    outcome: ControlOutcome,
    what: &str,
    within: Duration,
) -> ApiResult<tubemail_core::Event> {
    match outcome {
        ControlOutcome::Answered(ev) => Ok(ev),
        ControlOutcome::TimedOut(_) => Err(ApiError::Status(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "manager did not answer {what} within {}s (worker may be offline)",
                within.as_secs()
            ),
        )),
    }
}

/// Refuses at once (409) when the worker's manager is not connected, so a
/// question nobody can answer gets a clear client error, not a 5 s wait
/// and a 504 (kept for a connected manager that stays silent).
fn manager_connected(s: &AppState, w: &tubemail_core::WorkerName) -> ApiResult<()> {
    let manager = if w.is_manager() {
        Ok(w.clone())
    } else {
        w.manager()
    };
    let online = manager
        .as_ref()
        .ok()
        .and_then(|m| s.engine.worker(m))
        .is_some_and(|m| m.online);
    if online {
        return Ok(());
    }
    let name = manager.map_or_else(|_| format!("{w}-manager"), |m| m.to_string());
    Err(ApiError::Status(
        StatusCode::CONFLICT,
        format!("manager {name} is not connected (is claude-tm running for this worker?)"),
    ))
}

/// The manager's answer as `T`, or a 502 saying what it sent instead.
fn manager_json<T: DeserializeOwned>(ev: &tubemail_core::Event, what: &str) -> ApiResult<T> {
    serde_json::from_str(&ev.content).map_err(|e| {
        ApiError::Status(
            StatusCode::BAD_GATEWAY,
            format!("the manager's {what} answer is not what this hub reads: {e}"),
        )
    })
}

async fn health(State(s): State<AppState>, Worker(w): Worker) -> ApiResult<Json<ManagerHealth>> {
    manager_connected(&s, &w)?;
    let ev = manager_reply(
        s.engine.health_check(&w).await?,
        "health_check",
        MANAGER_REPLY,
    )?;
    Ok(Json(manager_json(&ev, "health_check")?))
}

/// How much of the screen.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ScreenshotQuery {
    /// Last lines of the screen (the manager's default when absent).
    #[serde(default)]
    max_lines: Option<u32>,
}

async fn screenshot(
    State(s): State<AppState>,
    Worker(w): Worker,
    QueryArgs(q): QueryArgs<ScreenshotQuery>,
) -> ApiResult<Json<ScreenshotResponse>> {
    manager_connected(&s, &w)?;
    let out = s.engine.screenshot(&w, q.max_lines).await?;
    let ev = manager_reply(out, "screenshot", MANAGER_REPLY)?;
    Ok(Json(ScreenshotResponse {
        worker: w,
        screen: ev.content,
        event_id: ev.event_id,
    }))
}

async fn reconnect_mcp(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(b): JsonBody<ReconnectRequest>,
) -> ApiResult<Json<ReconnectOutcome>> {
    manager_connected(&s, &w)?;
    let out = s.engine.reconnect_mcp(&w, &b.server).await?;
    let ev = manager_reply(out, "reconnect_mcp", RECONNECT_REPLY)?;
    Ok(Json(manager_json(&ev, "reconnect_mcp")?))
}
