//! The TubeMail hub as a library: [`Hub::open`] opens a data dir and starts
//! the engine, [`Hub::serve`] runs the hub on a listener inside the caller's
//! runtime until a shutdown future completes, [`Hub::router`] gives its
//! routes.
//!
//! # Layout
//! - `routes/`: one file per route group (forwarder plumbing, web-UI API,
//!   flows, operations, streams, meta) and `routes/ui` (the embedded web UI,
//!   served at `/` after every API route).
//! - `security`: bearer, Host allow-list, Origin checks, dev bootstrap,
//!   token scopes and rate limits; `tokens` (scoped credentials),
//!   `ratelimit` (per-address token buckets) and `proxy` (client addresses
//!   behind trusted proxies) serve it.
//! - `terminal`: browser terminals (output rings, screen models, tickets)
//!   and the recorder, shared by `routes/pty`, `routes/recording` and MCP.
//! - `extract`/`error`: input parsing and the original's error bodies.
//! - `openapi`: the route table that builds both the router and its
//!   OpenAPI document.
//! - `trace`: request ids and the `request` span every log line of a
//!   request carries.

mod compact;
pub mod conns;
mod error;
mod extract;
pub mod hooks;
mod lock;
mod mcp;
mod metrics;
mod openapi;
pub mod proxy;
pub mod ratelimit;
mod routes;
mod security;
pub mod terminal;
pub mod tokens;
mod trace;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tubemail_core::engine::{Engine, EngineConfig};
use tubemail_core::store::SqliteStore;

pub use compact::{CompactError, Compacted, compact};
pub use lock::{LOCK_FILE, LockError};
pub use mcp::sessions::{McpOptions, McpSessions};
pub use metrics::HttpMetrics;

/// Hub configuration, resolved by the binary.
#[derive(Debug, Clone)]
pub struct Options {
    /// Data directory (database, settings, secret, TLS material).
    pub data_dir: PathBuf,
    /// The shared bearer secret.
    pub secret: String,
    /// Host names accepted besides loopback names and IP literals
    /// (`*` accepts any).
    pub allowed_hosts: Vec<String>,
    /// Cross-origin browser origins accepted for state changes.
    pub allowed_origins: Vec<String>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Serve `/api/dev-bootstrap` to loopback callers.
    pub dev_bootstrap: bool,
    /// Offline, idle workers older than this are purged.
    pub purge_max_age: Duration,
    /// How often the retention settings are applied.
    pub retention_every: Duration,
    /// Serve the web UI from this directory instead of the one built in.
    pub ui_dir: Option<PathBuf>,
    /// Browser terminal bridge tunables.
    pub pty: terminal::PtyOptions,
    /// A connection must send a complete request head within this time
    /// (the first one, and each next one on a kept-alive connection), or it
    /// is closed; a body must then arrive within this time too (else 408).
    /// A client trickling its request (slowloris) cannot hold the hub.
    pub read_timeout: Duration,
    /// Rate limits on failed authentication, terminal tickets and
    /// terminal WebSocket upgrades (per client address), and on the bytes
    /// each scoped token sends.
    pub rate_limits: ratelimit::RateLimits,
    /// Most connections open at once that have not made an authenticated
    /// request yet; beyond it the oldest of them is closed (see
    /// [`conns`]). `None`: half the open file limit when the hub opens.
    pub unauthenticated_connections: Option<usize>,
    /// Reverse proxies whose `X-Forwarded-For`/`Forwarded` name the client
    /// (see [`proxy`]); other peers are their own clients.
    pub trusted_proxies: Vec<proxy::Cidr>,
    /// MCP session cap per credential and idle expiry.
    pub mcp: McpOptions,
    /// Open permission prompts per worker; more get 429.
    pub max_pending_permissions: usize,
    /// The hub's base URL as webhook receivers reach it (approval links);
    /// `None`: the address it listens on.
    pub public_url: Option<String>,
    /// Webhook delivery tunables.
    pub webhooks: hooks::WebhookOptions,
}

