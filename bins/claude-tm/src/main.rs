//! `claude-tm`: the worker side of TubeMail.
//!
//! `claude-tm channel` is the stdio MCP server Claude Code starts as its
//! `tubemail-channel`: it registers the worker with the hub, pushes hub
//! messages into the session as channel notifications, relays permission
//! prompts both ways, and gives the model `reply`, `ack` and
//! `channel_health`. stdout is the protocol; logs go to stderr.
//!
//! `claude-tm manager` runs claude in a pty as `<worker>-manager` on the
//! hub and carries out its control commands; `claude-tm` alone is the
//! launcher that keeps the manager running.

mod channel;
mod claude;
mod compat;
mod dialogs;
mod doctor;
mod hooks;
mod launcher;
mod listening;
mod manager;
mod paths;
mod procs;
mod pty_stream;
mod relay;
mod runtime;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use tubemail_client::Client;
use tubemail_client::core::WorkerName;

/// What `--help` lists after the options (also read from `./.env` or
/// `~/.config/tubemail/.env`; the real environment wins).
const ENV_HELP: &str = "Environment (also read from ./.env or ~/.config/tubemail/.env):
  TUBEMAIL_HUB_URL     the hub (default http://localhost:8004; --hub)
  TUBEMAIL_SECRET      the hub's secret (<data-dir>/secret), or
  TUBEMAIL_TOKEN       a worker token for this worker; with neither and a
                       loopback hub, the local hub's <data-dir>/secret
  TUBEMAIL_DATA_DIR    that data dir (default $XDG_DATA_HOME/tubemail or
                       ~/.local/share/tubemail, as the hub's)
  TM_WORKER_NAME       the worker's name (default <dir>-tm)
  TM_PERMISSION_MODE   claude's permission mode (default: default)
  TUBEMAIL_CLAUDE_BIN  the Claude Code binary (default: claude)
  TM_STOP_GRACE_S      seconds claude has to leave on a stop (default 10)
  TUBEMAIL_LOG         log filter (default info); at a terminal, logs go to
                       ~/.local/state/tubemail/claude-tm.log, not over claude

Check a worker's setup with `claude-tm doctor`.";

/// The worker side of TubeMail.
#[derive(Debug, Parser)]
#[command(version, about, after_help = ENV_HELP)]
struct Cli {
    /// Hub URL (else TUBEMAIL_HUB_URL, else http://localhost:8004).
    #[arg(long, global = true)]
    hub: Option<String>,
    /// Role: the worker becomes `<dir>-<role>-tm`.
    #[arg(long, global = true)]
    role: Option<String>,
    /// Seconds claude has to leave after a stop or restart request (`/exit`)
    /// before it is terminated (else TM_STOP_GRACE_S, else 10).
    #[arg(long, value_name = "SECS", value_parser = manager::parse_grace)]
    stop_grace: Option<std::time::Duration>,
    /// Write shell completions or the man page to stdout, and exit.
    #[arg(long, hide = true, value_name = "WHAT")]
    generate: Option<tubemail_cli_support::Generate>,
    #[command(subcommand)]
    command: Option<Command>,
    /// Arguments passed to claude.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    claude_args: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The stdio MCP channel Claude Code loads as `tubemail-channel`.
    Channel,
    /// Check what this worker needs (claude and its version, settings that
    /// turn channels off, the hub, the credential, the worker's name) and
    /// say how to fix what is wrong; exits 1 on any failure.
    Doctor,
    /// Run claude (`TUBEMAIL_CLAUDE_BIN`, default `claude`) in a pty and
    /// carry out the hub's control commands; exits 0 after a stop, 42 to
    /// be restarted.
    Manager {
        /// Arguments passed to claude.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run by Claude Code's hooks: hands the event on stdin to the manager.
    #[command(hide = true)]
    Hook,
}

/// What this process registers with: its directory, its pid (a new pid
/// tells the hub that older permission prompts cannot be answered) and
/// version.
fn registration() -> tubemail_client::core::api::RegisterRequest {
    tubemail_client::core::api::RegisterRequest {
        cwd: std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        pid: Some(i64::from(std::process::id())),
        forwarder_version: Some(format!("claude-tm {}", env!("CARGO_PKG_VERSION"))),
        // The manager gives claude (and so the channel) the mode it runs in.
        permission_mode: std::env::var("TM_PERMISSION_MODE")
            .ok()
            .filter(|m| !m.is_empty()),
    }
}

/// Wall-clock time in epoch seconds (the hub's timestamps).
fn epoch_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `TM_WORKER_NAME`, else the directory's name (as the original channel).
fn worker_name() -> Result<WorkerName> {
    let name = std::env::var("TM_WORKER_NAME")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| {
            std::env::current_dir()
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| "worker".to_owned());
    name.parse()
        .with_context(|| format!("{name:?} is not a valid worker name (set TM_WORKER_NAME)"))
}

/// `TUBEMAIL_CLAUDE_BIN`, else `claude`.
fn claude_program() -> String {
    std::env::var("TUBEMAIL_CLAUDE_BIN")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "claude".to_owned())
}

/// Where the launcher's and the manager's logs go when stderr is the
/// user's terminal: claude draws there, and a log line would land in the
/// middle of its screen. What the user must see is printed on its own
/// (`claude-tm: …` lines); the rest is in this file, in the state dir.
const LOG_FILE: &str = "claude-tm.log";
/// A log file larger than this is moved to `claude-tm.log.old` at start.
const LOG_FILE_MAX_BYTES: u64 = 8 << 20;

/// The log file for a process that shares the user's terminal with claude.
fn terminal_log_file() -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = paths::state_dir().ok()?.join(LOG_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > LOG_FILE_MAX_BYTES) {
        let _ = std::fs::rename(&path, path.with_extension("log.old"));
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .ok()
}

/// Logs (`TUBEMAIL_LOG`, default `info`) go to stderr, except for the
/// launcher and the manager at a terminal: see [`LOG_FILE`].
fn init_logging(cli: &Cli) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("TUBEMAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let beside_claude = matches!(cli.command, None | Some(Command::Manager { .. }));
    let file = (beside_claude && std::io::stderr().is_terminal())
        .then(terminal_log_file)
        .flatten();
    let logger = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_env_filter(filter);
    match file {
        Some(file) => logger.with_writer(std::sync::Mutex::new(file)).init(),
        None => logger.with_writer(std::io::stderr).init(),
    }
}

fn main() {
    let mut argv = std::env::args_os();
    // The launcher's loop: no runtime, logger or clap (see `supervise`).
    if argv.nth(1).is_some_and(|a| a == claude_tm::supervise::ARG) {
        std::process::exit(claude_tm::supervise::run(argv));
    }
    let cli = Cli::parse();
    if let Some(what) = cli.generate {
        if let Err(e) =
            tubemail_cli_support::write(what, Cli::command(), &mut std::io::stdout().lock())
        {
            eprintln!("claude-tm: cannot write to stdout: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    init_logging(&cli);
    // One thread is plenty for a few sockets and a pty, and every worker
    // thread would cost a stack and a malloc arena for the worker's life.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("claude-tm: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // One line a person can act on; details are in the log.
            eprintln!("claude-tm: {e:#}");
            1
        }
    };
    // stdin reads cannot be cancelled, and dropping the runtime would wait
    // for them: leave while it is still alive.
    std::process::exit(code);
}

/// The hub client of the manager and the channel: `TUBEMAIL_TOKEN` (a
/// worker token: the process then acts as its worker only) when set, else
/// `TUBEMAIL_SECRET` (see [`Client::from_env`]).
fn hub_client() -> Result<Client> {
    Ok(Client::from_env()?)
}

async fn run(cli: Cli) -> Result<i32> {
    Ok(match cli.command {
        Some(Command::Channel) => {
            let client =
                hub_client().context("tubemail-channel needs TUBEMAIL_TOKEN or TUBEMAIL_SECRET")?;
            channel::run(client, worker_name()?).await?;
            0
        }
        Some(Command::Hook) => {
            hooks::forward();
            0
        }
        Some(Command::Manager { args }) => {
            launcher::follow_launcher()?;
            let client =
                hub_client().context("the manager needs TUBEMAIL_TOKEN or TUBEMAIL_SECRET")?;
            let worker = worker_name()?;
            let chosen = std::env::var("TM_PERMISSION_MODE").ok();
            let mode = claude::permission_mode(&args, chosen.as_deref());
            let args = claude::prepare(&worker, client.url(), &mode, &args)?;
            manager::run(client, worker, &claude_program(), &args, &mode).await?
        }
        Some(Command::Doctor) => {
            let settings = launcher::Settings::load(cli.hub.as_deref())?;
            doctor::run(&settings, cli.role.as_deref()).await
        }
        None => {
            let mut settings = launcher::Settings::load(cli.hub.as_deref())?;
            if let Some(grace) = cli.stop_grace {
                settings.set("TM_STOP_GRACE_S", grace.as_secs_f64().to_string());
            }
            launcher::start(settings, cli.role.as_deref(), cli.claude_args).await?
        }
    })
}
