//! Permission rules and prompt expiry through a real hub (loopback, real
//! SQLite file; a child process for kill -9).
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::{Duration, Instant};

use common::{Client, HubProcess, as_token, free_port, hub, issue};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(10);

fn bash(id: &str, command: &str) -> Value {
    json!({
        "request_id": id,
        "tool_name": "Bash",
        "description": "run",
        "input_preview": json!({"command": command, "description": "run"}).to_string(),
    })
}

/// The permission_response events of a worker's timeline.
async fn responses(c: &Client, worker: &str) -> Vec<Value> {
    c.events(worker)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "permission_response")
        .collect()
}

/// Polls until `worker` has `n` permission responses (no fixed sleeps).
async fn wait_responses(c: &Client, worker: &str, n: usize, within: Duration) -> Vec<Value> {
    let until = Instant::now() + within;
    loop {
        let r = responses(c, worker).await;
        if r.len() >= n || Instant::now() > until {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn pending_ids(c: &Client) -> Vec<String> {
    c.get("/api/permissions?include_offline=true").await["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["request_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_rule_answers_a_matching_prompt_with_nobody_involved() {
    let (_d, _hub, c) = hub().await;
    let (s, v) = c
        .call(
            "PUT",
            "/api/rules",
            Some(json!({"rules": [
                {"name": "git reads", "worker": "build-*", "tool": "Bash",
                 "input": "^git (status|diff|log)$", "verdict": "allow"},
                {"id": "no-rm", "tool": "Bash", "input": "^rm ", "verdict": "deny"},
            ]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let allow_id = v["rules"][0]["id"].as_str().unwrap().to_owned();
    assert!(!allow_id.is_empty());
    assert_eq!(v["rules"][1]["worker"], "*", "defaults filled in");

    c.register("build-1", 7).await;
    let mut stream = c.stream("/tubemail/build-1/stream", None).await;
    c.post(
        "/tubemail/build-1/permission-request",
        bash("p1", "git status"),
    )
    .await;
    let got = stream.take("permission_response", 1, T).await;
    assert_eq!(got[0].data["request_id"], "p1");
    assert_eq!(got[0].data["behavior"], "allow");

    c.post(
        "/tubemail/build-1/permission-request",
        bash("p2", "rm -rf /"),
    )
    .await;
    let got = stream.take("permission_response", 1, T).await;
    assert_eq!(got[0].data["request_id"], "p2");
    assert_eq!(got[0].data["behavior"], "deny");

    // No rule matches: it waits for a person.
    c.post(
        "/tubemail/build-1/permission-request",
        bash("p3", "git push"),
    )
    .await;
    assert_eq!(pending_ids(&c).await, vec!["p3"]);

    let r = responses(&c, "build-1").await;
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["content"], "allow");
    assert_eq!(r[0]["meta"]["decided_by"], "rule");
    assert_eq!(r[0]["meta"]["rule"]["id"], allow_id.as_str());
    assert_eq!(r[0]["meta"]["rule"]["name"], "git reads");
    assert_eq!(r[1]["meta"]["rule"]["id"], "no-rm");

    let v = c
        .post(
            "/api/rules/test",
            json!({"worker": "build-9", "tool_name": "Bash", "input_preview": "git log"}),
        )
        .await;
    assert_eq!(v["verdict"], "allow");
    assert_eq!(v["rule"]["index"], 0);
    let v = c
        .post(
            "/api/rules/test",
            json!({"worker": "x", "tool_name": "Read", "input_preview": ""}),
        )
        .await;
    assert_eq!(v["verdict"], "ask");
    assert!(v.get("rule").is_none());
}

#[tokio::test]
async fn bad_rules_are_refused_with_what_is_wrong() {
    let (_d, _hub, c) = hub().await;
    let (s, v) = c
        .call(
            "POST",
            "/api/rules",
            Some(json!({"tool": "Bash", "input": "(unclosed", "verdict": "allow"})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.contains("rule 0 (input): invalid regex"), "{detail}");
    let (s, v) = c
        .call(
            "PUT",
            "/api/rules",
            Some(json!({"rules": [{"worker": "", "verdict": "ask"}]})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("(worker)"), "{v}");
    let (s, _) = c
        .call("POST", "/api/rules", Some(json!({"verdict": "maybe"})))
        .await;
    assert_eq!(s, 422);
    assert_eq!(c.get("/api/rules").await["rules"], json!([]));

    // Edit, move, delete.
    let a = c
        .post("/api/rules", json!({"tool": "Read", "verdict": "allow"}))
        .await;
    let b = c
        .post(
            "/api/rules?position=0",
            json!({"tool": "Edit", "verdict": "deny"}),
        )
        .await;
    let rules = c.get("/api/rules").await["rules"].clone();
    assert_eq!(rules[0]["id"], b["id"]);
    let id = a["id"].as_str().unwrap();
    let (s, v) = c
        .call(
            "PUT",
            &format!("/api/rules/{id}"),
            Some(json!({"tool": "Read", "verdict": "deny", "name": "no reads"})),
        )
        .await;
    assert_eq!((s, &v["name"]), (200, &json!("no reads")), "{v}");
    assert_eq!(
        c.call("DELETE", &format!("/api/rules/{id}"), None).await.0,
        200
    );
    assert_eq!(
        c.call("DELETE", &format!("/api/rules/{id}"), None).await.0,
        404
    );

    // A read-only operator reads the rules but cannot change them.
    let (_, token) = issue(&c, json!({"kind": "operator-ro"})).await;
    let ro = as_token(&c, &token);
    assert_eq!(ro.call("GET", "/api/rules", None).await.0, 200);
    let (s, _) = ro
        .call("PUT", "/api/rules", Some(json!({"rules": []})))
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn an_unanswered_prompt_gets_the_default_answer() {
    let (_d, _hub, c) = hub().await;
    let (s, v) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"permission_timeout_secs": 1})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["permission_default_answer"], "deny");
    c.register("w", 1).await;
    let mut stream = c.stream("/tubemail/w/stream", None).await;
    let asked = Instant::now();
    c.post("/tubemail/w/permission-request", bash("p1", "make"))
        .await;
    let pending = c.get("/api/permissions").await;
    assert!(pending["pending"][0]["deadline"].is_number(), "{pending}");
    let got = stream.take("permission_response", 1, T).await;
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(got[0].data["behavior"], "deny");
    let r = responses(&c, "w").await;
    assert_eq!(r[0]["meta"]["decided_by"], "expiry");
    assert!(pending_ids(&c).await.is_empty());
}

#[tokio::test]
async fn a_deadline_and_the_rules_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut hub = HubProcess::spawn(dir.path(), port).await;
    let c = hub.client();
    let (s, v) = c
        .call(
            "PUT",
            "/api/rules",
            Some(json!({"rules": [
                {"id": "slow", "tool": "Bash", "verdict": "ask",
                 "timeout_secs": 2, "default_answer": "allow"},
            ]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    c.register("w", 4242).await;
    c.post("/tubemail/w/permission-request", bash("p1", "make"))
        .await;
    hub.kill9();
    // Down for longer than the timeout: the prompt is overdue at restart.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let hub = HubProcess::spawn(dir.path(), port).await;
    let c = hub.client();
    let r = wait_responses(&c, "w", 1, T).await;
    assert_eq!(r.len(), 1, "the overdue prompt was answered");
    assert_eq!(r[0]["content"], "allow");
    assert_eq!(r[0]["meta"]["decided_by"], "expiry");
    assert_eq!(r[0]["meta"]["rule"]["id"], "slow");
    assert!(pending_ids(&c).await.is_empty());
    let rules = c.get("/api/rules").await;
    assert_eq!(rules["rules"][0]["id"], "slow");
    assert_eq!(rules["rules"][0]["timeout_secs"], 2);
}
