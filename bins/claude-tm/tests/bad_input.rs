//! What a user sees when something is wrong: one clear line and a non-zero
//! exit when claude-tm cannot go on; a worker that waits for its hub when
//! it can; no process left behind when the launcher is killed.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

const SECRET: &str = "bad-input-secret";

fn claude_tm(dir: &Path) -> tokio::process::Command {
    let project = dir.join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"));
    cmd.current_dir(&project)
        .env_remove("TM_WORKER_NAME")
        .env_remove("TM_FORCE")
        .env("HOME", dir)
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env(
            "TUBEMAIL_CLAUDE_BIN",
            common::script(dir.join("idle-claude"), "#!/bin/sh\nexec cat\n"),
        )
        .env("TUBEMAIL_SECRET", SECRET)
        // A backtrace must never reach the user, even when asked for.
        .env("RUST_BACKTRACE", "1")
        .env("TUBEMAIL_LOG", "error")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs to the end; returns (exit code, stderr, how long it took).
async fn outcome(mut cmd: tokio::process::Command) -> (i32, String, Duration) {
    let t = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("claude-tm gives up instead of hanging")
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err, t.elapsed())
}

fn one_clear_line(err: &str, needle: &str) {
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got: {err}");
    assert!(lines[0].starts_with("claude-tm: "), "{err}");
    assert!(lines[0].contains(needle), "{err}");
    assert!(!err.contains("backtrace"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_one_line_and_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let hub = common::TestHub::start(&dir.path().join("hub"), SECRET).await;

    let mut cmd = claude_tm(dir.path());
    cmd.args(["--hub", &hub.url])
        .env("TM_WORKER_NAME", "bad/name");
    let (code, err, _) = outcome(cmd).await;
    assert_ne!(code, 0);
    one_clear_line(&err, "not a valid worker name");

    let mut cmd = claude_tm(dir.path());
    cmd.args(["--hub", &hub.url])
        .env("TUBEMAIL_CLAUDE_BIN", dir.path().join("no-such-claude"));
    let (code, err, took) = outcome(cmd).await;
    assert_ne!(code, 0);
    one_clear_line(&err, "cannot find claude");
    assert!(took < Duration::from_secs(10), "no retry loop: {took:?}");

    let mut cmd = claude_tm(dir.path());
    cmd.args(["--hub", &hub.url])
        .env("TUBEMAIL_SECRET", "not-the-secret");
    let (code, err, _) = outcome(cmd).await;
    assert_ne!(code, 0);
    one_clear_line(&err, "rejected TUBEMAIL_SECRET");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_before_its_hub_connects_when_it_comes() {
    let dir = tempfile::tempdir().unwrap();
    // Reserve a port, then leave it closed until the hub starts on it.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let mut cmd = claude_tm(dir.path());
    cmd.args(["--hub", &format!("http://{addr}")])
        .stderr(std::process::Stdio::piped());
    let mut worker = cmd.spawn().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        worker.try_wait().unwrap().is_none(),
        "claude-tm keeps running while the hub is away"
    );
    let hub = common::TestHub::start_on(&dir.path().join("hub"), SECRET, &addr).await;
    let engine = hub.state.engine.clone();
    let manager: tubemail_core::WorkerName = "proj-tm-manager".parse().unwrap();
    common::eventually("the manager online", Duration::from_secs(30), async || {
        engine.worker(&manager).filter(|w| w.online).map(drop)
    })
    .await;
    let _ = worker.start_kill();
    hub.stop().await;
}

fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f.first() != Some(&"Z")).then(|| f.get(1)?.parse().ok())?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_launcher_takes_its_manager_and_claude_along() {
    let dir = tempfile::tempdir().unwrap();
    let hub = common::TestHub::start(&dir.path().join("hub"), SECRET).await;
    let pidfile = dir.path().join("claude.pid");
    let claude = common::script(
        dir.path().join("pid-claude"),
        &format!(
            "#!/bin/sh\n[ \"$1\" = --version ] && exit 0\necho $$ > {}\nexec cat\n",
            pidfile.display()
        ),
    );
    let mut cmd = claude_tm(dir.path());
    cmd.args(["--hub", &hub.url])
        .env("TUBEMAIL_CLAUDE_BIN", &claude);
    let mut launcher = cmd.spawn().unwrap();
    let claude_pid: i32 =
        common::eventually("claude started", Duration::from_secs(20), async || {
            std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok()
        })
        .await;
    let manager_pid = ppid(claude_pid).expect("claude runs under the manager");
    launcher.start_kill().unwrap(); // SIGKILL: no chance to clean up
    let _ = launcher.wait().await;
    common::eventually(
        "manager and claude gone",
        Duration::from_secs(20),
        async || (ppid(manager_pid).is_none() && ppid(claude_pid).is_none()).then_some(()),
    )
    .await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_outside_the_supported_range_is_said_once_and_used() {
    let dir = tempfile::tempdir().unwrap();
    let hub = common::TestHub::start(&dir.path().join("hub"), SECRET).await;
    let engine = hub.state.engine.clone();
    let worker: tubemail_core::WorkerName = "proj-tm".parse().unwrap();
    let manager = worker.manager().unwrap();
    for (version, notice) in [
        ("2.1.100", Some("not supported, may not work")),
        (
            "2.9.0",
            Some("newer than the newest tested (2.1.332); claude-tm carries on"),
        ),
        ("2.1.260", None),
    ] {
        let claude = common::script(
            dir.path().join(format!("claude-{version}")),
            &format!(
                "#!/bin/sh\n[ \"$1\" = --version ] && {{ echo '{version} (Claude Code)'; exit 0; }}\n\
                 while IFS= read -r l; do case \"$l\" in *exit*) exit 0;; esac; done\n"
            ),
        );
        let mut cmd = claude_tm(dir.path());
        cmd.args(["--hub", &hub.url])
            .env("TUBEMAIL_CLAUDE_BIN", &claude)
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap();
        // It goes on: claude starts and the worker comes online.
        common::eventually("the manager online", Duration::from_secs(20), async || {
            engine.worker(&manager).filter(|w| w.online).map(drop)
        })
        .await;
        engine
            .control(&worker, &tubemail_core::ManagerCommand::Stop)
            .await
            .unwrap();
        let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{version}");
        let err = String::from_utf8_lossy(&out.stderr);
        let said: Vec<&str> = err.lines().filter(|l| l.contains("Claude Code")).collect();
        match notice {
            Some(text) => {
                assert_eq!(said.len(), 1, "once: {err}");
                assert!(said[0].starts_with("claude-tm: "), "{err}");
                assert!(said[0].contains(version) && said[0].contains(text), "{err}");
            }
            None => assert!(said.is_empty(), "{version} is in range: {err}"),
        }
        common::eventually("the manager offline", Duration::from_secs(10), async || {
            engine.worker(&manager).filter(|w| !w.online).map(drop)
        })
        .await;
    }
    hub.stop().await;
}
