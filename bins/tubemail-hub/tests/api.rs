//! The HTTP API through a real hub on a loopback port with a real SQLite file.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::Duration;

use common::{SECRET, hub};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn channel_round_trip_in_original_shapes() {
    let (_d, hub, c) = hub().await;
    let mut global = c.stream("/api/events/stream", None).await;
    let reg = c.register("proj-tm", 42).await;
    assert_eq!(reg, json!({"worker": "proj-tm", "cursor": ""}));
    let mut stream = c.stream("/tubemail/proj-tm/stream", None).await;

    let id = c.send("proj-tm", "hello").await;
    let got = stream.take("channel_event", 1, T).await;
    assert_eq!(got[0].data["content"], "hello");
    assert_eq!(got[0].id.as_deref(), Some(id.as_str()));

    let out = c
        .post(
            "/tubemail/proj-tm/outbound",
            json!({"text": "pong", "meta": {"kind": "reply"}}),
        )
        .await;
    assert!(out["event_id"].as_str().is_some() && out["ts"].as_f64().is_some());
    let events = c.get("/tubemail/proj-tm/events").await["events"].clone();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["inbound", "outbound"]);

    // The global stream saw the registration, the message and the reply.
    let mut seen = Vec::new();
    while !seen.contains(&"outbound".to_string()) {
        let m = global.next(T).await.expect("global event");
        seen.push(m.event);
    }
    assert!(seen.contains(&"worker_registered".to_string()), "{seen:?}");
    assert!(seen.contains(&"channel_event".to_string()), "{seen:?}");
    hub.stop().await;
}

#[tokio::test]
async fn harness_commands_route_to_the_manager() {
    let (_d, hub, c) = hub().await;
    let r = c
        .post("/api/workers/w/send", json!({"message": "/compact now"}))
        .await;
    assert_eq!(r["routed_to"], "manager (harness command)");
    assert_eq!(r["worker"], "w-manager");
    let ev = &c.get("/tubemail/w-manager/events").await["events"][0];
    assert_eq!(ev["meta"]["kind"], "type:/compact now");
    hub.stop().await;
}

#[tokio::test]
async fn state_follows_the_timeline_with_reasons() {
    let (_d, hub, c) = hub().await;
    c.register("w", 1).await;
    assert_eq!(c.get("/api/workers/w/status").await["state"], "idle");
    c.send("w", "work").await;
    let st = c.get("/api/workers/w/status").await;
    assert_eq!(st["state"], "busy");
    assert_eq!(st["state_reason"]["signal"], "unanswered_inbound");
    c.post(
        "/tubemail/w/permission-request",
        json!({"request_id": "abcde", "tool_name": "Bash"}),
    )
    .await;
    assert_eq!(
        c.get("/api/workers/w/status").await["state"],
        "waiting_permission"
    );
    c.post(
        "/api/permissions/resolve",
        json!({"worker": "w", "request_id": "abcde", "behavior": "allow"}),
    )
    .await;
    c.post("/tubemail/w/outbound", json!({"text": "done"}))
        .await;
    let st = c.get("/api/workers/w/status").await;
    assert_eq!(
        (st["state"].as_str(), st["state_reason"]["signal"].as_str()),
        (Some("idle"), Some("no_unanswered_inbound"))
    );
    assert_eq!(
        c.get("/api/workers/nobody/status").await["state"],
        "unknown"
    );
    // Manager observation wins over the timeline while fresh.
    c.send("w", "more").await;
    let r = c
        .post("/tubemail/w/active", json!({"is_active": false}))
        .await;
    assert_eq!(r, json!({"ok": true, "changed": true}));
    assert_eq!(
        c.get("/api/workers/w/status").await["state_reason"]["signal"],
        "observed_idle"
    );
    hub.stop().await;
}

