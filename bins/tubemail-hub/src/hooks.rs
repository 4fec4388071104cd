//! Webhooks: the HTTP side of the engine's durable outbox.
//!
//! # Layout
//! - `sender`: the background loop that delivers due notifications,
//!   retries with capped, jittered backoff and records every attempt.
//! - `body`: the JSON, Slack and Discord bodies.
//! - `sign`: HMAC-SHA256 and the `X-TubeMail-Signature` header.
//!
//! The approval pages a `permission_waiting` link opens are
//! `routes/approve`; the configuration API is `routes/webhooks`.

pub mod body;
pub mod sender;
pub mod sign;

use std::sync::OnceLock;
use std::time::Duration;

/// Delivery tunables.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// How often the outbox is read when nothing was due.
    pub poll: Duration,
    /// Rows read (and sent concurrently, up to `concurrency`) at once.
    pub batch: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
    /// A notification undelivered this long after it was enqueued is
    /// given up (marked failed).
    pub give_up_after: Duration,
    /// How long an approval link works.
    pub link_ttl: Duration,
    /// Delivered, failed and skipped notifications are listed this long,
    /// then deleted (pending ones never are).
    pub keep_settled: Duration,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        WebhookOptions {
            poll: Duration::from_millis(50),
            batch: 512,
            concurrency: 16,
            timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
            link_ttl: Duration::from_secs(3600),
            keep_settled: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Shared by the sender and the routes.
pub struct Hooks {
    pub(crate) client: reqwest::Client,
    pub(crate) options: WebhookOptions,
    /// The hub's public base URL (no trailing slash), set from the options
    /// or, when they name none, from the address the hub listens on.
    public_url: OnceLock<String>,
    /// Wakes the sender (a test send) before its next poll.
    pub(crate) wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").finish_non_exhaustive()
    }
}

impl Hooks {
    /// A sender's client: no redirects (a signed body goes where it was
    /// configured to go, nowhere else), rustls for `https`.
    pub fn new(options: WebhookOptions, public_url: Option<String>) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .user_agent(concat!("tubemail-hub/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "could not build the webhook client; using defaults");
                reqwest::Client::new()
            });
        let url = OnceLock::new();
        if let Some(u) = public_url {
            let _ = url.set(u.trim_end_matches('/').to_owned());
        }
        Hooks {
            client,
            options,
            public_url: url,
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Sets the public URL unless the options named one.
    pub fn default_public_url(&self, url: String) {
        let _ = self.public_url.set(url);
    }

    /// The public base URL approval links start with.
    pub fn public_url(&self) -> &str {
        self.public_url
            .get()
            .map_or("http://127.0.0.1:8004", String::as_str)
    }
}
