//! The group-commit writer.
//!
//! Operations change the in-memory state under the state lock and, still
//! under it, queue their mutations here, so the queue is in sequence order.
//! One thread drains whatever is queued, commits it as one transaction and
//! only then publishes the events to subscribers and answers the callers.
//! Under load many operations share one commit; alone, one waits for none.

use std::sync::mpsc;
use std::sync::{Arc, Weak};

use tokio::sync::oneshot;

use super::state::State;
use super::{Engine, Error, Inner, Result, now};
use crate::name::WorkerName;
use crate::store::{Mutation, Record, Store, StoreError};
use crate::wire::{Event, EventKind, Meta, Timestamp};

/// Most operations folded into one commit.
const MAX_BATCH: usize = 2048;

type Done = oneshot::Sender<Result<(), Arc<StoreError>>>;

enum Msg {
    Commit {
        muts: Vec<Mutation>,
        events: Vec<Arc<Record>>,
        done: Done,
    },
    Close(oneshot::Sender<()>),
}

pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Msg>,
}

pub(crate) fn spawn(store: Arc<dyn Store>, engine: Weak<Inner>) -> WriterHandle {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("tubemail-writer".into())
        .spawn(move || run(&rx, store.as_ref(), &engine));
    if let Err(e) = spawned {
        // Without a writer every write answers ShuttingDown; say why once.
        tracing::error!(error = %e, "could not start the writer thread");
    }
    WriterHandle { tx }
}

impl WriterHandle {
    fn submit(
        &self,
        muts: Vec<Mutation>,
        events: Vec<Arc<Record>>,
    ) -> Result<oneshot::Receiver<Result<(), Arc<StoreError>>>> {
        let (done, rx) = oneshot::channel();
        self.tx
            .send(Msg::Commit { muts, events, done })
            .map_err(|_| Error::ShuttingDown)?;
        Ok(rx)
    }

    /// Commits everything queued so far, then stops the writer.
    pub(crate) async fn close(&self) {
        let (ack, rx) = oneshot::channel();
        if self.tx.send(Msg::Close(ack)).is_ok() {
            let _ = rx.await;
        }
    }
}

