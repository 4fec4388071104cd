//! In-memory registry state and the worker state algorithm.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::delivery::SubscriptionEnd;
use crate::name::{FlowName, WorkerName};
use crate::store::{PermissionRow, Record, Snapshot, TimelineStats, WorkerRow};
use crate::wire::{
    ConditionSignal, Event, EventId, EventKind, Flow, Presence, StateReason, StateSignal,
    Timestamp, WorkerState, WorkerStatus, WorkerSummary,
};

/// Manager observations of activity count for this long (original: 30 s).
pub(crate) const OBSERVED_FRESH_S: f64 = 30.0;
/// An unanswered inbound stops meaning "busy" after this (original: 600 s).
pub(crate) const BUSY_DECAY_S: f64 = 600.0;
/// Activity after an inbound followed by this much quiet means idle (original: 60 s).
pub(crate) const BUSY_QUIET_S: f64 = 60.0;

/// Per-worker ring of recent committed events.
const WORKER_RING_LEN: usize = 64;
const WORKER_RING_BYTES: usize = 128 * 1024;
/// What all worker rings may hold together, counted as [`Ring::size`]
/// counts. With thousands of workers the per-worker caps alone let the rings
/// grow with every worker that ever got an event (toward gigabytes at 10 000
/// workers). The shared order that enforces it owns the events, so this is
/// also all the memory worker rings keep alive (events a per-worker cap
/// dropped included). The oldest events beyond it leave their worker's ring;
/// a reader behind them reads from the store, as after any eviction. Live
/// readers are milliseconds behind: a few thousand events are plenty.
const WORKER_RINGS_BYTES: usize = 2 * 1024 * 1024;
/// Ring of recent committed events of every worker (global stream).
const GLOBAL_RING_LEN: usize = 1024;
const GLOBAL_RING_BYTES: usize = 1024 * 1024;
/// Idempotency keys remembered in memory (the store stays authoritative).
const IDEM_MEMORY: usize = 100_000;

/// The newest committed events, so subscribers that keep up are fed from
/// memory. Invariant: every matching event with a sequence above `floor` is
/// in `events`; a cursor below `floor` must read from the store.
#[derive(Debug)]
pub(crate) struct Ring {
    events: VecDeque<Arc<Record>>,
    bytes: usize,
    floor: u64,
    max_len: usize,
    max_bytes: usize,
}

impl Ring {
    fn new(floor: u64, max_len: usize, max_bytes: usize) -> Self {
        Ring {
            events: VecDeque::new(),
            bytes: 0,
            floor,
            max_len,
            max_bytes,
        }
    }

    fn size(rec: &Record) -> usize {
        rec.event.content.len() + 128
    }

    /// Drops the oldest event if it is `seq`; returns whether it was.
    fn pop_front_if(&mut self, seq: u64) -> bool {
        if self.events.front().is_none_or(|r| r.seq() != seq) {
            return false;
        }
        if let Some(old) = self.events.pop_front() {
            self.bytes -= Self::size(&old);
            self.floor = old.seq();
        }
        true
    }

    pub(crate) fn push(&mut self, rec: Arc<Record>) {
        self.bytes += Self::size(&rec);
        self.events.push_back(rec);
        while self.events.len() > 1
            && (self.events.len() > self.max_len || self.bytes > self.max_bytes)
        {
            if let Some(old) = self.events.pop_front() {
                self.bytes -= Self::size(&old);
                self.floor = old.seq();
            }
        }
    }

    /// Sequence of the newest event held (or the floor when empty).
    pub(crate) fn last(&self) -> u64 {
        self.events.back().map_or(self.floor, |r| r.seq())
    }

    /// Events after `cursor` that pass `keep`, oldest first; `None` when the
    /// ring no longer covers `cursor`.
    pub(crate) fn after(
        &self,
        cursor: u64,
        keep: impl Fn(&Record) -> bool,
        limit: usize,
    ) -> Option<Vec<Arc<Record>>> {
        if cursor < self.floor {
            return None;
        }
        let start = self.events.partition_point(|r| r.seq() <= cursor);
        Some(
            self.events
                .range(start..)
                .filter(|r| keep(r))
                .take(limit)
                .cloned()
                .collect(),
        )
    }
}

