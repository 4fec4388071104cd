//! Revoking a token ends, at once, every stream and terminal WebSocket it
//! opened, with a closing event that says why; other credentials' streams
//! go on.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::{Duration, Instant};

use common::{EventStream, as_token, hub, issue};
use futures::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// `stream` says `closed` (`reason: revoked`) within `within`, then ends.
async fn closes_revoked(stream: &mut EventStream, within: Duration) {
    let started = Instant::now();
    loop {
        let left = within.saturating_sub(started.elapsed());
        let msg = stream
            .next(left)
            .await
            .unwrap_or_else(|| panic!("no `closed` within {within:?}"));
        if msg.event == "closed" {
            assert_eq!(msg.data, json!({"reason": "revoked"}));
            break;
        }
    }
    let ended = Instant::now();
    assert!(stream.next(Duration::from_secs(3)).await.is_none());
    assert!(
        ended.elapsed() < Duration::from_secs(2),
        "the stream stayed open after `closed`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_ends_its_streams_at_once() {
    let (_d, hub, c) = hub().await;
    c.register("w", 1).await;
    c.register("x", 2).await;
    let (wid, wtok) = issue(&c, json!({"kind": "worker", "worker": "w"})).await;
    let (_, xtok) = issue(&c, json!({"kind": "worker", "worker": "x"})).await;
    let (rid, rtok) = issue(&c, json!({"kind": "operator-ro"})).await;
    let (_, r2tok) = issue(&c, json!({"kind": "operator-ro"})).await;
    let w = as_token(&c, &wtok);
    let mut w_stream = w.stream("/tubemail/w/stream", None).await;
    let mut x_stream = as_token(&c, &xtok).stream("/tubemail/x/stream", None).await;
    let mut global = as_token(&c, &rtok).stream("/api/events/stream", None).await;
    let mut global2 = as_token(&c, &r2tok)
        .stream("/api/events/stream", None)
        .await;
    let mut global_secret = c.stream("/api/events/stream", None).await;
    c.send("w", "before").await;
    w_stream
        .take("channel_event", 1, Duration::from_secs(10))
        .await;
    global
        .take("channel_event", 1, Duration::from_secs(10))
        .await;

    for id in [&wid, &rid] {
        let r = c.call("DELETE", &format!("/api/tokens/{id}"), None).await;
        assert_eq!(r.0, 200, "{r:?}");
    }
    closes_revoked(&mut w_stream, Duration::from_secs(1)).await;
    closes_revoked(&mut global, Duration::from_secs(1)).await;
    // Reconnecting with the revoked token is refused.
    assert_eq!(w.call("GET", "/tubemail/w/stream", None).await.0, 401);

    // Everyone else's streams go on.
    c.send("x", "after").await;
    let got = x_stream
        .take("channel_event", 1, Duration::from_secs(10))
        .await;
    assert_eq!(got[0].data["content"], "after");
    for g in [&mut global2, &mut global_secret] {
        let got = g.take("channel_event", 2, Duration::from_secs(10)).await;
        assert_eq!(got[1].data["content"], "after", "{got:?}");
    }
    hub.stop().await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A terminal WebSocket on a ticket issued to `c`'s credential.
async fn viewer(c: &common::Client, worker: &str) -> Ws {
    let v = c.post("/api/pty-ticket", json!({"worker": worker})).await;
    let ticket = v["ticket"].as_str().unwrap();
    let url = format!(
        "{}/ws/pty/{worker}?ticket={ticket}",
        c.base.replace("http://", "ws://")
    );
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next frame that is not output or a control object.
async fn next_other(ws: &mut Ws, within: Duration) -> Option<Message> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match msg.ok()? {
            Message::Binary(_) | Message::Text(_) => {}
            other => return Some(other),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_closes_the_terminals_its_tickets_opened() {
    let (_d, hub, c) = hub().await;
    c.register("w", 1).await;
    let (oid, otok) = issue(&c, json!({"kind": "operator"})).await;
    let op = as_token(&c, &otok);
    let mut revoked = viewer(&op, "w").await;
    let mut kept = viewer(&c, "w").await;
    // A ticket issued before the revocation and used after opens nothing.
    let spare = op.post("/api/pty-ticket", json!({"worker": "w"})).await;

    let r = c.call("DELETE", &format!("/api/tokens/{oid}"), None).await;
    assert_eq!(r.0, 200, "{r:?}");
    match next_other(&mut revoked, Duration::from_secs(1)).await {
        Some(Message::Close(Some(frame))) => {
            assert_eq!(frame.code, CloseCode::Policy);
            assert_eq!(frame.reason.as_str(), "credential revoked");
        }
        other => panic!("wanted a close frame within 1 s, got {other:?}"),
    }
    let url = format!(
        "{}/ws/pty/w?ticket={}",
        c.base.replace("http://", "ws://"),
        spare["ticket"].as_str().unwrap()
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("a revoked credential's ticket was let in: {other:?}"),
    }

    // The secret's viewer still gets output.
    let status = c
        .http
        .post(c.url("/tubemail/w/pty-out"))
        .bearer_auth(common::SECRET)
        .body("still here")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("still here") {
        let msg = tokio::time::timeout_at(deadline, kept.next())
            .await
            .expect("output in time")
            .expect("socket open")
            .unwrap();
        if let Message::Binary(b) = msg {
            seen.extend_from_slice(&b);
        }
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_ends_its_mcp_streams_and_sessions() {
    let (_d, hub, c) = hub().await;
    let (oid, otok) = issue(&c, json!({"kind": "operator"})).await;
    let (_, keep) = issue(&c, json!({"kind": "operator"})).await;
    let sid = common::mcp_open(&c, &otok).await;
    let kept = common::mcp_open(&c, &keep).await;
    // The session's standalone event stream.
    let resp = c
        .http
        .get(c.url("/mcp/"))
        .bearer_auth(&otok)
        .header("Accept", "text/event-stream")
        .header("Mcp-Session-Id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    assert_eq!(common::mcp_live(&c).await, 2);

    let r = c.call("DELETE", &format!("/api/tokens/{oid}"), None).await;
    assert_eq!(r.0, 200, "{r:?}");
    let ended = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(_)) = body.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the MCP stream stayed open");
    assert_eq!(common::mcp_live(&c).await, 1);
    assert_eq!(common::mcp_list(&c, &keep, &kept).await, 200);
    hub.stop().await;
}
