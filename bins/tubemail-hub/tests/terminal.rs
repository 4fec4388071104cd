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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tickets_are_swept_on_a_timer() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path(), common::SECRET);
    options.pty.ticket_sweep = Duration::from_millis(100);
    let hub = common::TestHub::start_with(options).await;
    let c = hub.client();
    let tickets = &hub.state.terminals.tickets;
    ticket(&c, "sweep-tm").await;
    ticket(&c, "sweep-tm").await;
    assert_eq!(tickets.open_count(), 2);
    tickets.age_all(Duration::from_secs(31));
    // Nobody issues or uses a ticket: the timer alone drops them.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while tickets.open_count() > 0 {
        assert!(std::time::Instant::now() < deadline, "expired tickets kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hub.stop().await;
}

/// A WebSocket viewer over a socket with a small receive buffer.
type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn viewer(hub: &common::TestHub, worker: &str, rcvbuf: Option<u32>) -> Ws {
    let t = ticket(&hub.client(), worker).await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n).unwrap();
    }
    let tcp = sock.connect(hub.addr).await.unwrap();
    let url = format!("ws://{}/ws/pty/{worker}?ticket={t}", hub.addr);
    tokio_tungstenite::client_async(url, tcp).await.unwrap().0
}

/// What a viewer received: output bytes and control frames, in order.
#[derive(Default)]
struct Seen {
    bytes: Vec<u8>,
    controls: Vec<Value>,
    repaints: Vec<Vec<u8>>,
    repaint_next: bool,
}

impl Seen {
    async fn read(&mut self, ws: &mut Ws) {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .unwrap();
        match msg {
            Message::Binary(b) if self.repaint_next => {
                self.repaint_next = false;
                self.repaints.push(b.to_vec());
            }
            Message::Binary(b) => self.bytes.extend_from_slice(&b),
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                self.repaint_next = v["kind"] == "snapshot";
                self.controls.push(v);
            }
            _ => {}
        }
    }

    fn snapshots(&self) -> usize {
        self.controls
            .iter()
            .filter(|c| c["kind"] == "snapshot")
            .count()
    }
}

