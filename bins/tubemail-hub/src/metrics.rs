//! Prometheus text metrics.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tubemail_core::engine::Engine;

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// HTTP request latency histogram.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl HttpMetrics {
    /// Records one request.
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }
}

/// Renders every metric in the Prometheus text format.
pub fn render(http: &HttpMetrics, engine: &Engine, mcp_sessions: usize) -> String {
    let m = engine.metrics();
    let health = engine.health_counts();
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    };
    gauge(
        "tubemail_workers_online",
        "Workers with a connected stream (managers excluded).",
        "gauge",
        health.workers_online as u64,
    );
    gauge(
        "tubemail_workers_total",
        "Registry entries, managers included.",
        "gauge",
        health.workers_total as u64,
    );
    gauge(
        "tubemail_pending_permissions",
        "Pending permission prompts of online workers.",
        "gauge",
        health.pending_permissions as u64,
    );
    gauge(
        "tubemail_events_appended_total",
        "Timeline events committed since start.",
        "counter",
        get(&m.events_appended),
    );
    gauge(
        "tubemail_commits_total",
        "Store commits (group commits) since start.",
        "counter",
        get(&m.commits),
    );
    gauge(
        "tubemail_deliveries_total",
        "Events handed to stream subscribers since start.",
        "counter",
        get(&m.deliveries),
    );
    gauge(
        "tubemail_sse_subscribers",
        "Open worker stream subscriptions.",
        "gauge",
        get(&m.worker_subscribers),
    );
    gauge(
        "tubemail_mcp_sessions",
        "Live MCP sessions.",
        "gauge",
        mcp_sessions as u64,
    );
    gauge(
        "tubemail_sse_global_subscribers",
        "Open global stream subscriptions.",
        "gauge",
        get(&m.global_subscribers),
    );
    let _ = writeln!(
        out,
        "# HELP tubemail_commit_seconds_total Time spent in store commits.\n\
         # TYPE tubemail_commit_seconds_total counter\n\
         tubemail_commit_seconds_total {}",
        get(&m.commit_micros) as f64 / 1e6
    );
    let name = "tubemail_http_request_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time to answer HTTP requests (to headers for streams).\n# TYPE {name} histogram"
    );
    let mut cumulative = 0;
    for (b, n) in BUCKETS.iter().zip(&http.buckets) {
        cumulative += get(n);
        let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
    }
    let count = get(&http.count);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum {}", get(&http.sum_micros) as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {count}");
    out
}
