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
use reqwest::Method;
use serde_json::Value;
use tubemail_core::EventId;

use crate::error::{Error, Result};
use crate::transport::{Client, status_error};

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
        let (req, url) = self.client.request(Method::GET, &self.path, true);
        let mut req = req.header("Accept", "text/event-stream");
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
                    let Some(event) = decode(item, &mut self.last) else {
                        continue;
                    };
                    if event.event == "closed" && event.data["reason"] == "superseded" {
                        self.done = true;
                    }
                    return Some(Ok(event));
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

/// What one parsed SSE item means to a stream that has yielded events up
/// to `last`: the event to yield (and `last` moves on), or `None` for a
/// keepalive comment or an event already yielded before a reconnect.
/// Data that is not JSON is kept as a string.
fn decode(item: sse_stream::Sse, last: &mut Option<EventId>) -> Option<StreamEvent> {
    let event = item.event?; // keepalive comment
    let id = item.id.as_deref().and_then(EventId::parse);
    if let (Some(id), Some(last)) = (id, *last)
        && id <= last
    {
        return None; // already yielded before a reconnect
    }
    if id.is_some() {
        *last = id;
    }
    let data = item
        .data
        .as_deref()
        .map(|d| serde_json::from_str(d).unwrap_or(Value::String(d.to_owned())))
        .unwrap_or(Value::Null);
    Some(StreamEvent { id, event, data })
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

#[cfg(test)]
mod props {
    //! SSE parsing as the stream sees it (sse-stream, then [`decode`]):
    //! arbitrary bytes cut into arbitrary chunks never panic; a well-formed
    //! stream decodes the same however it is cut, to exactly the events
    //! sent, each id once. 256 cases by default (`PROPTEST_CASES`).
    #![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

    use std::io::Cursor;

    use futures::executor::block_on;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    type Parsed = Vec<Result<sse_stream::Sse, String>>;

    /// `bytes` fed to sse-stream in pieces cut at `cuts`.
    fn parse(bytes: &[u8], cuts: &[usize]) -> Parsed {
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        at.sort_unstable();
        at.push(bytes.len());
        let mut prev = 0;
        let mut chunks = Vec::new();
        for cut in at {
            chunks.push(Ok::<_, std::io::Error>(Cursor::new(
                bytes[prev..cut].to_vec(),
            )));
            prev = cut;
        }
        let sse = sse_stream::SseStream::from_bytes_stream(futures::stream::iter(chunks));
        block_on(sse.map(|r| r.map_err(|e| e.to_string())).collect())
    }

    /// What the client yields from one connection: items up to the first
    /// error (it reconnects there), decoded.
    fn yielded(parsed: Parsed, mut last: Option<EventId>) -> Vec<StreamEvent> {
        parsed
            .into_iter()
            .map_while(Result::ok)
            .filter_map(|item| decode(item, &mut last))
            .collect()
    }

    /// An event the hub could send: id, name, JSON data.
    fn event() -> impl Strategy<Value = (Option<u64>, String, Value)> {
        let data = prop_oneof![
            ".*".prop_map(|s| json!({"content": s, "meta": {}})),
            any::<i64>().prop_map(|n| json!({"n": n})),
            Just(json!({"reason": "superseded"})),
        ];
        (prop::option::of(0u64..1_000_000), "[a-z_]{1,16}", data)
    }

    fn encode(
        events: &[(Option<u64>, String, Value)],
        eol: &str,
        bom: bool,
        pings: bool,
    ) -> Vec<u8> {
        let mut out = String::new();
        if bom {
            out.push('\u{feff}');
        }
        for (id, name, data) in events {
            if pings {
                out.push_str(&format!(": ping{eol}{eol}"));
            }
            out.push_str(&format!("event: {name}{eol}"));
            // Pretty JSON: several data lines, joined back with \n.
            for line in serde_json::to_string_pretty(data).unwrap().lines() {
                out.push_str(&format!("data: {line}{eol}"));
            }
            if let Some(id) = id {
                out.push_str(&format!("id: {}{eol}", EventId(*id)));
            }
            out.push_str(eol);
        }
        out.into_bytes()
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_in_arbitrary_chunks_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..512),
            cuts in prop::collection::vec(any::<usize>(), 0..16),
            last in prop::option::of(any::<u64>()),
        ) {
            let parsed = parse(&bytes, &cuts);
            let _ = yielded(parsed, last.map(EventId));
        }

        #[test]
        fn text_like_input_never_panics(
            text in "(event|data|id|retry|:|: |\\r|\\n|[a-z0-9{}\" ]){0,80}",
            cuts in prop::collection::vec(any::<usize>(), 0..16),
        ) {
            let _ = yielded(parse(text.as_bytes(), &cuts), None);
        }

        #[test]
        fn well_formed_streams_decode_the_same_however_cut(
            events in prop::collection::vec(event(), 0..12),
            eol in prop::sample::select(&["\n", "\r\n", "\r"][..]),
            bom in any::<bool>(),
            pings in any::<bool>(),
            cuts in prop::collection::vec(any::<usize>(), 0..16),
            last in prop::option::of(0u64..1_000_000),
        ) {
            let bytes = encode(&events, eol, bom, pings);
            let whole = parse(&bytes, &[]);
            let split = parse(&bytes, &cuts);
            prop_assert!(whole.iter().all(Result::is_ok), "{:?}", whole);
            prop_assert_eq!(&split, &whole);
            // Exactly the events sent, minus ids at or below the cursor.
            let mut cursor = last.map(EventId);
            let mut want = Vec::new();
            for (id, name, data) in &events {
                let id = id.map(EventId);
                if let (Some(i), Some(c)) = (id, cursor) && i <= c {
                    continue;
                }
                if id.is_some() {
                    cursor = id;
                }
                want.push(StreamEvent { id, event: name.clone(), data: data.clone() });
            }
            prop_assert_eq!(yielded(split, last.map(EventId)), want);
        }
    }
}