#[tokio::test]
async fn idempotent_sends_return_the_first_receipt() {
    let (_d, hub, c) = hub().await;
    let send = || {
        c.http
            .post(c.url("/api/workers/w/send"))
            .bearer_auth(SECRET)
            .header("Idempotency-Key", "k-1")
            .json(&json!({"message": "once"}))
            .send()
    };
    let a: Value = send().await.unwrap().json().await.unwrap();
    let b: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(a["event_id"], b["event_id"]);
    assert_eq!(
        (a["duplicate"].as_bool(), b["duplicate"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(c.events("w").await.len(), 1);
    hub.stop().await;
}

#[tokio::test]
async fn wait_wakes_on_the_event_and_times_out_empty() {
    let (_d, hub, c) = hub().await;
    c.send("w", "old").await;
    let c2 = c.clone();
    let waiter = tokio::spawn(async move { c2.get("/api/workers/w/wait?timeout_s=20").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = c.send("w", "new").await;
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woke")
        .unwrap();
    let events = got["events"].as_array().unwrap();
    assert_eq!(
        events.len(),
        1,
        "only what came after the wait began: {got}"
    );
    assert_eq!(events[0]["event_id"], id.as_str());
    let empty = c
        .get(&format!("/api/workers/w/wait?since={id}&timeout_s=0.2"))
        .await;
    assert_eq!(empty["events"], json!([]));
    hub.stop().await;
}

#[tokio::test]
async fn control_commands_wait_for_the_manager_answer() {
    let (_d, hub, c) = hub().await;
    // A simulated manager: answers health checks and screenshots on its stream.
    c.register("w-manager", 7).await;
    let mut mgr = c.stream("/tubemail/w-manager/stream", None).await;
    let mc = c.clone();
    let manager = tokio::spawn(async move {
        while let Some(m) = mgr.next(Duration::from_secs(30)).await {
            let kind = m.data["meta"]["kind"].as_str().unwrap_or("").to_owned();
            let (text, reply) = match kind.as_str() {
                "health_check" => (
                    json!({"child_alive": true, "cpu_percent": 1.5}).to_string(),
                    "health_response",
                ),
                k if k.starts_with("screenshot") => (format!("screen for {k}"), "screenshot"),
                _ => continue,
            };
            mc.post(
                "/tubemail/w-manager/outbound",
                json!({"text": text, "meta": {"kind": reply}}),
            )
            .await;
        }
    });
    let h = c.get("/api/workers/w/health").await;
    assert_eq!(h["child_alive"], true);
    let s = c.get("/api/workers/w/screenshot?max_lines=20").await;
    assert_eq!(s["screen"], "screen for screenshot:20");
    let r = c.post("/api/workers/w/restart", json!({})).await;
    assert_eq!(r["routed_to"], "w-manager");
    let k = c
        .post("/api/workers/w/keystroke", json!({"keys": "esc enter"}))
        .await;
    assert_eq!(k["bytes_sent"], 2);
    let evs = c.get("/tubemail/w-manager/events?limit=500").await;
    assert!(
        evs["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["meta"]["kind"] == "keystroke:1b0d")
    );
    manager.abort();
    // No manager for another worker: refused at once with a clear error.
    let (status, body) = c.call("GET", "/api/workers/nobody/screenshot", None).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body.to_string().contains("nobody-manager is not connected"),
        "{body}"
    );
    hub.stop().await;
}

#[tokio::test]
async fn newest_subscriber_wins_and_the_old_one_is_told() {
    let (_d, hub, c) = hub().await;
    c.register("w", 1).await;
    let mut first = c.stream("/tubemail/w/stream", None).await;
    let mut second = c.stream("/tubemail/w/stream", None).await;
    let closed = first.next(T).await.expect("closed event");
    assert_eq!(
        (closed.event.as_str(), &closed.data["reason"]),
        ("closed", &json!("superseded"))
    );
    assert!(
        first.next(Duration::from_secs(2)).await.is_none(),
        "old stream ended"
    );
    c.send("w", "to the new one").await;
    assert_eq!(
        second.take("channel_event", 1, T).await[0].data["content"],
        "to the new one"
    );
    let w = c.get("/api/workers/w").await;
    assert_eq!(w["online"], true);
    hub.stop().await;
}

#[tokio::test]
async fn a_fresh_stream_resumes_after_the_last_acknowledged_event() {
    let (_d, hub, c) = hub().await;
    c.register("w", 1).await;
    let first = c.send("w", "one").await;
    let second = c.send("w", "two").await;
    let mut stream = c.stream("/tubemail/w/stream", None).await;
    let got = stream.take("channel_event", 2, T).await;
    assert_eq!(got[1].id.as_deref(), Some(second.as_str()));
    // The worker passed only the first on before its stream died.
    let ack = c
        .post("/tubemail/w/delivered", json!({"through": first}))
        .await;
    assert_eq!(ack, json!({"ok": true, "changed": true}));
    let again = c
        .post("/tubemail/w/delivered", json!({"through": first}))
        .await;
    assert_eq!(again["changed"], false);
    drop(stream);
    let status = c.get("/api/workers/w/status").await;
    assert_eq!(status["acknowledged_through"], json!(first));
    assert_eq!(status["delivered_through"], json!(second));

    let mut fresh = c.stream("/tubemail/w/stream", None).await;
    let got = fresh.take("channel_event", 1, T).await;
    assert_eq!(got[0].data["content"], "two", "the unconfirmed event again");

    let (code, body) = c
        .call(
            "POST",
            "/tubemail/w/delivered",
            Some(json!({"through": "9999999999"})),
        )
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("not on w's timeline"),
        "{body}"
    );
    let (code, _) = c
        .call(
            "POST",
            "/tubemail/nobody/delivered",
            Some(json!({"through": first})),
        )
        .await;
    assert_eq!(code, 404);
    let (code, body) = c
        .call(
            "POST",
            "/tubemail/w/delivered",
            Some(json!({"through": "x"})),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["body", "through"]),
        "{body}"
    );
    hub.stop().await;
}

#[tokio::test]
async fn flows_and_runs() {
    let (_d, hub, c) = hub().await;
    let bad = c.post("/api/flows", json!({"name": "", "body": "x"})).await;
    assert_eq!(bad, json!({"ok": false, "error": "name and body required"}));
    // A field left out is a malformed body: 422 naming it, as the OpenAPI
    // document says (and as the original's FastAPI did), not a soft error.
    let (status, missing) = c
        .call("POST", "/api/flows", Some(json!({"name": "x"})))
        .await;
    assert_eq!(status, 422, "{missing}");
    assert_eq!(
        missing["detail"][0]["loc"],
        json!(["body", "body"]),
        "{missing}"
    );
    let bad = c
        .post("/api/flows", json!({"name": "../x", "body": "x"}))
        .await;
    assert_eq!(bad["error"], "invalid flow name: '../x'");
    let saved = c
        .post(
            "/api/flows",
            json!({"name": "daily", "body": "run the report", "meta": {"a": 1}}),
        )
        .await;
    assert_eq!(saved["flow"]["name"], "daily");
    let none = c.post("/api/flows/daily/run", json!({})).await;
    assert_eq!(none["ok"], false);
    assert!(
        none["error"]
            .as_str()
            .unwrap()
            .starts_with("no target worker")
    );
    let run = c
        .post(
            "/api/flows/daily/run",
            json!({"worker": "w", "meta": {"b": 2}}),
        )
        .await;
    assert_eq!(run["ok"], true);
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    assert_eq!(run_id.len(), 22);
    c.post("/tubemail/w/outbound", json!({"text": "report done"}))
        .await;
    let log = c.get(&format!("/api/flows/runs/{run_id}")).await;
    let events = log["run"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0]["meta"],
        json!({"a": 1, "b": 2, "flow_name": "daily"})
    );
    let fin = c
        .post(&format!("/api/flows/runs/{run_id}/finish"), json!({}))
        .await;
    assert_eq!(fin["ok"], true);
    assert!(
        c.get("/api/flows").await["flows"][0]["last_run_at"]
            .as_f64()
            .is_some()
    );
    assert_eq!(
        c.call("DELETE", "/api/flows/daily", None).await.1,
        json!({"ok": true, "name": "daily"})
    );
    assert_eq!(
        c.get("/api/flows/runs/nope-nope-nope-nope").await["ok"],
        false
    );
    hub.stop().await;
}

#[tokio::test]
async fn settings_validate_and_persist() {
    let (d, hub, c) = hub().await;
    let s = c.get("/api/settings").await;
    assert_eq!(
        s,
        json!({"recording_enabled_by_default": false, "recording_max_bytes_per_file": 5242880, "recording_keep_files": 4,
               "retention_max_age_days": 0, "retention_max_events_per_worker": 0,
               "retention_max_database_mib": 0,
               "permission_timeout_secs": 0, "permission_default_answer": "deny"})
    );
    for (patch, says) in [
        (
            json!({"permission_timeout_secs": 604_801}),
            "permission_timeout_secs must be between 0",
        ),
        (
            json!({"retention_max_age_days": 40_000}),
            "retention_max_age_days must be between 0",
        ),
        (
            json!({"retention_max_events_per_worker": 5}),
            "retention_max_events_per_worker must be 0",
        ),
        (
            json!({"retention_max_database_mib": 31}),
            "retention_max_database_mib must be 0 (no limit) or between 32 and 1048576",
        ),
    ] {
        let (status, body) = c.call("PUT", "/api/settings", Some(patch)).await;
        assert_eq!(status, 400);
        assert!(body["detail"].as_str().unwrap().contains(says), "{body}");
    }
    let (status, body) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"retention_max_age_days": 30, "retention_max_events_per_worker": 1000})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["retention_max_age_days"], 30);
    let (_, body) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"retention_max_age_days": 0, "retention_max_events_per_worker": 0})),
        )
        .await;
    assert_eq!(body["retention_max_events_per_worker"], 0);
    let (status, body) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"recording_keep_files": 0})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("invalid settings: ")
    );
    let (status, _) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"recording_keep_files": "many"})),
        )
        .await;
    assert_eq!(status, 422);
    let s = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"recording_enabled_by_default": true, "recording_keep_files": null})),
        )
        .await
        .1;
    assert_eq!(
        (
            s["recording_enabled_by_default"].as_bool(),
            s["recording_keep_files"].as_u64()
        ),
        (Some(true), Some(4))
    );
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(d.path().join("hub-config.json")).unwrap()).unwrap();
    assert_eq!(on_disk["recording_enabled_by_default"], true);
    // New workers inherit the recording default.
    c.register("fresh", 1).await;
    assert_eq!(c.get("/api/workers/fresh").await["recording_enabled"], true);
    hub.stop().await;
}

