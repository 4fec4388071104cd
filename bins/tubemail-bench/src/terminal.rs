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
//!   (the manager parses every byte into its screen model on the way);
//!   runs with recording off and on alternate, for the recording's cost.
//!
//! With recording on, a run's clock stops only once the recorder has
//! written everything (turning recording off waits for that), and the
//! frames are read back through the API: the bytes the recorder skipped
//! (`gap_bytes`) give the fraction recorded.

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

/// End-to-end runs with recording off, then on, in turn.
const E2E_PAIRS: usize = 5;

/// What the recorder made of a run.
#[derive(Debug, Clone, Copy, Default)]
struct Recorded {
    /// Bytes of `.cast` plus `.frames.jsonl` on disk.
    on_disk: u64,
    /// Text bytes in the frames (the output with escape sequences removed).
    text: u64,
    /// Output bytes the recorder skipped (the sum of `gap_bytes`).
    gaps: u64,
}

impl Recorded {
    /// Share of the output that was recorded.
    fn fraction(&self) -> f64 {
        if self.text + self.gaps == 0 {
            return 0.0;
        }
        self.text as f64 / (self.text + self.gaps) as f64
    }
}

/// One throughput run through the hub.
struct Rate {
    viewers: usize,
    /// MiB/s that every viewer received (with recording: and the recorder
    /// wrote).
    mib_s: f64,
    /// What was recorded, when recording.
    recorded: Option<Recorded>,
}

/// One end-to-end run.
struct E2e {
    mib_s: f64,
    repaints: usize,
    recorded: Option<Recorded>,
    /// CPU time the hub used for the run (user + system), when its pid is
    /// known.
    hub_cpu: Option<Duration>,
}

/// Results of the terminal scenario.
pub struct TerminalReport {
    bridge_echo: Option<Percentiles>,
    direct_echo: Option<Percentiles>,
    ctrl_c: Option<Percentiles>,
    rates: Vec<Rate>,
    e2e: Vec<E2e>,
    /// MiB per throughput run.
    megabytes: usize,
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

/// `pty-out` posts to `viewers` viewers of `worker`; how long until each
/// received everything.
async fn hub_rate(target: &Target, worker: &str, viewers: usize, mib: usize) -> Result<Duration> {
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
    Ok(t.elapsed())
}

fn mib_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / f64::from(1 << 20) / took.as_secs_f64()
}

