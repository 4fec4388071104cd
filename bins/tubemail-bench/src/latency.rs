//! Scenario 1: delivery latency of sequential sends.
//!
//! Registers `workers` workers, opens a stream per worker, then sends
//! `messages` messages round-robin, one at a time: each send waits for its
//! 200 and then (briefly) for the message to show up on the stream, so the
//! figures measure the hub's path, not a queue.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use crate::api::{SendError, StreamEvent};
use crate::collector::{Collector, Delivery, Expected, Percentiles, show};
use crate::hub::Target;

/// How long each send waits for its arrival before moving on (stragglers
/// are still collected until the deadline).
const PER_MESSAGE_WAIT: Duration = Duration::from_secs(1);

/// Settings for the latency scenario.
pub struct LatencyConfig {
    /// Worker names (one stream each).
    pub names: Vec<String>,
    /// Measured messages.
    pub messages: usize,
    /// Unmeasured messages sent first.
    pub warmup: usize,
    /// A message arriving later than this after its send counts as lost.
    pub deadline: Duration,
}

/// Results of the latency scenario.
pub struct LatencyReport {
    /// Workers and streams.
    workers: usize,
    /// Time to register all workers.
    register: Duration,
    /// Time to open all streams.
    open: Duration,
    /// Sends attempted (including warm-up).
    attempted: usize,
    /// Send failures.
    send_errors: usize,
    /// The first few send failures.
    error_samples: Vec<String>,
    /// Send request round trips (200 received) of measured messages.
    ack: Option<Percentiles>,
    /// Send-to-arrival latencies of measured messages.
    delivery_latency: Option<Percentiles>,
    /// Arrival bookkeeping.
    delivery: Delivery,
    /// Odd stream events and closed streams.
    odd: (usize, Vec<String>, usize),
    /// Whole send phase.
    elapsed: Duration,
}

/// Runs the scenario against `target`.
pub async fn run(target: &Target, cfg: &LatencyConfig) -> Result<LatencyReport> {
    let api = &target.api;
    let n = cfg.names.len();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<StreamEvent>();
    let mut collector = Collector::new(rx);

    let t = Instant::now();
    api.register_all(&cfg.names, 16).await?;
    let register = t.elapsed();
    let t = Instant::now();
    let readers = api.open_all(&cfg.names, 32, &tx).await?;
    let open = t.elapsed();
    drop(tx);
    tracing::info!(workers = n, ?register, ?open, "latency: streams open");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let total = cfg.warmup + cfg.messages;
    let mut expected = Vec::with_capacity(total);
    let mut acks = Vec::with_capacity(cfg.messages);
    let mut send_errors = 0;
    let mut error_samples = Vec::new();
    let started = Instant::now();
    for seq in 0..total {
        let worker = seq % n;
        let warmup = seq < cfg.warmup;
        let meta = json!({"bench": "latency", "seq": seq, "warmup": warmup});
        let sent_at = Instant::now();
        match api
            .send(&cfg.names[worker], &format!("bench latency {seq}"), meta)
            .await
        {
            Ok(ack) => {
                if !warmup {
                    acks.push(sent_at.elapsed());
                }
                let until = (sent_at + PER_MESSAGE_WAIT).min(sent_at + cfg.deadline);
                collector.wait_for(&ack.event_id, until).await;
                expected.push(Expected {
                    event_id: ack.event_id,
                    worker,
                    sent_at,
                    warmup,
                });
            }
            Err(e) => {
                send_errors += 1;
                note_error(&mut error_samples, &cfg.names[worker], &e);
                if matches!(e, SendError::Transport(_)) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        if (seq + 1) % 500 == 0 {
            tracing::info!(sent = seq + 1, total, "latency: progress");
        }
    }
    let elapsed = started.elapsed();
    let last = expected.last().map_or_else(Instant::now, |e| e.sent_at);
    collector
        .wait_all(&expected, last + cfg.deadline, Duration::from_millis(300))
        .await;
    for r in readers {
        r.abort();
    }
    let mut delivery = collector.verify(&expected, cfg.deadline);
    let latencies = std::mem::take(&mut delivery.latencies);
    Ok(LatencyReport {
        workers: n,
        register,
        open,
        attempted: total,
        send_errors,
        error_samples,
        ack: Percentiles::of(acks),
        delivery_latency: Percentiles::of(latencies),
        delivery,
        odd: (
            collector.odd_count,
            collector.odd_samples,
            collector.closed.len(),
        ),
        elapsed,
    })
}

impl LatencyReport {
    /// Send-to-arrival percentiles of the measured messages.
    pub fn delivery_p(&self) -> Option<Percentiles> {
        self.delivery_latency
    }
}

/// Keeps the first few send errors for the report.
pub fn note_error(samples: &mut Vec<String>, worker: &str, e: &SendError) {
    if samples.len() < 5 {
        samples.push(format!("POST /api/workers/{worker}/send -> {e}"));
    }
}

impl fmt::Display for LatencyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== latency (sequential sends, one at a time) ==")?;
        writeln!(
            f,
            "  setup: {} workers registered in {:.2} s, {} streams opened in {:.2} s",
            self.workers,
            self.register.as_secs_f64(),
            self.workers,
            self.open.as_secs_f64()
        )?;
        writeln!(
            f,
            "  sends: {} attempted in {:.2} s, {} failed",
            self.attempted,
            self.elapsed.as_secs_f64(),
            self.send_errors
        )?;
        for e in &self.error_samples {
            writeln!(f, "    error: {e}")?;
        }
        writeln!(
            f,
            "  send -> stream receipt: {}",
            show(self.delivery_latency)
        )?;
        writeln!(f, "  send -> 200 ack:        {}", show(self.ack))?;
        write!(f, "{}", self.delivery)?;
        write_odd(f, &self.odd)
    }
}

/// Writes the odd-events line shared by the stream scenarios.
pub fn write_odd(f: &mut fmt::Formatter<'_>, odd: &(usize, Vec<String>, usize)) -> fmt::Result {
    writeln!(
        f,
        "  stream oddities: {} odd events, {} streams closed early",
        odd.0, odd.2
    )?;
    for s in &odd.1 {
        writeln!(f, "    odd: {s}")?;
    }
    Ok(())
}
