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

/// Reads a request's whole body before any handler sees it: at most
/// `max_body_bytes` (else 413) within `read_timeout` (else 408), both with
/// a JSON error. Bodies then reach handlers (JSON routes, raw terminal
/// output, MCP) already in memory, so a client that announces a body and
/// trickles it, or never sends it, holds nothing for longer than the
/// timeout and cannot make any route buffer more than the limit.
pub async fn buffer_body(state: &AppState, req: Request) -> Result<Request, ApiError> {
    use axum::body::{Body, HttpBody};
    if req.body().is_end_stream() {
        return Ok(req);
    }
    let limit = state.options.max_body_bytes;
    let too_large = || {
        ApiError::Status(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {limit} bytes"),
        )
    };
    if req.body().size_hint().lower() > limit as u64 {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    let timeout = state.options.read_timeout;
    let read = async {
        use futures::StreamExt;
        let mut stream = body.into_data_stream();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|_| ApiError::bad_request("request body could not be read"))?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    };
    let bytes = tokio::time::timeout(timeout, read).await.map_err(|_| {
        ApiError::Status(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            format!("request body did not arrive within {} s", timeout.as_secs()),
        )
    })??;
    Ok(Request::from_parts(parts, Body::from(bytes)))
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

/// The request's credential's [`Revocation`](crate::tokens::Revocation)
/// (one that never fires for the shared secret or a public route).
impl<S: Send + Sync> FromRequestParts<S> for crate::tokens::Revocation {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned().unwrap_or_default())
    }
}
