//! What a worker's channel or manager calls (the original `/tubemail/*`
//! protocol).

use serde_json::Value;
use tubemail_core::api::{
    ActiveRequest, ChangedResponse, ConditionRequest, ContextPctRequest, DeliveredRequest,
    OkResponse, OutboundRequest, PermissionRequestBody, PermissionResponseBody, PtyTicket,
    PtyTicketRequest, RegisterRequest, RegisterResponse, Reply,
};
use tubemail_core::{Appended, Behavior, EventId, Meta, WorkerCondition, WorkerName};

use crate::error::{Error, Result};
use crate::transport::{Client, seg, soft};

impl Client {
    /// Registers (or re-registers) a worker.
    pub async fn register(
        &self,
        w: &WorkerName,
        req: &RegisterRequest,
    ) -> Result<RegisterResponse> {
        self.post(&format!("/tubemail/{}/register", seg(w.as_str())), req)
            .await
    }

    /// Posts a reply from the worker.
    pub async fn outbound(
        &self,
        w: &WorkerName,
        text: &str,
        meta: Option<Meta>,
    ) -> Result<Appended> {
        let body = OutboundRequest {
            text: text.to_owned(),
            meta: meta.unwrap_or_default(),
        };
        self.post(&format!("/tubemail/{}/outbound", seg(w.as_str())), &body)
            .await
    }

    /// Relays a permission prompt.
    pub async fn permission_request(
        &self,
        w: &WorkerName,
        request_id: &str,
        tool_name: &str,
        description: &str,
        input_preview: &str,
    ) -> Result<Appended> {
        let body = PermissionRequestBody {
            request_id: request_id.to_owned(),
            tool_name: tool_name.to_owned(),
            description: description.to_owned(),
            input_preview: input_preview.to_owned(),
        };
        self.post(
            &format!("/tubemail/{}/permission-request", seg(w.as_str())),
            &body,
        )
        .await
    }

    /// Reports a prompt answered at the worker; `false` when not pending.
    pub async fn permission_response(
        &self,
        w: &WorkerName,
        request_id: &str,
        behavior: Behavior,
    ) -> Result<bool> {
        let body = PermissionResponseBody {
            request_id: request_id.to_owned(),
            behavior,
        };
        let r: OkResponse = self
            .post(
                &format!("/tubemail/{}/permission-response", seg(w.as_str())),
                &body,
            )
            .await?;
        Ok(r.ok)
    }

    /// Reports context window use (the manager posts under the worker's
    /// name); `true` when it changed.
    pub async fn context_pct(&self, w: &WorkerName, pct: Option<u8>) -> Result<bool> {
        let pct = pct.map_or(Value::Null, Value::from);
        self.post_changed(w, "context-pct", &ContextPctRequest { pct })
            .await
    }

    /// Reports whether the worker is working (also a heartbeat); `true`
    /// when it changed.
    pub async fn set_active(&self, w: &WorkerName, is_active: bool) -> Result<bool> {
        let is_active = Value::Bool(is_active);
        self.post_changed(w, "active", &ActiveRequest { is_active })
            .await
    }

    /// Reports a condition that keeps the worker from taking messages
    /// (`None`: it cleared); `true` when it changed.
    pub async fn set_condition(
        &self,
        w: &WorkerName,
        condition: Option<&WorkerCondition>,
    ) -> Result<bool> {
        let condition = condition.cloned();
        self.post_changed(w, "condition", &ConditionRequest { condition })
            .await
    }

    /// Confirms that events up to `through` reached the worker's session;
    /// a later stream opened without an id resumes after it. `true` when
    /// the position moved.
    pub async fn delivered(&self, w: &WorkerName, through: EventId) -> Result<bool> {
        self.post_changed(w, "delivered", &DeliveredRequest { through })
            .await
    }

    /// Posts `body` to `/tubemail/{w}/{route}`; `true` when the hub says
    /// it changed something.
    async fn post_changed(
        &self,
        w: &WorkerName,
        route: &str,
        body: &impl serde::Serialize,
    ) -> Result<bool> {
        let r: ChangedResponse = self
            .post(&format!("/tubemail/{}/{route}", seg(w.as_str())), body)
            .await?;
        Ok(r.changed)
    }

    /// Posts terminal output of the worker (the manager posts under the
    /// worker's name). `Ok(false)` when nobody watches or records it (the
    /// hub's 404): stop streaming until the next `pty_attach`.
    pub async fn pty_out(&self, w: &WorkerName, bytes: Vec<u8>) -> Result<bool> {
        let path = format!("/tubemail/{}/pty-out", seg(w.as_str()));
        let (req, url) = self.request(reqwest::Method::POST, &path, false);
        let resp = req
            .header("Content-Type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(|source| Error::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(crate::transport::status_error(status, &body));
        }
        Ok(true)
    }

    /// A single-use ticket for the worker's terminal WebSocket
    /// (`/ws/pty/{worker}?ticket=…`), valid for `ttl_s` seconds.
    pub async fn pty_ticket(&self, w: &WorkerName) -> Result<PtyTicket> {
        let body = PtyTicketRequest {
            worker: w.as_str().to_owned(),
        };
        let r: Reply<PtyTicket> = self.post("/api/pty-ticket", &body).await?;
        soft(r)
    }

    /// Posts a terminal control object for the worker's viewers (e.g.
    /// `{"kind":"size","cols":C,"rows":R}`); `Ok(false)` as for
    /// [`Client::pty_out`].
    pub async fn pty_control(&self, w: &WorkerName, control: &Value) -> Result<bool> {
        match self
            .post::<Value>(
                &format!("/tubemail/{}/pty-control", seg(w.as_str())),
                control,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Ends the worker's streams (keeps its state).
    pub async fn unregister(&self, w: &WorkerName) -> Result<()> {
        self.post_empty::<OkResponse>(&format!("/tubemail/{}/unregister", seg(w.as_str())))
            .await
            .map(drop)
    }

    /// Clean exit.
    pub async fn goodbye(&self, w: &WorkerName) -> Result<()> {
        self.post_empty::<OkResponse>(&format!("/tubemail/{}/goodbye", seg(w.as_str())))
            .await
            .map(drop)
    }
}