/// Turns recording of `worker` on or off; the status (off: once the
/// recorder has written everything queued).
async fn set_recording(target: &Target, worker: &str, on: bool) -> Result<Value> {
    let r = reqwest::Client::new()
        .post(format!(
            "{}/api/workers/{worker}/recording",
            target.api.base()
        ))
        .bearer_auth(target.api.secret())
        .json(&json!({"enabled": on}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("recording {on}: HTTP {}", r.status());
    }
    Ok(r.json().await?)
}

/// What the recorder wrote for `worker` (recording off by now): sizes from
/// `status`, text and gaps from every frame (read through the API, a page
/// at a time, oldest first).
async fn recorded(target: &Target, worker: &str, status: &Value) -> Result<Recorded> {
    let on_disk = status["files"].as_array().map_or(0, |f| {
        f.iter().filter_map(|f| f["size_bytes"].as_u64()).sum()
    });
    let http = reqwest::Client::new();
    let url = format!(
        "{}/api/workers/{worker}/recording/frames",
        target.api.base()
    );
    let (mut text, mut gaps) = (0u64, 0u64);
    // Pages go on from the last frame's time; frames of that same
    // millisecond already counted are skipped (they come first, in order).
    let mut since: Option<String> = None;
    let mut seen_at_since = 0usize;
    loop {
        // Frame times are `2026-05-17T12:34:56.789Z`: nothing to encode.
        let page_url = match &since {
            Some(t) => format!("{url}?limit=2000&since={t}"),
            None => format!("{url}?limit=2000"),
        };
        let req = http.get(&page_url).bearer_auth(target.api.secret());
        let page: Value = req.send().await?.error_for_status()?.json().await?;
        let frames = page["frames"].as_array().context("frames: no list")?;
        let new = frames.get(seen_at_since..).unwrap_or_default();
        for f in new {
            text += f["delta"].as_str().map_or(0, |d| d.len() as u64);
            gaps += f["gap_bytes"].as_u64().unwrap_or(0);
        }
        if page["truncated"] != true {
            break;
        }
        let last = frames
            .last()
            .and_then(|f| f["t"].as_str())
            .context("frames: no time")?
            .to_owned();
        let same = frames
            .iter()
            .rev()
            .take_while(|f| f["t"] == last.as_str())
            .count();
        if same == frames.len() {
            bail!("more than a page of frames in one millisecond; cannot page on");
        }
        since = Some(last);
        seen_at_since = same;
    }
    Ok(Recorded {
        on_disk,
        text,
        gaps,
    })
}

/// One burst from the program in the pty, until the viewer has it all;
/// with `record`, recording is on for it and the clock stops once the
/// recorder has written it.
async fn burst(
    target: &Target,
    ws: &mut Ws,
    worker: &str,
    mib: usize,
    record: bool,
) -> Result<E2e> {
    if record {
        set_recording(target, worker, true).await?;
    }
    let pid = target.pid.map(|p| p.to_string());
    let cpu_before = pid.as_deref().and_then(crate::hub::cpu_time);
    let t = Instant::now();
    ws.send(Message::Binary(b"g".to_vec().into())).await?;
    let (_, repaints) = read_until(ws, b"END-OF-BURST", Duration::from_secs(120)).await?;
    let status = if record {
        Some(set_recording(target, worker, false).await?)
    } else {
        None
    };
    let took = t.elapsed();
    let cpu_after = pid.as_deref().and_then(crate::hub::cpu_time);
    // Reading the frames back (the hub parses them) is not part of the run.
    let recorded_run = match status {
        Some(st) => Some(recorded(target, worker, &st).await?),
        None => None,
    };
    Ok(E2e {
        mib_s: mib_s((mib as u64) << 20, took),
        repaints,
        recorded: recorded_run,
        hub_cpu: cpu_before.zip(cpu_after).map(|(a, b)| b.saturating_sub(a)),
    })
}

/// Runs the scenario against `target`.
pub async fn run(target: &Target, cfg: &TerminalConfig) -> Result<TerminalReport> {
    let dir = tempfile::tempdir()?;
    let echo = script(dir.path(), "echo-claude", ECHO)?;
    let flood = script(dir.path(), "flood-claude", FLOOD)?;
    let burst_program = script(dir.path(), "burst-claude", BURST)?;

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
    let total = (cfg.megabytes as u64) << 20;
    let mut rates = Vec::new();
    for viewers in [1, cfg.viewers] {
        let worker = format!("{}-rate{viewers}-tm", cfg.prefix);
        let took = hub_rate(target, &worker, viewers, cfg.megabytes).await?;
        rates.push(Rate {
            viewers,
            mib_s: mib_s(total, took),
            recorded: None,
        });
    }
    let http = reqwest::Client::new();
    // One recording large enough for a whole run, so nothing rotates away;
    // the settings are put back after.
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
    let worker = format!("{}-rec-tm", cfg.prefix);
    target.api.register(&worker).await?;
    set_recording(target, &worker, true).await?;
    let took = hub_rate(target, &worker, 1, cfg.megabytes).await?;
    let t = Instant::now();
    let status = set_recording(target, &worker, false).await?;
    let took = took + t.elapsed();
    rates.push(Rate {
        viewers: 1,
        mib_s: mib_s(total, took),
        recorded: Some(recorded(target, &worker, &status).await?),
    });

    // End to end: bursts from a program in the pty to one viewer, with
    // recording off and on in turn.
    let worker = format!("{}-burst-tm", cfg.prefix);
    let mut m = manager(
        cfg,
        target,
        dir.path(),
        &worker,
        &burst_program,
        &[("BENCH_MB", cfg.megabytes.to_string())],
    )?;
    wait_online(target, &worker).await?;
    // The worker itself must be known for its recording to be turned on
    // (its "claude" here is the burst program, which does not register).
    target.api.register(&worker).await?;
    let mut ws = open(target, &worker).await?;
    // Wait for raw mode (the program's first read) before timing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut e2e = Vec::new();
    for _ in 0..E2E_PAIRS {
        for record in [false, true] {
            e2e.push(burst(target, &mut ws, &worker, cfg.megabytes, record).await?);
        }
    }
    drop(ws);
    let _ = m.start_kill();
    let _ = m.wait().await;
    let r = http
        .put(&settings_url)
        .bearer_auth(target.api.secret())
        .json(&before)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("settings back: HTTP {}", r.status());
    }

    Ok(TerminalReport {
        bridge_echo: Percentiles::of(bridge),
        direct_echo: Percentiles::of(direct),
        ctrl_c: Percentiles::of(ctrl_c),
        rates,
        e2e,
        megabytes: cfg.megabytes,
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
                if r.recorded.is_some() {
                    ", recording (until written)"
                } else {
                    ""
                },
                r.mib_s
            )?;
            if let Some(rec) = r.recorded {
                write!(f, "{}", show_recorded(rec))?;
            }
            writeln!(f)?;
        }
        if let Some(plain) = self
            .rates
            .iter()
            .find(|r| r.viewers == 1 && r.recorded.is_none())
            && let Some(rec) = self.rates.iter().find(|r| r.recorded.is_some())
        {
            writeln!(
                f,
                "  hub recording cost: {:.1} % of the 1-viewer rate",
                cost(plain.mib_s, rec.mib_s)
            )?;
        }
        writeln!(
            f,
            "  end to end, pty burst -> manager -> hub -> 1 viewer, recording off / on in turn:"
        )?;
        for r in &self.e2e {
            write!(
                f,
                "    {:>3}: {:.1} MiB/s ({} repaints",
                if r.recorded.is_some() { "on" } else { "off" },
                r.mib_s,
                r.repaints
            )?;
            if let Some(cpu) = r.hub_cpu {
                write!(f, ", hub CPU {:.2} s", cpu.as_secs_f64())?;
            }
            write!(f, ")")?;
            if let Some(rec) = r.recorded {
                write!(f, "{}", show_recorded(rec))?;
            }
            writeln!(f)?;
        }
        let median = |on: bool, of: fn(&E2e) -> Option<f64>| {
            let mut v: Vec<f64> = self
                .e2e
                .iter()
                .filter(|r| r.recorded.is_some() == on)
                .filter_map(of)
                .collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied()
        };
        if let (Some(off), Some(on)) = (
            median(false, |r| Some(r.mib_s)),
            median(true, |r| Some(r.mib_s)),
        ) {
            let gaps: u64 = self
                .e2e
                .iter()
                .filter_map(|r| r.recorded)
                .map(|r| r.gaps)
                .sum();
            writeln!(
                f,
                "  end-to-end recording cost: {:.1} % (median {off:.1} MiB/s off, {on:.1} on); bytes skipped by the recorder: {gaps}",
                cost(off, on)
            )?;
        }
        let cpu: fn(&E2e) -> Option<f64> = |r| r.hub_cpu.map(|d| d.as_secs_f64());
        if let (Some(off), Some(on)) = (median(false, cpu), median(true, cpu)) {
            writeln!(
                f,
                "  hub CPU per {} MiB burst: median {off:.2} s off, {on:.2} s on (recording: +{:.1} ms per MiB)",
                self.megabytes,
                (on - off) * 1e3 / self.megabytes.max(1) as f64
            )?;
        }
        Ok(())
    }
}

/// How much slower `with` is than `without`, in percent.
fn cost(without: f64, with: f64) -> f64 {
    (1.0 - with / without) * 100.0
}

fn show_recorded(r: Recorded) -> String {
    format!(
        " ({:.1} % recorded: {:.1} MiB of text, {:.1} MiB skipped; {:.1} MiB of .cast + .frames.jsonl on disk)",
        r.fraction() * 100.0,
        r.text as f64 / f64::from(1 << 20),
        r.gaps as f64 / f64::from(1 << 20),
        r.on_disk as f64 / f64::from(1 << 20)
    )
}
