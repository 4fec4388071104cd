//! Request guards: bearer token (the shared secret or a scoped token) and
//! its scope, Host allow-list (DNS rebinding), Origin check on browser
//! requests, rate limits, and the loopback-only dev bootstrap.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;
use crate::tokens::Scope;

/// Routes anyone may call.
const PUBLIC: &[&str] = &["/health", "/api/dev-bootstrap", "/"];
/// The one route that also takes `?ticket=` (from `POST /api/stream-ticket`)
/// or `?token=` (EventSource cannot set headers).
const TOKEN_QUERY_ROUTE: &str = "/api/events/stream";

/// Every request passes here first; a permitted one then has its body
/// read (bounded in size and time) before it reaches a handler.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let mut req = req;
    // A scoped token's signal: its revocation ends the request's streams.
    let mut revocation = None;
    let checked = match check(&state, &req) {
        Ok(scope) => {
            let token = scope.as_ref().and_then(|s| s.token_id().map(str::to_owned));
            revocation = token.as_deref().map(|id| state.tokens.revocation(id));
            if let Some(scope) = scope {
                req.extensions_mut()
                    .insert(revocation.clone().unwrap_or_default());
                req.extensions_mut().insert(scope);
                // An authenticated client: its connection is never closed
                // to make room (see `conns`).
                if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
                    state.connections.proven(*peer);
                }
            }
            crate::extract::buffer_body(&state, req)
                .await
                .and_then(|req| charge_bytes(&state, token, req))
        }
        Err(e) => {
            // Read what the client is still sending (within the same
            // bounds) before refusing: closing on an unread body resets the
            // connection, and the client never sees the refusal.
            let _ = crate::extract::buffer_body(&state, req).await;
            Err(e)
        }
    };
    let mcp = req_is_mcp(&checked);
    let response = match checked {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    // MCP answers in its own (JSON-RPC) shapes. Its answers may be event
    // streams (a tool call's, the session's standalone one): they end with
    // a revoked credential like the hub's own streams.
    let response = if mcp {
        let stream = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|ct| ct.as_bytes().starts_with(b"text/event-stream"));
        match revocation.filter(|_| stream) {
            Some(r) => response.map(|body| {
                use futures::StreamExt;
                axum::body::Body::from_stream(body.into_data_stream().take_until(r.into_revoked()))
            }),
            None => response,
        }
    } else {
        json_errors(response).await
    };
    state.metrics.observe(started.elapsed());
    response
}

/// The policy every response carries: scripts only from the hub's own
/// files (the UI has no inline script), connections (fetch, EventSource,
/// WebSocket) only to the hub, and no framing by any page. Styles allow
/// inline: React and xterm.js set element styles and insert `<style>`
/// elements at run time.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Adds `X-Frame-Options: DENY` and the [`CONTENT_SECURITY_POLICY`] to
/// every response (a page of the hub in a foreign frame could be
/// clickjacked into approving a permission), unless a handler set its own.
pub async fn frame_headers(req: Request, next: Next) -> Response {
    use axum::http::HeaderValue;
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response
}

/// Charges a scoped token's (buffered) request body to its bytes per
/// minute; 429 when it has sent its budget.
fn charge_bytes(
    state: &AppState,
    token: Option<String>,
    req: Request,
) -> Result<Request, ApiError> {
    use axum::body::HttpBody;
    let len = req.body().size_hint().exact().unwrap_or(0);
    if let Some(id) = token
        && len > 0
    {
        state.limiters.token_bytes.take_n(id, len).map_err(|wait| {
            ApiError::RateLimited(
                "this token sent too many bytes in the last minute".into(),
                wait,
            )
        })?;
    }
    Ok(req)
}

fn req_is_mcp(req: &Result<Request, ApiError>) -> bool {
    req.as_ref()
        .is_ok_and(|r| r.uri().path().starts_with("/mcp"))
}

/// Errors from the framework's own extractors (a path segment that is not
/// UTF-8, a plain GET on the WebSocket route, ...) come as text; every
/// error the hub answers is `{"detail": ...}` JSON, so those are rewrapped
/// (same status and headers).
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !text {
        return response;
    }
    let (parts, body) = response.into_parts();
    let detail = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let detail = if detail.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        detail
    };
    let mut out = ApiError::Status(status, detail).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

