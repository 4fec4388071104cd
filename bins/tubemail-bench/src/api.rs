//! The slice of the hub's HTTP API the bench drives: health, register, send
//! and the per-worker SSE stream.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};
use sse_stream::SseStream;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// How long opening a stream (until response headers) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest response body kept in an error, in characters.
const BODY_SNIPPET: usize = 300;

/// A client for one hub.
#[derive(Clone)]
pub struct Api {
    /// Client for short requests (register, send, health): pooled keep-alive.
    http: reqwest::Client,
    /// Client for SSE streams: every stream holds its own HTTP/1.1
    /// connection for its whole life, so no total timeout and no idle pool.
    streams: reqwest::Client,
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8080`.
    base: String,
    /// The bearer secret.
    secret: String,
}

/// What the hub answered to an accepted send.
#[derive(Debug, Clone)]
pub struct SendAck {
    /// The event id the message was stored under.
    pub event_id: String,
}

/// Why a send was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The hub answered with a status other than 200.
    #[error("HTTP {code}: {body}")]
    Status {
        /// The status code.
        code: u16,
        /// The start of the response body.
        body: String,
    },
    /// The request failed below HTTP (connect, reset, timeout).
    #[error("transport: {0}")]
    Transport(String),
    /// A 200 whose body lacks a usable `event_id`.
    #[error("bad 200 body: {0}")]
    BadBody(String),
}

/// Something a worker's stream reader saw.
#[derive(Debug)]
pub enum StreamEvent {
    /// A `channel_event` message arrived.
    Message {
        /// Index of the worker whose stream carried it.
        worker: usize,
        /// Its event id (`data.event_id`, else the SSE `id:`).
        event_id: String,
        /// When the bench read it off the stream.
        at: Instant,
        /// Something odd about it that did not stop it from counting
        /// (e.g. the SSE `id:` and `data.event_id` disagree).
        note: Option<String>,
    },
    /// An SSE event of another type, or one that could not be understood.
    Odd {
        /// Index of the worker whose stream carried it.
        worker: usize,
        /// What was wrong or unexpected.
        detail: String,
    },
    /// The stream ended (cleanly or with an error).
    Closed {
        /// Index of the worker whose stream ended.
        worker: usize,
        /// The error, if any.
        error: Option<String>,
    },
}

/// Reads a JSON string or number as a string (ids are strings on the wire,
/// but a lenient reader gives clearer reports when they are not).
pub fn id_string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An error and its sources, `: `-separated (reqwest's own message names
/// only the URL; the cause is in the sources).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// Shortens a body for reports.
fn snippet(body: &str) -> String {
    let mut s: String = body.chars().take(BODY_SNIPPET).collect();
    if body.chars().count() > BODY_SNIPPET {
        s.push('…');
    }
    s
}

impl Api {
    /// Builds clients for the hub at `base` using `secret`; `pool` is the
    /// number of idle keep-alive connections kept for short requests.
    pub fn new(base: &str, secret: &str, pool: usize) -> Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(pool)
            // Below the hub's 30 s keep-alive read timeout, so a pooled
            // connection is never picked just as the hub closes it.
            .pool_idle_timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .context("building HTTP client")?;
        let streams = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(0)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building SSE client")?;
        Ok(Self {
            http,
            streams,
            base: base.trim_end_matches('/').to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// Base URL without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The bearer secret.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Whether `GET /health` answers 200 right now.
    pub async fn healthy(&self) -> bool {
        match self.http.get(format!("{}/health", self.base)).send().await {
            Ok(resp) => resp.status().is_success(),
            Err(_) => false,
        }
    }

    /// Registers `worker` (`POST /tubemail/{w}/register`).
    pub async fn register(&self, worker: &str) -> Result<()> {
        let url = format!("{}/tubemail/{worker}/register", self.base);
        let body = json!({"cwd": "/tmp", "pid": std::process::id(), "forwarder_version": "bench"});
        let resp = self
            .http
            .post(&url)
            .bearer_auth(&self.secret)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("POST {url} {body} -> HTTP {status}: {}", snippet(&text));
        }
        let parsed: Value = serde_json::from_str(&text)
            .with_context(|| format!("POST {url} -> 200 with non-JSON body {}", snippet(&text)))?;
        if parsed.get("worker").is_none() || parsed.get("cursor").is_none() {
            tracing::warn!(%url, body = %snippet(&text), "register reply lacks worker/cursor");
        }
        Ok(())
    }

    /// Sends `message` with `meta` to `worker` (`POST /api/workers/{w}/send`).
    pub async fn send(
        &self,
        worker: &str,
        message: &str,
        meta: Value,
    ) -> Result<SendAck, SendError> {
        let path = format!("/api/workers/{worker}/send");
        let body = json!({"message": message, "meta": meta});
        let parsed = self.call(reqwest::Method::POST, &path, Some(&body)).await?;
        let event_id = id_string(parsed.get("event_id"))
            .ok_or_else(|| SendError::BadBody(snippet(&parsed.to_string())))?;
        Ok(SendAck { event_id })
    }

    /// Sends a JSON request to `path` (e.g. `/api/workers`) and returns the
    /// JSON body of a 200; any other status, a transport failure or a
    /// non-JSON body is an error.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, SendError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.secret);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| SendError::Transport(error_chain(&e)))?;
        let code = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| SendError::Transport(format!("reading body: {}", error_chain(&e))))?;
        if code != 200 {
            return Err(SendError::Status {
                code,
                body: snippet(&text),
            });
        }
        serde_json::from_str(&text).map_err(|_| SendError::BadBody(snippet(&text)))
    }

    /// Opens the SSE stream at `path`, resuming after `last_event_id` when
    /// given; returns the response once the hub answered 200 with headers.
    pub async fn open_sse(
        &self,
        path: &str,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .streams
            .get(&url)
            .bearer_auth(&self.secret)
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = tokio::time::timeout(OPEN_TIMEOUT, req.send())
            .await
            .with_context(|| format!("GET {url}: no response headers in {OPEN_TIMEOUT:?}"))?
            .map_err(|e| anyhow::anyhow!("GET {url}: {}", error_chain(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            bail!("GET {url} -> HTTP {status}: {}", snippet(&text));
        }
        Ok(resp)
    }

    /// Opens `worker`'s stream and spawns a reader that reports to `tx`
    /// under index `idx`. Returns once the hub answered 200 with headers.
    pub async fn open_stream(
        &self,
        idx: usize,
        worker: &str,
        tx: UnboundedSender<StreamEvent>,
    ) -> Result<JoinHandle<()>> {
        let resp = self
            .open_sse(&format!("/tubemail/{worker}/stream"), None)
            .await?;
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if !content_type.starts_with("text/event-stream") {
            tracing::warn!(%worker, %content_type, "stream is not text/event-stream");
        }
        let mut events = SseStream::from_bytes_stream(resp.bytes_stream());
        Ok(tokio::spawn(async move {
            let error = loop {
                match events.next().await {
                    None => break None,
                    Some(Err(e)) => break Some(error_chain(&e)),
                    Some(Ok(sse)) => {
                        let at = Instant::now();
                        let report = read_event(idx, sse, at);
                        if tx.send(report).is_err() {
                            return;
                        }
                    }
                }
            };
            let _ = tx.send(StreamEvent::Closed { worker: idx, error });
        }))
    }

    /// Registers every name in `names`, `concurrency` at a time.
    pub async fn register_all(&self, names: &[String], concurrency: usize) -> Result<()> {
        stream::iter(names.iter().map(|n| self.register(n)))
            .buffer_unordered(concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Opens a stream per name in `names` (index = position), `concurrency`
    /// at a time, and returns the reader tasks.
    pub async fn open_all(
        &self,
        names: &[String],
        concurrency: usize,
        tx: &UnboundedSender<StreamEvent>,
    ) -> Result<Vec<JoinHandle<()>>> {
        stream::iter(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| self.open_stream(i, n, tx.clone())),
        )
        .buffer_unordered(concurrency)
        .try_collect()
        .await
    }
}

/// Turns one parsed SSE event into a report.
fn read_event(worker: usize, sse: sse_stream::Sse, at: Instant) -> StreamEvent {
    if sse.event.as_deref() != Some("channel_event") {
        return StreamEvent::Odd {
            worker,
            detail: format!("event type {:?} (id {:?})", sse.event, sse.id),
        };
    }
    let Some(data) = sse.data else {
        return StreamEvent::Odd {
            worker,
            detail: format!("channel_event without data (id {:?})", sse.id),
        };
    };
    let parsed: Value = match serde_json::from_str(&data) {
        Ok(v) => v,
        Err(e) => {
            return StreamEvent::Odd {
                worker,
                detail: format!("data is not JSON ({e}): {}", snippet(&data)),
            };
        }
    };
    let from_data = id_string(parsed.get("event_id"));
    let note = match (&from_data, &sse.id) {
        (Some(a), Some(b)) if a != b => {
            Some(format!("SSE id {b:?} differs from data.event_id {a:?}"))
        }
        (Some(_), None) => Some("channel_event without SSE id: line".to_owned()),
        _ => None,
    };
    match from_data.or(sse.id) {
        Some(event_id) => StreamEvent::Message {
            worker,
            event_id,
            at,
            note,
        },
        None => StreamEvent::Odd {
            worker,
            detail: format!("channel_event without event id: {}", snippet(&data)),
        },
    }
}
