//! `tubemail-bench`: a load generator for the TubeMail hub.
//!
//! Spawns the hub (fresh temp data dir, random secret) once per scenario, or
//! drives a running one (`--url`, `--secret`), and prints a human-readable
//! report to stdout. Scenarios: `latency`, `throughput`, `memory`, `mcp`, `manager`,
//! `terminal`, `soak` (10 minutes; not part of `all`), or `all`.
//! Logs go to stderr (`RUST_LOG`, default `info`).

mod api;
mod collector;
mod hub;
mod latency;
mod manager;
mod mcp;
mod memory;
mod soak;
mod terminal;
mod throughput;
mod webhooks;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Parser, ValueEnum};

use crate::hub::{HubOptions, Target, default_hub_bin, open_files_limit, raise_open_files_limit};

/// Which scenario(s) to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Sequential sends: send -> stream receipt latency.
    Latency,
    /// Concurrent senders: acknowledged msg/s, then exactly-once check.
    Throughput,
    /// Hub RSS idle and with many idle streamed workers.
    Memory,
    /// MCP tool-call latency and wait wake-up.
    Mcp,
    /// claude-tm's manager: keystroke latency, RSS and CPU next to an idle claude.
    Manager,
    /// The browser terminal bridge: echo tax, Ctrl-C under flood, MiB/s to viewers, recording cost.
    Terminal,
    /// Many streamed workers with steady mixed traffic for minutes: RSS,
    /// fds, threads, data-dir size and latency over time (not in `all`).
    Soak,
    /// The webhook outbox at `--rate`-like reply rates next to message
    /// delivery (not in `all`).
    Webhooks,
    /// All of them (but `soak` and `webhooks`), each against a fresh hub.
    All,
}