#[tokio::test]
async fn purge_update_manager_and_health() {
    let (_d, hub, c) = hub().await;
    c.register("w", 1).await;
    c.send("w", "busy now").await;
    let r = c.post("/api/workers/w/update-manager", json!({})).await;
    assert_eq!(r["ok"], false);
    assert_eq!(
        r["error"],
        "worker not idle (state=busy); pass force=true to override"
    );
    let r = c
        .post("/api/workers/w/update-manager?force=true", json!({}))
        .await;
    assert_eq!(
        (r["ok"].as_bool(), r["routed_to"].as_str()),
        (Some(true), Some("w-manager"))
    );
    let health = c
        .http
        .get(c.url("/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        health.starts_with("{\n  \"status\": \"ok\"") && health.ends_with("}\n"),
        "{health}"
    );
    let h: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(
        (h["workers_total"].as_u64(), h["workers_online"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        c.call("DELETE", "/api/workers/w", None).await.1,
        json!({"ok": true, "worker": "w"})
    );
    assert_eq!(
        c.call("DELETE", "/api/workers/w", None).await.1,
        json!({"ok": false, "worker": "w"})
    );
    assert_eq!(c.get("/tubemail/w/events").await["events"], json!([]));
    hub.stop().await;
}

#[tokio::test]
async fn a_timeline_pages_backwards_with_before() {
    let (_d, hub, c) = hub().await;
    // Two timelines interleaved, so one worker's ids are not contiguous.
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(c.send("w", &format!("m{i}")).await);
        c.send("other", "x").await;
    }
    let page = |v: Value| -> Vec<String> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["content"].as_str().unwrap().to_owned())
            .collect()
    };
    let newest = c.get("/api/workers/w/events?limit=3").await;
    assert_eq!(page(newest), ["m4", "m5", "m6"]);
    let above = c
        .get(&format!("/api/workers/w/events?before={}&limit=3", ids[4]))
        .await;
    assert_eq!(page(above), ["m1", "m2", "m3"]);
    let top = c
        .get(&format!("/api/workers/w/events?before={}&limit=3", ids[1]))
        .await;
    assert_eq!(page(top), ["m0"]);
    let none = c
        .get(&format!("/api/workers/w/events?before={}", ids[0]))
        .await;
    assert_eq!(none["events"], json!([]));

    // Another worker's id, a word, or both directions at once: 400.
    let theirs = c.events("other").await[0]["event_id"].clone();
    let theirs = theirs.as_str().unwrap();
    for q in [
        format!("before={theirs}"),
        "before=soon".to_owned(),
        format!("before={}&since={}", ids[3], ids[1]),
    ] {
        let (status, body) = c
            .call("GET", &format!("/api/workers/w/events?{q}"), None)
            .await;
        assert_eq!(status, 400, "{q}: {body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{q}: {body}"
        );
    }
    let doc = c.get("/api/openapi.json").await;
    let params = doc["paths"]["/api/workers/{worker}/events"]["get"]["parameters"].clone();
    assert!(
        params
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "before"),
        "{params}"
    );
    hub.stop().await;
}

