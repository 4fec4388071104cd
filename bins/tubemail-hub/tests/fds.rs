//! File descriptors: the hub raises its soft limit to the hard one and
//! says so, and idle connections that never authenticate cannot take the
//! descriptors authenticated clients need.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{Client, HubProcess, SECRET, free_port, hub_bin};

/// The hub binary under `prlimit --nofile=SOFT:HARD`, logging at info;
/// its stderr lines arrive on the receiver.
async fn hub_with_nofile(
    dir: &std::path::Path,
    soft: u64,
    hard: u64,
) -> (HubProcess, Receiver<String>) {
    let port = free_port();
    let mut child = Command::new("prlimit")
        .arg(format!("--nofile={soft}:{hard}"))
        .arg("--")
        .arg(hub_bin())
        .args(["--bind", &format!("127.0.0.1:{port}"), "--log", "info"])
        .arg("--data-dir")
        .arg(dir)
        .env("TUBEMAIL_SECRET", SECRET)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux) is needed");
    let rx = common::stderr_lines(child.stderr.take().unwrap());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let hub = HubProcess { child, addr };
    hub.client().wait_healthy(Duration::from_secs(20)).await;
    (hub, rx)
}

/// The first line containing `what` within 10 s.
fn line_with(rx: &Receiver<String>, what: &str) -> String {
    common::line_with(rx, what, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no log line with {what:?}"))
}

/// `n` TCP connections to `addr` that send nothing.
async fn idle_connections(addr: SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    held
}

/// `/health` on a new connection, and how long it took.
async fn health(addr: SocketAddr) -> (u16, Duration) {
    let started = Instant::now();
    let status = reqwest::Client::new()
        .get(format!("http://{addr}/health"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    (status, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_soft_limit_is_raised_and_1500_idle_connections_do_not_stop_health() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, log) = hub_with_nofile(dir.path(), 1024, 4096).await;
    let line = line_with(&log, "open file limit");
    assert!(
        line.contains("soft=4096") && line.contains("hard=4096") && line.contains("was=1024"),
        "{line}"
    );
    let held = idle_connections(hub.addr, 1500).await;
    let (status, took) = health(hub.addr).await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(2), "/health took {took:?}");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_budget_make_room_and_spare_authenticated_ones() {
    // No room to raise: 1024 descriptors, half of them for connections
    // that have not authenticated.
    let dir = tempfile::tempdir().unwrap();
    let (hub, log) = hub_with_nofile(dir.path(), 1024, 1024).await;
    let line = line_with(&log, "open file limit");
    assert!(line.contains("soft=1024"), "{line}");
    // An authenticated client with a kept-alive connection.
    let c = Client::new(format!("http://{}", hub.addr), SECRET);
    assert_eq!(c.call("GET", "/api/workers", None).await.0, 200);
    let held = idle_connections(hub.addr, 1500).await;
    let (status, took) = health(hub.addr).await;
    assert_eq!(status, 200, "after {took:?}");
    assert!(took < Duration::from_secs(2), "/health took {took:?}");
    let started = Instant::now();
    assert_eq!(c.call("GET", "/api/workers", None).await.0, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The oldest idle connections were closed to make room.
    let mut closed = 0;
    for s in &held {
        let mut buf = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), s.peek(&mut buf)).await {
            closed += 1;
        }
    }
    assert!(closed >= 900, "only {closed} idle connections closed");
    drop(held);
}
