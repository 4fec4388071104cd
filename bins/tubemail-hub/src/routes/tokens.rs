//! `/api/tokens` (issue, list, revoke scoped credentials; shared secret
//! only) and `/api/whoami` (what the caller's credential may do).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, worker_name};
use crate::openapi::{Api, Route};
use crate::tokens::{Scope, TokenError, TokenInfo, TokenKind};

/// Longest label.
const MAX_LABEL: usize = 200;

pub fn add(api: Api) -> Api {
    api.add(
        Route::post(
            "/api/tokens",
            "Issue a scoped token (shared secret only); the token is shown once",
        )
        .body::<IssueRequest>()
        .returns::<IssueResponse>(),
        post(issue),
    )
    .add(
        Route::get(
            "/api/tokens",
            "Every issued token, revoked ones too, without secrets (shared secret only)",
        )
        .returns::<TokensResponse>(),
        get(list),
    )
    .add(
        Route::delete(
            "/api/tokens/{id}",
            "Revoke a token at once (shared secret only; 404 for an unknown id)",
        )
        .returns::<RevokeResponse>(),
        delete(revoke),
    )
    .add(
        Route::get(
            "/api/whoami",
            "What the presented credential is and may do (any credential)",
        )
        .returns::<WhoAmI>(),
        get(whoami),
    )
}

/// `POST /api/tokens`. The schema says what the handler enforces: a
/// worker token names its worker, an operator or operator-ro token names
/// none.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"properties": {"kind": {"const": "worker"}}, "required": ["worker"]},
    {"properties": {"kind": {"const": "operator-ro"}}, "not": {"required": ["worker"]}},
    {"properties": {"kind": {"const": "operator"}}, "not": {"required": ["worker"]}},
]))]
pub struct IssueRequest {
    /// `worker` (acts as one worker and its manager), `operator-ro` (GET
    /// under /api only) or `operator` (the operator API and MCP, no
    /// tokens: for an orchestrator).
    kind: TokenKind,
    /// The worker a `worker` token acts as (required for that kind, refused
    /// for the other).
    #[serde(default)]
    worker: Option<String>,
    /// Free text to tell tokens apart (at most 200 characters).
    #[serde(default)]
    label: Option<String>,
}

/// A freshly issued token.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct IssueResponse {
    /// The token: pass it as `Authorization: Bearer <token>`. Shown only
    /// now; the hub keeps its hash.
    token: String,
    /// Its description.
    #[serde(flatten)]
    info: TokenInfo,
}

/// `GET /api/tokens`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TokensResponse {
    /// Oldest first.
    tokens: Vec<TokenInfo>,
}

/// `DELETE /api/tokens/{id}`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RevokeResponse {
    /// Always true.
    ok: bool,
    /// False when it was revoked already.
    revoked: bool,
}

/// `GET /api/whoami`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WhoAmI {
    /// `secret` (the shared secret: everything), `worker`, `operator-ro`
    /// or `operator`.
    kind: String,
    /// The token's id (absent for the shared secret).
    id: Option<String>,
    /// The worker a worker token acts as.
    worker: Option<String>,
}

fn admin_only(scope: Option<&Extension<Scope>>) -> ApiResult<()> {
    match scope {
        Some(Extension(Scope::Admin)) => Ok(()),
        _ => Err(ApiError::forbidden("only the shared secret manages tokens")),
    }
}

fn token_error(e: &TokenError) -> ApiError {
    match e {
        TokenError::Store(tubemail_core::store::StoreError::Full(_)) => ApiError::Status(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage is full; nothing was stored".into(),
        ),
        other => {
            tracing::error!(error = %other, "token store failed");
            ApiError::Status(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
        }
    }
}

async fn issue(
    State(s): State<AppState>,
    scope: Option<Extension<Scope>>,
    JsonBody(b): JsonBody<IssueRequest>,
) -> ApiResult<Json<IssueResponse>> {
    admin_only(scope.as_ref())?;
    let label = b.label.unwrap_or_default();
    if label.chars().count() > MAX_LABEL {
        return Err(ApiError::bad_request(format!(
            "label is longer than {MAX_LABEL} characters"
        )));
    }
    let worker = match (b.kind, b.worker.as_deref()) {
        (TokenKind::Worker, None) => {
            return Err(ApiError::bad_request("a worker token needs `worker`"));
        }
        (TokenKind::Worker, Some(raw)) => {
            let w = worker_name(raw)?;
            if w.is_manager() {
                return Err(ApiError::bad_request(
                    "issue the token for the worker itself: it covers the worker's manager too",
                ));
            }
            Some(w)
        }
        (TokenKind::OperatorRo | TokenKind::Operator, None) => None,
        (kind @ (TokenKind::OperatorRo | TokenKind::Operator), Some(_)) => {
            return Err(ApiError::bad_request(format!(
                "an {} token is not tied to a worker: leave out `worker`",
                kind.as_str()
            )));
        }
    };
    let (info, token) = s
        .tokens
        .issue(b.kind, worker, label)
        .await
        .map_err(|e| token_error(&e))?;
    Ok(Json(IssueResponse { token, info }))
}

async fn list(
    State(s): State<AppState>,
    scope: Option<Extension<Scope>>,
) -> ApiResult<Json<TokensResponse>> {
    admin_only(scope.as_ref())?;
    Ok(Json(TokensResponse {
        tokens: s.tokens.list(),
    }))
}

async fn revoke(
    State(s): State<AppState>,
    scope: Option<Extension<Scope>>,
    Path(id): Path<String>,
) -> ApiResult<Json<RevokeResponse>> {
    admin_only(scope.as_ref())?;
    match s.tokens.revoke(&id).await.map_err(|e| token_error(&e))? {
        Some(revoked) => Ok(Json(RevokeResponse { ok: true, revoked })),
        None => Err(ApiError::not_found(format!("no token with id {id:?}"))),
    }
}

async fn whoami(scope: Option<Extension<Scope>>) -> ApiResult<Json<WhoAmI>> {
    let Some(Extension(scope)) = scope else {
        return Err(ApiError::unauthorized("missing bearer token"));
    };
    Ok(Json(match scope {
        Scope::Admin => WhoAmI {
            kind: "secret".into(),
            id: None,
            worker: None,
        },
        Scope::Worker { id, worker } => WhoAmI {
            kind: "worker".into(),
            id: Some(id),
            worker: Some(worker.as_str().to_owned()),
        },
        Scope::OperatorRo { id } => WhoAmI {
            kind: "operator-ro".into(),
            id: Some(id),
            worker: None,
        },
        Scope::Operator { id } => WhoAmI {
            kind: "operator".into(),
            id: Some(id),
            worker: None,
        },
    }))
}
