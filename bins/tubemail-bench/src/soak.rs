//! The `soak` scenario: many simulated workers on one hub for a long time.
//!
//! Every worker registers and keeps its SSE stream open the whole run, the
//! way `claude-tm channel` does: it confirms each event it reads
//! (`/delivered`), and when its stream drops it reconnects with
//! `Last-Event-ID` (which counts as an error). Meanwhile a steady mix of
//! traffic runs at fixed rates: sends to random workers (each checked for
//! exactly-once arrival on its own stream, send → arrival latency recorded),
//! replies from workers, permission prompts answered from both sides,
//! activity and context heartbeats, status and roster reads, MCP
//! `tools/call tm_status` on one session, and one global stream reader.
//!
//! Every `sample` interval the hub's RSS (`VmRSS`, `RssAnon`), open file
//! descriptors, threads and data-dir size are read from `/proc` and the
//! file system, next to that window's delivery figures. The verdict compares
//! the first samples after the warm-up with the last ones.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::{StreamExt, TryStreamExt, stream};
use reqwest::Method;
use serde_json::{Value, json};
use sse_stream::SseStream;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::api::{Api, SendError, error_chain, id_string};
use crate::collector::{Percentiles, show};
use crate::hub::{Target, cpu_time};
use crate::mcp::Session;

/// How often the pacers issue their due operations.
const TICK: Duration = Duration::from_millis(10);
/// First and longest wait before a dropped stream reconnects.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(5));
/// Error and oddity samples kept verbatim for the report.
const SAMPLES_KEPT: usize = 8;
/// Samples averaged at each end of the growth comparison.
const VERDICT_SAMPLES: usize = 3;
/// Highest write p99 (submission to commit, the hub's own histogram)
/// allowed in a window in which retention deleted events.
const WRITE_P99_BOUND: f64 = 0.005;

/// Settings of the soak scenario.
pub struct SoakConfig {
    /// Worker names (one stream each).
    pub names: Vec<String>,
    /// How long traffic runs.
    pub duration: Duration,
    /// Sends per second, to random workers.
    pub send_rate: f64,
    /// Worker replies (`/outbound`) per second.
    pub outbound_rate: f64,
    /// Permission prompts per second (each answered 0.2–2 s later, half by
    /// the orchestrator, half at the worker).
    pub permission_rate: f64,
    /// Heartbeats per second (`/active` and `/context-pct`, alternately).
    pub heartbeat_rate: f64,
    /// Reads per second (`/api/workers/{w}/status`, `/api/workers/{w}`,
    /// `/api/permissions`, `/tubemail/{w}/events`, in turn).
    pub read_rate: f64,
    /// Full roster reads (`GET /api/workers`) per second.
    pub roster_rate: f64,
    /// MCP `tools/call tm_status` per second, on one session.
    pub mcp_rate: f64,
    /// Approximate size of each sent message.
    pub message_bytes: usize,
    /// Sampling interval.
    pub sample: Duration,
    /// Samples before this are warm-up (left out of the verdict).
    pub warmup: Duration,
    /// A message not on its stream this long after its send is late.
    pub deadline: Duration,
    /// Most requests in flight; a due operation beyond it is shed (counted).
    pub inflight: usize,
    /// Allowed RSS growth after warm-up, in percent.
    pub rss_tolerance: f64,
    /// Allowed growth of open file descriptors after warm-up.
    pub fd_tolerance: u64,
    /// The hub's data dir (for its size), when known.
    pub data_dir: Option<PathBuf>,
    /// `retention_max_database_mib` set at the start (0 = left as is).
    /// The verdict then also checks that the database and its log stay
    /// under it and that writes keep a p99 within [`WRITE_P99_BOUND`] in
    /// every window in which retention deleted events.
    pub retention_mib: u64,
    /// Makes permission request ids unique per run.
    pub tag: String,
}

/// The kinds of operation the soak makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Send,
    Delivered,
    Outbound,
    PermissionRequest,
    PermissionResolve,
    PermissionAnswer,
    Active,
    ContextPct,
    Read,
    Roster,
    Mcp,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Send => "POST /api/workers/{w}/send",
            Kind::Delivered => "POST /tubemail/{w}/delivered",
            Kind::Outbound => "POST /tubemail/{w}/outbound",
            Kind::PermissionRequest => "POST /tubemail/{w}/permission-request",
            Kind::PermissionResolve => "POST /api/permissions/resolve",
            Kind::PermissionAnswer => "POST /tubemail/{w}/permission-response",
            Kind::Active => "POST /tubemail/{w}/active",
            Kind::ContextPct => "POST /tubemail/{w}/context-pct",
            Kind::Read => "GET status/worker/permissions/events",
            Kind::Roster => "GET /api/workers (full roster)",
            Kind::Mcp => "MCP tools/call tm_status",
        }
    }
}

/// How an operation failed.
enum Failure {
    /// 4xx: the request was refused.
    Client(String),
    /// 5xx.
    Server(String),
    /// Connect, reset, timeout.
    Transport(String),
    /// A 200 that did not say what it should.
    Bad(String),
}

impl From<SendError> for Failure {
    fn from(e: SendError) -> Self {
        let text = e.to_string();
        match e {
            SendError::Status { code, .. } if code >= 500 => Failure::Server(text),
            SendError::Status { .. } => Failure::Client(text),
            SendError::Transport(_) => Failure::Transport(text),
            SendError::BadBody(_) => Failure::Bad(text),
        }
    }
}

/// Outcomes of one kind of operation.
#[derive(Default)]
struct OpStats {
    ok: u64,
    client: u64,
    server: u64,
    transport: u64,
    bad: u64,
    latencies: Vec<Duration>,
}

impl OpStats {
    fn failed(&self) -> u64 {
        self.client + self.server + self.transport + self.bad
    }
}

/// What happened within one sampling window.
#[derive(Default)]
struct Window {
    acked: u64,
    arrived: u64,
    latencies: Vec<Duration>,
    errors: u64,
    reconnects: u64,
    shed: u64,
}

