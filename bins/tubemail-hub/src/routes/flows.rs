//! `/api/flows`: saved messages and their runs (original soft errors kept).

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};
use tubemail_core::WorkerName;
use tubemail_core::api::{
    FlowRunRequest, FlowRunResponse, FlowSaveRequest, FlowSaveResponse, FlowsResponse, RunResponse,
};
use tubemail_core::engine::Error as EngineError;

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{JsonBody, flow_name, soft_error, worker_name};
use crate::openapi::{Api, Route};

pub fn add(api: Api) -> Api {
    api.add(
        Route::get("/api/flows", "Every flow").returns::<FlowsResponse>(),
        get(list),
    )
    .add(
        Route::post(
            "/api/flows",
            "Save (or overwrite) a flow; a missing or invalid name, body or default_worker \
             answers the original's 200 {ok: false, error}",
        )
        .body::<FlowSaveRequest>()
        .returns::<FlowSaveResponse>()
        .or_soft_error(),
        post(save),
    )
    .add(
        Route::delete("/api/flows/{name}", "Delete a flow (runs stay)"),
        delete(remove),
    )
    .add(
        Route::post(
            "/api/flows/{name}/run",
            "Send a flow to a worker; an unknown flow, or one without a worker, answers the \
             original's 200 {ok: false, error}",
        )
        .body::<FlowRunRequest>()
        .returns::<FlowRunResponse>()
        .or_soft_error(),
        post(run),
    )
    .add(
        Route::get("/api/flows/runs/{run_id}", "A run with its worker's events")
            .returns::<RunResponse>()
            .or_soft_error(),
        get(run_log),
    )
    .add(
        Route::post("/api/flows/runs/{run_id}/finish", "Mark a run finished"),
        post(finish),
    )
}

async fn list(State(s): State<AppState>) -> Json<FlowsResponse> {
    Json(FlowsResponse {
        flows: s.engine.flows(),
    })
}

async fn save(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<FlowSaveRequest>,
) -> ApiResult<Json<Value>> {
    if b.name.is_empty() || b.body.is_empty() {
        return Ok(Json(soft_error("name and body required")));
    }
    let name = match flow_name(&b.name) {
        Ok(n) => n,
        Err(e) => return Ok(Json(soft_error(e))),
    };
    let default_worker = match b.default_worker.as_deref().filter(|w| !w.is_empty()) {
        None => None,
        Some(w) => match WorkerName::new(w) {
            Ok(w) => Some(w),
            Err(_) => return Ok(Json(soft_error(format!("invalid default_worker: '{w}'")))),
        },
    };
    let flow = s
        .engine
        .save_flow(name, b.body, default_worker, b.meta.unwrap_or_default())
        .await?;
    Ok(Json(json!(FlowSaveResponse { ok: true, flow })))
}

async fn remove(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let ok = match flow_name(&name) {
        Ok(n) => s.engine.delete_flow(&n).await?,
        Err(_) => false,
    };
    Ok(Json(json!({"ok": ok, "name": name})))
}

async fn run(
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(b): JsonBody<FlowRunRequest>,
) -> ApiResult<Json<Value>> {
    let Ok(flow) = flow_name(&name) else {
        return Ok(Json(soft_error(format!("flow not found: '{name}'"))));
    };
    let worker = b
        .worker
        .as_deref()
        .filter(|w| !w.is_empty())
        .map(worker_name)
        .transpose()?;
    match s
        .engine
        .run_flow(&flow, worker, b.meta.unwrap_or_default())
        .await
    {
        Ok(r) => Ok(Json(json!(FlowRunResponse {
            ok: true,
            run_id: r.run_id,
            first_event_id: r.first_event_id,
            queued_at: r.queued_at,
            worker: r.worker,
        }))),
        Err(EngineError::NotFound(m) | EngineError::BadRequest(m)) => Ok(Json(soft_error(m))),
        Err(e) => Err(e.into()),
    }
}

async fn run_log(State(s): State<AppState>, Path(run_id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(match s.engine.run_log(&run_id).await? {
        Some(run) => json!({"ok": true, "run": run}),
        None => soft_error(format!("run not found: '{run_id}'")),
    }))
}

async fn finish(State(s): State<AppState>, Path(run_id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(match s.engine.finish_run(&run_id).await? {
        Some(at) => json!({"ok": true, "run_id": run_id, "finished_at": at}),
        None => soft_error(format!("run not found: '{run_id}'")),
    }))
}
