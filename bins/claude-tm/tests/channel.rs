//! `claude-tm channel` as Claude Code runs it: a child process speaking MCP
//! over stdio, against a real hub.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ClientNotification, CustomNotification};
use rmcp::service::NotificationContext;
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tubemail_core::Behavior;

const SECRET: &str = "channel-test-secret";

/// Stands in for Claude Code: collects the channel's custom notifications.
#[derive(Clone)]
struct FakeClaude {
    tx: mpsc::UnboundedSender<(String, Value)>,
}

impl ClientHandler for FakeClaude {
    async fn on_custom_notification(
        &self,
        n: CustomNotification,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.tx.send((n.method, n.params.unwrap_or(Value::Null)));
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(String, Value)>) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("a notification")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_round_trip_and_permission_relay() {
    let dir = tempfile::tempdir().unwrap();
    let hub = common::TestHub::start(dir.path(), SECRET).await;
    let (state, url) = (hub.state.clone(), hub.url.clone());
    let engine = state.engine.clone();
    let worker: tubemail_core::WorkerName = "chan-tm".parse().unwrap();
    // Mail sent before the channel starts waits for it.
    engine
        .send(
            &worker,
            "queued before start".into(),
            Default::default(),
            None,
        )
        .await
        .unwrap();

    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"));
    cmd.arg("channel")
        .env("TUBEMAIL_HUB_URL", &url)
        .env("TUBEMAIL_SECRET", SECRET)
        .env("TM_WORKER_NAME", worker.as_str())
        .env("TUBEMAIL_LOG", "warn")
        .env("XDG_STATE_HOME", dir.path().join("state"));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let client = FakeClaude { tx }
        .serve(TokioChildProcess::new(cmd).unwrap())
        .await
        .unwrap();
    let info = client.peer_info().unwrap();
    let exp = info.capabilities.experimental.clone().unwrap();
    assert!(exp.contains_key("claude/channel") && exp.contains_key("claude/channel/permission"));

    let (method, params) = next(&mut rx).await;
    assert_eq!(method, "notifications/claude/channel");
    assert_eq!(params["content"], "queued before start");
    // No `source` key: the CLI puts its own on the <channel> tag.
    assert!(params["meta"].get("source").is_none(), "{params}");
    assert!(params["meta"]["event_id"].as_str().is_some(), "{params}");

    engine
        .send(&worker, "live message".into(), Default::default(), None)
        .await
        .unwrap();
    let (_, params) = next(&mut rx).await;
    assert_eq!(params["content"], "live message");

    // The model replies through the tool.
    let mut args = serde_json::Map::new();
    args.insert("text".into(), json!("pong"));
    client
        .call_tool(CallToolRequestParams::new("reply").with_arguments(args))
        .await
        .unwrap();
    let events = engine.events(&worker, None, 10, true).await.unwrap();
    assert_eq!(events.last().unwrap().content, "pong");
    let health = client
        .call_tool(CallToolRequestParams::new("channel_health"))
        .await
        .unwrap();
    assert_eq!(health.structured_content.unwrap()["registered"], true);

    // Claude Code asks for a permission; the orchestrator allows it.
    client
        .send_notification(ClientNotification::CustomNotification(CustomNotification::new(
            "notifications/claude/channel/permission_request",
            Some(json!({"request_id": "abcde", "tool_name": "Bash", "description": "ls", "input_preview": "ls"})),
        )))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while engine.pending_permissions(Some(&worker), false).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "permission request never reached the hub"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        engine
            .resolve_permission(&worker, "abcde", Behavior::Allow)
            .await
            .unwrap()
    );
    let (method, params) = next(&mut rx).await;
    assert_eq!(method, "notifications/claude/channel/permission");
    assert_eq!(params, json!({"request_id": "abcde", "behavior": "allow"}));

    // Closing stdin ends the channel, which unregisters.
    client.cancel().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while engine.worker(&worker).is_some_and(|w| w.online) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still online after the channel exited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_made_while_the_hub_is_away_arrive_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub");
    let hub = common::TestHub::start(&data, SECRET).await;
    let addr = hub.url.trim_start_matches("http://").to_owned();
    let worker: tubemail_core::WorkerName = "away-tm".parse().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"));
    cmd.arg("channel")
        .env("TUBEMAIL_HUB_URL", &hub.url)
        .env("TUBEMAIL_SECRET", SECRET)
        .env("TM_WORKER_NAME", worker.as_str())
        .env("TUBEMAIL_LOG", "warn")
        .env("XDG_STATE_HOME", dir.path().join("state"));
    let (tx, _rx) = mpsc::unbounded_channel();
    let client = FakeClaude { tx }
        .serve(TokioChildProcess::new(cmd).unwrap())
        .await
        .unwrap();
    let engine = hub.state.engine.clone();
    common::eventually("registered", Duration::from_secs(15), async || {
        engine.worker(&worker).filter(|w| w.online).map(drop)
    })
    .await;
    hub.stop().await;

    let mut args = serde_json::Map::new();
    args.insert("text".into(), json!("written while the hub was away"));
    let r = client
        .call_tool(CallToolRequestParams::new("reply").with_arguments(args))
        .await
        .unwrap();
    let said = serde_json::to_string(&r.content).unwrap();
    assert!(said.contains("queued"), "{said}");
    client
        .send_notification(ClientNotification::CustomNotification(CustomNotification::new(
            "notifications/claude/channel/permission_request",
            Some(json!({"request_id": "fghij", "tool_name": "Edit", "description": "edit", "input_preview": "{}"})),
        )))
        .await
        .unwrap();
    let health = client
        .call_tool(CallToolRequestParams::new("channel_health"))
        .await
        .unwrap();
    assert!(
        health.structured_content.unwrap()["spooled"]
            .as_u64()
            .unwrap()
            >= 1,
        "the reply waits on disk"
    );

    let hub = common::TestHub::start_on(&data, SECRET, &addr).await;
    let engine = hub.state.engine.clone();
    let outbound = common::eventually("the spooled reply", Duration::from_secs(30), async || {
        let evs = engine.events(&worker, None, 50, true).await.ok()?;
        let n = evs
            .iter()
            .filter(|e| e.content == "written while the hub was away")
            .count();
        (n > 0 && !engine.pending_permissions(Some(&worker), false).is_empty()).then_some(n)
    })
    .await;
    assert_eq!(outbound, 1);
    let pending = engine.pending_permissions(Some(&worker), false);
    assert_eq!(pending[0].request_id, "fghij");
    client.cancel().await.unwrap();
    hub.stop().await;
}
