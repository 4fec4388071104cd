//! `tubemail-hub compact` on a real data dir, against the hub binary.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{HubProcess, free_port, hub_bin};
use serde_json::json;

fn compact(dir: &Path) -> std::process::Output {
    Command::new(hub_bin())
        .arg("compact")
        .arg("--data-dir")
        .arg(dir)
        .env_remove("TUBEMAIL_DATA_DIR")
        .output()
        .unwrap()
}

fn db_bytes(dir: &Path) -> u64 {
    let len = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
    len("tubemail.db") + len("tubemail.db-wal")
}

#[tokio::test]
async fn compact_refuses_a_running_hub_then_trims_and_shrinks() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut hub = HubProcess::spawn(dir.path(), port).await;
    let c = hub.client();
    let payload = "x".repeat(4096);
    let mut last = String::new();
    for i in 0..600 {
        last = c.send("big", &format!("{i:04}{payload}")).await;
    }
    let (status, _) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"retention_max_events_per_worker": 100})),
        )
        .await;
    assert_eq!(status, 200);

    let refused = compact(dir.path());
    assert!(!refused.status.success());
    let says = String::from_utf8_lossy(&refused.stderr);
    assert!(
        says.contains(&format!(
            "pid {}, listening on 127.0.0.1:{port}",
            hub.child.id()
        )),
        "{says}"
    );

    hub.kill9();
    let before = db_bytes(dir.path());
    let done = compact(dir.path());
    let says = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{says}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(says.starts_with("deleted 500 events;"), "{says}");
    let after = db_bytes(dir.path());
    assert!(after * 3 < before, "{before} -> {after} bytes");

    // The hub opens the compacted data dir; the newest events are there.
    let hub = HubProcess::spawn(dir.path(), free_port()).await;
    let events = hub.client().events("big").await;
    assert_eq!(events.last().unwrap()["event_id"], last.as_str());
}
