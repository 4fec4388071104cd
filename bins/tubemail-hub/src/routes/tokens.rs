//! `/api/tokens` (issue, list, revoke scoped credentials; shared secret
//! only) and `/api/whoami` (what the caller's credential may do).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use tubemail_core::api::{IssuedToken, RevokeResponse, TokenIssueRequest, TokensResponse, WhoAmI};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, worker_name};
use crate::openapi::{Api, Route};
use crate::tokens::{Scope, TokenError, TokenKind};

/// Longest label.
const MAX_LABEL: usize = 200;

pub fn add(api: Api) -> Api {
    api.add(
        Route::post(
            "/api/tokens",
            "Issue a scoped token (shared secret only); the token is shown once",
        )
        .body::<TokenIssueRequest>()
        .returns::<IssuedToken>(),
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
    JsonBody(b): JsonBody<TokenIssueRequest>,
) -> ApiResult<Json<IssuedToken>> {
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
    Ok(Json(IssuedToken { token, info }))
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
        Some(revoked) => {
            // Its streams ended with the signal; its MCP sessions go too.
            s.mcp_sessions.end_credential(&id).await;
            Ok(Json(RevokeResponse { ok: true, revoked }))
        }
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
