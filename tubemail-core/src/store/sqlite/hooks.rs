//! [`HookStore`] on SQLite: webhooks, their outbox and approval links.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{SqliteStore, corrupt, db, load_rows, to_json};
use crate::hooks::{DeliveryStatus, WebhookEvent};
use crate::name::WorkerName;
use crate::store::StoreError;
use crate::store::hooks::{
    ApprovalRow, HookStore, OutboxNew, OutboxRow, OutboxUpdate, Redeemed, WebhookRow,
};
use crate::wire::Timestamp;

/// Schema of migration 4 (see `MIGRATIONS`).
pub(super) const MIGRATION: &str = "CREATE TABLE webhooks (id TEXT PRIMARY KEY, row TEXT NOT NULL);
     CREATE TABLE webhook_outbox (
         id INTEGER PRIMARY KEY AUTOINCREMENT, webhook TEXT NOT NULL, event TEXT NOT NULL,
         worker TEXT NOT NULL, source_seq INTEGER NOT NULL, payload TEXT NOT NULL,
         created_at REAL NOT NULL, next_at REAL NOT NULL, status TEXT NOT NULL,
         attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER, last_error TEXT, done_at REAL);
     CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE status = 'pending';
     CREATE INDEX webhook_outbox_by_hook ON webhook_outbox (webhook, id);
     CREATE TABLE approval_links (
         hash TEXT PRIMARY KEY, outbox_id INTEGER NOT NULL UNIQUE, worker TEXT NOT NULL,
         request_id TEXT NOT NULL, expires_at REAL NOT NULL, spent INTEGER NOT NULL DEFAULT 0);";

const OUTBOX_COLUMNS: &str = "id, webhook, event, worker, source_seq, payload, created_at, next_at, \
     status, attempts, last_status, last_error, done_at";

/// Inserts one outbox row (inside the engine's batch or on its own).
pub(super) fn insert(tx: &Connection, row: &OutboxNew) -> Result<u64, StoreError> {
    tx.prepare_cached(
        "INSERT INTO webhook_outbox
             (webhook, event, worker, source_seq, payload, created_at, next_at, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')",
    )
    .and_then(|mut s| {
        s.execute(params![
            row.webhook,
            row.event.as_str(),
            row.worker,
            row.source_seq as i64,
            row.payload.to_string(),
            row.created_at,
            row.next_at,
        ])
    })
    .map_err(db)?;
    Ok(tx.last_insert_rowid() as u64)
}

type RawOutbox = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    f64,
    f64,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<f64>,
);

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawOutbox> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

fn decode(r: RawOutbox) -> Result<OutboxRow, StoreError> {
    let (
        id,
        webhook,
        event,
        worker,
        seq,
        payload,
        created_at,
        next_at,
        status,
        attempts,
        code,
        err,
        done,
    ) = r;
    Ok(OutboxRow {
        id: id as u64,
        new: OutboxNew {
            webhook,
            event: WebhookEvent::parse(&event)
                .ok_or_else(|| corrupt(format!("webhook event {event}")))?,
            worker,
            source_seq: seq as u64,
            payload: serde_json::from_str(&payload).map_err(corrupt)?,
            created_at,
            next_at,
        },
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("delivery status {status}")))?,
        attempts: attempts.clamp(0, u32::MAX as i64) as u32,
        last_status: code.and_then(|c| u16::try_from(c).ok()),
        last_error: err,
        done_at: done,
    })
}

fn select(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<OutboxRow>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db)?;
    let raws = stmt
        .query_map(args, raw)
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    raws.into_iter().map(decode).collect()
}

fn settle_one(tx: &Transaction<'_>, u: &OutboxUpdate) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE webhook_outbox SET status = ?2, next_at = ?3, attempts = attempts + ?4,
             last_status = CASE WHEN ?4 = 1 THEN ?5 ELSE last_status END,
             last_error = ?6, done_at = ?7
         WHERE id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            u.id as i64,
            u.status.as_str(),
            u.next_at,
            i64::from(u.attempted),
            u.last_status.map(i64::from),
            u.last_error,
            u.done_at,
        ])
    })
    .map_err(db)?;
    Ok(())
}

