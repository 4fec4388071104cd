//! Event streams over SSE that reconnect and resume.
//!
//! The stream remembers the id of the last event it yielded. After a
//! network failure or a hub restart it reconnects with backoff and sends
//! `Last-Event-ID`, so the hub replays exactly what was missed; events with
//! an id at or below the last one are skipped, so nothing repeats.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt};
use serde_json::Value;
use tubemail_core::EventId;

use crate::client::{Client, status_error};
use crate::error::{Error, Result};

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// One event of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// The event id (timeline events have one; status notices do not).
    pub id: Option<EventId>,
    /// The SSE event name (`channel_event`, `outbound`, `worker_online`, …).
    pub event: String,
    /// The JSON data.
    pub data: Value,
}

type Sse = Pin<Box<dyn Stream<Item = Result<sse_stream::Sse, sse_stream::Error>> + Send>>;

struct State {
    client: Client,
    path: String,
    last: Option<EventId>,
    sse: Option<Sse>,
    backoff: Duration,
    done: bool,
}

/// An async stream of [`StreamEvent`]s that survives disconnects.
///
/// It ends after a permanent refusal (bad secret, bad name, unknown id;
/// yielded as an error) or when the hub hands the stream to a newer
/// subscriber (`closed` with reason `superseded`, yielded last).
pub struct EventStream {
    inner: Pin<Box<dyn Stream<Item = Result<StreamEvent>> + Send>>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

/// A failed connect: worth retrying, or final.
enum ConnectError {
    Transient(Error),
    Fatal(Error),
}

impl State {
    async fn connect(&mut self) -> Result<(), ConnectError> {
        let url = format!("{}{}", self.client.base, self.path);
        let mut req = self
            .client
            .long
            .get(&url)
            .bearer_auth(&self.client.secret)
            .header("Accept", "text/event-stream");
        if let Some(id) = self.last {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|source| ConnectError::Transient(Error::Unreachable { url, source }))?;
        let status = resp.status();
        if status.is_success() {
            self.sse = Some(Box::pin(sse_stream::SseStream::from_bytes_stream(
                resp.bytes_stream(),
            )));
            self.backoff = BACKOFF_START;
            return Ok(());
        }
        let body = resp.text().await.unwrap_or_default();
        match status_error(status, &body) {
            // The hub is restarting or overloaded: retry.
            e @ Error::Server {
                status: 502..=504, ..
            } => Err(ConnectError::Transient(e)),
            e => Err(ConnectError::Fatal(e)),
        }
    }

    async fn next(&mut self) -> Option<Result<StreamEvent>> {
        loop {
            if self.done {
                return None;
            }
            let Some(sse) = self.sse.as_mut() else {
                match self.connect().await {
                    Ok(()) => continue,
                    Err(ConnectError::Transient(e)) => {
                        tracing::debug!(error = %e, "stream reconnect failed; retrying");
                        tokio::time::sleep(self.backoff).await;
                        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                    Err(ConnectError::Fatal(e)) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            };
            match sse.next().await {
                Some(Ok(item)) => {
                    let Some(event) = item.event else { continue }; // keepalive comment
                    let id = item.id.as_deref().and_then(EventId::parse);
                    if let (Some(id), Some(last)) = (id, self.last)
                        && id <= last
                    {
                        continue; // already yielded before a reconnect
                    }
                    if id.is_some() {
                        self.last = id;
                    }
                    let data = item
                        .data
                        .as_deref()
                        .map(|d| serde_json::from_str(d).unwrap_or(Value::String(d.to_owned())))
                        .unwrap_or(Value::Null);
                    if event == "closed" && data["reason"] == "superseded" {
                        self.done = true;
                    }
                    return Some(Ok(StreamEvent { id, event, data }));
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "stream broke; reconnecting");
                    self.sse = None;
                }
                None => {
                    // The hub ended the stream (restart, unregister): reconnect.
                    self.sse = None;
                    tokio::time::sleep(self.backoff).await;
                }
            }
        }
    }
}

impl EventStream {
    /// Connects now (so "from now" means from this call) and returns the
    /// stream, or why the first connection failed.
    pub(crate) async fn open(
        client: Client,
        path: String,
        since: Option<EventId>,
    ) -> Result<EventStream> {
        let mut state = State {
            client,
            path,
            last: since,
            sse: None,
            backoff: BACKOFF_START,
            done: false,
        };
        state.connect().await.map_err(|e| match e {
            ConnectError::Transient(e) | ConnectError::Fatal(e) => e,
        })?;
        let inner = futures::stream::unfold(state, |mut s| async move {
            s.next().await.map(|item| (item, s))
        });
        Ok(EventStream {
            inner: Box::pin(inner),
        })
    }
}

impl Stream for EventStream {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
