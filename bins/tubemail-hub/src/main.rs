//! `tubemail-hub`: configuration, logging, the secret and signals; the rest
//! is the library.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine as _;
use clap::{CommandFactory, Parser, Subcommand};
use tubemail_hub::{Hub, Options};

/// The TubeMail hub: messages, events, permissions and control for fleets
/// of Claude Code workers, on one port.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "TUBEMAIL_BIND", default_value = "127.0.0.1:8004")]
    bind: SocketAddr,
    /// Data directory (database, settings, generated secret).
    /// Default: $XDG_DATA_HOME/tubemail or ~/.local/share/tubemail.
    #[arg(long, env = "TUBEMAIL_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Host names accepted besides loopback and IP literals (comma-separated; `*` = any).
    #[arg(long, env = "TUBEMAIL_ALLOWED_HOSTS", value_delimiter = ',')]
    allowed_hosts: Vec<String>,
    /// Browser origins allowed to make cross-origin changes (comma-separated).
    #[arg(
        long,
        env = "TUBEMAIL_ALLOWED_ORIGINS",
        value_delimiter = ',',
        default_value = "http://localhost:5173"
    )]
    allowed_origins: Vec<String>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "TUBEMAIL_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Offline, idle workers are purged after this many seconds.
    #[arg(long, env = "TUBEMAIL_WORKER_PURGE_MAX_AGE_S", default_value_t = 3600)]
    purge_max_age_s: u64,
    /// Reverse proxies (comma-separated address blocks, e.g.
    /// `127.0.0.1,10.0.0.0/8`) whose X-Forwarded-For / Forwarded name the
    /// client that rate limits count against.
    #[arg(long, env = "TUBEMAIL_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<tubemail_hub::proxy::Cidr>,
    /// Live MCP sessions per credential; one more ends its least recently
    /// used session.
    #[arg(long, env = "TUBEMAIL_MCP_MAX_SESSIONS", default_value_t = 64)]
    mcp_max_sessions: usize,
    /// An MCP session without a request for this many seconds ends.
    #[arg(long, env = "TUBEMAIL_MCP_SESSION_IDLE_S", default_value_t = 60)]
    mcp_session_idle_s: u64,
    /// Open permission prompts per worker; more get 429 until some are answered.
    #[arg(long, env = "TUBEMAIL_MAX_PENDING_PERMISSIONS", default_value_t = 256)]
    max_pending_permissions: usize,
    /// Base URL webhook receivers reach the hub at, for the approval links
    /// of `permission_waiting` notifications (e.g. `https://hub.example.com`);
    /// default: the address the hub listens on.
    #[arg(long, env = "TUBEMAIL_PUBLIC_URL")]
    public_url: Option<String>,
    /// Request bytes per minute per scoped token (as much at once); more get 429.
    #[arg(long, env = "TUBEMAIL_TOKEN_BYTES_PER_MINUTE", default_value_t = 64 << 20)]
    token_bytes_per_minute: u32,
    /// Serve the web UI from this directory instead of the one built in.
    #[arg(long, env = "TUBEMAIL_STATIC_DIR")]
    ui_dir: Option<PathBuf>,
    /// Log filter (tracing env-filter syntax, e.g. `info`, `tubemail_hub=debug`).
    #[arg(long, env = "TUBEMAIL_LOG", default_value = "info")]
    log: String,
    /// Write the OpenAPI document (what `GET /api/openapi.json` serves) to
    /// stdout, and exit; `make openapi` keeps `frontend/openapi.json` with it.
    #[arg(long)]
    openapi: bool,
    /// Write shell completions or the man page to stdout, and exit.
    #[arg(long, hide = true, value_name = "WHAT")]
    generate: Option<tubemail_cli_support::Generate>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the retention settings once and shrink the database
    /// (`VACUUM`), then exit. Refuses while a hub runs on the data dir.
    Compact,
}

fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("tubemail")
}

/// Where the secret came from, said without saying the secret.
enum SecretSource {
    /// `TUBEMAIL_SECRET`.
    Env,
    /// A file in the data dir (found or generated).
    File(PathBuf),
}