/// Load generator for the TubeMail hub.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Scenario to run.
    #[arg(value_enum, default_value_t = Scenario::All)]
    scenario: Scenario,
    /// Hub binary to spawn [default: tubemail-hub next to this executable].
    #[arg(long)]
    hub_bin: Option<PathBuf>,
    /// Use the hub running at this base URL instead of spawning one.
    #[arg(long)]
    url: Option<String>,
    /// Secret of the hub given by --url.
    #[arg(long, env = "TUBEMAIL_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Pid of the hub given by --url, to read its RSS (memory scenario).
    #[arg(long)]
    hub_pid: Option<u32>,
    /// Log filter for a spawned hub, as RUST_LOG and TUBEMAIL_LOG (its output goes to hub.log in its temp dir).
    #[arg(long, default_value = "warn")]
    hub_log: String,
    /// Streamed workers in the latency and throughput scenarios.
    #[arg(long, default_value_t = 100)]
    workers: usize,
    /// Measured messages in the latency scenario.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// Unmeasured warm-up messages before them.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Concurrent senders in the throughput scenario.
    #[arg(long, default_value_t = 16)]
    senders: usize,
    /// Duration of the throughput scenario, in seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Idle streamed workers in the memory scenario.
    #[arg(long, default_value_t = 1000)]
    idle_workers: usize,
    /// A message not on its stream this many seconds after its send is lost.
    #[arg(long, default_value_t = 5.0)]
    deadline: f64,
    /// Measured tm_status calls (and tm_send deliveries) in the mcp scenario.
    #[arg(long, default_value_t = 2000)]
    mcp_calls: usize,
    /// Measured wake-ups of tm_wait_for_activity in the mcp scenario.
    #[arg(long, default_value_t = 50)]
    mcp_wakes: usize,
    /// In the mcp scenario, also check that a 600 s wait returns within 46 s (takes 45 s).
    #[arg(long)]
    check_cap: bool,
    /// claude-tm binary for the manager scenario [default: next to this executable].
    #[arg(long)]
    claude_tm: Option<PathBuf>,
    /// Measured keystrokes in the manager scenario.
    #[arg(long, default_value_t = 500)]
    keys: usize,
    /// How long claude idles while the manager's CPU use is measured, in seconds.
    #[arg(long, default_value_t = 30.0)]
    idle_seconds: f64,
    /// Measured keystroke echoes in the terminal scenario.
    #[arg(long, default_value_t = 500)]
    term_keys: usize,
    /// Measured Ctrl-Cs under flood in the terminal scenario.
    #[arg(long, default_value_t = 20)]
    interrupts: usize,
    /// MiB per throughput run in the terminal scenario.
    #[arg(long, default_value_t = 64)]
    term_mib: usize,
    /// Viewers in the terminal scenario's fan-out run.
    #[arg(long, default_value_t = 4)]
    term_viewers: usize,
    /// Minimum settle time before each RSS sample, in seconds.
    #[arg(long, default_value_t = 1.0)]
    settle: f64,
    /// Streamed workers in the soak.
    #[arg(long, default_value_t = 10_000)]
    soak_workers: usize,
    /// Duration of the soak's traffic, in seconds.
    #[arg(long, default_value_t = 600.0)]
    soak_seconds: f64,
    /// Soak: sends per second to random workers (each checked on its stream).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Webhooks: worker replies per second, each notified.
    #[arg(long, default_value_t = 1000.0)]
    reply_rate: f64,
    /// Soak: worker replies (`/outbound`) per second.
    #[arg(long, default_value_t = 20.0)]
    outbound_rate: f64,
    /// Soak: permission prompts per second, each answered 0.2-2 s later.
    #[arg(long, default_value_t = 2.0)]
    permission_rate: f64,
    /// Soak: heartbeats (`/active`, `/context-pct`) per second.
    #[arg(long, default_value_t = 100.0)]
    heartbeat_rate: f64,
    /// Soak: status, worker, permission and timeline reads per second.
    #[arg(long, default_value_t = 10.0)]
    read_rate: f64,
    /// Soak: full roster reads (`GET /api/workers`) per second.
    #[arg(long, default_value_t = 0.2)]
    roster_rate: f64,
    /// Soak: MCP `tools/call tm_status` per second, on one session.
    #[arg(long, default_value_t = 2.0)]
    mcp_rate: f64,
    /// Soak: approximate size of each sent message, in bytes.
    #[arg(long, default_value_t = 200)]
    message_bytes: usize,
    /// Soak: sampling interval, in seconds.
    #[arg(long, default_value_t = 10.0)]
    sample: f64,
    /// Soak: warm-up left out of the growth verdict, in seconds.
    #[arg(long, default_value_t = 120.0)]
    soak_warmup: f64,
    /// Soak: most requests in flight (operations beyond it are shed and counted).
    #[arg(long, default_value_t = 256)]
    inflight: usize,
    /// Soak: allowed hub RSS growth after warm-up, in percent.
    #[arg(long, default_value_t = 5.0)]
    rss_tolerance: f64,
    /// Soak: allowed growth of the hub's open file descriptors after warm-up
    /// (its request connections come and go with the load, up to --inflight).
    #[arg(long, default_value_t = 64)]
    fd_tolerance: u64,
    /// Data dir of the hub given by --url, for its size (soak).
    #[arg(long)]
    hub_data_dir: Option<PathBuf>,
    /// Soak: sets the hub's `retention_max_database_mib` at the start (0 =
    /// left as is); the verdict then checks the database stays under it
    /// and that writes keep a p99 ≤ 5 ms in every window that trimmed.
    #[arg(long, default_value_t = 0)]
    retention_mib: u64,
}

/// Worker names `b<tag>-<kind>-<i>`, unique per run so a shared hub's
/// earlier runs do not interfere.
fn names(tag: &str, kind: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("b{tag}-{kind}-{i:04}")).collect()
}

/// Seconds from a CLI float.
fn secs(s: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|e| anyhow::anyhow!("--{what} {s}: {e}"))
}

