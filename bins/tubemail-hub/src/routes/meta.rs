//! Health, metrics, the landing page and the dev bootstrap.

use std::path::Path;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
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
        Route::get("/metrics", "Prometheus metrics"),
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
    .add(Route::get("/", "Landing page").public(), get(landing))
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
        metrics::render(&s.metrics, &s.engine),
    )
        .into_response()
}

async fn landing(headers: axum::http::HeaderMap) -> Html<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost:8004");
    let host = html_escape(host);
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>TubeMail hub</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}code,pre{{background:#f3f3f3;padding:.1rem .3rem;border-radius:4px}}pre{{padding:.8rem;overflow:auto}}</style></head>
<body><h1>TubeMail hub {version}</h1>
<p>The hub is running. The web UI is not built into this binary yet.</p>
<p>Orchestrate workers over MCP by adding this to <code>.mcp.json</code> (the secret is in <code>secret</code> in the hub's data dir):</p>
<pre>{{"mcpServers": {{"tubemail": {{"type": "http", "url": "http://{host}/mcp/",
  "headers": {{"Authorization": "Bearer &lt;secret&gt;"}}}}}}}}</pre>
<p>Or use the JSON API: <a href="/api/openapi.json">/api/openapi.json</a> (bearer required), health at <a href="/health">/health</a>.</p>
</body></html>"#,
        version = env!("CARGO_PKG_VERSION"),
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
