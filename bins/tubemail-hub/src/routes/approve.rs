//! `/approve/{token}`: the single-use links a `permission_waiting`
//! webhook carries. They work without the bearer secret and only for
//! their prompt.
//!
//! `GET` only shows the prompt and two buttons: chat apps fetch links to
//! preview them, so a GET must change nothing. The buttons `POST` to the
//! same URL (`decision=allow` or `deny`), which spends the link and
//! answers the prompt (`decided_by: "link"` in the answer's meta).

use std::net::SocketAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tubemail_core::Behavior;
use tubemail_core::store::hooks::Redeemed;

use crate::AppState;
use crate::hooks::sender::token_hash;
use crate::openapi::{Api, Route};
use tubemail_core::engine::now;

pub fn add(api: Api) -> Api {
    api.add(
        Route::get("/approve/{token}", "Approval link of a webhook notification: a page showing the prompt with Allow/Deny buttons (changes nothing; 404 unknown, 410 spent or expired)")
            .public()
            .text("text/html"),
        get(show).post(decide),
    )
}

fn escape(s: &str) -> String {
    s.chars()
        .fold(String::with_capacity(s.len()), |mut out, c| {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
            out
        })
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>TubeMail: {t}</title><style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}}\
         pre{{white-space:pre-wrap;background:#f4f4f4;padding:.5em}}button{{font-size:1.2em;margin-right:1em;padding:.4em 1.2em}}</style>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    let mut resp = (status, Html(html)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The token is in the URL: never hand it on.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn unknown() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Unknown link",
        "<p>This approval link is not known to this hub.</p>",
    )
}

fn gone(why: &str) -> Response {
    page(
        StatusCode::GONE,
        "Link no longer valid",
        &format!("<p>{}</p>", escape(why)),
    )
}

fn failed() -> Response {
    tracing::error!("approval link store failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Error",
        "<p>The hub could not read its links; try again.</p>",
    )
}

async fn show(
    State(s): State<AppState>,
    Path(token): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let hash = token_hash(&token);
    let store = s.engine.store().clone();
    let found = tokio::task::spawn_blocking(move || store.approval(&hash)).await;
    let (link, spent) = match found {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => {
            crate::security::charge_failed(&s, peer.map(|Extension(ConnectInfo(a))| a), &headers);
            return unknown();
        }
        _ => return failed(),
    };
    if spent {
        return gone("This link was used already.");
    }
    if link.expires_at <= now() {
        return gone("This link has expired.");
    }
    let Some(p) = s
        .engine
        .pending_permissions(Some(&link.worker), false)
        .into_iter()
        .find(|p| p.request_id == link.request_id)
    else {
        return gone("This prompt was answered already.");
    };
    let body = format!(
        "<p>Worker <b>{w}</b> asks to run <b>{tool}</b>.</p><p>{desc}</p><pre>{input}</pre>\
         <form method=\"post\"><button name=\"decision\" value=\"allow\">Allow</button>\
         <button name=\"decision\" value=\"deny\">Deny</button></form>\
         <p><small>The link works once.</small></p>",
        w = escape(link.worker.as_str()),
        tool = escape(&p.tool_name),
        desc = escape(&p.description),
        input = escape(&p.input_preview),
    );
    page(StatusCode::OK, "Permission prompt", &body)
}

async fn decide(
    State(s): State<AppState>,
    Path(token): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let decision = std::str::from_utf8(&body)
        .ok()
        .and_then(|b| b.split('&').find_map(|kv| kv.strip_prefix("decision=")))
        .and_then(|d| match d {
            "allow" => Some(Behavior::Allow),
            "deny" => Some(Behavior::Deny),
            _ => None,
        });
    let Some(behavior) = decision else {
        return page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "<p>Choose Allow or Deny (decision=allow or decision=deny).</p>",
        );
    };
    let hash = token_hash(&token);
    let store = s.engine.store().clone();
    let at = now();
    let redeemed = tokio::task::spawn_blocking(move || store.redeem(&hash, at)).await;
    let (worker, request_id) = match redeemed {
        Ok(Ok(Redeemed::Ok { worker, request_id })) => (worker, request_id),
        Ok(Ok(Redeemed::Gone)) => {
            crate::security::charge_failed(&s, peer.map(|Extension(ConnectInfo(a))| a), &headers);
            return gone("This link was used already or has expired.");
        }
        Ok(Ok(Redeemed::Unknown)) => {
            crate::security::charge_failed(&s, peer.map(|Extension(ConnectInfo(a))| a), &headers);
            return unknown();
        }
        _ => return failed(),
    };
    match s
        .engine
        .resolve_permission_by(&worker, &request_id, behavior, "link")
        .await
    {
        Ok(true) => {
            tracing::info!(worker = %worker, request_id = %request_id, behavior = behavior.as_str(), "prompt answered from an approval link");
            let word = match behavior {
                Behavior::Allow => "Allowed",
                Behavior::Deny => "Denied",
            };
            page(
                StatusCode::OK,
                word,
                &format!(
                    "<p>{word}: worker <b>{}</b> was told.</p>",
                    escape(worker.as_str())
                ),
            )
        }
        Ok(false) => gone("This prompt was answered already."),
        Err(e) => {
            tracing::warn!(error = %e, "could not answer a prompt from an approval link");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Error",
                "<p>The hub could not record the answer.</p>",
            )
        }
    }
}
