//! What webhooks persist: their configuration, the outbox of
//! notifications and the hashes of approval links.
//!
//! Outbox rows are *inserted* inside the engine's batches
//! ([`super::Mutation::Outbox`]), in the same transaction as the event that
//! caused them, so a crash cannot keep one and lose the other. Everything
//! else here (configuration, delivery results, links) is written outside
//! the batches, from any thread.

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::hooks::{DeliveryStatus, DeliveryView, WebhookEvent, WebhookFormat, WebhookView};
use crate::name::WorkerName;
use crate::wire::Timestamp;

/// A webhook as stored (with its URL and secret in clear: the database is
/// private to its owner, like the hub's secret file).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookRow {
    /// Id.
    pub id: String,
    /// Where to POST.
    pub url: String,
    /// What it is sent.
    pub events: Vec<WebhookEvent>,
    /// Delay of `permission_waiting`, in seconds.
    pub waiting_secs: u64,
    /// Worker filter.
    #[serde(default)]
    pub worker_glob: Option<String>,
    /// Body preset.
    #[serde(default)]
    pub format: WebhookFormat,
    /// HMAC key.
    #[serde(default)]
    pub secret: Option<String>,
    /// Whether it enqueues.
    pub enabled: bool,
    /// When it was added.
    pub created_at: Timestamp,
}

impl std::fmt::Debug for WebhookRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRow")
            .field("id", &self.id)
            .field("url", &crate::hooks::redact_url(&self.url))
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl WebhookRow {
    /// The row as listed (URL redacted, no secret).
    pub fn view(&self) -> WebhookView {
        WebhookView {
            id: self.id.clone(),
            url: crate::hooks::redact_url(&self.url),
            events: self.events.clone(),
            waiting_secs: self.waiting_secs,
            worker_glob: self.worker_glob.clone(),
            format: self.format,
            has_secret: self.secret.as_deref().is_some_and(|s| !s.is_empty()),
            enabled: self.enabled,
            created_at: self.created_at,
        }
    }

    /// Whether this webhook wants `event` about `worker`.
    pub fn wants(&self, event: WebhookEvent, worker: &WorkerName) -> bool {
        self.enabled
            && self.events.contains(&event)
            && self
                .worker_glob
                .as_deref()
                .is_none_or(|g| crate::hooks::glob_match(g, worker.as_str()))
    }
}

/// A notification to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxNew {
    /// The webhook.
    pub webhook: String,
    /// What happened.
    pub event: WebhookEvent,
    /// The worker it is about.
    pub worker: String,
    /// The timeline event that caused it (0 = none).
    pub source_seq: u64,
    /// What the body is made of (JSON object).
    pub payload: serde_json::Value,
    /// When it was enqueued.
    pub created_at: Timestamp,
    /// Not sent before this time.
    pub next_at: Timestamp,
}

/// A notification as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    /// Id (the `X-TubeMail-Event-Id`).
    pub id: u64,
    /// The notification.
    pub new: OutboxNew,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// HTTP status of the last attempt.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was delivered, given up or skipped.
    pub done_at: Option<Timestamp>,
}

impl OutboxRow {
    /// The row as `/api/webhooks/{id}/deliveries` lists it.
    pub fn view(&self) -> DeliveryView {
        DeliveryView {
            id: self.id,
            event: self.new.event,
            worker: self.new.worker.clone(),
            status: self.status,
            attempts: self.attempts,
            last_status: self.last_status,
            last_error: self.last_error.clone(),
            created_at: self.new.created_at,
            next_at: self.new.next_at,
            done_at: self.done_at,
        }
    }
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxUpdate {
    /// The row.
    pub id: u64,
    /// Where it stands now.
    pub status: DeliveryStatus,
    /// Next attempt (pending only).
    pub next_at: Timestamp,
    /// Whether an attempt was made (skips make none).
    pub attempted: bool,
    /// HTTP status, if the receiver answered.
    pub last_status: Option<u16>,
    /// Why it failed.
    pub last_error: Option<String>,
    /// When it was settled (not pending).
    pub done_at: Option<Timestamp>,
}

/// A single-use approval link as stored: only the SHA-256 of its token.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRow {
    /// Hex SHA-256 of the token.
    pub hash: String,
    /// The notification that carried it (a retry replaces its link).
    pub outbox_id: u64,
    /// The prompt's worker.
    pub worker: WorkerName,
    /// The prompt.
    pub request_id: String,
    /// Not usable after this time.
    pub expires_at: Timestamp,
}

/// What redeeming a link found.
#[derive(Debug, Clone, PartialEq)]
pub enum Redeemed {
    /// Valid: it is spent now; answer this prompt.
    Ok {
        /// The prompt's worker.
        worker: WorkerName,
        /// The prompt.
        request_id: String,
    },
    /// Used before, or expired.
    Gone,
    /// No such link.
    Unknown,
}

/// Webhook storage, outside the engine's batches.
pub trait HookStore {
    /// Every webhook, oldest first.
    fn webhooks(&self) -> Result<Vec<WebhookRow>, StoreError>;
    /// Inserts or replaces a webhook.
    fn put_webhook(&self, row: &WebhookRow) -> Result<(), StoreError>;
    /// Removes a webhook with its outbox rows and links; whether it existed.
    fn delete_webhook(&self, id: &str) -> Result<bool, StoreError>;
    /// Enqueues one notification (outside a batch: tests, `test` sends);
    /// returns its id.
    fn enqueue(&self, row: &OutboxNew) -> Result<u64, StoreError>;
    /// Pending notifications due at `now`, soonest first.
    fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
    /// Records attempts' outcomes, in one transaction.
    fn settle(&self, updates: &[OutboxUpdate]) -> Result<(), StoreError>;
    /// A webhook's notifications, newest first.
    fn deliveries(&self, webhook: &str, limit: usize) -> Result<Vec<OutboxRow>, StoreError>;
    /// Stores a link, replacing the one its notification carried before.
    fn put_approval(&self, row: &ApprovalRow) -> Result<(), StoreError>;
    /// The link with this hash and whether it was spent (reads only).
    fn approval(&self, hash: &str) -> Result<Option<(ApprovalRow, bool)>, StoreError>;
    /// Deletes notifications settled (delivered, failed, skipped) before
    /// `settled_before` and links that expired before `expired_before`;
    /// how many notifications went. Pending ones are never deleted.
    fn prune(
        &self,
        settled_before: Timestamp,
        expired_before: Timestamp,
    ) -> Result<usize, StoreError>;
    /// Spends the link with this hash if it is valid at `now`.
    fn redeem(&self, hash: &str, now: Timestamp) -> Result<Redeemed, StoreError>;
}
