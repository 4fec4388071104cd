//! The delivery loop: reads due outbox rows in batches, POSTs them
//! concurrently, records every outcome in one transaction, repeats.
//!
//! One loop, one batch at a time: a row is never in flight twice. A row
//! is marked delivered only after its 2xx, so a crash in between sends it
//! again after the restart with the same `X-TubeMail-Event-Id` (receivers
//! dedupe on it); in every other case it is sent once.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tubemail_core::WorkerName;
use tubemail_core::engine::Engine;
use tubemail_core::hooks::{DeliveryStatus, WebhookEvent, url_host};
use tubemail_core::store::hooks::{ApprovalRow, OutboxRow, OutboxUpdate, WebhookRow};

use super::body::{self, Link};
use super::{Hooks, sign};
use tubemail_core::engine::now;

/// How often settled notifications and dead links are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Deletes what the options say is old enough; logs, never fails.
async fn prune(engine: &Engine, hooks: &Hooks) {
    let at = now();
    let settled_before = at - hooks.options.keep_settled.as_secs_f64();
    // A link is useless once expired; kept a day to answer 410, not 404.
    let expired_before = at - 86_400.0;
    let store = engine.store().clone();
    match tokio::task::spawn_blocking(move || store.prune(settled_before, expired_before)).await {
        Ok(Ok(n)) if n > 0 => tracing::debug!(pruned = n, "old webhook deliveries pruned"),
        Ok(Ok(_)) | Err(_) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not prune the webhook outbox"),
    }
}

/// Runs until the hub stops (the task is aborted).
pub async fn run(engine: Engine, hooks: Arc<Hooks>) {
    let mut pruned = std::time::Instant::now();
    loop {
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = std::time::Instant::now();
            prune(&engine, &hooks).await;
        }
        let batch = hooks.options.batch;
        let store = engine.store().clone();
        let due = tokio::task::spawn_blocking(move || store.due(now(), batch)).await;
        let due = match due {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not read the webhook outbox");
                Vec::new()
            }
            Err(_) => return,
        };
        if due.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(hooks.options.poll) => {}
                () = hooks.wake.notified() => {}
            }
            continue;
        }
        let webhooks = engine.webhook_rows();
        let updates: Vec<OutboxUpdate> = futures::stream::iter(due)
            .map(|row| {
                let hook = webhooks.iter().find(|h| h.id == row.new.webhook).cloned();
                attempt(&engine, &hooks, hook, row)
            })
            .buffer_unordered(hooks.options.concurrency.max(1))
            .collect()
            .await;
        let store = engine.store().clone();
        match tokio::task::spawn_blocking(move || store.settle(&updates)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not record webhook deliveries");
                // Do not spin on the same rows.
                tokio::time::sleep(hooks.options.poll).await;
            }
            Err(_) => return,
        }
    }
}

/// Delay before attempt `attempts + 1`: doubling from 1 s, capped, with
/// up to half of it taken off at random so failed receivers are not hit
/// by every retry at once.
fn backoff(attempts: u32, cap: Duration) -> f64 {
    let base = 2f64.powi(attempts.min(30) as i32).min(cap.as_secs_f64());
    let mut r = [0u8; 2];
    let jitter = match getrandom::fill(&mut r) {
        Ok(()) => f64::from(u16::from_le_bytes(r)) / f64::from(u16::MAX),
        Err(_) => 0.5,
    };
    base * (1.0 - jitter / 2.0)
}

fn settled(row: &OutboxRow, status: DeliveryStatus, at: f64) -> OutboxUpdate {
    OutboxUpdate {
        id: row.id,
        status,
        next_at: row.new.next_at,
        attempted: false,
        last_status: None,
        last_error: None,
        done_at: Some(at),
    }
}

