//! Auth matrix (generated from the router's own OpenAPI table), host and
//! origin guards, dev bootstrap, and bad input that must change nothing.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use common::{Client, SECRET, hub};
use serde_json::{Value, json};
use tower::ServiceExt;
use tubemail_hub::Options;

#[tokio::test]
async fn every_route_refuses_missing_and_wrong_bearer() {
    let (_d, hub, c) = hub().await;
    let doc = c.get("/api/openapi.json").await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let public = op["security"] == json!([]);
            let url = c.url(
                &path
                    .replace("{worker}", "w")
                    .replace("{name}", "f")
                    .replace("{run_id}", "r".repeat(22).as_str()),
            );
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let right = format!("Bearer {SECRET}");
            for auth in [None, Some("Bearer wrong-secret"), Some(right.as_str())] {
                let mut req = c.http.request(m.clone(), &url).json(&json!({}));
                if let Some(a) = auth {
                    req = req.header("Authorization", a);
                }
                // A refusal is immediate; with the right secret, waits and
                // manager round trips may take longer: that is not a 401.
                let sent =
                    tokio::time::timeout(std::time::Duration::from_secs(1), req.send()).await;
                let status = sent.map_or(0, |r| r.unwrap().status().as_u16());
                if auth == Some(right.as_str()) || public {
                    assert_ne!(status, 401, "{method} {path} with the right secret");
                } else {
                    assert_eq!(status, 401, "{method} {path} with {auth:?}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} routes documented");
    // Routes outside the table too.
    assert_eq!(
        c.http
            .get(c.url("/api/openapi.json"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        c.http
            .get(c.url("/api/no/such/route"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Outside the API, paths belong to the web UI (deep links): no bearer.
    assert_eq!(
        c.http
            .get(c.url("/no/such/route"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Bearer details as the original: distinct messages, query token only on the global stream.
    let r = c
        .http
        .get(c.url("/api/workers"))
        .header("Authorization", "bearer x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"detail": "missing bearer token"})
    );
    let r = c
        .http
        .get(c.url("/api/workers"))
        .header("Authorization", "Bearer nope")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"detail": "invalid bearer token"})
    );
    assert_eq!(
        c.http
            .get(c.url(&format!("/api/workers?token={SECRET}")))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = c
        .http
        .get(c.url(&format!("/api/events/stream?token={SECRET}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    hub.stop().await;
}

#[tokio::test]
async fn host_and_origin_guards() {
    let (_d, hub, c) = hub().await;
    let status = |r: reqwest::Response| r.status().as_u16();
    // DNS rebinding: a foreign host name pointing at us is refused.
    let r = c
        .http
        .get(c.url("/api/workers"))
        .bearer_auth(SECRET)
        .header("Host", "evil.example:8004")
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 403);
    let r = c
        .http
        .get(c.url("/api/workers"))
        .bearer_auth(SECRET)
        .header("Host", "localhost:8004")
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);
    // A cross-site page cannot change state, even with a stolen secret.
    let r = c
        .http
        .post(c.url("/api/workers/w/send"))
        .bearer_auth(SECRET)
        .header("Origin", "https://evil.example")
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 403);
    let same = format!("http://{}", hub.addr);
    let r = c
        .http
        .post(c.url("/api/workers/w/send"))
        .bearer_auth(SECRET)
        .header("Origin", same)
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);
    assert_eq!(c.events("w").await.len(), 1);
    hub.stop().await;
}

fn bootstrap_request(peer: &str, host: &str, extra: Option<(&str, &str)>) -> Request<Body> {
    let mut b = Request::get("/api/dev-bootstrap").header("Host", host);
    if let Some((k, v)) = extra {
        b = b.header(k, v);
    }
    let mut req = b.body(Body::empty()).unwrap();
    let addr: SocketAddr = peer.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

#[tokio::test]
async fn dev_bootstrap_is_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::new(dir.path(), SECRET);
    opts.allowed_hosts = vec!["hub.example".into()];
    let hub = tubemail_hub::Hub::open(opts).unwrap();
    let app = hub.router();
    let call = |req| async { app.clone().oneshot(req).await.unwrap() };
    let ok = call(bootstrap_request("127.0.0.1:5000", "127.0.0.1:8004", None)).await;
    assert_eq!(ok.status(), 200);
    let body: Value =
        serde_json::from_slice(&axum::body::to_bytes(ok.into_body(), 1 << 16).await.unwrap())
            .unwrap();
    assert_eq!(body, json!({"bearer": SECRET}));
    for (peer, host, extra) in [
        ("10.1.2.3:5000", "127.0.0.1:8004", None),
        ("127.0.0.1:5000", "hub.example", None),
        (
            "127.0.0.1:5000",
            "localhost:8004",
            Some(("X-Forwarded-For", "203.0.113.9")),
        ),
    ] {
        let r = call(bootstrap_request(peer, host, extra)).await;
        assert_eq!(r.status(), 403, "{peer} {host} {extra:?}");
    }
    hub.engine().shutdown().await;

    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::new(dir.path(), SECRET);
    opts.dev_bootstrap = false;
    let hub = tubemail_hub::Hub::open(opts).unwrap();
    let r = hub
        .router()
        .oneshot(bootstrap_request("127.0.0.1:5000", "localhost", None))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    hub.engine().shutdown().await;
}

/// Everything a client can see of the store, to prove bad input changed nothing.
async fn snapshot(c: &Client) -> Value {
    json!({
        "workers": c.get("/api/workers").await["workers"].as_array().unwrap().iter().map(|w| json!([w["name"], w["event_count"], w["pending_count"]])).collect::<Vec<_>>(),
        "events": c.get("/tubemail/w/events?limit=500").await,
        "flows": c.get("/api/flows").await,
    })
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_changes_nothing() {
    let (_d, hub, c) = hub().await;
    c.register("w", 1).await;
    c.send("w", "before").await;
    let before = snapshot(&c).await;
    let raw = |method: &str, path: &str, body: Vec<u8>| {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        c.http
            .request(m, c.url(path))
            .bearer_auth(SECRET)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let long = "a".repeat(65);
    let cases: Vec<(&str, String, Vec<u8>, u16)> = vec![
        (
            "POST",
            "/tubemail/..%2F..%2Fetc/register".into(),
            br#"{"cwd":"/"}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/tubemail/a..b/outbound".into(),
            br#"{"text":"x"}"#.to_vec(),
            400,
        ),
        (
            "POST",
            format!("/tubemail/{long}/register"),
            br#"{"cwd":"/"}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/tubemail/a%01b/register".into(),
            br#"{"cwd":"/"}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/tubemail/a%0Ab/outbound".into(),
            br#"{"text":"x"}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/api/workers/.hidden/send".into(),
            br#"{"message":"x"}"#.to_vec(),
            400,
        ),
        ("GET", "/api/workers/..%2Fx/events".into(), vec![], 400),
        (
            "POST",
            "/tubemail/w/outbound".into(),
            b"{not json".to_vec(),
            422,
        ),
        (
            "POST",
            "/tubemail/w/outbound".into(),
            br#"{"text": 5}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/tubemail/w/outbound".into(),
            br#"{"meta": {}}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/tubemail/w/outbound".into(),
            br#"{"text": "x", "meta": []}"#.to_vec(),
            422,
        ),
        ("POST", "/tubemail/w/register".into(), vec![], 422),
        (
            "POST",
            "/api/workers/w/send".into(),
            br#"{"message": null}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/tubemail/w/permission-response".into(),
            br#"{"request_id":"x","behavior":"maybe"}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/tubemail/w/context-pct".into(),
            br#"{"pct": 101}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/tubemail/w/context-pct".into(),
            br#"{"pct": "lots"}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/tubemail/w/active".into(),
            br#"{"is_active": "yes"}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/api/workers/w/send".into(),
            format!(r#"{{"message":"{}"}}"#, "x".repeat(1_100_000)).into_bytes(),
            413,
        ),
        ("GET", "/api/workers/w/events?since=zzz".into(), vec![], 400),
        (
            "GET",
            "/api/workers/w/events?since=0000099999".into(),
            vec![],
            400,
        ),
        (
            "GET",
            "/api/workers/w/events?limit=lots".into(),
            vec![],
            422,
        ),
        (
            "GET",
            "/api/workers/w/wait?since=nope&timeout_s=1".into(),
            vec![],
            400,
        ),
        ("GET", "/tubemail/w/stream?since=nope".into(), vec![], 400),
        ("GET", "/api/permissions?worker=..".into(), vec![], 400),
        (
            "POST",
            "/api/workers/w/keystroke".into(),
            br#"{"keys": "   "}"#.to_vec(),
            400,
        ),
    ];
    for (method, path, body, want) in cases {
        let resp = raw(method, &path, body).await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, want, "{method} {path}: {body}");
        assert!(
            ct.starts_with("application/json"),
            "{method} {path}: content-type {ct}"
        );
        assert!(
            body["detail"].is_string() || body["detail"].is_array(),
            "{method} {path}: {body}"
        );
        if status == 422 {
            assert!(
                body["detail"][0]["loc"][0] == "body" || body["detail"][0]["loc"][0] == "query",
                "{body}"
            );
        }
    }
    // The original's soft errors (HTTP 200) where it had them.
    let r = c
        .post(
            "/api/permissions/resolve",
            json!({"worker": "w", "request_id": "x", "behavior": "maybe"}),
        )
        .await;
    assert_eq!(
        r,
        json!({"ok": false, "error": "behavior must be 'allow' or 'deny'"})
    );
    // The compat events route keeps the original rule: an unknown since reads from the start.
    let compat = c.get("/tubemail/w/events?since=notanid").await;
    assert_eq!(compat["events"].as_array().unwrap().len(), 1);
    assert_eq!(snapshot(&c).await, before, "bad input changed the store");
    hub.stop().await;
}

#[tokio::test]
async fn mcp_needs_the_bearer_and_mcp_without_slash_redirects() {
    let (_d, hub, c) = hub().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let post = |auth: Option<&str>| {
        let mut r = c
            .http
            .post(c.url("/mcp/"))
            .header("Accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(post(Some("Bearer nope")).await.unwrap().status(), 401);
    let ok = post(Some(&format!("Bearer {SECRET}"))).await.unwrap();
    assert_eq!(ok.status(), 200);
    let session = ok.headers()["mcp-session-id"].clone();
    let body = ok.text().await.unwrap();
    assert!(body.contains(r#""name":"tubemail""#), "{body}");
    // Ending the session: 204, which the official SDKs take for success.
    let end = |auth: &str| {
        c.http
            .delete(c.url("/mcp/"))
            .header("mcp-session-id", session.clone())
            .header("Authorization", auth.to_owned())
            .send()
    };
    assert_eq!(end("Bearer nope").await.unwrap().status(), 401);
    assert_eq!(
        end(&format!("Bearer {SECRET}")).await.unwrap().status(),
        204
    );
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_follow
        .get(c.url("/mcp?a=1"))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["location"], "/mcp/?a=1");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_on_the_ipv6_wildcard_sees_ipv4_loopback_clients_as_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let hub = tubemail_hub::Hub::open(Options::new(dir.path(), SECRET)).unwrap();
    let stop = hub.state().shutdown.clone();
    let listener = tokio::net::TcpListener::bind("[::]:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(hub.serve(listener, stop.clone().cancelled_owned()));
    // The peer is ::ffff:127.0.0.1, the Host the IPv4 literal.
    let c = Client::new(format!("http://127.0.0.1:{port}"), SECRET);
    c.wait_healthy(Duration::from_secs(10)).await;
    let r = c
        .http
        .get(c.url("/api/dev-bootstrap"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "dev bootstrap");
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"bearer": SECRET}));
    // Exempt from the failed-authentication limit (a burst of 20).
    let wrong = Client::new(c.base.clone(), "wrong");
    for _ in 0..30 {
        assert_eq!(wrong.call("GET", "/api/workers", None).await.0, 401);
    }
    assert_eq!(c.call("GET", "/api/workers", None).await.0, 200);
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

#[tokio::test]
async fn the_secret_is_compared_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let hub = tubemail_hub::Hub::open(Options::new(dir.path(), SECRET)).unwrap();
    let app = hub.router();
    let status = |auth: String, query: &str| {
        let app = app.clone();
        let req = Request::get(format!("/api/workers{query}"))
            .header("authorization", auth)
            .body(Body::empty())
            .unwrap();
        async move { app.oneshot(req).await.unwrap().status().as_u16() }
    };
    assert_eq!(status(format!("Bearer {SECRET}"), "").await, 200);
    for padded in [
        format!("Bearer  {SECRET}"),
        format!("Bearer {SECRET} "),
        format!("Bearer {SECRET}\t"),
        format!("Bearer {SECRET}x"),
        format!("Bearer {}", &SECRET[..SECRET.len() - 1]),
    ] {
        assert_eq!(status(padded.clone(), "").await, 401, "{padded:?}");
    }
    hub.engine().shutdown().await;
}

#[tokio::test]
async fn the_origin_must_match_the_scheme_too() {
    let (_d, hub, c) = hub().await;
    let post = |origin: String| {
        c.http
            .post(c.url("/api/permissions/sweep"))
            .bearer_auth(SECRET)
            .header("Origin", origin)
            .send()
    };
    let same = format!("http://{}", hub.addr);
    assert_eq!(post(same).await.unwrap().status(), 200);
    let other_scheme = format!("https://{}", hub.addr);
    assert_eq!(post(other_scheme).await.unwrap().status(), 403);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_opens_with_a_single_use_ticket_that_expires() {
    let (_d, hub, c) = hub().await;
    let ticket = || async {
        let v = c.post("/api/stream-ticket", json!({})).await;
        assert_eq!(v["ttl_s"], 30, "{v}");
        v["ticket"].as_str().unwrap().to_owned()
    };
    let open = |t: String| {
        c.http
            .get(c.url(&format!("/api/events/stream?ticket={t}")))
            .send()
    };
    // No secret in the URL, no header: the ticket alone opens the stream.
    let t = ticket().await;
    let resp = open(t.clone()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut events = Box::pin(sse_stream::SseStream::from_bytes_stream(
        resp.bytes_stream(),
    ));
    c.register("tk-tm", 1).await;
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        use futures::StreamExt;
        while let Some(Ok(e)) = events.next().await {
            if e.event.as_deref() == Some("worker_registered") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true), "no worker_registered on the ticket's stream");
    // Used once: refused.
    let again = open(t).await.unwrap();
    assert_eq!(again.status(), 401);
    assert_eq!(
        again.json::<Value>().await.unwrap()["detail"],
        "unknown or already used ticket"
    );
    // Expired: refused.
    let t = ticket().await;
    hub.state
        .stream_tickets
        .age_all(tubemail_hub::terminal::TICKET_TTL);
    let late = open(t).await.unwrap();
    assert_eq!(late.status(), 401);
    assert_eq!(
        late.json::<Value>().await.unwrap()["detail"],
        "ticket expired"
    );
    // A ticket needs a credential; a made-up one opens nothing.
    let anon = c
        .http
        .post(c.url("/api/stream-ticket"))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    assert_eq!(open("made-up".into()).await.unwrap().status(), 401);
    hub.stop().await;
}