/// Runs one scenario against a fresh (or the given) hub; returns its report
/// and whether the hub stayed up.
async fn run_one(
    cli: &Cli,
    scenario: Scenario,
    opts: &HubOptions<'_>,
    tag: &str,
) -> Result<(String, bool)> {
    let deadline = secs(cli.deadline, "deadline")?;
    if matches!(scenario, Scenario::Memory | Scenario::Soak)
        && opts.url.is_some()
        && opts.pid.is_none()
    {
        let skipped = format!(
            "== {scenario:?} ==\n  skipped: --url without --hub-pid, so RSS cannot be read\n"
        );
        return Ok((skipped, true));
    }
    let mut target = Target::start(opts).await?;
    let report = match scenario {
        Scenario::Latency => {
            let cfg = latency::LatencyConfig {
                names: names(tag, "lat", cli.workers),
                messages: cli.messages,
                warmup: cli.warmup,
                deadline,
            };
            latency::run(&target, &cfg).await.map(|r| r.to_string())
        }
        Scenario::Webhooks => {
            let cfg = webhooks::WebhooksConfig {
                names: [
                    names(tag, "whq", cli.workers),
                    names(tag, "whp", cli.workers),
                    names(tag, "whh", cli.workers),
                ],
                repliers: names(tag, "whr", 10),
                messages: cli.messages,
                warmup: cli.warmup,
                rate: cli.reply_rate,
                deadline,
            };
            webhooks::run(&target, &cfg).await.map(|r| r.to_string())
        }
        Scenario::Throughput => {
            let cfg = throughput::ThroughputConfig {
                names: names(tag, "tp", cli.workers),
                senders: cli.senders,
                duration: secs(cli.seconds, "seconds")?,
                deadline,
            };
            throughput::run(&target, &cfg).await.map(|r| r.to_string())
        }
        Scenario::Memory => {
            let cfg = memory::MemoryConfig {
                names: names(tag, "idle", cli.idle_workers),
                settle: secs(cli.settle, "settle")?,
                deadline,
            };
            memory::run(&target, &cfg).await.map(|r| r.to_string())
        }
        Scenario::Mcp => {
            let cfg = mcp::McpConfig {
                worker: format!("b{tag}-mcp-tm"),
                calls: cli.mcp_calls,
                wakes: cli.mcp_wakes,
                check_cap: cli.check_cap,
            };
            mcp::run(&target, &cfg).await.map(|r| r.to_string())
        }
        Scenario::Manager => {
            let cfg = manager::ManagerConfig {
                worker: format!("b{tag}-mgr-tm"),
                claude_tm: match &cli.claude_tm {
                    Some(p) => p.clone(),
                    None => manager::default_claude_tm()?,
                },
                keys: cli.keys,
                idle: secs(cli.idle_seconds, "idle-seconds")?,
            };
            manager::run(&target, &cfg).await.map(|r| r.to_string())
        }
        Scenario::Terminal => {
            let cfg = terminal::TerminalConfig {
                prefix: format!("b{tag}-term"),
                claude_tm: match &cli.claude_tm {
                    Some(p) => p.clone(),
                    None => manager::default_claude_tm()?,
                },
                keys: cli.term_keys,
                interrupts: cli.interrupts,
                megabytes: cli.term_mib,
                viewers: cli.term_viewers,
            };
            terminal::run(&target, &cfg).await.map(|r| r.to_string())
        }
        Scenario::Soak => {
            let cfg = soak::SoakConfig {
                names: names(tag, "soak", cli.soak_workers),
                duration: secs(cli.soak_seconds, "soak-seconds")?,
                send_rate: cli.rate,
                outbound_rate: cli.outbound_rate,
                permission_rate: cli.permission_rate,
                heartbeat_rate: cli.heartbeat_rate,
                read_rate: cli.read_rate,
                roster_rate: cli.roster_rate,
                mcp_rate: cli.mcp_rate,
                message_bytes: cli.message_bytes,
                sample: secs(cli.sample, "sample")?,
                warmup: secs(cli.soak_warmup, "soak-warmup")?,
                deadline,
                inflight: cli.inflight,
                rss_tolerance: cli.rss_tolerance,
                fd_tolerance: cli.fd_tolerance,
                data_dir: cli.hub_data_dir.clone(),
                retention_mib: cli.retention_mib,
                tag: tag.to_owned(),
            };
            match soak::run(&target, &cfg).await {
                Ok(r) if r.passed() => Ok(r.to_string()),
                Ok(r) => Err(anyhow::anyhow!(
                    "{r}the soak failed its checks (see RESULT)"
                )),
                Err(e) => Err(e),
            }
        }
        Scenario::All => bail!("`all` is not a single scenario"),
    };
    let died = target.exited();
    target.shutdown().await;
    match (report, died) {
        (Ok(r), None) => Ok((r, true)),
        (Ok(r), Some(d)) => Ok((format!("{r}  HUB DIED during the scenario: {d}\n"), false)),
        (Err(e), Some(d)) => Err(e.context(d)),
        (Err(e), None) => Err(e),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    if cli.workers == 0 || cli.senders == 0 || cli.soak_workers == 0 || cli.inflight == 0 {
        bail!("--workers, --senders, --soak-workers and --inflight must be at least 1");
    }
    if cli.sample <= 0.0 {
        bail!("--sample must be positive");
    }
    let hub_bin = match &cli.hub_bin {
        Some(p) => p.clone(),
        None => default_hub_bin()?,
    };
    let scenarios: Vec<Scenario> = match cli.scenario {
        Scenario::All => vec![
            Scenario::Latency,
            Scenario::Throughput,
            Scenario::Memory,
            Scenario::Mcp,
            Scenario::Manager,
            Scenario::Terminal,
        ],
        s => vec![s],
    };
    // Every stream is its own connection, on both sides (the spawned hub
    // inherits this process's limits): take all the hard limit allows.
    if let Err(e) = raise_open_files_limit() {
        tracing::warn!(error = %format!("{e:#}"), "could not raise RLIMIT_NOFILE");
    }
    let streams = if scenarios.contains(&Scenario::Soak) {
        cli.soak_workers + cli.inflight
    } else {
        cli.workers.max(cli.idle_workers) + cli.senders
    };
    let needed = streams as u64 + 64;
    match open_files_limit() {
        Some(limit) if limit < needed => tracing::warn!(
            limit,
            needed,
            "RLIMIT_NOFILE too low for this many streams, even raised to the hard limit; raise it (ulimit -Hn) first"
        ),
        Some(_) => {}
        None => tracing::warn!("could not read RLIMIT_NOFILE"),
    }
    let opts = HubOptions {
        bin: &hub_bin,
        log: &cli.hub_log,
        url: cli.url.as_deref(),
        secret: cli.secret.as_deref(),
        pid: cli.hub_pid,
        pool: if scenarios.contains(&Scenario::Soak) {
            cli.inflight
        } else {
            cli.senders + 8
        },
    };
    let mut tag = [0u8; 3];
    getrandom::fill(&mut tag).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();

    println!("tubemail-bench {}", env!("CARGO_PKG_VERSION"));
    match &cli.url {
        Some(url) => println!("hub: running at {url} (pid {:?})", cli.hub_pid),
        None => println!("hub: spawned fresh per scenario from {}", hub_bin.display()),
    }
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    if scenarios == [Scenario::Soak] {
        println!(
            "config: soak-workers={} soak-seconds={} sample={}s soak-warmup={}s deadline={}s inflight={} cores={cores}",
            cli.soak_workers,
            cli.soak_seconds,
            cli.sample,
            cli.soak_warmup,
            cli.deadline,
            cli.inflight
        );
    } else {
        println!(
            "config: workers={} messages={} (+{} warm-up) senders={} seconds={} idle-workers={} deadline={}s cores={cores}",
            cli.workers,
            cli.messages,
            cli.warmup,
            cli.senders,
            cli.seconds,
            cli.idle_workers,
            cli.deadline,
        );
    }
    println!();
    let mut failed = 0;
    for scenario in scenarios {
        tracing::info!(?scenario, "starting");
        match run_one(&cli, scenario, &opts, &tag).await {
            Ok((report, hub_ok)) => {
                println!("{report}");
                if !hub_ok {
                    failed += 1;
                }
            }
            Err(e) => {
                failed += 1;
                println!("== {scenario:?} ==\n  FAILED: {e:#}\n");
            }
        }
    }
    if failed > 0 {
        bail!("{failed} scenario(s) failed");
    }
    Ok(())
}
