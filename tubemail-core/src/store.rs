//! Storage: what the engine persists, behind a trait.
//!
//! The engine decides *what* changes and hands the store ordered batches of
//! [`Mutation`]s; the store makes each batch durable in one transaction. This
//! keeps SQL out of the engine and lets another database stand in for SQLite.

pub mod hooks;
mod sqlite;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use sqlite::SqliteStore;

use crate::api::PermissionRequestBody;
use crate::name::{FlowName, WorkerName};
use crate::wire::{Event, EventId, EventKind, Flow, PendingPermission, Timestamp};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The disk (or the database's size limit) is full.
    #[error("storage is full")]
    Full(#[source] rusqlite::Error),
    /// The database was written by a newer TubeMail.
    #[error(
        "database schema version {found} is newer than this hub supports ({supported}); \
         upgrade tubemail-hub or point it at another data dir"
    )]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The file is not a TubeMail database.
    #[error("{path} is not a TubeMail database (refusing to touch it)")]
    Foreign {
        /// The database file.
        path: String,
    },
    /// SQLite found the file damaged (a malformed page, a truncated file).
    #[error(
        "the database file is corrupt (left untouched: restore a backup, \
         or move it aside to start afresh)"
    )]
    Damaged(#[source] rusqlite::Error),
    /// The database file is empty (zero bytes): a lost or truncated
    /// database, not a new one (a new one is created with its header).
    #[error(
        "{path} is empty (zero bytes; left untouched: restore a backup, \
         or delete it to start afresh)"
    )]
    Empty {
        /// The database file.
        path: String,
    },
    /// Creating a new database file failed.
    #[error("failed to create {path}")]
    Create {
        /// The database file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A stored row could not be decoded.
    #[error("stored row is corrupt: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error")]
    Db(#[source] rusqlite::Error),
}

/// A worker's persisted registry row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerRow {
    /// Worker name.
    pub name: WorkerName,
    /// Registered working directory.
    #[serde(default)]
    pub cwd: String,
    /// First registration.
    #[serde(default)]
    pub registered_at: Timestamp,
    /// Last sign of life.
    #[serde(default)]
    pub last_activity: Timestamp,
    /// Forwarder version string.
    #[serde(default)]
    pub forwarder_version: String,
    /// Said goodbye.
    #[serde(default)]
    pub exited_cleanly: bool,
    /// Recording intent.
    #[serde(default)]
    pub recording_enabled: bool,
    /// Context window use.
    #[serde(default)]
    pub context_pct: Option<u8>,
    /// Manager-observed activity.
    #[serde(default)]
    pub observed_active: Option<bool>,
    /// When `observed_active` was last reported.
    #[serde(default)]
    pub observed_active_at: Timestamp,
    /// When `observed_active` last changed.
    #[serde(default)]
    pub active_since: Timestamp,
    /// Pid of the registered process.
    #[serde(default)]
    pub pid: Option<i64>,
    /// Events on the timeline.
    #[serde(default)]
    pub event_count: u64,
    /// Sequence of the newest event (0 = none).
    #[serde(default)]
    pub last_seq: u64,
    /// Kind of the newest event.
    #[serde(default)]
    pub last_kind: Option<EventKind>,
    /// Time of the newest event.
    #[serde(default)]
    pub last_ts: Timestamp,
    /// Sequence of the newest outbound or permission_response.
    #[serde(default)]
    pub last_answer_seq: u64,
    /// Newest event the worker's stream handed over (0 = none).
    #[serde(default)]
    pub delivered_seq: u64,
    /// Newest event the worker confirmed it passed on to claude (0 = none).
    #[serde(default)]
    pub acked_seq: u64,
    /// A condition the worker side reported that holds now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<crate::wire::WorkerCondition>,
    /// When `condition` was first reported.
    #[serde(default)]
    pub condition_since: Timestamp,
    /// The permission mode the worker's channel registered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
}

impl WorkerRow {
    /// A fresh row.
    pub fn new(name: WorkerName, now: Timestamp) -> Self {
        WorkerRow {
            name,
            cwd: String::new(),
            registered_at: now,
            last_activity: now,
            forwarder_version: String::new(),
            exited_cleanly: false,
            recording_enabled: false,
            context_pct: None,
            observed_active: None,
            observed_active_at: 0.0,
            active_since: 0.0,
            pid: None,
            event_count: 0,
            last_seq: 0,
            last_kind: None,
            last_ts: 0.0,
            last_answer_seq: 0,
            delivered_seq: 0,
            acked_seq: 0,
            condition: None,
            condition_since: 0.0,
            permission_mode: None,
        }
    }
}