/// One registry entry with its runtime companions.
pub(crate) struct WorkerEntry {
    pub row: WorkerRow,
    pub pending: Vec<PermissionRow>,
    /// Live stream subscriptions: id and the signal that ends them.
    pub subs: Vec<(u64, watch::Sender<Option<SubscriptionEnd>>)>,
    /// When the worker last went offline (or the hub started).
    pub offline_since: Timestamp,
    pub ring: Ring,
    /// Newest committed sequence of this worker; wakes its subscribers.
    pub published: watch::Sender<u64>,
    /// Recent evictions, to damp reconnect storms.
    pub evictions: VecDeque<Instant>,
    /// `row.delivered_seq` changed and is not yet persisted.
    pub cursor_dirty: bool,
    /// The row is in the store (else the next change must write it).
    pub persisted: bool,
    /// Prompts the rules answered at once, newest last (a few): a
    /// channel's retry of one is answered with its first request event,
    /// not recorded and answered again.
    pub decided: VecDeque<(String, crate::wire::Appended)>,
}

/// Rule-decided prompts remembered per worker for retries.
pub(crate) const DECIDED_KEPT: usize = 32;

impl WorkerEntry {
    pub(crate) fn new(row: WorkerRow, offline_since: Timestamp) -> Self {
        let last = row.last_seq;
        WorkerEntry {
            row,
            pending: Vec::new(),
            subs: Vec::new(),
            offline_since,
            ring: Ring::new(last, WORKER_RING_LEN, WORKER_RING_BYTES),
            published: watch::channel(last).0,
            evictions: VecDeque::new(),
            cursor_dirty: false,
            persisted: true,
            decided: VecDeque::new(),
        }
    }

    /// Newest committed (published) sequence of this worker.
    pub(crate) fn ring_last(&self) -> u64 {
        self.ring.last()
    }

    /// Ends every stream of this worker.
    pub(crate) fn close_streams(&mut self, why: SubscriptionEnd, now: Timestamp) {
        for (_, end) in self.subs.drain(..) {
            end.send_replace(Some(why));
        }
        self.offline_since = now;
    }

    pub(crate) fn online(&self) -> bool {
        !self.subs.is_empty()
    }

    pub(crate) fn presence(&self) -> Presence {
        if self.online() {
            Presence::Online
        } else if self.row.exited_cleanly {
            Presence::Exited
        } else {
            Presence::Offline
        }
    }

    /// The original's `status_state`, with the deciding signal.
    pub(crate) fn reason(&self, now: Timestamp) -> StateReason {
        let r = &self.row;
        let (state, signal, since) = if !self.pending.is_empty() {
            let since = self
                .pending
                .iter()
                .map(|p| p.requested_at)
                .fold(f64::INFINITY, f64::min);
            (
                WorkerState::WaitingPermission,
                StateSignal::PendingPermission,
                since,
            )
        } else if let Some(c) = &r.condition {
            // A blocked terminal is busy with something nobody asked for;
            // a worker whose channel is unavailable does nothing at all.
            let state = match c.signal {
                ConditionSignal::Blocked => WorkerState::Busy,
                ConditionSignal::ChannelUnavailable => WorkerState::Idle,
            };
            return StateReason {
                state,
                signal: c.signal.state_signal(),
                since: r.condition_since,
                detail: Some(c.detail.clone()),
            };
        } else if let Some(active) = r
            .observed_active
            .filter(|_| now - r.observed_active_at < OBSERVED_FRESH_S)
        {
            if active {
                (
                    WorkerState::Busy,
                    StateSignal::ObservedActive,
                    r.active_since,
                )
            } else {
                (WorkerState::Idle, StateSignal::ObservedIdle, r.active_since)
            }
        } else if r.last_kind == Some(EventKind::Inbound) {
            if now - r.last_ts > BUSY_DECAY_S {
                (
                    WorkerState::Idle,
                    StateSignal::InboundDecayed,
                    r.last_ts + BUSY_DECAY_S,
                )
            } else if r.last_activity > r.last_ts && now - r.last_activity > BUSY_QUIET_S {
                (
                    WorkerState::Idle,
                    StateSignal::QuietAfterInbound,
                    r.last_activity + BUSY_QUIET_S,
                )
            } else {
                (WorkerState::Busy, StateSignal::UnansweredInbound, r.last_ts)
            }
        } else {
            let since = if r.last_seq > 0 {
                r.last_ts
            } else {
                r.registered_at
            };
            (WorkerState::Idle, StateSignal::NoUnansweredInbound, since)
        };
        StateReason {
            state,
            signal,
            since,
            detail: None,
        }
    }

    fn last_event_id(&self) -> Option<EventId> {
        (self.row.last_seq > 0).then_some(EventId(self.row.last_seq))
    }

