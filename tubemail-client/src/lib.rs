//! Typed async client for the TubeMail hub.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tubemail_client::Error> {
//! use futures::StreamExt;
//! use tubemail_client::Client;
//!
//! let hub = Client::from_env()?; // TUBEMAIL_HUB_URL, TUBEMAIL_SECRET
//! let worker = "myproject-tm".parse()?;
//! let sent = hub.send(&worker, "run the tests", None).await?;
//! let replies = hub.wait(&worker, Some(sent.event_id), 30.0).await?;
//! for ev in replies {
//!     println!("{:?}: {}", ev.kind, ev.content);
//! }
//! let mut events = hub.global_stream(None).await?;
//! while let Some(ev) = events.next().await {
//!     let ev = ev?;
//!     println!("{} {:?}", ev.name(), ev.event_id());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - `transport`: [`Client`] and its builder; every authenticated request
//!   and the status-to-error mapping.
//! - `client`: the orchestrator's operations.
//! - `admin`: scoped tokens, recordings, flow runs.
//! - `worker`: what a channel or manager calls (register, outbound, …).
//! - `stream`: [`EventStream`], SSE with reconnect and `Last-Event-ID` resume.
//! - `error`: [`Error`].
//! - [`local`]: `.env` files and the local hub's secret (zero configuration on
//!   one machine).

mod admin;
mod client;
mod error;
mod hooks;
pub mod local;
mod rules;
mod stream;
mod transport;
mod worker;

pub use admin::{FramesFilter, IssuedToken, TokenInfo, TokenKind, WhoAmI};
pub use error::{Error, Result};
pub use hooks::{
    DeliveryStatus, DeliveryView, WebhookEvent, WebhookFormat, WebhookRequest, WebhookView,
};
pub use rules::{PermissionRule, RuleDecision, RuleRef, RuleVerdict};
pub use stream::EventStream;
pub use transport::{Client, ClientBuilder, DEFAULT_HUB_URL};
pub use tubemail_core as core;
pub use tubemail_core::StreamEvent;
