//! Scenario 6: the browser terminal bridge (`/ws/pty/{worker}`).
//!
//! * keystroke echo: a byte typed into the WebSocket goes hub → manager →
//!   pty → a raw-mode echo program → manager → hub → WebSocket; compared
//!   with the same program echoing in a pty this process drives itself
//!   (the difference is the bridge's tax);
//! * Ctrl-C under flood: a program floods the pty; 0x03 typed into the
//!   WebSocket until the program's SIGINT handler reports on a Unix socket
//!   (an upper bound: it includes that socket hop);
//! * hub throughput: `pty-out` posts (as a manager makes them) to 1 and to
//!   several WebSocket viewers, the poster never more than 512 KiB ahead
//!   of the slowest viewer (so nobody is switched to a repaint and the rate
//!   is a sustained one); then the same to one viewer with recording on;
//! * end to end: a program writes a burst into the pty, read by one viewer
//!   (the manager parses every byte into its screen model on the way).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::Message;

use crate::collector::{Percentiles, show};
use crate::hub::Target;

/// Raw mode; echoes every byte read.
const ECHO: &str = r#"#!/usr/bin/env python3
import os, tty
tty.setraw(0)
while True:
    b = os.read(0, 4096)
    if not b:
        break
    os.write(1, b)
"#;

/// Floods like `yes`; SIGINT is reported on BENCH_SOCK, then 0.3 s of
/// quiet, then the flood goes on.
const FLOOD: &str = r#"#!/usr/bin/env python3
import os, signal, socket, time
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["BENCH_SOCK"])
hit = [False]
def on_int(sig, frame):
    s.sendall(b"int\n")
    hit[0] = True
signal.signal(signal.SIGINT, on_int)
chunk = b"y\n" * 2048
while True:
    if hit[0]:
        hit[0] = False
        time.sleep(0.3)
    os.write(1, chunk)
"#;

