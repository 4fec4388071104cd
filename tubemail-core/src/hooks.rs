//! Webhooks (`/api/webhooks`): what an operator configures and what the
//! hub reports about deliveries. The durable outbox behind them is in the
//! engine; the HTTP sending is the hub's.

use serde::{Deserialize, Serialize};

use crate::wire::Timestamp;

#[cfg(feature = "schema")]
use schemars::JsonSchema;

/// Seconds a prompt waits before `permission_waiting` fires, unless set.
pub const DEFAULT_WAITING_SECS: u64 = 60;
/// Longest webhook URL.
pub const MAX_URL_LEN: usize = 2048;
/// Longest signing secret.
pub const MAX_SECRET_LEN: usize = 512;
/// Longest worker glob.
pub const MAX_GLOB_LEN: usize = 200;
/// Most webhooks a hub keeps.
pub const MAX_WEBHOOKS: usize = 64;

/// What a webhook is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    /// A permission prompt still waits `waiting_secs` after it was asked
    /// (carries a single-use approval link).
    PermissionWaiting,
    /// The worker side reported a screen that blocks the worker.
    WorkerBlocked,
    /// A worker said goodbye (a clean exit).
    WorkerExited,
    /// A worker replied (an outbound message).
    Reply,
    /// A prompt was answered automatically (`decided_by` is `rule` or
    /// `expiry` in the answer's meta).
    RuleDecision,
    /// `POST /api/webhooks/{id}/test` (always sent, whatever `events` says).
    Test,
}

impl WebhookEvent {
    /// The wire name (`permission_waiting`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::PermissionWaiting => "permission_waiting",
            WebhookEvent::WorkerBlocked => "worker_blocked",
            WebhookEvent::WorkerExited => "worker_exited",
            WebhookEvent::Reply => "reply",
            WebhookEvent::RuleDecision => "rule_decision",
            WebhookEvent::Test => "test",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            WebhookEvent::PermissionWaiting,
            WebhookEvent::WorkerBlocked,
            WebhookEvent::WorkerExited,
            WebhookEvent::Reply,
            WebhookEvent::RuleDecision,
            WebhookEvent::Test,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// TubeMail's own JSON body (see the README).
    #[default]
    Json,
    /// `{"text": ...}`, as Slack incoming webhooks take it.
    Slack,
    /// `{"content": ...}`, as Discord webhooks take it.
    Discord,
}

/// `POST /api/webhooks` and `PUT /api/webhooks/{id}`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where to POST (`http` or `https`). May hold a secret (Slack's do):
    /// the hub never logs it and lists it redacted. On update, leaving it
    /// out (or empty) keeps the current one.
    #[serde(default)]
    pub url: String,
    /// What to send (at least one).
    pub events: Vec<WebhookEvent>,
    /// `permission_waiting` fires once a prompt waited this long (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_secs: Option<u64>,
    /// Only workers whose name matches this glob (`*`, `?`); none = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_glob: Option<String>,
    /// Body preset (default `json`).
    #[serde(default)]
    pub format: WebhookFormat,
    /// Key of the `X-TubeMail-Signature` HMAC (write-only). On update,
    /// leaving it out keeps the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Paused webhooks enqueue nothing (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for WebhookRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRequest")
            .field("url", &redact_url(&self.url))
            .field("events", &self.events)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// A webhook as listed: the URL redacted, the secret never shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct WebhookView {
    /// Id.
    pub id: String,
    /// Scheme and host only (`https://hooks.slack.com/…`).
    pub url: String,
    /// What it is sent.
    pub events: Vec<WebhookEvent>,
    /// Delay of `permission_waiting`.
    pub waiting_secs: u64,
    /// Worker filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_glob: Option<String>,
    /// Body preset.
    pub format: WebhookFormat,
    /// Whether deliveries are signed.
    pub has_secret: bool,
    /// Whether it enqueues.
    pub enabled: bool,
    /// When it was added.
    pub created_at: Timestamp,
}

/// `GET /api/webhooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct WebhooksResponse {
    /// Every webhook, oldest first.
    pub webhooks: Vec<WebhookView>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its time or its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up (retried for a day, or the webhook refused for good).
    Failed,
    /// Not sent: it no longer applied (the prompt was answered first).
    Skipped,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Skipped => "skipped",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Skipped,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }
}

/// One notification of one webhook (`X-TubeMail-Event-Id` is its id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct DeliveryView {
    /// The notification's id (receivers dedupe on it).
    pub id: u64,
    /// What happened.
    pub event: WebhookEvent,
    /// The worker it is about.
    pub worker: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// HTTP status of the last attempt, if one answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: Timestamp,
    /// When it is (or was) next due.
    pub next_at: Timestamp,
    /// When it was delivered, given up or skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<Timestamp>,
}

/// `GET /api/webhooks/{id}/deliveries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct DeliveriesResponse {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
}

/// `POST /api/webhooks/{id}/test`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct WebhookTestResponse {
    /// The test notification's delivery id.
    pub delivery_id: u64,
}

/// `DELETE /api/webhooks/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct WebhookDeleted {
    /// Always true (an unknown id is a 404).
    pub deleted: bool,
}

/// A URL with everything after its host replaced by `…`, so a secret in
/// the path or query (Slack's, Discord's) never reaches a log or a list.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "…".into();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    // Credentials in the authority are secrets too.
    let host = &rest[..end];
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    format!("{scheme}://{host}/…")
}

/// The host (and port) of a URL, for logs.
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    host.rsplit_once('@').map_or(host, |(_, h)| h)
}

/// Whether `name` matches `glob` (`*` any run, `?` any one character).
pub fn glob_match(glob: &str, name: &str) -> bool {
    let g: Vec<char> = glob.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut gi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some((gi, ni));
            gi += 1;
        } else if let Some((sg, sn)) = star {
            gi = sg + 1;
            ni = sn + 1;
            star = Some((sg, sn + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "alpha"));
        assert!(glob_match("al*", "alpha"));
        assert!(glob_match("a?pha", "alpha"));
        assert!(glob_match("*ph*", "alpha"));
        assert!(!glob_match("b*", "alpha"));
        assert!(!glob_match("alph", "alpha"));
        assert!(glob_match("", ""));
    }

    #[test]
    fn redaction_keeps_scheme_and_host_only() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/XYZ"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(redact_url("http://u:pw@h:8080?k=v"), "http://h:8080/…");
        assert_eq!(redact_url("nonsense"), "…");
        assert_eq!(url_host("http://u:pw@h:8080/x"), "h:8080");
    }
}
