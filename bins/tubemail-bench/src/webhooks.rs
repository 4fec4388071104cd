//! Scenario `webhooks`: the webhook outbox under load, next to message
//! delivery.
//!
//! Three runs of the latency scenario (sequential sends, send → stream
//! receipt), each on fresh workers: alone; while replier workers post
//! `rate` replies per second; and while the same replies are also
//! notified to a webhook on a loopback receiver. The last two differ only
//! by the webhook, so their delivery p99s show what the outbox costs
//! message delivery. The receiver counts notifications, duplicates (by
//! `X-TubeMail-Event-Id`) and their age on arrival (from the body's
//! `created_at`).

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::collector::{Percentiles, show};
use crate::hub::Target;
use crate::latency::{self, LatencyConfig};

/// Settings for the webhooks scenario.
pub struct WebhooksConfig {
    /// Latency workers of the three runs.
    pub names: [Vec<String>; 3],
    /// Workers whose replies are notified.
    pub repliers: Vec<String>,
    /// Measured messages per latency run.
    pub messages: usize,
    /// Unmeasured messages first.
    pub warmup: usize,
    /// Replies per second during runs two and three.
    pub rate: f64,
    /// Lost-message deadline.
    pub deadline: Duration,
}

/// What the receiver saw.
#[derive(Default)]
struct Received {
    count: AtomicU64,
    ids: Mutex<HashSet<u64>>,
    duplicates: AtomicU64,
    ages: Mutex<Vec<Duration>>,
    last: Mutex<Option<Instant>>,
}

fn unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A minimal HTTP/1.1 receiver: reads each request (Content-Length
/// bodies), answers 204, keeps the connection.
async fn receiver() -> Result<(std::net::SocketAddr, Arc<Received>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let got = Arc::new(Received::default());
    let seen = got.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let _ = serve(sock, &seen).await;
            });
        }
    });
    Ok((addr, got))
}