impl Options {
    /// Defaults for a data dir and secret.
    pub fn new(data_dir: impl Into<PathBuf>, secret: impl Into<String>) -> Self {
        Options {
            data_dir: data_dir.into(),
            secret: secret.into(),
            allowed_hosts: Vec::new(),
            allowed_origins: vec!["http://localhost:5173".into()],
            max_body_bytes: 1024 * 1024,
            dev_bootstrap: true,
            purge_max_age: Duration::from_secs(3600),
            retention_every: Duration::from_secs(60),
            ui_dir: None,
            pty: terminal::PtyOptions::default(),
            read_timeout: Duration::from_secs(30),
            rate_limits: ratelimit::RateLimits::default(),
            unauthenticated_connections: None,
            trusted_proxies: Vec::new(),
            mcp: McpOptions::default(),
            max_pending_permissions: tubemail_core::engine::DEFAULT_MAX_PENDING_PERMISSIONS,
            public_url: None,
            webhooks: hooks::WebhookOptions::default(),
        }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// Configuration.
    pub options: Arc<Options>,
    /// Cancelled when the hub shuts down ([`Hub::serve`] does it when its
    /// shutdown future completes): ends streams and long waits.
    pub shutdown: CancellationToken,
    /// Request metrics.
    pub metrics: Arc<HttpMetrics>,
    /// When the hub started.
    pub started: std::time::Instant,
    /// Browser terminals, tickets and recordings.
    pub terminals: Arc<terminal::Terminals>,
    /// Scoped credentials.
    pub tokens: Arc<tokens::Tokens>,
    /// Rate limiters.
    pub limiters: Arc<ratelimit::Limiters>,
    /// Connections that have not authenticated yet, and their budget.
    pub connections: Arc<conns::Connections>,
    /// Tickets for the global event stream, each with its issuer's scope.
    pub stream_tickets: Arc<terminal::Tickets<tokens::Scope>>,
    /// MCP sessions.
    pub mcp_sessions: Arc<McpSessions>,
    /// Webhook delivery and approval links.
    pub hooks: Arc<hooks::Hooks>,
}

/// Opening the hub failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data dir could not be created or made private.
    #[error("failed to create data dir {}", path.display())]
    DataDir {
        /// The dir.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Another hub runs on the data dir, or its lock could not be taken.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// The database could not be opened.
    #[error("failed to open the database {}", path.display())]
    Store {
        /// The database file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: tubemail_core::store::StoreError,
    },
    /// The engine could not start (loading the database or the settings).
    #[error("failed to load the hub's state from {}", path.display())]
    Engine {
        /// The database file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: tubemail_core::engine::Error,
    },
    /// The recorder thread could not start.
    #[error("failed to start the recorder")]
    Recorder(#[source] std::io::Error),
}

/// A hub: its engine and store, opened on a data dir, and its routes.
///
/// [`Hub::serve`] (or [`Hub::serve_tls`]) runs it on a listener the caller
/// bound, inside the caller's tokio runtime, until a shutdown future
/// completes:
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let hub = tubemail_hub::Hub::open(tubemail_hub::Options::new("/tmp/hub", "s3cret"))?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// println!("hub on http://{}", listener.local_addr()?);
/// hub.serve(listener, async { tokio::signal::ctrl_c().await.ok(); }).await?;
/// # Ok(())
/// # }
/// ```
pub struct Hub {
    state: AppState,
    /// The data dir's lock, held as long as the hub.
    lock: lock::DataDirLock,
}

impl Hub {
    /// Opens the data dir and the store and starts the engine.
    ///
    /// The data dir is made private (mode 0700) and every file the hub
    /// creates in it is 0600 from the start, whatever the umask. The hub
    /// holds the data dir's lock (`hub.lock`) until it is dropped: a second
    /// hub on the same data dir fails with [`OpenError::Locked`].
    pub fn open(options: Options) -> Result<Hub, OpenError> {
        private_data_dir(&options.data_dir).map_err(|source| OpenError::DataDir {
            path: options.data_dir.clone(),
            source,
        })?;
        let lock = lock::DataDirLock::take(&options.data_dir)?;
        let path = options.data_dir.join("tubemail.db");
        let store = SqliteStore::open(&path).map_err(|source| OpenError::Store {
            path: path.clone(),
            source,
        })?;
        let mut config = EngineConfig::new(options.data_dir.join("hub-config.json"));
        config.purge_max_age = options.purge_max_age;
        config.max_pending_permissions = options.max_pending_permissions;
        let store: Arc<dyn tubemail_core::store::Store> = Arc::new(store);
        let tokens = tokens::Tokens::load(store.clone()).map_err(|source| OpenError::Store {
            path: path.clone(),
            source,
        })?;
        let engine =
            Engine::start(store, config).map_err(|source| OpenError::Engine { path, source })?;
        let terminals =
            terminal::Terminals::new(engine.clone(), &options.data_dir, options.pty.clone())
                .map_err(OpenError::Recorder)?;
        let options_limits = options.rate_limits.clone();
        let budget = options
            .unauthenticated_connections
            .unwrap_or_else(|| usize::try_from(conns::nofile_limit() / 2).unwrap_or(usize::MAX));
        let mcp_sessions = Arc::new(McpSessions::new(&options.mcp));
        let hooks = Arc::new(hooks::Hooks::new(
            options.webhooks.clone(),
            options.public_url.clone(),
        ));
        let state = AppState {
            engine,
            options: Arc::new(options),
            shutdown: CancellationToken::new(),
            metrics: Arc::new(HttpMetrics::default()),
            started: std::time::Instant::now(),
            terminals: Arc::new(terminals),
            tokens: Arc::new(tokens),
            limiters: Arc::new(ratelimit::Limiters::new(options_limits)),
            connections: Arc::new(conns::Connections::new(budget)),
            stream_tickets: Arc::default(),
            mcp_sessions,
            hooks,
        };
        Ok(Hub { state, lock })
    }

    /// The state every handler shares (engine, options, terminals, tokens).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The engine: workers, timelines, permissions and flows, in process.
    pub fn engine(&self) -> &Engine {
        &self.state.engine
    }

    /// The router with every route and middleware, to drive directly (e.g.
    /// with `tower::ServiceExt::oneshot`) or to merge into another axum app.
    ///
    /// [`Hub::serve`] is the complete hub; a router served elsewhere lacks
    /// what it adds: the periodic sweeps, ending streams and flushing the
    /// store at shutdown, and, unless served with
    /// `into_make_service_with_connect_info::<SocketAddr>()`, the client
    /// address that loopback-only routes and rate limits look at.
    pub fn router(&self) -> Router {
        routes::router(self.state.clone())
    }

    /// Serves the hub over plain HTTP on `listener` until `shutdown`
    /// completes; then ends streams, gives open requests up to 10 s,
    /// and flushes the store and the recordings.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.listening(&listener, "http");
        let server = server(listener, &self.state.options).acceptor(self.acceptor());
        let router = self.router();
        self.run(router, shutdown, |handle, app| {
            server.handle(handle).serve(app)
        })
        .await
    }

    /// Like [`Hub::serve`], over TLS (HTTPS only) with a PEM certificate
    /// chain and key, e.g. the ones [`tls_files`] finds.
    pub async fn serve_tls(
        mut self,
        listener: TcpListener,
        cert: &Path,
        key: &Path,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.listening(&listener, "https");
        let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await?;
        let acceptor =
            axum_server::tls_rustls::RustlsAcceptor::new(config).acceptor(self.acceptor());
        let server = server(listener, &self.state.options).acceptor(acceptor);
        let router = self.router().layer(axum::Extension(routes::Tls));
        self.run(router, shutdown, |handle, app| {
            server.handle(handle).serve(app)
        })
        .await
    }

    /// TCP_NODELAY and the budget of unauthenticated connections (see
    /// [`conns::Budgeted`]), under TLS too.
    fn acceptor(&self) -> conns::Budgeted {
        conns::Budgeted::new(self.state.connections.clone())
    }

    /// Says in the lock file where the hub listens, and makes that the
    /// public URL of approval links unless the options named one.
    fn listening(&mut self, listener: &TcpListener, scheme: &str) {
        if let Ok(addr) = listener.local_addr() {
            self.lock.listening(addr);
            self.state
                .hooks
                .default_public_url(format!("{scheme}://{addr}"));
        }
    }

    /// What both servers share around `serve`, which runs the server with a
    /// handle and the app: the background tasks, the graceful shutdown when
    /// `shutdown` completes (10 s at most for open connections), and the
    /// flushes after.
    async fn run<F>(
        self,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
        serve: impl FnOnce(axum_server::Handle<SocketAddr>, ConnectedApp) -> F,
    ) -> std::io::Result<()>
    where
        F: Future<Output = std::io::Result<()>>,
    {
        let handle = axum_server::Handle::new();
        let on_shutdown = handle.clone();
        let streams = self.state.shutdown.clone();
        let watcher = tokio::spawn(async move {
            shutdown.await;
            streams.cancel();
            on_shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
        });
        let mut tasks = spawn_background(&self.state);
        tasks.push(watcher);
        let result = serve(
            handle,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
        self.state.terminals.recorder.flush().await;
        finish(tasks, &self.state.engine).await;
        result
    }
}

/// The router as a service that hands each request its client address.
type ConnectedApp = axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, SocketAddr>;

/// The OpenAPI 3.1 document of the JSON API: what `GET /api/openapi.json`
/// serves, built from the same route table, without opening a hub.
pub fn openapi_document() -> serde_json::Value {
    routes::openapi_document()
}

/// A server on `listener` with the HTTP settings both servers share:
/// request heads must arrive within `read_timeout` (the first one too,
/// before the protocol is known), HTTP/2 may carry WebSockets, and failed
/// accepts are logged (running out of descriptors at most every 5 s).
fn server(listener: TcpListener, options: &Options) -> axum_server::Server<SocketAddr> {
    let last_logged = std::sync::atomic::AtomicU64::new(0);
    let epoch = std::time::Instant::now();
    let mut server = axum_server::Server::from_listener(listener).accept_error_handler(
        move |_: Option<&SocketAddr>, e: &std::io::Error| {
            conns::log_accept_error(&last_logged, epoch, e);
        },
    );
    let timeout = options.read_timeout;
    let builder = server.http_builder();
    builder.http1().header_read_timeout(timeout);
    builder.http2().enable_connect_protocol();
    server.first_request_timeout(timeout)
}

/// Creates the data dir (mode 0700) or makes an existing one private; warns
/// when the TLS key in it is readable by others.
fn private_data_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tubemail_core::private::create_dir_all(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777), "the data dir was open to others; made it private (0700)");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let key = dir.join("server.key");
    if let Ok(m) = std::fs::metadata(&key)
        && m.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %key.display(),
            mode = format!("{:o}", m.permissions().mode() & 0o777),
            "the TLS key is readable by other users; chmod 600 it"
        );
    }
    Ok(())
}

