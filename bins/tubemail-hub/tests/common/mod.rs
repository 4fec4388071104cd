//! Test support: a real hub on a loopback port (in-process or as a child
//! process) and a small HTTP/SSE client.
#![allow(dead_code, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use sse_stream::{Sse, SseStream};
use tubemail_hub::{AppState, Hub, Options};

pub const SECRET: &str = "test-secret-0123456789";

/// A hub served in this process.
pub struct TestHub {
    pub addr: SocketAddr,
    pub state: AppState,
    pub dir: PathBuf,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestHub {
    pub async fn start(dir: &Path) -> TestHub {
        Self::start_with(Options::new(dir, SECRET)).await
    }

    pub async fn start_with(options: Options) -> TestHub {
        let dir = options.data_dir.clone();
        let hub = Hub::open(options).expect("hub opens");
        let state = hub.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = state.shutdown.clone().cancelled_owned();
        let task = tokio::spawn(hub.serve(listener, stop));
        TestHub {
            addr,
            state,
            dir,
            task,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(format!("http://{}", self.addr), SECRET)
    }

    /// Graceful stop: streams end, the store is flushed.
    pub async fn stop(self) {
        self.state.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// A hub on a fresh data dir with a client for it (keep the dir alive).
pub async fn hub() -> (tempfile::TempDir, TestHub, Client) {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = TestHub::start(dir.path()).await;
    let c = hub.client();
    (dir, hub, c)
}

/// Issues a token with `c`'s credential (the shared secret); returns
/// (id, token).
pub async fn issue(c: &Client, body: Value) -> (String, String) {
    let v = c.post("/api/tokens", body).await;
    let field = |k: &str| v[k].as_str().expect("token field").to_owned();
    (field("id"), field("token"))
}

/// A client for the same hub with `token` as its bearer.
pub fn as_token(c: &Client, token: &str) -> Client {
    Client::new(c.base.clone(), token)
}

/// POSTs a JSON-RPC message to `/mcp/` as `bearer` (in session `sid`);
/// status and the session id the answer names.
pub async fn mcp(
    c: &Client,
    bearer: &str,
    sid: Option<&str>,
    body: Value,
) -> (u16, Option<String>) {
    let mut req = c
        .http
        .post(c.url("/mcp/"))
        .bearer_auth(bearer)
        .header("Accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(sid) = sid {
        req = req.header("Mcp-Session-Id", sid);
    }
    let resp = req.send().await.expect("MCP request");
    let sid = resp
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().expect("ASCII session id").to_owned());
    let status = resp.status().as_u16();
    let _ = resp.bytes().await;
    (status, sid)
}

/// Opens a session as `bearer`; its id.
pub async fn mcp_open(c: &Client, bearer: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    let (status, sid) = mcp(c, bearer, None, init).await;
    assert_eq!(status, 200);
    let sid = sid.expect("a session id");
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(mcp(c, bearer, Some(&sid), done).await.0, 202);
    sid
}

/// `tools/list` in session `sid`: its status.
pub async fn mcp_list(c: &Client, bearer: &str, sid: &str) -> u16 {
    let req = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    mcp(c, bearer, Some(sid), req).await.0
}

/// `tubemail_mcp_sessions` from `/metrics`.
pub async fn mcp_live(c: &Client) -> u64 {
    let text = c
        .http
        .get(c.url("/metrics"))
        .bearer_auth(SECRET)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix("tubemail_mcp_sessions "))
        .and_then(|v| v.parse().ok())
        .expect("the gauge")
}

/// The hub binary as a child process (for kill -9 and RSS).
pub struct HubProcess {
    pub child: Child,
    pub addr: SocketAddr,
}

pub fn hub_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tubemail-hub"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl HubProcess {
    pub async fn spawn(dir: &Path, port: u16) -> HubProcess {
        let child = Command::new(hub_bin())
            .args(["--bind", &format!("127.0.0.1:{port}"), "--log", "warn"])
            .arg("--data-dir")
            .arg(dir)
            .env("TUBEMAIL_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn hub");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let hub = HubProcess { child, addr };
        hub.client().wait_healthy(Duration::from_secs(20)).await;
        hub
    }

    pub fn client(&self) -> Client {
        Client::new(format!("http://{}", self.addr), SECRET)
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Resident set size of the hub, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child's stderr, line by line, on a channel (a thread reads it, so a
/// test can wait for a line with a deadline).
pub fn stderr_lines(stderr: std::process::ChildStderr) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first line from `lines` containing `what` within `within`.
pub fn line_with(
    lines: &std::sync::mpsc::Receiver<String>,
    what: &str,
    within: Duration,
) -> Option<String> {
    let deadline = Instant::now() + within;
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line.contains(what) {
            return Some(line);
        }
    }
    None
}

/// Minimal client over reqwest.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub secret: String,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(base: String, secret: &str) -> Client {
        Client {
            base,
            secret: secret.to_owned(),
            http: reqwest::Client::builder().build().expect("client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn wait_healthy(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(r) = self.http.get(self.url("/health")).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "hub did not come up at {}",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Request with the bearer; returns status and JSON (Null if not JSON).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(m, self.url(path))
            .bearer_auth(&self.secret);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call("GET", path, None).await;
        assert_eq!(s, 200, "GET {path}: {v}");
        v
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.call("POST", path, Some(body)).await;
        assert_eq!(s, 200, "POST {path}: {v}");
        v
    }

    /// `worker`'s timeline (`GET /api/workers/{worker}/events`).
    pub async fn events(&self, worker: &str) -> Vec<Value> {
        let v = self.get(&format!("/api/workers/{worker}/events")).await;
        v["events"].as_array().cloned().unwrap_or_default()
    }

    pub async fn register(&self, worker: &str, pid: i64) -> Value {
        self.post(
            &format!("/tubemail/{worker}/register"),
            json!({"cwd": "/tmp/proj", "pid": pid}),
        )
        .await
    }

    pub async fn send(&self, worker: &str, message: &str) -> String {
        let v = self
            .post(
                &format!("/api/workers/{worker}/send"),
                json!({"message": message}),
            )
            .await;
        v["event_id"].as_str().expect("event_id").to_owned()
    }

    /// Opens an SSE stream; `last_id` becomes `Last-Event-ID`.
    pub async fn stream(&self, path: &str, last_id: Option<&str>) -> EventStream {
        let mut req = self.http.get(self.url(path)).bearer_auth(&self.secret);
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.expect("stream");
        assert_eq!(resp.status(), 200, "stream {path}");
        EventStream {
            inner: Box::pin(SseStream::from_bytes_stream(resp.bytes_stream())),
        }
    }
}

pub struct EventStream {
    inner: std::pin::Pin<Box<dyn futures::Stream<Item = Result<Sse, sse_stream::Error>> + Send>>,
}

/// One parsed SSE message.
#[derive(Debug, Clone)]
pub struct Msg {
    pub event: String,
    pub id: Option<String>,
    pub data: Value,
}

impl EventStream {
    /// The next message with an event name (comments skipped), or `None`
    /// when the stream ends or `within` passes.
    pub async fn next(&mut self, within: Duration) -> Option<Msg> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let item = tokio::time::timeout_at(deadline, self.inner.next())
                .await
                .ok()??;
            let sse = item.ok()?;
            if let Some(event) = sse.event {
                let data = sse
                    .data
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or(Value::Null);
                return Some(Msg {
                    event,
                    id: sse.id,
                    data,
                });
            }
        }
    }

    /// Collects `n` messages named `event`, failing after `within`.
    pub async fn take(&mut self, event: &str, n: usize, within: Duration) -> Vec<Msg> {
        let deadline = tokio::time::Instant::now() + within;
        let mut out = Vec::new();
        while out.len() < n {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(m) if m.event == event => out.push(m),
                Some(_) => {}
                None => panic!("stream gave {} of {n} `{event}` messages", out.len()),
            }
        }
        out
    }
}
