//! The web UI: a Vite build of `frontend/` embedded at build time (rust-embed), served
//! at `/` after every API route, with the original's cache headers and SPA
//! fallback (spec §2.9).
//!
//! - `/` and `*.html` → `Cache-Control: no-cache, no-store, must-revalidate`;
//!   anything under `/assets/` (content-hashed names) → one year, immutable.
//! - A path that names no file becomes `index.html` when the browser asks
//!   for a page (Accept has `text/html`, or the last segment has no dot), so
//!   deep links like `/workers/foo` load the app, while a missing
//!   `/assets/x.js` or `/.well-known/…` (Claude Code's OAuth discovery) stays
//!   a real 404.
//! - Paths of the API (`/api`, `/tubemail`, `/mcp`, `/ws`, `/metrics`,
//!   `/health`) never fall back to the page: they answer JSON 404s.
//! - A hub built without a UI build still compiles and serves a page that
//!   says how to build the UI.
//!
//! Every build, debug included, carries the files inside the binary, so an
//! installed hub never depends on the checkout; `build.rs` decides which
//! build (see there). `Options::ui_dir` (env `TUBEMAIL_STATIC_DIR`) serves
//! another directory from disk instead, for working on the UI.

use std::borrow::Cow;
use std::path::{Component, Path};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::{Api, Route};

/// The built UI that `build.rs` chose (empty when there was none).
#[derive(rust_embed::Embed)]
#[folder = "$TUBEMAIL_UI_EMBED_DIR"]
#[allow_missing = true]
struct Dist;

const NO_CACHE: &str = "no-cache, no-store, must-revalidate";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Path prefixes that belong to the API and never serve the UI.
const API_PREFIXES: &[&str] = &["/api", "/tubemail", "/mcp", "/ws", "/metrics", "/health"];

pub fn add(api: Api) -> Api {
    api.add(
        Route::get(
            "/",
            "The web UI (a page saying how to build it when it is not built in)",
        )
        .public()
        .text("text/html"),
        get(index),
    )
}

/// Whether `path` is served by the UI (and so needs no bearer): everything
/// outside the API prefixes.
pub fn serves(path: &str) -> bool {
    !API_PREFIXES.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

async fn index(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match load(&s, "index.html").await {
        Some(body) => file_response("index.html", body, Some(NO_CACHE)),
        None => not_built(&headers),
    }
}

/// The router's fallback: static files, the SPA page, or a JSON 404.
pub async fn fallback(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    if !serves(path) {
        return ApiError::not_found("Not Found").into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return ApiError::Status(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed".into())
            .into_response();
    }
    let mut rel = path.trim_start_matches('/').to_owned();
    if rel.is_empty() || rel.ends_with('/') {
        rel.push_str("index.html");
    }
    if let Some(body) = load(&s, &rel).await {
        let cache = if rel.ends_with(".html") {
            Some(NO_CACHE)
        } else if path.contains("/assets/") {
            Some(IMMUTABLE)
        } else {
            None
        };
        return file_response(&rel, body, cache);
    }
    if !spa_fallback(path, &headers) {
        return ApiError::not_found("Not Found").into_response();
    }
    match load(&s, "index.html").await {
        Some(body) => file_response("index.html", body, Some(NO_CACHE)),
        None => not_built(&headers),
    }
}

/// The original's rule: a miss becomes the page unless it is under
/// `.well-known/` or `oauth/`, and only when a page is wanted.
fn spa_fallback(path: &str, headers: &HeaderMap) -> bool {
    let rel = path.trim_start_matches('/');
    if rel.starts_with(".well-known/") || rel.starts_with("oauth/") {
        return false;
    }
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let last = rel.rsplit('/').next().unwrap_or("");
    wants_html || !last.contains('.')
}

/// A relative path made only of normal components (no `..`, no root).
fn safe_relative(rel: &str) -> bool {
    !rel.contains('\\')
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

async fn load(s: &AppState, rel: &str) -> Option<Cow<'static, [u8]>> {
    if !safe_relative(rel) {
        return None;
    }
    match &s.options.ui_dir {
        Some(dir) => {
            let path = dir.join(rel);
            match tokio::fs::metadata(&path).await {
                Ok(m) if m.is_file() => {}
                _ => return None,
            }
            match tokio::fs::read(&path).await {
                Ok(bytes) => Some(Cow::Owned(bytes)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not read a UI file");
                    None
                }
            }
        }
        None => Dist::get(rel).map(|f| f.data),
    }
}

/// Content type by extension (the few kinds a Vite build emits).
fn content_type(rel: &str) -> &'static str {
    let ext = rel.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn file_response(rel: &str, body: Cow<'static, [u8]>, cache: Option<&'static str>) -> Response {
    let mut response = (StatusCode::OK, body.into_owned()).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(rel)),
    );
    if let Some(c) = cache {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(c));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// No UI in this binary: say how to build it, and how to use the hub
/// without it.
fn not_built(headers: &HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost:8004");
    let host = html_escape(host);
    let page = Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>TubeMail hub</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}code,pre{{background:#8881;padding:.1rem .3rem;border-radius:4px}}pre{{padding:.8rem;overflow:auto}}</style></head>
<body><h1>TubeMail hub {version}</h1>
<p>The hub is running, but the web UI is not built into this binary.</p>
<p>Build it, then rebuild the hub (<code>make run</code> does both):</p>
<pre>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build
cargo run --release -p tubemail-hub</pre>
<p>Orchestrate workers over MCP by adding this to <code>.mcp.json</code> (the secret is in <code>secret</code> in the hub's data dir):</p>
<pre>{{"mcpServers": {{"tubemail": {{"type": "http", "url": "http://{host}/mcp/",
  "headers": {{"Authorization": "Bearer &lt;secret&gt;"}}}}}}}}</pre>
<p>Or use the JSON API: <a href="/api/openapi.json">/api/openapi.json</a> (bearer required), health at <a href="/health">/health</a>.</p>
</body></html>"#,
        version = env!("CARGO_PKG_VERSION"),
    ));
    let mut response = page.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    response
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_not_ui() {
        for p in [
            "/api",
            "/api/workers",
            "/tubemail/x/stream",
            "/mcp",
            "/mcp/",
            "/ws/pty/a",
            "/metrics",
            "/health",
        ] {
            assert!(!serves(p), "{p}");
        }
        for p in [
            "/",
            "/index.html",
            "/assets/a.js",
            "/workers/x",
            "/apis",
            "/healthz",
        ] {
            assert!(serves(p), "{p}");
        }
    }

    #[test]
    fn fallback_rule() {
        let mut html = HeaderMap::new();
        html.insert(header::ACCEPT, HeaderValue::from_static("text/html,*/*"));
        let none = HeaderMap::new();
        assert!(spa_fallback("/workers/foo", &none));
        assert!(!spa_fallback("/assets/x.js", &none));
        assert!(spa_fallback("/assets/x.js", &html));
        assert!(!spa_fallback(
            "/.well-known/oauth-authorization-server",
            &html
        ));
        assert!(!spa_fallback("/oauth/authorize", &html));
    }

    #[test]
    fn traversal_refused() {
        assert!(safe_relative("assets/a.js"));
        assert!(!safe_relative("../secret"));
        assert!(!safe_relative("assets/../../x"));
        assert!(!safe_relative("/etc/passwd"));
        assert!(!safe_relative("a\\..\\b"));
    }
}
