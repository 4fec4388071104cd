//! Query strings with numbers and times in them: out-of-range or
//! non-finite bounds are the caller's mistake (400 with a JSON message) on
//! REST and MCP, and no query string at all makes the hub answer 5xx or
//! panic.
//!
//! 256 cases per property by default; `PROPTEST_CASES=10000 cargo test
//! -p tubemail-hub --test queries` for a longer run.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use common::{SECRET, hub};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use tower::ServiceExt;
use tubemail_hub::{Hub, Options};

/// Calls an MCP tool over a fresh session; the tool result.
async fn mcp_call(c: &common::Client, tool: &str, args: Value) -> Value {
    let post = |body: Value, session: Option<String>| {
        let mut r = c
            .http
            .post(c.url("/mcp/"))
            .bearer_auth(SECRET)
            .header("Accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = session {
            r = r.header("mcp-session-id", s);
        }
        r.send()
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let r = post(init, None).await.unwrap();
    let session = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let _ = r.text().await;
    let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let _ = post(done, Some(session.clone()))
        .await
        .unwrap()
        .text()
        .await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": tool, "arguments": args}});
    let text = post(call, Some(session))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The answer is one SSE message (`data: {...}`) or plain JSON.
    let json_text = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:").map(str::trim))
        .find(|d| d.starts_with('{'))
        .unwrap_or(&text);
    let v: Value = serde_json::from_str(json_text).unwrap_or_else(|e| panic!("{e}: {text}"));
    v["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_frame_bounds_are_400_on_rest_and_mcp() {
    let (_d, hub, c) = hub().await;
    for q in [
        "since=1e20",
        "until=1e19",
        "since=inf",
        "until=NaN",
        "since=-1",
        "since=253402300800",
    ] {
        let (status, body) = c
            .call(
                "GET",
                &format!("/api/workers/rec-tm/recording/frames?{q}"),
                None,
            )
            .await;
        assert_eq!(status, 400, "{q}: {body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.starts_with("invalid s") || detail.starts_with("invalid u"),
            "{q}: {body}"
        );
    }
    let (status, body) = c
        .call(
            "GET",
            "/api/workers/rec-tm/recording/frames?since=253402300799",
            None,
        )
        .await;
    assert_eq!(status, 200, "the year 9999 is a time: {body}");
    for (field, value) in [("since", "1e20"), ("until", "1e19")] {
        let result = mcp_call(
            &c,
            "tm_get_recording",
            json!({"worker": "rec-tm", field: value}),
        )
        .await;
        assert_eq!(result["isError"], true, "{result}");
        let text = result.to_string();
        assert!(text.contains(&format!("invalid {field}")), "{text}");
    }
    assert_eq!(c.get("/health").await["status"], "ok");
    hub.stop().await;
}

/// Query values near the numbers and times the routes parse, and anything.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "1e20",
                "1e19",
                "-1e20",
                "inf",
                "-inf",
                "NaN",
                "nan",
                "-0",
                "0",
                "1e308",
                "1e-320",
                "18446744073709551616",
                "-9223372036854775809",
                "4294967296",
                "2026-05-17T12:34:56Z",
                "9999-12-31T23:59:59-23:59",
                "0000-01-01T00:00:00+23:59",
                "2026-02-31",
                "",
            ][..]
        )
        .prop_map(str::to_owned),
        any::<f64>().prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        "[0-9eE.+-]{0,24}",
        "[0-9T:Z.+-]{0,30}",
        ".{0,24}",
    ]
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A GET on one of the routes that parse numbers or times, with up to
/// three of its query keys set.
fn request() -> impl Strategy<Value = String> {
    let routes: &[(&str, &[&str])] = &[
        ("recording/frames", &["since", "until", "limit", "grep"]),
        ("events", &["since", "before", "limit"]),
        ("wait", &["since", "timeout_s"]),
        ("screenshot", &["max_lines"]),
    ];
    (
        prop::sample::select(routes.to_vec()),
        prop::collection::vec((0usize..4, value()), 0..4),
    )
        .prop_map(|((route, keys), pairs)| {
            let query: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", keys[k % keys.len()], encode(v)))
                .collect();
            format!("/api/workers/q-tm/{route}?{}", query.join("&"))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_query_string_makes_a_5xx_or_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(Options::new(dir.path(), SECRET)).unwrap();
    let app = hub.router();
    let rt = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config::default());
    let result = tokio::task::block_in_place(|| {
        runner.run(&request(), |uri| {
            let req = Request::get(&uri)
                .header("authorization", format!("Bearer {SECRET}"))
                .body(Body::empty())
                .unwrap();
            // A valid wait blocks until its timeout: not an answer yet is
            // not a failure.
            let answer = rt.block_on(tokio::time::timeout(
                Duration::from_millis(300),
                app.clone().oneshot(req),
            ));
            if let Ok(resp) = answer {
                let resp = resp.unwrap();
                let status = resp.status();
                prop_assert!(!status.is_server_error(), "{uri}: {status}");
                if !status.is_success() {
                    let body = rt
                        .block_on(axum::body::to_bytes(resp.into_body(), 1 << 20))
                        .unwrap();
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    prop_assert!(!v["detail"].is_null(), "{uri}: {status} {v}");
                }
            }
            Ok(())
        })
    });
    result.unwrap();
}