    pub(crate) fn summary(&self, now: Timestamp) -> WorkerSummary {
        let r = &self.row;
        let reason = self.reason(now);
        WorkerSummary {
            name: r.name.clone(),
            cwd: r.cwd.clone(),
            online: self.online(),
            state: reason.state,
            last_activity: r.last_activity,
            pending_count: self.pending.len(),
            event_count: r.event_count,
            forwarder_version: r.forwarder_version.clone(),
            exited_cleanly: r.exited_cleanly,
            recording_enabled: r.recording_enabled,
            context_pct: r.context_pct,
            registered_at: r.registered_at,
            presence: self.presence(),
            state_reason: reason,
            pid: r.pid,
            observed_active: r.observed_active,
            last_event_id: self.last_event_id(),
            permission_mode: r.permission_mode.clone(),
        }
    }

    pub(crate) fn status(&self, now: Timestamp) -> WorkerStatus {
        let reason = self.reason(now);
        WorkerStatus {
            state: reason.state,
            pending_count: self.pending.len(),
            last_activity: self.row.last_activity,
            event_count: self.row.event_count,
            state_reason: reason,
            presence: Some(self.presence()),
            last_event_id: self.last_event_id(),
            delivered_through: (self.row.delivered_seq > 0)
                .then_some(EventId(self.row.delivered_seq)),
            acknowledged_through: (self.row.acked_seq > 0).then_some(EventId(self.row.acked_seq)),
            permission_mode: self.row.permission_mode.clone(),
        }
    }
}

/// Status of a worker the registry does not know.
pub(crate) fn unknown_status() -> WorkerStatus {
    WorkerStatus {
        state: WorkerState::Unknown,
        pending_count: 0,
        last_activity: 0.0,
        event_count: 0,
        state_reason: StateReason {
            state: WorkerState::Unknown,
            signal: StateSignal::UnknownWorker,
            since: 0.0,
            detail: None,
        },
        presence: None,
        last_event_id: None,
        delivered_through: None,
        acknowledged_through: None,
        permission_mode: None,
    }
}

/// Everything the engine keeps in memory.
pub(crate) struct State {
    pub next_seq: u64,
    pub workers: HashMap<WorkerName, WorkerEntry>,
    pub flows: BTreeMap<FlowName, Flow>,
    pub idem: HashMap<(WorkerName, String), Event>,
    pub global_ring: Ring,
    /// Every event in a worker ring, oldest first (and some the per-worker
    /// caps dropped already), with their [`Ring::size`] total: bounds what
    /// the worker rings hold together.
    pub ring_order: VecDeque<Arc<Record>>,
    pub ring_order_bytes: usize,
    pub next_sub_id: u64,
}

impl State {
    pub(crate) fn from_snapshot(snap: Snapshot, now: Timestamp) -> Self {
        let mut state = State {
            next_seq: snap.max_seq + 1,
            workers: HashMap::new(),
            flows: BTreeMap::new(),
            idem: HashMap::new(),
            global_ring: Ring::new(snap.max_seq, GLOBAL_RING_LEN, GLOBAL_RING_BYTES),
            ring_order: VecDeque::new(),
            ring_order_bytes: 0,
            next_sub_id: 1,
        };
        state.absorb(snap, now);
        state
    }

    /// Puts a committed event in its worker's ring (when the worker is
    /// known), then drops the oldest ring events beyond the shared budget.
    pub(crate) fn ring_push(&mut self, rec: &Arc<Record>) {
        let Some(entry) = self.workers.get_mut(&rec.worker) else {
            return;
        };
        entry.ring.push(rec.clone());
        self.ring_order_bytes += Ring::size(rec);
        self.ring_order.push_back(rec.clone());
        while self.ring_order_bytes > WORKER_RINGS_BYTES {
            let Some(old) = self.ring_order.pop_front() else {
                break;
            };
            self.ring_order_bytes -= Ring::size(&old);
            // Rings and the order are both oldest first, so an event still
            // in its ring is at the front of it.
            if let Some(entry) = self.workers.get_mut(&old.worker) {
                entry.ring.pop_front_if(old.seq());
            }
        }
    }