/// `Ok(None)` for routes that need no credential, else the caller's scope.
fn check(state: &AppState, req: &Request) -> Result<Option<Scope>, ApiError> {
    let host = request_host(req);
    if let Some(host) = &host
        && !host_allowed(host, &state.options.allowed_hosts)
    {
        tracing::warn!(host = %host, "refused request for a host not on the allow-list");
        return Err(ApiError::forbidden(format!(
            "host {host:?} is not allowed (add it to TUBEMAIL_ALLOWED_HOSTS)"
        )));
    }
    // Browsers send Origin on every cross-origin request (and on same-origin
    // ones that change state): a foreign page gets nothing, not even a
    // stream (which marks a worker online) or a read it could time.
    if let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        && !origin_allowed(
            origin,
            req.headers(),
            req.extensions().get::<crate::routes::Tls>().is_some(),
            &state.options.allowed_origins,
        )
    {
        return Err(ApiError::forbidden("cross-origin request refused"));
    }
    let path = req.uri().path();
    // The terminal WebSocket checks a single-use ticket instead (browsers
    // cannot set headers on a WebSocket).
    let limited = limited_peer(state, req);
    if path.starts_with("/ws/pty/") {
        if let Some(ip) = limited {
            state.limiters.ws_upgrades.take(ip).map_err(|wait| {
                ApiError::RateLimited("too many terminal connections".into(), wait)
            })?;
        }
        return Ok(None);
    }
    // Approval links stand in for a credential: guessing them is throttled
    // like wrong bearer tokens (a failed redemption is charged by the
    // handler, see `charge_failed`).
    if path.starts_with("/approve/") {
        if let Some(ip) = limited {
            state.limiters.failed_auth.check(&ip).map_err(|wait| {
                ApiError::RateLimited("too many failed authentication attempts".into(), wait)
            })?;
        }
        return Ok(None);
    }
    if PUBLIC.contains(&path) || crate::routes::ui::serves(path) {
        return Ok(None);
    }
    if let Some(ip) = limited {
        state.limiters.failed_auth.check(&ip).map_err(|wait| {
            ApiError::RateLimited("too many failed authentication attempts".into(), wait)
        })?;
    }
    let query = req.uri().query().unwrap_or("");
    let stream = path == TOKEN_QUERY_ROUTE;
    let token =
        bearer(req.headers()).or_else(|| stream.then(|| query_param(query, "token")).flatten());
    if token.is_none()
        && stream
        && let Some(ticket) = query_param(query, "ticket")
    {
        let (scope, _) = state.stream_tickets.redeem(&ticket).map_err(|e| {
            if let Some(ip) = limited {
                let _ = state.limiters.failed_auth.take(ip);
            }
            ApiError::unauthorized(e.reason())
        })?;
        authorize(&scope, req.method(), path, req.uri().query())?;
        return Ok(Some(scope));
    }
    let scope = match token {
        None => return Err(ApiError::unauthorized("missing bearer token")),
        Some(t) if bool::from(t.as_bytes().ct_eq(state.options.secret.as_bytes())) => Scope::Admin,
        Some(t) => match state.tokens.authenticate(&t) {
            Some(scope) => scope,
            None => {
                if let Some(ip) = limited {
                    let _ = state.limiters.failed_auth.take(ip);
                }
                tracing::debug!(peer = ?limited, "refused a wrong bearer token");
                return Err(ApiError::unauthorized("invalid bearer token"));
            }
        },
    };
    authorize(&scope, req.method(), path, req.uri().query())?;
    if path == "/api/pty-ticket"
        && req.method() == axum::http::Method::POST
        && let Some(ip) = limited
    {
        state
            .limiters
            .tickets
            .take(ip)
            .map_err(|wait| ApiError::RateLimited("too many terminal tickets".into(), wait))?;
    }
    Ok(Some(scope))
}

/// The client address that rate limits count against (behind a trusted
/// proxy, the one it forwarded for; see [`crate::proxy`]), or `None` when
/// the client is exempt (loopback, when so configured and not proxied) or
/// unknown.
fn limited_peer(state: &AppState, req: &Request) -> Option<IpAddr> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
    let ip = crate::proxy::client_ip(peer, req.headers(), &state.options.trusted_proxies);
    let exempt = state.options.rate_limits.exempt_loopback && is_loopback(ip) && !proxied(req);
    (!exempt).then_some(ip)
}

/// Counts a failed use of a credential-like URL (an unknown or spent
/// approval link) against its client, as a wrong bearer token is.
pub(crate) fn charge_failed(state: &AppState, peer: Option<SocketAddr>, headers: &HeaderMap) {
    let Some(peer) = peer else { return };
    let ip = crate::proxy::client_ip(peer.ip(), headers, &state.options.trusted_proxies);
    let forwarded = ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| headers.contains_key(*h));
    if state.options.rate_limits.exempt_loopback && is_loopback(ip) && !forwarded {
        return;
    }
    let _ = state.limiters.failed_auth.take(ip);
}

/// Whether a proxy forwarded the request (so its peer address is not the
/// client's).
fn proxied(req: &Request) -> bool {
    ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| req.headers().contains_key(*h))
}