async fn attempt(
    engine: &Engine,
    hooks: &Hooks,
    hook: Option<WebhookRow>,
    row: OutboxRow,
) -> OutboxUpdate {
    let started = now();
    let Some(hook) = hook else {
        // Deleted meanwhile (its rows go with it).
        return settled(&row, DeliveryStatus::Skipped, started);
    };
    let mut link = None;
    if row.new.event == WebhookEvent::PermissionWaiting {
        let request_id = row
            .new
            .payload
            .get("request_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let Ok(worker) = WorkerName::new(row.new.worker.clone()) else {
            return settled(&row, DeliveryStatus::Skipped, started);
        };
        let pending = engine
            .pending_permissions(Some(&worker), false)
            .iter()
            .any(|p| p.request_id == request_id);
        if !pending {
            return settled(&row, DeliveryStatus::Skipped, started);
        }
        match issue_link(engine, hooks, &row, worker, request_id).await {
            Ok(l) => link = Some(l),
            Err(e) => {
                tracing::warn!(error = %e, delivery = row.id, "could not store an approval link");
                return retry(
                    &row,
                    hooks,
                    started,
                    None,
                    "could not store the approval link".into(),
                );
            }
        }
    }
    let body = body::render(hook.format, &row, link.as_ref()).to_string();
    let unix = started as u64;
    let mut req = hooks
        .client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("x-tubemail-event-id", row.id.to_string())
        .header("x-tubemail-event", row.new.event.as_str());
    if let Some(secret) = hook.secret.as_deref().filter(|s| !s.is_empty()) {
        req = req.header(
            "x-tubemail-signature",
            sign::signature(secret, unix, body.as_bytes()),
        );
    }
    let host = url_host(&hook.url);
    match req.body(body).send().await {
        Ok(resp) if resp.status().is_success() => {
            tracing::debug!(webhook = %hook.id, host, delivery = row.id, "webhook delivered");
            OutboxUpdate {
                id: row.id,
                status: DeliveryStatus::Delivered,
                next_at: row.new.next_at,
                attempted: true,
                last_status: Some(resp.status().as_u16()),
                last_error: None,
                done_at: Some(now()),
            }
        }
        Ok(resp) => {
            let code = resp.status().as_u16();
            tracing::info!(webhook = %hook.id, host, delivery = row.id, status = code, "webhook receiver refused; will retry");
            retry(&row, hooks, started, Some(code), format!("HTTP {code}"))
        }
        Err(e) => {
            // Never the error's Display: it names the URL.
            let why = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            tracing::info!(webhook = %hook.id, host, delivery = row.id, error = why, "webhook delivery failed; will retry");
            retry(&row, hooks, started, None, why.to_owned())
        }
    }
}

fn retry(
    row: &OutboxRow,
    hooks: &Hooks,
    at: f64,
    last_status: Option<u16>,
    error: String,
) -> OutboxUpdate {
    let give_up = at - row.new.created_at >= hooks.options.give_up_after.as_secs_f64();
    OutboxUpdate {
        id: row.id,
        status: if give_up {
            DeliveryStatus::Failed
        } else {
            DeliveryStatus::Pending
        },
        next_at: at + backoff(row.attempts, hooks.options.max_backoff),
        attempted: true,
        last_status,
        last_error: Some(error),
        done_at: give_up.then_some(at),
    }
}

/// A fresh single-use link for this notification (replacing the one an
/// earlier attempt sent); only its hash is stored.
async fn issue_link(
    engine: &Engine,
    hooks: &Hooks,
    row: &OutboxRow,
    worker: WorkerName,
    request_id: String,
) -> Result<Link, String> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|_| "no randomness".to_owned())?;
    let token = sign::hex(&raw);
    let expires_at = now() + hooks.options.link_ttl.as_secs_f64();
    let approval = ApprovalRow {
        hash: token_hash(&token),
        outbox_id: row.id,
        worker,
        request_id,
        expires_at,
    };
    let store = engine.store().clone();
    tokio::task::spawn_blocking(move || store.put_approval(&approval))
        .await
        .map_err(|_| "shutting down".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok(Link {
        url: format!("{}/approve/{token}", hooks.public_url()),
        expires_at,
    })
}

/// Hex SHA-256 of an approval token, as stored.
pub fn token_hash(token: &str) -> String {
    sign::hex(&Sha256::digest(token.as_bytes()))
}
