//! Smoke test of the soak scenario: the real `tubemail-bench soak` binary
//! against a real hub (served in this process, real SQLite on a temp dir)
//! with 1 000 streamed workers for 10 s of mixed traffic. Every correctness
//! check must pass: nothing lost, duplicated or misrouted, no failed
//! request, no dropped stream, every kind of traffic actually made. The
//! growth verdict needs minutes, so it is not judged here, and no figure is
//! asserted.
#![allow(clippy::unwrap_used, reason = "test code: a failed setup should panic")]

use std::collections::HashMap;
use std::time::Duration;

use tubemail_hub::{Hub, Options};

const SECRET: &str = "soak-smoke-secret-0123456789";
const WORKERS: usize = 1000;
/// Requests in flight at most: generous, so a stall of a busy CI machine
/// does not shed operations (which would fail the run).
const INFLIGHT: usize = 512;

/// Fewest workers that still make the run worth having.
const MIN_WORKERS: usize = 100;

/// Every stream and request is a connection on both sides: the hub here,
/// the bench as a child (which inherits the raised limit). Raises the soft
/// limit to the hard one and returns how many workers fit under it
/// ([`WORKERS`] unless the machine's hard limit is low).
fn workers_under_open_files_limit() -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    }
    let room = usize::try_from(hard).unwrap_or(usize::MAX);
    let workers = room.saturating_sub(INFLIGHT + 200).min(WORKERS);
    assert!(
        workers >= MIN_WORKERS,
        "RLIMIT_NOFILE hard limit {hard} leaves room for {workers} workers; this test needs {MIN_WORKERS}"
    );
    if workers < WORKERS {
        eprintln!("RLIMIT_NOFILE hard limit {hard}: {workers} workers instead of {WORKERS}");
    }
    workers
}

/// The `key=value` pairs of the report's `RESULT` line.
fn result_fields(stdout: &str) -> HashMap<String, String> {
    let line = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line in:\n{stdout}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_smoke_1000_workers_10_seconds() {
    let workers = workers_under_open_files_limit();
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(Options::new(dir.path(), SECRET)).unwrap();
    let state = hub.state().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(hub.serve(listener, state.shutdown.clone().cancelled_owned()));

    let pid = std::process::id().to_string();
    let url = format!("http://{addr}");
    let workers = workers.to_string();
    let inflight = INFLIGHT.to_string();
    let bench = tokio::process::Command::new(env!("CARGO_BIN_EXE_tubemail-bench"))
        .args(["soak", "--url", &url, "--hub-pid", &pid])
        .arg("--hub-data-dir")
        .arg(dir.path())
        .args([
            "--soak-workers",
            &workers,
            "--soak-seconds",
            "10",
            "--sample",
            "2",
        ])
        // Enough of every kind to be sure each one is exercised in 10 s;
        // a late arrival is judged at 30 s (no timing is tested here).
        .args([
            "--rate",
            "100",
            "--heartbeat-rate",
            "50",
            "--permission-rate",
            "5",
        ])
        .args([
            "--roster-rate",
            "0.5",
            "--inflight",
            &inflight,
            "--deadline",
            "30",
        ])
        .env("TUBEMAIL_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), bench)
        .await
        .expect("the soak finishes within 180 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        out.status.success(),
        "the soak failed ({}):\n{report}",
        out.status
    );

    let r = result_fields(&stdout);
    let num = |k: &str| -> u64 {
        r.get(k)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("RESULT lacks a number {k}:\n{report}"))
    };
    for zero in [
        "lost",
        "late",
        "duplicated",
        "misrouted",
        "unacked_received",
        "perm_lost",
        "perm_duplicated",
        "client_errors",
        "server_errors",
        "transport_errors",
        "bad_answers",
        "reconnects",
        "global_reconnects",
        "odd",
        "shed",
    ] {
        assert_eq!(num(zero), 0, "{zero} must be 0:\n{report}");
    }
    for some in [
        "acked",
        "perm_answered",
        "outbound_ok",
        "heartbeat_ok",
        "reads_ok",
        "roster_ok",
        "mcp_ok",
        "delivered_ok",
    ] {
        assert!(num(some) > 0, "no {some} in the run:\n{report}");
    }
    // Every arrival is confirmed as the channel does.
    assert_eq!(
        num("delivered_ok"),
        num("acked"),
        "one receipt per arrival:\n{report}"
    );
    assert_eq!(r.get("growth").map(String::as_str), Some("not_judged"));
    assert!(stdout.contains("RESULT PASS"), "{report}");

    state.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
