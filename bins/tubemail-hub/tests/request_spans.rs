//! Every request gets a span (method and path) with its status and latency
//! at debug level, and no query string reaches the log: a `?token=` there
//! would be a credential.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Client, SECRET, free_port, hub_bin};

#[tokio::test]
async fn requests_are_logged_by_path_without_their_query() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("hub.log");
    let port = free_port();
    let mut child = Command::new(hub_bin())
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(["--log", "info,tubemail_hub=debug,tower_http=debug"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("TUBEMAIL_SECRET", SECRET)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let client = Client::new(format!("http://127.0.0.1:{port}"), SECRET);
    client.wait_healthy(Duration::from_secs(20)).await;
    let (status, _) = client
        .call("GET", "/api/workers?token=QUERY-SECRET-123", None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = client.call("GET", "/api/workers/nosuch-tm", None).await;
    assert_eq!(status, 404);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();

    let log = std::fs::read_to_string(&log_path).unwrap();
    let line = |needle: &str| {
        log.lines()
            .any(|l| l.contains(needle) && l.contains("status=200"))
    };
    assert!(
        line("request{method=GET path=/api/workers}"),
        "no span with the path and status:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("path=/api/workers/nosuch-tm") && l.contains("status=404")),
        "{log}"
    );
    assert!(
        !log.contains("QUERY-SECRET-123"),
        "the query reached the log:\n{log}"
    );
    assert!(!log.contains(SECRET), "the secret reached the log:\n{log}");
}
