//! The browser terminal end to end: a real shell under `claude-tm
//! manager`, a real hub, WebSocket viewers (tokio-tungstenite).
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tubemail_client::Client;
use tubemail_core::WorkerName;

const SECRET: &str = "terminal-test-secret";
const WAIT: Duration = Duration::from_secs(30);

/// An interactive shell with a fixed prompt (ignores claude's arguments).
const SHELL: &str = "#!/bin/sh\nPS1='tm$ ' exec /bin/sh -i\n";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A viewer: what it received, with offsets as the protocol defines them.
struct Viewer {
    ws: Ws,
    /// Offset of `bytes[0]`.
    start: u64,
    /// Output bytes in offset order (repaints excluded).
    bytes: Vec<u8>,
    /// Text frames received.
    controls: Vec<Value>,
    /// The next binary frame is a repaint.
    repaint_next: bool,
    /// Repaints received.
    repaints: Vec<Vec<u8>>,
}

impl Viewer {
    async fn open(hub: &Client, url: &str, worker: &WorkerName, since: Option<u64>) -> Viewer {
        let ticket = hub.pty_ticket(worker).await.unwrap().ticket;
        let mut ws_url = format!(
            "{}/ws/pty/{}?ticket={ticket}",
            url.replace("http://", "ws://"),
            worker.as_str()
        );
        if let Some(n) = since {
            ws_url.push_str(&format!("&since={n}"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
        let mut v = Viewer {
            ws,
            start: 0,
            bytes: Vec::new(),
            controls: Vec::new(),
            repaint_next: false,
            repaints: Vec::new(),
        };
        let hello = v.next_control().await;
        assert_eq!(hello["kind"], "hello", "{hello}");
        v.start = hello["seq"].as_u64().unwrap();
        v
    }

    fn seq(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Reads one frame (panics on timeout or close).
    async fn read_one(&mut self) {
        let msg = tokio::time::timeout(WAIT, self.ws.next())
            .await
            .unwrap_or_else(|_| {
                let text = self.text();
                let from = text.len().saturating_sub(2000);
                let from = (from..text.len())
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(text.len());
                panic!(
                    "no frame in time; {} bytes, ending {:?}; controls {:?}",
                    self.bytes.len(),
                    &text[from..],
                    self.controls
                )
            })
            .expect("socket open")
            .unwrap();
        match msg {
            Message::Binary(b) if self.repaint_next => {
                self.repaint_next = false;
                self.repaints.push(b.to_vec());
            }
            Message::Binary(b) => self.bytes.extend_from_slice(&b),
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["kind"] == "snapshot" {
                    // Offsets go on at the snapshot's seq.
                    let seq = v["seq"].as_u64().unwrap();
                    assert!(
                        seq >= self.seq(),
                        "snapshot goes back: {seq} < {}",
                        self.seq()
                    );
                    if self.bytes.is_empty() {
                        self.start = seq;
                    } else {
                        // Skipped output: mark the gap so comparisons fail loudly.
                        self.bytes
                            .extend(std::iter::repeat_n(0u8, (seq - self.seq()) as usize));
                    }
                    self.repaint_next = true;
                }
                self.controls.push(v);
            }
            _ => {}
        }
    }

    async fn next_control(&mut self) -> Value {
        let n = self.controls.len();
        while self.controls.len() == n {
            self.read_one().await;
        }
        self.controls[n].clone()
    }

    /// The last 64 KiB of output, as text.
    fn tail(&self) -> String {
        let from = self.bytes.len().saturating_sub(64 << 10);
        String::from_utf8_lossy(&self.bytes[from..]).into_owned()
    }

    /// Reads until the output (or a repaint) contains `needle`.
    async fn until(&mut self, needle: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.tail().contains(needle)
            && !self
                .repaints
                .last()
                .is_some_and(|r| String::from_utf8_lossy(r).contains(needle))
        {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in {:?}",
                self.tail()
            );
            self.read_one().await;
        }
    }

    async fn keys(&mut self, keys: &[u8]) {
        self.ws
            .send(Message::Binary(keys.to_vec().into()))
            .await
            .unwrap();
    }

    async fn control(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    hub: common::TestHub,
    client: Client,
    worker: WorkerName,
    manager: tokio::process::Child,
}

async fn setup(name: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let shell = common::script(dir.path().join("shell"), SHELL);
    let hub = common::TestHub::start(&dir.path().join("hub"), SECRET).await;
    let worker: WorkerName = name.parse().unwrap();
    let manager = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"))
        .arg("manager")
        .env("TUBEMAIL_HUB_URL", &hub.url)
        .env("TUBEMAIL_SECRET", SECRET)
        .env("TM_WORKER_NAME", worker.as_str())
        .env("TUBEMAIL_CLAUDE_BIN", &shell)
        .env(
            "TUBEMAIL_LOG",
            std::env::var("TEST_MANAGER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let engine = hub.state.engine.clone();
    let mgr = worker.manager().unwrap();
    common::eventually("the manager online", WAIT, async || {
        engine.worker(&mgr).filter(|w| w.online)
    })
    .await;
    let client = Client::builder()
        .url(&hub.url)
        .secret(SECRET)
        .build()
        .unwrap();
    Setup {
        _dir: dir,
        hub,
        client,
        worker,
        manager,
    }
}

impl Setup {
    async fn finish(mut self) {
        let _ = self.manager.start_kill();
        let _ = tokio::time::timeout(WAIT, self.manager.wait()).await;
        self.hub.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_types_into_a_real_shell_and_resizes_it() {
    let s = setup("term-tm").await;
    let mut v = Viewer::open(&s.client, &s.hub.url, &s.worker, None).await;
    // No `since`: a snapshot of the screen first, then live output.
    let snap = v.next_control().await;
    assert_eq!(snap["kind"], "snapshot", "{snap}");
    v.until("tm$ ").await;

    v.keys(b"echo hi\r").await;
    v.until("echo hi\r\nhi\r\n").await;

    v.control(json!({"kind": "resize", "cols": 101, "rows": 33}))
        .await;
    let size = loop {
        let c = v.next_control().await;
        if c["kind"] == "size" && c["cols"] == 101 {
            break c;
        }
    };
    assert_eq!(size["rows"], 33, "{size}");
    v.keys(b"stty size\r").await;
    v.until("33 101\r\n").await;

    // Keystrokes never reach the roster-wide event stream: nothing typed
    // was stored on any timeline.
    let events = s
        .hub
        .state
        .engine
        .events(&s.worker.manager().unwrap(), None, 500, false)
        .await
        .unwrap_or_default();
    assert!(
        events.iter().all(|e| !e.content.contains("echo hi")),
        "{events:?}"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_reconnects_with_its_offset_loses_and_repeats_nothing() {
    let s = setup("resume-tm").await;
    let mut a = Viewer::open(&s.client, &s.hub.url, &s.worker, None).await;
    a.until("tm$ ").await;
    let mut b = Viewer::open(&s.client, &s.hub.url, &s.worker, None).await;
    b.until("tm$ ").await;

    a.keys(b"seq 1 20000; echo end-$((2*3))\r").await;
    // B drops its socket in the middle of the output…
    while b.bytes.len() < 30_000 {
        b.read_one().await;
    }
    let first = b.bytes.clone();
    let (b_start, b_seq) = (b.start, b.seq());
    drop(b);
    // …and comes back with its offset: no snapshot, exactly from there.
    let mut b2 = Viewer::open(&s.client, &s.hub.url, &s.worker, Some(b_seq)).await;
    assert_eq!(b2.start, b_seq);
    b2.until("end-6").await;
    a.until("end-6").await;
    assert!(
        b2.controls.iter().all(|c| c["kind"] != "snapshot"),
        "{:?}",
        b2.controls
    );
    assert!(b2.repaints.is_empty());
    let mut joined = first;
    joined.extend_from_slice(&b2.bytes);

    // The same bytes as a viewer that never left, offset for offset…
    let from = (b_start - a.start) as usize;
    let n = joined.len().min(a.bytes.len() - from);
    assert!(n > 100_000, "compared {n} bytes");
    assert!(joined[..n] == a.bytes[from..from + n], "streams differ");
    // …and exactly the shell's output: every number once, in order.
    let text = String::from_utf8_lossy(&joined);
    let expected: String = (1..=20000).map(|i| format!("{i}\r\n")).collect();
    assert!(
        text.contains(&expected),
        "the pty's output is not in the stream whole"
    );
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_has_a_cast_and_searchable_frames() {
    let s = setup("rec-tm").await;
    // The channel registers the worker itself; recording is per worker.
    let reg = tubemail_core::api::RegisterRequest {
        cwd: "/tmp".into(),
        pid: None,
        forwarder_version: None,
        permission_mode: None,
    };
    s.client.register(&s.worker, &reg).await.unwrap();
    let status = s.hub.state.terminals.set_recording(&s.worker, true).await;
    assert!(status.is_ok(), "{status:?}");
    // Recording alone (no browser) makes the manager stream.
    let terminals = s.hub.state.terminals.clone();
    let worker = s.worker.clone();
    common::eventually("the recording to start", WAIT, async || {
        terminals
            .status(&worker)
            .await
            .ok()
            .filter(|st| st.active_file.is_some())
    })
    .await;
    let mut v = Viewer::open(&s.client, &s.hub.url, &s.worker, None).await;
    v.until("tm$ ").await;
    v.keys(b"echo rec-$((40+2))\r").await;
    v.until("rec-42\r\n").await;
    terminals.recorder.flush().await;
    let q = tubemail_core::recording::FramesQuery {
        grep: Some(r"rec-42\r?\n".into()),
        limit: 10,
        ..Default::default()
    };
    let frames = common::eventually("the typed command in the frames", WAIT, async || {
        terminals.recorder.flush().await;
        terminals
            .frames(&worker, q.clone())
            .await
            .ok()
            .filter(|f| !f.frames.is_empty())
    })
    .await;
    assert!(frames.frames[0].delta.contains("rec-42"), "{frames:?}");
    let st = terminals.status(&worker).await.unwrap();
    let file = &st.files[0];
    assert!(file.cast_path.starts_with("recordings/rec-tm/"), "{file:?}");
    let cast = std::fs::read_to_string(s.hub.state.options.data_dir.join(&file.cast_path)).unwrap();
    let mut lines = cast.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2, "{header}");
    let mut out = String::new();
    let mut last_t = 0.0;
    for line in lines {
        let ev: Value = serde_json::from_str(line).unwrap();
        let t = ev[0].as_f64().unwrap();
        assert!(t >= last_t, "times go forward");
        last_t = t;
        if ev[1] == "o" {
            out.push_str(ev[2].as_str().unwrap());
        }
    }
    assert!(out.contains("rec-42"), "{out:?}");
    s.finish().await;
}

/// Regression: the manager's pty reader used to spin without yielding
/// while the child flooded output, and the task posting to the hub (woken
/// from it, so queued on the same runtime thread) got no turn for many
/// seconds: viewers saw nothing while the manager's queue overflowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_worker_keeps_streaming_and_ctrl_c_stops_it() {
    let s = setup("flood-tm").await;
    let mut v = Viewer::open(&s.client, &s.hub.url, &s.worker, None).await;
    v.until("tm$ ").await;
    v.keys(b"yes flood-line\r").await;
    v.until("flood-line\r\nflood-line\r\n").await;
    // Output keeps reaching the viewer while the shell floods: new bytes
    // at least every few seconds (the stall lasted 9 s and more).
    let flooding = Instant::now();
    let (mut seen, mut last) = (v.seq(), Instant::now());
    let mut longest = Duration::ZERO;
    while flooding.elapsed() < Duration::from_secs(15) {
        v.read_one().await;
        if v.seq() > seen {
            longest = longest.max(last.elapsed());
            (seen, last) = (v.seq(), Instant::now());
        }
    }
    let flooded = v.seq() - v.start;
    assert!(
        longest < Duration::from_secs(5),
        "output stalled for {longest:?} ({flooded} bytes in all)"
    );
    assert!(flooded > 1 << 20, "only {flooded} bytes in 15 s of flood");
    // Ctrl-C from the browser stops `yes`; the shell takes commands again.
    v.keys(&[0x03]).await;
    v.keys(b"echo after-$((6*7))\r").await;
    v.until("after-42\r\ntm$ ").await;
    let tail = v.tail();
    let after = &tail[tail.rfind("after-42\r\n").unwrap()..];
    assert!(!after.contains("flood-line"), "still flooding: {after:?}");
    s.finish().await;
}