/// Every expectation and observation of the run.
#[derive(Default)]
struct Ledger {
    /// Acknowledged sends not yet on their stream: worker, send start.
    pending: HashMap<String, (usize, Instant)>,
    /// Arrivals not (yet) acknowledged to a sender: worker, time read.
    early: HashMap<String, Vec<(usize, Instant)>>,
    /// Acknowledged and arrived: worker.
    done: HashMap<String, usize>,
    acked: u64,
    late: u64,
    duplicated: u64,
    misrouted: u64,
    latencies: Vec<Duration>,
    /// Answered prompts whose `permission_response` has not arrived.
    perm_pending: HashMap<String, usize>,
    /// `permission_response` arrivals not (yet) known as answered.
    perm_early: HashMap<String, Vec<usize>>,
    perm_done: HashMap<String, usize>,
    perm_expected: u64,
    perm_duplicated: u64,
    perm_misrouted: u64,
    ops: BTreeMap<Kind, OpStats>,
    errors: Vec<String>,
    odd: u64,
    odd_samples: Vec<String>,
    reconnects: u64,
    reconnect_failures: u64,
    reconnect_samples: Vec<String>,
    shed: u64,
    global_events: BTreeMap<String, u64>,
    global_reconnects: u64,
    window: Window,
}

impl Ledger {
    fn ok(&mut self, kind: Kind, took: Duration) {
        let s = self.ops.entry(kind).or_default();
        s.ok += 1;
        s.latencies.push(took);
    }

    fn failed(&mut self, kind: Kind, f: Failure) {
        let s = self.ops.entry(kind).or_default();
        let text = match f {
            Failure::Client(t) => {
                s.client += 1;
                t
            }
            Failure::Server(t) => {
                s.server += 1;
                t
            }
            Failure::Transport(t) => {
                s.transport += 1;
                t
            }
            Failure::Bad(t) => {
                s.bad += 1;
                t
            }
        };
        self.window.errors += 1;
        if self.errors.len() < SAMPLES_KEPT {
            tracing::warn!(kind = kind.label(), error = %text, "soak: operation failed");
            self.errors.push(format!("{}: {text}", kind.label()));
        }
    }

    fn odd(&mut self, detail: String) {
        self.odd += 1;
        self.window.errors += 1;
        if self.odd_samples.len() < SAMPLES_KEPT {
            tracing::warn!(%detail, "soak: odd stream event");
            self.odd_samples.push(detail);
        }
    }

    fn reconnect(&mut self, worker: &str, why: &str) {
        self.reconnects += 1;
        self.window.reconnects += 1;
        if self.reconnect_samples.len() < SAMPLES_KEPT {
            tracing::warn!(worker, why, "soak: a worker stream dropped; reconnecting");
            self.reconnect_samples.push(format!("{worker}: {why}"));
        }
    }

    /// Books the first arrival on the right stream of an acknowledged send.
    fn delivered(
        &mut self,
        id: String,
        sent: Instant,
        at: Instant,
        worker: usize,
        deadline: Duration,
    ) {
        let latency = at.saturating_duration_since(sent);
        if latency > deadline {
            self.late += 1;
        }
        self.latencies.push(latency);
        self.window.latencies.push(latency);
        self.window.arrived += 1;
        self.done.insert(id, worker);
    }

    fn acked(&mut self, id: String, worker: usize, sent: Instant, deadline: Duration) {
        self.acked += 1;
        self.window.acked += 1;
        let Some(arrivals) = self.early.remove(&id) else {
            self.pending.insert(id, (worker, sent));
            return;
        };
        let mut mine = arrivals
            .iter()
            .filter(|(w, _)| *w == worker)
            .map(|(_, at)| *at);
        self.misrouted += arrivals.iter().filter(|(w, _)| *w != worker).count() as u64;
        match mine.next() {
            Some(first) => {
                self.duplicated += mine.count() as u64;
                self.delivered(id, sent, first, worker, deadline);
            }
            None => {
                self.pending.insert(id, (worker, sent));
            }
        }
    }

    fn arrived(&mut self, id: String, worker: usize, at: Instant, deadline: Duration) {
        if let Some(&(expected, sent)) = self.pending.get(&id) {
            if expected == worker {
                self.pending.remove(&id);
                self.delivered(id, sent, at, worker, deadline);
            } else {
                self.misrouted += 1;
            }
        } else if let Some(&expected) = self.done.get(&id) {
            if expected == worker {
                self.duplicated += 1;
            } else {
                self.misrouted += 1;
            }
        } else {
            self.early.entry(id).or_default().push((worker, at));
        }
    }

    fn perm_answered(&mut self, request_id: String, worker: usize) {
        self.perm_expected += 1;
        let Some(arrivals) = self.perm_early.remove(&request_id) else {
            self.perm_pending.insert(request_id, worker);
            return;
        };
        let mine = arrivals.iter().filter(|w| **w == worker).count() as u64;
        self.perm_misrouted += arrivals.len() as u64 - mine;
        if mine == 0 {
            self.perm_pending.insert(request_id, worker);
        } else {
            self.perm_duplicated += mine - 1;
            self.perm_done.insert(request_id, worker);
        }
    }

    fn perm_arrived(&mut self, request_id: String, worker: usize) {
        if let Some(&expected) = self.perm_pending.get(&request_id) {
            if expected == worker {
                self.perm_pending.remove(&request_id);
                self.perm_done.insert(request_id, worker);
            } else {
                self.perm_misrouted += 1;
            }
        } else if let Some(&expected) = self.perm_done.get(&request_id) {
            if expected == worker {
                self.perm_duplicated += 1;
            } else {
                self.perm_misrouted += 1;
            }
        } else {
            self.perm_early.entry(request_id).or_default().push(worker);
        }
    }

    /// Acknowledged sends still not on their stream after `deadline`.
    fn overdue(&self, now: Instant, deadline: Duration) -> usize {
        self.pending
            .values()
            .filter(|(_, sent)| now.saturating_duration_since(*sent) > deadline)
            .count()
    }
}

/// What every task shares.
struct Ctx {
    api: Api,
    names: Vec<String>,
    ledger: Mutex<Ledger>,
    /// Bounds the requests in flight.
    inflight: Arc<Semaphore>,
    /// Operations (and delayed permission answers) not finished yet.
    outstanding: AtomicU64,
    deadline: Duration,
    seed: u64,
    tag: String,
    padding: String,
}

