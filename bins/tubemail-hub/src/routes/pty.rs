//! The browser terminal bridge: `POST /api/pty-ticket`,
//! `GET /ws/pty/{worker}` and the manager's `pty-out` / `pty-control`.
//!
//! WebSocket protocol (the original's, plus resume):
//! - Handshake checks, in order, each refusing the upgrade with HTTP 403:
//!   Origin (allow-list or same-origin), worker name, TLS (when TLS-only),
//!   ticket (single use, this worker, 30 s; a wrong-worker ticket is burned).
//! - Server → client: binary = pty output; text = JSON control: the
//!   manager's `pty-control` objects (e.g. `{"kind":"size","cols","rows"}`),
//!   and ours: first `{"kind":"hello","seq":S,"cols":C,"rows":R,"epoch":E}`
//!   (the next output byte has offset S), and `{"kind":"snapshot","seq":S}`
//!   before one binary frame that repaints the whole screen (reset the
//!   terminal first; it does not count towards offsets, which go on at S).
//! - Client → server: binary = keystrokes (to the manager only);
//!   text `{"kind":"resize","cols","rows"}`, `{"kind":"ping"}`.
//! - The credential that asked for the ticket holds the socket: when it is
//!   revoked the hub closes it at once (close code 1008, reason
//!   `credential revoked`).
//! - `?since=N` resumes at offset N when the hub still holds every byte
//!   from N on (and `&epoch=E`, if given, names this hub run); otherwise,
//!   and for a viewer that falls more than the lag limit behind, a snapshot.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tubemail_core::WorkerName;
use tubemail_core::api::{PtyTicket, PtyTicketRequest, Reply};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Worker};
use crate::openapi::{Api, Route};
use crate::proxy::Cidr;
use crate::security::{forwarded_proto, origin_allowed};
use crate::terminal::{Read, TICKET_TTL, Terminal, Terminals, ViewerFrame, viewer_frame};
use crate::tokens::Revocation;

/// Largest binary frame sent to a viewer.
const FRAME: usize = 64 << 10;
/// Largest message a viewer may send (keystrokes, pastes).
const MAX_INPUT: usize = 1 << 20;

/// Marks requests that arrived over TLS (added by `serve_tls`).
#[derive(Debug, Clone, Copy)]
pub struct Tls;

/// How the request reached the hub: the peer address and whether over TLS.
struct Conn {
    peer: Option<SocketAddr>,
    tls: bool,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Conn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Conn {
            peer: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            tls: parts.extensions.get::<Tls>().is_some(),
        })
    }
}

/// Identifies this hub run: offsets from another run mean nothing here.
static EPOCH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut b = [0u8; 6];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
});

pub fn add(api: Api) -> Api {
    api.add(
        Route::post(
            "/api/pty-ticket",
            "A single-use, 30 s ticket for one worker's terminal WebSocket",
        )
        .body::<PtyTicketRequest>()
        .returns::<PtyTicket>()
        .or_soft_error(),
        post(ticket),
    )
    .add(
        Route::get(
            "/ws/pty/{worker}",
            "WebSocket terminal bridge (ticket instead of bearer; ?since=N resumes at output offset N)",
        )
        .public()
        .query::<WsQuery>(),
        get(websocket),
    )
    .add(
        Route::post(
            "/tubemail/{worker}/pty-out",
            "Terminal output bytes from the manager (404 while nobody watches or records)",
        ),
        post(pty_out),
    )
    .add(
        Route::post(
            "/tubemail/{worker}/pty-control",
            "A JSON control object from the manager for every viewer (404 while nobody watches or records)",
        )
        .body::<serde_json::Map<String, Value>>(),
        post(pty_control),
    )
}

async fn ticket(
    State(s): State<AppState>,
    revocation: Revocation,
    JsonBody(b): JsonBody<PtyTicketRequest>,
) -> ApiResult<Json<Reply<PtyTicket>>> {
    let Ok(worker) = WorkerName::new(b.worker) else {
        return Ok(Json(Reply::refused("invalid worker name")));
    };
    let Some(ticket) = s.terminals.tickets.issue(&worker, revocation) else {
        return Err(ApiError::Status(
            StatusCode::TOO_MANY_REQUESTS,
            "too many open terminal tickets; use or let some expire first".into(),
        ));
    };
    Ok(Json(Reply::Done(PtyTicket {
        ok: true,
        ticket,
        ttl_s: TICKET_TTL.as_secs(),
        worker,
    })))
}

