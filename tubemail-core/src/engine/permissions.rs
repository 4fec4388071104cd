//! Permission prompts: pending, resolved, swept.

use std::collections::BTreeMap;

use serde_json::Value;

use super::state::State;
use super::{Engine, Error, Result};
use crate::api::PermissionRequestBody;
use crate::name::WorkerName;
use crate::store::{Mutation, PermissionRow};
use crate::stream::{ClearedReason, StreamEvent};
use crate::wire::{Appended, Behavior, EventId, EventKind, Meta, PendingPermission, Timestamp};

impl Engine {
    /// Records a permission request (idempotent per request id).
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn permission_request(
        &self,
        worker: &WorkerName,
        ask: PermissionRequestBody,
    ) -> Result<Appended> {
        if ask.request_id.is_empty() {
            return Err(Error::BadRequest("request_id must not be empty".into()));
        }
        let cap = self.inner.config.max_pending_permissions;
        self.write(|st, tx| {
            let entry = st.entry(worker, tx.now, tx.recording_default);
            if let Some(p) = entry
                .pending
                .iter()
                .find(|p| p.ask.request_id == ask.request_id)
            {
                return Ok(Appended {
                    event_id: EventId(p.event_seq.unwrap_or(0)),
                    ts: p.requested_at,
                });
            }
            if entry.pending.len() >= cap {
                return Err(Error::Limit(format!(
                    "worker {worker} has {cap} open permission prompts; answer some first"
                )));
            }
            let mut meta = Meta::new();
            meta.insert("request_id".into(), Value::String(ask.request_id.clone()));
            meta.insert("description".into(), Value::String(ask.description.clone()));
            meta.insert(
                "input_preview".into(),
                Value::String(ask.input_preview.clone()),
            );
            let ev = tx.append(
                st,
                worker,
                EventKind::PermissionRequest,
                ask.tool_name.clone(),
                meta,
                None,
            );
            let row = PermissionRow {
                worker: worker.clone(),
                ask,
                requested_at: ev.ts,
                event_seq: Some(ev.event_id.0),
            };
            tx.push(Mutation::Permission(row.clone()));
            st.entry(worker, tx.now, false).pending.push(row);
            Ok(Appended {
                event_id: ev.event_id,
                ts: ev.ts,
            })
        })
        .await
    }

    /// Answers a pending prompt; `Ok(false)` when it is not pending. The
    /// answer is a `permission_response` event, which the worker's stream
    /// carries to its channel.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker, request_id = %request_id))]
    pub async fn resolve_permission(
        &self,
        worker: &WorkerName,
        request_id: &str,
        behavior: Behavior,
    ) -> Result<bool> {
        self.write(|st, tx| {
            let Some(entry) = st.workers.get_mut(worker) else {
                return Ok(false);
            };
            let Some(pos) = entry
                .pending
                .iter()
                .position(|p| p.ask.request_id == request_id)
            else {
                return Ok(false);
            };
            entry.pending.remove(pos);
            tx.push(Mutation::DeletePermission(
                worker.clone(),
                request_id.to_owned(),
            ));
            let mut meta = Meta::new();
            meta.insert("request_id".into(), Value::String(request_id.to_owned()));
            tx.append(
                st,
                worker,
                EventKind::PermissionResponse,
                behavior.as_str().into(),
                meta,
                None,
            );
            Ok(true)
        })
        .await
    }

    /// Pending prompts, oldest first; `online_only` hides workers whose
    /// channel is not connected (as `/api/permissions`).
    pub fn pending_permissions(
        &self,
        worker: Option<&WorkerName>,
        online_only: bool,
    ) -> Vec<PendingPermission> {
        let st = self.lock();
        let mut out: Vec<PendingPermission> = st
            .workers
            .values()
            .filter(|e| worker.is_none_or(|w| *w == e.row.name))
            .filter(|e| !online_only || e.online())
            .flat_map(|e| {
                let online = e.online();
                e.pending.iter().map(move |p| p.pending(online))
            })
            .collect();
        drop(st);
        out.sort_by(|a, b| a.requested_at.total_cmp(&b.requested_at));
        out
    }

    /// Drops prompts proven answered: a later outbound or permission
    /// response exists and the request is over a minute old, or (with no
    /// request event) the worker has been quiet for a minute. Returns the
    /// counts per worker (non-zero only).
    #[tracing::instrument(level = "debug", skip_all, fields(worker = worker.map(tracing::field::display)))]
    pub async fn sweep_permissions(
        &self,
        worker: Option<&WorkerName>,
    ) -> Result<BTreeMap<WorkerName, usize>> {
        let grace = self.inner.config.sweep_grace.as_secs_f64();
        let swept = self
            .write(|st, tx| Ok(sweep(st, worker, tx.now, grace, |m| tx.push(m))))
            .await?;
        let mut counts = BTreeMap::new();
        for (w, ids) in swept {
            counts.insert(w.clone(), ids.len());
            tracing::info!(worker = %w, count = ids.len(), "swept permissions proven answered");
            self.notify(StreamEvent::PermissionsCleared {
                worker: w,
                request_ids: ids,
                reason: ClearedReason::ProvenResolved,
            });
        }
        Ok(counts)
    }
}

fn sweep(
    st: &mut State,
    only: Option<&WorkerName>,
    now: Timestamp,
    grace: f64,
    mut persist: impl FnMut(Mutation),
) -> Vec<(WorkerName, Vec<String>)> {
    let mut out = Vec::new();
    for entry in st.workers.values_mut() {
        if only.is_some_and(|w| *w != entry.row.name) || entry.pending.is_empty() {
            continue;
        }
        let answered = entry.row.last_answer_seq;
        let quiet = now - entry.row.last_activity > grace;
        let mut dropped = Vec::new();
        entry.pending.retain(|p| {
            let proven = match p.event_seq {
                Some(seq) => answered > seq && now - p.requested_at >= grace,
                None => quiet,
            };
            if proven {
                dropped.push(p.ask.request_id.clone());
            }
            !proven
        });
        for id in &dropped {
            persist(Mutation::DeletePermission(
                entry.row.name.clone(),
                id.clone(),
            ));
        }
        if !dropped.is_empty() {
            out.push((entry.row.name.clone(), dropped));
        }
    }
    out
}
