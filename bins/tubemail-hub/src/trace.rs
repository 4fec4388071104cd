//! Following one request through the log. Every request gets an id: the
//! client's `x-request-id` when it is well-formed, else a fresh one; the
//! response carries it back in `x-request-id`. The `request` span holds it
//! with the method, the path, the matched route template and the worker
//! the route names; handlers and the engine log inside that span, so every
//! line they write carries those fields. The query string is never
//! recorded: it may carry `?token=`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tubemail_core::WorkerName;

/// The header that carries a request's id, both ways.
static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id taken from a client.
const MAX_ID_LEN: usize = 64;

/// A request's id, in its extensions.
#[derive(Debug, Clone)]
struct RequestId(String);

/// Gives the request its id and returns it in the response (outermost
/// layer, so every answer carries it, refusals included).
pub async fn assign_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map_or_else(fresh_id, str::to_owned);
    let echo = HeaderValue::from_str(&id);
    req.extensions_mut().insert(RequestId(id));
    let mut resp = next.run(req).await;
    if let Ok(echo) = echo {
        resp.headers_mut().insert(REQUEST_ID.clone(), echo);
    }
    resp
}

/// Short, printable, and free of anything a log reader could mistake for
/// structure (spaces, quotes, `=`, braces).
fn well_formed(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// 64 random bits as 16 hex digits (a counter if the system has no
/// randomness to give).
fn fresh_id() -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    let n = getrandom::u64().unwrap_or_else(|_| FALLBACK.fetch_add(1, Ordering::Relaxed));
    format!("{n:016x}")
}

/// The `request` span, at info level so that every line logged during a
/// request carries its id. Routing has run (the layer is the router's), so
/// the route template is known; the worker is the path segment under the
/// template's `{worker}`, when it is a valid name.
pub fn request_span(req: &Request) -> tracing::Span {
    use tracing::field::display;
    let id = req.extensions().get::<RequestId>().map(|id| display(&id.0));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let path = loggable(req.uri().path());
    let worker = route.and_then(|route| worker_in(route, path)).map(display);
    tracing::info_span!(
        "request",
        request_id = id,
        method = %req.method(),
        path = %path,
        route = route.map(display),
        worker,
    )
}

/// The path as logged: an approval link's token is a credential, so
/// `/approve/<token>` is logged as `/approve/…`.
fn loggable(path: &str) -> &str {
    if path.starts_with("/approve/") {
        "/approve/…"
    } else {
        path
    }
}

fn worker_in<'p>(route: &str, path: &'p str) -> Option<&'p str> {
    route
        .split('/')
        .zip(path.split('/'))
        .find(|(template, _)| *template == "{worker}")
        .map(|(_, segment)| segment)
        .filter(|segment| segment.parse::<WorkerName>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::{fresh_id, loggable, well_formed, worker_in};

    #[test]
    fn approval_tokens_stay_out_of_the_logged_path() {
        assert_eq!(loggable("/approve/0123abcd"), "/approve/…");
        assert_eq!(loggable("/api/workers"), "/api/workers");
    }

    #[test]
    fn client_ids_are_short_and_plain() {
        assert!(well_formed("req-42_a.b:c"));
        assert!(well_formed(&"a".repeat(64)));
        assert!(!well_formed(&"a".repeat(65)));
        assert!(!well_formed(""));
        for bad in ["a b", "a=b", "a\"b", "{a}", "é"] {
            assert!(!well_formed(bad), "{bad}");
        }
        let id = fresh_id();
        assert!(well_formed(&id) && id.len() == 16, "{id}");
        assert_ne!(fresh_id(), fresh_id());
    }

    #[test]
    fn the_worker_is_the_segment_under_the_template() {
        let route = "/api/workers/{worker}/send";
        assert_eq!(worker_in(route, "/api/workers/a-tm/send"), Some("a-tm"));
        assert_eq!(worker_in("/api/flows/{name}", "/api/flows/a-tm"), None);
        assert_eq!(worker_in(route, "/api/workers/a%20b/send"), None);
    }
}
