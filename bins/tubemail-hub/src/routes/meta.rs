//! Health, metrics and the dev bootstrap (the page at `/` is in `ui`).

use std::path::Path;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tubemail_core::Health;

use crate::AppState;
use crate::openapi::{Api, Route};
use crate::{metrics, security};

pub fn add(api: Api) -> Api {
    api.add(
        Route::get("/health", "Liveness and fleet counts")
            .public()
            .returns::<Health>(),
        get(health),
    )
    .add(
        Route::get("/metrics", "Prometheus metrics").text("text/plain"),
        get(prometheus),
    )
    .add(
        Route::get(
            "/api/dev-bootstrap",
            "The secret, for a browser on this machine (loopback only)",
        )
        .public(),
        get(security::dev_bootstrap),
    )
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

fn uptime(secs: u64) -> String {
    if secs >= 3600 {
        format!("{}h {}m", secs / 3600, secs % 3600 / 60)
    } else {
        format!("{}m {}s", secs / 60, secs % 60)
    }
}

async fn health(State(s): State<AppState>) -> Response {
    let dir = s.options.data_dir.clone();
    let bytes = tokio::task::spawn_blocking(move || dir_size(&dir))
        .await
        .unwrap_or(0);
    let mut h: Health = s.engine.health_counts();
    h.version = std::env::var("TUBEMAIL_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned());
    h.git_sha = std::env::var("TUBEMAIL_GIT_SHA")
        .unwrap_or_default()
        .chars()
        .take(7)
        .collect();
    h.uptime = uptime(s.started.elapsed().as_secs());
    h.disk_mb = (bytes as f64 / 1_048_576.0 * 10.0).round() / 10.0;
    let mut body = serde_json::to_string_pretty(&h).unwrap_or_default();
    body.push('\n');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn prometheus(State(s): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&s.metrics, &s.engine, s.mcp_sessions.live().await),
    )
        .into_response()
}
