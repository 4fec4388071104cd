//! Gathers what the stream readers saw and checks it against what was sent.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;

use crate::api::StreamEvent;

/// How many odd events are kept verbatim for the report.
const ODD_SAMPLES: usize = 5;

/// One arrival of an event on a stream.
#[derive(Debug, Clone, Copy)]
pub struct Receipt {
    /// Index of the worker whose stream carried it.
    pub worker: usize,
    /// When it was read.
    pub at: Instant,
}

/// A message the hub acknowledged, which must arrive exactly once.
#[derive(Debug, Clone)]
pub struct Expected {
    /// Event id from the send reply.
    pub event_id: String,
    /// Index of the worker it was sent to.
    pub worker: usize,
    /// When the send request was started.
    pub sent_at: Instant,
    /// Whether to leave it out of latency figures (warm-up).
    pub warmup: bool,
}

/// Everything the stream readers reported.
pub struct Collector {
    /// Reports from the readers.
    rx: UnboundedReceiver<StreamEvent>,
    /// Arrivals per event id.
    pub receipts: HashMap<String, Vec<Receipt>>,
    /// Number of odd events (other types, unparsable data, id mismatches).
    pub odd_count: usize,
    /// The first few odd events, verbatim.
    pub odd_samples: Vec<String>,
    /// Streams that ended, with their error if any.
    pub closed: Vec<(usize, Option<String>)>,
}

impl Collector {
    /// Wraps the receiving end of the readers' channel.
    pub fn new(rx: UnboundedReceiver<StreamEvent>) -> Self {
        Self {
            rx,
            receipts: HashMap::new(),
            odd_count: 0,
            odd_samples: Vec::new(),
            closed: Vec::new(),
        }
    }

    /// Notes an odd event.
    fn odd(&mut self, worker: usize, detail: &str) {
        self.odd_count += 1;
        if self.odd_samples.len() < ODD_SAMPLES {
            self.odd_samples.push(format!("worker #{worker}: {detail}"));
        }
    }

    /// Books one report; returns the event id if it was a message.
    fn record(&mut self, event: StreamEvent) -> Option<String> {
        match event {
            StreamEvent::Message {
                worker,
                event_id,
                at,
                note,
            } => {
                if let Some(note) = note {
                    self.odd(worker, &note);
                }
                self.receipts
                    .entry(event_id.clone())
                    .or_default()
                    .push(Receipt { worker, at });
                Some(event_id)
            }
            StreamEvent::Odd { worker, detail } => {
                self.odd(worker, &detail);
                None
            }
            StreamEvent::Closed { worker, error } => {
                if self.closed.is_empty() {
                    tracing::warn!(
                        worker,
                        ?error,
                        "a stream closed (further closes logged at debug)"
                    );
                } else {
                    tracing::debug!(worker, ?error, "stream closed");
                }
                self.closed.push((worker, error));
                None
            }
        }
    }

    /// Books every report already queued, without waiting.
    pub fn drain_ready(&mut self) {
        while let Ok(event) = self.rx.try_recv() {
            self.record(event);
        }
    }

    /// Waits until `event_id` has arrived or `until` passes; true if it arrived.
    pub async fn wait_for(&mut self, event_id: &str, until: Instant) -> bool {
        self.drain_ready();
        while !self.receipts.contains_key(event_id) {
            match tokio::time::timeout_at(until.into(), self.rx.recv()).await {
                Ok(Some(event)) => {
                    self.record(event);
                }
                Ok(None) | Err(_) => return false,
            }
        }
        true
    }