impl SecretSource {
    /// A shell expression that yields the secret where the hub runs.
    fn shell_expr(&self) -> String {
        match self {
            SecretSource::Env => "$TUBEMAIL_SECRET".to_owned(),
            SecretSource::File(path) => {
                let quoted = path.display().to_string().replace('\'', r"'\''");
                format!("$(cat '{quoted}')")
            }
        }
    }
}

/// `TUBEMAIL_SECRET`, else the data dir's `secret` file, else a new one
/// written there with mode 0600. The secret itself is never logged.
fn resolve_secret(data_dir: &Path) -> Result<(String, SecretSource)> {
    if let Some(s) = std::env::var("TUBEMAIL_SECRET")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        return Ok((s.trim().to_owned(), SecretSource::Env));
    }
    let path = data_dir.join("secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_owned();
        anyhow::ensure!(
            !s.is_empty(),
            "{} is empty; delete it to generate a new secret",
            path.display()
        );
        tracing::info!(path = %path.display(), "using the secret stored in the data dir");
        return Ok((s, SecretSource::File(path)));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut f = tubemail_core::private::options()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    writeln!(f, "{secret}").with_context(|| format!("failed to write {}", path.display()))?;
    eprintln!(
        "tubemail-hub: generated a secret in {} (mode 0600)",
        path.display()
    );
    Ok((secret, SecretSource::File(path)))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        () = term => {}
    }
}

/// Failures end the process with one line on stderr (the error and its
/// causes) and exit status 1.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tubemail-hub: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let args = Args::parse();
    if let Some(what) = args.generate {
        return tubemail_cli_support::write(what, Args::command(), &mut std::io::stdout().lock())
            .context("failed to write to stdout");
    }
    if args.openapi {
        let doc = serde_json::to_string_pretty(&tubemail_hub::openapi_document())
            .context("failed to serialise the OpenAPI document")?;
        return writeln!(std::io::stdout().lock(), "{doc}").context("failed to write to stdout");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log).context("invalid --log filter")?,
        )
        .with_writer(std::io::stderr)
        .init();
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    if let Some(Command::Compact) = args.command {
        let done = tubemail_hub::compact(&data_dir).await?;
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        println!(
            "deleted {} events; {} went from {:.1} MiB to {:.1} MiB",
            done.deleted,
            data_dir.join("tubemail.db").display(),
            mib(done.bytes_before),
            mib(done.bytes_after)
        );
        return Ok(());
    }
    // Each connection, stream and recording takes a descriptor.
    tubemail_hub::conns::raise_nofile_limit();
    tubemail_core::private::create_dir_all(&data_dir)
        .with_context(|| format!("failed to create data dir {}", data_dir.display()))?;
    let (secret, secret_source) = resolve_secret(&data_dir)?;
    let mut options = Options::new(&data_dir, secret);
    options.allowed_hosts = args.allowed_hosts;
    options.allowed_origins = args.allowed_origins;
    options.max_body_bytes = args.max_body_bytes;
    options.purge_max_age = Duration::from_secs(args.purge_max_age_s);
    options.ui_dir = args.ui_dir;
    options.trusted_proxies = args.trusted_proxies;
    options.max_pending_permissions = args.max_pending_permissions;
    options.public_url = args.public_url;
    options.rate_limits.token_bytes_per_minute = args.token_bytes_per_minute;
    options.mcp.max_sessions_per_credential = args.mcp_max_sessions;
    options.mcp.session_idle = Duration::from_secs(args.mcp_session_idle_s.max(1));
    options.dev_bootstrap = std::env::var("TUBEMAIL_DISABLE_DEV_BOOTSTRAP").as_deref() != Ok("1");
    // Rate limits apply to loopback clients too when asked (they always do
    // for requests a proxy forwarded).
    options.rate_limits.exempt_loopback =
        std::env::var("TUBEMAIL_RATE_LIMIT_LOOPBACK").as_deref() != Ok("1");
    // Terminal WebSockets only over TLS when asked, or when serving TLS.
    let tls = tubemail_hub::tls_files(&data_dir);
    options.pty.tls_only =
        std::env::var("TUBEMAIL_PTY_TLS_ONLY").as_deref() == Ok("1") || tls.is_some();
    let hub = Hub::open(options)
        .with_context(|| format!("failed to open the hub in {}", data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("failed to listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    let (scheme, said) = match tls {
        Some(_) => ("https", " (https)"),
        None => ("http", ""),
    };
    tracing::info!(%addr, data_dir = %data_dir.display(), "tubemail-hub listening{said}");
    let ui = ui_url(scheme, addr);
    tracing::info!("web UI: {ui}");
    say_mcp_add(&ui, &secret_source);
    let shutdown = async {
        shutdown_signal().await;
        tracing::info!("shutting down");
    };
    match tls {
        Some((cert, key)) => hub.serve_tls(listener, &cert, &key, shutdown).await,
        None => hub.serve(listener, shutdown).await,
    }
    .context("server failed")?;
    tracing::info!("stopped; store flushed");
    Ok(())
}

/// Logs the command that adds this hub to Claude Code. It names where the
/// secret is, never the secret; run, it stores the secret in Claude Code's
/// settings, which the second line says.
fn say_mcp_add(base: &str, source: &SecretSource) {
    tracing::info!("add it to Claude Code: {}", mcp_add_command(base, source));
    tracing::info!(
        "(that command stores the hub's secret in Claude Code's settings; for another \
         machine, `tubemail mcp-config --token` gives a scoped token instead)"
    );
}

/// `claude mcp add` for the hub at `base` (its UI URL, ending in `/`).
fn mcp_add_command(base: &str, source: &SecretSource) -> String {
    format!(
        "claude mcp add --transport http tubemail {base}mcp/ --header \"Authorization: Bearer {}\"",
        source.shell_expr()
    )
}

/// The address to open in a browser: a wildcard bind is reached on
/// loopback.
fn ui_url(scheme: &str, addr: std::net::SocketAddr) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    format!("{scheme}://{host}:{}/", addr.port())
}

