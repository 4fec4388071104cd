//! Timeline operations: sends, replies, interrupts, control commands,
//! reads and waits.

use std::time::Duration;

use serde_json::Value;

use super::{Engine, Error, Result};
use crate::api::{ClearAndSendResponse, ClearAndSendRoutes};
use crate::command::ManagerCommand;
use crate::name::WorkerName;
use crate::store::EventQuery;
use crate::wire::{
    Appended, ConditionSignal, Event, EventId, EventKind, Meta, SendReceipt, Timestamp,
    WorkerState, is_harness_command, keystroke_bytes,
};

/// Where a read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// The newest `limit` events.
    Newest,
    /// Events strictly after this one.
    After(EventId),
}

/// What a control command that expects an answer got.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlOutcome {
    /// The manager answered with this event.
    Answered(Event),
    /// No answer in time; the command's own event id.
    TimedOut(EventId),
}

/// How long a manager has to answer a health check or a screenshot
/// (the original's 5 s).
pub const MANAGER_REPLY: Duration = Duration::from_secs(5);
/// How long a manager has to answer an MCP reconnect (the original's 30 s).
pub const RECONNECT_REPLY: Duration = Duration::from_secs(30);

const ROUTED_WORKER: &str = "worker (tubemail channel)";
const ROUTED_MANAGER: &str = "manager (harness command)";

fn kind_meta(kind: &str) -> Meta {
    let mut meta = Meta::new();
    meta.insert("kind".into(), Value::String(kind.to_owned()));
    meta
}

