//! Scoped credentials (worker and read-only operator tokens): issue, list,
//! revoke, the auth matrix per token kind generated from the router's own
//! route table, restarts, and the rate limits.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::{Duration, Instant};

use common::{Client, SECRET, TestHub, as_token, hub, issue};
use serde_json::{Value, json};
use tubemail_hub::Options;
use tubemail_hub::ratelimit::Rate;

/// Status of `method path` with `auth` as bearer (0 when nothing came back
/// within a second: a wait or a stream that was let in).
async fn status(c: &Client, method: &str, path: &str, auth: &str) -> u16 {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let req = c
        .http
        .request(m, c.url(path))
        .bearer_auth(auth)
        .json(&json!({}));
    match tokio::time::timeout(Duration::from_secs(1), req.send()).await {
        Ok(r) => r.unwrap().status().as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test]
async fn issue_list_revoke_and_bad_input() {
    let (_d, hub, c) = hub().await;
    let (wid, wtok) = issue(
        &c,
        json!({"kind": "worker", "worker": "my w", "label": "laptop"}),
    )
    .await;
    let (oid, otok) = issue(&c, json!({"kind": "operator-ro"})).await;
    assert!(
        wtok.starts_with("tmt_") && wtok.len() >= 4 + 16 + 1 + 43,
        "{wtok}"
    );
    assert_ne!(wtok, otok);
    let list = c.get("/api/tokens").await;
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0]["id"], wid.as_str());
    assert_eq!(tokens[0]["kind"], "worker");
    assert_eq!(tokens[0]["worker"], "my w");
    assert_eq!(tokens[0]["label"], "laptop");
    assert_eq!(tokens[0]["revoked"], false);
    assert_eq!(tokens[0]["last_used_at"], Value::Null);
    assert_eq!(tokens[1]["kind"], "operator-ro");
    // No secret, not even its hash, is ever listed.
    let text = list.to_string();
    assert!(!text.contains(&wtok[4..]) && !text.contains("hash") && !text.contains("token\""));

    // whoami for each credential.
    let w = as_token(&c, &wtok);
    let o = as_token(&c, &otok);
    assert_eq!(
        w.get("/api/whoami").await,
        json!({"kind": "worker", "id": wid, "worker": "my w"})
    );
    assert_eq!(
        o.get("/api/whoami").await,
        json!({"kind": "operator-ro", "id": oid, "worker": null})
    );
    assert_eq!(c.get("/api/whoami").await["kind"], "secret");
    let listed = c.get("/api/tokens").await;
    assert!(listed["tokens"][0]["last_used_at"].as_f64().unwrap() > 0.0);

    // Only the shared secret manages tokens.
    for t in [&w, &o] {
        let (s, v) = t
            .call("POST", "/api/tokens", Some(json!({"kind": "operator-ro"})))
            .await;
        assert_eq!(s, 403, "{v}");
        assert!(v["detail"].is_string(), "{v}");
        assert_eq!(t.call("GET", "/api/tokens", None).await.0, 403);
        assert_eq!(
            t.call("DELETE", &format!("/api/tokens/{wid}"), None)
                .await
                .0,
            403
        );
    }

    // Bad input: clear errors, nothing issued.
    for (body, want) in [
        (json!({}), 422),
        (json!({"kind": "admin"}), 422),
        (json!({"kind": "worker"}), 400),
        (json!({"kind": "worker", "worker": "../x"}), 400),
        (json!({"kind": "worker", "worker": "my w-manager"}), 400),
        (json!({"kind": "operator-ro", "worker": "w"}), 400),
        (json!({"kind": "operator", "worker": "w"}), 400),
        (
            json!({"kind": "operator-ro", "label": "x".repeat(201)}),
            400,
        ),
        (json!({"kind": "operator-ro", "extra": 1}), 422),
    ] {
        let (s, v) = c.call("POST", "/api/tokens", Some(body.clone())).await;
        assert_eq!(s, want, "{body} -> {v}");
        assert!(v["detail"].is_string() || v["detail"].is_array(), "{v}");
    }
    assert_eq!(
        c.get("/api/tokens").await["tokens"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Revocation takes effect on the next request.
    assert_eq!(w.call("GET", "/api/whoami", None).await.0, 200);
    let r = c.call("DELETE", &format!("/api/tokens/{wid}"), None).await;
    assert_eq!(r, (200, json!({"ok": true, "revoked": true})));
    let (s, v) = w.call("GET", "/api/whoami", None).await;
    assert_eq!((s, v), (401, json!({"detail": "invalid bearer token"})));
    assert_eq!(
        w.call("POST", "/tubemail/my%20w/register", Some(json!({})))
            .await
            .0,
        401
    );
    let r = c.call("DELETE", &format!("/api/tokens/{wid}"), None).await;
    assert_eq!(r, (200, json!({"ok": true, "revoked": false})));
    let (s, v) = c.call("DELETE", "/api/tokens/nope", None).await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(c.get("/api/tokens").await["tokens"][0]["revoked"], true);
    // A forged token with a real id, or a mangled one, is refused.
    let forged = format!("tmt_{oid}_{}", "A".repeat(43));
    assert_eq!(
        as_token(&c, &forged)
            .call("GET", "/api/workers", None)
            .await
            .0,
        401
    );
    let mangled = format!("{}x", otok);
    assert_eq!(
        as_token(&c, &mangled)
            .call("GET", "/api/workers", None)
            .await
            .0,
        401
    );
    assert_eq!(o.call("GET", "/api/workers", None).await.0, 200);
    hub.stop().await;
}

/// Whether `kind` may call `method path` (paths with `{worker}` = "w").
/// Routes only the shared secret may use: credentials, and webhooks (a
/// webhook sends the fleet's traffic to any URL).
fn secret_only(path: &str) -> bool {
    path.starts_with("/api/tokens") || path.starts_with("/api/webhooks")
}

fn expected_allowed(kind: &str, method: &str, path: &str) -> bool {
    let read = method == "GET";
    match kind {
        "worker-w" => {
            path.starts_with("/tubemail/w/")
                || path.starts_with("/tubemail/w-manager/")
                || (read && path == "/api/whoami")
        }
        "worker-other" => read && path == "/api/whoami",
        "operator-ro" => {
            (read
                && ((path.starts_with("/api/") && !secret_only(path)) || path == "/metrics"))
                // A ticket to read the event stream, as the token may.
                || (method == "POST" && path == "/api/stream-ticket")
        }
        "operator" => {
            (path.starts_with("/api/") && !secret_only(path))
                || path.starts_with("/mcp")
                || (read && path == "/metrics")
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_matrix_per_token_kind_from_the_route_table() {
    let (_d, hub, c) = hub().await;
    c.register("w", 1).await;
    c.register("other", 2).await;
    let (_, w_tok) = issue(&c, json!({"kind": "worker", "worker": "w"})).await;
    let (_, other_tok) = issue(&c, json!({"kind": "worker", "worker": "other"})).await;
    let (_, op_tok) = issue(&c, json!({"kind": "operator-ro"})).await;
    let (_, orch_tok) = issue(&c, json!({"kind": "operator"})).await;
    let (revoked_id, revoked_tok) = issue(&c, json!({"kind": "operator-ro"})).await;
    c.call("DELETE", &format!("/api/tokens/{revoked_id}"), None)
        .await;
    let doc = c.get("/api/openapi.json").await;
    let mut cases: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["security"] == json!([]) {
                continue;
            }
            let p = path
                .replace("{worker}", "w")
                .replace("{name}", "f")
                .replace("{id}", "0123456789abcdef")
                .replace("{run_id}", "r".repeat(22).as_str());
            cases.push((method.to_uppercase(), p));
        }
    }
    // Outside the table: MCP and the manager's identity.
    cases.push(("POST".into(), "/mcp/".into()));
    cases.push(("GET".into(), "/api/openapi.json".into()));
    cases.push(("POST".into(), "/tubemail/w-manager/active".into()));
    assert!(cases.len() >= 45, "only {} routes", cases.len());
    let mut allowed_counts = std::collections::HashMap::new();
    for (method, path) in &cases {
        for (kind, tok) in [
            ("worker-w", &w_tok),
            ("worker-other", &other_tok),
            ("operator-ro", &op_tok),
            ("operator", &orch_tok),
            ("revoked", &revoked_tok),
        ] {
            let s = status(&c, method, path, tok).await;
            if kind == "revoked" {
                assert_eq!(s, 401, "{kind}: {method} {path}");
            } else if expected_allowed(kind, method, path) {
                assert!(s != 401 && s != 403, "{kind}: {method} {path} gave {s}");
                *allowed_counts.entry(kind).or_insert(0) += 1;
            } else {
                assert_eq!(s, 403, "{kind}: {method} {path}");
            }
        }
    }
    // The matrix really let each kind through somewhere.
    assert!(allowed_counts["worker-w"] >= 12, "{allowed_counts:?}");
    assert!(allowed_counts["operator-ro"] >= 15, "{allowed_counts:?}");
    assert!(
        allowed_counts["operator"] > allowed_counts["operator-ro"],
        "{allowed_counts:?}"
    );
    // A refusal is JSON saying why, with 403 (not 401).
    let r = c
        .http
        .post(c.url("/api/workers/w/send"))
        .bearer_auth(&w_tok)
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["detail"].as_str().unwrap().contains("only act as worker"),
        "{v}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_token_acts_as_its_worker_and_never_as_another() {
    let (_d, hub, c) = hub().await;
    c.register("other", 2).await;
    c.post(
        "/tubemail/other/permission-request",
        json!({"request_id": "other1", "tool_name": "Bash"}),
    )
    .await;
    let (_, tok) = issue(&c, json!({"kind": "worker", "worker": "w"})).await;
    let w = as_token(&c, &tok);

    // Its own life: register, stream, receive, reply, ask, its prompts.
    w.register("w", 1).await;
    let mut stream = w.stream("/tubemail/w/stream", None).await;
    c.send("w", "hello from the orchestrator").await;
    let got = stream
        .take("channel_event", 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        got[0].data["content"], "hello from the orchestrator",
        "{:?}",
        got[0]
    );
    w.post("/tubemail/w/outbound", json!({"text": "done"}))
        .await;
    w.post(
        "/tubemail/w/permission-request",
        json!({"request_id": "mine1", "tool_name": "Bash"}),
    )
    .await;
    let mine = w
        .get("/api/permissions?worker=w&include_offline=true")
        .await;
    let ids: Vec<&str> = mine["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mine1"], "{mine}");
    // The manager identity too.
    w.register("w-manager", 1).await;
    let events = c.get("/api/workers/w/events").await;
    assert!(events.to_string().contains("done"), "{events}");

    // Never another worker's: stream, prompts, answers, sends, MCP.
    let deny: Vec<(&str, String, Value)> = vec![
        ("GET", "/tubemail/other/stream".into(), json!({})),
        ("POST", "/tubemail/other/register".into(), json!({})),
        (
            "POST",
            "/tubemail/other/outbound".into(),
            json!({"text": "x"}),
        ),
        (
            "POST",
            "/tubemail/other/permission-response".into(),
            json!({"request_id": "other1", "behavior": "allow"}),
        ),
        (
            "POST",
            "/api/permissions/resolve".into(),
            json!({"worker": "other", "request_id": "other1", "behavior": "allow"}),
        ),
        ("GET", "/api/permissions?worker=other".into(), json!({})),
        ("GET", "/api/permissions".into(), json!({})),
        (
            "GET",
            "/api/permissions?worker=w&worker=other".into(),
            json!({}),
        ),
        (
            "POST",
            "/api/workers/other/send".into(),
            json!({"message": "x"}),
        ),
        (
            "POST",
            "/api/workers/w/send".into(),
            json!({"message": "x"}),
        ),
        ("POST", "/api/pty-ticket".into(), json!({"worker": "w"})),
        ("GET", "/api/workers".into(), json!({})),
        ("GET", "/api/events/stream".into(), json!({})),
        ("GET", "/tubemail/w-other/stream".into(), json!({})),
        ("GET", "/tubemail/other-manager/stream".into(), json!({})),
        ("GET", "/tubemail/w%2F..%2Fother/stream".into(), json!({})),
        ("GET", "/tubemail//stream".into(), json!({})),
        ("GET", "/metrics".into(), json!({})),
        (
            "POST",
            "/mcp/".into(),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        ),
    ];
    for (method, path, body) in deny {
        let (s, v) = w.call(method, &path, Some(body)).await;
        assert_eq!(s, 403, "{method} {path}: {v}");
    }
    // ?token= on the global stream obeys the scope as well.
    let r = c
        .http
        .get(c.url(&format!("/api/events/stream?token={tok}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Nothing changed for the other worker.
    let pending = c
        .get("/api/permissions?worker=other&include_offline=true")
        .await;
    assert_eq!(pending["pending"][0]["request_id"], "other1");
    assert_eq!(c.events("other").await.len(), 1);
    hub.stop().await;
}

#[tokio::test]
async fn operator_tokens_read_and_change_nothing() {
    let (_d, hub, c) = hub().await;
    c.register("w", 1).await;
    c.send("w", "one").await;
    let (_, tok) = issue(&c, json!({"kind": "operator-ro"})).await;
    let o = as_token(&c, &tok);
    assert_eq!(o.get("/api/workers").await["workers"][0]["name"], "w");
    assert_eq!(
        o.get("/api/workers/w/events").await["events"][0]["content"],
        "one"
    );
    o.get("/api/settings").await;
    o.get("/api/flows").await;
    let r = c
        .http
        .get(c.url(&format!("/api/events/stream?token={tok}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (m, p, b) in [
        ("POST", "/api/workers/w/send", json!({"message": "x"})),
        ("PUT", "/api/settings", json!({})),
        ("DELETE", "/api/workers/w", json!({})),
        ("POST", "/tubemail/w/outbound", json!({"text": "x"})),
        ("GET", "/tubemail/w/stream", json!({})),
        (
            "POST",
            "/mcp/",
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        ),
    ] {
        let (s, v) = o.call(m, p, Some(b)).await;
        assert_eq!(s, 403, "{m} {p}: {v}");
    }
    assert_eq!(c.events("w").await.len(), 1);
    hub.stop().await;
}

#[tokio::test]
async fn tokens_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start(dir.path()).await;
    let c = hub.client();
    let (_, live) = issue(&c, json!({"kind": "worker", "worker": "w"})).await;
    let (dead_id, dead) = issue(&c, json!({"kind": "operator-ro"})).await;
    c.call("DELETE", &format!("/api/tokens/{dead_id}"), None)
        .await;
    hub.stop().await;
    let hub = TestHub::start(dir.path()).await;
    let c = hub.client();
    assert_eq!(
        c.get("/api/tokens").await["tokens"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let w = as_token(&c, &live);
    assert_eq!(w.get("/api/whoami").await["worker"], "w");
    w.register("w", 1).await;
    assert_eq!(
        as_token(&c, &dead)
            .call("GET", "/api/workers", None)
            .await
            .0,
        401
    );
    // The database holds hashes, never tokens.
    let db = std::fs::read(dir.path().join("tubemail.db")).unwrap();
    let text = String::from_utf8_lossy(&db);
    assert!(!text.contains(&live[4..]), "token stored in clear");
    hub.stop().await;
}

fn limited(dir: &std::path::Path) -> Options {
    let mut o = Options::new(dir, SECRET);
    o.rate_limits.exempt_loopback = false;
    o.rate_limits.failed_auth = Rate::new(3, 60);
    o.rate_limits.tickets = Rate::new(2, 60);
    o.rate_limits.ws_upgrades = Rate::new(2, 60);
    o
}

/// Polls until `f` gives `want` (rate limits refill at 1/s here).
async fn until<F, Fut>(want: u16, within: Duration, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let deadline = Instant::now() + within;
    loop {
        let s = f().await;
        if s == want {
            return;
        }
        assert!(Instant::now() < deadline, "still {s}, wanted {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn failed_auth_is_rate_limited_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start_with(limited(dir.path())).await;
    let c = hub.client();
    // Successful traffic is never limited.
    for _ in 0..50 {
        assert_eq!(c.call("GET", "/api/workers", None).await.0, 200);
    }
    // Missing credentials guess nothing and do not count.
    for _ in 0..10 {
        assert_eq!(
            c.http
                .get(c.url("/api/workers"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
    }
    for _ in 0..3 {
        assert_eq!(status(&c, "GET", "/api/workers", "wrong").await, 401);
    }
    let r = c
        .http
        .get(c.url("/api/workers"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let v: Value = r.json().await.unwrap();
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("failed authentication"),
        "{v}"
    );
    // While locked out, the right secret waits too (else guessing goes on);
    // public routes stay open.
    assert_eq!(c.call("GET", "/api/workers", None).await.0, 429);
    assert_eq!(
        c.http.get(c.url("/health")).send().await.unwrap().status(),
        200
    );
    until(200, Duration::from_secs(15), || async {
        c.call("GET", "/api/workers", None).await.0
    })
    .await;
    hub.stop().await;
}

#[tokio::test]
async fn tickets_and_websocket_upgrades_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start_with(limited(dir.path())).await;
    let c = hub.client();
    c.register("w", 1).await;
    let ticket = || async {
        c.call("POST", "/api/pty-ticket", Some(json!({"worker": "w"})))
            .await
            .0
    };
    assert_eq!(ticket().await, 200);
    assert_eq!(ticket().await, 200);
    let (s, v) = c
        .call("POST", "/api/pty-ticket", Some(json!({"worker": "w"})))
        .await;
    assert_eq!(s, 429, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("tickets"), "{v}");
    // Other routes are not affected.
    assert_eq!(c.call("GET", "/api/workers", None).await.0, 200);
    until(200, Duration::from_secs(15), ticket).await;

    // Upgrades (refused for want of a ticket, but counted all the same).
    let ws = || async {
        c.http
            .get(c.url("/ws/pty/w?ticket=nope"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let first = ws().await;
    assert_ne!(first, 429);
    assert_eq!(ws().await, first);
    assert_eq!(ws().await, 429);
    until(first, Duration::from_secs(15), ws).await;
    hub.stop().await;
}

#[tokio::test]
async fn loopback_is_exempt_unless_proxied() {
    let (_d, hub, c) = hub().await;
    for _ in 0..40 {
        assert_eq!(status(&c, "GET", "/api/workers", "wrong").await, 401);
    }
    assert_eq!(c.call("GET", "/api/workers", None).await.0, 200);
    // Through a proxy on this machine every client looks local: counted.
    let proxied = |auth: &'static str| {
        c.http
            .get(c.url("/api/workers"))
            .bearer_auth(auth)
            .header("X-Forwarded-For", "203.0.113.9")
            .send()
    };
    let mut codes = Vec::new();
    for _ in 0..25 {
        codes.push(proxied("wrong").await.unwrap().status().as_u16());
    }
    assert_eq!(codes.iter().filter(|s| **s == 401).count(), 20, "{codes:?}");
    assert_eq!(codes.last(), Some(&429), "{codes:?}");
    assert_eq!(proxied(SECRET).await.unwrap().status(), 429);
    // Direct loopback requests are still exempt.
    assert_eq!(c.call("GET", "/api/workers", None).await.0, 200);
    hub.stop().await;
}

/// `GET /api/workers` with `auth`, sent through this (loopback) peer with
/// `header: value`; its status.
async fn via(c: &Client, header: &str, value: &str, auth: &str) -> u16 {
    c.http
        .get(c.url("/api/workers"))
        .bearer_auth(auth)
        .header(header, value)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = limited(dir.path());
    options.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    let hub = TestHub::start_with(options).await;
    let c = hub.client();
    let xff = "x-forwarded-for";
    // The leftmost hop is the client's to write: only the rightmost
    // untrusted one counts (203.0.113.1 here).
    for _ in 0..3 {
        assert_eq!(
            via(&c, xff, "198.51.100.9, 203.0.113.1", "wrong").await,
            401
        );
    }
    assert_eq!(via(&c, xff, "203.0.113.1", SECRET).await, 429);
    assert_eq!(via(&c, xff, "203.0.113.2, 203.0.113.1", SECRET).await, 429);
    assert_eq!(via(&c, "forwarded", "for=203.0.113.1", SECRET).await, 429);
    // Another client of the same proxy is served, however it is named.
    assert_eq!(via(&c, xff, "203.0.113.2", SECRET).await, 200);
    assert_eq!(via(&c, xff, "203.0.113.2, 127.0.0.1", SECRET).await, 200);
    assert_eq!(
        via(
            &c,
            "forwarded",
            r#"for="203.0.113.2:4711";proto=https"#,
            SECRET
        )
        .await,
        200
    );
    // So is the proxy itself.
    assert_eq!(c.call("GET", "/api/workers", None).await.0, 200);
    hub.stop().await;
}

#[tokio::test]
async fn an_untrusted_peer_cannot_name_its_client() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = limited(dir.path());
    options.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    let hub = TestHub::start_with(options).await;
    let c = hub.client();
    for i in 1..=3 {
        let client = format!("203.0.113.{i}");
        assert_eq!(via(&c, "x-forwarded-for", &client, "wrong").await, 401);
    }
    // Every guess counted against the peer, whatever it claimed.
    assert_eq!(
        via(&c, "x-forwarded-for", "203.0.113.99", SECRET).await,
        429
    );
    assert_eq!(via(&c, "forwarded", "for=203.0.113.98", SECRET).await, 429);
    assert_eq!(c.call("GET", "/api/workers", None).await.0, 429);
    hub.stop().await;
}
