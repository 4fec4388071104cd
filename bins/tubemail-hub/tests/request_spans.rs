//! Every request gets a span (its id, method, path, route template and
//! worker) with its status and latency at debug level; the engine logs
//! inside it; and no query string, secret or message reaches the log: a
//! `?token=` there would be a credential.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use common::{Client, SECRET, free_port, hub_bin};
use tower::ServiceExt;

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
        line("method=GET path=/api/workers route=/api/workers}"),
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

/// What the test's subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl tracing_subscriber::fmt::MakeWriter<'_> for Captured {
    type Writer = Captured;
    fn make_writer(&self) -> Captured {
        self.clone()
    }
}

/// `POST /api/workers/a-tm/send?token=…` with the bearer, from loopback,
/// with `x-request-id: id` when given; the id the response carries.
async fn send(app: &axum::Router, id: Option<&str>, message: &str) -> String {
    let mut req = Request::post("/api/workers/a-tm/send?token=QUERY-SECRET-123")
        .header("host", "127.0.0.1:8004")
        .header("authorization", format!("Bearer {SECRET}"))
        .header("content-type", "application/json");
    if let Some(id) = id {
        req = req.header("x-request-id", id);
    }
    let mut req = req
        .body(Body::from(
            serde_json::json!({ "message": message }).to_string(),
        ))
        .unwrap();
    let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.headers()["x-request-id"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_requests_log_lines_carry_its_id_route_and_worker_down_to_the_engine() {
    let log = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .with_env_filter("debug")
        .finish();
    // The test's runtime has one thread: the hub's tasks log here too.
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = tempfile::tempdir().unwrap();
    let hub = tubemail_hub::Hub::open(tubemail_hub::Options::new(dir.path(), SECRET)).unwrap();
    let app = hub.router();

    let kept = send(&app, Some("client-req-7"), "MESSAGE-BODY-1").await;
    assert_eq!(kept, "client-req-7", "a well-formed client id is kept");
    let made = send(&app, None, "MESSAGE-BODY-2").await;
    let replaced = send(&app, Some("not an {id}"), "MESSAGE-BODY-3").await;
    let too_long = send(&app, Some(&"x".repeat(65)), "MESSAGE-BODY-4").await;
    for id in [&made, &replaced, &too_long] {
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "a fresh id: {id}"
        );
    }
    assert!(made != replaced && replaced != too_long);
    hub.engine().shutdown().await;

    let text = log.text();
    for id in [&kept, &made, &replaced, &too_long] {
        // Nested spans print outermost first: the request's fields, then
        // the engine's send and append, then the engine's own line.
        let span = format!(
            "request{{request_id={id} method=POST path=/api/workers/a-tm/send \
             route=/api/workers/{{worker}}/send worker=a-tm}}"
        );
        assert!(
            text.lines().any(|l| l.contains(&span)
                && l.contains(":send{worker=a-tm}:append{worker=a-tm kind=inbound}:")
                && l.contains("event stored")),
            "no engine line inside {span}:\n{text}"
        );
    }
    for secret in [
        SECRET,
        "QUERY-SECRET-123",
        "MESSAGE-BODY",
        "not an {id}",
        &"x".repeat(65),
    ] {
        assert!(
            !text.contains(secret),
            "{secret:?} reached the log:\n{text}"
        );
    }
}