/// A pending permission prompt as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermissionRow {
    /// The worker that asked.
    pub worker: WorkerName,
    /// The prompt as the channel relayed it (stored as its fields).
    #[serde(flatten)]
    pub ask: PermissionRequestBody,
    /// When the hub received it.
    pub requested_at: Timestamp,
    /// Sequence of its `permission_request` event.
    #[serde(default)]
    pub event_seq: Option<u64>,
    /// When it expires with `default_answer` (absent = never). Stored with
    /// the prompt so a restart does not reset the clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
    /// The answer it gets at `deadline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_answer: Option<crate::wire::Behavior>,
    /// The rule that sent it to a person, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<crate::wire::RuleRef>,
}

impl PermissionRow {
    /// The prompt as the API lists it.
    pub fn pending(&self, online: bool) -> PendingPermission {
        PendingPermission {
            worker: self.worker.clone(),
            request_id: self.ask.request_id.clone(),
            tool_name: self.ask.tool_name.clone(),
            description: self.ask.description.clone(),
            input_preview: self.ask.input_preview.clone(),
            requested_at: self.requested_at,
            event_id: self.event_seq.map(EventId),
            online,
            deadline: self.deadline,
        }
    }
}

/// A flow run as stored (its events are read from the timeline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    /// Run id.
    pub run_id: String,
    /// The flow that ran.
    pub flow_name: FlowName,
    /// Target worker.
    pub worker: WorkerName,
    /// Start time.
    pub started_at: Timestamp,
    /// The message the run sent.
    pub first_event_id: EventId,
    /// Finish time.
    pub finished_at: Option<Timestamp>,
}

/// An issued scoped credential as stored: only the SHA-256 of the token
/// (hex), never the token itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    /// Public id (also inside the token, to find the row).
    pub id: String,
    /// Hex SHA-256 of the whole token.
    pub hash: String,
    /// `worker`, `operator-ro` or `operator`.
    pub kind: String,
    /// The worker a `worker` token acts as.
    #[serde(default)]
    pub worker: Option<WorkerName>,
    /// Free text to tell tokens apart.
    #[serde(default)]
    pub label: String,
    /// Issue time.
    pub created_at: Timestamp,
    /// Last successful use (coarse: saved at most about once a minute).
    #[serde(default)]
    pub last_used_at: Option<Timestamp>,
    /// Revoked tokens stay listed but authenticate nothing.
    #[serde(default)]
    pub revoked: bool,
}

/// A timeline event with the worker it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Owner of the timeline.
    pub worker: WorkerName,
    /// The event.
    pub event: Event,
}

impl Record {
    /// The event's sequence number.
    pub fn seq(&self) -> u64 {
        self.event.event_id.0
    }
}

/// One change the engine wants persisted.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Append an event (with its idempotency key, if any).
    Event(Arc<Record>, Option<String>),
    /// Insert or replace a worker row.
    Worker(WorkerRow),
    /// Remove a worker with its events and permissions.
    DeleteWorker(WorkerName),
    /// Insert or replace a pending permission.
    Permission(PermissionRow),
    /// Remove a pending permission.
    DeletePermission(WorkerName, String),
    /// Insert or replace a flow.
    Flow(Flow),
    /// Remove a flow.
    DeleteFlow(FlowName),
    /// Insert or replace a run.
    Run(RunRow),
    /// Enqueue a webhook notification (in the batch of its cause).
    Outbox(hooks::OutboxNew),
}

/// Everything the engine keeps in memory, as loaded at start.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Worker rows.
    pub workers: Vec<WorkerRow>,
    /// Pending permissions.
    pub permissions: Vec<PermissionRow>,
    /// Flows.
    pub flows: Vec<Flow>,
    /// Newest event sequence (0 = none).
    pub max_seq: u64,
    /// Per-worker timeline figures, computed from the events themselves.
    pub timelines: Vec<TimelineStats>,
    /// Permission rules, in order.
    pub rules: Vec<crate::wire::PermissionRule>,
    /// Newest event sequence retention deleted (0 = none): an unknown
    /// cursor at or below it is a trimmed event, still a valid resume point.
    pub trimmed_through: u64,
}

