//! Scenario 2: sustained throughput with concurrent senders.
//!
//! `senders` tasks send round-robin to `workers` streamed workers for
//! `seconds`, each waiting for its 200 before the next send. Afterwards every
//! acknowledged event id must have arrived exactly once on its worker's
//! stream.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use crate::api::{Api, SendError, StreamEvent};
use crate::collector::{Collector, Delivery, Expected, Percentiles, show};
use crate::hub::{Target, cpu_time};
use crate::latency::{note_error, write_odd};

/// Settings for the throughput scenario.
pub struct ThroughputConfig {
    /// Worker names (one stream each).
    pub names: Vec<String>,
    /// Concurrent senders.
    pub senders: usize,
    /// How long to send.
    pub duration: Duration,
    /// How long after the last send to wait for arrivals.
    pub deadline: Duration,
}

/// What one sender did.
#[derive(Default)]
struct SenderLog {
    /// Acknowledged sends.
    acked: Vec<Expected>,
    /// Round trips of acknowledged sends.
    acks: Vec<Duration>,
    /// Failures by kind.
    errors: BTreeMap<String, usize>,
    /// The first few failures.
    samples: Vec<String>,
}

/// Results of the throughput scenario.
pub struct ThroughputReport {
    /// Settings echoed.
    workers: usize,
    /// Settings echoed.
    senders: usize,
    /// From the first send to the last reply.
    elapsed: Duration,
    /// Acknowledged messages.
    acked: usize,
    /// Failures by kind.
    errors: BTreeMap<String, usize>,
    /// The first few failures.
    samples: Vec<String>,
    /// Send round trips under load.
    ack: Option<Percentiles>,
    /// Send-to-arrival latencies under load.
    delivery_latency: Option<Percentiles>,
    /// Arrival bookkeeping.
    delivery: Delivery,
    /// Odd stream events and closed streams.
    odd: (usize, Vec<String>, usize),
    /// CPU used while sending by the hub (when its pid is known) and by the bench.
    cpu: (Option<Duration>, Option<Duration>),
}

/// CPU used between two readings.
fn cpu_delta(before: Option<Duration>, after: Option<Duration>) -> Option<Duration> {
    Some(after?.saturating_sub(before?))
}

/// One sender's loop.
async fn sender(
    api: Api,
    names: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    end: Instant,
) -> SenderLog {
    let mut log = SenderLog::default();
    while Instant::now() < end {
        let seq = next.fetch_add(1, Ordering::Relaxed);
        let worker = seq % names.len();
        let meta = json!({"bench": "throughput", "seq": seq});
        let sent_at = Instant::now();
        match api
            .send(&names[worker], &format!("bench throughput {seq}"), meta)
            .await
        {
            Ok(ack) => {
                log.acks.push(sent_at.elapsed());
                log.acked.push(Expected {
                    event_id: ack.event_id,
                    worker,
                    sent_at,
                    warmup: false,
                });
            }
            Err(e) => {
                let kind = match &e {
                    SendError::Status { code, .. } => format!("HTTP {code}"),
                    SendError::Transport(_) => "transport".to_owned(),
                    SendError::BadBody(_) => "bad body".to_owned(),
                };
                *log.errors.entry(kind).or_default() += 1;
                note_error(&mut log.samples, &names[worker], &e);
                if matches!(e, SendError::Transport(_)) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
    log
}

/// Runs the scenario against `target`.
pub async fn run(target: &Target, cfg: &ThroughputConfig) -> Result<ThroughputReport> {
    let api = &target.api;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<StreamEvent>();
    let mut collector = Collector::new(rx);
    api.register_all(&cfg.names, 16).await?;
    let readers = api.open_all(&cfg.names, 32, &tx).await?;
    drop(tx);
    tracing::info!(
        workers = cfg.names.len(),
        senders = cfg.senders,
        "throughput: streams open"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;

    let names = Arc::new(cfg.names.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let hub_pid = target.pid.map(|p| p.to_string());
    let hub_cpu = hub_pid.as_deref().and_then(cpu_time);
    let own_cpu = cpu_time("self");
    let started = Instant::now();
    let end = started + cfg.duration;
    let tasks: Vec<_> = (0..cfg.senders)
        .map(|_| tokio::spawn(sender(api.clone(), names.clone(), next.clone(), end)))
        .collect();
    // Book arrivals while sending, so the channel does not pile up.
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        collector.drain_ready();
    }
    let mut logs = Vec::with_capacity(tasks.len());
    for t in tasks {
        logs.push(t.await.context("sender task panicked")?);
    }
    let elapsed = started.elapsed();
    let cpu = (
        cpu_delta(hub_cpu, hub_pid.as_deref().and_then(cpu_time)),
        cpu_delta(own_cpu, cpu_time("self")),
    );
    tracing::info!(?elapsed, "throughput: senders done, waiting for arrivals");

    let mut expected = Vec::new();
    let mut acks = Vec::new();
    let mut errors = BTreeMap::new();
    let mut samples = Vec::new();
    for log in logs {
        expected.extend(log.acked);
        acks.extend(log.acks);
        for (k, v) in log.errors {
            *errors.entry(k).or_default() += v;
        }
        samples.extend(log.samples);
    }
    samples.truncate(5);
    collector
        .wait_all(
            &expected,
            Instant::now() + cfg.deadline,
            Duration::from_millis(500),
        )
        .await;
    for r in readers {
        r.abort();
    }
    // Lateness is judged from the end of sending: under load the queueing
    // delay is part of the figure, not a loss.
    let mut delivery = collector.verify(&expected, cfg.duration + cfg.deadline);
    let latencies = std::mem::take(&mut delivery.latencies);
    Ok(ThroughputReport {
        workers: cfg.names.len(),
        senders: cfg.senders,
        elapsed,
        acked: expected.len(),
        errors,
        samples,
        ack: Percentiles::of(acks),
        delivery_latency: Percentiles::of(latencies),
        delivery,
        odd: (
            collector.odd_count,
            collector.odd_samples,
            collector.closed.len(),
        ),
        cpu,
    })
}

impl fmt::Display for ThroughputReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "== throughput ({} senders -> {} streamed workers) ==",
            self.senders, self.workers
        )?;
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.acked as f64 / secs
        } else {
            0.0
        };
        let failed: usize = self.errors.values().sum();
        writeln!(
            f,
            "  acknowledged: {} in {:.2} s = {:.0} msg/s; failed sends: {}",
            self.acked, secs, rate, failed
        )?;
        let share = |d: Option<Duration>| {
            d.map_or_else(
                || "n/a".to_owned(),
                |d| format!("{:.0}% of a core", 100.0 * d.as_secs_f64() / secs.max(1e-9)),
            )
        };
        writeln!(
            f,
            "  CPU while sending: hub {}, bench {} ({} cores shared)",
            share(self.cpu.0),
            share(self.cpu.1),
            std::thread::available_parallelism().map_or(0, usize::from)
        )?;
        for (k, v) in &self.errors {
            writeln!(f, "    {k}: {v}")?;
        }
        for e in &self.samples {
            writeln!(f, "    error: {e}")?;
        }
        writeln!(
            f,
            "  send -> 200 ack (under load):        {}",
            show(self.ack)
        )?;
        writeln!(
            f,
            "  send -> stream receipt (under load): {}",
            show(self.delivery_latency)
        )?;
        write!(f, "{}", self.delivery)?;
        write_odd(f, &self.odd)
    }
}
