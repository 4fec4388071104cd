//! TLS auto-detection and graceful shutdown.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::{Duration, Instant};

use common::{HubProcess, SECRET, free_port};
use tubemail_hub::{Hub, Options};

#[tokio::test]
async fn serves_https_when_the_data_dir_has_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = ck.cert.pem();
    std::fs::write(dir.path().join("server.crt"), &cert_pem).unwrap();
    std::fs::write(
        dir.path().join("server.key"),
        ck.signing_key.serialize_pem(),
    )
    .unwrap();
    let (cert, key) = tubemail_hub::tls_files(dir.path()).expect("certificate found");

    let hub = Hub::open(Options::new(dir.path(), SECRET)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stopped = shutdown.clone().cancelled_owned();
    let server = tokio::spawn(async move { hub.serve_tls(listener, &cert, &key, stopped).await });

    let root = reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    let https = reqwest::Client::builder()
        .tls_certs_only([root])
        .build()
        .unwrap();
    let url = format!("https://localhost:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let health = loop {
        match https.get(format!("{url}/health")).send().await {
            Ok(r) => break r,
            Err(e) => {
                assert!(Instant::now() < deadline, "no https: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(health.status(), 200);
    let r = https
        .get(format!("{url}/api/workers"))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Plain HTTP on the TLS port gets nowhere.
    let plain = reqwest::Client::new()
        .get(format!("http://localhost:{port}/health"))
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn sigterm_ends_open_streams_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut hub = HubProcess::spawn(dir.path(), port).await;
    let c = hub.client();
    c.register("w", 1).await;
    let mut stream = c.stream("/tubemail/w/stream", None).await;
    let mut global = c.stream("/api/events/stream", None).await;
    let id = c.send("w", "before shutdown").await;
    assert_eq!(
        stream
            .take("channel_event", 1, Duration::from_secs(10))
            .await[0]
            .id
            .as_deref(),
        Some(id.as_str())
    );

    let started = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &hub.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(s) = hub.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "hub still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    // A clean stop leaves one self-contained database file.
    let wal = dir.path().join("tubemail.db-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the write-ahead log was folded into tubemail.db"
    );
    assert!(
        stream.next(Duration::from_secs(5)).await.is_none(),
        "worker stream ended"
    );
    // The global stream ends too (after what it had already sent).
    let t = Instant::now();
    while global.next(Duration::from_secs(5)).await.is_some() {}
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "global stream did not end"
    );

    // The stream position was flushed: a reconnect without an id gets nothing old.
    let hub = HubProcess::spawn(dir.path(), port).await;
    let c = hub.client();
    let mut again = c.stream("/tubemail/w/stream", None).await;
    let next = c.send("w", "after restart").await;
    let m = again
        .take("channel_event", 1, Duration::from_secs(10))
        .await
        .remove(0);
    assert_eq!(
        m.id.as_deref(),
        Some(next.as_str()),
        "no replay of what was already delivered"
    );
}
