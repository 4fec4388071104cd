//! The engine: registry, timelines, delivery, state, permissions, flows and
//! settings, on a durable [`Store`].
//!
//! # Layout
//! - `state`: the in-memory registry (one `std::sync::Mutex`, never held
//!   across an `.await`) and the state algorithm.
//! - `writer`: the group-commit writer thread; nothing is acknowledged
//!   before its batch is committed.
//! - `registry`, `timeline`, `permissions`, `flows`: the operations.
//! - `delivery`: stream subscriptions (cursors over the timeline).
//! - `settings`: `hub-config.json`.
//! - `rules`: permission rules, compiled, and prompt expiry.
//! - `retention`: deleting old events in the background.
//! - `hooks`: webhooks; their notifications join the batch of the event
//!   that causes them (the durable outbox).

mod delivery;
mod flows;
mod hooks;
mod permissions;
mod registry;
mod retention;
mod rules;
mod settings;
mod state;
mod timeline;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, watch};

pub use delivery::{GlobalItem, GlobalSubscription, Subscription, SubscriptionEnd};
pub use delivery::{global_event, worker_event};
pub use registry::Registration;
pub use retention::TRIM_BATCH;
pub use rules::{MAX_RULES, RuleError, RuleSet};
pub use settings::SettingsPatch;
pub use timeline::{ControlOutcome, MANAGER_REPLY, RECONNECT_REPLY, Since};

