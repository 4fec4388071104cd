//! Flows (saved messages) and their runs.

use base64::Engine as _;
use serde_json::Value;

use super::{Engine, Error, Result};
use crate::api::RunStarted;
use crate::name::{FlowName, WorkerName, is_valid_run_id};
use crate::store::{Mutation, RunRow};
use crate::wire::{EventKind, Flow, FlowSummary, Meta, RunLog};

/// Most events a run log returns.
const RUN_LOG_LIMIT: usize = 1000;

fn new_run_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::BadRequest(format!("no randomness available: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl Engine {
    /// Saves (or overwrites, keeping `created_at` and `last_run_at`) a flow.
    #[tracing::instrument(level = "debug", skip_all, fields(flow = %name))]
    pub async fn save_flow(
        &self,
        name: FlowName,
        body: String,
        default_worker: Option<WorkerName>,
        meta: Meta,
    ) -> Result<Flow> {
        if body.is_empty() {
            return Err(Error::BadRequest("name and body required".into()));
        }
        self.write(|st, tx| {
            let old = st.flows.get(&name);
            let flow = Flow {
                name: name.clone(),
                body,
                default_worker,
                meta,
                created_at: old.map_or(tx.now, |f| f.created_at),
                updated_at: tx.now,
                last_run_at: old.and_then(|f| f.last_run_at),
            };
            st.flows.insert(name, flow.clone());
            tx.push(Mutation::Flow(flow.clone()));
            Ok(flow)
        })
        .await
    }

    /// Every flow, by name.
    pub fn flows(&self) -> Vec<Flow> {
        self.lock().flows.values().cloned().collect()
    }

    /// Every flow as a summary.
    pub fn flow_summaries(&self) -> Vec<FlowSummary> {
        self.lock().flows.values().map(FlowSummary::from).collect()
    }

    /// Deletes a flow (its run logs stay); `Ok(existed)`.
    #[tracing::instrument(level = "debug", skip_all, fields(flow = %name))]
    pub async fn delete_flow(&self, name: &FlowName) -> Result<bool> {
        self.write(|st, tx| {
            let existed = st.flows.remove(name).is_some();
            if existed {
                tx.push(Mutation::DeleteFlow(name.clone()));
            }
            Ok(existed)
        })
        .await
    }

    /// Runs a flow: sends its body to `worker` (else its default worker)
    /// with the flow's meta overlaid by `meta`, and records the run.
    #[tracing::instrument(level = "debug", skip_all, fields(flow = %name, worker = worker.as_ref().map(tracing::field::display)))]
    pub async fn run_flow(
        &self,
        name: &FlowName,
        worker: Option<WorkerName>,
        meta: Meta,
    ) -> Result<RunStarted> {
        let run_id = new_run_id()?;
        self.write(|st, tx| {
            let flow = st
                .flows
                .get(name)
                .ok_or_else(|| Error::NotFound(format!("flow not found: '{name}'")))?;
            let target = worker
                .or_else(|| flow.default_worker.clone())
                .ok_or_else(|| {
                    Error::BadRequest(
                        "no target worker: pass `worker=` or set a `default_worker` on the flow"
                            .into(),
                    )
                })?;
            let mut all = flow.meta.clone();
            all.extend(meta);
            all.entry("flow_name")
                .or_insert_with(|| Value::String(name.to_string()));
            let body = flow.body.clone();
            let ev = tx.append(st, &target, EventKind::Inbound, body, all, None);
            if let Some(flow) = st.flows.get_mut(name) {
                flow.last_run_at = Some(tx.now);
                tx.push(Mutation::Flow(flow.clone()));
            }
            tx.push(Mutation::Run(RunRow {
                run_id: run_id.clone(),
                flow_name: name.clone(),
                worker: target.clone(),
                started_at: tx.now,
                first_event_id: ev.event_id,
                finished_at: None,
            }));
            Ok(RunStarted {
                ok: true,
                run_id,
                first_event_id: ev.event_id,
                queued_at: ev.ts,
                worker: target,
            })
        })
        .await
    }

    /// A run with the events of its worker from its start to its finish
    /// (or now); `Ok(None)` when unknown.
    #[tracing::instrument(level = "debug", skip_all, fields(run_id = %run_id))]
    pub async fn run_log(&self, run_id: &str) -> Result<Option<RunLog>> {
        if !is_valid_run_id(run_id) {
            return Ok(None);
        }
        let id = run_id.to_owned();
        let Some(run) = self.read(move |s| s.run(&id)).await? else {
            return Ok(None);
        };
        let events = self
            .events_between(
                &run.worker,
                run.first_event_id,
                run.finished_at,
                RUN_LOG_LIMIT,
            )
            .await?;
        Ok(Some(RunLog {
            run_id: run.run_id,
            flow_name: run.flow_name,
            worker: run.worker,
            started_at: run.started_at,
            first_event_id: run.first_event_id,
            finished_at: run.finished_at,
            events,
        }))
    }

    /// Marks a run finished; `Ok(None)` when unknown.
    #[tracing::instrument(level = "debug", skip_all, fields(run_id = %run_id))]
    pub async fn finish_run(&self, run_id: &str) -> Result<Option<f64>> {
        if !is_valid_run_id(run_id) {
            return Ok(None);
        }
        let id = run_id.to_owned();
        let Some(mut run) = self.read(move |s| s.run(&id)).await? else {
            return Ok(None);
        };
        self.write(|_, tx| {
            let at = *run.finished_at.get_or_insert(tx.now);
            tx.push(Mutation::Run(run));
            Ok(Some(at))
        })
        .await
    }
}