async fn pty_out(c: &common::Client, worker: &str, body: Vec<u8>) -> u16 {
    let post = c
        .http
        .post(c.url(&format!("/tubemail/{worker}/pty-out")))
        .bearer_auth(common::SECRET)
        .body(body)
        .send();
    // The hub never waits for a viewer: a post that hangs fails the test.
    tokio::time::timeout(Duration::from_secs(20), post)
        .await
        .expect("pty-out answered")
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_viewer_gets_a_snapshot_and_holds_up_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path(), common::SECRET);
    options.pty.ring_bytes = 2 << 20;
    options.pty.viewer_lag_bytes = 512 << 10;
    let hub = common::TestHub::start_with(options).await;
    let c = hub.client();
    let w = "slow-tm";
    let mut fast = viewer(&hub, w, None).await;
    // The slow viewer reads nothing until the end; its socket buffers
    // (small on its side) fill up long before the output ends.
    let mut slow = viewer(&hub, w, Some(4096)).await;
    let mut f = Seen::default();
    while f.snapshots() == 0 {
        f.read(&mut fast).await;
    }
    assert_eq!(f.controls[0]["kind"], "hello", "{:?}", f.controls);

    // 24 MiB of numbered lines, 256 KiB per post, in step with the fast
    // viewer (so it is never far behind, whatever the machine's speed).
    let mut sent = Vec::new();
    let mut line = 0u32;
    for _ in 0..96 {
        let mut chunk = Vec::with_capacity(256 << 10);
        while chunk.len() < (256 << 10) - 64 {
            line += 1;
            chunk.extend_from_slice(format!("line {line:08} of the flood\r\n").as_bytes());
        }
        sent.extend_from_slice(&chunk);
        assert_eq!(pty_out(&c, w, chunk).await, 200);
        while f.bytes.len() < sent.len() {
            f.read(&mut fast).await;
        }
    }
    assert!(f.bytes == sent, "the fast viewer's stream differs");
    assert_eq!(f.snapshots(), 1, "the fast viewer was never cut over");

    // The slow one catches up with a repaint, not a cut connection, and
    // streams on from there.
    let mut s = Seen::default();
    while s.snapshots() < 2 {
        s.read(&mut slow).await;
    }
    assert_eq!(pty_out(&c, w, b"\r\nTHE-END\r\n".to_vec()).await, 200);
    while !String::from_utf8_lossy(&s.bytes).contains("THE-END") {
        s.read(&mut slow).await;
    }
    let repaint = String::from_utf8_lossy(s.repaints.last().unwrap()).into_owned();
    assert!(repaint.contains("of the flood"), "{repaint:?}");
    assert!(
        s.bytes.len() < sent.len(),
        "the slow viewer skipped nothing ({} bytes)",
        s.bytes.len()
    );
    // The fast viewer got the marker too, right after the flood.
    while f.bytes.len() < sent.len() + 11 {
        f.read(&mut fast).await;
    }
    assert!(f.bytes.ends_with(b"\r\nTHE-END\r\n"));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recording_notice_reaches_web_uis() {
    let (_dir, hub, c) = common::hub().await;
    c.register("note-tm", 1).await;
    let mut global = c.stream("/api/events/stream", None).await;
    for enabled in [true, false] {
        c.post(
            "/api/workers/note-tm/recording",
            json!({"enabled": enabled}),
        )
        .await;
        let msg = global
            .take("recording", 1, Duration::from_secs(20))
            .await
            .remove(0);
        assert_eq!(
            msg.data,
            json!({"worker": "note-tm", "enabled": enabled}),
            "{msg:?}"
        );
    }
    hub.stop().await;
}

