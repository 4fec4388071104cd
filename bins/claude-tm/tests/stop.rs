//! A stop or restart ends claude even when claude ignores `/exit`: after
//! the grace period (`TM_STOP_GRACE_S`, here 2 s) its process group gets
//! SIGTERM, 3 s later SIGKILL, and nothing of the worker is left.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tubemail_core::WorkerName;

const SECRET: &str = "stop-test-secret";
const GRACE: Duration = Duration::from_secs(2);
/// The manager's wait between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);
/// What the issue allows: nothing left this long after the request.
const LEFT_BY: Duration = Duration::from_secs(2 + 5);

/// A CLI that never leaves on its own (but answers `--version`, which the
/// launcher asks): it reads lines forever (a typed
/// `/exit` included; each goes to `<name>.typed`), with a child of its own
/// in its process group that keeps the terminal open. `before` runs first
/// (`trap '' TERM` ignores SIGTERM; the child inherits that), `screen` is
/// what it shows.
fn deaf_claude(dir: &Path, name: &str, before: &str, screen: &str) -> PathBuf {
    let pids = dir.join(format!("{name}.pids"));
    let typed = dir.join(format!("{name}.typed"));
    common::script(
        dir.join(name),
        &format!(
            "#!/bin/sh\n[ \"$1\" = --version ] && {{ echo '2.1.332 (Claude Code)'; exit 0; }}\n\
             {before}\nsleep 1000 &\necho \"$$ $!\" > {pids}.tmp && mv {pids}.tmp {pids}\n\
             printf '{screen}'\n\
             while :; do IFS= read -r line; printf '%s\\n' \"$line\" >> {typed}; done\n",
            pids = pids.display(),
            typed = typed.display(),
        ),
    )
}

/// Whether `/exit` reached the CLI.
fn got_exit(claude: &Path) -> bool {
    std::fs::read_to_string(claude.with_extension("typed")).is_ok_and(|t| t.contains("/exit"))
}

/// A permission prompt as claude draws it: typed text would answer it, so
/// the manager types nothing while it is open, and this one never closes.
const PROMPT_SCREEN: &str = "● Bash(echo hi)\\n────────────\\n Bash command\\n\\n   echo hi\\n\\n \
     Do you want to proceed?\\n ❯ 1. Yes\\n   2. No\\n\\n Esc to cancel\\n";

/// Processes, not zombies, whose process group is `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let f: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            f.first().is_some_and(|s| *s != "Z" && *s != "X")
                && f.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
        })
        .collect()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with(['Z', 'X'])
    })
}

struct Setup {
    dir: tempfile::TempDir,
    hub: common::TestHub,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    let hub = common::TestHub::start(&dir.path().join("hub"), SECRET).await;
    Setup { dir, hub }
}

