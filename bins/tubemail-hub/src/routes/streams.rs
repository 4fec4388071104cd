//! SSE streams: a worker's own stream and the global one.
//!
//! Every timeline event carries `id:`; a reconnect with `Last-Event-ID` (or
//! `?since=`) resumes right after it. Streams end on shutdown so graceful
//! shutdown never waits for a client, and at once when the credential that
//! opened them is revoked, with `closed` (`reason: revoked`) as their last
//! event.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tubemail_core::api::StreamTicket;
use tubemail_core::engine::{GlobalItem, Subscription, global_event, worker_event};
use tubemail_core::store::Record;
use tubemail_core::stream::SubscriptionEnd;
use tubemail_core::{EventId, StreamEvent};

use crate::terminal::ManagerEvent;
use crate::tokens::Revocation;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{QueryArgs, Worker};
use crate::openapi::{Api, Route};

/// Keepalive comment interval (the original's sse-starlette default).
const KEEPALIVE: Duration = Duration::from_secs(15);

pub fn add(api: Api) -> Api {
    api.add(
        Route::get("/tubemail/{worker}/stream", "The worker's event stream (channel_event, permission_response, interrupt); resumes after Last-Event-ID, else after the last event handed over")
            .query::<StreamQuery>()
            .stream(),
        get(worker_stream),
    )
    .add(
        Route::get("/api/events/stream", "Every worker's events plus status notices; resumes after Last-Event-ID, else live from now (bearer header, or ?ticket= from POST /api/stream-ticket; ?token= works but puts the secret in URLs)")
            .query::<GlobalStreamQuery>()
            .stream(),
        get(global_stream),
    )
    .add(
        Route::post("/api/stream-ticket", "A single-use, 30 s ticket for /api/events/stream?ticket=… (EventSource cannot set headers; the ticket keeps the secret out of URLs)")
            .returns::<StreamTicket>(),
        axum::routing::post(stream_ticket),
    )
}

/// `POST /api/stream-ticket`: a ticket carrying the caller's scope.
async fn stream_ticket(
    State(s): State<AppState>,
    scope: Option<axum::Extension<crate::tokens::Scope>>,
    revocation: Revocation,
) -> ApiResult<axum::Json<StreamTicket>> {
    let Some(axum::Extension(scope)) = scope else {
        return Err(ApiError::unauthorized("missing bearer token"));
    };
    let Some(ticket) = s.stream_tickets.issue(&scope, revocation) else {
        return Err(ApiError::Status(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too many open stream tickets; use or let some expire first".into(),
        ));
    };
    Ok(axum::Json(StreamTicket {
        ticket,
        ttl_s: crate::terminal::TICKET_TTL.as_secs(),
    }))
}

/// Resume point of a worker stream.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct StreamQuery {
    /// Resume after this event id (same as the `Last-Event-ID` header).
    #[serde(default)]
    since: Option<String>,
}

/// Resume point and credentials of the global stream.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct GlobalStreamQuery {
    /// Resume after this event id (same as the `Last-Event-ID` header).
    #[serde(default)]
    since: Option<String>,
    /// A single-use ticket from `POST /api/stream-ticket`, for EventSource
    /// clients that cannot set headers.
    #[serde(default)]
    #[allow(dead_code)]
    ticket: Option<String>,
    /// The bearer secret or a token (discouraged: URLs end up in logs and
    /// history; use `ticket`).
    #[serde(default)]
    #[allow(dead_code)]
    token: Option<String>,
}

fn resume_point(headers: &HeaderMap, since: Option<&str>) -> ApiResult<Option<EventId>> {
    let raw = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(since)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    match raw {
        None => Ok(None),
        Some(s) => EventId::parse(s)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("unknown Last-Event-ID {s:?}"))),
    }
}

/// The SSE frame of `event`, with `id:` for a timeline event.
fn sse(event: &StreamEvent) -> SseEvent {
    let (name, data) = event.to_sse();
    let ev = SseEvent::default().event(name).data(data);
    match event.event_id() {
        Some(id) => ev.id(id.to_string()),
        None => ev,
    }
}

