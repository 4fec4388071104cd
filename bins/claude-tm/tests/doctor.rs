//! `claude-tm doctor` as a user runs it, in an environment the test
//! controls (nothing inherited): a stand-in claude that prints a version,
//! a real hub, `.env` files and a managed-settings file. Each failure it
//! detects is shown as the one `FAIL` line, with its fix, and a non-zero
//! exit; everything else stays `ok`.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::TestHub;
use tubemail_hub::tokens::TokenKind;

const SECRET: &str = "doctor-test-secret";

/// A project directory with a stand-in `claude` on `PATH`.
struct Case {
    root: tempfile::TempDir,
    project: PathBuf,
    bin: PathBuf,
}

impl Case {
    fn new(version: &str) -> Case {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("proj");
        let bin = root.path().join("bin");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        common::script(
            bin.join("claude"),
            &format!("#!/bin/sh\n[ \"$1\" = --version ] && echo '{version} (Claude Code)'\n"),
        );
        Case { root, project, bin }
    }

    /// `claude-tm doctor` with only these variables (and `PATH`, `HOME`,
    /// a managed-settings path that does not exist).
    fn doctor(&self, hub_url: &str, env: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"));
        cmd.arg("doctor")
            .current_dir(&self.project)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("HOME", self.root.path())
            .env(
                "TM_MANAGED_SETTINGS",
                self.root.path().join("no-managed-settings.json"),
            )
            .env("TUBEMAIL_HUB_URL", hub_url)
            .env("TUBEMAIL_SECRET", SECRET)
            .env("TUBEMAIL_LOG", "off")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }
}

/// What doctor printed: its exit code and check lines (`(verdict, what,
/// text)`), after checking the summary line.
async fn run(mut cmd: tokio::process::Command) -> (i32, Vec<(String, String, String)>) {
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("doctor finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code().unwrap_or(-1);
    let mut lines: Vec<&str> = stdout.lines().collect();
    let summary = lines.pop().unwrap_or_default();
    let checks: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            let (verdict, rest) = l.split_once(' ').unwrap();
            let (what, text) = rest.trim_start().split_once(": ").unwrap();
            (verdict.to_owned(), what.to_owned(), text.to_owned())
        })
        .collect();
    let failed = checks.iter().filter(|c| c.0 == "FAIL").count();
    if failed == 0 {
        assert_eq!(summary, "claude-tm doctor: all checks passed", "{stdout}");
        assert_eq!(code, 0, "{stdout}");
    } else {
        assert!(
            summary.starts_with(&format!("claude-tm doctor: {failed} of ")),
            "{stdout}"
        );
        assert_eq!(code, 1, "{stdout}");
    }
    let whats: Vec<&str> = checks.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(
        whats[..6],
        ["claude", "channels", "provider", "policy", "worker", "hub"],
        "{stdout}"
    );
    (code, checks)
}

/// Exactly one check failed, `what`, saying `needles`; the others are ok
/// (or skipped, in `skipped`).
fn only_failure(
    checks: &[(String, String, String)],
    what: &str,
    needles: &[&str],
    skipped: &[&str],
) {
    let all = format!("{checks:#?}");
    for (verdict, w, text) in checks {
        if w == what {
            assert_eq!(verdict, "FAIL", "{all}");
            for n in needles {
                assert!(text.contains(n), "{what} says {n:?}: {all}");
            }
        } else if skipped.contains(&w.as_str()) {
            assert_eq!(verdict, "skip", "{all}");
        } else {
            assert_eq!(verdict, "ok", "{all}");
        }
    }
    assert!(checks.iter().any(|c| c.1 == what), "{all}");
}