/// Query of the WebSocket route.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WsQuery {
    /// Ticket from `POST /api/pty-ticket`.
    #[allow(dead_code)]
    ticket: String,
    /// Resume at this output offset.
    #[serde(default)]
    #[allow(dead_code)]
    since: Option<u64>,
    /// The `epoch` of the hello the offset came from.
    #[serde(default)]
    #[allow(dead_code)]
    epoch: Option<String>,
}

fn refuse(reason: &str) -> Response {
    tracing::info!(reason, "terminal WebSocket refused");
    ApiError::forbidden(reason).into_response()
}

/// Whether the request came over TLS: served by `serve_tls`, or relayed by
/// a proxy on this machine or a trusted one that says so.
fn secure(headers: &HeaderMap, tls: bool, peer: Option<SocketAddr>, trusted: &[Cidr]) -> bool {
    let proxy = |p: SocketAddr| {
        crate::security::is_loopback(p.ip()) || crate::proxy::trusted(p.ip(), trusted)
    };
    tls || (peer.is_some_and(proxy) && forwarded_proto(headers) == Some("https"))
}

async fn websocket(
    State(s): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    conn: Conn,
    ws: WebSocketUpgrade,
) -> Response {
    let tls = conn.tls;
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !origin_allowed(origin, &headers, tls, &s.options.allowed_origins) {
            return refuse("origin not allowed");
        }
    }
    let Ok(worker) = WorkerName::new(raw) else {
        return refuse("invalid worker name");
    };
    if s.terminals.options.tls_only && !secure(&headers, tls, conn.peer, &s.options.trusted_proxies)
    {
        return refuse("terminal connections need TLS (wss://)");
    }
    let ticket = q.get("ticket").map_or("", String::as_str);
    let revocation = match s.terminals.tickets.consume(ticket, &worker) {
        Ok(r) if r.is_revoked() => return refuse("the ticket's credential was revoked"),
        Ok(r) => r,
        Err(e) => return refuse(e.reason()),
    };
    if let Some(peer) = conn.peer {
        s.connections.proven(peer);
    }
    let since = q
        .get("since")
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|_| q.get("epoch").is_none_or(|e| *e == *EPOCH));
    let terminals = s.terminals.clone();
    let shutdown = s.shutdown.clone();
    ws.max_message_size(MAX_INPUT)
        .on_upgrade(move |socket| async move {
            let term = terminals.viewer_attached(&worker);
            view(&terminals, &term, since, socket, shutdown, revocation).await;
            terminals.viewer_left(&worker, &term);
        })
}

/// Keystrokes and resizes from the browser, to the manager only.
async fn input(term: Arc<Terminal>, mut rx: futures::stream::SplitStream<WebSocket>) {
    while let Some(Ok(msg)) = rx.next().await {
        let frame = match &msg {
            Message::Binary(b) => ViewerFrame::Binary(b),
            Message::Text(t) => ViewerFrame::Text(t.as_str()),
            Message::Close(_) => break,
            _ => continue,
        };
        if let Some(event) = viewer_frame(frame) {
            term.to_manager(event);
        }
    }
}

type Sink = futures::stream::SplitSink<WebSocket, Message>;

async fn send_text(tx: &mut Sink, v: &Value) -> Result<(), axum::Error> {
    tx.send(Message::Text(v.to_string().into())).await
}

async fn send_snapshot(tx: &mut Sink, term: &Terminal) -> Result<u64, axum::Error> {
    let (seq, repaint) = term.snapshot();
    send_text(tx, &json!({"kind": "snapshot", "seq": seq})).await?;
    tx.send(Message::Binary(Bytes::from(repaint))).await?;
    Ok(seq)
}

