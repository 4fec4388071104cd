//! Stream subscriptions: cursors over the timeline, not queues.
//!
//! A subscriber keeps only its position. When it keeps up, the next events
//! come from the in-memory rings; when it falls behind (slow reader, full
//! socket) it reads on from the store. Publishing never waits for a
//! subscriber and nothing is dropped; memory per subscriber is constant.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{broadcast, watch};

use super::{Engine, Error, Result, now};
use crate::name::WorkerName;
use crate::store::{EventQuery, Record};
use crate::stream::StreamEvent;
use crate::wire::{Behavior, EventId, EventKind};

/// Events read per batch.
const BATCH: usize = 256;
/// Evictions within this window count towards storm damping.
const STORM_WINDOW: Duration = Duration::from_secs(10);
/// Evictions within the window before new subscriptions are slowed down.
const STORM_THRESHOLD: usize = 5;
/// Stream positions are persisted this soon after a delivery, so a hub
/// crash replays at most this much to a subscriber that brings no id.
const CURSOR_FLUSH_DELAY: Duration = Duration::from_millis(50);

pub use crate::stream::SubscriptionEnd;

fn meta_str(rec: &Record, key: &str) -> String {
    rec.event
        .meta
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The answer a `permission_response` event carries (validated when it was
/// filed; anything else reads as a denial).
fn behavior(rec: &Record) -> Behavior {
    Behavior::parse(&rec.event.content).unwrap_or(Behavior::Deny)
}

/// A timeline event as a worker's own stream sends it (the original's
/// `channel_event` / `permission_response` / `interrupt`).
pub fn worker_event(rec: &Record) -> StreamEvent {
    let e = &rec.event;
    match e.kind {
        EventKind::PermissionResponse => StreamEvent::PermissionResponse {
            worker: None,
            event_id: e.event_id,
            ts: None,
            request_id: meta_str(rec, "request_id"),
            behavior: behavior(rec),
        },
        EventKind::Interrupt => StreamEvent::Interrupt {
            worker: None,
            event_id: e.event_id,
            ts: None,
        },
        _ => StreamEvent::ChannelEvent {
            worker: None,
            event_id: e.event_id,
            ts: e.ts,
            content: e.content.clone(),
            meta: e.meta.clone(),
        },
    }
}

/// A timeline event as the global stream sends it.
pub fn global_event(rec: &Record) -> StreamEvent {
    let e = &rec.event;
    let worker = rec.worker.clone();
    match e.kind {
        EventKind::Inbound => StreamEvent::ChannelEvent {
            worker: Some(worker),
            event_id: e.event_id,
            ts: e.ts,
            content: e.content.clone(),
            meta: e.meta.clone(),
        },
        EventKind::Outbound => StreamEvent::Outbound {
            worker,
            event_id: e.event_id,
            ts: e.ts,
            content: e.content.clone(),
            meta: e.meta.clone(),
        },
        EventKind::PermissionRequest => StreamEvent::PermissionRequest {
            worker,
            event_id: e.event_id,
            ts: e.ts,
            request_id: meta_str(rec, "request_id"),
            tool_name: e.content.clone(),
            description: meta_str(rec, "description"),
            input_preview: meta_str(rec, "input_preview"),
            deadline: e.meta.get("deadline").and_then(serde_json::Value::as_f64),
        },
        EventKind::PermissionResponse => StreamEvent::PermissionResponse {
            worker: Some(worker),
            event_id: e.event_id,
            ts: Some(e.ts),
            request_id: meta_str(rec, "request_id"),
            behavior: behavior(rec),
        },
        EventKind::Interrupt => StreamEvent::Interrupt {
            worker: Some(worker),
            event_id: e.event_id,
            ts: Some(e.ts),
        },
    }
}

const WORKER_KINDS: [EventKind; 3] = [
    EventKind::Inbound,
    EventKind::PermissionResponse,
    EventKind::Interrupt,
];

/// A worker's stream subscription. Dropping it ends the subscription.
pub struct Subscription {
    engine: Engine,
    worker: WorkerName,
    id: u64,
    cursor: u64,
    published: watch::Receiver<u64>,
    end: watch::Receiver<Option<SubscriptionEnd>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("worker", &self.worker)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next events for the worker, oldest first; waits until there
    /// are some, or returns why the subscription ended.
    pub async fn next_batch(&mut self) -> Result<Vec<Arc<Record>>, SubscriptionEnd> {
        loop {
            if let Some(end) = *self.end.borrow_and_update() {
                return Err(end);
            }
            self.published.borrow_and_update();
            match self
                .engine
                .timeline_after(&self.worker, self.cursor, true)
                .await
            {
                Ok(batch) if !batch.is_empty() => {
                    if let Some(last) = batch.last() {
                        self.cursor = last.seq();
                    }
                    return Ok(batch);
                }
                Ok(_) => {}
                Err(e) => {
                    // A store read failed: say so and retry shortly rather
                    // than end the stream (the events are still there).
                    tracing::warn!(worker = %self.worker, error = %e, "stream read failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
            tokio::select! {
                r = self.published.changed() => if r.is_err() { return Err(SubscriptionEnd::Purged) },
                r = self.end.changed() => if r.is_err() { return Err(SubscriptionEnd::Purged) },
            }
        }
    }

    /// Records that the stream handed events up to `id` to the worker, so a
    /// later subscription without an id continues after it.
    pub fn mark_delivered(&self, id: EventId, count: u64) {
        let metrics = &self.engine.inner.metrics;
        metrics.deliveries.fetch_add(count, Ordering::Relaxed);
        let mut st = self.engine.lock();
        if let Some(entry) = st.workers.get_mut(&self.worker)
            && entry.row.delivered_seq < id.0
        {
            entry.row.delivered_seq = id.0;
            entry.cursor_dirty = true;
        }
        drop(st);
        self.engine.schedule_cursor_flush();
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.engine.unsubscribe(&self.worker, self.id);
    }
}

/// An item of the global stream.
#[derive(Debug, Clone)]
pub enum GlobalItem {
    /// A timeline event (has an id; resumable).
    Event(Arc<Record>),
    /// A status change (live only).
    Notice(StreamEvent),
    /// The reader fell so far behind that this many notices were skipped;
    /// it should re-read the roster.
    Lagged(u64),
}

/// A subscription to every worker's events plus status notices.
pub struct GlobalSubscription {
    engine: Engine,
    cursor: u64,
    committed: watch::Receiver<u64>,
    notices: broadcast::Receiver<StreamEvent>,
}

impl std::fmt::Debug for GlobalSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalSubscription")
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl GlobalSubscription {
    /// The next items, waiting until there are some.
    pub async fn next_batch(&mut self) -> Vec<GlobalItem> {
        loop {
            let mut items = Vec::new();
            loop {
                match self.notices.try_recv() {
                    Ok(n) => items.push(GlobalItem::Notice(n)),
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        items.push(GlobalItem::Lagged(n));
                    }
                    Err(_) => break,
                }
            }
            self.committed.borrow_and_update();
            match self.engine.global_events_after(self.cursor).await {
                Ok(batch) => {
                    if let Some(last) = batch.last() {
                        self.cursor = last.seq();
                    }
                    self.engine
                        .inner
                        .metrics
                        .deliveries
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    items.extend(batch.into_iter().map(GlobalItem::Event));
                }
                Err(e) => tracing::warn!(error = %e, "global stream read failed; retrying"),
            }
            if !items.is_empty() {
                return items;
            }
            tokio::select! {
                _ = self.committed.changed() => {}
                r = self.notices.recv() => match r {
                    Ok(n) => return vec![GlobalItem::Notice(n)],
                    Err(broadcast::error::RecvError::Lagged(n)) => return vec![GlobalItem::Lagged(n)],
                    // The engine is gone: nothing more will come.
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                },
            }
        }
    }
}

impl Drop for GlobalSubscription {
    fn drop(&mut self) {
        self.engine
            .inner
            .metrics
            .global_subscribers
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl Engine {
    /// Subscribes to a worker's stream, ending any other subscription of
    /// the same worker (newest wins, as in the original).
    ///
    /// `from` resumes after that event (an SSE `Last-Event-ID`); without it
    /// the stream continues after the last event a previous subscription
    /// handed over, so messages sent while the worker was away are delivered.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn subscribe(
        &self,
        worker: &WorkerName,
        from: Option<EventId>,
    ) -> Result<Subscription> {
        if let Some(id) = from {
            self.check_cursor(worker, id).await?;
        }
        let stale_floor = if from.is_none() && worker.is_manager() {
            let q = EventQuery {
                worker: Some(worker.clone()),
                until_ts: Some(now() - self.inner.config.stale_control.as_secs_f64()),
                newest: true,
                limit: 1,
                ..EventQuery::default()
            };
            let newest_stale = self.read(move |s| s.events(&q)).await?;
            newest_stale.first().map_or(0, Record::seq)
        } else {
            0
        };
        let recording_default = self.hub_config().recording_enabled_by_default;
        // Damp reconnect storms: two processes fighting over one name would
        // otherwise evict each other as fast as they can reconnect.
        let delay = {
            let mut st = self.lock();
            let entry = st.entry(worker, now(), recording_default);
            let cutoff = Instant::now() - STORM_WINDOW;
            while entry.evictions.front().is_some_and(|t| *t < cutoff) {
                entry.evictions.pop_front();
            }
            let n = entry.evictions.len();
            (n >= STORM_THRESHOLD && entry.online()).then(|| {
                Duration::from_millis(250u64 << (n - STORM_THRESHOLD).min(5))
                    .min(Duration::from_secs(8))
            })
        };
        if let Some(delay) = delay {
            tracing::warn!(worker = %worker, ?delay, "repeated stream takeovers; slowing this one down");
            tokio::time::sleep(delay).await;
        }
        let mut st = self.lock();
        let id = st.next_sub_id;
        st.next_sub_id += 1;
        let entry = st.entry(worker, now(), recording_default);
        let was_online = entry.online();
        for (_, end) in entry.subs.drain(..) {
            end.send_replace(Some(SubscriptionEnd::Superseded));
            entry.evictions.push_back(Instant::now());
        }
        let (end_tx, end_rx) = watch::channel(None);
        entry.subs.push((id, end_tx));
        // Without an id, continue after what the worker confirmed when it
        // confirms deliveries (a stream that died before passing an event
        // on gets it again), else after what was handed over.
        let resume_after = match entry.row.acked_seq {
            0 => entry.row.delivered_seq,
            acked => acked,
        };
        let cursor = from.map_or(resume_after.max(stale_floor), |e| e.0);
        let published = entry.published.subscribe();
        drop(st);
        self.inner
            .metrics
            .worker_subscribers
            .fetch_add(1, Ordering::Relaxed);
        if !was_online {
            self.notify(StreamEvent::WorkerOnline {
                worker: worker.clone(),
            });
        }
        Ok(Subscription {
            engine: self.clone(),
            worker: worker.clone(),
            id,
            cursor,
            published,
            end: end_rx,
        })
    }

    /// Subscribes to every worker's events (from after `from`, or from now)
    /// and to status notices.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn subscribe_global(&self, from: Option<EventId>) -> Result<GlobalSubscription> {
        let committed = self.inner.committed.subscribe();
        let newest = *committed.borrow();
        let cursor = match from {
            Some(id) if id.0 > newest => {
                return Err(Error::BadRequest(format!("unknown event id {id}")));
            }
            Some(id) => id.0,
            None => newest,
        };
        self.inner
            .metrics
            .global_subscribers
            .fetch_add(1, Ordering::Relaxed);
        Ok(GlobalSubscription {
            engine: self.clone(),
            cursor,
            committed,
            notices: self.inner.notices.subscribe(),
        })
    }

    /// Checks that `id` is an event of `worker` (a valid resume point).
    /// An event retention deleted cannot be told apart from another
    /// worker's: any id at or below the newest deleted one is accepted, so
    /// a reader that was away resumes after it, not from the start.
    pub(crate) async fn check_cursor(&self, worker: &WorkerName, id: EventId) -> Result<()> {
        let owner = self.read(move |s| s.event_owner(id)).await?;
        if owner.as_ref() == Some(worker) || (owner.is_none() && id.0 <= self.trimmed_through()) {
            Ok(())
        } else {
            Err(Error::BadRequest(format!(
                "unknown event id {id} for worker {worker}"
            )))
        }
    }

    fn unsubscribe(&self, worker: &WorkerName, id: u64) {
        self.inner
            .metrics
            .worker_subscribers
            .fetch_sub(1, Ordering::Relaxed);
        let mut st = self.lock();
        let Some(entry) = st.workers.get_mut(worker) else {
            return;
        };
        // An evicted or closed subscription was removed already; only the
        // last live one leaving takes the worker offline.
        let before = entry.subs.len();
        entry.subs.retain(|(sid, _)| *sid != id);
        if before > 0 && entry.subs.is_empty() {
            entry.offline_since = now();
            drop(st);
            self.notify(StreamEvent::WorkerOffline {
                worker: worker.clone(),
            });
        }
    }

    /// A worker's committed events after `cursor` (only those its stream
    /// carries when `delivered_only`), from memory when possible.
    pub(crate) async fn timeline_after(
        &self,
        worker: &WorkerName,
        cursor: u64,
        delivered_only: bool,
    ) -> Result<Vec<Arc<Record>>> {
        {
            let st = self.lock();
            let Some(entry) = st.workers.get(worker) else {
                return Ok(Vec::new());
            };
            if let Some(hit) = entry.ring.after(
                cursor,
                |r| !delivered_only || r.event.kind.is_delivered_to_worker(),
                BATCH,
            ) {
                return Ok(hit);
            }
        }
        let q = EventQuery {
            worker: Some(worker.clone()),
            after: cursor,
            kinds: delivered_only.then(|| WORKER_KINDS.to_vec()),
            limit: BATCH,
            ..EventQuery::default()
        };
        let rows = self.read(move |s| s.events(&q)).await?;
        Ok(rows.into_iter().map(Arc::new).collect())
    }

    async fn global_events_after(&self, cursor: u64) -> Result<Vec<Arc<Record>>> {
        if let Some(hit) = self.lock().global_ring.after(cursor, |_| true, BATCH) {
            return Ok(hit);
        }
        let q = EventQuery {
            after: cursor,
            limit: BATCH,
            ..EventQuery::default()
        };
        let rows = self.read(move |s| s.events(&q)).await?;
        Ok(rows.into_iter().map(Arc::new).collect())
    }

    /// The worker confirms it passed events up to `through` on to its
    /// session; durable before it returns. `Ok(false)` when nothing moved.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn acknowledge(&self, worker: &WorkerName, through: EventId) -> Result<bool> {
        self.write(|st, tx| {
            let entry = st
                .workers
                .get_mut(worker)
                .ok_or_else(|| Error::NotFound(format!("unknown worker: {worker}")))?;
            if through.0 > entry.row.last_seq {
                return Err(Error::BadRequest(format!(
                    "event {through} is not on {worker}'s timeline"
                )));
            }
            if through.0 <= entry.row.acked_seq {
                return Ok(false);
            }
            entry.row.acked_seq = through.0;
            entry.row.delivered_seq = entry.row.delivered_seq.max(through.0);
            tx.touch(worker);
            Ok(true)
        })
        .await
    }

    /// Persists stream positions soon, once for many deliveries.
    fn schedule_cursor_flush(&self) {
        if self.inner.cursor_flush_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(CURSOR_FLUSH_DELAY).await;
            engine
                .inner
                .cursor_flush_pending
                .store(false, Ordering::Release);
            if let Err(e) = engine.flush_cursors().await {
                tracing::warn!(error = %e, "could not persist stream positions");
            }
        });
    }

    /// Persists stream positions that changed since the last flush.
    pub async fn flush_cursors(&self) -> Result<()> {
        self.write(|st, tx| {
            for entry in st.workers.values_mut().filter(|e| e.cursor_dirty) {
                entry.cursor_dirty = false;
                tx.touch(&entry.row.name);
            }
            Ok(())
        })
        .await
    }
}