impl HookStore for SqliteStore {
    fn webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        load_rows(&conn, "SELECT row FROM webhooks ORDER BY rowid")
    }

    fn put_webhook(&self, row: &WebhookRow) -> Result<(), StoreError> {
        let json = to_json(row)?;
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.prepare_cached("INSERT OR REPLACE INTO webhooks (id, row) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![row.id, json]))
            .map(|_| ())
            .map_err(db)
    }

    fn delete_webhook(&self, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(db)?;
        let n = tx
            .execute("DELETE FROM webhooks WHERE id = ?1", [id])
            .map_err(db)?;
        tx.execute(
            "DELETE FROM approval_links WHERE outbox_id IN
                 (SELECT id FROM webhook_outbox WHERE webhook = ?1)",
            [id],
        )
        .map_err(db)?;
        tx.execute("DELETE FROM webhook_outbox WHERE webhook = ?1", [id])
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(n > 0)
    }

    fn enqueue(&self, row: &OutboxNew) -> Result<u64, StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        insert(&conn, row)
    }

    fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        self.read(|conn| {
            select(
                conn,
                &format!(
                    "SELECT {OUTBOX_COLUMNS} FROM webhook_outbox
                     WHERE status = 'pending' AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2"
                ),
                params![now, limit as i64],
            )
        })
    }

    fn settle(&self, updates: &[OutboxUpdate]) -> Result<(), StoreError> {
        if updates.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(db)?;
        for u in updates {
            settle_one(&tx, u)?;
        }
        tx.commit().map_err(db)
    }

    fn deliveries(&self, webhook: &str, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        self.read(|conn| {
            select(
                conn,
                &format!(
                    "SELECT {OUTBOX_COLUMNS} FROM webhook_outbox
                     WHERE webhook = ?1 ORDER BY id DESC LIMIT ?2"
                ),
                params![webhook, limit as i64],
            )
        })
    }

    fn put_approval(&self, row: &ApprovalRow) -> Result<(), StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        conn.prepare_cached(
            "INSERT OR REPLACE INTO approval_links (hash, outbox_id, worker, request_id, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                row.hash,
                row.outbox_id as i64,
                row.worker.as_str(),
                row.request_id,
                row.expires_at,
            ])
        })
        .map(|_| ())
        .map_err(db)
    }

    fn prune(
        &self,
        settled_before: Timestamp,
        expired_before: Timestamp,
    ) -> Result<usize, StoreError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(db)?;
        // Bounded, so a commit of the engine never waits long behind it;
        // the next round takes the rest.
        let n = tx
            .execute(
                "DELETE FROM webhook_outbox WHERE id IN (
                     SELECT id FROM webhook_outbox
                     WHERE status != 'pending' AND done_at < ?1 LIMIT 5000)",
                [settled_before],
            )
            .map_err(db)?;
        tx.execute(
            "DELETE FROM approval_links WHERE expires_at < ?1",
            [expired_before],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(n)
    }

    fn approval(&self, hash: &str) -> Result<Option<(ApprovalRow, bool)>, StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let row: Option<(i64, String, String, f64, i64)> = conn
            .prepare_cached(
                "SELECT outbox_id, worker, request_id, expires_at, spent
                 FROM approval_links WHERE hash = ?1",
            )
            .and_then(|mut s| {
                s.query_row([hash], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()
            })
            .map_err(db)?;
        row.map(|(outbox_id, worker, request_id, expires_at, spent)| {
            Ok((
                ApprovalRow {
                    hash: hash.to_owned(),
                    outbox_id: outbox_id as u64,
                    worker: WorkerName::new(worker).map_err(corrupt)?,
                    request_id,
                    expires_at,
                },
                spent != 0,
            ))
        })
        .transpose()
    }

    fn redeem(&self, hash: &str, now: Timestamp) -> Result<Redeemed, StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // One statement: two redeemers of the same link cannot both win.
        let won: Option<(String, String)> = conn
            .prepare_cached(
                "UPDATE approval_links SET spent = 1
                 WHERE hash = ?1 AND spent = 0 AND expires_at > ?2
                 RETURNING worker, request_id",
            )
            .and_then(|mut s| {
                s.query_row(params![hash, now], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(db)?;
        if let Some((worker, request_id)) = won {
            return Ok(Redeemed::Ok {
                worker: WorkerName::new(worker).map_err(corrupt)?,
                request_id,
            });
        }
        let known: Option<i64> = conn
            .prepare_cached("SELECT 1 FROM approval_links WHERE hash = ?1")
            .and_then(|mut s| s.query_row([hash], |r| r.get(0)).optional())
            .map_err(db)?;
        Ok(if known.is_some() {
            Redeemed::Gone
        } else {
            Redeemed::Unknown
        })
    }
}