/// Recording files of `worker` on disk: (stem, cast + frames bytes).
fn recordings_on_disk(dir: &std::path::Path, worker: &str) -> Vec<(String, u64)> {
    let dir = dir.join("recordings").join(worker);
    let mut stems: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".cast").map(str::to_owned))
        .map(|stem| {
            let size = |ext: &str| {
                std::fs::metadata(dir.join(format!("{stem}{ext}")))
                    .unwrap()
                    .len()
            };
            let total = size(".cast") + size(".frames.jsonl");
            (stem, total)
        })
        .collect();
    stems.sort();
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, stems.len() * 2, "a .cast without its frames or back");
    stems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_and_gc_follow_the_settings_which_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hub = common::TestHub::start(dir.path()).await;
    let c = hub.client();
    // Bad settings are refused with the reason.
    let (status, body) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"recording_max_bytes_per_file": 100})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("recording_max_bytes_per_file must be >= 65536"),
        "{body}"
    );
    let (status, set) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"recording_max_bytes_per_file": 65536, "recording_keep_files": 2})),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["recording_max_bytes_per_file"], 65536, "{set}");
    assert_eq!(set["recording_keep_files"], 2, "{set}");

    c.register("rot-tm", 1).await;
    c.post("/api/workers/rot-tm/recording", json!({"enabled": true}))
        .await;
    // ~640 KiB of output: about ten recordings' worth.
    for i in 0..40 {
        let mut chunk = Vec::new();
        while chunk.len() < 16 << 10 {
            chunk.extend_from_slice(format!("chunk {i} some recorded text\r\n").as_bytes());
        }
        assert_eq!(pty_out(&c, "rot-tm", chunk).await, 200);
    }
    hub.state.terminals.recorder.flush().await;
    let files = recordings_on_disk(dir.path(), "rot-tm");
    assert_eq!(files.len(), 2, "{files:?}");
    for (stem, size) in &files {
        // Rotation happens once a recording reaches the limit: it exceeds
        // it by at most one recorded piece (16 KiB of output, cast + text).
        assert!(*size < 65536 + (48 << 10), "{stem}: {size} bytes");
    }
    // The two kept are the newest: together they end with the last output.
    let mut output = String::new();
    for (stem, _) in &files {
        let cast =
            std::fs::read_to_string(dir.path().join(format!("recordings/rot-tm/{stem}.cast")))
                .unwrap();
        let mut lines = cast.lines();
        let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(header["version"], 2, "{header}");
        for l in lines {
            let ev: Value = serde_json::from_str(l).unwrap();
            output.push_str(ev[2].as_str().unwrap());
        }
    }
    assert!(
        output.ends_with("chunk 39 some recorded text\r\n"),
        "{:?}",
        &output[output.len().saturating_sub(200)..]
    );
    assert!(!output.contains("chunk 0 "), "the oldest were not removed");
    assert!(files[0].1 >= 65536, "{files:?}");
    let st = c.get("/api/workers/rot-tm/recording").await;
    assert_eq!(st["files"].as_array().unwrap().len(), 2, "{st}");
    assert_eq!(
        (st["max_bytes_per_file"].clone(), st["keep_files"].clone()),
        (json!(65536), json!(2))
    );
    hub.stop().await;

    // A new hub on the same data dir: same settings, still recording.
    let hub = common::TestHub::start(dir.path()).await;
    let c = hub.client();
    let got = c.get("/api/settings").await;
    assert_eq!(got, set);
    let st = c.get("/api/workers/rot-tm/recording").await;
    assert_eq!(st["enabled"], true, "{st}");
    assert_eq!(st["keep_files"], 2, "{st}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_terminal_works_over_wss_through_the_tls_hub() {
    use futures::{SinkExt, StreamExt};
    use tokio_rustls::rustls;
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("server.crt"), ck.cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("server.key"),
        ck.signing_key.serialize_pem(),
    )
    .unwrap();
    let (cert, key) = tubemail_hub::tls_files(dir.path()).unwrap();
    let mut options = Options::new(dir.path(), common::SECRET);
    // As the hub binary does when it serves TLS.
    options.pty.tls_only = true;
    let hub = tubemail_hub::Hub::open(options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stopped = shutdown.clone().cancelled_owned();
    let server = tokio::spawn(async move { hub.serve_tls(listener, &cert, &key, stopped).await });

    let root = reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap();
    let https = reqwest::Client::builder()
        .tls_certs_only([root])
        .build()
        .unwrap();
    let c = common::Client {
        base: format!("https://localhost:{port}"),
        secret: common::SECRET.into(),
        http: https,
    };
    c.wait_healthy(Duration::from_secs(20)).await;
    let t = ticket(&c, "wss-tm").await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ck.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let mut req = format!("wss://localhost:{port}/ws/pty/wss-tm?ticket={t}")
        .into_client_request()
        .unwrap();
    // Same origin over TLS is https://host:port.
    req.headers_mut().insert(
        "Origin",
        format!("https://localhost:{port}").parse().unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::client_async(req, tls).await.unwrap();
    assert_eq!(resp.status().as_u16(), 101);
    let mut text = Vec::new();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut posted = false;
    while !String::from_utf8_lossy(&out).contains("over-tls") {
        assert!(std::time::Instant::now() < deadline, "{text:?} {out:?}");
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                text.push(v);
            }
            Message::Binary(b) => out.extend_from_slice(&b),
            _ => {}
        }
        if !posted && text.len() >= 2 {
            // hello and the first snapshot are in: the worker's output
            // now reaches this viewer over wss.
            posted = true;
            let r = c
                .http
                .post(c.url("/tubemail/wss-tm/pty-out"))
                .bearer_auth(common::SECRET)
                .body("\r\nover-tls\r\n")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
    }
    assert_eq!(text[0]["kind"], "hello", "{text:?}");
    ws.send(Message::Close(None)).await.unwrap();
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
