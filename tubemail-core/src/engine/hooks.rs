//! Webhooks: configuration kept in memory for the write path, and the
//! outbox rows each appended event adds to its own batch.
//!
//! Matching runs under the state lock while an operation builds its
//! batch, so it stays cheap: a scan of the (few) webhooks, nothing when
//! there are none. Sending is the hub's, from the outbox, off this path.

use std::sync::Arc;

use serde_json::{Value, json};

use super::writer::Tx;
use super::{Engine, Error, Result};
use crate::hooks::WebhookEvent;
use crate::name::WorkerName;
use crate::store::Mutation;
use crate::store::hooks::{OutboxNew, OutboxRow, WebhookRow};
use crate::wire::{Behavior, Event, EventKind, WorkerCondition};

/// Meta key naming who answered a prompt (`rule`, `expiry`, `link`).
pub const DECIDED_BY: &str = "decided_by";

impl Engine {
    /// The webhooks, oldest first.
    pub fn webhook_rows(&self) -> Arc<Vec<WebhookRow>> {
        self.inner
            .webhooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Inserts or replaces a webhook, durably; operations from now on
    /// enqueue for it.
    pub async fn put_webhook(&self, row: WebhookRow) -> Result<()> {
        let stored = row.clone();
        self.read(move |s| s.put_webhook(&stored)).await?;
        let mut hooks = self
            .inner
            .webhooks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut next: Vec<WebhookRow> = hooks.iter().filter(|h| h.id != row.id).cloned().collect();
        match hooks.iter().position(|h| h.id == row.id) {
            Some(pos) => next.insert(pos, row),
            None => next.push(row),
        }
        *hooks = Arc::new(next);
        Ok(())
    }

    /// Removes a webhook with its pending notifications; `Ok(false)` when
    /// unknown.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool> {
        {
            // Stop enqueueing first, so no new row follows the delete.
            let mut hooks = self
                .inner
                .webhooks
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let next: Vec<WebhookRow> = hooks.iter().filter(|h| h.id != id).cloned().collect();
            *hooks = Arc::new(next);
        }
        let id = id.to_owned();
        self.read(move |s| s.delete_webhook(&id)).await
    }

    /// Queues a `test` notification for webhook `id` now; returns its
    /// delivery id. The caller wakes its sender.
    pub async fn enqueue_test_notification(&self, id: &str) -> Result<u64> {
        let at = super::now();
        let row = OutboxNew {
            webhook: id.to_owned(),
            event: WebhookEvent::Test,
            worker: String::new(),
            source_seq: 0,
            payload: json!({"ts": at}),
            created_at: at,
            next_at: at,
        };
        self.read(move |s| s.enqueue(&row)).await
    }

    /// Webhook `id`'s notifications, newest first, at most `limit`.
    pub async fn webhook_deliveries(&self, id: &str, limit: usize) -> Result<Vec<OutboxRow>> {
        let id = id.to_owned();
        self.read(move |s| s.deliveries(&id, limit)).await
    }

    /// Answers a pending prompt as [`Engine::resolve_permission`] does,
    /// recording who decided (`decided_by` in the answer's meta).
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker, request_id = %request_id))]
    pub async fn resolve_permission_by(
        &self,
        worker: &WorkerName,
        request_id: &str,
        behavior: Behavior,
        decided_by: &str,
    ) -> Result<bool> {
        if decided_by.is_empty() {
            return Err(Error::BadRequest("decided_by must not be empty".into()));
        }
        self.answer(worker, request_id, behavior, Some(decided_by))
            .await
    }
}

impl Tx {
    /// Enqueues `event` about `worker` for every webhook that wants it.
    pub(crate) fn hook(
        &mut self,
        event: WebhookEvent,
        worker: &WorkerName,
        source_seq: u64,
        payload: impl Fn() -> Value,
    ) {
        if self.hooks.is_empty() {
            return;
        }
        let hooks = self.hooks.clone();
        for h in hooks.iter().filter(|h| h.wants(event, worker)) {
            let delay = match event {
                WebhookEvent::PermissionWaiting => h.waiting_secs as f64,
                _ => 0.0,
            };
            self.push(Mutation::Outbox(OutboxNew {
                webhook: h.id.clone(),
                event,
                worker: worker.as_str().to_owned(),
                source_seq,
                payload: payload(),
                created_at: self.now,
                next_at: self.now + delay,
            }));
        }
    }

    /// The notifications a timeline event causes.
    pub(crate) fn hook_event(&mut self, worker: &WorkerName, ev: &Event) {
        if self.hooks.is_empty() {
            return;
        }
        let text = |k: &str| ev.meta.get(k).and_then(Value::as_str).unwrap_or("");
        match ev.kind {
            // A manager's answers to control commands and a bare `ack`
            // are plumbing, not replies anyone waits for.
            EventKind::Outbound if worker.is_manager() || text("kind") == "ack" => {}
            EventKind::Outbound => self.hook(
                WebhookEvent::Reply,
                worker,
                ev.event_id.0,
                || json!({"event_id": ev.event_id.0, "ts": ev.ts, "content": ev.content}),
            ),
            EventKind::PermissionRequest => {
                self.hook(
                    WebhookEvent::PermissionWaiting,
                    worker,
                    ev.event_id.0,
                    || {
                        json!({
                            "event_id": ev.event_id.0,
                            "requested_at": ev.ts,
                            "request_id": text("request_id"),
                            "tool_name": ev.content,
                            "description": text("description"),
                            "input_preview": text("input_preview"),
                        })
                    },
                );
            }
            EventKind::PermissionResponse if matches!(text(DECIDED_BY), "rule" | "expiry") => {
                self.hook(WebhookEvent::RuleDecision, worker, ev.event_id.0, || {
                    json!({
                        "event_id": ev.event_id.0,
                        "ts": ev.ts,
                        "request_id": text("request_id"),
                        "behavior": ev.content,
                        "decided_by": text(DECIDED_BY),
                        "rule_id": ev.meta.get("rule_id").cloned().unwrap_or(Value::Null),
                    })
                });
            }
            _ => {}
        }
    }

    /// `worker_exited`: a clean goodbye.
    pub(crate) fn hook_exited(&mut self, worker: &WorkerName) {
        let now = self.now;
        self.hook(WebhookEvent::WorkerExited, worker, 0, || json!({"ts": now}));
    }

    /// `worker_blocked`: a screen holds the worker's terminal.
    pub(crate) fn hook_blocked(&mut self, worker: &WorkerName, c: &WorkerCondition) {
        let now = self.now;
        self.hook(
            WebhookEvent::WorkerBlocked,
            worker,
            0,
            || json!({"ts": now, "detail": c.detail}),
        );
    }
}