#[cfg(test)]
mod tests {
    use super::{SecretSource, mcp_add_command, ui_url};

    /// What `sh` makes of `expr` inside double quotes, as in the command.
    fn sh(expr: &str, env: &[(&str, &str)]) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s \"{expr}\""))
            .envs(env.iter().copied())
            .output()
            .unwrap_or_else(|e| panic!("sh: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn the_mcp_add_line_names_where_the_secret_is_and_a_shell_finds_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("it's here").join("secret");
        std::fs::create_dir_all(path.parent().unwrap_or(dir.path()))
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&path, "s3cret\n").unwrap_or_else(|e| panic!("{e}"));
        let file = SecretSource::File(path);
        let line = mcp_add_command("http://127.0.0.1:8004/", &file);
        assert!(!line.contains("s3cret"), "{line}");
        assert!(
            line.starts_with(
                "claude mcp add --transport http tubemail http://127.0.0.1:8004/mcp/ --header "
            ),
            "{line}"
        );
        assert_eq!(sh(&file.shell_expr(), &[]), "s3cret");
        let env = SecretSource::Env;
        assert_eq!(
            sh(&env.shell_expr(), &[("TUBEMAIL_SECRET", "from-env")]),
            "from-env"
        );
    }

    #[test]
    fn the_ui_url_is_one_a_browser_can_open() {
        let url = |s: &str| ui_url("http", s.parse().unwrap_or_else(|e| panic!("{s}: {e}")));
        assert_eq!(url("127.0.0.1:8004"), "http://127.0.0.1:8004/");
        assert_eq!(url("0.0.0.0:8004"), "http://127.0.0.1:8004/");
        assert_eq!(url("[::]:9000"), "http://[::1]:9000/");
        assert_eq!(url("[::1]:9000"), "http://[::1]:9000/");
        assert_eq!(url("192.168.1.5:80"), "http://192.168.1.5:80/");
    }
}
