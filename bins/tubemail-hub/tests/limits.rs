//! Per-token and per-worker limits: bytes per minute per scoped token,
//! open permission prompts per worker (429 with Retry-After), and
//! over-size messages (413 JSON).
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use common::{Client, SECRET, TestHub, as_token, issue};
use serde_json::{Value, json};
use tubemail_hub::Options;

/// `POST path` with `body` as `c`'s bearer: status, `Retry-After` (whole
/// seconds) and the JSON body.
async fn post(c: &Client, path: &str, body: &Value) -> (u16, Option<u64>, Value) {
    let resp = c
        .http
        .post(c.url(path))
        .bearer_auth(&c.secret)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, retry, body)
}

async fn started(configure: impl FnOnce(&mut Options)) -> (tempfile::TempDir, TestHub, Client) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(dir.path(), SECRET);
    configure(&mut options);
    let hub = TestHub::start_with(options).await;
    let c = hub.client();
    (dir, hub, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_worker_token_is_slowed_and_the_others_are_not() {
    let (_d, hub, c) = started(|o| o.rate_limits.token_bytes_per_minute = 64 << 10).await;
    c.register("a", 1).await;
    c.register("b", 2).await;
    let (_, a_tok) = issue(&c, json!({"kind": "worker", "worker": "a"})).await;
    let (_, b_tok) = issue(&c, json!({"kind": "worker", "worker": "b"})).await;
    let (a, b) = (as_token(&c, &a_tok), as_token(&c, &b_tok));
    let reply = json!({"text": "x".repeat(8 << 10)});
    let mut accepted = 0;
    let refusal = loop {
        let (status, retry, body) = post(&a, "/tubemail/a/outbound", &reply).await;
        match status {
            200 => accepted += 1,
            429 => break (retry, body),
            other => panic!("{other}: {body}"),
        }
        assert!(
            accepted < 20,
            "64 KiB a minute let {accepted} × 8 KiB through"
        );
    };
    assert!((6..=8).contains(&accepted), "{accepted}");
    let (retry, body) = refusal;
    assert!(retry.is_some_and(|s| (1..=60).contains(&s)), "{retry:?}");
    assert!(
        body["detail"].as_str().unwrap().contains("too many bytes"),
        "{body}"
    );
    // Another worker's token, and the shared secret, go on.
    for _ in 0..4 {
        assert_eq!(post(&b, "/tubemail/b/outbound", &reply).await.0, 200);
    }
    assert_eq!(c.send("a", "still reachable").await.len(), 10);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_permission_prompts_are_capped_per_worker() {
    let (_d, hub, c) = started(|o| o.max_pending_permissions = 3).await;
    c.register("a", 1).await;
    c.register("b", 2).await;
    let ask = |id: &str| json!({"request_id": id, "tool_name": "Bash"});
    for id in ["a1", "a2", "a3"] {
        assert_eq!(
            post(&c, "/tubemail/a/permission-request", &ask(id)).await.0,
            200
        );
    }
    let (status, retry, body) = post(&c, "/tubemail/a/permission-request", &ask("a4")).await;
    assert_eq!((status, retry.is_some()), (429, true), "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("open permission prompts"),
        "{body}"
    );
    // Asking again for an open one is no new prompt; another worker has its own.
    assert_eq!(
        post(&c, "/tubemail/a/permission-request", &ask("a2"))
            .await
            .0,
        200
    );
    assert_eq!(
        post(&c, "/tubemail/b/permission-request", &ask("b1"))
            .await
            .0,
        200
    );
    // An answer makes room.
    let answer = json!({"worker": "a", "request_id": "a1", "behavior": "allow"});
    assert_eq!(c.post("/api/permissions/resolve", answer).await["ok"], true);
    assert_eq!(
        post(&c, "/tubemail/a/permission-request", &ask("a4"))
            .await
            .0,
        200
    );
    hub.stop().await;
}

#[tokio::test]
async fn an_over_size_message_is_413_with_a_json_body() {
    let (_d, hub, c) = started(|o| o.max_body_bytes = 4096).await;
    c.register("a", 1).await;
    let big = "x".repeat(8192);
    for (path, body) in [
        ("/api/workers/a/send", json!({"message": big})),
        ("/tubemail/a/outbound", json!({"text": big})),
    ] {
        let (status, _, v) = post(&c, path, &body).await;
        assert_eq!(status, 413, "{path}: {v}");
        assert!(
            v["detail"].as_str().unwrap().contains("larger than 4096"),
            "{v}"
        );
    }
    assert!(c.events("a").await.is_empty());
    hub.stop().await;
}