    /// Replaces the persisted part of the state with `snap`, keeping the
    /// runtime parts (subscriptions, rings) of workers that still exist.
    pub(crate) fn absorb(&mut self, snap: Snapshot, now: Timestamp) {
        let mut old = std::mem::take(&mut self.workers);
        let mut stats: HashMap<WorkerName, TimelineStats> = snap
            .timelines
            .into_iter()
            .map(|t| (t.worker.clone(), t))
            .collect();
        for mut row in snap.workers {
            // The events are the truth for timeline figures.
            let t = stats.remove(&row.name);
            row.event_count = t.as_ref().map_or(0, |t| t.count);
            row.last_seq = t.as_ref().map_or(0, |t| t.last_seq);
            row.last_kind = t.as_ref().map(|t| t.last_kind);
            row.last_ts = t.as_ref().map_or(0.0, |t| t.last_ts);
            row.last_activity = row.last_activity.max(row.last_ts);
            let entry = match old.remove(&row.name) {
                Some(mut e) => {
                    e.row = row;
                    e.pending.clear();
                    e.persisted = true;
                    e
                }
                None => WorkerEntry::new(row, now),
            };
            self.workers.insert(entry.row.name.clone(), entry);
        }
        for t in stats.into_values() {
            // Events of a worker whose row is missing (it was created by an
            // event whose row write had not landed): keep the timeline.
            let mut row = WorkerRow::new(t.worker.clone(), t.last_ts);
            row.event_count = t.count;
            row.last_seq = t.last_seq;
            row.last_kind = Some(t.last_kind);
            row.last_ts = t.last_ts;
            self.workers.insert(t.worker, WorkerEntry::new(row, now));
        }
        for p in snap.permissions {
            match self.workers.get_mut(&p.worker) {
                Some(e) => e.pending.push(p),
                None => {
                    tracing::warn!(worker = %p.worker, "permission of an unknown worker ignored");
                }
            }
        }
        for e in self.workers.values_mut() {
            e.pending
                .sort_by(|a, b| a.requested_at.total_cmp(&b.requested_at));
        }
        self.flows = snap
            .flows
            .into_iter()
            .map(|f| (f.name.clone(), f))
            .collect();
        self.next_seq = self.next_seq.max(snap.max_seq + 1);
        self.idem.clear();
    }

    pub(crate) fn remember_idem(&mut self, worker: &WorkerName, key: String, event: Event) {
        if self.idem.len() >= IDEM_MEMORY {
            self.idem.clear();
        }
        self.idem.insert((worker.clone(), key), event);
    }

