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
        .env("TUBEMAIL_LOG", "warn");
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
    assert_eq!(params["meta"]["source"], "tubemail");

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
