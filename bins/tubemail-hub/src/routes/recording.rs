//! `/api/workers/{worker}/recording[/frames]`: recording state, the
//! on/off switch and the recorded text frames.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use tubemail_core::WorkerName;
use tubemail_core::api::RecordingToggle;
use tubemail_core::recording::{FramesQuery, FramesResponse, RecordError, RecordingStatus};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryArgs, Worker};
use crate::openapi::{Api, Route};
use crate::terminal::Terminals;

pub fn add(api: Api) -> Api {
    api.add(
        Route::get(
            "/api/workers/{worker}/recording",
            "Recording state and files (paths relative to the data dir)",
        )
        .returns::<RecordingStatus>(),
        get(status),
    )
    .add(
        Route::post(
            "/api/workers/{worker}/recording",
            "Turn recording on or off (404 for an unknown worker)",
        )
        .body::<RecordingToggle>()
        .returns::<RecordingStatus>(),
        axum::routing::post(toggle),
    )
    .add(
        Route::get(
            "/api/workers/{worker}/recording/frames",
            "Recorded text frames, oldest first (since inclusive, until exclusive, grep = regex)",
        )
        .query::<FramesArgs>()
        .returns::<FramesResponse>(),
        get(frames),
    )
}

/// Maps recorder failures: bad input is the caller's (400), the rest ours.
pub fn record_error(e: &RecordError) -> ApiError {
    match e {
        RecordError::BadRegex(_) | RecordError::BadTime(_) => ApiError::bad_request(e.to_string()),
        RecordError::Io { .. } => {
            tracing::error!(error = ?e, "recordings unreadable");
            ApiError::Status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not read the recordings".into(),
            )
        }
    }
}

/// Filters of the frames query.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct FramesArgs {
    /// ISO-8601 time (or epoch seconds), inclusive.
    #[serde(default)]
    since: Option<String>,
    /// ISO-8601 time (or epoch seconds), exclusive.
    #[serde(default)]
    until: Option<String>,
    /// Regular expression the frame text must match (at most 1024 characters).
    #[serde(default)]
    grep: Option<String>,
    /// Most frames, 1–2000 (default 200).
    #[serde(default)]
    limit: Option<i64>,
}

/// Recording state of `w`, or a 500 when the files cannot be listed.
pub async fn status_of(t: &Terminals, w: &WorkerName) -> ApiResult<RecordingStatus> {
    t.status(w).await.map_err(|e| record_error(&e))
}

async fn status(State(s): State<AppState>, Worker(w): Worker) -> ApiResult<Json<RecordingStatus>> {
    Ok(Json(status_of(&s.terminals, &w).await?))
}

async fn toggle(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(b): JsonBody<RecordingToggle>,
) -> ApiResult<Json<RecordingStatus>> {
    s.terminals.set_recording(&w, b.enabled).await?;
    Ok(Json(status_of(&s.terminals, &w).await?))
}

async fn frames(
    State(s): State<AppState>,
    Worker(w): Worker,
    QueryArgs(q): QueryArgs<FramesArgs>,
) -> ApiResult<Json<FramesResponse>> {
    let query = FramesQuery {
        since: q.since,
        until: q.until,
        grep: q.grep,
        limit: tubemail_core::limits::frames_per_read(q.limit),
    };
    s.terminals
        .frames(&w, query)
        .await
        .map(Json)
        .map_err(|e| record_error(&e))
}
