//! Routes, one file per group, assembled through the OpenAPI route table.

mod flows;
mod forwarder;
mod meta;
mod ops;
mod streams;
mod webapi;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::Api;
use crate::security;

/// Every route behind the security guard.
pub fn router(state: AppState) -> Router {
    let api = Api::new();
    let api = forwarder::add(api);
    let api = streams::add(api);
    let api = webapi::add(api);
    let api = ops::add(api);
    let api = flows::add(api);
    let api = meta::add(api);
    let (router, doc) = api.finish();
    let doc = Arc::new(doc);
    router
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(|| async { ApiError::not_found("Not Found") })
        .method_not_allowed_fallback(|| async {
            ApiError::Status(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed".into())
                .into_response()
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state)
}
