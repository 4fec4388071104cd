//! Hostile clients against a real hub on a loopback port: foreign Host and
//! Origin on HTTP, SSE, MCP and the terminal WebSocket; ticket replay;
//! path traversal in every name-carrying parameter of the route table;
//! oversized bodies on every route that takes one; huge regexes; slowloris.
//! Every group ends by checking that the hub still answers `/health`.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Client, SECRET, TestHub};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tubemail_hub::Options;

/// A response read off a raw socket.
#[derive(Debug)]
struct Raw {
    status: u16,
    body: Value,
    text: String,
}

/// One HTTP/1.1 request written byte for byte (no client-side path
/// normalisation: `..` reaches the hub as sent).
async fn raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Raw {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    // The hub may answer (413) before it has read the whole body.
    let _ = s.write_all(body).await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut chunk = [0u8; 16384];
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    // A stream never ends: the head is enough.
                    if buf.windows(19).any(|w| w == b"text/event-stream\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "{method} {target}: no complete answer in 20 s"
    );
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {target}: not HTTP: {text:?}"));
    let payload = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    let chunked = text.split_once("\r\n\r\n").is_some_and(|(h, _)| {
        h.to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
    });
    let payload = if chunked { dechunk(&payload) } else { payload };
    Raw {
        status,
        body: serde_json::from_str(&payload).unwrap_or(Value::Null),
        text,
    }
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

fn bearer() -> String {
    format!("Bearer {SECRET}")
}

async fn assert_healthy(c: &Client, after: &str) {
    let r = tokio::time::timeout(Duration::from_secs(10), c.http.get(c.url("/health")).send())
        .await
        .unwrap_or_else(|_| panic!("/health did not answer within 10 s after {after}"))
        .unwrap();
    assert_eq!(r.status(), 200, "/health after {after}");
}

/// Method, target, headers, body.
type Attempt = (&'static str, String, Vec<(&'static str, String)>, Vec<u8>);

/// The HTTP status of a WebSocket upgrade (101 when accepted).
async fn upgrade(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (k, v) in headers {
        let name =
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        req.headers_mut().insert(name, v.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, resp)) => resp.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected: {e}"),
    }
}

