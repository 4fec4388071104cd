//! Registry operations: register, heartbeats, goodbye, purge, roster.

use super::delivery::SubscriptionEnd;
use super::state::unknown_status;
use super::{Engine, Error, Result, now};
use crate::api::RegisterResponse;
use crate::name::WorkerName;
use crate::store::Mutation;
use crate::stream::{ClearedReason, StreamEvent};
use crate::wire::{
    ConditionSignal, Health, Presence, WorkerCondition, WorkerStatus, WorkerSummary,
};

/// The longest condition detail taken (a screen's last lines fit).
pub const MAX_CONDITION_DETAIL: usize = 4096;

/// Registration details.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// Working directory (kept when empty).
    pub cwd: String,
    /// Process id of the registering process.
    pub pid: Option<i64>,
    /// Forwarder version (kept when empty).
    pub forwarder_version: Option<String>,
    /// The Claude Code permission mode in force (kept when `None`).
    pub permission_mode: Option<String>,
}

impl Engine {
    /// Registers (or re-registers) a worker.
    ///
    /// Pending permissions survive a re-registration of the same process
    /// (same pid, or a pid not known on either side), as after a hub restart
    /// or a reconnect; a different pid means a new process whose prompts can
    /// never be answered, so they are dropped.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn register(
        &self,
        worker: &WorkerName,
        reg: Registration,
    ) -> Result<RegisterResponse> {
        let (out, dropped) = self
            .write(|st, tx| {
                let entry = st.entry(worker, tx.now, tx.recording_default);
                let r = &mut entry.row;
                let new_process = matches!((r.pid, reg.pid), (Some(a), Some(b)) if a != b);
                let mut dropped = Vec::new();
                if new_process {
                    for p in entry.pending.drain(..) {
                        tx.push(Mutation::DeletePermission(
                            worker.clone(),
                            p.ask.request_id.clone(),
                        ));
                        dropped.push(p.ask.request_id);
                    }
                }
                let r = &mut entry.row;
                // A condition belongs to the process that reported it.
                if new_process {
                    r.condition = None;
                }
                if let Some(mode) = reg.permission_mode.as_deref().filter(|m| !m.is_empty()) {
                    r.permission_mode = Some(mode.to_owned());
                }
                r.exited_cleanly = false;
                r.last_activity = tx.now;
                if !reg.cwd.is_empty() {
                    r.cwd.clone_from(&reg.cwd);
                }
                if let Some(v) = reg.forwarder_version.as_deref().filter(|v| !v.is_empty()) {
                    r.forwarder_version = v.to_owned();
                }
                if reg.pid.is_some() {
                    r.pid = reg.pid;
                }
                tx.touch(worker);
                let cursor = if r.last_seq > 0 {
                    crate::wire::EventId(r.last_seq).to_string()
                } else {
                    String::new()
                };
                Ok((
                    RegisterResponse {
                        worker: worker.clone(),
                        cursor,
                    },
                    dropped,
                ))
            })
            .await?;
        if !dropped.is_empty() {
            tracing::info!(worker = %worker, count = dropped.len(), "new worker process; dropped its old pending permissions");
            self.notify(StreamEvent::PermissionsCleared {
                worker: worker.clone(),
                request_ids: dropped,
                reason: ClearedReason::NewProcess,
            });
        }
        self.notify(StreamEvent::WorkerRegistered {
            worker: worker.clone(),
            cwd: reg.cwd,
        });
        Ok(out)
    }

    /// Ends the worker's streams; keeps its state.
    pub fn unregister(&self, worker: &WorkerName) {
        let mut st = self.lock();
        if let Some(entry) = st.workers.get_mut(worker) {
            entry.close_streams(SubscriptionEnd::Unregistered, now());
        }
        drop(st);
        self.notify(StreamEvent::WorkerUnregistered {
            worker: worker.clone(),
        });
    }

    /// Marks a clean exit and ends the worker's streams.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn goodbye(&self, worker: &WorkerName) -> Result<()> {
        self.write(|st, tx| {
            if let Some(entry) = st.workers.get_mut(worker) {
                entry.row.exited_cleanly = true;
                entry.row.condition = None;
                entry.row.last_activity = tx.now;
                entry.close_streams(SubscriptionEnd::Unregistered, tx.now);
                tx.touch(worker);
                tx.hook_exited(worker);
            }
            Ok(())
        })
        .await?;
        self.notify(StreamEvent::WorkerExited {
            worker: worker.clone(),
        });
        Ok(())
    }

    /// Context window use from the manager; `Ok(changed)`. Unknown workers
    /// are not created.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn set_context_pct(&self, worker: &WorkerName, pct: Option<u8>) -> Result<bool> {
        if pct.is_some_and(|p| p > 100) {
            return Err(Error::BadRequest("pct must be between 0 and 100".into()));
        }
        let changed = self
            .write(|st, tx| {
                let Some(entry) = st.workers.get_mut(worker) else {
                    return Ok(false);
                };
                if entry.row.context_pct == pct {
                    return Ok(false);
                }
                entry.row.context_pct = pct;
                entry.row.last_activity = tx.now;
                tx.touch(worker);
                Ok(true)
            })
            .await?;
        if changed {
            self.notify(StreamEvent::ContextPct {
                worker: worker.clone(),
                context_pct: pct,
            });
        }
        Ok(changed)
    }

    /// A condition reported by the worker side (`None` clears it);
    /// `Ok(changed)`. Creates the worker when unknown: a screen that
    /// blocks claude before its channel starts is reported by the manager
    /// before the worker ever registered.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn set_condition(
        &self,
        worker: &WorkerName,
        condition: Option<WorkerCondition>,
    ) -> Result<bool> {
        if condition
            .as_ref()
            .is_some_and(|c| c.detail.len() > MAX_CONDITION_DETAIL)
        {
            return Err(Error::BadRequest(format!(
                "detail is longer than {MAX_CONDITION_DETAIL} bytes"
            )));
        }
        let changed = self
            .write(|st, tx| {
                if condition.is_none() && !st.workers.contains_key(worker) {
                    return Ok(false);
                }
                let entry = st.entry(worker, tx.now, tx.recording_default);
                let r = &mut entry.row;
                if r.condition == condition {
                    return Ok(false);
                }
                if r.condition.as_ref().map(|c| c.signal) != condition.as_ref().map(|c| c.signal) {
                    r.condition_since = tx.now;
                }
                let newly_blocked = condition.as_ref().filter(|c| {
                    c.signal == ConditionSignal::Blocked
                        && r.condition.as_ref().map(|o| o.signal) != Some(ConditionSignal::Blocked)
                });
                if let Some(c) = newly_blocked {
                    tx.hook_blocked(worker, c);
                }
                r.condition.clone_from(&condition);
                tx.touch(worker);
                Ok(true)
            })
            .await?;
        if changed {
            match &condition {
                Some(c) => {
                    // Not the detail: a screen's lines may hold anything typed.
                    tracing::warn!(worker = %worker, signal = ?c.signal, detail_bytes = c.detail.len(), "worker condition");
                }
                None => tracing::info!(worker = %worker, "worker condition cleared"),
            }
            self.notify(StreamEvent::WorkerCondition {
                worker: worker.clone(),
                condition,
            });
        }
        Ok(changed)
    }

    /// Activity observation from the manager (also a heartbeat); `Ok(changed)`.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn set_active(&self, worker: &WorkerName, is_active: bool) -> Result<bool> {
        let changed = self
            .write(|st, tx| {
                let Some(entry) = st.workers.get_mut(worker) else {
                    return Ok(false);
                };
                let r = &mut entry.row;
                let changed = r.observed_active != Some(is_active);
                if changed {
                    r.observed_active = Some(is_active);
                    r.active_since = tx.now;
                }
                r.observed_active_at = tx.now;
                r.last_activity = tx.now;
                tx.touch(worker);
                Ok(changed)
            })
            .await?;
        if changed {
            self.notify(StreamEvent::ActiveState {
                worker: worker.clone(),
                is_active,
            });
        }
        Ok(changed)
    }

    /// Sets the recording intent of a known worker.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn set_recording(&self, worker: &WorkerName, enabled: bool) -> Result<()> {
        self.write(|st, tx| {
            let entry = st
                .workers
                .get_mut(worker)
                .ok_or_else(|| Error::NotFound(format!("unknown worker: {worker}")))?;
            entry.row.recording_enabled = enabled;
            tx.touch(worker);
            Ok(())
        })
        .await?;
        // Web UIs move their Rec switch at once.
        self.notify(StreamEvent::Recording {
            worker: worker.clone(),
            enabled,
        });
        Ok(())
    }

    /// Removes a worker with its timeline and permissions; `Ok(existed)`.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn purge(&self, worker: &WorkerName) -> Result<bool> {
        let existed = self
            .write(|st, tx| {
                let Some(mut entry) = st.workers.remove(worker) else {
                    return Ok(false);
                };
                entry.close_streams(SubscriptionEnd::Purged, tx.now);
                st.idem.retain(|(w, _), _| w != worker);
                tx.push(Mutation::DeleteWorker(worker.clone()));
                Ok(true)
            })
            .await?;
        if existed {
            self.notify(StreamEvent::WorkerPurged {
                worker: worker.clone(),
            });
        }
        Ok(existed)
    }

    /// Purges workers that have been offline, and idle, for longer than the
    /// configured maximum age. Offline time counts from the last disconnect
    /// or from this hub's start, so a restart never purges anyone.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn purge_stale(&self) -> Result<Vec<WorkerName>> {
        let max_age = self.inner.config.purge_max_age.as_secs_f64();
        let t = now();
        let stale: Vec<WorkerName> = self
            .lock()
            .workers
            .values()
            .filter(|e| {
                !e.online() && t - e.offline_since > max_age && t - e.row.last_activity > max_age
            })
            .map(|e| e.row.name.clone())
            .collect();
        for w in &stale {
            tracing::info!(worker = %w, "purging stale worker");
            self.purge(w).await?;
        }
        Ok(stale)
    }

    /// The roster, sorted by name.
    pub fn workers(&self) -> Vec<WorkerSummary> {
        let t = now();
        let st = self.lock();
        let mut out: Vec<_> = st.workers.values().map(|e| e.summary(t)).collect();
        drop(st);
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// A page of the roster in name order: up to `limit` rows named after
    /// `after` (from the first without it), and whether more follow.
    pub fn workers_page(&self, after: Option<&str>, limit: usize) -> (Vec<WorkerSummary>, bool) {
        let t = now();
        let st = self.lock();
        let mut names: Vec<&WorkerName> = st
            .workers
            .keys()
            .filter(|n| after.is_none_or(|a| n.as_str() > a))
            .collect();
        names.sort_unstable();
        let more = names.len() > limit;
        let out = names
            .into_iter()
            .take(limit)
            .filter_map(|n| st.workers.get(n).map(|e| e.summary(t)))
            .collect();
        (out, more)
    }

    /// One roster row.
    pub fn worker(&self, worker: &WorkerName) -> Option<WorkerSummary> {
        self.lock().workers.get(worker).map(|e| e.summary(now()))
    }

    /// `tm_status`: state with its reason (`unknown` for an unknown worker).
    pub fn status(&self, worker: &WorkerName) -> WorkerStatus {
        self.lock()
            .workers
            .get(worker)
            .map_or_else(unknown_status, |e| e.status(now()))
    }

    /// Health figures (`disk_mb`, `version` and `git_sha` are the caller's).
    pub fn health_counts(&self) -> Health {
        let st = self.lock();
        let online = st.workers.values().filter(|e| e.online());
        let pending: usize = online.clone().map(|e| e.pending.len()).sum();
        let workers_online = online.filter(|e| !e.row.name.is_manager()).count();
        Health {
            status: "ok".into(),
            service: "tubemail".into(),
            version: String::new(),
            git_sha: String::new(),
            uptime: String::new(),
            disk_mb: 0.0,
            safe_to_restart: pending == 0,
            workers_online,
            workers_total: st.workers.len(),
            pending_permissions: pending,
        }
    }

    /// Presence of a worker, if known.
    pub fn presence(&self, worker: &WorkerName) -> Option<Presence> {
        self.lock().workers.get(worker).map(|e| e.presence())
    }
}