/// `splitmix64`: a well-mixed 64-bit hash, for reproducible random picks.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Ctx {
    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A random number for the `seq`th operation of `kind`.
    fn random(&self, kind: Kind, seq: u64) -> u64 {
        mix(self.seed ^ mix(((kind as u64) << 56) ^ seq))
    }

    /// A random worker index for the `seq`th operation of `kind`.
    fn pick(&self, kind: Kind, seq: u64) -> usize {
        (self.random(kind, seq) % self.names.len() as u64) as usize
    }

    /// Books the outcome of an operation started at `t`.
    fn note(&self, kind: Kind, t: Instant, r: Result<(), Failure>) {
        let took = t.elapsed();
        let mut l = self.ledger();
        match r {
            Ok(()) => l.ok(kind, took),
            Err(f) => l.failed(kind, f),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        self.api
            .call(method, path, body)
            .await
            .map_err(Failure::from)
    }

    /// Expects `{"ok": true}` (or `{"ok": true, ...}`) from a POST.
    async fn post_ok(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let v = self.call(Method::POST, path, Some(body)).await?;
        if v.get("ok") == Some(&json!(false)) {
            return Err(Failure::Bad(format!("{path} answered {v}")));
        }
        Ok(v)
    }
}

/// Counts an operation as outstanding until dropped.
struct Outstanding(Arc<Ctx>);