/// Serves one viewer until it leaves, the hub shuts down or the
/// credential is revoked.
async fn view(
    terminals: &Terminals,
    term: &Arc<Terminal>,
    since: Option<u64>,
    socket: WebSocket,
    shutdown: tokio_util::sync::CancellationToken,
    revocation: Revocation,
) {
    let (mut tx, rx) = socket.split();
    let mut input = tokio::spawn(input(term.clone(), rx));
    let mut controls = term.watch_controls();
    let mut end = term.watch_end();
    let lag = terminals.options.viewer_lag_bytes;
    // `Ok(Some(frame))`: close with that frame.
    let result: Result<Option<CloseFrame>, axum::Error> = async {
        let (mut cursor, repaint) = match since.filter(|n| term.holds(*n)) {
            Some(n) => (n, None),
            None => {
                let (seq, repaint) = term.snapshot();
                (seq, Some(repaint))
            }
        };
        let mut hello = json!({"kind": "hello", "seq": cursor, "epoch": *EPOCH});
        if let Some(size) = term.size() {
            hello["cols"] = json!(size.cols);
            hello["rows"] = json!(size.rows);
        }
        send_text(&mut tx, &hello).await?;
        let mut grace = term.end().saturating_sub(cursor);
        if let Some(repaint) = repaint {
            send_text(&mut tx, &json!({"kind": "snapshot", "seq": cursor})).await?;
            tx.send(Message::Binary(Bytes::from(repaint))).await?;
        }
        loop {
            end.borrow_and_update();
            loop {
                while let Ok(text) = controls.try_recv() {
                    tx.send(Message::Text(text.as_ref().into())).await?;
                }
                match term.read(cursor, FRAME, lag + grace) {
                    Read::Data(bytes) => {
                        cursor += bytes.len() as u64;
                        tx.send(Message::Binary(Bytes::from(bytes))).await?;
                    }
                    Read::UpToDate => {
                        grace = 0;
                        break;
                    }
                    // Too slow: skip to a repaint instead of cutting it off.
                    Read::Behind => {
                        cursor = send_snapshot(&mut tx, term).await?;
                        // The model may lag the ring: allow that much more
                        // until this viewer has caught up.
                        grace = term.end().saturating_sub(cursor);
                    }
                }
            }
            tokio::select! {
                biased;
                () = revocation.revoked() => return Ok(Some(CloseFrame {
                    code: close_code::POLICY,
                    reason: "credential revoked".into(),
                })),
                _ = &mut input => return Ok(None),
                () = shutdown.cancelled() => return Ok(None),
                c = controls.recv() => match c {
                    Ok(text) => tx.send(Message::Text(text.as_ref().into())).await?,
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return Ok(None),
                },
                r = end.changed() => if r.is_err() { return Ok(None) },
            }
        }
    }
    .await;
    let close = result.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "terminal viewer went away");
        None
    });
    input.abort();
    let _ = tx.send(Message::Close(close)).await;
}

async fn pty_out(
    State(s): State<AppState>,
    Worker(w): Worker,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if !s.terminals.output(&w, &body) {
        return Err(ApiError::not_found("no pty clients attached"));
    }
    Ok(Json(json!({"ok": true, "bytes": body.len()})))
}

async fn pty_control(
    State(s): State<AppState>,
    Worker(w): Worker,
    JsonBody(v): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "pty-control body must be a JSON object",
        ));
    }
    if !s.terminals.control(&w, &v) {
        return Err(ApiError::not_found("no pty clients attached"));
    }
    Ok(Json(json!({"ok": true})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_detection() {
        let mut h = HeaderMap::new();
        let local: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let remote: SocketAddr = "192.0.2.1:1".parse().unwrap();
        assert!(secure(&h, true, Some(remote), &[]));
        assert!(!secure(&h, false, Some(local), &[]));
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(secure(&h, false, Some(local), &[]));
        assert!(
            !secure(&h, false, Some(remote), &[]),
            "only a local or trusted proxy is believed"
        );
        let trusted: Vec<Cidr> = vec!["192.0.2.0/24".parse().unwrap()];
        assert!(secure(&h, false, Some(remote), &trusted));
        assert_eq!(tubemail_core::hex(&[0x03, 0xff]), "03ff");
    }
}
