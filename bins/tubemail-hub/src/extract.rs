//! Extractors that answer bad input the way the original does.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tubemail_core::{FlowName, WorkerName};

use crate::AppState;
use crate::error::ApiError;

/// A JSON body; bad JSON or wrong fields answer 422 with FastAPI-style
/// details (`loc` names the field), oversized bodies 413.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.options.max_body_bytes;
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| {
                ApiError::Status(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body is larger than {limit} bytes"),
                )
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses `bytes` as `T`, mapping errors to 422 details.
pub fn parse_json<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::validation(
            "missing",
            &[json!("body")],
            "Field required",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let mut loc = vec![json!("body")];
        if path != "." {
            loc.extend(path.split('.').map(|p| json!(p)));
        }
        // serde reports a missing field on its parent; FastAPI names the field.
        let text = inner.to_string();
        if let Some(field) = text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            loc.push(json!(field));
        }
        let (kind, msg) = if inner.is_syntax() || inner.is_eof() {
            ("json_invalid", format!("JSON decode error: {inner}"))
        } else if inner.to_string().starts_with("missing field") {
            ("missing", inner.to_string())
        } else {
            ("value_error", inner.to_string())
        };
        ApiError::validation(kind, &loc, msg)
    })
}

/// Query parameters; bad ones answer 422.
#[derive(Debug)]
pub struct QueryArgs<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| QueryArgs(q))
            .map_err(|e| ApiError::validation("value_error", &[json!("query")], e.body_text()))
    }
}

/// The `{worker}` path segment, validated (400 `invalid worker name`).
#[derive(Debug)]
pub struct Worker(pub WorkerName);

impl<S: Send + Sync> FromRequestParts<S> for Worker {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid worker name"))?;
        let raw = params
            .into_iter()
            .find(|(k, _)| k == "worker")
            .map(|(_, v)| v)
            .unwrap_or_default();
        WorkerName::new(raw).map(Worker).map_err(ApiError::from)
    }
}

/// Parses an optional worker name from a body or query field.
pub fn worker_name(raw: &str) -> Result<WorkerName, ApiError> {
    WorkerName::new(raw).map_err(ApiError::from)
}

/// Parses a flow name, answering the original's soft error text.
pub fn flow_name(raw: &str) -> Result<FlowName, String> {
    FlowName::new(raw).map_err(|_| format!("invalid flow name: '{raw}'"))
}

/// `{"ok": false, "error": msg}` as a JSON value.
pub fn soft_error(msg: impl Into<String>) -> Value {
    json!({"ok": false, "error": msg.into()})
}
