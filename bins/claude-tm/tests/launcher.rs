//! `claude-tm` as a user starts it: settings from `.env`, the name from the
//! directory, restart with `--continue`, stop.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use tubemail_core::WorkerName;
use tubemail_core::engine::ControlOutcome;
use tubemail_hub::{Hub, Options};

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

async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_with_continue_and_stops_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    std::fs::create_dir(&project).unwrap();
    let fake = dir.path().join("fake-claude");
    std::fs::write(&fake, FAKE_CLAUDE).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The secret comes from the project's .env, as a user would keep it.
    std::fs::write(project.join(".env"), format!("TUBEMAIL_SECRET={SECRET}\n")).unwrap();

    let state = Hub::open(Options::new(dir.path().join("hub"), SECRET)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(tubemail_hub::serve(listener, state.clone()));
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
    eventually("the first claude", async || screen_has("args:[]").await).await;

    assert!(engine.worker(&mgr).unwrap().online);
    engine
        .control(&worker, "force_restart".into(), "force_restart")
        .await
        .unwrap();
    // A new manager starts claude again, now with --continue.
    eventually("claude restarted with --continue", async || {
        screen_has("args:[--continue]").await
    })
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
    state.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
