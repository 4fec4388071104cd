//! The hub under test: spawned by the bench (fresh data dir, random
//! secret) or already running at a URL; plus process facts from `/proc`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

use crate::api::Api;

/// How long a spawned hub may take to answer `/health`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A hub to benchmark.
pub struct Target {
    /// Client for it.
    pub api: Api,
    /// Its process id, when known (for RSS).
    pub pid: Option<u32>,
    /// The child process and its temp dir, when the bench spawned it.
    spawned: Option<Spawned>,
}

/// A hub process the bench started.
struct Spawned {
    /// The process.
    child: Child,
    /// Holds the data dir and log file; removed on drop.
    dir: tempfile::TempDir,
}

/// How to reach or start the hub.
pub struct HubOptions<'a> {
    /// Binary to spawn when `url` is `None`.
    pub bin: &'a Path,
    /// Log filter for a spawned hub (`RUST_LOG` and `TUBEMAIL_LOG`).
    pub log: &'a str,
    /// A running hub's base URL.
    pub url: Option<&'a str>,
    /// The running hub's secret.
    pub secret: Option<&'a str>,
    /// The running hub's pid, for RSS.
    pub pid: Option<u32>,
    /// Idle keep-alive connections for short requests.
    pub pool: usize,
}

/// A random hex secret.
fn random_secret() -> Result<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A free local port (bound then released; racy but fine on a quiet box).
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The last `n` lines of a file, for error reports.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The default hub binary: `tubemail-hub` next to this executable.
pub fn default_hub_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating own executable")?;
    let dir = exe.parent().context("executable has no parent dir")?;
    Ok(dir.join("tubemail-hub"))
}

impl Target {
    /// Connects to the hub in `opts.url`, or spawns `opts.bin`.
    pub async fn start(opts: &HubOptions<'_>) -> Result<Self> {
        if let Some(url) = opts.url {
            let secret = opts
                .secret
                .context("--url needs --secret (or TUBEMAIL_SECRET)")?;
            let api = Api::new(url, secret, opts.pool)?;
            if !api.healthy().await {
                bail!("GET {url}/health did not answer 200");
            }
            return Ok(Self {
                api,
                pid: opts.pid,
                spawned: None,
            });
        }
        Self::spawn(opts).await
    }

    /// Spawns a fresh hub and waits for `/health`.
    async fn spawn(opts: &HubOptions<'_>) -> Result<Self> {
        if !opts.bin.is_file() {
            bail!(
                "hub binary {} not found (build it: cargo build --release -p tubemail-hub, or pass --hub-bin)",
                opts.bin.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("tubemail-bench-")
            .tempdir()
            .context("creating temp dir")?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data).context("creating data dir")?;
        let log_path = dir.path().join("hub.log");
        let log = File::create(&log_path).context("creating hub log")?;
        let secret = random_secret()?;
        let addr = format!("127.0.0.1:{}", free_port()?);
        let child = Command::new(opts.bin)
            .arg("--bind")
            .arg(&addr)
            .arg("--data-dir")
            .arg(&data)
            .env("TUBEMAIL_SECRET", &secret)
            .env("RUST_LOG", opts.log)
            .env("TUBEMAIL_LOG", opts.log)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("cloning log handle")?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", opts.bin.display()))?;
        let pid = child.id();
        let url = format!("http://{addr}");
        let api = Api::new(&url, &secret, opts.pool)?;
        let mut target = Self {
            api,
            pid,
            spawned: Some(Spawned { child, dir }),
        };
        let started = Instant::now();
        loop {
            if target.api.healthy().await {
                break;
            }
            if let Some(s) = target.spawned.as_mut()
                && let Some(status) = s.child.try_wait()?
            {
                bail!(
                    "hub exited with {status} before /health answered; log tail:\n{}",
                    tail(&log_path, 20)
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "hub did not answer /health within {START_TIMEOUT:?}; log tail:\n{}",
                    tail(&log_path, 20)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::info!(%url, ?pid, dir = %target.data_dir_display(), "hub up");
        Ok(target)
    }

    /// Where a spawned hub keeps its files (for logs), or `-`.
    fn data_dir_display(&self) -> String {
        self.spawned
            .as_ref()
            .map_or_else(|| "-".to_owned(), |s| s.dir.path().display().to_string())
    }

    /// A spawned hub's data dir.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.spawned.as_ref().map(|s| s.dir.path().join("data"))
    }

    /// Whether a spawned hub has exited, with its status and log tail.
    pub fn exited(&mut self) -> Option<String> {
        let s = self.spawned.as_mut()?;
        match s.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "hub exited with {status}; log tail:\n{}",
                tail(&s.dir.path().join("hub.log"), 20)
            )),
            _ => None,
        }
    }

    /// Kills a spawned hub and removes its data dir.
    pub async fn shutdown(mut self) {
        if let Some(mut s) = self.spawned.take() {
            let _ = s.child.start_kill();
            let _ = s.child.wait().await;
            drop(s.dir);
        }
    }
}

/// Resident and peak memory of a process, in KiB, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy)]
pub struct Rss {
    /// `VmRSS`.
    pub rss_kb: u64,
    /// `VmHWM` (peak RSS).
    pub hwm_kb: u64,
}

/// Reads [`Rss`] of `pid`.
pub fn rss(pid: u32) -> Result<Rss> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{name} missing in {path}"))
    };
    Ok(Rss {
        rss_kb: field("VmRSS:")?,
        hwm_kb: field("VmHWM:")?,
    })
}

/// Samples RSS every 250 ms until two samples 500 ms apart differ by less
/// than 64 KiB (or `max` passes), after waiting at least `min`.
pub async fn settled_rss(pid: u32, min: Duration, max: Duration) -> Result<Rss> {
    let start = Instant::now();
    tokio::time::sleep(min).await;
    let mut prev = rss(pid)?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss(pid)?;
        if now.rss_kb.abs_diff(prev.rss_kb) < 64 || start.elapsed() >= max {
            return Ok(now);
        }
        prev = now;
    }
}

/// The soft `RLIMIT_NOFILE` of this process, from `/proc/self/limits`.
pub fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (a hub
/// the bench spawns inherits it); returns the new soft limit.
pub fn raise_open_files_limit() -> Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit(RLIMIT_NOFILE)")?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
            .with_context(|| format!("setrlimit(RLIMIT_NOFILE, {hard})"))?;
    }
    Ok(hard.max(soft))
}

/// CPU time (user + system) a process has used so far, from
/// `/proc/<pid>/stat` (`"self"` for this process); clock ticks are taken as
/// Linux's fixed `USER_HZ` of 100.
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, starting at `state`.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}