impl Engine {
    /// Appends an event; with an idempotency key that was used before on
    /// this worker, returns the first event instead (`true` = duplicate).
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker, kind = %kind.as_str()))]
    pub async fn append(
        &self,
        worker: &WorkerName,
        kind: EventKind,
        content: String,
        meta: Meta,
        idem_key: Option<String>,
    ) -> Result<(Event, bool)> {
        if let Some(key) = &idem_key {
            let hit = self
                .lock()
                .idem
                .get(&(worker.clone(), key.clone()))
                .cloned();
            if let Some(ev) = hit {
                return Ok((ev, true));
            }
            let (w, k) = (worker.clone(), key.clone());
            if let Some(ev) = self.read(move |s| s.find_idempotent(&w, &k)).await? {
                return Ok((ev, true));
            }
        }
        let (ev, duplicate) = self
            .write(|st, tx| {
                if let Some(key) = &idem_key
                    && let Some(ev) = st.idem.get(&(worker.clone(), key.clone()))
                {
                    return Ok((ev.clone(), true));
                }
                let ev = tx.append(st, worker, kind, content, meta, idem_key.clone());
                if let Some(key) = idem_key {
                    st.remember_idem(worker, key, ev.clone());
                }
                Ok((ev, false))
            })
            .await?;
        // The line that ties an event id to the request that made it.
        tracing::debug!(event_id = %ev.event_id, duplicate, "event stored");
        Ok((ev, duplicate))
    }

    /// `tm_send`: a message to a worker, or a harness command (`/compact`,
    /// …) to its manager, which types it into the TUI.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn send(
        &self,
        worker: &WorkerName,
        message: String,
        meta: Meta,
        idem_key: Option<String>,
    ) -> Result<SendReceipt> {
        let idem_key = idem_key.or_else(|| {
            meta.get("idempotency_key")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let (target, meta, routed) = if is_harness_command(&message) {
            let kind = ManagerCommand::Type(message.clone()).kind();
            (worker.manager()?, kind_meta(&kind), ROUTED_MANAGER)
        } else {
            (worker.clone(), meta, ROUTED_WORKER)
        };
        let (ev, duplicate) = self
            .append(&target, EventKind::Inbound, message, meta, idem_key)
            .await?;
        let warning = self.undeliverable(&target);
        Ok(SendReceipt {
            event_id: ev.event_id,
            queued_at: ev.ts,
            routed_to: routed.into(),
            worker: target,
            duplicate,
            warning,
        })
    }

    /// Why a message to `worker` cannot reach its session yet, if it
    /// cannot: a condition its worker side reported.
    fn undeliverable(&self, worker: &WorkerName) -> Option<String> {
        let st = self.lock();
        let c = st.workers.get(worker)?.row.condition.as_ref()?;
        let why = match c.signal {
            ConditionSignal::ChannelUnavailable => {
                "stored, but it cannot be delivered yet: Claude Code did not take this \
                 worker's channel"
            }
            ConditionSignal::Blocked => {
                "stored, but it cannot be delivered yet: the worker's terminal is blocked by \
                 a screen its manager does not know"
            }
        };
        Some(if c.detail.is_empty() {
            why.to_owned()
        } else {
            format!("{why} ({})", c.detail.lines().next().unwrap_or_default())
        })
    }

    /// A reply from the worker. Afterwards, permissions the reply proves
    /// answered are swept (the original's auto-sweep).
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn outbound(
        &self,
        worker: &WorkerName,
        text: String,
        meta: Meta,
    ) -> Result<Appended> {
        let idem = meta
            .get("idempotency_key")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let (ev, _) = self
            .append(worker, EventKind::Outbound, text, meta, idem)
            .await?;
        self.sweep_permissions(Some(worker)).await?;
        Ok(Appended {
            event_id: ev.event_id,
            ts: ev.ts,
        })
    }

    /// Asks the worker to stop what it is doing.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn interrupt(&self, worker: &WorkerName) -> Result<Appended> {
        let (ev, _) = self
            .append(
                worker,
                EventKind::Interrupt,
                String::new(),
                Meta::new(),
                None,
            )
            .await?;
        Ok(Appended {
            event_id: ev.event_id,
            ts: ev.ts,
        })
    }

    /// A command to the worker's manager, filed on the manager's timeline.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker, kind = %command.kind()))]
    pub async fn control(
        &self,
        worker: &WorkerName,
        command: &ManagerCommand,
    ) -> Result<SendReceipt> {
        self.control_as(worker, command, command.content()).await
    }

    /// Like [`control`](Self::control), with the event's text given.
    async fn control_as(
        &self,
        worker: &WorkerName,
        command: &ManagerCommand,
        content: String,
    ) -> Result<SendReceipt> {
        let target = worker.manager()?;
        let meta = kind_meta(&command.kind());
        let (ev, _) = self
            .append(&target, EventKind::Inbound, content, meta, None)
            .await?;
        Ok(SendReceipt {
            event_id: ev.event_id,
            queued_at: ev.ts,
            routed_to: target.to_string(),
            worker: target,
            duplicate: false,
            warning: None,
        })
    }

    /// Sends a command that gets an answer and waits for the manager's
    /// outbound of the answer's kind, anchored after the command so an
    /// older answer is never taken for this one.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker, kind = %command.kind()))]
    pub async fn control_and_wait(
        &self,
        worker: &WorkerName,
        command: &ManagerCommand,
        timeout: Duration,
    ) -> Result<ControlOutcome> {
        let Some(reply_kind) = command.reply_kind() else {
            return Err(Error::BadRequest(format!(
                "{} gets no answer from the manager",
                command.kind()
            )));
        };
        let sent = self.control(worker, command).await?;
        let reply = self
            .wait_for_match(&sent.worker, sent.event_id, timeout, |e| {
                e.kind == EventKind::Outbound
                    && e.meta.get("kind").and_then(Value::as_str) == Some(reply_kind)
            })
            .await?;
        Ok(reply.map_or(
            ControlOutcome::TimedOut(sent.event_id),
            ControlOutcome::Answered,
        ))
    }

    /// `tm_health`: asks the manager for process health (`health_response`).
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn health_check(&self, worker: &WorkerName) -> Result<ControlOutcome> {
        self.control_and_wait(worker, &ManagerCommand::HealthCheck, MANAGER_REPLY)
            .await
    }

    /// `tm_screenshot`: asks the manager for the screen text (`screenshot:<N>`
    /// when a line count is given; the original dropped it).
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn screenshot(
        &self,
        worker: &WorkerName,
        max_lines: Option<u32>,
    ) -> Result<ControlOutcome> {
        self.control_and_wait(
            worker,
            &ManagerCommand::Screenshot(
                max_lines.map(|n| n.clamp(1, crate::limits::MAX_SCREENSHOT_LINES)),
            ),
            MANAGER_REPLY,
        )
        .await
    }

    /// `tm_reconnect_mcp`: asks the manager to reconnect one MCP server.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn reconnect_mcp(&self, worker: &WorkerName, server: &str) -> Result<ControlOutcome> {
        if server.trim().is_empty() {
            return Err(Error::BadRequest(
                "server must name one of the worker's MCP servers".into(),
            ));
        }
        let command = ManagerCommand::ReconnectMcp(server.trim().to_owned());
        self.control_and_wait(worker, &command, RECONNECT_REPLY)
            .await
    }

    /// `tm_keystroke`: keys typed by the manager; also returns the byte count.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn keystroke(&self, worker: &WorkerName, keys: &str) -> Result<(SendReceipt, usize)> {
        let bytes = keystroke_bytes(keys);
        if bytes.is_empty() {
            return Err(Error::BadRequest(
                "keys must name at least one key, e.g. \"esc\" or \"y enter\"".into(),
            ));
        }
        let n = bytes.len();
        let sent = self
            .control_as(
                worker,
                &ManagerCommand::Keys(bytes),
                format!("keystroke:{keys}"),
            )
            .await?;
        Ok((sent, n))
    }

    /// `tm_update_manager`: refused (`Err(state)`) unless the worker is idle
    /// or `force` is set.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn update_manager(
        &self,
        worker: &WorkerName,
        force: bool,
    ) -> Result<std::result::Result<SendReceipt, WorkerState>> {
        if !force && let Err(state) = self.idle_gate(worker) {
            return Ok(Err(state));
        }
        Ok(Ok(self
            .control(worker, &ManagerCommand::UpdateManager)
            .await?))
    }

    /// Reads a worker's timeline, at most `limit` events (bounded by
    /// [`MAX_EVENTS_PER_READ`](crate::limits::MAX_EVENTS_PER_READ)).
    /// `strict` refuses a `since` that is not an event of this worker;
    /// otherwise (the original's compatibility rule) an unknown `since`
    /// reads from the beginning.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn events(
        &self,
        worker: &WorkerName,
        since: Option<&str>,
        limit: usize,
        strict: bool,
    ) -> Result<Vec<Event>> {
        let limit = limit.clamp(1, crate::limits::MAX_EVENTS_PER_READ);
        let since = match since.filter(|s| !s.is_empty()) {
            None => Since::Newest,
            Some(s) => match EventId::parse(s) {
                Some(id) if !strict || self.check_cursor(worker, id).await.is_ok() => {
                    Since::After(id)
                }
                _ if strict => {
                    return Err(Error::BadRequest(format!(
                        "unknown since: {s:?} is not an event id of worker {worker}"
                    )));
                }
                _ => Since::After(EventId(0)),
            },
        };
        let q = EventQuery {
            worker: Some(worker.clone()),
            after: match since {
                Since::After(id) => id.0,
                Since::Newest => 0,
            },
            limit,
            newest: since == Since::Newest,
            ..EventQuery::default()
        };
        let rows = self.read(move |s| s.events(&q)).await?;
        Ok(rows.into_iter().map(|r| r.event).collect())
    }

    /// The newest `limit` events of a worker strictly before `before`,
    /// oldest first: the page above one already read, for a reader that
    /// walks a long timeline backwards (the web UI). `before` must be an
    /// event of this worker.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn events_before(
        &self,
        worker: &WorkerName,
        before: &str,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let id = match EventId::parse(before) {
            Some(id) if self.check_cursor(worker, id).await.is_ok() => id,
            _ => {
                return Err(Error::BadRequest(format!(
                    "unknown before: {before:?} is not an event id of worker {worker}"
                )));
            }
        };
        let q = EventQuery {
            worker: Some(worker.clone()),
            before: Some(id.0),
            limit: limit.clamp(1, crate::limits::MAX_EVENTS_PER_READ),
            newest: true,
            ..EventQuery::default()
        };
        let rows = self.read(move |s| s.events(&q)).await?;
        Ok(rows.into_iter().map(|r| r.event).collect())
    }

    /// Events of a worker between two points (run logs).
    pub(crate) async fn events_between(
        &self,
        worker: &WorkerName,
        from: EventId,
        until: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let q = EventQuery {
            worker: Some(worker.clone()),
            after: from.0.saturating_sub(1),
            until_ts: until,
            limit,
            ..EventQuery::default()
        };
        let rows = self.read(move |s| s.events(&q)).await?;
        Ok(rows.into_iter().map(|r| r.event).collect())
    }

    /// Waits until the worker's timeline has events after `since` (or, with
    /// no `since`, after now) and returns them; empty after `timeout`.
    /// Wakes on the commit, not by polling.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn wait_for_activity(
        &self,
        worker: &WorkerName,
        since: Option<EventId>,
        timeout: Duration,
    ) -> Result<Vec<Event>> {
        let cursor = match since {
            Some(id) => {
                self.check_cursor(worker, id).await?;
                id
            }
            None => EventId(self.published_seq(worker)),
        };
        let timeout = timeout.min(self.inner.config.max_wait);
        let found = self
            .wait_inner(worker, cursor, timeout, |_| true, true)
            .await?;
        Ok(found)
    }

    /// Waits for the first event after `after` that matches `pred`.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn wait_for_match(
        &self,
        worker: &WorkerName,
        after: EventId,
        timeout: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Result<Option<Event>> {
        let timeout = timeout.min(self.inner.config.max_wait);
        let found = self.wait_inner(worker, after, timeout, pred, false).await?;
        Ok(found.into_iter().next())
    }

    /// Shared wait loop: returns all matching events of the first batch that
    /// has any (`all`), or just the first match.
    async fn wait_inner(
        &self,
        worker: &WorkerName,
        mut cursor: EventId,
        timeout: Duration,
        pred: impl Fn(&Event) -> bool,
        all: bool,
    ) -> Result<Vec<Event>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut committed = self.inner.committed.subscribe();
        loop {
            committed.borrow_and_update();
            let batch = self.timeline_after(worker, cursor.0, false).await?;
            if let Some(last) = batch.last() {
                cursor = last.event.event_id;
            }
            let hits: Vec<Event> = batch
                .iter()
                .filter(|r| pred(&r.event))
                .take(if all { usize::MAX } else { 1 })
                .map(|r| r.event.clone())
                .collect();
            if !hits.is_empty() {
                return Ok(hits);
            }
            tokio::select! {
                r = committed.changed() => if r.is_err() { return Err(Error::ShuttingDown) },
                () = tokio::time::sleep_until(deadline) => return Ok(Vec::new()),
            }
        }
    }

    fn published_seq(&self, worker: &WorkerName) -> u64 {
        self.lock().workers.get(worker).map_or(0, |e| e.ring_last())
    }

    /// Checks the original's idle gate; `Err(state)` when not idle.
    pub fn idle_gate(&self, worker: &WorkerName) -> std::result::Result<(), WorkerState> {
        match self.status(worker).state {
            WorkerState::Idle => Ok(()),
            s => Err(s),
        }
    }

    /// `tm_clear_and_send`: `/clear`, optionally `/rename <worker>`, then the
    /// message, `delay_s` seconds apart (at most
    /// [`MAX_CLEAR_DELAY_S`](crate::limits::MAX_CLEAR_DELAY_S)). Refused
    /// unless the worker is idle.
    #[tracing::instrument(level = "debug", skip_all, fields(worker = %worker))]
    pub async fn clear_and_send(
        &self,
        worker: &WorkerName,
        message: String,
        delay_s: f64,
        restore_name: bool,
    ) -> Result<std::result::Result<ClearAndSendResponse, WorkerState>> {
        if !crate::limits::valid_clear_delay(delay_s) {
            return Err(Error::BadRequest(format!(
                "delay_s must be between 0 and {}",
                crate::limits::MAX_CLEAR_DELAY_S
            )));
        }
        let delay = Duration::from_secs_f64(delay_s);
        if let Err(state) = self.idle_gate(worker) {
            return Ok(Err(state));
        }
        let manager = worker.manager()?;
        let clear = self.control(worker, &ManagerCommand::Clear).await?;
        tokio::time::sleep(delay).await;
        let rename = if restore_name {
            let r = self
                .control(worker, &ManagerCommand::Rename(worker.clone()))
                .await?;
            tokio::time::sleep(delay).await;
            Some(r.event_id)
        } else {
            None
        };
        let msg = self.send(worker, message, Meta::new(), None).await?;
        Ok(Ok(ClearAndSendResponse {
            clear_event_id: clear.event_id,
            rename_event_id: rename,
            message_event_id: msg.event_id,
            delay_s: delay.as_secs_f64(),
            restored_name: restore_name,
            routed_to: ClearAndSendRoutes {
                rename: rename.map(|_| manager.clone()),
                clear: manager,
                message: worker.clone(),
            },
        }))
    }
}
