//! The orchestrator's operations on [`Client`].

use reqwest::Method;
use tubemail_core::api::{
    ClearAndSendRequest, ClearAndSendResponse, ControlResponse, EventsResponse, FlowDeleted,
    FlowRunRequest, FlowSaveRequest, FlowSaved, FlowsResponse, InterruptResponse, KeystrokeRequest,
    KeystrokeResponse, PermissionsResponse, PurgeResponse, ReconnectRequest, Reply, ResolveRequest,
    ResolveResponse, RunResponse, RunStarted, ScreenshotResponse, SendRequest, SettingsPatch,
    WorkersResponse,
};
use tubemail_core::command::{ManagerHealth, ReconnectOutcome};
use tubemail_core::{
    Behavior, Event, EventId, Flow, Health, HubConfig, Meta, PendingPermission, RunLog,
    SendReceipt, WorkerName, WorkerStatus, WorkerSummary,
};

use crate::error::Result;
use crate::stream::EventStream;
use crate::transport::{Client, NO_BODY, seg, soft};

impl Client {
    /// `GET /health` (no secret needed, but sent anyway).
    pub async fn health(&self) -> Result<Health> {
        self.get("/health").await
    }

    /// `GET /api/whoami`: what the credential is and may do. `kind` is
    /// `secret` (the shared secret), `worker` (a token acting as `worker`
    /// and its manager only), `operator` (the operator API and MCP) or
    /// `operator-ro` (reads only).
    pub async fn whoami(&self) -> Result<tubemail_core::api::WhoAmI> {
        self.get("/api/whoami").await
    }

    /// The whole roster, in name order (read a page at a time).
    pub async fn workers(&self) -> Result<Vec<WorkerSummary>> {
        let mut all = Vec::new();
        let mut path = "/api/workers".to_owned();
        loop {
            let page = self.get::<WorkersResponse>(&path).await?;
            all.extend(page.workers);
            match page.next {
                Some(after) => path = format!("/api/workers?after={}", seg(&after)),
                None => return Ok(all),
            }
        }
    }

    /// One roster row.
    pub async fn worker(&self, w: &WorkerName) -> Result<WorkerSummary> {
        self.get(&format!("/api/workers/{}", seg(w.as_str()))).await
    }

    /// Sends a message (a harness command goes to the manager). Answered
    /// once the message is on the hub's disk.
    pub async fn send(
        &self,
        w: &WorkerName,
        message: &str,
        meta: Option<Meta>,
    ) -> Result<SendReceipt> {
        self.send_with_key(w, message, meta, None).await
    }

    /// Like [`send`](Self::send); repeating `key` returns the first receipt
    /// (`duplicate: true`) instead of sending twice.
    pub async fn send_with_key(
        &self,
        w: &WorkerName,
        message: &str,
        meta: Option<Meta>,
        key: Option<&str>,
    ) -> Result<SendReceipt> {
        let body = SendRequest {
            message: message.to_owned(),
            meta,
            idempotency_key: key.map(str::to_owned),
        };
        self.post(&format!("/api/workers/{}/send", seg(w.as_str())), &body)
            .await
    }

    /// A worker's timeline after `since` (or the newest `limit`).
    pub async fn events(
        &self,
        w: &WorkerName,
        since: Option<EventId>,
        limit: u32,
    ) -> Result<Vec<Event>> {
        let since = since.map(|s| s.to_string()).unwrap_or_default();
        let path = format!(
            "/api/workers/{}/events?since={since}&limit={limit}",
            seg(w.as_str())
        );
        Ok(self.get::<EventsResponse>(&path).await?.events)
    }

    /// State with its reason and receipts.
    pub async fn status(&self, w: &WorkerName) -> Result<WorkerStatus> {
        self.get(&format!("/api/workers/{}/status", seg(w.as_str())))
            .await
    }