use crate::name::NameError;
use crate::store::{Store, StoreError};
use state::State;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A worker or flow name broke the naming rule.
    #[error("invalid worker name")]
    InvalidName(#[from] NameError),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be carried out as asked.
    #[error("{0}")]
    BadRequest(String),
    /// The store refused or failed.
    #[error("storage failed")]
    Storage(#[from] StoreError),
    /// A commit failed (shared by every operation of the batch).
    #[error("storage failed")]
    Commit(#[source] Arc<StoreError>),
    /// Reading or writing `hub-config.json` failed.
    #[error("failed to access {path}")]
    Settings {
        /// The settings file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The engine is shutting down.
    #[error("hub is shutting down")]
    ShuttingDown,
    /// A per-worker limit is reached (e.g. open permission prompts); the
    /// same call may succeed once some are resolved.
    #[error("{0}")]
    Limit(String),
}

impl Error {
    /// True when the store, or the disk under the settings file, ran out
    /// of space.
    pub fn is_storage_full(&self) -> bool {
        use std::io::ErrorKind;
        match self {
            Error::Storage(e) => matches!(e, StoreError::Full(_)),
            Error::Commit(e) => matches!(e.as_ref(), StoreError::Full(_)),
            Error::Settings { source, .. } => matches!(
                source.kind(),
                ErrorKind::StorageFull | ErrorKind::QuotaExceeded
            ),
            _ => false,
        }
    }
}

/// Result of engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Engine tunables.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where `hub-config.json` lives.
    pub settings_path: PathBuf,
    /// Offline workers idle longer than this are purged
    /// (`TUBEMAIL_WORKER_PURGE_MAX_AGE_S`).
    pub purge_max_age: Duration,
    /// Longest `wait_for_activity`.
    pub max_wait: Duration,
    /// A permission request counts as answered by a later reply only once
    /// it is this old (original: 60 s).
    pub sweep_grace: Duration,
    /// A manager that reconnects without an id is not sent control
    /// commands older than this: keystrokes or a restart queued while it was
    /// away would act on a screen nobody is looking at any more.
    pub stale_control: Duration,
    /// Open permission prompts per worker; more are refused with
    /// [`Error::Limit`] until some are answered.
    pub max_pending_permissions: usize,
}

/// Open permission prompts per worker unless configured (well above what
/// a working fleet keeps open).
pub const DEFAULT_MAX_PENDING_PERMISSIONS: usize = 256;

impl EngineConfig {
    /// Defaults with the settings file at `settings_path`.
    pub fn new(settings_path: impl Into<PathBuf>) -> Self {
        EngineConfig {
            settings_path: settings_path.into(),
            purge_max_age: Duration::from_secs(3600),
            max_wait: Duration::from_secs(300),
            sweep_grace: Duration::from_secs(60),
            stale_control: Duration::from_secs(60),
            max_pending_permissions: DEFAULT_MAX_PENDING_PERMISSIONS,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events appended since start.
    pub events_appended: AtomicU64,
    /// Events handed to stream subscribers since start.
    pub deliveries: AtomicU64,
    /// Open worker stream subscriptions.
    pub worker_subscribers: AtomicU64,
    /// Open global stream subscriptions.
    pub global_subscribers: AtomicU64,
    /// Store commits since start.
    pub commits: AtomicU64,
    /// Time spent committing, in microseconds.
    pub commit_micros: AtomicU64,
    /// Events retention deleted since start.
    pub events_deleted: AtomicU64,
    /// Time from a write's submission to its commit (what a request that
    /// changes something waits for the store).
    pub write_latency: Histogram,
}

/// Upper bounds, in seconds, of [`Histogram`]'s buckets.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A latency histogram over [`LATENCY_BUCKETS`], updated without locks.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, took: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let secs = took.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros
            .fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// Cumulative counts per bucket bound (the Prometheus `le` series),
    /// then the total count and the sum in seconds.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, u64, f64) {
        use std::sync::atomic::Ordering::Relaxed;
        let mut cumulative = 0;
        let buckets = LATENCY_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(b, n)| {
                cumulative += n.load(Relaxed);
                (*b, cumulative)
            })
            .collect();
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        (buckets, self.count.load(Relaxed), sum)
    }
}

/// The engine handle; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

struct Inner {
    store: Arc<dyn Store>,
    state: Mutex<State>,
    writer: writer::WriterHandle,
    notices: broadcast::Sender<crate::stream::StreamEvent>,
    /// Newest committed sequence, for global subscribers and waiters.
    committed: watch::Sender<u64>,
    config: EngineConfig,
    hub_config: Mutex<crate::wire::HubConfig>,
    metrics: Metrics,
    started_at: f64,
    /// A stream-position flush is scheduled.
    cursor_flush_pending: std::sync::atomic::AtomicBool,
    /// Newest event sequence retention deleted.
    trimmed_through: AtomicU64,
    /// Bytes in use when the size limit last found nothing left to delete
    /// (0 = not at that floor).
    size_floor: AtomicU64,
    /// Permission rules in force, compiled (swapped whole on an edit).
    rules: Mutex<Arc<rules::RuleSet>>,
    /// Serialises rule edits (read, change, store, swap).
    rules_edit: tokio::sync::Mutex<()>,
    /// Woken when a prompt with a deadline is recorded.
    deadlines: tokio::sync::Notify,
    /// Webhooks, as the store has them (replaced whole on every change).
    webhooks: Mutex<Arc<Vec<crate::store::hooks::WebhookRow>>>,
}

/// Seconds since the epoch, now: the clock of every stored timestamp.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Engine {
    /// Loads the store into memory and starts the writer.
    ///
    /// Must be called inside a tokio runtime.
    pub fn start(store: Arc<dyn Store>, config: EngineConfig) -> Result<Engine> {
        let mut snapshot = store.load()?;
        // Fail closed: a stored rule that no longer compiles could be a
        // deny that other rules rely on.
        let rules = rules::RuleSet::compile(std::mem::take(&mut snapshot.rules)).map_err(|e| {
            StoreError::Corrupt(format!("stored permission rules do not compile: {e}"))
        })?;
        let hub_config = settings::load(&config.settings_path)?;
        let webhooks = Mutex::new(Arc::new(store.webhooks()?));
        let (committed, _) = watch::channel(snapshot.max_seq);
        let (notices, _) = broadcast::channel(1024);
        let started_at = now();
        let trimmed_through = AtomicU64::new(snapshot.trimmed_through);
        let state = State::from_snapshot(snapshot, started_at);
        let engine = Engine {
            inner: Arc::new_cyclic(|weak| Inner {
                writer: writer::spawn(store.clone(), weak.clone()),
                store,
                state: Mutex::new(state),
                notices,
                committed,
                config,
                hub_config: Mutex::new(hub_config),
                metrics: Metrics::default(),
                started_at,
                cursor_flush_pending: std::sync::atomic::AtomicBool::new(false),
                trimmed_through,
                size_floor: AtomicU64::new(0),
                rules: Mutex::new(Arc::new(rules)),
                rules_edit: tokio::sync::Mutex::new(()),
                deadlines: tokio::sync::Notify::new(),
                webhooks,
            }),
        };
        Ok(engine)
    }

    /// Stops accepting writes and waits until everything accepted is committed.
    pub async fn shutdown(&self) {
        // Persist stream cursors first so a restart resumes where streams stopped.
        if let Err(e) = self.flush_cursors().await {
            tracing::warn!(error = %e, "could not persist stream cursors at shutdown");
        }
        self.inner.writer.close().await;
    }

    /// Counters for metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// When the engine started (epoch seconds).
    pub fn started_at(&self) -> f64 {
        self.inner.started_at
    }

    /// The store behind the engine.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self, notice: crate::stream::StreamEvent) {
        // No receivers is fine: nobody is watching the global stream.
        let _ = self.inner.notices.send(notice);
    }

    /// Runs a blocking store read off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|_| Error::ShuttingDown)?
            .map_err(Error::from)
    }
}
