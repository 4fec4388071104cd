//! Permission prompts: pending, resolved, swept.

use std::collections::BTreeMap;

use serde_json::Value;

use super::state::State;
use super::writer::Tx;
use super::{Engine, Error, Result};
use crate::api::PermissionRequestBody;
use crate::name::WorkerName;
use crate::store::{Mutation, PermissionRow};
use crate::stream::{ClearedReason, StreamEvent};
use crate::wire::{
    Appended, Behavior, EventId, EventKind, Meta, PendingPermission, RuleRef, RuleVerdict,
    Timestamp,
};

impl Engine {
    /// Records a permission request (idempotent per request id) and lets
    /// the rules decide it: `allow` or `deny` answers it at once, in the same
    /// commit as the request (the response event carries `decided_by:
    /// "rule"` and the rule); `ask` leaves it pending, with a deadline when
    /// the rule or the settings give a timeout.
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
        let config = self.hub_config();
        let cwd = self.worker_cwd(worker.as_str());
        let decision = self.rule_set().decide(
            worker.as_str(),
            &cwd,
            &ask.tool_name,
            &ask.input_preview,
            &config,
        );
        let (appended, has_deadline) = self
            .write(|st, tx| {
                let entry = st.entry(worker, tx.now, tx.recording_default);
                if let Some(p) = entry
                    .pending
                    .iter()
                    .find(|p| p.ask.request_id == ask.request_id)
                {
                    let at = Appended {
                        event_id: EventId(p.event_seq.unwrap_or(0)),
                        ts: p.requested_at,
                    };
                    return Ok((at, false));
                }
                if let Some((_, at)) = entry.decided.iter().find(|(id, _)| *id == ask.request_id) {
                    return Ok((*at, false));
                }
                let answer = match decision.verdict {
                    RuleVerdict::Allow => Some(Behavior::Allow),
                    RuleVerdict::Deny => Some(Behavior::Deny),
                    RuleVerdict::Ask => None,
                };
                if answer.is_none() && entry.pending.len() >= cap {
                    return Err(Error::Limit(format!(
                        "worker {worker} has {cap} open permission prompts; answer some first"
                    )));
                }
                let deadline = (answer.is_none() && decision.timeout_secs > 0)
                    .then_some(tx.now + decision.timeout_secs as f64);
                let rule = decision.rule.as_ref().map(rule_meta);
                let mut meta = Meta::new();
                meta.insert("request_id".into(), Value::String(ask.request_id.clone()));
                meta.insert("description".into(), Value::String(ask.description.clone()));
                meta.insert(
                    "input_preview".into(),
                    Value::String(ask.input_preview.clone()),
                );
                if let Some(r) = &rule {
                    meta.insert("rule".into(), r.clone());
                    meta.insert("verdict".into(), decision.verdict.as_str().into());
                }
                if let Some(d) = deadline {
                    meta.insert("deadline".into(), d.into());
                    meta.insert(
                        "default_answer".into(),
                        decision.default_answer.as_str().into(),
                    );
                }
                let ev = tx.append(
                    st,
                    worker,
                    EventKind::PermissionRequest,
                    ask.tool_name.clone(),
                    meta,
                    None,
                );
                let at = Appended {
                    event_id: ev.event_id,
                    ts: ev.ts,
                };
                if let Some(behavior) = answer {
                    let mut meta = Meta::new();
                    meta.insert("decided_by".into(), "rule".into());
                    if let Some(r) = rule {
                        meta.insert("rule".into(), r);
                    }
                    tx.answer_event(st, worker, &ask.request_id, behavior, meta);
                    tracing::info!(
                        worker = %worker,
                        request_id = %ask.request_id,
                        tool = %ask.tool_name,
                        behavior = behavior.as_str(),
                        rule = decision.rule.as_ref().map(|r| r.id.as_str()).unwrap_or(""),
                        "permission decided by rule"
                    );
                    let entry = st.entry(worker, tx.now, false);
                    if entry.decided.len() >= super::state::DECIDED_KEPT {
                        entry.decided.pop_front();
                    }
                    entry.decided.push_back((ask.request_id.clone(), at));
                    return Ok((at, false));
                }
                let row = PermissionRow {
                    worker: worker.clone(),
                    ask,
                    requested_at: ev.ts,
                    event_seq: Some(ev.event_id.0),
                    deadline,
                    default_answer: deadline.map(|_| decision.default_answer),
                    rule: decision.rule.clone(),
                };
                tx.push(Mutation::Permission(row.clone()));
                st.entry(worker, tx.now, false).pending.push(row);
                Ok((at, deadline.is_some()))
            })
            .await?;
        if has_deadline {
            self.inner.deadlines.notify_one();
        }
        Ok(appended)
    }

    /// The nearest deadline of a pending prompt, if any has one.
    pub fn next_permission_deadline(&self) -> Option<Timestamp> {
        let st = self.lock();
        st.workers
            .values()
            .flat_map(|e| e.pending.iter().filter_map(|p| p.deadline))
            .min_by(f64::total_cmp)
    }

    /// Resolves when a prompt with a deadline has been recorded since the
    /// last call (for the expiry task to recompute its sleep).
    pub async fn permission_deadline_added(&self) {
        self.inner.deadlines.notified().await;
    }

    /// Answers every pending prompt whose deadline has passed with its
    /// default answer: a `permission_response` event with `decided_by:
    /// "expiry"` (and the rule that sent it to a person, if one did).
    /// Returns how many it answered.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn expire_permissions(&self) -> Result<usize> {
        let expired = self
            .write(|st, tx| {
                let mut due = Vec::new();
                for entry in st.workers.values_mut() {
                    entry.pending.retain(|p| {
                        let expired = p.deadline.is_some_and(|d| d <= tx.now);
                        if expired {
                            due.push(p.clone());
                        }
                        !expired
                    });
                }
                for p in &due {
                    tx.push(Mutation::DeletePermission(
                        p.worker.clone(),
                        p.ask.request_id.clone(),
                    ));
                    let behavior = p.default_answer.unwrap_or(Behavior::Deny);
                    let mut meta = Meta::new();
                    meta.insert("decided_by".into(), "expiry".into());
                    if let Some(d) = p.deadline {
                        meta.insert("deadline".into(), d.into());
                    }
                    if let Some(r) = &p.rule {
                        meta.insert("rule".into(), rule_meta(r));
                    }
                    tx.answer_event(st, &p.worker, &p.ask.request_id, behavior, meta);
                    tracing::info!(
                        worker = %p.worker,
                        request_id = %p.ask.request_id,
                        behavior = behavior.as_str(),
                        "permission prompt expired; default answer given"
                    );
                }
                Ok(due.len())
            })
            .await?;
        Ok(expired)
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
        self.answer(worker, request_id, behavior, None).await
    }

    /// Answers a pending prompt, saying who decided in the answer's meta
    /// (`decided_by`) when `decided_by` is given.
    pub(crate) async fn answer(
        &self,
        worker: &WorkerName,
        request_id: &str,
        behavior: Behavior,
        decided_by: Option<&str>,
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
            if let Some(by) = decided_by {
                meta.insert("decided_by".into(), Value::String(by.to_owned()));
            }
            tx.answer_event(st, worker, request_id, behavior, meta);
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

impl Tx {
    /// Appends the `permission_response` event answering `request_id`
    /// (what the worker's channel hands to Claude Code); `meta` says who
    /// decided, and why.
    fn answer_event(
        &mut self,
        st: &mut State,
        worker: &WorkerName,
        request_id: &str,
        behavior: Behavior,
        mut meta: Meta,
    ) {
        meta.insert("request_id".into(), Value::String(request_id.to_owned()));
        self.append(
            st,
            worker,
            EventKind::PermissionResponse,
            behavior.as_str().into(),
            meta,
            None,
        );
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

/// A rule as event meta carries it.
fn rule_meta(r: &RuleRef) -> Value {
    serde_json::to_value(r).unwrap_or(Value::Null)
}