#[tokio::test]
async fn openapi_and_metrics_describe_the_hub() {
    let (_d, hub, c) = hub().await;
    let doc = c.get("/api/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/tubemail/{worker}/register",
        "/api/workers/{worker}/send",
        "/api/events/stream",
        "/api/flows",
    ] {
        assert!(paths.contains_key(p), "{p} documented");
    }
    let send = &paths["/api/workers/{worker}/send"]["post"];
    assert!(send["requestBody"]["content"]["application/json"]["schema"]["$ref"].is_string());
    assert!(doc["components"]["schemas"]["SendRequest"]["properties"]["message"].is_object());
    c.send("w", "x").await;
    let resp = c
        .http
        .get(c.url("/metrics"))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    for m in [
        "tubemail_workers_online 0",
        "tubemail_events_appended_total 1",
        "tubemail_http_request_duration_seconds_bucket",
        "tubemail_sse_subscribers 0",
    ] {
        assert!(text.contains(m), "{m} in\n{text}");
    }
    // The send waited for its commit: one write at least, in a bucket.
    let writes: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tubemail_write_duration_seconds_count "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("write histogram in\n{text}"));
    assert!(writes >= 1, "{text}");
    assert!(
        text.contains(&format!(
            "tubemail_write_duration_seconds_bucket{{le=\"5\"}} {writes}"
        )),
        "{text}"
    );
    hub.stop().await;
}