/// Which events retention may delete next (never a pending permission's
/// request, never a worker's newest event).
#[derive(Debug, Clone, Default)]
pub struct TrimQuery {
    /// Only this worker's events (`None` = every worker).
    pub worker: Option<WorkerName>,
    /// Only events after this sequence.
    pub after: u64,
    /// Only events before this sequence.
    pub before: Option<u64>,
    /// At most this many, oldest first.
    pub limit: usize,
}

/// A worker's timeline figures as the events table has them. Worker rows
/// are not rewritten for every event; these are the truth at load.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineStats {
    /// Worker.
    pub worker: WorkerName,
    /// Number of events.
    pub count: u64,
    /// Newest event.
    pub last_seq: u64,
    /// Its kind.
    pub last_kind: EventKind,
    /// Its time.
    pub last_ts: Timestamp,
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only this worker's timeline (`None` = every worker).
    pub worker: Option<WorkerName>,
    /// Only events after this sequence.
    pub after: u64,
    /// Only events before this sequence (`None` = no bound).
    pub before: Option<u64>,
    /// Only events of these kinds (`None` = all).
    pub kinds: Option<Vec<EventKind>>,
    /// Only events stored at or before this time.
    pub until_ts: Option<Timestamp>,
    /// At most this many.
    pub limit: usize,
    /// Take the newest `limit` (still returned oldest first) instead of the oldest.
    pub newest: bool,
}

/// A durable store for the engine.
///
/// `commit` is called from one writer thread only, in sequence order; reads
/// may run concurrently from any thread.
pub trait Store: hooks::HookStore + Send + Sync + 'static {
    /// Reads everything the engine keeps in memory.
    fn load(&self) -> Result<Snapshot, StoreError>;
    /// Makes a batch durable, all or nothing.
    fn commit(&self, batch: &[Mutation]) -> Result<(), StoreError>;
    /// Reads events.
    fn events(&self, query: &EventQuery) -> Result<Vec<Record>, StoreError>;
    /// The worker an event belongs to, if the event exists.
    fn event_owner(&self, id: EventId) -> Result<Option<WorkerName>, StoreError>;
    /// The event an idempotency key produced, if any.
    fn find_idempotent(&self, worker: &WorkerName, key: &str) -> Result<Option<Event>, StoreError>;
    /// A flow run.
    fn run(&self, run_id: &str) -> Result<Option<RunRow>, StoreError>;
    /// Events retention may delete, oldest first (a read: it does not
    /// hold up commits).
    fn trim_candidates(&self, query: &TrimQuery) -> Result<Vec<u64>, StoreError>;
    /// Deletes these events in one transaction, skipping any that became
    /// protected meanwhile (see [`TrimQuery`]), and records the newest
    /// deleted one as [`Snapshot::trimmed_through`]. Returns what it
    /// deleted, with each event's worker.
    fn delete_events(&self, seqs: &[u64]) -> Result<Vec<(WorkerName, u64)>, StoreError>;
    /// The first event (lowest sequence) stored at or after `ts`; `None`
    /// when every event is older. Events are appended in time order, so
    /// everything before it is older (a read; it reads only what is older).
    fn first_event_since(&self, ts: Timestamp) -> Result<Option<u64>, StoreError>;
    /// Bytes the store's files hold in use: what deleting events frees
    /// room in (a read).
    fn used_bytes(&self) -> Result<u64, StoreError>;
    /// Every issued token (revoked ones too).
    fn tokens(&self) -> Result<Vec<TokenRow>, StoreError>;
    /// Inserts or replaces a token row, durably. Tokens are not part of
    /// the engine's batches: this may be called from any thread, at any
    /// time (rarely: issue, revoke, a coarse last-use time).
    fn put_token(&self, row: &TokenRow) -> Result<(), StoreError>;
    /// Replaces the ordered list of permission rules, durably, in one
    /// transaction (like tokens, outside the engine's batches: rare edits).
    fn put_rules(&self, rules: &[crate::wire::PermissionRule]) -> Result<(), StoreError>;
    /// Called once after the last commit of a clean shutdown, to leave the
    /// files self-contained (e.g. fold a write-ahead log into the database).
    fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
