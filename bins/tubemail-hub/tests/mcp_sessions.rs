//! MCP sessions: a cap per credential (the least recently used session
//! ends), sessions bound to their credential, and the idle expiry.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::{Duration, Instant};

use common::{Client, SECRET, TestHub, issue};
use serde_json::{Value, json};
use tubemail_hub::Options;

/// POSTs a JSON-RPC message to `/mcp/` as `bearer` (in session `sid`);
/// status and the session id the answer names.
async fn mcp(c: &Client, bearer: &str, sid: Option<&str>, body: Value) -> (u16, Option<String>) {
    let mut req = c
        .http
        .post(c.url("/mcp/"))
        .bearer_auth(bearer)
        .header("Accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(sid) = sid {
        req = req.header("Mcp-Session-Id", sid);
    }
    let resp = req.send().await.unwrap();
    let sid = resp
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = resp.status().as_u16();
    let _ = resp.bytes().await;
    (status, sid)
}

/// Opens a session as `bearer`; its id.
async fn open(c: &Client, bearer: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    let (status, sid) = mcp(c, bearer, None, init).await;
    assert_eq!(status, 200);
    let sid = sid.expect("a session id");
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(mcp(c, bearer, Some(&sid), done).await.0, 202);
    sid
}

/// `tools/list` in session `sid`: its status.
async fn list(c: &Client, bearer: &str, sid: &str) -> u16 {
    let req = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    mcp(c, bearer, Some(sid), req).await.0
}

/// `tubemail_mcp_sessions` from `/metrics`.
async fn live(c: &Client) -> u64 {
    let text = c
        .http
        .get(c.url("/metrics"))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("tubemail_mcp_sessions "))
        .and_then(|v| v.parse().ok())
        .expect("the gauge")
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path(), SECRET);
    options.mcp.session_idle = Duration::from_millis(500);
    let hub = TestHub::start_with(options).await;
    let c = hub.client();
    let sid = open(&c, SECRET).await;
    assert_eq!(live(&c).await, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while live(&c).await > 0 {
        assert!(Instant::now() < deadline, "the idle session stayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(list(&c, SECRET, &sid).await, 404);
    hub.stop().await;
}