struct WorkerFeed {
    sub: Subscription,
    queue: VecDeque<Arc<Record>>,
    batch_len: u64,
    ended: bool,
    /// A manager's live terminal events (`pty_attach`, `pty_data`, …),
    /// never stored and never on the global stream.
    live: Option<tokio::sync::broadcast::Receiver<ManagerEvent>>,
    /// Start with `pty_attach`: a browser watches or the worker is recorded.
    attach_first: bool,
    /// The stream's credential.
    revocation: Revocation,
}

/// The last event of a stream whose credential was revoked.
const REVOKED: StreamEvent = StreamEvent::Closed {
    reason: SubscriptionEnd::Revoked,
};

async fn worker_stream(
    State(s): State<AppState>,
    Worker(w): Worker,
    revocation: Revocation,
    headers: HeaderMap,
    QueryArgs(q): QueryArgs<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let from = resume_point(&headers, q.since.as_deref())?;
    let sub = s.engine.subscribe(&w, from).await?;
    let (live, attach_first) = match s.terminals.manager_feed(&w) {
        Some((rx, wanted)) => (Some(rx), wanted),
        None => (None, false),
    };
    let feed = WorkerFeed {
        sub,
        queue: VecDeque::new(),
        batch_len: 0,
        ended: false,
        live,
        attach_first,
        revocation,
    };
    let stream = futures::stream::unfold(feed, |mut f| async move {
        loop {
            if f.ended {
                return None;
            }
            if f.revocation.is_revoked() {
                // Nothing queued goes out any more.
                f.ended = true;
                return Some((Ok(sse(&REVOKED)), f));
            }
            if f.attach_first {
                f.attach_first = false;
                return Some((Ok(sse(&StreamEvent::PtyAttach {})), f));
            }
            if let Some(rec) = f.queue.pop_front() {
                if f.queue.is_empty() {
                    // The whole batch is handed over: remember the position
                    // for a reconnect that brings no Last-Event-ID.
                    f.sub.mark_delivered(rec.event.event_id, f.batch_len);
                }
                return Some((Ok(sse(&worker_event(&rec))), f));
            }
            let WorkerFeed {
                sub,
                live,
                revocation,
                ..
            } = &mut f;
            let next_live = async {
                match live.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let batch = tokio::select! {
                biased;
                () = revocation.revoked() => continue,
                ev = next_live => match ev {
                    Ok(event) => return Some((Ok(sse(&event)), f)),
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "manager stream fell behind; terminal events dropped");
                        continue;
                    }
                    Err(RecvError::Closed) => {
                        f.live = None;
                        continue;
                    }
                },
                b = sub.next_batch() => b,
            };
            match batch {
                Ok(batch) => {
                    f.batch_len = batch.len() as u64;
                    f.queue.extend(batch);
                }
                Err(end) => {
                    f.ended = true;
                    return Some((Ok(sse(&StreamEvent::Closed { reason: end })), f));
                }
            }
        }
    })
    .take_until(s.shutdown.clone().cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEPALIVE).text("ping")))
}

async fn global_stream(
    State(s): State<AppState>,
    revocation: Revocation,
    headers: HeaderMap,
    QueryArgs(q): QueryArgs<GlobalStreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let from = resume_point(&headers, q.since.as_deref())?;
    let sub = s.engine.subscribe_global(from).await?;
    let feed = (sub, VecDeque::new(), Some(revocation));
    let stream = futures::stream::unfold(feed, |(mut sub, mut queue, revocation)| async move {
        // `None` once the closing event went out.
        let revocation = revocation?;
        if revocation.is_revoked() {
            return Some((Ok(sse(&REVOKED)), (sub, queue, None)));
        }
        if queue.is_empty() {
            tokio::select! {
                biased;
                () = revocation.revoked() => {
                    return Some((Ok(sse(&REVOKED)), (sub, queue, None)));
                }
                batch = sub.next_batch() => queue.extend(batch),
            }
        }
        let item = queue.pop_front()?;
        let event = match item {
            GlobalItem::Event(rec) => global_event(&rec),
            GlobalItem::Notice(event) => event,
            GlobalItem::Lagged(skipped_notices) => StreamEvent::Resync { skipped_notices },
        };
        Some((Ok(sse(&event)), (sub, queue, Some(revocation))))
    })
    .take_until(s.shutdown.clone().cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEPALIVE).text("ping")))
}
