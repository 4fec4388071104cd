//! The `mcp` scenario: tool-call latency over MCP (streamable HTTP), how
//! long a `tm_send` takes to reach the worker's stream, and how fast
//! `tm_wait_for_activity` wakes when an event arrives.
//!
//! The first two parts use only what the original 1.2 hub also speaks
//! (`/tubemail/{w}/register`, its SSE stream, MCP at `/mcp/`), so the same
//! client can measure both hubs (`--url`, `--mcp-wakes 0`).

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use sse_stream::SseStream;

use crate::collector::{Percentiles, show};
use crate::hub::Target;

/// Settings of the scenario.
pub struct McpConfig {
    /// The worker the tools are called on.
    pub worker: String,
    /// Measured `tm_status` calls, and measured `tm_send` deliveries.
    pub calls: usize,
    /// Measured wake-ups of `tm_wait_for_activity`.
    pub wakes: usize,
    /// Also check that `timeout_s=600` returns within 46 s (takes 45 s).
    pub check_cap: bool,
}

/// What the scenario measured.
pub struct McpReport {
    status: Option<Percentiles>,
    delivery: Option<Percentiles>,
    wake: Option<Percentiles>,
    cap: Option<Duration>,
}

/// An MCP session over raw HTTP (one JSON-RPC request per POST).
pub struct Session {
    http: reqwest::Client,
    url: String,
    secret: String,
    id: String,
    next: u64,
}

/// The JSON-RPC response for `id` in a JSON or SSE body.
fn response_for(body: &str, id: u64) -> Option<Value> {
    let parse = |s: &str| serde_json::from_str::<Value>(s.trim()).ok();
    let candidates: Vec<Value> = if body.trim_start().starts_with('{') {
        parse(body).into_iter().collect()
    } else {
        body.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(parse)
            .collect()
    };
    candidates.into_iter().find(|v| v["id"] == json!(id))
}

impl Session {
    /// Initializes a session with `target`'s hub.
    pub async fn open(target: &Target) -> Result<Session> {
        let api = &target.api;
        // Longer than the hub's 45 s wait cap (the shared client stops at 30 s).
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .build()
            .context("building MCP client")?;
        let mut s = Session {
            http,
            url: format!("{}/mcp/", api.base()),
            secret: api.secret().to_owned(),
            id: String::new(),
            next: 1,
        };
        let init = json!({"protocolVersion": "2025-06-18", "capabilities": {},
                          "clientInfo": {"name": "tubemail-bench", "version": env!("CARGO_PKG_VERSION")}});
        let resp = s
            .post(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}))
            .await?;
        s.id = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .context("no mcp-session-id on initialize")?
            .to_owned();
        resp.text().await?;
        s.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?
            .text()
            .await?;
        Ok(s)
    }

    async fn post(&self, body: Value) -> Result<reqwest::Response> {
        let mut req = self
            .http
            .post(&self.url)
            .bearer_auth(&self.secret)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2025-06-18")
            .json(&body);
        if !self.id.is_empty() {
            req = req.header("Mcp-Session-Id", &self.id);
        }
        let resp = req.send().await.context("MCP request")?;
        if !resp.status().is_success() {
            bail!("MCP request answered HTTP {}", resp.status());
        }
        Ok(resp)
    }

    /// Calls a tool; returns its result object.
    pub async fn call(&mut self, tool: &str, args: Value) -> Result<Value> {
        let id = self.next;
        self.next += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": tool, "arguments": args}});
        let text = self.post(body).await?.text().await?;
        let resp = response_for(&text, id).with_context(|| format!("no response in {text:?}"))?;
        if resp["result"]["isError"] == json!(true) || resp.get("error").is_some() {
            bail!("{tool} failed: {resp}");
        }
        Ok(resp["result"].clone())
    }
}

