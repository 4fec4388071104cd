//! MCP sessions per credential: a cap and a short idle expiry.
//!
//! Each session holds a handler and a session worker (about 60 KiB; see
//! BENCHMARKS.md), and a client that never ends its sessions would pile
//! them up. A session is idle when it has no event stream open (a client
//! such as Claude Code keeps its standalone `GET` stream open while it
//! lives) and no request came for [`McpOptions::session_idle`]; the sweep
//! ([`McpSessions::sweep`]) ends idle sessions. rmcp's own idle timer is
//! off: it ignores open streams, and Claude Code does not open a new
//! session after the 404 that follows. On top of that, each credential (a
//! token, or the shared secret) holds at most
//! [`McpOptions::max_sessions_per_credential`] live sessions: opening one
//! more ends its least recently used one, idle ones first, which its client
//! sees as 404 on its next request. A session answers only the credential
//! that opened it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use crate::tokens::Scope;

/// The session id header of streamable HTTP.
const SESSION_HEADER: &str = "mcp-session-id";

/// MCP session limits.
#[derive(Debug, Clone, PartialEq)]
pub struct McpOptions {
    /// Live sessions per credential; one more ends the least recently
    /// used.
    pub max_sessions_per_credential: usize,
    /// A session without a request for this long ends.
    pub session_idle: Duration,
}

impl Default for McpOptions {
    fn default() -> Self {
        McpOptions {
            max_sessions_per_credential: 64,
            session_idle: Duration::from_secs(60),
        }
    }
}

/// A session's owner, last use and open event streams.
#[derive(Debug)]
struct Held {
    owner: String,
    used: Instant,
    streams: usize,
}

/// The hub's MCP sessions: rmcp's session manager and who holds which.
pub struct McpSessions {
    manager: Arc<LocalSessionManager>,
    held: Mutex<HashMap<Arc<str>, Held>>,
    cap: usize,
    idle: Duration,
}

impl std::fmt::Debug for McpSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpSessions")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

impl McpSessions {
    /// A session manager with these limits.
    pub fn new(options: &McpOptions) -> Self {
        let mut manager = LocalSessionManager::default();
        // The sweep ends idle sessions (see the module doc).
        manager.session_config.keep_alive = None;
        McpSessions {
            manager: Arc::new(manager),
            held: Mutex::new(HashMap::new()),
            cap: options.max_sessions_per_credential.max(1),
            idle: options.session_idle,
        }
    }

    /// The session manager the MCP service runs on.
    pub(crate) fn manager(&self) -> Arc<LocalSessionManager> {
        self.manager.clone()
    }

    /// Sessions alive now.
    pub async fn live(&self) -> usize {
        self.manager.sessions.read().await.len()
    }

    /// Marks `id` used by `owner`; `false` when another credential holds
    /// it.
    fn touch(&self, id: &str, owner: &str) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        match held.get_mut(id) {
            Some(h) if h.owner != owner => false,
            Some(h) => {
                h.used = Instant::now();
                true
            }
            // Ended already, or never opened here: rmcp answers 404.
            None => true,
        }
    }

    /// `owner` opened `id`: ends its least recently used sessions beyond
    /// the cap.
    async fn opened(&self, id: Arc<str>, owner: String) {
        let seen = Instant::now();
        let live: std::collections::HashSet<Arc<str>> =
            self.manager.sessions.read().await.keys().cloned().collect();
        let evicted: Vec<Arc<str>> = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            // Forget ended sessions (not ones opened since `live` was read).
            held.retain(|id, h| live.contains(id) || h.used > seen);
            held.insert(
                id,
                Held {
                    owner: owner.clone(),
                    used: Instant::now(),
                    streams: 0,
                },
            );
            // Idle sessions first, then those with a stream open; the
            // least recently used first in each.
            let mut mine: Vec<(Arc<str>, (bool, Instant))> = held
                .iter()
                .filter(|(_, h)| h.owner == owner)
                .map(|(id, h)| (id.clone(), (h.streams > 0, h.used)))
                .collect();
            let over = mine.len().saturating_sub(self.cap);
            mine.sort_by_key(|(_, order)| *order);
            mine.truncate(over);
            for (id, _) in &mine {
                held.remove(id);
            }
            mine.into_iter().map(|(id, _)| id).collect()
        };
        if !evicted.is_empty() {
            tracing::info!(credential = %owner, "MCP session limit reached; ending the least recently used session");
        }
        self.close(evicted).await;
    }

    /// How often [`McpSessions::sweep`] should run.
    pub fn sweep_every(&self) -> Duration {
        (self.idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(15))
    }

    /// Ends the sessions without an open stream and without a request for
    /// the idle time; returns how many.
    pub async fn sweep(&self) -> usize {
        self.end_where(|h| h.streams == 0 && h.used.elapsed() >= self.idle)
            .await
    }

    /// An event stream of session `id` opened (`+1`) or ended (`-1`); an
    /// end counts as a use.
    fn stream(&self, id: &str, opened: bool) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = held.get_mut(id) {
            h.streams = if opened {
                h.streams + 1
            } else {
                h.streams.saturating_sub(1)
            };
            h.used = Instant::now();
        }
    }

    /// Ends every session of token `id` (it was revoked).
    pub async fn end_credential(&self, id: &str) {
        self.end_where(|h| h.owner == id).await;
    }

    /// Forgets and ends the sessions `which` picks; returns how many.
    async fn end_where(&self, which: impl Fn(&Held) -> bool) -> usize {
        let ended: Vec<Arc<str>> = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            let ended: Vec<Arc<str>> = held
                .iter()
                .filter(|(_, h)| which(h))
                .map(|(id, _)| id.clone())
                .collect();
            for id in &ended {
                held.remove(id);
            }
            ended
        };
        let n = ended.len();
        self.close(ended).await;
        n
    }

    async fn close(&self, ids: Vec<Arc<str>>) {
        for id in ids {
            if let Err(e) = self.manager.close_session(&id).await {
                tracing::debug!(session = %id, error = %e, "could not end an MCP session");
            }
        }
    }
}

/// Who a session belongs to: the token id, or `secret`.
fn owner(req: &Request) -> String {
    req.extensions()
        .get::<Scope>()
        .and_then(Scope::token_id)
        .unwrap_or("secret")
        .to_owned()
}

/// Middleware on `/mcp/`: keeps the session table and the cap.
pub async fn track(State(sessions): State<Arc<McpSessions>>, req: Request, next: Next) -> Response {
    let owner = owner(&req);
    let id = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = &id
        && !sessions.touch(id, &owner)
    {
        return (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response();
    }
    let response = next.run(req).await;
    let Some(id) = id else {
        if let Some(new) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            sessions.opened(Arc::from(new), owner).await;
        }
        return response;
    };
    let stream = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"text/event-stream"));
    if !stream {
        return response;
    }
    // The session is busy while the stream is open: the guard counts it
    // and uncounts it when the body ends or is dropped.
    sessions.stream(&id, true);
    let open = OpenStream { sessions, id };
    response.map(|body| {
        use futures::StreamExt;
        axum::body::Body::from_stream(body.into_data_stream().map(move |chunk| {
            let _held = &open;
            chunk
        }))
    })
}

/// An open event stream of a session (see [`track`]).
struct OpenStream {
    sessions: Arc<McpSessions>,
    id: String,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.sessions.stream(&self.id, false);
    }
}
