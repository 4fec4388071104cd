//! `/api/rules`: the ordered permission rules (first match wins) and a dry
//! run of them. Writes need an operator credential, like `/api/settings`.

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use serde::Deserialize;
use tubemail_core::PermissionRule;
use tubemail_core::api::{RuleDecision, RuleDeleted, RuleTestRequest, RulesList};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryArgs};
use crate::openapi::{Api, Route};

pub fn add(api: Api) -> Api {
    api.add(
        Route::get(
            "/api/rules",
            "The permission rules, in order (first match wins)",
        )
        .returns::<RulesList>(),
        get(list),
    )
    .add(
        Route::put(
            "/api/rules",
            "Replace the whole ordered list (ids kept, missing ones assigned); \
             an invalid glob or regex answers 400 naming the rule and field",
        )
        .body::<RulesList>()
        .returns::<RulesList>(),
        put(replace),
    )
    .add(
        Route::post(
            "/api/rules",
            "Add a rule at `position` (the end by default); 400 when invalid",
        )
        .query::<PositionQuery>()
        .body::<PermissionRule>()
        .returns::<PermissionRule>(),
        post(create),
    )
    .add(
        Route::put(
            "/api/rules/{id}",
            "Replace one rule in place (404 for an unknown id)",
        )
        .body::<PermissionRule>()
        .returns::<PermissionRule>(),
        put(update),
    )
    .add(
        Route::delete("/api/rules/{id}", "Delete a rule (404 for an unknown id)")
            .returns::<RuleDeleted>(),
        axum::routing::delete(remove),
    )
    .add(
        Route::post(
            "/api/rules/test",
            "Which rule would decide a prompt, and how (nothing is recorded)",
        )
        .body::<RuleTestRequest>()
        .returns::<RuleDecision>(),
        post(test),
    )
}

/// Where a new rule goes.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PositionQuery {
    /// 0-based index (the end when absent or past the end).
    #[serde(default)]
    position: Option<usize>,
}

async fn list(State(s): State<AppState>) -> Json<RulesList> {
    Json(RulesList {
        rules: s.engine.rules(),
    })
}

async fn replace(
    State(s): State<AppState>,
    JsonBody(b): JsonBody<RulesList>,
) -> ApiResult<Json<RulesList>> {
    let rules = s.engine.set_rules(b.rules).await?;
    Ok(Json(RulesList { rules }))
}

async fn create(
    State(s): State<AppState>,
    QueryArgs(q): QueryArgs<PositionQuery>,
    JsonBody(rule): JsonBody<PermissionRule>,
) -> ApiResult<Json<PermissionRule>> {
    Ok(Json(s.engine.add_rule(rule, q.position).await?))
}

async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(rule): JsonBody<PermissionRule>,
) -> ApiResult<Json<PermissionRule>> {
    if !rule.id.is_empty() && rule.id != id {
        return Err(ApiError::bad_request(format!(
            "the body's id {:?} is not the path's {id:?}",
            rule.id
        )));
    }
    Ok(Json(s.engine.update_rule(&id, rule).await?))
}

async fn remove(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<RuleDeleted>> {
    if s.engine.delete_rule(&id).await? {
        Ok(Json(RuleDeleted { ok: true, id }))
    } else {
        Err(ApiError::not_found(format!("unknown rule: {id}")))
    }
}

async fn test(
    State(s): State<AppState>,
    JsonBody(t): JsonBody<RuleTestRequest>,
) -> Json<RuleDecision> {
    Json(s.engine.test_rules(&t))
}