/// What each scope may call (the shared secret: everything).
///
/// * A worker token for `W`: every `/tubemail/W/*` and `/tubemail/W-manager/*`
///   route (register, stream, outbound, its own permission requests and
///   answers, manager reports), `GET /api/permissions?worker=W` (its own
///   pending prompts, as the manager reads them) and `GET /api/whoami`.
/// * A read-only operator token: `GET`/`HEAD` under `/api` (not
///   `/api/tokens`), `POST /api/stream-ticket` and `GET /metrics`.
/// * An operator token (an orchestrator's): every method under `/api`
///   (not `/api/tokens`), MCP (`/mcp`, `/mcp/`) and `GET /metrics`.
///
/// Nothing else: no other worker, no MCP for the first two, no state change
/// outside `W`; only the shared secret manages tokens or acts on the
/// worker-side routes of any worker.
fn authorize(
    scope: &Scope,
    method: &axum::http::Method,
    path: &str,
    query: Option<&str>,
) -> Result<(), ApiError> {
    use axum::http::Method;
    let read = method == Method::GET || method == Method::HEAD;
    match scope {
        Scope::Admin => Ok(()),
        Scope::Worker { worker, .. } => {
            let me = worker.as_str();
            let manager = format!("{me}{}", tubemail_core::name::MANAGER_SUFFIX);
            let own = |name: &str| name == me || name == manager;
            let mut segs = path.split('/');
            let allowed = match (segs.next(), segs.next(), segs.next()) {
                (Some(""), Some("tubemail"), Some(seg)) => {
                    path_decode(seg).is_some_and(|name| own(&name))
                }
                _ if read && path == "/api/whoami" => true,
                _ if read && path == "/api/permissions" => {
                    let workers: Vec<String> = query
                        .unwrap_or("")
                        .split('&')
                        .filter_map(|pair| pair.split_once('='))
                        .filter(|(k, _)| *k == "worker")
                        .map(|(_, v)| percent_decode(v))
                        .collect();
                    workers.len() == 1 && own(&workers[0])
                }
                _ => false,
            };
            if allowed {
                Ok(())
            } else {
                Err(ApiError::forbidden(format!(
                    "this token may only act as worker {me:?} (and {manager:?})"
                )))
            }
        }
        Scope::Operator { .. } => {
            let api = path.starts_with("/api/") && !secret_only(path);
            let mcp = path == "/mcp" || path.starts_with("/mcp/");
            if api || mcp || (read && path == "/metrics") {
                Ok(())
            } else {
                Err(ApiError::forbidden(
                    "operator token: the operator API under /api (not /api/tokens or /api/webhooks), MCP and /metrics",
                ))
            }
        }
        Scope::OperatorRo { .. } => {
            let api = path.starts_with("/api/") && !secret_only(path);
            // A stream ticket changes nothing: it lets the holder read the
            // event stream, as the token itself does.
            let stream_ticket = path == "/api/stream-ticket" && method == Method::POST;
            if (read && (api || path == "/metrics")) || stream_ticket {
                Ok(())
            } else {
                Err(ApiError::forbidden(
                    "read-only operator token: only GET requests under /api (not /api/tokens or /api/webhooks) and /metrics",
                ))
            }
        }
    }
}

/// A path segment, percent-decoded (no `+` rule, unlike a query; a `%`
/// not followed by two hex digits stays as it is); `None` if it is not
/// UTF-8.
fn path_decode(seg: &str) -> Option<String> {
    percent_encoding::percent_decode_str(seg)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// The value after `Bearer ` (case-sensitive prefix), exactly: a
/// credential with spaces around it is not the credential.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(str::to_owned)
}

/// The first value of `key` in `query`, percent-decoded.
fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Host name of the request (Host header, or the URI authority in HTTP/2),
/// without the port.
fn request_host(req: &Request) -> Option<String> {
    let raw = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))?;
    Some(strip_port(&raw).to_ascii_lowercase())
}

fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => authority,
    }
}

/// DNS rebinding needs a host *name* that resolves to us; IP literals and
/// loopback names cannot be rebound, so they always pass.
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    host.parse::<IpAddr>().is_ok()
        || host == "localhost"
        || host.ends_with(".localhost")
        || allowed
            .iter()
            .any(|a| a == "*" || a.eq_ignore_ascii_case(host))
}

pub(crate) fn forwarded_proto(headers: &HeaderMap) -> Option<&str> {
    let first = headers
        .get("x-forwarded-proto")?
        .to_str()
        .ok()?
        .split(',')
        .next()?
        .trim();
    ["http", "https"]
        .into_iter()
        .find(|p| p.eq_ignore_ascii_case(first))
}