#[tokio::test]
async fn the_roster_comes_in_pages() {
    let (_d, hub, c) = hub().await;
    for name in ["e", "a", "d b", "c", "b", "f", "g"] {
        c.register(name, 1).await;
    }
    let names = |v: &Value| -> Vec<String> {
        v["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // Without parameters: everything (fewer than a page), `next: null`.
    let all = c.get("/api/workers").await;
    assert_eq!(names(&all), ["a", "b", "c", "d b", "e", "f", "g"]);
    assert_eq!(all["next"], Value::Null);
    // Page by page, following `next`.
    let mut seen = Vec::new();
    let mut path = "/api/workers?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = c.get(&path).await;
        pages += 1;
        assert!(names(&page).len() <= 3, "{page}");
        seen.extend(names(&page));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/workers?limit=3&after={}", next.replace(' ', "%20")),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, names(&all));
    // A cursor need not be a worker; limits are clamped.
    let page = c.get("/api/workers?after=cz&limit=2").await;
    assert_eq!(names(&page), ["d b", "e"]);
    assert_eq!(page["next"], "e");
    let page = c.get("/api/workers?limit=0").await;
    assert_eq!((names(&page).len(), page["next"].as_str()), (1, Some("a")));
    assert_eq!(
        c.get("/api/workers?after=g").await,
        json!({"workers": [], "next": null})
    );
    hub.stop().await;
}
