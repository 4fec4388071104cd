//! API errors and their JSON bodies (`{"detail": ...}`, as the original).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tubemail_core::engine;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub enum ApiError {
    /// A status with a message the client may see.
    Status(StatusCode, String),
    /// Request validation errors in FastAPI's shape (HTTP 422).
    Validation(Vec<Value>),
    /// 429 with a message and `Retry-After` (whole seconds, at least 1).
    RateLimited(String, std::time::Duration),
}

impl ApiError {
    /// 400 with `detail`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::Status(StatusCode::BAD_REQUEST, detail.into())
    }

    /// 404 with `detail`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        ApiError::Status(StatusCode::NOT_FOUND, detail.into())
    }

    /// 401 with `detail`.
    pub fn unauthorized(detail: &str) -> Self {
        ApiError::Status(StatusCode::UNAUTHORIZED, detail.into())
    }

    /// 403 with `detail`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Status(StatusCode::FORBIDDEN, detail.into())
    }

    /// One 422 entry: `{"type", "loc", "msg"}`.
    pub fn validation(kind: &str, loc: &[Value], msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![json!({"type": kind, "loc": loc, "msg": msg.into()})])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Status(status, detail) => {
                (status, Json(json!({"detail": detail}))).into_response()
            }
            ApiError::RateLimited(detail, wait) => {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let secs = secs.max(1);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(axum::http::header::RETRY_AFTER, secs.to_string())],
                    Json(json!({"detail": format!("{detail}; retry in {secs} s")})),
                )
                    .into_response()
            }
            ApiError::Validation(items) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"detail": items})),
            )
                .into_response(),
        }
    }
}

impl From<engine::Error> for ApiError {
    fn from(e: engine::Error) -> Self {
        use engine::Error as E;
        match e {
            E::InvalidName(_) => ApiError::bad_request("invalid worker name"),
            E::NotFound(m) => ApiError::not_found(m),
            E::BadRequest(m) => ApiError::bad_request(m),
            // Prompts are answered within seconds when someone watches.
            E::Limit(m) => ApiError::RateLimited(m, std::time::Duration::from_secs(10)),
            E::ShuttingDown => ApiError::Status(
                StatusCode::SERVICE_UNAVAILABLE,
                "hub is shutting down".into(),
            ),
            ref full if full.is_storage_full() => {
                tracing::error!(error = %full, "storage full; refusing writes");
                ApiError::Status(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage is full; nothing was stored".into(),
                )
            }
            other => {
                tracing::error!(error = ?other, "internal error");
                ApiError::Status(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

impl From<tubemail_core::NameError> for ApiError {
    fn from(_: tubemail_core::NameError) -> Self {
        ApiError::bad_request("invalid worker name")
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
