//! Scenario 5: the manager's overhead next to one worker.
//!
//! Starts `claude-tm manager` (found next to this executable, or
//! `--claude-tm`) with a stand-in claude that sits idle in raw mode and
//! reports every byte it reads on a Unix socket. Measures:
//!
//! * keystroke latency: `POST /api/workers/{w}/keystroke` until the bytes
//!   reach the program in the pty (through the hub's durable append, the
//!   manager's stream and the pty), as seen back here, so it is an upper
//!   bound;
//! * the manager's own RSS and CPU use while claude idles (the manager
//!   still reads the screen every 3 s and heartbeats to the hub).

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use crate::collector::{Percentiles, show};
use crate::hub::{Rss, Target, cpu_time, settled_rss};

/// An idle claude: raw mode, every read reported as one line on the socket.
const STANDIN: &str = r#"#!/usr/bin/env python3
import os, socket, sys, tty
tty.setraw(0)
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["BENCH_SOCK"])
while True:
    b = os.read(0, 4096)
    if not b:
        break
    s.sendall(b.hex().encode() + b"\n")
"#;

/// Settings for the manager scenario.
pub struct ManagerConfig {
    /// Worker name.
    pub worker: String,
    /// The claude-tm binary.
    pub claude_tm: PathBuf,
    /// Measured keystrokes.
    pub keys: usize,
    /// How long claude idles for the CPU figure.
    pub idle: Duration,
}

/// Results of the manager scenario.
pub struct ManagerReport {
    keys: Option<Percentiles>,
    rss: Rss,
    cpu_percent: f64,
    idle: Duration,
}

/// The `claude-tm` next to this executable.
pub fn default_claude_tm() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this executable")?;
    Ok(exe.with_file_name("claude-tm"))
}

/// Runs the scenario against `target`.
pub async fn run(target: &Target, cfg: &ManagerConfig) -> Result<ManagerReport> {
    let api = &target.api;
    let dir = tempfile::tempdir()?;
    let sock = dir.path().join("keys.sock");
    let listener = tokio::net::UnixListener::bind(&sock)?;
    let standin = dir.path().join("idle-claude");
    std::fs::write(&standin, STANDIN)?;
    std::fs::set_permissions(
        &standin,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let mut manager = tokio::process::Command::new(&cfg.claude_tm)
        .arg("manager")
        .env("TUBEMAIL_HUB_URL", api.base())
        .env("TUBEMAIL_SECRET", api.secret())
        .env("TM_WORKER_NAME", &cfg.worker)
        .env("TUBEMAIL_CLAUDE_BIN", &standin)
        .env("BENCH_SOCK", &sock)
        .env("XDG_RUNTIME_DIR", dir.path())
        .env("TUBEMAIL_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", cfg.claude_tm.display()))?;
    let pid = manager.id().context("manager pid")?;
    let (conn, _) = tokio::time::timeout(Duration::from_secs(20), listener.accept())
        .await
        .context("the stand-in claude never connected")??;
    let mut lines = tokio::io::BufReader::new(conn).lines();

    // The manager follows its control stream once it is online.
    let http = reqwest::Client::new();
    let online_url = format!("{}/api/workers/{}-manager", api.base(), cfg.worker);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let online = http
            .get(&online_url)
            .bearer_auth(api.secret())
            .send()
            .await
            .ok()
            .and_then(|r| r.status().is_success().then_some(r));
        if let Some(r) = online
            && r.json::<serde_json::Value>().await?["online"] == true
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the manager never came online");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let keys_url = format!("{}/api/workers/{}/keystroke", api.base(), cfg.worker);
    let mut samples = Vec::with_capacity(cfg.keys);
    for i in 0..cfg.keys + 10 {
        let t = Instant::now();
        let resp = http
            .post(&keys_url)
            .bearer_auth(api.secret())
            .json(&json!({"keys": "x"}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("keystroke: HTTP {}", resp.status());
        }
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
            .await
            .context("a keystroke never reached the pty")??
            .context("the stand-in closed its socket")?;
        if line != "78" {
            bail!("the pty got {line:?}, not the key");
        }
        if i >= 10 {
            samples.push(t.elapsed());
        }
    }

    let cpu_before = cpu_time(&pid.to_string()).context("manager CPU time")?;
    let t = Instant::now();
    tokio::time::sleep(cfg.idle).await;
    let cpu = cpu_time(&pid.to_string())
        .context("manager CPU time")?
        .saturating_sub(cpu_before);
    let cpu_percent = cpu.as_secs_f64() / t.elapsed().as_secs_f64() * 100.0;
    let rss = settled_rss(pid, Duration::ZERO, Duration::from_secs(5)).await?;
    let _ = manager.start_kill();
    let _ = manager.wait().await;
    Ok(ManagerReport {
        keys: Percentiles::of(samples),
        rss,
        cpu_percent,
        idle: t.elapsed(),
    })
}

impl fmt::Display for ManagerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== manager ==")?;
        writeln!(f, "  keystroke hub -> pty: {}", show(self.keys))?;
        writeln!(
            f,
            "  manager RSS while claude idles: {:.1} MiB (peak {:.1} MiB)",
            self.rss.rss_kb as f64 / 1024.0,
            self.rss.hwm_kb as f64 / 1024.0
        )?;
        writeln!(
            f,
            "  manager CPU while claude idles: {:.2} % over {:.0} s",
            self.cpu_percent,
            self.idle.as_secs_f64()
        )
    }
}
