//! Webhooks end to end: a real hub on loopback, a real receiver on
//! loopback. Signatures verify, chat presets have their shapes, a receiver
//! that was down gets each notification once it is back, the outbox
//! survives kill -9, approval links work once, for their prompt only, and
//! expire, and webhook URLs and secrets never reach the log.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::{Client, HubProcess, SECRET, TestHub, free_port, hub_bin, stderr_lines};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tubemail_hub::Options;

/// What a receiver got: headers and body of each POST.
type Got = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver on `addr` answering 204 to every POST.
async fn receiver(addr: SocketAddr) -> (Got, tokio::task::JoinHandle<()>) {
    let got: Got = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let keep = keep.clone();
        async move {
            keep.lock().unwrap().push((headers, body));
            StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (got, task)
}

async fn wait_for(got: &Got, n: usize, within: Duration) -> Vec<(HeaderMap, Bytes)> {
    let deadline = Instant::now() + within;
    loop {
        let now = got.lock().unwrap().clone();
        if now.len() >= n {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "receiver got {} of {n} notifications",
            now.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// HMAC-SHA256, written again from RFC 2104 as a receiver would: the
/// test does not trust the hub's own.
fn hmac(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::digest([ipad.as_slice(), msg].concat());
    let outer = Sha256::digest([opad.as_slice(), inner.as_slice()].concat());
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `X-TubeMail-Signature: t=..,v1=..` of one POST.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) {
    let sig = headers["x-tubemail-signature"].to_str().unwrap();
    let (t, v1) = sig.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let age = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .abs_diff(t.parse().unwrap());
    assert!(age < 60, "signature timestamp {age} s off");
    let msg = [t.as_bytes(), b".", body].concat();
    assert_eq!(
        v1,
        hmac(secret.as_bytes(), &msg),
        "signature does not verify"
    );
}

fn quick_options(dir: &std::path::Path) -> Options {
    let mut o = Options::new(dir, SECRET);
    o.webhooks.poll = Duration::from_millis(20);
    o.webhooks.max_backoff = Duration::from_millis(300);
    o
}

async fn add_hook(c: &Client, body: Value) -> String {
    c.post("/api/webhooks", body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn json_of(b: &Bytes) -> Value {
    serde_json::from_slice(b).unwrap()
}

#[tokio::test]
async fn signed_posts_verify_and_presets_have_their_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start_with(quick_options(dir.path())).await;
    let c = hub.client();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (got, _task) = receiver(addr).await;
    let url = |p: &str| format!("http://{addr}/{p}/T000/B000/XXXX");
    let id = add_hook(
        &c,
        json!({"url": url("json"), "events": ["reply"], "secret": "sh-sign", "worker_glob": "w*"}),
    )
    .await;
    add_hook(
        &c,
        json!({"url": url("slack"), "events": ["reply"], "format": "slack"}),
    )
    .await;
    add_hook(
        &c,
        json!({"url": url("discord"), "events": ["reply"], "format": "discord"}),
    )
    .await;

    // Listed without the path (it may be a secret) and without the secret.
    let list = c.get("/api/webhooks").await;
    let listed = list.to_string();
    assert!(
        !listed.contains("XXXX") && !listed.contains("sh-sign"),
        "{listed}"
    );
    assert_eq!(list["webhooks"][0]["url"], format!("http://{addr}/…"));
    assert_eq!(list["webhooks"][0]["has_secret"], true);

    c.register("w1", 1).await;
    c.post("/tubemail/w1/outbound", json!({"text": "all done"}))
        .await;
    // Filtered out by the glob of the first webhook only.
    let seen = wait_for(&got, 3, Duration::from_secs(10)).await;
    let by_format = |prefix: &str| {
        seen.iter()
            .find(|(h, b)| {
                let j = json_of(b);
                match prefix {
                    "json" => j.get("event").is_some(),
                    "slack" => j.get("text").is_some(),
                    _ => j.get("content").is_some(),
                }
                .then_some(())
                .is_some()
                    && h.contains_key("x-tubemail-event-id")
            })
            .cloned()
            .unwrap()
    };
    let (h, b) = by_format("json");
    verify("sh-sign", &h, &b);
    assert_eq!(h["x-tubemail-event"], "reply");
    let j = json_of(&b);
    assert_eq!(j["worker"], "w1");
    assert_eq!(j["data"]["content"], "all done");
    assert_eq!(
        j["id"].to_string(),
        h["x-tubemail-event-id"].to_str().unwrap()
    );
    let (h, b) = by_format("slack");
    assert!(
        !h.contains_key("x-tubemail-signature"),
        "no secret, no signature"
    );
    assert_eq!(json_of(&b)["text"], "TubeMail: w1 replied: all done");
    assert_eq!(
        json_of(&by_format("discord").1)["content"],
        "TubeMail: w1 replied: all done"
    );

    // Another worker outside the glob reaches only the two others.
    c.register("x1", 2).await;
    c.post("/tubemail/x1/outbound", json!({"text": "hi"})).await;
    wait_for(&got, 5, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(got.lock().unwrap().len(), 5);

    let d = c.get(&format!("/api/webhooks/{id}/deliveries")).await;
    assert_eq!(d["deliveries"][0]["status"], "delivered");
    assert_eq!(d["deliveries"][0]["attempts"], 1);
    assert_eq!(d["deliveries"][0]["last_status"], 204);

    // A test send, and bad input answered 400 with a JSON body.
    c.post(&format!("/api/webhooks/{id}/test"), json!({})).await;
    let seen = wait_for(&got, 6, Duration::from_secs(10)).await;
    assert_eq!(seen[5].0["x-tubemail-event"], "test");
    let (s, v) = c
        .call(
            "POST",
            "/api/webhooks",
            Some(json!({"url": "ftp://h/x", "events": ["reply"]})),
        )
        .await;
    assert_eq!(s, 400);
    assert!(v["detail"].as_str().unwrap().contains("http"));
    let (s, _) = c
        .call(
            "POST",
            "/api/webhooks",
            Some(json!({"url": "http://h/x", "events": []})),
        )
        .await;
    assert_eq!(s, 400);
    // Only the shared secret manages webhooks.
    let (_, token) = common::issue(&c, json!({"kind": "operator"})).await;
    let (s, _) = common::as_token(&c, &token)
        .call("GET", "/api/webhooks", None)
        .await;
    assert_eq!(s, 403);
    hub.stop().await;
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_each_notification_once() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start_with(quick_options(dir.path())).await;
    let c = hub.client();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let id = add_hook(
        &c,
        json!({"url": format!("http://{addr}/h"), "events": ["reply", "worker_exited"]}),
    )
    .await;
    c.register("w", 1).await;
    for i in 0..5 {
        c.post("/tubemail/w/outbound", json!({"text": format!("r{i}")}))
            .await;
    }
    c.post("/tubemail/w/goodbye", json!({})).await;
    // Nobody listens: attempts fail and are recorded.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = c.get(&format!("/api/webhooks/{id}/deliveries")).await;
        let rows = d["deliveries"].as_array().unwrap().clone();
        if rows.len() == 6 && rows.iter().all(|r| r["attempts"].as_u64() >= Some(2)) {
            assert!(rows.iter().all(|r| r["status"] == "pending"));
            assert_eq!(rows[0]["last_error"], "could not connect");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed attempts recorded: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (got, _task) = receiver(addr).await;
    wait_for(&got, 6, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let seen = got.lock().unwrap().clone();
    let mut ids: Vec<&str> = seen
        .iter()
        .map(|(h, _)| h["x-tubemail-event-id"].to_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((seen.len(), ids.len()), (6, 6), "each event exactly once");
    assert!(
        seen.iter()
            .any(|(h, _)| h["x-tubemail-event"] == "worker_exited")
    );
    hub.stop().await;
}

/// Approval URL and the prompt's request id of a `permission_waiting` body.
fn link_of(body: &Bytes) -> (String, String) {
    let j = json_of(body);
    (
        j["approval"]["url"].as_str().unwrap().to_owned(),
        j["data"]["request_id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn approval_links_work_once_for_their_prompt_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = quick_options(dir.path());
    o.webhooks.link_ttl = Duration::from_secs(3);
    let hub = TestHub::start_with(o).await;
    let c = hub.client();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (got, _task) = receiver(addr).await;
    add_hook(
        &c,
        json!({"url": format!("http://{addr}/h"), "events": ["permission_waiting", "rule_decision"], "waiting_secs": 0}),
    )
    .await;
    c.register("w", 1).await;
    for id in ["A", "B"] {
        c.post(
            "/tubemail/w/permission-request",
            json!({"request_id": id, "tool_name": "Bash", "description": "rm <b>x</b>"}),
        )
        .await;
    }
    let seen = wait_for(&got, 2, Duration::from_secs(10)).await;
    let links: Vec<(String, String)> = seen.iter().map(|(_, b)| link_of(b)).collect();
    let link = |id: &str| links.iter().find(|(_, r)| r == id).unwrap().0.clone();
    let (a, b) = (link("A"), link("B"));
    assert!(a.starts_with(&format!("{}/approve/", c.base)), "{a}");

    // Without the bearer; GET changes nothing (chat apps prefetch).
    let plain = reqwest::Client::new();
    for _ in 0..2 {
        let page = plain.get(&a).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("Allow") && html.contains("rm &lt;b&gt;x&lt;/b&gt;"),
            "{html}"
        );
    }
    let post = |url: String, decision: &'static str| {
        let plain = plain.clone();
        async move {
            plain
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("decision={decision}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post(a.clone(), "allow").await, 200);
    let events = c.events("w").await;
    let answer = events
        .iter()
        .rfind(|e| e["kind"] == "permission_response")
        .unwrap();
    assert_eq!(answer["meta"]["request_id"], "A");
    assert_eq!(answer["meta"]["decided_by"], "link");
    assert_eq!(answer["content"], "allow");
    // Only A was answered; its link is spent.
    let pending = c.get("/api/permissions?include_offline=true").await;
    let ids: Vec<&str> = pending["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["B"]);
    assert_eq!(post(a.clone(), "deny").await, 410);
    assert_eq!(plain.get(&a).send().await.unwrap().status(), 410);
    // Unknown tokens, bad decisions.
    let unknown = format!("{}/approve/{}", c.base, "0".repeat(64));
    assert_eq!(post(unknown, "allow").await, 404);
    assert_eq!(post(b.clone(), "maybe").await, 400);
    // A link answered by hand-made (link) decisions is not a rule decision:
    // no rule_decision notification followed.
    assert_eq!(got.lock().unwrap().len(), 2);
    // B's link expires.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(plain.get(&b).send().await.unwrap().status(), 410);
    assert_eq!(post(b, "allow").await, 410);
    let pending = c.get("/api/permissions?include_offline=true").await;
    assert_eq!(pending["pending"].as_array().unwrap().len(), 1);
    hub.stop().await;
}

/// The hub binary with debug logs on a pipe (every line is collected).
fn spawn_logged(
    dir: &std::path::Path,
    port: u16,
) -> (HubProcess, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(hub_bin())
        .args(["--bind", &format!("127.0.0.1:{port}"), "--log", "debug"])
        .arg("--data-dir")
        .arg(dir)
        .env("TUBEMAIL_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stderr_lines(child.stderr.take().unwrap());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    (HubProcess { child, addr }, lines)
}

#[tokio::test]
async fn the_outbox_survives_kill_9_and_urls_and_secrets_stay_out_of_logs() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut hub, lines) = spawn_logged(dir.path(), port);
    let c = hub.client();
    c.wait_healthy(Duration::from_secs(20)).await;
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let url = format!("http://{addr}/services/T0/B0/PathSecret123");
    let id = add_hook(
        &c,
        json!({"url": url, "events": ["reply"], "secret": "SigningSecret456"}),
    )
    .await;
    c.register("w", 1).await;
    c.post("/tubemail/w/outbound", json!({"text": "before the crash"}))
        .await;
    // Acknowledged, enqueued, not deliverable (nobody listens): kill -9.
    hub.kill9();

    let (hub2, lines2) = spawn_logged(dir.path(), port);
    let c = hub2.client();
    c.wait_healthy(Duration::from_secs(20)).await;
    let (got, _task) = receiver(addr).await;
    let seen = wait_for(&got, 1, Duration::from_secs(20)).await;
    verify("SigningSecret456", &seen[0].0, &seen[0].1);
    assert_eq!(json_of(&seen[0].1)["data"]["content"], "before the crash");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(got.lock().unwrap().len(), 1, "delivered exactly once");
    let d = c.get(&format!("/api/webhooks/{id}/deliveries")).await;
    assert_eq!(d["deliveries"][0]["status"], "delivered");

    // An approval link used against the logged hub: its token never
    // reaches the log (request spans show /approve/…).
    add_hook(
        &c,
        json!({"url": format!("http://{addr}/approvals"), "events": ["permission_waiting"], "waiting_secs": 0}),
    )
    .await;
    c.post(
        "/tubemail/w/permission-request",
        json!({"request_id": "P", "tool_name": "Bash"}),
    )
    .await;
    let seen = wait_for(&got, 2, Duration::from_secs(20)).await;
    let (link, _) = link_of(&seen[1].1);
    let token = link.rsplit('/').next().unwrap().to_owned();
    let plain = reqwest::Client::new();
    assert_eq!(plain.get(&link).send().await.unwrap().status(), 200);
    let answered = plain
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("decision=deny")
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(hub2);

    let log: Vec<String> = lines.try_iter().chain(lines2.try_iter()).collect();
    assert!(log.len() > 5, "debug logs were captured: {log:?}");
    assert!(
        log.iter().any(|l| l.contains(&addr.to_string())),
        "the host is logged"
    );
    for l in &log {
        assert!(
            !l.contains("PathSecret123") && !l.contains("SigningSecret456") && !l.contains(&token),
            "a secret reached the log: {l}"
        );
    }
}

/// One `tools/call` in session `sid` as `bearer`; the answer's text.
async fn call_tool(c: &Client, bearer: &str, sid: &str, name: &str, args: Value) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": name, "arguments": args}});
    c.http
        .post(c.url("/mcp/"))
        .bearer_auth(bearer)
        .header("Accept", "application/json, text/event-stream")
        .header("Mcp-Session-Id", sid)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn webhook_tools_over_mcp_are_for_the_shared_secret_only() {
    let (_dir, hub, c) = common::hub().await;
    let sid = common::mcp_open(&c, SECRET).await;
    let added = call_tool(
        &c,
        SECRET,
        &sid,
        "tm_webhooks_add",
        json!({"url": "https://hooks.example.com/T/B/McpPathSecret", "events": ["reply"], "format": "slack"}),
    )
    .await;
    assert!(added.contains("https://hooks.example.com/…"), "{added}");
    assert!(!added.contains("McpPathSecret"), "{added}");
    let listed = call_tool(&c, SECRET, &sid, "tm_webhooks_list", json!({})).await;
    assert!(
        listed.contains("wh_") && !listed.contains("McpPathSecret"),
        "{listed}"
    );
    let bad = call_tool(
        &c,
        SECRET,
        &sid,
        "tm_webhooks_add",
        json!({"url": "not a url", "events": ["reply"]}),
    )
    .await;
    assert!(
        bad.contains("url is not a valid URL") && bad.contains("\"isError\":true"),
        "{bad}"
    );

    let (_, token) = common::issue(&c, json!({"kind": "operator"})).await;
    let sid = common::mcp_open(&c, &token).await;
    let refused = call_tool(&c, &token, &sid, "tm_webhooks_list", json!({})).await;
    assert!(refused.contains("only the shared secret"), "{refused}");
    hub.stop().await;
}