fn run(rx: &mpsc::Receiver<Msg>, store: &dyn Store, engine: &Weak<Inner>) {
    while let Ok(first) = rx.recv() {
        let mut muts = Vec::new();
        let mut events = Vec::new();
        let mut dones = Vec::new();
        let mut close = None;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Commit {
                    muts: m,
                    events: e,
                    done,
                } => {
                    muts.extend(m);
                    events.extend(e);
                    dones.push(done);
                }
                Msg::Close(ack) => {
                    close = Some(ack);
                    break;
                }
            }
            if dones.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !muts.is_empty() {
            let muts = coalesce(muts);
            let started = std::time::Instant::now();
            let result = store.commit(&muts).map_err(Arc::new);
            let inner = engine.upgrade();
            if let Some(inner) = &inner {
                inner.metrics.commit_micros.fetch_add(
                    started.elapsed().as_micros() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            match &result {
                Ok(()) => {
                    if let Some(inner) = &inner {
                        inner.publish(events);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, ops = dones.len(), "commit failed; reloading state from the store");
                    if let Some(inner) = &inner {
                        inner.reload();
                    }
                }
            }
            for done in dones {
                let _ = done.send(result.clone());
            }
        }
        if let Some(ack) = close {
            if let Err(e) = store.close() {
                tracing::warn!(error = %e, "could not fold the write-ahead log into the database");
            }
            let _ = ack.send(());
            return;
        }
    }
}

/// Drops worker rows that a later row of the same worker in the batch
/// replaces anyway (a busy worker is touched by every operation); the
/// committed result is the same, with far fewer writes.
fn coalesce(muts: Vec<Mutation>) -> Vec<Mutation> {
    let mut seen = std::collections::HashSet::new();
    let mut keep: Vec<Mutation> = muts
        .into_iter()
        .rev()
        .filter(|m| match m {
            Mutation::Worker(row) => seen.insert(row.name.clone()),
            _ => true,
        })
        .collect();
    keep.reverse();
    keep
}

impl Inner {
    /// Feeds committed events to rings and wakes subscribers.
    fn publish(&self, events: Vec<Arc<Record>>) {
        use std::sync::atomic::Ordering;
        let Some(max) = events.last().map(|r| r.seq()) else {
            return;
        };
        self.metrics.commits.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .events_appended
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut touched: Vec<WorkerName> = Vec::new();
        for rec in events {
            if st.workers.contains_key(&rec.worker) {
                st.ring_push(&rec);
                if touched.last() != Some(&rec.worker) && !touched.contains(&rec.worker) {
                    touched.push(rec.worker.clone());
                }
            }
            st.global_ring.push(rec);
        }
        for name in touched {
            if let Some(entry) = st.workers.get(&name) {
                let last = entry.ring_last();
                entry.published.send_replace(last);
            }
        }
        drop(st);
        self.committed.send_replace(max);
    }

    fn reload(&self) {
        match self.store.load() {
            Ok(snap) => {
                let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                st.absorb(snap, now());
            }
            Err(e) => tracing::error!(error = %e, "could not reload state from the store"),
        }
    }
}

/// The changes one operation makes, gathered under the state lock.
pub(crate) struct Tx {
    pub now: Timestamp,
    /// Recording default for workers this operation creates.
    pub recording_default: bool,
    muts: Vec<Mutation>,
    events: Vec<Arc<Record>>,
    dirty: Vec<WorkerName>,
    /// The webhooks as this operation began (their outbox rows join its
    /// batch).
    pub(crate) hooks: Arc<Vec<crate::store::hooks::WebhookRow>>,
}

impl Tx {
    fn new(
        now: Timestamp,
        recording_default: bool,
        hooks: Arc<Vec<crate::store::hooks::WebhookRow>>,
    ) -> Self {
        Tx {
            now,
            recording_default,
            hooks,
            muts: Vec::new(),
            events: Vec::new(),
            dirty: Vec::new(),
        }
    }

    /// Appends an event to `worker`'s timeline (creating the worker if
    /// unknown) and updates its counters.
    pub(crate) fn append(
        &mut self,
        st: &mut State,
        worker: &WorkerName,
        kind: EventKind,
        content: String,
        meta: Meta,
        idem_key: Option<String>,
    ) -> Event {
        let seq = st.next_seq;
        st.next_seq += 1;
        let event = Event {
            event_id: crate::wire::EventId(seq),
            ts: self.now,
            kind,
            content,
            meta,
        };
        let entry = st.entry(worker, self.now, self.recording_default);
        let row = &mut entry.row;
        row.event_count += 1;
        row.last_seq = seq;
        row.last_kind = Some(kind);
        row.last_ts = self.now;
        row.last_activity = self.now;
        let answer = matches!(kind, EventKind::Outbound | EventKind::PermissionResponse);
        if answer {
            row.last_answer_seq = seq;
        }
        // Counters are recomputed from the events at load, so the row is
        // written only when it is new or holds something events do not.
        if answer || !entry.persisted {
            self.touch(worker);
        }
        let rec = Arc::new(Record {
            worker: worker.clone(),
            event: event.clone(),
        });
        self.muts.push(Mutation::Event(rec.clone(), idem_key));
        self.events.push(rec);
        self.hook_event(worker, &event);
        event
    }

    /// Marks a worker row as changed (it is written when the operation ends).
    pub(crate) fn touch(&mut self, worker: &WorkerName) {
        if !self.dirty.contains(worker) {
            self.dirty.push(worker.clone());
        }
    }

    /// Queues a mutation that is not an event or a worker row.
    pub(crate) fn push(&mut self, m: Mutation) {
        self.muts.push(m);
    }

    fn finish(mut self, st: &mut State) -> (Vec<Mutation>, Vec<Arc<Record>>) {
        for name in &self.dirty {
            if let Some(entry) = st.workers.get_mut(name) {
                entry.persisted = true;
                self.muts.push(Mutation::Worker(entry.row.clone()));
            }
        }
        (self.muts, self.events)
    }
}

impl Engine {
    /// Runs `f` on the state under the lock, queues what it changed and
    /// waits until that is committed. `f` must check everything that can
    /// fail before it changes anything.
    pub(crate) async fn write<R>(
        &self,
        f: impl FnOnce(&mut State, &mut Tx) -> Result<R>,
    ) -> Result<R> {
        let recording_default = self.hub_config().recording_enabled_by_default;
        let submitted = std::time::Instant::now();
        let (out, rx) = {
            let mut st = self.lock();
            let mut tx = Tx::new(now(), recording_default, self.webhook_rows());
            let out = f(&mut st, &mut tx)?;
            let (muts, events) = tx.finish(&mut st);
            let rx = if muts.is_empty() {
                None
            } else {
                Some(self.inner.writer.submit(muts, events)?)
            };
            (out, rx)
        };
        if let Some(rx) = rx {
            rx.await
                .map_err(|_| Error::ShuttingDown)?
                .map_err(Error::Commit)?;
            self.inner
                .metrics
                .write_latency
                .observe(submitted.elapsed());
        }
        Ok(out)
    }
}