    /// Waits up to `timeout_s` (≤ 300) for events after `since` (or from now).
    pub async fn wait(
        &self,
        w: &WorkerName,
        since: Option<EventId>,
        timeout_s: f64,
    ) -> Result<Vec<Event>> {
        let since = since.map(|s| s.to_string()).unwrap_or_default();
        let path = format!(
            "/api/workers/{}/wait?since={since}&timeout_s={timeout_s}",
            seg(w.as_str())
        );
        Ok(self
            .call::<EventsResponse>(Method::GET, &path, NO_BODY, true)
            .await?
            .events)
    }

    /// Interrupts the worker; the `interrupt` event's id.
    pub async fn interrupt(&self, w: &WorkerName) -> Result<EventId> {
        let r: InterruptResponse = self
            .post_empty(&format!("/api/workers/{}/interrupt", seg(w.as_str())))
            .await?;
        Ok(r.event_id)
    }

    /// Restarts the worker's claude via its manager; the command's event
    /// id (on the manager's timeline).
    pub async fn restart(&self, w: &WorkerName) -> Result<EventId> {
        let r: ControlResponse = self
            .post_empty(&format!("/api/workers/{}/restart", seg(w.as_str())))
            .await?;
        Ok(r.event_id)
    }

    /// Stops the worker via its manager; the command's event id.
    pub async fn stop(&self, w: &WorkerName) -> Result<EventId> {
        let r: ControlResponse = self
            .post_empty(&format!("/api/workers/{}/stop", seg(w.as_str())))
            .await?;
        Ok(r.event_id)
    }

    /// Types keys (`enter`, `esc`, text, …) via the manager; returns the byte count.
    pub async fn keystroke(&self, w: &WorkerName, keys: &str) -> Result<u64> {
        let body = KeystrokeRequest {
            keys: keys.to_owned(),
        };
        let r: KeystrokeResponse = self
            .post(
                &format!("/api/workers/{}/keystroke", seg(w.as_str())),
                &body,
            )
            .await?;
        Ok(r.bytes_sent)
    }

    /// `/clear`, then `/rename <worker>` (when `restore_name`), then the
    /// message, `delay_s` apart. Refused with [`Error::Server`](crate::Error::Server) 409 unless the
    /// worker is idle.
    pub async fn clear_and_send(
        &self,
        w: &WorkerName,
        message: &str,
        delay_s: f64,
        restore_name: bool,
    ) -> Result<ClearAndSendResponse> {
        let body = ClearAndSendRequest {
            message: message.to_owned(),
            delay_s,
            restore_name,
        };
        self.call(
            Method::POST,
            &format!("/api/workers/{}/clear-and-send", seg(w.as_str())),
            Some(&body),
            true,
        )
        .await
    }

    /// Process health from the worker's manager (waits up to 5 s; a
    /// manager that is not connected is a 409 at once, one that does not
    /// answer is [`Error::Server`](crate::Error::Server) 504).
    pub async fn manager_health(&self, w: &WorkerName) -> Result<ManagerHealth> {
        self.get(&format!("/api/workers/{}/health", seg(w.as_str())))
            .await
    }

    /// The screen text from the worker's manager (waits up to 5 s).
    pub async fn screenshot(&self, w: &WorkerName, max_lines: Option<u32>) -> Result<String> {
        let q = max_lines
            .map(|n| format!("?max_lines={n}"))
            .unwrap_or_default();
        let r: ScreenshotResponse = self
            .get(&format!("/api/workers/{}/screenshot{q}", seg(w.as_str())))
            .await?;
        Ok(r.screen)
    }

    /// Asks the worker's manager to reconnect one MCP server (waits up to 30 s).
    pub async fn reconnect_mcp(&self, w: &WorkerName, server: &str) -> Result<ReconnectOutcome> {
        let body = ReconnectRequest {
            server: server.to_owned(),
        };
        self.call(
            Method::POST,
            &format!("/api/workers/{}/reconnect-mcp", seg(w.as_str())),
            Some(&body),
            true,
        )
        .await
    }

    /// Removes a worker with its timeline; `true` if it existed.
    pub async fn purge(&self, w: &WorkerName) -> Result<bool> {
        let r: PurgeResponse = self
            .call(
                Method::DELETE,
                &format!("/api/workers/{}", seg(w.as_str())),
                NO_BODY,
                false,
            )
            .await?;
        Ok(r.ok)
    }

