//! MCP sessions per credential: a cap and a short idle expiry.
//!
//! Each session holds a handler and a session worker (about 170 KB; see
//! BENCHMARKS.md), and a client that never ends its sessions would pile
//! them up. rmcp drops a session after [`McpOptions::session_idle`] without
//! a request; on top of that, each credential (a token, or the shared
//! secret) holds at most [`McpOptions::max_sessions_per_credential`] live
//! sessions: opening one more ends its least recently used one, which its
//! client sees as 404 on its next request (and, as the MCP specification
//! asks, answers by starting a new session). A session answers only the
//! credential that opened it.

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

/// A session's owner and last use.
#[derive(Debug)]
struct Held {
    owner: String,
    used: Instant,
}

/// The hub's MCP sessions: rmcp's session manager and who holds which.
pub struct McpSessions {
    manager: Arc<LocalSessionManager>,
    held: Mutex<HashMap<Arc<str>, Held>>,
    cap: usize,
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
        manager.session_config.keep_alive = Some(options.session_idle);
        McpSessions {
            manager: Arc::new(manager),
            held: Mutex::new(HashMap::new()),
            cap: options.max_sessions_per_credential.max(1),
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
                },
            );
            let mut mine: Vec<(Arc<str>, Instant)> = held
                .iter()
                .filter(|(_, h)| h.owner == owner)
                .map(|(id, h)| (id.clone(), h.used))
                .collect();
            let over = mine.len().saturating_sub(self.cap);
            mine.sort_by_key(|(_, used)| *used);
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

    /// Ends every session of token `id` (it was revoked).
    pub async fn end_credential(&self, id: &str) {
        let ended: Vec<Arc<str>> = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            let ended: Vec<Arc<str>> = held
                .iter()
                .filter(|(_, h)| h.owner == id)
                .map(|(sid, _)| sid.clone())
                .collect();
            for sid in &ended {
                held.remove(sid);
            }
            ended
        };
        self.close(ended).await;
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
    if id.is_none()
        && let Some(new) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
    {
        sessions.opened(Arc::from(new), owner).await;
    }
    response
}
