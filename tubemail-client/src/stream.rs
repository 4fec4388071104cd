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
use tubemail_core::stream::{StreamEventError, SubscriptionEnd};
use tubemail_core::{EventId, StreamEvent};

use crate::error::{Error, Result};
use crate::transport::{Client, status_error};

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

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
/// subscriber (`closed` with reason `superseded`, yielded last). An event
/// whose data does not fit its name is yielded as [`Error::Decode`] and the
/// stream goes on; an event name this version does not know (a newer
/// hub's) is skipped.
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
                    // Another stream took over, or the credential is gone:
                    // reconnecting would fight it or be refused.
                    if let Ok(StreamEvent::Closed {
                        reason: SubscriptionEnd::Superseded | SubscriptionEnd::Revoked,
                    }) = event
                    {
                        self.done = true;
                    }
                    return Some(event);
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
/// keepalive comment, an event already yielded before a reconnect, or an
/// event name this version does not know.
fn decode(item: sse_stream::Sse, last: &mut Option<EventId>) -> Option<Result<StreamEvent>> {
    let name = item.event?; // keepalive comment
    let id = item.id.as_deref().and_then(EventId::parse);
    if let (Some(id), Some(last)) = (id, *last)
        && id <= last
    {
        return None; // already yielded before a reconnect
    }
    if id.is_some() {
        *last = id;
    }
    match StreamEvent::from_sse(&name, item.data.as_deref().unwrap_or_default()) {
        Ok(event) => Some(Ok(event)),
        Err(StreamEventError::Unknown(name)) => {
            tracing::debug!(
                event = name,
                "skipping a stream event this client does not know"
            );
            None
        }
        Err(e) => Some(Err(Error::Decode(e.to_string()))),
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
    use tubemail_core::WorkerName;

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
    fn yielded(parsed: Parsed, mut last: Option<EventId>) -> Vec<Result<StreamEvent>> {
        parsed
            .into_iter()
            .map_while(Result::ok)
            .filter_map(|item| decode(item, &mut last))
            .collect()
    }

    /// An event the hub could send: timeline events (with an id) and
    /// notices (without).
    fn event() -> impl Strategy<Value = StreamEvent> {
        let worker = || "[a-z][a-z0-9-]{0,12}".prop_map(|w| WorkerName::new(w).unwrap());
        prop_oneof![
            (0u64..1_000_000, ".*", prop::option::of(worker())).prop_map(
                |(id, content, worker)| {
                    StreamEvent::ChannelEvent {
                        worker,
                        event_id: EventId(id),
                        ts: 1.5,
                        content,
                        meta: Default::default(),
                    }
                }
            ),
            (0u64..1_000_000, worker()).prop_map(|(id, w)| StreamEvent::Interrupt {
                worker: Some(w),
                event_id: EventId(id),
                ts: Some(2.0),
            }),
            worker().prop_map(|worker| StreamEvent::WorkerOnline { worker }),
            any::<u64>().prop_map(|skipped_notices| StreamEvent::Resync { skipped_notices }),
            Just(StreamEvent::Closed {
                reason: SubscriptionEnd::Unregistered
            }),
        ]
    }

    fn encode(events: &[StreamEvent], eol: &str, bom: bool, pings: bool) -> Vec<u8> {
        let mut out = String::new();
        if bom {
            out.push('\u{feff}');
        }
        for ev in events {
            if pings {
                out.push_str(&format!(": ping{eol}{eol}"));
            }
            let (name, data) = ev.to_sse();
            out.push_str(&format!("event: {name}{eol}"));
            // Pretty JSON: several data lines, joined back with \n.
            let data: serde_json::Value = serde_json::from_str(&data).unwrap();
            for line in serde_json::to_string_pretty(&data).unwrap().lines() {
                out.push_str(&format!("data: {line}{eol}"));
            }
            if let Some(id) = ev.event_id() {
                out.push_str(&format!("id: {id}{eol}"));
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
            for ev in &events {
                let id = ev.event_id();
                if let (Some(i), Some(c)) = (id, cursor) && i <= c {
                    continue;
                }
                if id.is_some() {
                    cursor = id;
                }
                want.push(ev.clone());
            }
            let got: Vec<StreamEvent> = yielded(split, last.map(EventId))
                .into_iter()
                .collect::<Result<_>>()
                .unwrap();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn unknown_names_are_skipped_and_bad_data_is_an_error() {
        let bytes = b"event: from_the_future\ndata: {}\n\nevent: closed\ndata: {\"reason\": 1}\n\nevent: pty_attach\ndata: {}\n\n";
        let got = yielded(parse(bytes, &[]), None);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(matches!(got[0], Err(Error::Decode(_))));
        assert!(matches!(got[1], Ok(StreamEvent::PtyAttach {})));
    }
}