impl Outstanding {
    fn new(ctx: &Arc<Ctx>) -> Self {
        ctx.outstanding.fetch_add(1, Ordering::Relaxed);
        Outstanding(ctx.clone())
    }
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs the `seq`th operation of `kind`.
async fn op(ctx: Arc<Ctx>, kind: Kind, seq: u64) {
    let w = ctx.pick(kind, seq);
    let name = ctx.names[w].clone();
    let t = Instant::now();
    let r: Result<(), Failure> = match kind {
        Kind::Send => {
            let meta = json!({"bench": "soak", "seq": seq});
            let message = format!("soak {seq} {}", ctx.padding);
            match ctx.api.send(&name, &message, meta).await {
                Ok(ack) => {
                    ctx.ledger().acked(ack.event_id, w, t, ctx.deadline);
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        }
        Kind::Outbound => {
            let body = json!({"text": format!("soak reply {seq}"), "meta": {"bench": "soak"}});
            ctx.call(
                Method::POST,
                &format!("/tubemail/{name}/outbound"),
                Some(&body),
            )
            .await
            .map(drop)
        }
        Kind::PermissionRequest => permission(&ctx, w, seq).await,
        Kind::Active | Kind::ContextPct => {
            // Alternate the two heartbeats; values change now and then.
            let (kind2, path, body) = if seq.is_multiple_of(2) {
                let active = ctx.random(kind, seq).is_multiple_of(4);
                (Kind::Active, "active", json!({"is_active": active}))
            } else {
                let pct = ctx.random(kind, seq) % 101;
                (Kind::ContextPct, "context-pct", json!({"pct": pct}))
            };
            let r = ctx
                .post_ok(&format!("/tubemail/{name}/{path}"), &body)
                .await
                .map(drop);
            ctx.note(kind2, t, r);
            return;
        }
        Kind::Read => {
            let path = match seq % 4 {
                0 => format!("/api/workers/{name}/status"),
                1 => format!("/api/workers/{name}"),
                2 => "/api/permissions".to_owned(),
                _ => format!("/tubemail/{name}/events?limit=20"),
            };
            ctx.call(Method::GET, &path, None).await.map(drop)
        }
        Kind::Roster => match full_roster(&ctx).await {
            Ok(n) => {
                if n >= ctx.names.len() {
                    Ok(())
                } else {
                    Err(Failure::Bad(format!(
                        "roster lists {n} workers, expected ≥ {}",
                        ctx.names.len()
                    )))
                }
            }
            Err(e) => Err(e),
        },
        Kind::Delivered | Kind::PermissionResolve | Kind::PermissionAnswer | Kind::Mcp => Ok(()),
    };
    ctx.note(kind, t, r);
}

/// Reads the whole roster, page after page (`GET /api/workers` answers a
/// page at a time and names the next in `next`): how many rows it has.
async fn full_roster(ctx: &Ctx) -> Result<usize, Failure> {
    let mut rows = 0;
    let mut path = "/api/workers?limit=5000".to_owned();
    loop {
        let page = ctx.call(Method::GET, &path, None).await?;
        rows += page["workers"].as_array().map_or(0, Vec::len);
        match page["next"].as_str() {
            Some(after) => path = format!("/api/workers?limit=5000&after={after}"),
            None => return Ok(rows),
        }
    }
}

/// A worker asks for a permission; it is answered 0.2–2 s later, by the
/// orchestrator (even `seq`) or at the worker (odd), and the answer must
/// then come down the worker's stream exactly once.
async fn permission(ctx: &Arc<Ctx>, w: usize, seq: u64) -> Result<(), Failure> {
    let name = ctx.names[w].clone();
    let request_id = format!("soak-{}-{seq}", ctx.tag);
    let body = json!({"request_id": request_id, "tool_name": "Bash",
                      "description": "soak test prompt", "input_preview": "ls -la"});
    ctx.call(
        Method::POST,
        &format!("/tubemail/{name}/permission-request"),
        Some(&body),
    )
    .await?;
    let delay = Duration::from_millis(200 + ctx.random(Kind::PermissionResolve, seq) % 1800);
    let guard = Outstanding::new(ctx);
    let ctx = ctx.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let t = Instant::now();
        let (kind, r) = if seq.is_multiple_of(2) {
            let body = json!({"worker": name, "request_id": request_id, "behavior": "allow"});
            (
                Kind::PermissionResolve,
                ctx.post_ok("/api/permissions/resolve", &body).await,
            )
        } else {
            let body = json!({"request_id": request_id, "behavior": "deny"});
            let path = format!("/tubemail/{name}/permission-response");
            (Kind::PermissionAnswer, ctx.post_ok(&path, &body).await)
        };
        if r.is_ok() {
            ctx.ledger().perm_answered(request_id, w);
        }
        ctx.note(kind, t, r.map(drop));
        drop(guard);
    });
    Ok(())
}

/// Issues `rate` operations of `kind` per second until `end`, each as its
/// own task within the in-flight bound; one that finds no room is shed.
async fn pace(ctx: Arc<Ctx>, kind: Kind, rate: f64, start: Instant, end: Instant) {
    if rate <= 0.0 {
        return;
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut issued: u64 = 0;
    loop {
        tick.tick().await;
        let now = Instant::now();
        if now >= end {
            return;
        }
        let due = (now.duration_since(start).as_secs_f64() * rate) as u64;
        while issued < due {
            match ctx.inflight.clone().try_acquire_owned() {
                Ok(permit) => {
                    let guard = Outstanding::new(&ctx);
                    let ctx = ctx.clone();
                    let seq = issued;
                    tokio::spawn(async move {
                        op(ctx, kind, seq).await;
                        drop(permit);
                        drop(guard);
                    });
                }
                Err(_) => {
                    let mut l = ctx.ledger();
                    l.shed += 1;
                    l.window.shed += 1;
                }
            }
            issued += 1;
        }
    }
}

/// `tools/call tm_status` at `rate` per second on one session, one at a
/// time (a session is used sequentially).
async fn mcp_loop(ctx: Arc<Ctx>, mut session: Session, rate: f64, start: Instant, end: Instant) {
    if rate <= 0.0 {
        return;
    }
    let mut seq: u64 = 0;
    loop {
        let due_at = start + Duration::from_secs_f64(seq as f64 / rate);
        if due_at >= end {
            return;
        }
        tokio::time::sleep_until(due_at.into()).await;
        let w = ctx.pick(Kind::Mcp, seq);
        let t = Instant::now();
        let r = session
            .call("tm_status", json!({"worker": ctx.names[w]}))
            .await
            .map(drop)
            .map_err(|e| Failure::Bad(format!("{e:#}")));
        ctx.note(Kind::Mcp, t, r);
        seq += 1;
    }
}

/// Handles one event of worker `idx`'s stream; `Some(reason)` when the hub
/// ended the subscription.
fn on_worker_event(
    ctx: &Arc<Ctx>,
    idx: usize,
    sse: sse_stream::Sse,
    last_id: &mut Option<String>,
) -> Option<String> {
    let at = Instant::now();
    let name = &ctx.names[idx];
    let event = sse.event.as_deref().unwrap_or("message");
    let data: Option<Value> = sse
        .data
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok());
    if event == "closed" {
        return Some(format!(
            "hub ended the stream: {}",
            sse.data.unwrap_or_default()
        ));
    }
    let Some(data) = data else {
        ctx.ledger()
            .odd(format!("{name}: {event} without JSON data: {:?}", sse.data));
        return None;
    };
    if let Some(id) = &sse.id {
        *last_id = Some(id.clone());
    }
    match event {
        "channel_event" => {
            let Some(id) = id_string(data.get("event_id")).or(sse.id) else {
                ctx.ledger()
                    .odd(format!("{name}: channel_event without id"));
                return None;
            };
            ctx.ledger().arrived(id.clone(), idx, at, ctx.deadline);
            // Confirm it, as the channel does once claude has it.
            let ctx2 = ctx.clone();
            let guard = Outstanding::new(ctx);
            let path = format!("/tubemail/{name}/delivered");
            tokio::spawn(async move {
                let t = Instant::now();
                let r = ctx2.post_ok(&path, &json!({"through": id})).await.map(drop);
                ctx2.note(Kind::Delivered, t, r);
                drop(guard);
            });
        }
        "permission_response" => match data.get("request_id").and_then(Value::as_str) {
            Some(rid) => ctx.ledger().perm_arrived(rid.to_owned(), idx),
            None => ctx.ledger().odd(format!(
                "{name}: permission_response without request_id: {data}"
            )),
        },
        other => ctx
            .ledger()
            .odd(format!("{name}: unexpected event {other}: {data}")),
    }
    None
}

/// Follows worker `idx`'s stream for the rest of the run, reconnecting with
/// `Last-Event-ID` when it drops.
async fn follow(ctx: Arc<Ctx>, idx: usize, first: reqwest::Response) {
    let path = format!("/tubemail/{}/stream", ctx.names[idx]);
    let mut last_id: Option<String> = None;
    let mut resp = first;
    loop {
        let mut events = SseStream::from_bytes_stream(resp.bytes_stream());
        let why = loop {
            match events.next().await {
                None => break "the stream ended".to_owned(),
                Some(Err(e)) => break format!("stream error: {}", error_chain(&e)),
                Some(Ok(sse)) => {
                    if let Some(end) = on_worker_event(&ctx, idx, sse, &mut last_id) {
                        break end;
                    }
                }
            }
        };
        ctx.ledger().reconnect(&ctx.names[idx], &why);
        let mut backoff = BACKOFF.0;
        resp = loop {
            tokio::time::sleep(backoff).await;
            match ctx.api.open_sse(&path, last_id.as_deref()).await {
                Ok(r) => break r,
                Err(e) => {
                    ctx.ledger().reconnect_failures += 1;
                    tracing::warn!(error = %format!("{e:#}"), "soak: stream reconnect failed");
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
        };
    }
}

/// Reads the global stream (as the web UI does), counting events by type.
async fn follow_global(ctx: Arc<Ctx>) {
    let mut last_id: Option<String> = None;
    let mut first = true;
    loop {
        if !first {
            tokio::time::sleep(BACKOFF.0).await;
        }
        first = false;
        let resp = match ctx
            .api
            .open_sse("/api/events/stream", last_id.as_deref())
            .await
        {
            Ok(r) => r,
            Err(e) => {
                ctx.ledger().global_reconnects += 1;
                tracing::warn!(error = %format!("{e:#}"), "soak: global stream open failed");
                continue;
            }
        };
        let mut events = SseStream::from_bytes_stream(resp.bytes_stream());
        while let Some(Ok(sse)) = events.next().await {
            if let Some(id) = sse.id {
                last_id = Some(id);
            }
            let name = sse.event.unwrap_or_else(|| "message".to_owned());
            *ctx.ledger().global_events.entry(name).or_default() += 1;
        }
        ctx.ledger().global_reconnects += 1;
        tracing::warn!("soak: the global stream dropped; reconnecting");
    }
}

/// Facts about the hub process and its data dir at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct ProcFacts {
    rss_kb: u64,
    anon_kb: u64,
    threads: u64,
    fds: u64,
    db_bytes: u64,
    wal_bytes: u64,
}

/// Reads [`ProcFacts`] of `pid` (and the sizes in `data_dir`).
fn proc_facts(pid: u32, data_dir: Option<&Path>) -> Result<ProcFacts> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing /proc/{pid}/fd"))?
        .count() as u64;
    let size = |name: &str| {
        data_dir
            .and_then(|d| std::fs::metadata(d.join(name)).ok())
            .map_or(0, |m| m.len())
    };
    Ok(ProcFacts {
        rss_kb: field("VmRSS:"),
        anon_kb: field("RssAnon:"),
        threads: field("Threads:"),
        fds,
        db_bytes: size("tubemail.db"),
        wal_bytes: size("tubemail.db-wal"),
    })
}

/// The 1-minute load average.
fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// This process's resident memory, in KiB.
fn own_rss_kb() -> u64 {
    crate::hub::rss(std::process::id()).map_or(0, |r| r.rss_kb)
}

/// One row of the table over time.
#[derive(Clone)]
struct Sample {
    /// Since traffic started.
    t: Duration,
    hub: ProcFacts,
    /// Share of one core over the window.
    hub_cpu: Option<f64>,
    bench_cpu: Option<f64>,
    bench_rss_kb: u64,
    load1: f64,
    acked: u64,
    latency: Option<Percentiles>,
    overdue: usize,
    errors: u64,
    reconnects: u64,
    shed: u64,
    /// `tubemail_sse_subscribers` from `/metrics`.
    subscribers: Option<u64>,
    /// The window's write p99 (seconds; the upper bound of its bucket in
    /// `tubemail_write_duration_seconds`).
    write_p99: Option<f64>,
    /// Events retention deleted in the window.
    trimmed: Option<u64>,
}

/// Cumulative counters from `/metrics`, to take windows from.
#[derive(Default, Clone)]
struct Totals {
    /// `tubemail_write_duration_seconds` buckets: (upper bound, cumulative count).
    writes: Vec<(f64, u64)>,
    trimmed: u64,
}

impl Totals {
    fn of(page: &str) -> Self {
        let prefix = "tubemail_write_duration_seconds_bucket{le=\"";
        let writes = page
            .lines()
            .filter_map(|l| {
                let (bound, n) = l.strip_prefix(prefix)?.split_once("\"} ")?;
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().ok()?
                };
                Some((bound, n.trim().parse().ok()?))
            })
            .collect();
        Totals {
            writes,
            trimmed: gauge(page, "tubemail_retention_deleted_total").unwrap_or(0),
        }
    }