/// Raw mode; each `g` typed writes BENCH_MB MiB of text lines, then a marker.
const BURST: &str = r#"#!/usr/bin/env python3
import os, tty
tty.setraw(0)
total = int(os.environ["BENCH_MB"]) << 20
line = b"0123456789 the quick brown fox jumps over the lazy dog 0123456789\r\n"
block = line * (65536 // len(line))
while True:
    b = os.read(0, 4096)
    if not b:
        break
    if b"g" in b:
        sent = 0
        while sent < total:
            os.write(1, block)
            sent += len(block)
        os.write(1, b"\r\nEND-OF-BURST\r\n")
"#;

/// Settings for the terminal scenario.
pub struct TerminalConfig {
    /// Worker name prefix (unique per run).
    pub prefix: String,
    /// The claude-tm binary.
    pub claude_tm: PathBuf,
    /// Measured keystrokes.
    pub keys: usize,
    /// Measured Ctrl-Cs.
    pub interrupts: usize,
    /// MiB per throughput run.
    pub megabytes: usize,
    /// Viewers in the fan-out run.
    pub viewers: usize,
}

/// One throughput run through the hub.
struct Rate {
    viewers: usize,
    recording: bool,
    /// MiB/s that every viewer received.
    mib_s: f64,
    /// Bytes the recorder wrote (cast + frames), when recording.
    recorded: Option<u64>,
}

/// Results of the terminal scenario.
pub struct TerminalReport {
    bridge_echo: Option<Percentiles>,
    direct_echo: Option<Percentiles>,
    ctrl_c: Option<Percentiles>,
    rates: Vec<Rate>,
    e2e_mib_s: f64,
    e2e_snapshots: usize,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A program written to `dir` and made executable.
fn script(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    Ok(path)
}

/// `claude-tm manager` for `worker` with `program` as claude.
fn manager(
    cfg: &TerminalConfig,
    target: &Target,
    dir: &Path,
    worker: &str,
    program: &Path,
    env: &[(&str, String)],
) -> Result<tokio::process::Child> {
    let api = &target.api;
    let mut cmd = tokio::process::Command::new(&cfg.claude_tm);
    cmd.arg("manager")
        .env("TUBEMAIL_HUB_URL", api.base())
        .env("TUBEMAIL_SECRET", api.secret())
        .env("TM_WORKER_NAME", worker)
        .env("TUBEMAIL_CLAUDE_BIN", program)
        .env("XDG_RUNTIME_DIR", dir)
        .env("TUBEMAIL_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn()
        .with_context(|| format!("starting {}", cfg.claude_tm.display()))
}

async fn wait_online(target: &Target, worker: &str) -> Result<()> {
    let http = reqwest::Client::new();
    let url = format!("{}/api/workers/{worker}-manager", target.api.base());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let online = http
            .get(&url)
            .bearer_auth(target.api.secret())
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        if let Some(r) = online
            && r.json::<Value>().await?["online"] == true
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the manager of {worker} never came online");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open(target: &Target, worker: &str) -> Result<Ws> {
    let http = reqwest::Client::new();
    let v: Value = http
        .post(format!("{}/api/pty-ticket", target.api.base()))
        .bearer_auth(target.api.secret())
        .json(&json!({"worker": worker}))
        .send()
        .await?
        .json()
        .await?;
    let ticket = v["ticket"].as_str().context("no ticket")?;
    let url = format!(
        "{}/ws/pty/{worker}?ticket={ticket}",
        target.api.base().replacen("http", "ws", 1)
    );
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("opening the terminal WebSocket")?;
    Ok(ws)
}

/// What the next frame was: output bytes, or a control object.
enum Frame {
    Bytes(Vec<u8>),
    Control(Value),
}

async fn next(ws: &mut Ws, within: Duration) -> Result<Frame> {
    loop {
        let msg = tokio::time::timeout(within, ws.next())
            .await
            .context("no terminal output in time")?
            .context("the terminal WebSocket closed")??;
        match msg {
            Message::Binary(b) => return Ok(Frame::Bytes(b.to_vec())),
            Message::Text(t) => return Ok(Frame::Control(serde_json::from_str(t.as_str())?)),
            _ => {}
        }
    }
}

/// Reads until the output (not a repaint) contains `needle`; returns the
/// output bytes read and the snapshots seen.
async fn read_until(ws: &mut Ws, needle: &[u8], within: Duration) -> Result<(u64, usize)> {
    let (mut n, mut snapshots, mut tail, mut repaint) = (0u64, 0, Vec::new(), false);
    loop {
        match next(ws, within).await? {
            Frame::Bytes(_) if repaint => repaint = false,
            Frame::Bytes(b) => {
                n += b.len() as u64;
                tail.extend_from_slice(&b);
                if tail.windows(needle.len()).any(|w| w == needle) {
                    return Ok((n, snapshots));
                }
                let keep = tail.len().saturating_sub(needle.len());
                tail.drain(..keep);
            }
            Frame::Control(v) => {
                if v["kind"] == "snapshot" {
                    snapshots += 1;
                    repaint = true;
                }
            }
        }
    }
}

/// Keystroke echo through the bridge.
async fn bridge_echo(ws: &mut Ws, keys: usize) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(keys);
    for i in 0..keys + 20 {
        let key = b'a' + (i % 26) as u8;
        let t = Instant::now();
        ws.send(Message::Binary(vec![key].into())).await?;
        loop {
            if let Frame::Bytes(b) = next(ws, Duration::from_secs(10)).await?
                && b.contains(&key)
            {
                break;
            }
        }
        if i >= 20 {
            samples.push(t.elapsed());
        }
    }
    Ok(samples)
}

/// The same program echoing in a pty driven directly.
async fn direct_echo(program: &Path, keys: usize) -> Result<Vec<Duration>> {
    let pty = tubemail_pty::Pty::spawn(&tubemail_pty::PtyCommand::new(program))?;
    let mut buf = [0u8; 4096];
    // Wait until raw mode is on: an echoed key comes back once.
    loop {
        pty.write_all(b"!").await?;
        let n = tokio::time::timeout(Duration::from_secs(10), pty.read(&mut buf))
            .await
            .context("the echo program never answered")??;
        if buf[..n] == *b"!" {
            break;
        }
    }
    let mut samples = Vec::with_capacity(keys);
    for i in 0..keys + 20 {
        let key = b'a' + (i % 26) as u8;
        let t = Instant::now();
        pty.write_all(&[key]).await?;
        loop {
            let n = tokio::time::timeout(Duration::from_secs(10), pty.read(&mut buf))
                .await
                .context("no echo")??;
            if buf[..n].contains(&key) {
                break;
            }
        }
        if i >= 20 {
            samples.push(t.elapsed());
        }
    }
    Ok(samples)
}

/// `pty-out` posts to `viewers` viewers of `worker`; MiB/s each received.
async fn hub_rate(target: &Target, worker: &str, viewers: usize, mib: usize) -> Result<f64> {
    let mut sockets = Vec::new();
    for _ in 0..viewers {
        let mut ws = open(target, worker).await?;
        // hello, then the first repaint (control + bytes)
        loop {
            if let Frame::Control(v) = next(&mut ws, Duration::from_secs(10)).await?
                && v["kind"] == "snapshot"
            {
                break;
            }
        }
        next(&mut ws, Duration::from_secs(10)).await?;
        sockets.push(ws);
    }
    let (progress_tx, progress_rx) = tokio::sync::watch::channel(vec![0u64; viewers]);
    let total = (mib as u64) << 20;
    let mut readers = Vec::new();
    for (i, mut ws) in sockets.into_iter().enumerate() {
        let progress = progress_tx.clone();
        readers.push(tokio::spawn(async move {
            let mut got = 0u64;
            while got < total {
                match next(&mut ws, Duration::from_secs(30)).await? {
                    Frame::Bytes(b) => got += b.len() as u64,
                    Frame::Control(v) if v["kind"] == "snapshot" => {
                        bail!("viewer {i} fell behind and got a repaint")
                    }
                    Frame::Control(_) => {}
                }
                progress.send_modify(|p| p[i] = got);
            }
            Ok(())
        }));
    }
    let http = reqwest::Client::new();
    let url = format!("{}/tubemail/{worker}/pty-out", target.api.base());
    let line = b"0123456789 the quick brown fox jumps over the lazy dog 0123456789\r\n";
    let chunk: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(64 << 10)
        .collect::<Vec<u8>>();
    let mut progress = progress_rx;
    let t = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        // Never more than 512 KiB ahead of the slowest viewer.
        loop {
            let slowest = progress
                .borrow_and_update()
                .iter()
                .copied()
                .min()
                .unwrap_or(0);
            if sent - slowest <= 512 << 10 {
                break;
            }
            progress.changed().await?;
        }
        let r = http
            .post(&url)
            .bearer_auth(target.api.secret())
            .body(chunk.clone())
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("pty-out: HTTP {}", r.status());
        }
        sent += chunk.len() as u64;
    }
    for r in readers {
        r.await??;
    }
    Ok(total as f64 / (1 << 20) as f64 / t.elapsed().as_secs_f64())
}

