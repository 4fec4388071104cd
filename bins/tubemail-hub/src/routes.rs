//! Routes, one file per group, assembled through the OpenAPI route table.

mod approve;
mod flows;
mod forwarder;
mod meta;
mod ops;
mod pty;
mod recording;
mod rules;
mod streams;
mod tokens;
pub(crate) mod ui;
mod webapi;
pub(crate) mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::Api;
use crate::{security, trace};

pub use pty::Tls;

/// A session ended with `DELETE /mcp/` answers 204, not rmcp's 202: the
/// official Python SDK takes anything but 200 or 204 for a failure and
/// warns "Session termination failed: 202" at every client's exit.
async fn session_end_no_content(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let delete = req.method() == axum::http::Method::DELETE;
    let mut resp = next.run(req).await;
    if delete && resp.status() == StatusCode::ACCEPTED {
        *resp.status_mut() = StatusCode::NO_CONTENT;
    }
    resp
}

/// `/mcp` → 307 `/mcp/`, keeping the query (clients that drop the slash).
/// The request body is not read, so the connection cannot be reused: say so
/// (`Connection: close`) rather than let the client find a closed socket.
async fn mcp_redirect(uri: axum::http::Uri) -> impl IntoResponse {
    let target = match uri.query() {
        Some(q) => format!("/mcp/?{q}"),
        None => "/mcp/".to_owned(),
    };
    (
        StatusCode::TEMPORARY_REDIRECT,
        [
            (axum::http::header::LOCATION, target),
            (axum::http::header::CONNECTION, "close".to_owned()),
        ],
    )
}

/// Every documented route, in the table that builds both the router and
/// the OpenAPI document.
fn table() -> Api {
    let api = Api::new();
    let api = forwarder::add(api);
    let api = streams::add(api);
    let api = webapi::add(api);
    let api = ops::add(api);
    let api = flows::add(api);
    let api = meta::add(api);
    let api = pty::add(api);
    let api = recording::add(api);
    let api = tokens::add(api);
    let api = rules::add(api);
    let api = webhooks::add(api);
    let api = approve::add(api);
    ui::add(api)
}

/// The OpenAPI document `GET /api/openapi.json` serves, built without a
/// hub (`tubemail-hub --openapi`).
pub fn openapi_document() -> serde_json::Value {
    table().finish().1
}

/// Every route behind the security guard.
pub fn router(state: AppState) -> Router {
    let (router, doc) = table().finish();
    let doc = Arc::new(doc);
    router
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route(
            "/mcp/",
            axum::routing::any_service(crate::mcp::service(state.clone()))
                .layer(axum::middleware::from_fn(session_end_no_content))
                .layer(axum::middleware::from_fn_with_state(
                    state.mcp_sessions.clone(),
                    crate::mcp::sessions::track,
                )),
        )
        .route("/mcp", axum::routing::any(mcp_redirect))
        .fallback(ui::fallback)
        .method_not_allowed_fallback(|| async {
            ApiError::Status(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed".into())
                .into_response()
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        // The `request` span (see `trace`); the trace layer adds the status
        // and latency at debug level (`TUBEMAIL_LOG=info,tower_http=debug`
        // shows them); failures are the handlers' to log, at the level they
        // choose.
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(trace::request_span)
                .on_failure(
                    tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG),
                ),
        )
        .layer(axum::middleware::from_fn(trace::assign_id))
        .layer(axum::middleware::from_fn(security::frame_headers))
        .with_state(state)
}
