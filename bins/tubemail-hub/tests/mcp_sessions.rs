//! MCP sessions: a cap per credential (the least recently used session
//! ends), sessions bound to their credential, and the idle expiry.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::{Duration, Instant};

use common::{SECRET, TestHub, issue};
use common::{mcp_list as list, mcp_live as live, mcp_open as open};
use serde_json::json;
use tubemail_hub::Options;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_credential_cannot_hold_more_than_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path(), SECRET);
    options.mcp.max_sessions_per_credential = 4;
    let hub = TestHub::start_with(options).await;
    let c = hub.client();
    let (_, a) = issue(&c, json!({"kind": "operator"})).await;
    let (_, b) = issue(&c, json!({"kind": "operator"})).await;
    let mut mine = Vec::new();
    for _ in 0..12 {
        mine.push(open(&c, &a).await);
        assert!(live(&c).await <= 4, "{} live", live(&c).await);
    }
    assert_eq!(live(&c).await, 4);
    // The oldest ended, the newest answer.
    assert_eq!(list(&c, &a, &mine[0]).await, 404);
    for sid in &mine[8..] {
        assert_eq!(list(&c, &a, sid).await, 200);
    }
    // Another credential still gets sessions, and a session answers only
    // the credential that opened it.
    let theirs = open(&c, &b).await;
    assert_eq!(live(&c).await, 5);
    assert_eq!(list(&c, &b, &theirs).await, 200);
    assert_eq!(list(&c, &a, &theirs).await, 404);
    assert_eq!(list(&c, &b, &mine[11]).await, 404);
    let secrets = open(&c, SECRET).await;
    assert_eq!(list(&c, SECRET, &secrets).await, 200);
    assert_eq!(live(&c).await, 6);
    hub.stop().await;
}

/// Polls until `live` sessions remain (within 10 s).
async fn until_live(c: &common::Client, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while live(c).await != want {
        assert!(
            Instant::now() < deadline,
            "{} live, wanted {want}",
            live(c).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_end_and_an_open_stream_keeps_one_alive() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path(), SECRET);
    options.mcp.session_idle = Duration::from_millis(500);
    let hub = TestHub::start_with(options).await;
    let c = hub.client();
    let idle = open(&c, SECRET).await;
    let watched = open(&c, SECRET).await;
    // A client's standalone event stream, as Claude Code keeps open.
    let resp = c
        .http
        .get(c.url("/mcp/"))
        .bearer_auth(SECRET)
        .header("Accept", "text/event-stream")
        .header("Mcp-Session-Id", &watched)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    until_live(&c, 1).await;
    assert_eq!(list(&c, SECRET, &idle).await, 404);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        list(&c, SECRET, &watched).await,
        200,
        "ended with its stream open"
    );
    // Once the stream is gone, the session idles out too.
    drop(resp);
    until_live(&c, 0).await;
    assert_eq!(list(&c, SECRET, &watched).await, 404);
    hub.stop().await;
}
