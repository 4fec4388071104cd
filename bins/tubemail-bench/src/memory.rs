//! Scenario 3: hub memory per idle worker.
//!
//! Measures the hub's RSS idle, after registering `idle_workers` workers,
//! and after opening a stream for each; then sends each worker one message
//! and checks it arrives (the streams must be live, not just open).

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::{StreamExt, stream};
use serde_json::json;

use crate::api::StreamEvent;
use crate::collector::{Collector, Delivery, Expected};
use crate::hub::{Rss, Target, settled_rss};
use crate::latency::write_odd;

/// Longest wait for RSS to settle after a phase.
const SETTLE_MAX: Duration = Duration::from_secs(10);

/// Settings for the memory scenario.
pub struct MemoryConfig {
    /// Worker names.
    pub names: Vec<String>,
    /// Minimum settle time before each RSS sample.
    pub settle: Duration,
    /// How long to wait for the liveness check's messages.
    pub deadline: Duration,
}

/// Results of the memory scenario.
pub struct MemoryReport {
    /// Workers.
    workers: usize,
    /// RSS after start.
    idle: Rss,
    /// RSS after registering.
    registered: Rss,
    /// RSS with every stream open.
    streaming: Rss,
    /// RSS after one message per worker.
    after_send: Rss,
    /// Time to open every stream.
    open: Duration,
    /// Liveness check: one message per worker.
    delivery: Delivery,
    /// Failed sends in the liveness check.
    send_errors: usize,
    /// Odd stream events and closed streams.
    odd: (usize, Vec<String>, usize),
}

/// Runs the scenario against `target`, whose pid must be known.
pub async fn run(target: &Target, cfg: &MemoryConfig) -> Result<MemoryReport> {
    let pid = target.pid.context("memory scenario needs the hub's pid")?;
    let api = &target.api;
    let idle = settled_rss(pid, cfg.settle, SETTLE_MAX).await?;
    tracing::info!(rss_kb = idle.rss_kb, "memory: idle");

    api.register_all(&cfg.names, 16).await?;
    let registered = settled_rss(pid, cfg.settle, SETTLE_MAX).await?;
    tracing::info!(rss_kb = registered.rss_kb, "memory: registered");

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<StreamEvent>();
    let mut collector = Collector::new(rx);
    let t = Instant::now();
    let readers = api.open_all(&cfg.names, 64, &tx).await?;
    let open = t.elapsed();
    drop(tx);
    let streaming = settled_rss(pid, cfg.settle, SETTLE_MAX).await?;
    tracing::info!(rss_kb = streaming.rss_kb, ?open, "memory: streams open");

    let sends = stream::iter(
        cfg.names
            .iter()
            .enumerate()
            .map(|(worker, name)| async move {
                let sent_at = Instant::now();
                let meta = json!({"bench": "memory", "seq": worker});
                api.send(name, "bench memory ping", meta)
                    .await
                    .map(|ack| Expected {
                        event_id: ack.event_id,
                        worker,
                        sent_at,
                        warmup: false,
                    })
            }),
    )
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
    let send_errors = sends.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = sends.iter().find(|r| r.is_err()) {
        tracing::warn!(error = %e, "memory: liveness send failed");
    }
    let expected: Vec<Expected> = sends.into_iter().filter_map(Result::ok).collect();
    collector
        .wait_all(
            &expected,
            Instant::now() + cfg.deadline,
            Duration::from_millis(300),
        )
        .await;
    let after_send = settled_rss(pid, cfg.settle, SETTLE_MAX).await?;
    for r in readers {
        r.abort();
    }
    let delivery = collector.verify(&expected, cfg.deadline + SETTLE_MAX);
    Ok(MemoryReport {
        workers: cfg.names.len(),
        idle,
        registered,
        streaming,
        after_send,
        open,
        delivery,
        send_errors,
        odd: (
            collector.odd_count,
            collector.odd_samples,
            collector.closed.len(),
        ),
    })
}

/// `KiB` as MiB with one decimal.
fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

/// Growth from `a` to `b`, total and per worker.
fn growth(a: Rss, b: Rss, workers: usize) -> String {
    let delta = b.rss_kb as i64 - a.rss_kb as i64;
    let per = if workers > 0 {
        delta as f64 / workers as f64
    } else {
        0.0
    };
    format!("{delta:+} KiB total, {per:+.1} KiB/worker")
}

impl fmt::Display for MemoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.workers;
        let row = |label: String, rss: u64, note: String| {
            format!("  {label:<32} {:>10}  {note}", mib(rss))
                .trim_end()
                .to_owned()
                + "\n"
        };
        writeln!(f, "== memory ({n} idle workers) ==")?;
        f.write_str(&row("RSS idle:".into(), self.idle.rss_kb, String::new()))?;
        f.write_str(&row(
            format!("RSS + {n} registered:"),
            self.registered.rss_kb,
            format!("({} vs idle)", growth(self.idle, self.registered, n)),
        ))?;
        f.write_str(&row(
            format!("RSS + {n} streams open:"),
            self.streaming.rss_kb,
            format!(
                "({} vs registered; opened in {:.2} s)",
                growth(self.registered, self.streaming, n),
                self.open.as_secs_f64()
            ),
        ))?;
        f.write_str(&row(
            "RSS + 1 message each:".into(),
            self.after_send.rss_kb,
            format!(
                "({} vs streams open)",
                growth(self.streaming, self.after_send, n)
            ),
        ))?;
        writeln!(
            f,
            "  per idle streamed worker (idle -> streams open): {}; peak RSS (VmHWM) {}",
            growth(self.idle, self.streaming, n),
            mib(self.after_send.hwm_kb)
        )?;
        writeln!(f, "  liveness check: {} sends failed", self.send_errors)?;
        write!(f, "{}", self.delivery)?;
        write_odd(f, &self.odd)
    }
}