/// Runs the scenario against `target`.
pub async fn run(target: &Target, cfg: &TerminalConfig) -> Result<TerminalReport> {
    let dir = tempfile::tempdir()?;
    let echo = script(dir.path(), "echo-claude", ECHO)?;
    let flood = script(dir.path(), "flood-claude", FLOOD)?;
    let burst = script(dir.path(), "burst-claude", BURST)?;

    // Keystroke echo, through the bridge and directly.
    let worker = format!("{}-echo-tm", cfg.prefix);
    let mut m = manager(cfg, target, dir.path(), &worker, &echo, &[])?;
    wait_online(target, &worker).await?;
    let mut ws = open(target, &worker).await?;
    let bridge = bridge_echo(&mut ws, cfg.keys).await?;
    drop(ws);
    let _ = m.start_kill();
    let _ = m.wait().await;
    let direct = direct_echo(&echo, cfg.keys).await?;

    // Ctrl-C while the program floods the terminal.
    let worker = format!("{}-flood-tm", cfg.prefix);
    let sock = dir.path().join("int.sock");
    let listener = tokio::net::UnixListener::bind(&sock)?;
    let mut m = manager(
        cfg,
        target,
        dir.path(),
        &worker,
        &flood,
        &[("BENCH_SOCK", sock.display().to_string())],
    )?;
    let (conn, _) = tokio::time::timeout(Duration::from_secs(20), listener.accept())
        .await
        .context("the flooding program never connected")??;
    let mut lines = tokio::io::BufReader::new(conn).lines();
    wait_online(target, &worker).await?;
    let ws = open(target, &worker).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let (mut sink, mut stream) = ws.split();
    // The viewer keeps reading the flood throughout.
    let reader = tokio::spawn(async move {
        let mut n = 0u64;
        while let Some(Ok(msg)) = stream.next().await {
            if let Message::Binary(b) = msg {
                n += b.len() as u64;
            }
        }
        n
    });
    let writer = tokio::spawn(async move {
        while let Some(keys) = rx.recv().await {
            if sink.send(Message::Binary(keys.into())).await.is_err() {
                break;
            }
        }
    });
    let mut ctrl_c = Vec::new();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..cfg.interrupts {
        let t = Instant::now();
        tx.send(vec![0x03]).await?;
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .context("Ctrl-C never reached the flooding program")??
            .context("the flooding program closed its socket")?;
        if line != "int" {
            bail!("unexpected report {line:?}");
        }
        ctrl_c.push(t.elapsed());
        // The flood resumes after 0.3 s.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    drop(tx);
    let _ = writer.await;
    reader.abort();
    let _ = m.start_kill();
    let _ = m.wait().await;

    // Hub throughput, one viewer then several, then recording on.
    let mut rates = Vec::new();
    for viewers in [1, cfg.viewers] {
        let worker = format!("{}-rate{viewers}-tm", cfg.prefix);
        let mib_s = hub_rate(target, &worker, viewers, cfg.megabytes).await?;
        rates.push(Rate {
            viewers,
            recording: false,
            mib_s,
            recorded: None,
        });
    }
    let worker = format!("{}-rec-tm", cfg.prefix);
    target.api.register(&worker).await?;
    let http = reqwest::Client::new();
    // One recording large enough for the whole run, so its size on disk
    // tells whether the recorder kept up; the settings are put back after.
    let settings_url = format!("{}/api/settings", target.api.base());
    let before: Value = http
        .get(&settings_url)
        .bearer_auth(target.api.secret())
        .send()
        .await?
        .json()
        .await?;
    let r = http
        .put(&settings_url)
        .bearer_auth(target.api.secret())
        .json(&json!({"recording_max_bytes_per_file": 1u64 << 40, "recording_keep_files": 1}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("settings: HTTP {}", r.status());
    }
    let rec_url = format!("{}/api/workers/{worker}/recording", target.api.base());
    let r = http
        .post(&rec_url)
        .bearer_auth(target.api.secret())
        .json(&json!({"enabled": true}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("recording on: HTTP {}", r.status());
    }
    let mib_s = hub_rate(target, &worker, 1, cfg.megabytes).await?;
    let st: Value = http
        .post(&rec_url)
        .bearer_auth(target.api.secret())
        .json(&json!({"enabled": false}))
        .send()
        .await?
        .json()
        .await?;
    let r = http
        .put(&settings_url)
        .bearer_auth(target.api.secret())
        .json(&before)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("settings back: HTTP {}", r.status());
    }
    let recorded = st["files"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["size_bytes"].as_u64()).sum());
    rates.push(Rate {
        viewers: 1,
        recording: true,
        mib_s,
        recorded,
    });

    // End to end: a burst from a program in the pty to one viewer.
    let worker = format!("{}-burst-tm", cfg.prefix);
    let mut m = manager(
        cfg,
        target,
        dir.path(),
        &worker,
        &burst,
        &[("BENCH_MB", cfg.megabytes.to_string())],
    )?;
    wait_online(target, &worker).await?;
    let mut ws = open(target, &worker).await?;
    // Wait for raw mode (the program's first read) before timing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    ws.send(Message::Binary(b"g".to_vec().into())).await?;
    let (bytes, e2e_snapshots) =
        read_until(&mut ws, b"END-OF-BURST", Duration::from_secs(60)).await?;
    let elapsed = t.elapsed();
    let _ = bytes;
    let e2e_mib_s =
        ((cfg.megabytes as u64) << 20) as f64 / (1 << 20) as f64 / elapsed.as_secs_f64();
    let _ = m.start_kill();
    let _ = m.wait().await;

    Ok(TerminalReport {
        bridge_echo: Percentiles::of(bridge),
        direct_echo: Percentiles::of(direct),
        ctrl_c: Percentiles::of(ctrl_c),
        rates,
        e2e_mib_s,
        e2e_snapshots,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl fmt::Display for TerminalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== terminal ==")?;
        writeln!(
            f,
            "  keystroke echo via the bridge: {}",
            show(self.bridge_echo)
        )?;
        writeln!(
            f,
            "  keystroke echo in a direct pty: {}",
            show(self.direct_echo)
        )?;
        if let (Some(b), Some(d)) = (self.bridge_echo, self.direct_echo) {
            writeln!(
                f,
                "  bridge tax: p50 {:.3} ms, p99 {:.3} ms",
                ms(b.p50) - ms(d.p50),
                ms(b.p99) - ms(d.p99)
            )?;
        }
        writeln!(
            f,
            "  Ctrl-C -> SIGINT while flooding: {}",
            show(self.ctrl_c)
        )?;
        for r in &self.rates {
            write!(
                f,
                "  hub pty-out -> {} viewer(s){}: {:.1} MiB/s each",
                r.viewers,
                if r.recording { ", recording" } else { "" },
                r.mib_s
            )?;
            if let Some(b) = r.recorded {
                write!(
                    f,
                    " ({:.1} MiB of .cast + .frames.jsonl on disk)",
                    b as f64 / (1 << 20) as f64
                )?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "  end to end, pty burst -> manager -> hub -> 1 viewer: {:.1} MiB/s ({} repaints)",
            self.e2e_mib_s, self.e2e_snapshots
        )
    }
}
