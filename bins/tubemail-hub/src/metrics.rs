//! Prometheus text metrics.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use tubemail_core::engine::{Engine, Histogram};

/// HTTP request latency histogram.
pub type HttpMetrics = Histogram;

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
        "tubemail_retention_deleted_total",
        "Timeline events retention deleted since start.",
        "counter",
        get(&m.events_deleted),
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
    histogram(
        &mut out,
        "tubemail_http_request_duration_seconds",
        "Time to answer HTTP requests (to headers for streams).",
        http,
    );
    histogram(
        &mut out,
        "tubemail_write_duration_seconds",
        "Time from a change's submission to its commit in the store.",
        &m.write_latency,
    );
    out
}

fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    let (buckets, count, sum) = h.snapshot();
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (bound, n) in buckets {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum {sum}");
    let _ = writeln!(out, "{name}_count {count}");
}