    /// The p99 bucket bound of the writes since `earlier` (`None`: no writes).
    fn write_p99_since(&self, earlier: &Totals) -> Option<f64> {
        let before = |bound: f64| {
            earlier
                .writes
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0, |(_, n)| *n)
        };
        let window: Vec<(f64, u64)> = self
            .writes
            .iter()
            .map(|(b, n)| (*b, n.saturating_sub(before(*b))))
            .collect();
        let total = window.last()?.1;
        if total == 0 {
            return None;
        }
        let need = (total as f64 * 0.99).ceil() as u64;
        window.iter().find(|(_, n)| *n >= need).map(|(b, _)| *b)
    }
}

/// A gauge from a Prometheus text page.
fn gauge(page: &str, name: &str) -> Option<u64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// `GET /metrics` as text.
async fn metrics_page(api: &Api) -> Option<String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?;
    let resp = client
        .get(format!("{}/metrics", api.base()))
        .bearer_auth(api.secret())
        .send()
        .await
        .ok()?;
    resp.text().await.ok()
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl Sample {
    fn header() -> String {
        format!(
            "  {:>6} {:>7} {:>8} {:>8} {:>8} {:>4} {:>4} {:>8} {:>8} {:>6} {:>4} {:>7} {:>7} {:>5} {:>5} {:>6} {:>5} {:>7} {:>7}",
            "t(s)",
            "sends",
            "p50 ms",
            "p99 ms",
            "max ms",
            "late",
            "errs",
            "RSS MiB",
            "anon",
            "fds",
            "thr",
            "db MiB",
            "wal MiB",
            "hub%",
            "gen%",
            "subs",
            "load",
            "w p99",
            "trimmed"
        )
    }

    fn row(&self) -> String {
        let (p50, p99, max) = self.latency.map_or((f64::NAN, f64::NAN, f64::NAN), |p| {
            (ms(p.p50), ms(p.p99), ms(p.max))
        });
        let pct =
            |c: Option<f64>| c.map_or_else(|| "-".to_owned(), |c| format!("{:.0}", c * 100.0));
        format!(
            "  {:>6.0} {:>7} {:>8.2} {:>8.2} {:>8.1} {:>4} {:>4} {:>8.1} {:>8.1} {:>6} {:>4} {:>7.1} {:>7.1} {:>5} {:>5} {:>6} {:>5.2} {:>7} {:>7}",
            self.t.as_secs_f64(),
            self.acked,
            p50,
            p99,
            max,
            self.overdue,
            self.errors + self.reconnects + self.shed,
            mib(self.hub.rss_kb),
            mib(self.hub.anon_kb),
            self.hub.fds,
            self.hub.threads,
            self.hub.db_bytes as f64 / 1048576.0,
            self.hub.wal_bytes as f64 / 1048576.0,
            pct(self.hub_cpu),
            pct(self.bench_cpu),
            self.subscribers
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            self.load1,
            self.write_p99.map_or_else(
                || "-".to_owned(),
                |p| if p.is_finite() {
                    format!("≤{}", p * 1e3)
                } else {
                    ">5000".to_owned()
                }
            ),
            self.trimmed
                .map_or_else(|| "-".to_owned(), |n| n.to_string())
        )
    }
}

/// Takes one sample at `t` and resets the window.
async fn take_sample(
    ctx: &Ctx,
    pid: u32,
    data_dir: Option<&Path>,
    t: Duration,
    cpu: &mut (Option<Duration>, Option<Duration>, Instant),
    totals: &mut Option<Totals>,
) -> Result<Sample> {
    let hub = proc_facts(pid, data_dir)?;
    let page = metrics_page(&ctx.api).await;
    let now_totals = page.as_deref().map(Totals::of);
    let (write_p99, trimmed) = match (totals.as_ref(), now_totals.as_ref()) {
        (Some(a), Some(b)) => (
            b.write_p99_since(a),
            Some(b.trimmed.saturating_sub(a.trimmed)),
        ),
        _ => (None, None),
    };
    if now_totals.is_some() {
        *totals = now_totals;
    }
    let now = Instant::now();
    let hub_cpu_now = cpu_time(&pid.to_string());
    let own_cpu_now = cpu_time("self");
    let wall = now.duration_since(cpu.2).as_secs_f64().max(1e-9);
    let share =
        |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?).as_secs_f64() / wall);
    let hub_cpu = share(cpu.0, hub_cpu_now);
    let bench_cpu = share(cpu.1, own_cpu_now);
    *cpu = (hub_cpu_now, own_cpu_now, now);
    let (window, overdue) = {
        let mut l = ctx.ledger();
        (std::mem::take(&mut l.window), l.overdue(now, ctx.deadline))
    };
    Ok(Sample {
        t,
        hub,
        hub_cpu,
        bench_cpu,
        bench_rss_kb: own_rss_kb(),
        load1: load1(),
        acked: window.acked,
        latency: Percentiles::of(window.latencies),
        overdue,
        errors: window.errors,
        reconnects: window.reconnects,
        shed: window.shed,
        subscribers: page
            .as_deref()
            .and_then(|p| gauge(p, "tubemail_sse_subscribers")),
        write_p99,
        trimmed,
    })
}