impl Setup {
    /// `claude-tm <args>` in `<tmp>/proj` with `claude` as the CLI.
    fn claude_tm(&self, claude: &Path, args: &[&str]) -> tokio::process::Command {
        let root = self.dir.path();
        let project = root.join("proj");
        std::fs::create_dir_all(&project).unwrap();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"));
        cmd.args(args)
            .current_dir(&project)
            .env_remove("TM_FORCE")
            .env_remove("TM_STOP_GRACE_S")
            .env("TUBEMAIL_HUB_URL", &self.hub.url)
            .env("TUBEMAIL_SECRET", SECRET)
            .env("TM_WORKER_NAME", "proj-tm")
            .env("TUBEMAIL_CLAUDE_BIN", claude)
            .env("HOME", root)
            .env("XDG_RUNTIME_DIR", root.join("run"))
            .env("XDG_STATE_HOME", root.join("state"))
            .env("TUBEMAIL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Waits for claude's pid and its child's, once the manager is online.
    async fn started(&self, pids: &Path) -> (i32, i32) {
        let engine = self.hub.state.engine.clone();
        let mgr: WorkerName = "proj-tm-manager".parse().unwrap();
        common::eventually("the manager online", Duration::from_secs(20), async || {
            engine.worker(&mgr).filter(|w| w.online).map(drop)
        })
        .await;
        common::eventually("claude's pids", Duration::from_secs(20), async || {
            let text = std::fs::read_to_string(pids).ok()?;
            let mut it = text.split_whitespace().map(|p| p.parse::<i32>().ok());
            Some((it.next()??, it.next()??))
        })
        .await
    }

    async fn control(&self, kind: &str) {
        let worker: WorkerName = "proj-tm".parse().unwrap();
        self.hub
            .state
            .engine
            .control(
                &worker,
                &tubemail_core::ManagerCommand::parse(kind).unwrap(),
            )
            .await
            .unwrap();
    }
}

/// Runs claude-tm (`args`) with `claude`, sends `kind`, and checks that
/// claude-tm exits with `code` within the allowance, claude and its child
/// gone with it. Returns how long the exit took.
async fn stop_ignored(
    s: &Setup,
    claude: &Path,
    args: &[&str],
    grace_env: bool,
    kind: &str,
    code: i32,
) -> Duration {
    let mut cmd = s.claude_tm(claude, args);
    if grace_env {
        cmd.env("TM_STOP_GRACE_S", GRACE.as_secs().to_string());
    }
    let mut child = cmd.spawn().unwrap();
    let pids = claude.with_extension("pids");
    let (claude_pid, sleep_pid) = s.started(&pids).await;
    assert!(alive(claude_pid) && alive(sleep_pid));
    assert_eq!(group_members(claude_pid).len(), 2, "claude and its child");

    let asked = Instant::now();
    s.control(kind).await;
    let status = tokio::time::timeout(LEFT_BY, child.wait())
        .await
        .unwrap_or_else(|_| panic!("claude-tm still running {LEFT_BY:?} after {kind}"))
        .unwrap();
    let took = asked.elapsed();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = e.read_to_string(&mut err).await;
    }
    assert_eq!(
        status.code(),
        Some(code),
        "{kind}: {status:?}; stderr: {err}"
    );
    let rest = LEFT_BY.saturating_sub(took);
    common::eventually("nothing of the worker left", rest, async || {
        (!alive(claude_pid) && !alive(sleep_pid) && group_members(claude_pid).is_empty())
            .then_some(())
    })
    .await;
    // It took the grace period: claude really ignored `/exit`.
    assert!(took >= GRACE, "{kind} after {took:?}");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_that_ignores_exit_is_terminated_after_the_grace_period() {
    let s = setup().await;
    let claude = deaf_claude(s.dir.path(), "deaf-claude", "", "READY> ");
    let took = stop_ignored(&s, &claude, &["manager"], true, "force_stop", 0).await;
    assert!(got_exit(&claude), "/exit was typed, and ignored");
    assert!(took < GRACE + TERM_GRACE, "SIGTERM was enough: {took:?}");
    s.hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_that_ignores_sigterm_too_is_killed() {
    let s = setup().await;
    let claude = deaf_claude(s.dir.path(), "stubborn-claude", "trap '' TERM", "READY> ");
    let took = stop_ignored(&s, &claude, &["manager"], true, "force_stop", 0).await;
    assert!(got_exit(&claude));
    assert!(took >= GRACE + TERM_GRACE, "it took SIGKILL: {took:?}");
    s.hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_a_deaf_cli_still_exits_for_a_restart() {
    let s = setup().await;
    let claude = deaf_claude(s.dir.path(), "deaf-claude", "", "READY> ");
    stop_ignored(&s, &claude, &["manager"], true, "force_restart", 42).await;
    assert!(got_exit(&claude));
    s.hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_does_not_wait_for_a_prompt_that_never_closes() {
    // The manager waits up to 30 s for the prompt to close before it types
    // `/exit`; the stop's deadline does not wait for the typing.
    let s = setup().await;
    let claude = deaf_claude(s.dir.path(), "prompt-claude", "", PROMPT_SCREEN);
    stop_ignored(&s, &claude, &["manager"], true, "force_stop", 0).await;
    assert!(!got_exit(&claude), "/exit is never typed into the prompt");
    s.hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_launchers_stop_grace_reaches_the_manager() {
    let s = setup().await;
    let claude = deaf_claude(s.dir.path(), "deaf-claude", "", "READY> ");
    let grace = GRACE.as_secs().to_string();
    let took = stop_ignored(
        &s,
        &claude,
        &["--stop-grace", &grace],
        false,
        "force_stop",
        0,
    )
    .await;
    assert!(got_exit(&claude));
    assert!(took < GRACE + TERM_GRACE, "{took:?}");
    s.hub.stop().await;
}

/// A dialog claude-tm does not know: reported to the hub as `blocked` with
/// the screen's lines, never typed into, and a stop still stops.
const UNKNOWN_SCREEN: &str = " Choose the text style that looks best with your terminal\\n\\n \
     ❯ 1. Dark mode\\n   2. Light mode\\n\\n Enter to confirm · Esc to cancel\\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_dialog_is_reported_blocked_and_never_typed_into() {
    use tubemail_core::{StateSignal, WorkerState};
    let s = setup().await;
    let claude = deaf_claude(s.dir.path(), "theme-claude", "", UNKNOWN_SCREEN);
    let mut child = s
        .claude_tm(&claude, &["manager"])
        .env("TM_STOP_GRACE_S", GRACE.as_secs().to_string())
        .spawn()
        .unwrap();
    s.started(&claude.with_extension("pids")).await;
    let worker: WorkerName = "proj-tm".parse().unwrap();
    let engine = s.hub.state.engine.clone();
    // A harness command the manager would type: it waits instead.
    engine
        .send(&worker, "/compact".into(), Default::default(), None)
        .await
        .unwrap();
    let status = common::eventually(
        "the worker reported blocked",
        Duration::from_secs(15 + 10),
        async || {
            let st = engine.status(&worker);
            (st.state_reason.signal == StateSignal::Blocked).then_some(st)
        },
    )
    .await;
    assert_eq!(status.state, WorkerState::Busy);
    let detail = status.state_reason.detail.unwrap();
    assert!(
        detail.contains("Light mode") && detail.contains("Enter to confirm"),
        "{detail}"
    );
    // A message for the worker is stored, with a warning.
    let receipt = engine
        .send(&worker, "hello".into(), Default::default(), None)
        .await
        .unwrap();
    assert!(receipt.warning.unwrap().contains("blocked"));
    assert!(
        !claude.with_extension("typed").exists(),
        "nothing is typed into a dialog claude-tm does not know"
    );
    s.control("force_stop").await;
    let status = tokio::time::timeout(LEFT_BY, child.wait())
        .await
        .expect("a stop ends a blocked worker")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    s.hub.stop().await;
}