    /// The entry of `name`, created (not yet persisted) if unknown.
    pub(crate) fn entry(
        &mut self,
        name: &WorkerName,
        now: Timestamp,
        recording: bool,
    ) -> &mut WorkerEntry {
        self.workers.entry(name.clone()).or_insert_with(|| {
            let mut row = WorkerRow::new(name.clone(), now);
            row.recording_enabled = recording;
            let mut entry = WorkerEntry::new(row, now);
            entry.persisted = false;
            entry
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> WorkerEntry {
        WorkerEntry::new(
            WorkerRow::new(WorkerName::new("w").unwrap(), 1000.0),
            1000.0,
        )
    }

    fn with_last(e: &mut WorkerEntry, kind: EventKind, ts: f64) {
        e.row.last_seq += 1;
        e.row.last_kind = Some(kind);
        e.row.last_ts = ts;
        e.row.last_activity = ts;
    }

    #[test]
    fn idle_without_events() {
        let r = entry().reason(1001.0);
        assert_eq!(
            (r.state, r.signal, r.since),
            (WorkerState::Idle, StateSignal::NoUnansweredInbound, 1000.0)
        );
    }

    #[test]
    fn unanswered_inbound_is_busy_then_decays() {
        let mut e = entry();
        with_last(&mut e, EventKind::Inbound, 2000.0);
        let r = e.reason(2100.0);
        assert_eq!(
            (r.state, r.signal, r.since),
            (WorkerState::Busy, StateSignal::UnansweredInbound, 2000.0)
        );
        let r = e.reason(2601.0);
        assert_eq!(
            (r.state, r.signal, r.since),
            (WorkerState::Idle, StateSignal::InboundDecayed, 2600.0)
        );
    }

    #[test]
    fn reply_makes_idle() {
        let mut e = entry();
        with_last(&mut e, EventKind::Inbound, 2000.0);
        with_last(&mut e, EventKind::Outbound, 2010.0);
        assert_eq!(e.reason(2011.0).state, WorkerState::Idle);
    }

    #[test]
    fn quiet_after_activity_decays_to_idle() {
        let mut e = entry();
        with_last(&mut e, EventKind::Inbound, 2000.0);
        e.row.last_activity = 2005.0;
        assert_eq!(e.reason(2060.0).state, WorkerState::Busy);
        let r = e.reason(2066.0);
        assert_eq!(
            (r.state, r.signal, r.since),
            (WorkerState::Idle, StateSignal::QuietAfterInbound, 2065.0)
        );
    }

    #[test]
    fn pending_beats_everything_and_observed_beats_timeline() {
        let mut e = entry();
        with_last(&mut e, EventKind::Inbound, 2000.0);
        e.row.observed_active = Some(false);
        e.row.observed_active_at = 2001.0;
        e.row.active_since = 1990.0;
        let r = e.reason(2010.0);
        assert_eq!(
            (r.state, r.signal, r.since),
            (WorkerState::Idle, StateSignal::ObservedIdle, 1990.0)
        );
        // Stale observation falls back to the timeline.
        assert_eq!(e.reason(2040.0).signal, StateSignal::UnansweredInbound);
        e.pending.push(PermissionRow {
            worker: e.row.name.clone(),
            ask: crate::api::PermissionRequestBody {
                request_id: "abcde".into(),
                tool_name: "Bash".into(),
                ..Default::default()
            },
            requested_at: 2003.0,
            event_seq: None,
            deadline: None,
            default_answer: None,
            rule: None,
        });
        let r = e.reason(2010.0);
        assert_eq!(
            (r.state, r.signal, r.since),
            (
                WorkerState::WaitingPermission,
                StateSignal::PendingPermission,
                2003.0
            )
        );
    }

    fn rec(seq: u64, len: usize) -> Arc<Record> {
        rec_of("w", seq, len)
    }

    #[test]
    fn ring_covers_only_what_it_holds() {
        let mut ring = Ring::new(10, 3, 1 << 20);
        assert_eq!(ring.after(10, |_| true, 10).map(|v| v.len()), Some(0));
        assert!(ring.after(9, |_| true, 10).is_none());
        for s in 11..=15 {
            ring.push(rec(s, 1));
        }
        // Holds 13..=15; floor moved to 12.
        assert!(ring.after(11, |_| true, 10).is_none());
        let got: Vec<u64> = ring
            .after(12, |_| true, 10)
            .unwrap()
            .iter()
            .map(|r| r.seq())
            .collect();
        assert_eq!(got, vec![13, 14, 15]);
        let got: Vec<u64> = ring
            .after(13, |_| true, 1)
            .unwrap()
            .iter()
            .map(|r| r.seq())
            .collect();
        assert_eq!(got, vec![14]);
    }

    fn rec_of(worker: &str, seq: u64, len: usize) -> Arc<Record> {
        Arc::new(Record {
            worker: WorkerName::new(worker).unwrap(),
            event: Event {
                event_id: EventId(seq),
                ts: 0.0,
                kind: EventKind::Inbound,
                content: "x".repeat(len),
                meta: Default::default(),
            },
        })
    }

    #[test]
    fn worker_rings_share_one_budget() {
        let mut st = State::from_snapshot(Snapshot::default(), 1000.0);
        let names: Vec<String> = (0..1000).map(|i| format!("w{i}")).collect();
        for n in &names {
            st.entry(&WorkerName::new(n.as_str()).unwrap(), 1000.0, false);
        }
        // 3 events of ~4 KiB for each of 1 000 workers: ~12 MiB, far more
        // than the shared budget, though each ring is far below its own caps.
        let len = 4096;
        let mut seq = 0;
        for _ in 0..3 {
            for n in &names {
                seq += 1;
                st.ring_push(&rec_of(n, seq, len));
            }
        }
        let held: usize = st.workers.values().map(|e| e.ring.bytes).sum();
        assert!(st.ring_order_bytes <= WORKER_RINGS_BYTES);
        assert!(
            held <= st.ring_order_bytes,
            "{held} > {}",
            st.ring_order_bytes
        );
        assert!(held > WORKER_RINGS_BYTES / 2, "the budget is used: {held}");
        // The oldest events left their rings: a reader behind them goes to
        // the store; the newest are all still there.
        let first = st.workers.get(&WorkerName::new("w0").unwrap()).unwrap();
        assert!(first.ring.after(0, |_| true, 10).is_none());
        let last = st.workers.get(&WorkerName::new("w999").unwrap()).unwrap();
        assert_eq!(last.ring_last(), seq);
        let newest: Vec<u64> = last
            .ring
            .after(seq - 1, |_| true, 10)
            .unwrap()
            .iter()
            .map(|r| r.seq())
            .collect();
        assert_eq!(newest, vec![seq]);
        // A ring emptied by the budget still knows its newest sequence.
        for e in st.workers.values() {
            assert!(e.ring_last() > 0);
        }
        // The order holds no more than the budget either.
        assert!(st.ring_order.len() * (len + 128) <= WORKER_RINGS_BYTES + len + 128);
    }

    #[test]
    fn ring_is_bounded_by_bytes() {
        let mut ring = Ring::new(0, 100, 1000);
        for s in 1..=10 {
            ring.push(rec(s, 400));
        }
        assert!(ring.events.len() <= 2);
        assert!(ring.after(0, |_| true, 10).is_none());
    }
}
