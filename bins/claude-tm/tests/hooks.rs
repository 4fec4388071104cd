//! Busy/idle and prompts answered at the terminal from Claude Code's hooks:
//! a real hub, `claude-tm` as a user starts it, and the stand-in claude
//! (tests/support/standin-claude.py), which runs the hook commands of the
//! `--settings` file the manager wrote, with the JSON the real CLI gives
//! them on stdin, and draws no spinner: only the hooks tell it works.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{TestHub, eventually};
use serde_json::Value;
use tubemail_client::Client;
use tubemail_client::core::{StateSignal, WorkerName, WorkerState};

const SECRET: &str = "hooks-secret";
const T: Duration = Duration::from_secs(30);

fn standin_log(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

struct Worker {
    child: tokio::process::Child,
    log: PathBuf,
    manager_log: PathBuf,
}

fn start_worker(root: &Path, hub_url: &str, hooks: bool) -> Worker {
    let project = root.join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let log = root.join("standin.jsonl");
    let manager_log = root.join("claude-tm.log");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"));
    cmd.current_dir(&project)
        .env("TUBEMAIL_HUB_URL", hub_url)
        .env("TUBEMAIL_SECRET", SECRET)
        .env("TUBEMAIL_CLAUDE_BIN", common::standin_claude())
        .env("XDG_RUNTIME_DIR", root.join("run"))
        .env("XDG_STATE_HOME", root.join("state"))
        .env("HOME", root.join("home"))
        .env("STANDIN_LOG", &log)
        .env("TUBEMAIL_LOG", "claude_tm=debug")
        .env_remove("STANDIN_NO_HOOKS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&manager_log).unwrap())
        .kill_on_drop(true);
    if !hooks {
        cmd.env("STANDIN_NO_HOOKS", "1");
    }
    let child = cmd.spawn().unwrap();
    Worker {
        child,
        log,
        manager_log,
    }
}

async fn state(c: &Client, w: &WorkerName) -> Option<(WorkerState, StateSignal)> {
    let s = c.status(w).await.ok()?;
    Some((s.state, s.state_reason.signal))
}

async fn wait_state(c: &Client, w: &WorkerName, want: (WorkerState, StateSignal)) {
    eventually(&format!("{want:?}"), T, async || {
        (state(c, w).await? == want).then_some(())
    })
    .await;
}

const BUSY: (WorkerState, StateSignal) = (WorkerState::Busy, StateSignal::ObservedActive);
const IDLE: (WorkerState, StateSignal) = (WorkerState::Idle, StateSignal::ObservedIdle);

/// Lines of the manager's log that say a prompt was resolved from hooks.
fn resolved_from_hooks(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("answered at the terminal (hooks)"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_drive_busy_idle_and_prompts_answered_at_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&tmp.path().join("hub"), SECRET).await;
    let c = Client::builder()
        .url(&hub.url)
        .secret(SECRET)
        .build()
        .unwrap();
    let mut worker = start_worker(tmp.path(), &hub.url, true);
    let w: WorkerName = "proj-tm".parse().unwrap();

    // SessionStart: idle, observed (not guessed from the timeline).
    wait_state(&c, &w, IDLE).await;
    let log = standin_log(&worker.log);
    let start = log.iter().find(|e| e["event"] == "start").unwrap();
    let argv: Vec<&str> = start["argv"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let at = argv.iter().position(|a| *a == "--settings").unwrap();
    assert!(argv[at + 1].ends_with("/proj-tm/hooks.json"), "{argv:?}");

    // A channel message opens a turn that shows nothing on screen for 3 s:
    // busy all the same, then idle at Stop.
    c.send(&w, "SLOW 3", None).await.unwrap();
    wait_state(&c, &w, BUSY).await;
    let screen = c.screenshot(&w, None).await.unwrap();
    assert!(
        screen.contains("SLOW 3") && !screen.contains("interrupt"),
        "no spinner: {screen}"
    );
    wait_state(&c, &w, IDLE).await;
    let log = standin_log(&worker.log);
    let replied = log
        .iter()
        .position(|e| e["event"] == "reply_called" && e["text"] == "slow: 3")
        .expect("the slow turn ended with a reply");
    // Every hook ran, exited 0 and printed nothing (stdout would be added
    // to the model's context or decide a permission).
    let runs: Vec<&Value> = log.iter().filter(|e| e["event"] == "hook").collect();
    let names: Vec<&str> = runs.iter().filter_map(|e| e["name"].as_str()).collect();
    for want in [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "Stop",
    ] {
        assert!(names.contains(&want), "{want} not run: {names:?}");
    }
    for r in &runs {
        assert_eq!(r["rc"], 0, "{r}");
        assert_eq!(r["stdout"], "", "{r}");
    }
    assert!(
        log[replied..]
            .iter()
            .any(|e| e["event"] == "hook" && e["name"] == "Stop"),
        "{log:?}"
    );

    // Prompts answered at the terminal: resolved on the hub from the hooks
    // (allowed: the tool's PostToolUse) and from the transcript (refused:
    // no hook runs, as with the real CLI).
    for (command, key, behavior) in [("ls", "1", "allow"), ("make", "2", "deny")] {
        c.send(&w, &format!("RUN {command}"), None).await.unwrap();
        eventually("the prompt on the hub", T, async || {
            let p = c.pending_permissions(Some(&w), false).await.ok()?;
            (!p.is_empty()).then_some(())
        })
        .await;
        assert_eq!(
            state(&c, &w).await.unwrap().0,
            WorkerState::WaitingPermission
        );
        let before = resolved_from_hooks(&worker.manager_log).len();
        c.keystroke(&w, key).await.unwrap();
        eventually("no ghost prompt on the hub", T, async || {
            let p = c.pending_permissions(Some(&w), false).await.ok()?;
            p.is_empty().then_some(())
        })
        .await;
        let lines = resolved_from_hooks(&worker.manager_log);
        assert_eq!(lines.len(), before + 1, "{lines:?}");
        let line = lines.last().unwrap();
        assert!(line.contains(&format!("behavior=\"{behavior}\"")), "{line}");
        // Idle once the turn is over (after a refusal only the transcript
        // tells).
        wait_state(&c, &w, IDLE).await;
    }

    let _ = worker.child.kill().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_hooks_activity_still_comes_from_the_screen() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&tmp.path().join("hub"), SECRET).await;
    let c = Client::builder()
        .url(&hub.url)
        .secret(SECRET)
        .build()
        .unwrap();
    let mut worker = start_worker(tmp.path(), &hub.url, false);
    let w: WorkerName = "proj-tm".parse().unwrap();
    // The screen says idle (the prompt line).
    wait_state(&c, &w, IDLE).await;
    assert!(
        !standin_log(&worker.log)
            .iter()
            .any(|e| e["event"] == "hook"),
        "hooks were off"
    );
    // A turn without a spinner stays unseen: the screen is all there is.
    c.send(&w, "SLOW 4", None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(state(&c, &w).await, Some(IDLE));
    let _ = worker.child.kill().await;
    hub.stop().await;
}