/// `server.crt` and `server.key` in the data dir, when both exist: the hub
/// then serves HTTPS only.
pub fn tls_files(data_dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let cert = data_dir.join("server.crt");
    let key = data_dir.join("server.key");
    (cert.is_file() && key.is_file()).then_some((cert, key))
}

async fn finish(tasks: Vec<tokio::task::JoinHandle<()>>, engine: &Engine) {
    for t in tasks {
        t.abort();
    }
    engine.shutdown().await;
}

/// Most time between two checks of `retention_max_database_mib`.
const SIZE_RETENTION_EVERY: Duration = Duration::from_secs(5);

/// Longest sleep of the expiry task: a deadline is met within this even
/// if a wake-up is missed.
const EXPIRY_TICK: Duration = Duration::from_secs(1);

/// Answers permission prompts whose deadline passed, waking at the nearest
/// deadline (at most [`EXPIRY_TICK`] apart) or when a new one is recorded.
/// Right after a start this answers prompts that fell due while the hub
/// was down.
async fn expire_permissions(engine: Engine) {
    loop {
        match engine.expire_permissions().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(expired = n, "permission prompts expired"),
            Err(e) => {
                tracing::warn!(task = "expire permissions", error = %e, "background task failed");
            }
        }
        let now = tubemail_core::engine::now();
        // At least 10 ms: a failing store must not make this spin.
        let wait = engine
            .next_permission_deadline()
            .map(|d| Duration::from_secs_f64((d - now).clamp(0.01, 1.0)))
            .unwrap_or(EXPIRY_TICK);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = engine.permission_deadline_added() => {}
        }
    }
}

