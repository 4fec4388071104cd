//! `claude-tm` as a user starts it: settings from `.env`, the name from the
//! directory, restart with `--continue`, stop.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::Duration;

use tubemail_core::WorkerName;
use tubemail_core::engine::ControlOutcome;

const SECRET: &str = "launcher-test-secret";

const FAKE_CLAUDE: &str = r#"#!/bin/sh
printf 'args:[%s]\nREADY> ' "$*"
while IFS= read -r line; do
  case "$line" in
    *"/exit"*) exit 0;;
  esac
  printf 'READY> '
done
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_with_continue_and_stops_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    std::fs::create_dir(&project).unwrap();
    let fake = dir.path().join("fake-claude");
    let fake = common::script(fake, FAKE_CLAUDE);
    // The secret comes from the project's .env, as a user would keep it.
    std::fs::write(project.join(".env"), format!("TUBEMAIL_SECRET={SECRET}\n")).unwrap();

    let hub = common::TestHub::start(&dir.path().join("hub"), SECRET).await;
    let (state, url) = (hub.state.clone(), hub.url.clone());
    let engine = state.engine.clone();

    let mut launcher = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"))
        .args(["--hub", &url])
        .current_dir(&project)
        .env_remove("TUBEMAIL_SECRET")
        .env_remove("TM_WORKER_NAME")
        .env("HOME", dir.path())
        .env("TUBEMAIL_CLAUDE_BIN", &fake)
        .env("TUBEMAIL_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let worker: WorkerName = "proj-tm".parse().unwrap();
    let mgr = worker.manager().unwrap();
    let screen_has = async |needle: &str| match engine.screenshot(&worker, None).await.unwrap() {
        ControlOutcome::Answered(ev) if ev.content.contains(needle) => Some(ev.content),
        _ => None,
    };
    common::eventually("the first claude", Duration::from_secs(15), async || {
        screen_has("args:[]").await
    })
    .await;

    assert!(engine.worker(&mgr).unwrap().online);
    engine
        .control(&worker, "force_restart".into(), "force_restart")
        .await
        .unwrap();
    // A new manager starts claude again, now with --continue.
    common::eventually(
        "claude restarted with --continue",
        Duration::from_secs(15),
        async || screen_has("args:[--continue]").await,
    )
    .await;

    engine
        .control(&worker, "force_stop".into(), "force_stop")
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), launcher.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    hub.stop().await;
}