/// Growth after warm-up of one quantity.
#[derive(Debug, Clone, Copy)]
struct Growth {
    /// Mean of the first samples after warm-up.
    start: f64,
    /// Mean of the last samples.
    end: f64,
    /// Least-squares slope over every sample after warm-up, per minute.
    slope_per_min: f64,
}

impl Growth {
    fn of(samples: &[&Sample], value: impl Fn(&Sample) -> f64) -> Self {
        let mean = |s: &[&Sample]| s.iter().map(|x| value(x)).sum::<f64>() / s.len() as f64;
        let n = samples.len() as f64;
        let ts: Vec<f64> = samples.iter().map(|s| s.t.as_secs_f64() / 60.0).collect();
        let vs: Vec<f64> = samples.iter().map(|s| value(s)).collect();
        let (mt, mv) = (ts.iter().sum::<f64>() / n, vs.iter().sum::<f64>() / n);
        let cov: f64 = ts.iter().zip(&vs).map(|(t, v)| (t - mt) * (v - mv)).sum();
        let var: f64 = ts.iter().map(|t| (t - mt).powi(2)).sum();
        Growth {
            start: mean(&samples[..VERDICT_SAMPLES]),
            end: mean(&samples[samples.len() - VERDICT_SAMPLES..]),
            slope_per_min: if var > 0.0 { cov / var } else { 0.0 },
        }
    }

    fn delta(&self) -> f64 {
        self.end - self.start
    }

    fn pct(&self) -> f64 {
        if self.start > 0.0 {
            100.0 * self.delta() / self.start
        } else {
            0.0
        }
    }
}

/// The growth verdict.
enum Verdict {
    /// Too few samples after warm-up to compare.
    NotJudged(usize),
    /// Compared.
    Judged {
        rss: Growth,
        anon: Growth,
        fds: Growth,
        threads: Growth,
        db: Growth,
        wal: Growth,
        rss_ok: bool,
        fds_ok: bool,
    },
}

impl Verdict {
    fn of(samples: &[Sample], cfg: &SoakConfig) -> Self {
        let after: Vec<&Sample> = samples.iter().filter(|s| s.t >= cfg.warmup).collect();
        if after.len() < 2 * VERDICT_SAMPLES {
            return Verdict::NotJudged(after.len());
        }
        let rss = Growth::of(&after, |s| mib(s.hub.rss_kb));
        let fds = Growth::of(&after, |s| s.hub.fds as f64);
        Verdict::Judged {
            rss,
            anon: Growth::of(&after, |s| mib(s.hub.anon_kb)),
            fds,
            threads: Growth::of(&after, |s| s.hub.threads as f64),
            db: Growth::of(&after, |s| s.hub.db_bytes as f64 / 1048576.0),
            wal: Growth::of(&after, |s| s.hub.wal_bytes as f64 / 1048576.0),
            rss_ok: rss.pct() <= cfg.rss_tolerance,
            fds_ok: fds.delta() <= cfg.fd_tolerance as f64,
        }
    }

    fn passed(&self) -> bool {
        match self {
            Verdict::NotJudged(_) => true,
            Verdict::Judged { rss_ok, fds_ok, .. } => *rss_ok && *fds_ok,
        }
    }
}

/// What the soak saw of retention (with `--retention-mib`).
struct RetentionCheck {
    limit_mib: u64,
    /// Largest database + write-ahead log size at a sample.
    peak_bytes: u64,
    trimmed: u64,
    /// Windows in which retention deleted events.
    trimming_windows: usize,
    /// Of those, windows whose write p99 was over [`WRITE_P99_BOUND`].
    slow_windows: usize,
    /// Highest write p99 bucket bound of a trimming window.
    worst_p99: Option<f64>,
}

impl RetentionCheck {
    fn of(samples: &[Sample], limit_mib: u64) -> Option<Self> {
        if limit_mib == 0 {
            return None;
        }
        let trimming: Vec<&Sample> = samples.iter().filter(|s| s.trimmed > Some(0)).collect();
        Some(RetentionCheck {
            limit_mib,
            peak_bytes: samples
                .iter()
                .map(|s| s.hub.db_bytes + s.hub.wal_bytes)
                .max()
                .unwrap_or(0),
            trimmed: samples.iter().filter_map(|s| s.trimmed).sum(),
            trimming_windows: trimming.len(),
            slow_windows: trimming
                .iter()
                .filter(|s| s.write_p99.is_none_or(|p| p > WRITE_P99_BOUND))
                .count(),
            worst_p99: trimming
                .iter()
                .filter_map(|s| s.write_p99)
                .max_by(f64::total_cmp),
        })
    }

    fn size_ok(&self) -> bool {
        self.peak_bytes <= self.limit_mib << 20
    }

    /// Under the limit, trimming seen, and no slow window while trimming.
    fn passed(&self) -> bool {
        self.size_ok() && self.trimming_windows > 0 && self.slow_windows == 0
    }
}

/// Results of the soak.
pub struct SoakReport {
    workers: usize,
    duration: Duration,
    rates: String,
    warmup: Duration,
    tolerances: (f64, u64),
    register: Duration,
    open: Duration,
    after_setup: ProcFacts,
    samples: Vec<Sample>,
    ledger: Ledger,
    /// Acknowledged sends never seen on their stream.
    lost: usize,
    /// Arrivals never acknowledged to a sender.
    unacked: usize,
    perm_lost: usize,
    perm_unexpected: usize,
    verdict: Verdict,
    retention: Option<RetentionCheck>,
    hwm_kb: u64,
}

impl SoakReport {
    /// Delivery, stream and request failures (not the growth verdict).
    fn failures(&self) -> u64 {
        let l = &self.ledger;
        let ops: u64 = l.ops.values().map(OpStats::failed).sum();
        self.lost as u64
            + self.unacked as u64
            + self.perm_unexpected as u64
            + l.late
            + l.duplicated
            + l.misrouted
            + self.perm_lost as u64
            + l.perm_duplicated
            + l.perm_misrouted
            + ops
            + l.odd
            + l.reconnects
            + l.global_reconnects
            + l.shed
    }

    /// Whether the run met every check: nothing lost, duplicated or
    /// failed, no stream dropped, and no growth after warm-up.
    pub fn passed(&self) -> bool {
        self.failures() == 0
            && self.verdict.passed()
            && self.retention.as_ref().is_none_or(RetentionCheck::passed)
    }
}