fn spawn_background(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let retention_every = state.options.retention_every;
    let every = |period: Duration,
                 engine: Engine,
                 what: &'static str,
                 f: fn(
        Engine,
    ) -> futures::future::BoxFuture<
        'static,
        Result<(), tubemail_core::engine::Error>,
    >| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = f(engine.clone()).await {
                    tracing::warn!(task = what, error = %e, "background task failed");
                }
            }
        })
    };
    let terminals = state.terminals.clone();
    let streams = state.stream_tickets.clone();
    let tickets = tokio::spawn(async move {
        let mut tick = tokio::time::interval(terminals.options.ticket_sweep);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let dropped = terminals.tickets.sweep() + streams.sweep();
            if dropped > 0 {
                tracing::debug!(dropped, "expired tickets dropped");
            }
        }
    });
    let mcp = state.mcp_sessions.clone();
    let mcp_sweep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(mcp.sweep_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let ended = mcp.sweep().await;
            if ended > 0 {
                tracing::debug!(ended, "idle MCP sessions ended");
            }
        }
    });
    let (engine, recorder) = (state.engine.clone(), state.terminals.recorder.clone());
    let retention = tokio::spawn(async move {
        let mut tick = tokio::time::interval(retention_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = engine.apply_retention().await {
                tracing::warn!(task = "apply retention", error = %e, "background task failed");
            }
            let days = engine.hub_config().retention_max_age_days;
            if days > 0 {
                let cutoff = SystemTime::now() - Duration::from_secs(u64::from(days) * 86_400);
                let removed = recorder.prune(cutoff).await;
                if removed > 0 {
                    tracing::info!(removed, "retention deleted old recordings");
                }
            }
        }
    });
    let e = &state.engine;
    let webhooks = tokio::spawn(hooks::sender::run(e.clone(), state.hooks.clone()));
    vec![
        tickets,
        mcp_sweep,
        tokio::spawn(expire_permissions(e.clone())),
        webhooks,
        every(
            Duration::from_secs(60),
            e.clone(),
            "sweep permissions",
            |e| Box::pin(async move { e.sweep_permissions(None).await.map(|_| ()) }),
        ),
        every(
            Duration::from_secs(600),
            e.clone(),
            "purge stale workers",
            |e| Box::pin(async move { e.purge_stale().await.map(|_| ()) }),
        ),
        retention,
        // The size limit is cheap to check and the database can grow fast.
        every(
            state.options.retention_every.min(SIZE_RETENTION_EVERY),
            e.clone(),
            "apply the database size limit",
            |e| Box::pin(async move { e.apply_size_retention().await.map(|_| ()) }),
        ),
    ]
}