    /// Pending permission prompts (of one worker; of offline ones too).
    pub async fn pending_permissions(
        &self,
        worker: Option<&WorkerName>,
        include_offline: bool,
    ) -> Result<Vec<PendingPermission>> {
        let mut path = format!("/api/permissions?include_offline={include_offline}");
        if let Some(w) = worker {
            path.push_str(&format!("&worker={}", seg(w.as_str())));
        }
        Ok(self.get::<PermissionsResponse>(&path).await?.pending)
    }

    /// Answers a prompt; `false` when it was not pending.
    pub async fn resolve_permission(
        &self,
        w: &WorkerName,
        request_id: &str,
        behavior: Behavior,
    ) -> Result<bool> {
        let body = ResolveRequest {
            worker: w.as_str().to_owned(),
            request_id: request_id.to_owned(),
            behavior: behavior.as_str().to_owned(),
        };
        let r: ResolveResponse = self.post("/api/permissions/resolve", &body).await?;
        Ok(r.ok)
    }

    /// Hub settings.
    pub async fn settings(&self) -> Result<HubConfig> {
        self.get("/api/settings").await
    }

    /// Updates hub settings; returns them all.
    pub async fn update_settings(&self, patch: &SettingsPatch) -> Result<HubConfig> {
        self.call(Method::PUT, "/api/settings", Some(patch), false)
            .await
    }

    /// Every flow.
    pub async fn flows(&self) -> Result<Vec<Flow>> {
        Ok(self.get::<FlowsResponse>("/api/flows").await?.flows)
    }

    /// Saves a flow.
    pub async fn save_flow(
        &self,
        name: &str,
        body: &str,
        default_worker: Option<&WorkerName>,
        meta: Option<Meta>,
    ) -> Result<Flow> {
        let req = FlowSaveRequest {
            name: name.to_owned(),
            body: body.to_owned(),
            default_worker: default_worker.map(|w| w.as_str().to_owned()),
            meta,
        };
        let r: Reply<FlowSaved> = self.post("/api/flows", &req).await?;
        Ok(soft(r)?.flow)
    }

    /// Runs a flow: the run id, the message it sent and where.
    pub async fn run_flow(
        &self,
        name: &str,
        worker: Option<&WorkerName>,
        meta: Option<Meta>,
    ) -> Result<RunStarted> {
        let r: Reply<RunStarted> = self
            .post(
                &format!("/api/flows/{}/run", seg(name)),
                &FlowRunRequest {
                    worker: worker.map(|w| w.as_str().to_owned()),
                    meta,
                },
            )
            .await?;
        soft(r)
    }

    /// A run with its worker's events.
    pub async fn run_log(&self, run_id: &str) -> Result<RunLog> {
        let r: Reply<RunResponse> = self
            .get(&format!("/api/flows/runs/{}", seg(run_id)))
            .await?;
        Ok(soft(r)?.run)
    }

    /// Deletes a flow; `true` if it existed.
    pub async fn delete_flow(&self, name: &str) -> Result<bool> {
        let r: FlowDeleted = self
            .call(
                Method::DELETE,
                &format!("/api/flows/{}", seg(name)),
                NO_BODY,
                false,
            )
            .await?;
        Ok(r.ok)
    }

    /// A worker's own stream (what its channel reads), resuming after
    /// `since` when given, else after what the worker's last stream got.
    pub async fn worker_stream(
        &self,
        w: &WorkerName,
        since: Option<EventId>,
    ) -> Result<EventStream> {
        EventStream::open(
            self.clone(),
            format!("/tubemail/{}/stream", seg(w.as_str())),
            since,
        )
        .await
    }

    /// Every worker's events and status notices, from after `since` (or
    /// from this call).
    pub async fn global_stream(&self, since: Option<EventId>) -> Result<EventStream> {
        EventStream::open(self.clone(), "/api/events/stream".to_owned(), since).await
    }
}