async fn ticket(c: &Client, worker: &str) -> String {
    let v = c.post("/api/pty-ticket", json!({"worker": worker})).await;
    v["ticket"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_hosts_and_origins_are_refused_on_http_sse_mcp_and_websockets() {
    let (_d, hub, c) = common::hub().await;
    let a = hub.addr;
    c.register("w", 1).await;
    c.post("/tubemail/w/unregister", json!({})).await;
    let b = bearer();
    let mcp_init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    .to_string();
    let mcp_headers = |extra: (&'static str, String)| {
        vec![
            ("Authorization", b.clone()),
            ("Content-Type", "application/json".to_owned()),
            ("Accept", "application/json, text/event-stream".to_owned()),
            extra,
        ]
    };
    // Each foreign header on each kind of request: refused with 403 JSON
    // before anything happens, the right secret notwithstanding.
    for (name, value) in [
        ("Host", "evil.example:8004"),
        ("Host", "attacker.test"),
        ("Origin", "https://evil.example"),
        ("Origin", "null"),
        ("Origin", "http://localhost.evil.example:5173"),
    ] {
        let foreign = (name, value.to_owned());
        let requests: Vec<Attempt> = vec![
            (
                "GET",
                "/api/workers".into(),
                vec![("Authorization", b.clone()), foreign.clone()],
                vec![],
            ),
            (
                "POST",
                "/api/workers/w/send".into(),
                vec![
                    ("Authorization", b.clone()),
                    ("Content-Type", "application/json".into()),
                    foreign.clone(),
                ],
                br#"{"message":"x"}"#.to_vec(),
            ),
            (
                "GET",
                "/tubemail/w/stream".into(),
                vec![("Authorization", b.clone()), foreign.clone()],
                vec![],
            ),
            (
                "GET",
                format!("/api/events/stream?token={SECRET}"),
                vec![foreign.clone()],
                vec![],
            ),
            (
                "GET",
                "/api/dev-bootstrap".into(),
                vec![foreign.clone()],
                vec![],
            ),
            (
                "POST",
                "/mcp/".into(),
                mcp_headers(foreign.clone()),
                mcp_init.clone().into_bytes(),
            ),
        ];
        for (method, path, headers, body) in requests {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = raw(a, method, &path, &h, &body).await;
            assert_eq!(
                r.status, 403,
                "{name}: {value} on {method} {path}: {}",
                r.text
            );
            assert!(r.body["detail"].is_string(), "{method} {path}: {}", r.text);
            assert!(
                !r.text.contains(SECRET),
                "{method} {path} leaked the secret"
            );
        }
        // The terminal WebSocket: refused, and the ticket is not burned.
        let t = ticket(&c, "w").await;
        let path = format!("/ws/pty/w?ticket={t}");
        assert_eq!(
            upgrade(a, &path, &[(name, value)]).await,
            403,
            "{name}: {value} on /ws/pty"
        );
        assert_eq!(
            upgrade(a, &path, &[]).await,
            101,
            "ticket burned by a refused upgrade"
        );
    }
    // Nothing got through: no message stored, the worker never came online.
    assert_eq!(c.get("/api/workers/w/events").await["events"], json!([]));
    assert_eq!(c.get("/api/workers/w").await["online"], false);
    // Our own origins still pass on every kind.
    let same = format!("http://{a}");
    let r = raw(
        a,
        "GET",
        "/api/workers",
        &[("Authorization", &b), ("Origin", &same)],
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = raw(
        a,
        "GET",
        "/tubemail/w/stream",
        &[("Authorization", &b), ("Origin", "http://localhost:5173")],
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_healthy(&c, "foreign hosts and origins").await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_raced_by_many_upgrades_opens_one_socket() {
    let (_d, hub, c) = common::hub().await;
    for round in 0..5 {
        let t = ticket(&c, "race-tm").await;
        let path = format!("/ws/pty/race-tm?ticket={t}");
        let tries: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                let a = hub.addr;
                tokio::spawn(async move { upgrade(a, &path, &[]).await })
            })
            .collect();
        let mut statuses = Vec::new();
        for t in tries {
            statuses.push(t.await.unwrap());
        }
        statuses.sort_unstable();
        let mut want = vec![101];
        want.extend([403; 7]);
        assert_eq!(statuses, want, "round {round}");
    }
    // Expired tickets are refused too (aged, not slept).
    let t = ticket(&c, "race-tm").await;
    hub.state.terminals.tickets.age_all(Duration::from_secs(31));
    assert_eq!(
        upgrade(hub.addr, &format!("/ws/pty/race-tm?ticket={t}"), &[]).await,
        403
    );
    assert_healthy(&c, "ticket races").await;
    hub.stop().await;
}

/// Values a name-carrying path segment must never accept.
fn hostile_segments() -> Vec<(String, &'static str)> {
    vec![
        ("..".into(), "dot-dot"),
        ("%2e%2e".into(), "encoded dot-dot"),
        ("%2E%2E%2F%2E%2E%2Fetc%2Fpasswd".into(), "encoded traversal"),
        ("..%2F..%2Fetc".into(), "mixed traversal"),
        ("..%5C..%5Cetc".into(), "backslash traversal"),
        ("a%2Fb".into(), "encoded slash"),
        ("a%00b".into(), "NUL"),
        ("%00".into(), "only NUL"),
        ("a%0D%0AX-Injected:%201".into(), "CRLF"),
        ("%C0%AE%C0%AE".into(), "overlong UTF-8 dot-dot"),
        ("a".repeat(300), "overlong"),
        ("x".repeat(8000), "very long"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_in_every_name_parameter_is_refused() {
    let (dir, hub, c) = common::hub().await;
    c.register("w", 1).await;
    c.send("w", "before").await;
    let roster_before = c.get("/api/workers").await["workers"]
        .as_array()
        .unwrap()
        .len();
    let files_before = tree(dir.path());
    let doc = c.get("/api/openapi.json").await;
    let b = bearer();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains('{') {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            for (bad, what) in hostile_segments() {
                // Each parameter in turn; the others get valid values.
                for param in ["{worker}", "{name}", "{run_id}"] {
                    if !path.contains(param) {
                        continue;
                    }
                    let target = path
                        .replace(param, &bad)
                        .replace("{worker}", "w")
                        .replace("{name}", "f")
                        .replace("{run_id}", &"r".repeat(22));
                    let r = raw(
                        hub.addr,
                        &method,
                        &target,
                        &[("Authorization", &b), ("Content-Type", "application/json")],
                        b"{}",
                    )
                    .await;
                    // Refused, or the original's soft error (200 with
                    // `ok: false`) where it has one.
                    let soft = r.status == 200 && r.body["ok"] == false;
                    assert!(
                        soft || [400, 403, 404, 414, 431].contains(&r.status),
                        "{method} {path} with {what} in {param}: {}",
                        r.text
                    );
                    if !soft && r.status < 414 {
                        assert!(
                            r.body["detail"].is_string(),
                            "{method} {path} with {what}: not a JSON error: {}",
                            r.text
                        );
                    }
                    let head = r.text.split("\r\n\r\n").next().unwrap_or("");
                    assert!(!head.contains("X-Injected"), "header injection: {}", r.text);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 300, "only {checked} requests");
    // Names in bodies and queries go through the same rule.
    for (bad, what) in [
        ("../x", "traversal"),
        ("a/b", "slash"),
        ("a\u{0}b", "NUL"),
        ("..", "dot-dot"),
    ] {
        let bad = bad.to_owned();
        let long = "a".repeat(300);
        for (method, path, body) in [
            ("POST", "/api/pty-ticket".to_owned(), json!({"worker": bad})),
            (
                "POST",
                "/api/flows".to_owned(),
                json!({"name": bad, "message": "x"}),
            ),
            (
                "POST",
                "/api/flows".to_owned(),
                json!({"name": long, "message": "x"}),
            ),
            (
                "POST",
                "/api/permissions/resolve".to_owned(),
                json!({"worker": bad, "request_id": "x", "behavior": "allow"}),
            ),
        ] {
            let (status, v) = c.call(method, &path, Some(body.clone())).await;
            let refused = (status == 400 || status == 422) || (status == 200 && v["ok"] == false);
            assert!(refused, "{method} {path} {what}: {status} {v}");
        }
        let q = format!("/api/permissions?worker={}", urlencode(&bad));
        let (status, v) = c.call("GET", &q, None).await;
        assert_eq!(status, 400, "{q}: {v}");
    }
    // Nothing was created anywhere: no worker, no flow, no file.
    assert_eq!(
        c.get("/api/workers").await["workers"]
            .as_array()
            .unwrap()
            .len(),
        roster_before
    );
    assert_eq!(c.get("/api/flows").await["flows"], json!([]));
    let after = tree(dir.path());
    let new: Vec<&String> = after.iter().filter(|p| !files_before.contains(p)).collect();
    assert!(
        new.iter()
            .all(|p| p.ends_with("-wal") || p.ends_with("-shm")),
        "files appeared: {new:?}"
    );
    assert_healthy(&c, "path traversal").await;
    hub.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Every file under `root`, relative.
fn tree(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(root).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_directory_cannot_be_escaped() {
    let root = tempfile::tempdir().unwrap();
    let ui = root.path().join("ui");
    std::fs::create_dir_all(ui.join("assets")).unwrap();
    std::fs::write(ui.join("index.html"), "<html>ui</html>").unwrap();
    std::fs::write(ui.join("assets/app.js"), "js").unwrap();
    std::fs::write(root.path().join("private.txt"), "TOP-SECRET").unwrap();
    let mut options = Options::new(root.path().join("data"), SECRET);
    options.ui_dir = Some(ui);
    let hub = TestHub::start_with(options).await;
    let c = hub.client();
    for target in [
        "/../private.txt",
        "/assets/../../private.txt",
        "/%2e%2e/private.txt",
        "/..%2fprivate.txt",
        "/assets/%2e%2e%2f%2e%2e%2fprivate.txt",
        "/..%5cprivate.txt",
        "/%c0%ae%c0%ae/private.txt",
        "/assets/..%00/private.txt",
    ] {
        let r = raw(hub.addr, "GET", target, &[], &[]).await;
        assert!(
            !r.text.contains("TOP-SECRET"),
            "{target} escaped: {}",
            r.text
        );
        assert!(
            r.status == 200 || r.status == 400 || r.status == 404,
            "{target}: {}",
            r.text
        );
    }
    let r = raw(hub.addr, "GET", "/assets/app.js", &[], &[]).await;
    assert_eq!(r.status, 200);
    assert_healthy(&c, "UI traversal").await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_with_413_json_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path(), SECRET);
    options.max_body_bytes = 64 * 1024;
    let hub = TestHub::start_with(options).await;
    let c = hub.client();
    c.register("w", 1).await;
    // Recording on, so pty-out has a consumer and must read its body.
    c.post("/api/workers/w/recording", json!({"enabled": true}))
        .await;
    let doc = c.get("/api/openapi.json").await;
    let big = format!(r#"{{"message":"{}"}}"#, "x".repeat(256 * 1024)).into_bytes();
    let b = bearer();
    let mut checked = 0;
    let mut targets: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method == "post" || method == "put" {
                targets.push((
                    method.to_uppercase(),
                    path.replace("{worker}", "w")
                        .replace("{name}", "f")
                        .replace("{run_id}", &"r".repeat(22)),
                ));
            }
        }
    }
    targets.push(("POST".into(), "/mcp/".into()));
    for (method, target) in targets {
        let r = raw(
            hub.addr,
            &method,
            &target,
            &[
                ("Authorization", &b),
                ("Content-Type", "application/json"),
                ("Accept", "application/json, text/event-stream"),
            ],
            &big,
        )
        .await;
        assert_eq!(r.status, 413, "{method} {target}: {}", r.text);
        assert!(
            r.body["detail"].is_string() || r.body["error"].is_object(),
            "{method} {target}: 413 without a JSON error: {}",
            r.text
        );
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} routes take a body");
    // Nothing stored; the hub answers.
    assert_eq!(c.get("/api/workers/w/events").await["events"], json!([]));
    assert_healthy(&c, "oversized bodies").await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_pathological_regexes_are_refused_with_400() {
    let (_d, hub, c) = common::hub().await;
    c.register("rx-tm", 1).await;
    c.post("/api/workers/rx-tm/recording", json!({"enabled": true}))
        .await;
    let cases = [
        ("a".repeat(5000), "longer than the limit"),
        ("(a{1000}){1000}".to_owned(), "compiles too big"),
        ("\\p{L}{1000}{1000}".to_owned(), "unicode classes repeated"),
        ("(?<x".to_owned(), "malformed"),
    ];
    for (pattern, what) in cases {
        let started = Instant::now();
        let (status, body) = c
            .call(
                "GET",
                &format!(
                    "/api/workers/rx-tm/recording/frames?grep={}",
                    urlencode(&pattern)
                ),
                None,
            )
            .await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("invalid regex"),
            "{what}: {body}"
        );
        eprintln!("{what}: refused in {:?}", started.elapsed());
    }
    // Backtracking bombs are harmless to a linear-time engine: answered,
    // and promptly (the bound is generous for a loaded machine).
    for pattern in [
        "((((((((((a*)*)*)*)*)*)*)*)*)*){50}$",
        "(a|a)*(a|a)*(a|a)*b",
        "(x+x+)+y",
    ] {
        let started = Instant::now();
        let (status, body) = c
            .call(
                "GET",
                &format!(
                    "/api/workers/rx-tm/recording/frames?grep={}",
                    urlencode(pattern)
                ),
                None,
            )
            .await;
        assert!(status == 200 || status == 400, "{pattern}: {status} {body}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{pattern} took {:?}",
            started.elapsed()
        );
    }
    // A fine regex still works.
    let (status, _) = c
        .call(
            "GET",
            "/api/workers/rx-tm/recording/frames?grep=a%2Bb",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_healthy(&c, "regexes").await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_hold_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path(), SECRET);
    options.read_timeout = Duration::from_secs(2);
    let hub = TestHub::start_with(options).await;
    let c = hub.client();
    let addr = hub.addr;
    // 100 clients trickle a header line every 300 ms (never finishing the
    // head); 50 connect and say nothing; 20 send a head and then nothing of
    // the body they announced.
    let mut tricklers = Vec::new();
    for i in 0..170 {
        tricklers.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let opened = Instant::now();
            if i < 100 {
                s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
            } else if i >= 150 {
                s.write_all(
                    format!("POST /api/workers/w/send HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {SECRET}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"mess").as_bytes(),
                )
                .await
                .unwrap();
            }
            // Until the hub closes the socket (read 0 / reset / write error).
            let mut buf = [0u8; 1024];
            loop {
                if opened.elapsed() > Duration::from_secs(60) {
                    return None;
                }
                if i < 100 && s.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    return Some(opened.elapsed());
                }
                // A 408/400 answer before the close is fine; the close counts.
                if let Ok(Ok(0) | Err(_)) =
                    tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await
                {
                    return Some(opened.elapsed());
                }
            }
        }));
    }
    // While they hang on, everyone else is served promptly.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..5 {
        assert_healthy(&c, "slow clients connected").await;
        c.register("w", 1).await;
    }
    let mut held = Vec::new();
    for (i, t) in tricklers.into_iter().enumerate() {
        match t.await.unwrap() {
            Some(d) => held.push(d),
            None => panic!("slow client {i} was still connected after 60 s"),
        }
    }
    held.sort();
    eprintln!(
        "slow clients closed after {:?} (fastest) .. {:?} (slowest)",
        held[0],
        held[held.len() - 1]
    );
    assert_healthy(&c, "slow clients").await;
    hub.stop().await;
}