async fn serve(mut sock: tokio::net::TcpStream, got: &Received) -> std::io::Result<()> {
    let _ = sock.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let len: usize = header("content-length:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Value =
            serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
        if let Some(id) = header("x-tubemail-event-id:").and_then(|v| v.parse::<u64>().ok()) {
            let fresh = got.ids.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
            if fresh {
                got.count.fetch_add(1, Ordering::Relaxed);
            } else {
                got.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(created) = body.get("created_at").and_then(Value::as_f64) {
                let age = Duration::from_secs_f64((unix() - created).max(0.0));
                got.ages.lock().unwrap_or_else(|p| p.into_inner()).push(age);
            }
            *got.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
        buf.drain(..head_end + len);
        sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            .await?;
    }
}

/// Posts `rate` replies per second round-robin over `repliers` until
/// `stop`; the number acknowledged.
fn pace(
    target: &Target,
    repliers: Vec<String>,
    rate: f64,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    let api = target.api.clone();
    tokio::spawn(async move {
        let acked = Arc::new(AtomicU64::new(0));
        let limit = Arc::new(tokio::sync::Semaphore::new(64));
        let started = Instant::now();
        let mut sent: u64 = 0;
        let mut tasks = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            while sent < due {
                let Ok(permit) = limit.clone().acquire_owned().await else {
                    break;
                };
                let api = api.clone();
                let w = repliers[(sent as usize) % repliers.len()].clone();
                let acked = acked.clone();
                tasks.push(tokio::spawn(async move {
                    let body = json!({"text": "bench reply", "meta": {}});
                    if api
                        .call(
                            reqwest::Method::POST,
                            &format!("/tubemail/{w}/outbound"),
                            Some(&body),
                        )
                        .await
                        .is_ok()
                    {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    drop(permit);
                }));
                sent += 1;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for t in tasks {
            let _ = t.await;
        }
        acked.load(Ordering::Relaxed)
    })
}

/// One latency run, with replies paced alongside when `rate` > 0.
async fn measured(
    target: &Target,
    cfg: &WebhooksConfig,
    names: &[String],
    rate: f64,
) -> Result<(Option<Percentiles>, u64, Duration)> {
    let stop = Arc::new(AtomicBool::new(false));
    let pacer = (rate > 0.0).then(|| pace(target, cfg.repliers.clone(), rate, stop.clone()));
    let started = Instant::now();
    let report = latency::run(
        target,
        &LatencyConfig {
            names: names.to_vec(),
            messages: cfg.messages,
            warmup: cfg.warmup,
            deadline: cfg.deadline,
        },
    )
    .await?;
    stop.store(true, Ordering::Relaxed);
    let replies = match pacer {
        Some(p) => p.await.unwrap_or(0),
        None => 0,
    };
    Ok((report.delivery_p(), replies, started.elapsed()))
}

/// Runs the scenario.
pub async fn run(target: &Target, cfg: &WebhooksConfig) -> Result<WebhooksReport> {
    let api = &target.api;
    api.register_all(&cfg.repliers, 16).await?;
    let (addr, got) = receiver().await?;

    let (quiet, _, _) = measured(target, cfg, &cfg.names[0], 0.0).await?;
    let (plain, plain_replies, plain_time) = measured(target, cfg, &cfg.names[1], cfg.rate).await?;

    api.call(
        reqwest::Method::POST,
        "/api/webhooks",
        Some(
            &json!({"url": format!("http://{addr}/hook"), "events": ["reply"], "secret": "bench"}),
        ),
    )
    .await
    .context("adding the webhook")?;
    let started = Instant::now();
    let (hooked, replies, hooked_time) = measured(target, cfg, &cfg.names[2], cfg.rate).await?;
    // Everything acknowledged must arrive; the drain time shows any backlog.
    let drain_until = Instant::now() + Duration::from_secs(120);
    while got.count.load(Ordering::Relaxed) < replies && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = got.count.load(Ordering::Relaxed);
    let last = (*got.last.lock().unwrap_or_else(|p| p.into_inner())).unwrap_or_else(Instant::now);
    let ages = std::mem::take(&mut *got.ages.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(WebhooksReport {
        quiet,
        plain,
        plain_rate: plain_replies as f64 / plain_time.as_secs_f64(),
        hooked,
        replies,
        hooked_rate: replies as f64 / hooked_time.as_secs_f64(),
        received,
        duplicates: got.duplicates.load(Ordering::Relaxed),
        delivered_rate: received as f64 / last.duration_since(started).as_secs_f64().max(0.001),
        ages: Percentiles::of(ages),
    })
}

/// Results of the webhooks scenario.
pub struct WebhooksReport {
    quiet: Option<Percentiles>,
    plain: Option<Percentiles>,
    plain_rate: f64,
    hooked: Option<Percentiles>,
    replies: u64,
    hooked_rate: f64,
    received: u64,
    duplicates: u64,
    delivered_rate: f64,
    ages: Option<Percentiles>,
}

impl fmt::Display for WebhooksReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "== webhooks (outbox under load, next to message delivery) =="
        )?;
        writeln!(
            f,
            "  send -> stream receipt, alone:                 {}",
            show(self.quiet)
        )?;
        writeln!(
            f,
            "  … with {:.0} replies/s, no webhook:            {}",
            self.plain_rate,
            show(self.plain)
        )?;
        writeln!(
            f,
            "  … with {:.0} replies/s, each notified:         {}",
            self.hooked_rate,
            show(self.hooked)
        )?;
        writeln!(
            f,
            "  notifications: {} acknowledged replies, {} received ({} duplicates), {:.0}/s received",
            self.replies, self.received, self.duplicates, self.delivered_rate
        )?;
        writeln!(f, "  notification age on arrival: {}", show(self.ages))?;
        if self.received < self.replies {
            writeln!(f, "  LOST: {} notifications", self.replies - self.received)?;
        }
        Ok(())
    }
}