fn text_of<'a>(checks: &'a [(String, String, String)], what: &str) -> &'a str {
    &checks.iter().find(|c| c.1 == what).unwrap().2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_good_and_newer_than_tested() {
    let hub_dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start(hub_dir.path(), SECRET).await;
    let case = Case::new("2.1.332");
    let (code, checks) = run(case.doctor(&hub.url, &[])).await;
    assert_eq!(code, 0);
    assert!(checks.iter().all(|c| c.0 == "ok"), "{checks:#?}");
    let claude = text_of(&checks, "claude");
    assert_eq!(
        claude,
        format!("2.1.332 at {}", case.bin.join("claude").display())
    );
    assert_eq!(text_of(&checks, "worker"), "proj-tm");
    assert!(text_of(&checks, "hub").contains(&hub.url), "{checks:#?}");
    assert!(text_of(&checks, "secret").contains("accepts TUBEMAIL_SECRET"));

    // Newer than tested: said, and still a pass.
    let newer = Case::new("2.9.0");
    let (code, checks) = run(newer.doctor(&hub.url, &[])).await;
    assert_eq!(code, 0);
    assert_eq!(checks[0].0, "warn", "{checks:#?}");
    assert!(
        checks[0]
            .2
            .contains("newer than the newest tested (2.1.332)")
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_too_old_or_missing() {
    let hub_dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start(hub_dir.path(), SECRET).await;
    let old = Case::new("2.1.100");
    let (_, checks) = run(old.doctor(&hub.url, &[])).await;
    only_failure(
        &checks,
        "claude",
        &["2.1.100", "older than 2.1.197", "npm install -g"],
        &[],
    );

    let missing = old.root.path().join("no-such-claude");
    let (_, checks) = run(old.doctor(
        &hub.url,
        &[("TUBEMAIL_CLAUDE_BIN", missing.to_str().unwrap())],
    ))
    .await;
    only_failure(
        &checks,
        "claude",
        &["cannot find claude", "set TUBEMAIL_CLAUDE_BIN"],
        &[],
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_that_turn_channels_off() {
    let hub_dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start(hub_dir.path(), SECRET).await;
    let case = Case::new("2.1.197");

    // A blocker in the project's .env counts: the launcher passes it on.
    std::fs::write(case.project.join(".env"), "DISABLE_TELEMETRY=1\n").unwrap();
    let (_, checks) = run(case.doctor(&hub.url, &[])).await;
    only_failure(
        &checks,
        "channels",
        &["DISABLE_TELEMETRY is set", "unset it"],
        &[],
    );
    std::fs::remove_file(case.project.join(".env")).unwrap();

    let (_, checks) = run(case.doctor(&hub.url, &[("CLAUDE_CODE_USE_BEDROCK", "1")])).await;
    only_failure(
        &checks,
        "provider",
        &["CLAUDE_CODE_USE_BEDROCK=1", "unset it"],
        &[],
    );

    let policy = case.root.path().join("managed-settings.json");
    std::fs::write(&policy, r#"{"channelsEnabled": false}"#).unwrap();
    let (_, checks) = run(case.doctor(
        &hub.url,
        &[("TM_MANAGED_SETTINGS", policy.to_str().unwrap())],
    ))
    .await;
    only_failure(
        &checks,
        "policy",
        &["channelsEnabled", "ask whoever manages this machine"],
        &[],
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hub_a_wrong_secret_or_token_and_no_credential() {
    let case = Case::new("2.1.332");
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (_, checks) = run(case.doctor(&closed, &[])).await;
    only_failure(
        &checks,
        "hub",
        &[&format!("no hub at {closed}"), "tubemail-hub"],
        &["secret"],
    );

    let hub_dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start(hub_dir.path(), SECRET).await;
    let (_, checks) = run(case.doctor(&hub.url, &[("TUBEMAIL_SECRET", "not-it")])).await;
    only_failure(
        &checks,
        "secret",
        &["rejected TUBEMAIL_SECRET", "data dir"],
        &[],
    );

    let (_, token) = hub
        .state
        .tokens
        .issue(
            TokenKind::Worker,
            Some("other-tm".parse().unwrap()),
            "test".into(),
        )
        .await
        .unwrap();
    let (_, checks) = run(case.doctor(&hub.url, &[("TUBEMAIL_TOKEN", &token)])).await;
    only_failure(
        &checks,
        "token",
        &["worker \"other-tm\"", "not a token for worker \"proj-tm\""],
        &[],
    );

    let mut no_secret = case.doctor(&hub.url, &[]);
    no_secret.env_remove("TUBEMAIL_SECRET");
    let (_, checks) = run(no_secret).await;
    only_failure(
        &checks,
        "secret",
        &["no TUBEMAIL_TOKEN or TUBEMAIL_SECRET"],
        &[],
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_worker_name() {
    let hub_dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start(hub_dir.path(), SECRET).await;
    let case = Case::new("2.1.332");
    let (_, checks) = run(case.doctor(&hub.url, &[("TM_WORKER_NAME", "bad/name")])).await;
    only_failure(
        &checks,
        "worker",
        &["\"bad/name\" is not a valid worker name", "TM_WORKER_NAME"],
        &[],
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_hub_needs_no_configured_secret() {
    let hub_dir = tempfile::tempdir().unwrap();
    std::fs::write(hub_dir.path().join("secret"), format!("{SECRET}\n")).unwrap();
    let hub = TestHub::start(hub_dir.path(), SECRET).await;
    let case = Case::new("2.1.332");
    let data_dir = hub_dir.path().to_str().unwrap();
    let mut found = case.doctor(&hub.url, &[("TUBEMAIL_DATA_DIR", data_dir)]);
    found.env_remove("TUBEMAIL_SECRET");
    let (code, checks) = run(found).await;
    assert_eq!(code, 0, "{checks:#?}");
    let said = text_of(&checks, "secret");
    assert!(
        said.contains(&format!("{data_dir}/secret")) && !said.contains(SECRET),
        "{said}"
    );

    // XDG_DATA_HOME leads there too; a hub elsewhere never gets the file's
    // secret (nor is it looked for).
    let xdg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(xdg.path().join("tubemail")).unwrap();
    std::fs::write(xdg.path().join("tubemail/secret"), SECRET).unwrap();
    let mut found = case.doctor(&hub.url, &[("XDG_DATA_HOME", xdg.path().to_str().unwrap())]);
    found.env_remove("TUBEMAIL_SECRET");
    assert_eq!(run(found).await.0, 0);
    let elsewhere = hub.url.replace("127.0.0.1", "127.0.0.1.nip.invalid");
    let mut not_local = case.doctor(&elsewhere, &[("TUBEMAIL_DATA_DIR", data_dir)]);
    not_local.env_remove("TUBEMAIL_SECRET");
    let (_, checks) = run(not_local).await;
    let said = text_of(&checks, "secret");
    assert!(
        said.contains("no TUBEMAIL_TOKEN or TUBEMAIL_SECRET") && !said.contains(data_dir),
        "{said}"
    );
    hub.stop().await;
}