/// Runs the scenario against `target`, whose pid must be known.
pub async fn run(target: &Target, cfg: &SoakConfig) -> Result<SoakReport> {
    let pid = target
        .pid
        .context("the soak needs the hub's pid (--hub-pid with --url)")?;
    let data_dir = cfg.data_dir.clone().or_else(|| target.data_dir());
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
    let filler = "lorem ipsum dolor sit amet ";
    let padding: String = filler.chars().cycle().take(cfg.message_bytes).collect();
    let ctx = Arc::new(Ctx {
        api: target.api.clone(),
        names: cfg.names.clone(),
        ledger: Mutex::new(Ledger::default()),
        inflight: Arc::new(Semaphore::new(cfg.inflight)),
        outstanding: AtomicU64::new(0),
        deadline: cfg.deadline,
        seed: u64::from_le_bytes(seed),
        tag: cfg.tag.clone(),
        padding,
    });
    let n = cfg.names.len();

    let t = Instant::now();
    ctx.api.register_all(&cfg.names, 32).await?;
    let register = t.elapsed();
    tracing::info!(workers = n, ?register, "soak: registered");
    let t = Instant::now();
    let readers: Vec<JoinHandle<()>> =
        stream::iter(cfg.names.iter().enumerate().map(|(i, name)| {
            let ctx = ctx.clone();
            async move {
                let resp = ctx
                    .api
                    .open_sse(&format!("/tubemail/{name}/stream"), None)
                    .await?;
                anyhow::Ok(tokio::spawn(follow(ctx.clone(), i, resp)))
            }
        }))
        .buffer_unordered(64)
        .try_collect()
        .await?;
    let open = t.elapsed();
    let after_setup = proc_facts(pid, data_dir.as_deref())?;
    tracing::info!(
        ?open,
        rss_kb = after_setup.rss_kb,
        fds = after_setup.fds,
        "soak: streams open"
    );
    if cfg.retention_mib > 0 {
        ctx.api
            .call(
                Method::PUT,
                "/api/settings",
                Some(&json!({"retention_max_database_mib": cfg.retention_mib})),
            )
            .await
            .map_err(|e| anyhow::anyhow!("setting retention_max_database_mib: {e}"))?;
    }
    let global = tokio::spawn(follow_global(ctx.clone()));
    let session = Session::open(target)
        .await
        .context("opening the MCP session")?;

    let start = Instant::now();
    let end = start + cfg.duration;
    let mut tasks = Vec::new();
    for (kind, rate) in [
        (Kind::Send, cfg.send_rate),
        (Kind::Outbound, cfg.outbound_rate),
        (Kind::PermissionRequest, cfg.permission_rate),
        (Kind::Active, cfg.heartbeat_rate),
        (Kind::Read, cfg.read_rate),
        (Kind::Roster, cfg.roster_rate),
    ] {
        tasks.push(tokio::spawn(pace(ctx.clone(), kind, rate, start, end)));
    }
    tasks.push(tokio::spawn(mcp_loop(
        ctx.clone(),
        session,
        cfg.mcp_rate,
        start,
        end,
    )));

    println!("{}", Sample::header());
    let mut samples = Vec::new();
    let mut cpu = (cpu_time(&pid.to_string()), cpu_time("self"), Instant::now());
    let mut totals = metrics_page(&ctx.api).await.as_deref().map(Totals::of);
    let mut next = start + cfg.sample;
    while next <= end {
        tokio::time::sleep_until(next.into()).await;
        let s = take_sample(
            &ctx,
            pid,
            data_dir.as_deref(),
            next.duration_since(start),
            &mut cpu,
            &mut totals,
        )
        .await?;
        println!("{}", s.row());
        samples.push(s);
        next += cfg.sample;
    }
    for t in tasks {
        t.await.context("a traffic task panicked")?;
    }
    tracing::info!("soak: traffic done; waiting for outstanding requests and arrivals");

    // Let answers and arrivals finish: outstanding requests (up to the
    // client's 30 s timeout), then the delivery deadline for the last sends.
    let drain_until = Instant::now() + Duration::from_secs(35) + cfg.deadline;
    while Instant::now() < drain_until {
        let idle = ctx.outstanding.load(Ordering::Relaxed) == 0;
        let arrived = {
            let l = ctx.ledger();
            l.pending.is_empty() && l.perm_pending.is_empty()
        };
        if idle && arrived {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Catch late duplicates.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The global reader first, so it does not count the workers going
    // offline as their readers end.
    global.abort();
    for r in &readers {
        r.abort();
    }
    let hwm_kb = crate::hub::rss(pid).map_or(0, |r| r.hwm_kb);
    let ledger = std::mem::take(&mut *ctx.ledger());
    let verdict = Verdict::of(&samples, cfg);
    let retention = RetentionCheck::of(&samples, cfg.retention_mib);
    Ok(SoakReport {
        workers: n,
        duration: cfg.duration,
        rates: format!(
            "send {}/s, outbound {}/s, permission {}/s, heartbeat {}/s, read {}/s, roster {}/s, mcp {}/s; messages ~{} B; delivered receipts for every arrival",
            cfg.send_rate,
            cfg.outbound_rate,
            cfg.permission_rate,
            cfg.heartbeat_rate,
            cfg.read_rate,
            cfg.roster_rate,
            cfg.mcp_rate,
            cfg.message_bytes
        ),
        warmup: cfg.warmup,
        tolerances: (cfg.rss_tolerance, cfg.fd_tolerance),
        register,
        open,
        after_setup,
        lost: ledger.pending.len(),
        unacked: ledger.early.len(),
        perm_lost: ledger.perm_pending.len(),
        perm_unexpected: ledger.perm_early.len(),
        samples,
        ledger,
        verdict,
        retention,
        hwm_kb,
    })
}

fn growth_line(f: &mut fmt::Formatter<'_>, what: &str, g: &Growth, unit: &str) -> fmt::Result {
    writeln!(
        f,
        "    {what:<14} {:>9.1} -> {:>9.1} {unit:<4} ({:+.1} {unit}, {:+.1} %; slope {:+.2} {unit}/min)",
        g.start,
        g.end,
        g.delta(),
        g.pct(),
        g.slope_per_min
    )
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.ledger;
        writeln!(
            f,
            "== soak ({} workers, {:.0} s) ==",
            self.workers,
            self.duration.as_secs_f64()
        )?;
        writeln!(f, "  traffic: {}", self.rates)?;
        writeln!(
            f,
            "  setup: registered in {:.1} s, {} streams opened in {:.1} s; hub then {:.1} MiB RSS, {} fds, {} threads",
            self.register.as_secs_f64(),
            self.workers,
            self.open.as_secs_f64(),
            mib(self.after_setup.rss_kb),
            self.after_setup.fds,
            self.after_setup.threads
        )?;
        writeln!(
            f,
            "  over time (per window; late = acked sends overdue at the sample; errs = failures + reconnects + shed):"
        )?;
        writeln!(f, "{}", Sample::header())?;
        for s in &self.samples {
            writeln!(f, "{}", s.row())?;
        }
        let bench_peak = self
            .samples
            .iter()
            .map(|s| s.bench_rss_kb)
            .max()
            .unwrap_or(0);
        writeln!(
            f,
            "  hub peak RSS (VmHWM) {:.1} MiB; load generator peak RSS {:.1} MiB",
            mib(self.hwm_kb),
            mib(bench_peak)
        )?;
        writeln!(
            f,
            "  delivery: {} acked, lost {} (never arrived {}, late {}), duplicated {}, misrouted {}, arrived-but-never-acked {}",
            l.acked,
            self.lost as u64 + l.late,
            self.lost,
            l.late,
            l.duplicated,
            l.misrouted,
            self.unacked
        )?;
        writeln!(
            f,
            "  send -> stream receipt (whole run): {}",
            show(Percentiles::of(l.latencies.clone()))
        )?;
        writeln!(
            f,
            "  permissions: {} answered, {} responses lost, {} duplicated, {} misrouted, {} unexpected",
            l.perm_expected,
            self.perm_lost,
            l.perm_duplicated,
            l.perm_misrouted,
            self.perm_unexpected
        )?;
        writeln!(
            f,
            "  streams: {} reconnects (each an error), {} failed reconnect attempts, {} odd events; global stream: {} reconnects, events {:?}",
            l.reconnects, l.reconnect_failures, l.odd, l.global_reconnects, l.global_events
        )?;
        for s in l.reconnect_samples.iter().chain(&l.odd_samples) {
            writeln!(f, "    {s}")?;
        }
        writeln!(
            f,
            "  requests (ok / 4xx / 5xx / transport / bad answer; latency of ok ones):"
        )?;
        for (kind, s) in &l.ops {
            writeln!(
                f,
                "    {:<40} {:>7} / {} / {} / {} / {}  {}",
                kind.label(),
                s.ok,
                s.client,
                s.server,
                s.transport,
                s.bad,
                show(Percentiles::of(s.latencies.clone()))
            )?;
        }
        writeln!(f, "  shed (no room within the in-flight bound): {}", l.shed)?;
        for e in &l.errors {
            writeln!(f, "    error: {e}")?;
        }
        match &self.verdict {
            Verdict::NotJudged(n) => writeln!(
                f,
                "  growth: not judged ({n} samples after the {:.0} s warm-up; needs {})",
                self.warmup.as_secs_f64(),
                2 * VERDICT_SAMPLES
            )?,
            Verdict::Judged {
                rss,
                anon,
                fds,
                threads,
                db,
                wal,
                rss_ok,
                fds_ok,
            } => {
                writeln!(
                    f,
                    "  growth after the {:.0} s warm-up (mean of the first {VERDICT_SAMPLES} samples after it -> mean of the last {VERDICT_SAMPLES}):",
                    self.warmup.as_secs_f64()
                )?;
                growth_line(f, "RSS", rss, "MiB")?;
                growth_line(f, "RssAnon", anon, "MiB")?;
                growth_line(f, "fds", fds, "")?;
                growth_line(f, "threads", threads, "")?;
                growth_line(f, "db file", db, "MiB")?;
                growth_line(f, "WAL", wal, "MiB")?;
                writeln!(
                    f,
                    "  verdict: RSS {} (tolerance {} %), fds {} (tolerance +{})",
                    if *rss_ok { "no growth" } else { "GROWS" },
                    self.tolerances.0,
                    if *fds_ok { "no growth" } else { "GROW" },
                    self.tolerances.1
                )?;
            }
        }
        if let Some(r) = &self.retention {
            writeln!(
                f,
                "  retention: limit {} MiB, database + log peaked at {:.1} MiB ({}); {} events deleted in {} windows; write p99 while trimming: worst ≤ {} ms, {} window(s) over {} ms",
                r.limit_mib,
                r.peak_bytes as f64 / 1048576.0,
                if r.size_ok() { "under" } else { "OVER" },
                r.trimmed,
                r.trimming_windows,
                r.worst_p99.map_or(f64::NAN, |p| p * 1e3),
                r.slow_windows,
                WRITE_P99_BOUND * 1e3
            )?;
        }
        let ops = |k: Kind| l.ops.get(&k).map_or(0, |s| s.ok);
        let sum = |pick: fn(&OpStats) -> u64| l.ops.values().map(pick).sum::<u64>();
        writeln!(
            f,
            "  RESULT {} acked={} lost={} late={} duplicated={} misrouted={} unacked_received={} perm_answered={} perm_lost={} perm_duplicated={} client_errors={} server_errors={} transport_errors={} bad_answers={} reconnects={} global_reconnects={} odd={} shed={} outbound_ok={} heartbeat_ok={} reads_ok={} roster_ok={} mcp_ok={} delivered_ok={} growth={} retention={}",
            if self.passed() { "PASS" } else { "FAIL" },
            l.acked,
            self.lost,
            l.late,
            l.duplicated,
            l.misrouted,
            self.unacked,
            l.perm_expected,
            self.perm_lost,
            l.perm_duplicated,
            sum(|s| s.client),
            sum(|s| s.server),
            sum(|s| s.transport),
            sum(|s| s.bad),
            l.reconnects,
            l.global_reconnects,
            l.odd,
            l.shed,
            ops(Kind::Outbound),
            ops(Kind::Active) + ops(Kind::ContextPct),
            ops(Kind::Read),
            ops(Kind::Roster),
            ops(Kind::Mcp),
            ops(Kind::Delivered),
            match &self.verdict {
                Verdict::NotJudged(_) => "not_judged",
                v if v.passed() => "none",
                _ => "GROWS",
            },
            match &self.retention {
                None => "not_set",
                Some(r) if r.passed() => "ok",
                Some(r) if !r.size_ok() => "OVER_LIMIT",
                Some(r) if r.trimming_windows == 0 => "NEVER_TRIMMED",
                Some(_) => "SLOW_WRITES",
            }
        )
    }
}
