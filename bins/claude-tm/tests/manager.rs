//! `claude-tm manager` with a stand-in claude, driven through a real hub.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::time::{Duration, Instant};

use tubemail_core::engine::ControlOutcome;
use tubemail_core::{Meta, WorkerName};

const SECRET: &str = "manager-test-secret";

/// A prompt loop that echoes what is typed and leaves on /exit.
const FAKE_CLAUDE: &str = r#"#!/bin/sh
printf 'READY> '
while IFS= read -r line; do
  case "$line" in
    *"/exit"*) echo bye; exit 0;;
  esac
  printf 'you said: %s\nREADY> ' "$line"
done
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn types_commands_reads_the_screen_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake-claude");
    let fake = common::script(fake, FAKE_CLAUDE);
    let hub = common::TestHub::start(&dir.path().join("hub"), SECRET).await;
    let (state, url) = (hub.state.clone(), hub.url.clone());
    let engine = state.engine.clone();
    let worker: WorkerName = "mgr-tm".parse().unwrap();

    let mut manager = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"))
        .arg("manager")
        .env("TUBEMAIL_HUB_URL", &url)
        .env("TUBEMAIL_SECRET", SECRET)
        .env("TM_WORKER_NAME", worker.as_str())
        .env("TUBEMAIL_CLAUDE_BIN", &fake)
        .env("TUBEMAIL_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mgr = worker.manager().unwrap();
    common::eventually("the manager online", Duration::from_secs(10), async || {
        engine.worker(&mgr).filter(|w| w.online)
    })
    .await;

    // A harness command goes to the manager, which types it into claude.
    let sent = engine
        .send(&worker, "/compact".into(), Meta::new(), None)
        .await
        .unwrap();
    assert_eq!(sent.worker, mgr);
    let screen = common::eventually(
        "the typed command on screen",
        Duration::from_secs(10),
        async || match engine.screenshot(&worker, None).await.unwrap() {
            ControlOutcome::Answered(ev) if ev.content.contains("you said: /compact") => {
                Some(ev.content)
            }
            _ => None,
        },
    )
    .await;
    assert!(screen.contains("READY>"), "{screen}");

    match engine.health_check(&worker).await.unwrap() {
        ControlOutcome::Answered(ev) => {
            let v: serde_json::Value = serde_json::from_str(&ev.content).unwrap();
            assert_eq!(v["child_alive"], true, "{v}");
        }
        other => panic!("no health answer: {other:?}"),
    }

    engine
        .control(&worker, &tubemail_core::ManagerCommand::Stop)
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), manager.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "a stop exits 0");
    hub.stop().await;
}

/// Prints its terminal size at start and on every resize, echoes lines.
const SIZE_CLAUDE: &str = r#"#!/bin/sh
trap 'echo "size:$(stty size)"' WINCH
echo "size:$(stty size)"
while :; do
  if IFS= read -r line; then
    case "$line" in *"/exit"*) exit 0;; esac
    echo "you said: $line"
  fi
done
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_at_a_terminal_drives_claude_through_the_manager() {
    use tubemail_pty::{Pty, PtyCommand, Size};
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("size-claude");
    let fake = common::script(fake, SIZE_CLAUDE);
    let hub = common::TestHub::start(&dir.path().join("hub"), SECRET).await;
    let (state, url) = (hub.state.clone(), hub.url.clone());
    let worker: WorkerName = "tty-tm".parse().unwrap();

    // The user's terminal is a pty of its own, 30x100.
    let user = Pty::spawn(
        &PtyCommand::new(env!("CARGO_BIN_EXE_claude-tm"))
            .arg("manager")
            .env("TUBEMAIL_HUB_URL", &url)
            .env("TUBEMAIL_SECRET", SECRET)
            .env("TM_WORKER_NAME", worker.as_str())
            .env("TUBEMAIL_CLAUDE_BIN", &fake)
            .env("TUBEMAIL_LOG", "off")
            .size(Size {
                rows: 30,
                cols: 100,
            }),
    )
    .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let mut read_until = async |user: &Pty, seen: &mut String, want: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !seen.contains(want) {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = tokio::time::timeout(left, user.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no {want:?}; saw {seen:?}"))
                .unwrap();
            assert!(n > 0, "terminal closed before {want:?}; saw {seen:?}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    read_until(&user, &mut seen, "size:30 100").await;
    // Keys typed at the terminal reach claude, raw.
    user.write_all(b"hello\r").await.unwrap();
    read_until(&user, &mut seen, "you said: hello").await;
    // Resizing the terminal resizes claude's.
    user.resize(Size {
        rows: 40,
        cols: 120,
    })
    .unwrap();
    read_until(&user, &mut seen, "size:40 120").await;

    state
        .engine
        .control(&worker, &tubemail_core::ManagerCommand::Stop)
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), user.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_context_use_and_activity_from_the_screen() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("busy-claude");
    let fake = common::script(
        fake,
        "#!/bin/sh\nprintf 'context 42%%\\n* Mulling... (3s)\\n'\nexec sleep 30\n",
    );
    let hub = common::TestHub::start(&dir.path().join("hub"), SECRET).await;
    let (state, url) = (hub.state.clone(), hub.url.clone());
    let engine = state.engine.clone();
    let worker: WorkerName = "busy-tm".parse().unwrap();
    // The channel registers the worker itself; status lands on that entry.
    engine
        .register(&worker, tubemail_core::engine::Registration::default())
        .await
        .unwrap();

    let mut manager = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"))
        .arg("manager")
        .env("TUBEMAIL_HUB_URL", &url)
        .env("TUBEMAIL_SECRET", SECRET)
        .env("TM_WORKER_NAME", worker.as_str())
        .env("TUBEMAIL_CLAUDE_BIN", &fake)
        .env("TUBEMAIL_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let row = common::eventually(
        "context and activity on the roster",
        Duration::from_secs(10),
        async || {
            engine
                .worker(&worker)
                .filter(|w| w.context_pct == Some(42) && w.observed_active == Some(true))
        },
    )
    .await;
    assert_eq!(row.state, tubemail_core::WorkerState::Busy);
    assert_eq!(
        row.state_reason.signal,
        tubemail_core::StateSignal::ObservedActive
    );
    let _ = manager.kill().await;
    hub.stop().await;
}