/// Runs the scenario.
pub async fn run(target: &Target, cfg: &McpConfig) -> Result<McpReport> {
    target.api.register(&cfg.worker).await?;
    let mut session = Session::open(target).await?;
    let args = json!({"worker": cfg.worker});
    for _ in 0..20 {
        session.call("tm_status", args.clone()).await?;
    }
    let mut samples = Vec::with_capacity(cfg.calls);
    for _ in 0..cfg.calls {
        let t = Instant::now();
        session.call("tm_status", args.clone()).await?;
        samples.push(t.elapsed());
    }

    let delivery = Percentiles::of(deliveries(target, &mut session, cfg).await?);

    // Wake-up: a wait is parked, then a send commits; measure from the
    // send's acknowledgement (after its commit) to the wait's answer.
    let mut wakes = Vec::with_capacity(cfg.wakes);
    for i in 0..cfg.wakes {
        let mut waiter = Session::open(target).await?;
        let wargs = json!({"worker": cfg.worker, "timeout_s": 20});
        let wait = tokio::spawn(async move {
            let r = waiter.call("tm_wait_for_activity", wargs).await;
            (r, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let ack = target
            .api
            .send(&cfg.worker, &format!("wake {i}"), json!({}))
            .await
            .map_err(|e| anyhow::anyhow!("send: {e}"))?;
        let acked = Instant::now();
        let (result, answered) = wait.await?;
        let result = result?;
        let got = result["structuredContent"]["result"][0]["event_id"]
            .as_str()
            .unwrap_or("");
        if got != ack.event_id {
            bail!("wait returned {got:?}, expected {}", ack.event_id);
        }
        wakes.push(answered.saturating_duration_since(acked));
    }

    let cap = if cfg.check_cap {
        let t = Instant::now();
        let r = session
            .call(
                "tm_wait_for_activity",
                json!({"worker": cfg.worker, "timeout_s": 600}),
            )
            .await?;
        if r["structuredContent"]["result"] != json!([]) {
            bail!("capped wait returned events: {r}");
        }
        Some(t.elapsed())
    } else {
        None
    };
    Ok(McpReport {
        status: Percentiles::of(samples),
        delivery,
        wake: Percentiles::of(wakes),
        cap,
    })
}

/// `tm_send` → arrival on the worker's stream, one message at a time (after
/// 20 unmeasured). Messages are matched by a unique token in their text,
/// since the original's stream carries no event ids.
async fn deliveries(
    target: &Target,
    session: &mut Session,
    cfg: &McpConfig,
) -> Result<Vec<Duration>> {
    let path = format!("/tubemail/{}/stream", cfg.worker);
    let resp = target.api.open_sse(&path, None).await?;
    let mut events = SseStream::from_bytes_stream(resp.bytes_stream());
    let mut samples = Vec::with_capacity(cfg.calls);
    for i in 0..cfg.calls + 20 {
        let token = format!("mcp-delivery-{i}-{}", std::process::id());
        let t = Instant::now();
        session
            .call("tm_send", json!({"worker": cfg.worker, "message": token}))
            .await?;
        let arrived = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(event) = events.next().await {
                let event = event.context("reading the worker's stream")?;
                if event.data.as_deref().is_some_and(|d| d.contains(&token)) {
                    return Ok(Instant::now());
                }
            }
            bail!("the worker's stream ended")
        })
        .await
        .with_context(|| format!("{token} not on the stream within 5 s"))??;
        if i >= 20 {
            samples.push(arrived.saturating_duration_since(t));
        }
    }
    Ok(samples)
}

impl fmt::Display for McpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "== mcp (streamable HTTP, one session, sequential calls) =="
        )?;
        writeln!(
            f,
            "  tools/call tm_status:                 {}",
            show(self.status)
        )?;
        writeln!(
            f,
            "  tm_send -> arrival on the stream:     {}",
            show(self.delivery)
        )?;
        writeln!(
            f,
            "  wait wake-up (send ack -> wait answer): {}",
            show(self.wake)
        )?;
        match self.cap {
            Some(d) => writeln!(
                f,
                "  tm_wait_for_activity(timeout_s=600) returned [] after {:.1} s",
                d.as_secs_f64()
            ),
            None => writeln!(f, "  timeout cap check skipped (--check-cap)"),
        }
    }
}
