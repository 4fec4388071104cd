//! Retention: deleting old timeline events in the background.
//!
//! Candidates are chosen on a read connection, so choosing never holds up
//! a commit; they are then deleted in small transactions
//! ([`TRIM_BATCH`] rows), each re-checking that the event is still
//! deletable, so a write waits at most one small transaction behind it.
//! A pending permission's request and each worker's newest event are
//! never deleted. A deleted event stays a valid resume point: cursors at
//! or below the newest deleted sequence are accepted and resume after it.

use std::sync::atomic::Ordering;

use super::{Engine, Result, now};
use crate::name::WorkerName;
use crate::store::TrimQuery;

/// Most events deleted in one transaction.
pub const TRIM_BATCH: usize = 250;

/// Growth past the size floor before the size limit searches again.
const FLOOR_SLACK: u64 = 1 << 20;

impl Engine {
    /// Applies the retention settings once: deletes events older than
    /// `retention_max_age_days`, then each worker's oldest beyond
    /// `retention_max_events_per_worker`, then the oldest while the
    /// database is over `retention_max_database_mib` (see
    /// [`Engine::apply_size_retention`]). Returns how many were deleted.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn apply_retention(&self) -> Result<u64> {
        let config = self.hub_config();
        let mut deleted = 0;
        if config.retention_max_age_days > 0 {
            let cutoff = now() - f64::from(config.retention_max_age_days) * 86_400.0;
            // One search for where the young events begin, so a large
            // backlog is not searched again for every batch and a table
            // with nothing old is not read through. (An event stored out
            // of order after a clock step back waits for those before it.)
            let young = self.read(move |s| s.first_event_since(cutoff)).await?;
            let before = young.unwrap_or(u64::MAX);
            deleted += self.trim(None, Some(before), u64::MAX, &mut 0).await?;
        }
        let max = config.retention_max_events_per_worker;
        if max > 0 {
            let over: Vec<(WorkerName, u64)> = self
                .lock()
                .workers
                .values()
                .filter(|e| e.row.event_count > max)
                .map(|e| (e.row.name.clone(), e.row.event_count - max))
                .collect();
            for (worker, excess) in over {
                deleted += self.trim(Some(worker), None, excess, &mut 0).await?;
            }
        }
        deleted += self.apply_size_retention().await?;
        if deleted > 0 {
            tracing::info!(deleted, "retention deleted old events");
        }
        Ok(deleted)
    }

    /// Applies `retention_max_database_mib` alone (cheap when under it:
    /// three pragmas and a file size). Past 90 % of the limit, deletes
    /// the oldest deletable events, fleet-wide, until the database is back
    /// under 80 %; the room they leave is reused before the file grows.
    /// Returns how many were deleted.
    ///
    /// What is never deleted (pending prompts' requests, each worker's
    /// newest event) sets a floor: a limit below it is logged once, and
    /// then the table is searched again only after another
    /// MiB of growth (new events make older ones deletable),
    /// not on every check.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn apply_size_retention(&self) -> Result<u64> {
        let limit = self
            .hub_config()
            .retention_max_database_mib
            .saturating_mul(1 << 20);
        let mut used = self.read(|s| s.used_bytes()).await?;
        if limit == 0 || used <= limit / 10 * 9 {
            self.inner.size_floor.store(0, Ordering::Relaxed);
            return Ok(0);
        }
        let floor = self.inner.size_floor.load(Ordering::Relaxed);
        if floor > 0 && used <= floor + FLOOR_SLACK {
            return Ok(0);
        }
        let target = limit / 10 * 8;
        let (mut deleted, mut after) = (0, 0);
        while used > target {
            // Estimate how many events hold the excess from the average
            // size and measure again (index pages free up less evenly than
            // the events' own); one pass over the table at most.
            let events: u64 = self
                .lock()
                .workers
                .values()
                .map(|e| e.row.event_count)
                .sum();
            let per_event = (used / events.max(1)).max(1);
            let most = ((used - target) / per_event + 1).max(TRIM_BATCH as u64);
            let gone = self.trim(None, None, most, &mut after).await?;
            deleted += gone;
            used = self.read(|s| s.used_bytes()).await?;
            if gone < most {
                if used > target && floor == 0 {
                    tracing::warn!(
                        used_mib = used >> 20,
                        limit_mib = limit >> 20,
                        "the database stays over 80 % of retention_max_database_mib: what is left is \
                         each worker's newest event and the pending prompts, which are never deleted"
                    );
                }
                self.inner
                    .size_floor
                    .store(if used > target { used } else { 0 }, Ordering::Relaxed);
                break;
            }
        }
        if deleted > 0 {
            tracing::info!(
                deleted,
                used_mib = used >> 20,
                "retention kept the database under its size limit"
            );
        }
        Ok(deleted)
    }

    /// Deletes up to `most` deletable events (of `worker`, before sequence
    /// `before`) after sequence `after`, oldest first, in batches;
    /// leaves `after` at the last candidate, to go on from.
    async fn trim(
        &self,
        worker: Option<WorkerName>,
        before: Option<u64>,
        most: u64,
        after: &mut u64,
    ) -> Result<u64> {
        let mut deleted = 0;
        while deleted < most {
            let q = TrimQuery {
                worker: worker.clone(),
                after: *after,
                before,
                limit: TRIM_BATCH.min(usize::try_from(most - deleted).unwrap_or(TRIM_BATCH)),
            };
            let seqs = self.read(move |s| s.trim_candidates(&q)).await?;
            let Some(&last) = seqs.last() else { break };
            *after = last;
            // Raised before the delete, so no reader sees an event gone
            // whose cursor is not yet accepted (an id at or below it that
            // is still there is checked by its owner as before).
            self.inner
                .trimmed_through
                .fetch_max(last, Ordering::Relaxed);
            let gone = self.read(move |s| s.delete_events(&seqs)).await?;
            deleted += gone.len() as u64;
            self.forget(&gone);
            // Let writers and readers queued meanwhile go first.
            tokio::task::yield_now().await;
        }
        Ok(deleted)
    }

    /// Brings the in-memory counters in line with deleted events.
    fn forget(&self, gone: &[(WorkerName, u64)]) {
        if gone.is_empty() {
            return;
        }
        self.inner
            .metrics
            .events_deleted
            .fetch_add(gone.len() as u64, Ordering::Relaxed);
        let mut st = self.lock();
        for (worker, _) in gone {
            if let Some(entry) = st.workers.get_mut(worker) {
                entry.row.event_count = entry.row.event_count.saturating_sub(1);
            }
        }
    }

    /// The newest event sequence retention deleted (0 = none).
    pub(crate) fn trimmed_through(&self) -> u64 {
        self.inner.trimmed_through.load(Ordering::Relaxed)
    }
}