    /// Waits until every expected id has arrived or `until` passes, then
    /// keeps listening until nothing arrives for `quiet` (to catch late
    /// duplicates), never past `until`.
    pub async fn wait_all(&mut self, expected: &[Expected], until: Instant, quiet: Duration) {
        self.drain_ready();
        let mut missing: HashSet<&str> = expected
            .iter()
            .map(|e| e.event_id.as_str())
            .filter(|id| !self.receipts.contains_key(*id))
            .collect();
        while !missing.is_empty() {
            match tokio::time::timeout_at(until.into(), self.rx.recv()).await {
                Ok(Some(event)) => {
                    if let Some(id) = self.record(event) {
                        missing.remove(id.as_str());
                    }
                }
                Ok(None) | Err(_) => return,
            }
        }
        loop {
            let stop = (Instant::now() + quiet).min(until);
            match tokio::time::timeout_at(stop.into(), self.rx.recv()).await {
                Ok(Some(event)) => {
                    self.record(event);
                }
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Checks arrivals against `expected`: each exactly once, on its own
    /// worker's stream, within `deadline` of being sent.
    pub fn verify(&self, expected: &[Expected], deadline: Duration) -> Delivery {
        let mut d = Delivery {
            expected: expected.len(),
            ..Delivery::default()
        };
        let known: HashSet<&str> = expected.iter().map(|e| e.event_id.as_str()).collect();
        d.unexpected = self
            .receipts
            .keys()
            .filter(|id| !known.contains(id.as_str()))
            .count();
        for e in expected {
            let arrivals = self
                .receipts
                .get(&e.event_id)
                .map_or(&[][..], Vec::as_slice);
            let mine: Vec<&Receipt> = arrivals.iter().filter(|r| r.worker == e.worker).collect();
            let elsewhere = arrivals.len() - mine.len();
            if elsewhere > 0 {
                d.misrouted += 1;
            }
            if mine.len() > 1 {
                d.duplicated += 1;
                d.extra_copies += mine.len() - 1;
            }
            let Some(first) = mine.iter().map(|r| r.at).min() else {
                d.never += 1;
                continue;
            };
            let latency = first.saturating_duration_since(e.sent_at);
            if latency > deadline {
                d.late += 1;
            } else if !e.warmup {
                d.latencies.push(latency);
            }
        }
        d
    }
}

/// The outcome of [`Collector::verify`].
#[derive(Debug, Default)]
pub struct Delivery {
    /// Acknowledged messages checked.
    pub expected: usize,
    /// Never arrived on their worker's stream.
    pub never: usize,
    /// Arrived, but after the deadline.
    pub late: usize,
    /// Arrived more than once on their worker's stream.
    pub duplicated: usize,
    /// Extra copies beyond the first, summed.
    pub extra_copies: usize,
    /// Arrived on some other worker's stream.
    pub misrouted: usize,
    /// Event ids that arrived but were never acknowledged to a sender.
    pub unexpected: usize,
    /// Send-to-arrival latencies of on-time, non-warm-up messages.
    pub latencies: Vec<Duration>,
}

impl Delivery {
    /// Lost in the brief's sense: not received within the deadline.
    pub fn lost(&self) -> usize {
        self.never + self.late
    }
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  delivery: {} acked, lost {} (never {}, late {}), duplicated {} (+{} copies), misrouted {}, unacked-but-received {}",
            self.expected,
            self.lost(),
            self.never,
            self.late,
            self.duplicated,
            self.extra_copies,
            self.misrouted,
            self.unexpected
        )
    }
}

/// Percentiles of a set of durations.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    /// Sample count.
    pub n: usize,
    /// Mean.
    pub mean: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples`, or `None` when empty.
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let n = samples.len();
        let rank = |p: f64| samples[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        let total: Duration = samples.iter().sum();
        Some(Self {
            n,
            mean: total / u32::try_from(n).unwrap_or(u32::MAX),
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: samples[n - 1],
        })
    }
}

/// Milliseconds with three decimals.
fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {} ms, p90 {} ms, p99 {} ms, max {} ms (mean {} ms, n={})",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max),
            ms(self.mean),
            self.n
        )
    }
}

/// Formats optional percentiles, or a dash when there were no samples.
pub fn show(p: Option<Percentiles>) -> String {
    p.map_or_else(|| "no samples".to_owned(), |p| p.to_string())
}
