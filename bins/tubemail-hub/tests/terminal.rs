//! The terminal WebSocket's handshake checks and the recording routes'
//! input errors, against a real hub on a loopback port.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::Duration;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tubemail_hub::Options;

async fn ticket(c: &common::Client, worker: &str) -> String {
    let v = c.post("/api/pty-ticket", json!({"worker": worker})).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["ttl_s"], 30, "{v}");
    v["ticket"].as_str().unwrap().to_owned()
}

/// The HTTP status of a WebSocket upgrade (101 when accepted).
async fn upgrade(addr: std::net::SocketAddr, path: &str, origin: Option<&str>) -> u16 {
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, resp)) => resp.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_single_use_scoped_and_origin_checked() {
    let (_dir, hub, c) = common::hub().await;
    let a = hub.addr;
    // Accepted once, refused on replay.
    let t = ticket(&c, "one-tm").await;
    assert_eq!(
        upgrade(a, &format!("/ws/pty/one-tm?ticket={t}"), None).await,
        101
    );
    assert_eq!(
        upgrade(a, &format!("/ws/pty/one-tm?ticket={t}"), None).await,
        403
    );
    // A ticket for another worker is refused and burned.
    let t = ticket(&c, "one-tm").await;
    assert_eq!(
        upgrade(a, &format!("/ws/pty/two-tm?ticket={t}"), None).await,
        403
    );
    assert_eq!(
        upgrade(a, &format!("/ws/pty/one-tm?ticket={t}"), None).await,
        403
    );
    // Expired.
    let t = ticket(&c, "one-tm").await;
    hub.state.terminals.tickets.age_all(Duration::from_secs(31));
    assert_eq!(
        upgrade(a, &format!("/ws/pty/one-tm?ticket={t}"), None).await,
        403
    );
    // A foreign origin is refused before the ticket is looked at (so it
    // stays valid); same-origin and the allow-list pass.
    let t = ticket(&c, "one-tm").await;
    let path = format!("/ws/pty/one-tm?ticket={t}");
    assert_eq!(upgrade(a, &path, Some("http://evil.example")).await, 403);
    assert_eq!(upgrade(a, &path, Some(&format!("http://{a}"))).await, 101);
    let t = ticket(&c, "one-tm").await;
    let path = format!("/ws/pty/one-tm?ticket={t}");
    assert_eq!(upgrade(a, &path, Some("http://localhost:5173")).await, 101);
    // Bad names: refused at ticket issue (soft error) and at the socket.
    let v = c.post("/api/pty-ticket", json!({"worker": "../x"})).await;
    assert_eq!(v, json!({"ok": false, "error": "invalid worker name"}));
    assert_eq!(upgrade(a, "/ws/pty/..?ticket=x", None).await, 403);
    // No ticket, no bearer needed, still refused.
    assert_eq!(upgrade(a, "/ws/pty/one-tm", None).await, 403);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_only_refuses_plain_websockets() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path(), common::SECRET);
    options.pty.tls_only = true;
    let hub = common::TestHub::start_with(options).await;
    let c = hub.client();
    let t = ticket(&c, "tls-tm").await;
    let path = format!("/ws/pty/tls-tm?ticket={t}");
    assert_eq!(upgrade(hub.addr, &path, None).await, 403);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_routes_answer_bad_input_clearly() {
    let (_dir, hub, c) = common::hub().await;
    let (status, body) = c
        .call(
            "POST",
            "/api/workers/nobody-tm/recording",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(
        (status, body["detail"].clone()),
        (404, json!("unknown worker: nobody-tm"))
    );
    c.register("rec-tm", 1).await;
    let on = c
        .post("/api/workers/rec-tm/recording", json!({"enabled": true}))
        .await;
    assert_eq!(on["enabled"], true, "{on}");
    // Output while recorded (no browser) is accepted and recorded.
    let (status, _) = c
        .call(
            "POST",
            "/tubemail/rec-tm/pty-control",
            Some(json!({"kind": "size", "cols": 90, "rows": 20})),
        )
        .await;
    assert_eq!(status, 200);
    let resp = reqwest::Client::new()
        .post(c.url("/tubemail/rec-tm/pty-out"))
        .bearer_auth(common::SECRET)
        .body("$ echo hi\r\nhi\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    hub.state.terminals.recorder.flush().await;
    let st = c.get("/api/workers/rec-tm/recording").await;
    let file = &st["files"][0];
    let cast_path = file["cast_path"].as_str().unwrap();
    assert!(cast_path.starts_with("recordings/rec-tm/"), "{st}");
    let header = std::fs::read_to_string(hub.dir.join(cast_path)).unwrap();
    let header: Value = serde_json::from_str(header.lines().next().unwrap()).unwrap();
    assert_eq!(
        (header["width"].clone(), header["height"].clone()),
        (json!(90), json!(20))
    );
    let frames = c
        .get("/api/workers/rec-tm/recording/frames?grep=h%5Bi%5D")
        .await;
    assert_eq!(frames["frames"].as_array().unwrap().len(), 1, "{frames}");
    let (status, body) = c
        .call("GET", "/api/workers/rec-tm/recording/frames?grep=%28", None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("invalid regex"),
        "{body}"
    );
    let (status, body) = c
        .call(
            "GET",
            "/api/workers/rec-tm/recording/frames?since=yesterday",
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    // Off again, no browser: the manager is told 404 and stops.
    c.post("/api/workers/rec-tm/recording", json!({"enabled": false}))
        .await;
    let resp = reqwest::Client::new()
        .post(c.url("/tubemail/rec-tm/pty-out"))
        .bearer_auth(common::SECRET)
        .body("more")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    hub.stop().await;
}