/// The Origin rule of every request and WebSocket: on the allow-list, or
/// the same scheme and host:port as the request (`X-Forwarded-Proto`
/// first, else how it arrived: `tls`), so `https://hub` is not the origin
/// of a page of `http://hub`.
pub(crate) fn origin_allowed(
    origin: &str,
    headers: &HeaderMap,
    tls: bool,
    allowed: &[String],
) -> bool {
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let scheme = forwarded_proto(headers).unwrap_or(if tls { "https" } else { "http" });
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty())
    else {
        return false;
    };
    origin.split_once("://").is_some_and(|(s, authority)| {
        s.eq_ignore_ascii_case(scheme) && authority.eq_ignore_ascii_case(host)
    })
}

/// Loopback, IPv4-mapped IPv6 included: a hub bound to `[::]` sees an
/// IPv4 client on 127.0.0.1 as `::ffff:127.0.0.1`, which
/// [`IpAddr::is_loopback`] alone does not count.
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(is_loopback)
}

/// `GET /api/dev-bootstrap`: the secret, for a browser on this machine.
/// Needs a loopback peer, a loopback Host, and no proxy headers (a proxy on
/// the same host would make every remote client look local).
pub async fn dev_bootstrap(State(state): State<AppState>, req: Request) -> Response {
    if !state.options.dev_bootstrap {
        return ApiError::not_found("dev-bootstrap disabled").into_response();
    }
    let peer_local = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(addr)| is_loopback(addr.ip()));
    let host_local = request_host(&req).is_some_and(|h| is_loopback_name(&h));
    if !(peer_local && host_local) || proxied(&req) {
        return ApiError::forbidden("dev-bootstrap is loopback-only").into_response();
    }
    axum::Json(serde_json::json!({"bearer": state.options.secret})).into_response()
}

/// Routes only the shared secret may use: the credentials themselves, and
/// webhooks (a webhook sends the fleet's traffic to any URL it names).
fn secret_only(path: &str) -> bool {
    ["/api/tokens", "/api/webhooks"].iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let none: Vec<String> = vec![];
        assert!(host_allowed("127.0.0.1", &none));
        assert!(host_allowed("::1", &none));
        assert!(host_allowed("localhost", &none));
        assert!(host_allowed("192.168.1.9", &none));
        assert!(!host_allowed("evil.example", &none));
        assert!(host_allowed("hub.example", &["HUB.example".into()]));
        assert_eq!(strip_port("[::1]:8004"), "::1");
        assert_eq!(strip_port("localhost:8004"), "localhost");
        assert_eq!(strip_port("localhost"), "localhost");
    }

    #[test]
    fn mapped_loopback_is_loopback() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert!(is_loopback(ip("::ffff:127.0.0.1")));
        assert!(is_loopback(ip("::1")));
        assert!(is_loopback(ip("127.0.0.2")));
        assert!(!is_loopback(ip("::ffff:10.0.0.1")));
        assert!(is_loopback_name("::ffff:127.0.0.1"));
    }

    #[test]
    fn origin_rule() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "hub.tail1234.ts.net:8004".parse().unwrap());
        let none: Vec<String> = vec![];
        assert!(origin_allowed(
            "http://hub.tail1234.ts.net:8004",
            &h,
            false,
            &none
        ));
        assert!(origin_allowed(
            "http://HUB.tail1234.ts.net:8004",
            &h,
            false,
            &none
        ));
        assert!(!origin_allowed(
            "https://hub.tail1234.ts.net:8004",
            &h,
            false,
            &none
        ));
        assert!(origin_allowed(
            "https://hub.tail1234.ts.net:8004",
            &h,
            true,
            &none
        ));
        assert!(!origin_allowed("http://evil.example", &h, false, &none));
        assert!(!origin_allowed("garbage", &h, false, &none));
        assert!(origin_allowed(
            "http://localhost:5173",
            &h,
            false,
            &["http://localhost:5173".into()]
        ));
        h.insert("x-forwarded-proto", "https, http".parse().unwrap());
        assert!(origin_allowed(
            "https://hub.tail1234.ts.net:8004",
            &h,
            false,
            &none
        ));
        assert!(!origin_allowed(
            "http://hub.tail1234.ts.net:8004",
            &h,
            false,
            &none
        ));
        let mut empty = HeaderMap::new();
        empty.insert(header::HOST, "".parse().unwrap());
        assert!(!origin_allowed("http://", &empty, false, &none));
    }

    #[test]
    fn path_segments() {
        assert_eq!(path_decode("my%20w").as_deref(), Some("my w"));
        assert_eq!(path_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(path_decode("%zz").as_deref(), Some("%zz"));
        assert_eq!(path_decode("%ff"), None);
    }

    #[test]
    fn token_query() {
        assert_eq!(
            query_param("a=1&token=ab%2Bc", "token"),
            Some("ab+c".into())
        );
        assert_eq!(query_param("tokens=1", "token"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
