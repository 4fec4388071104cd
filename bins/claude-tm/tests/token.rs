//! `claude-tm` with a worker token (`TUBEMAIL_TOKEN`) instead of the shared
//! secret: a real hub, the launcher, its manager and the stand-in claude
//! with our channel. The worker works end to end, the secret never reaches
//! claude's environment, the token cannot act as another worker, and a
//! token for another worker is refused before claude starts.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{TestHub, eventually};
use tubemail_client::core::{EventKind, WorkerName};
use tubemail_client::{Client, Error};
use tubemail_hub::tokens::TokenKind;

const SECRET: &str = "token-test-secret";
const T: Duration = Duration::from_secs(30);

fn launcher(root: &Path, hub_url: &str, token: &str) -> tokio::process::Command {
    let project = root.join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"));
    cmd.current_dir(&project)
        .env("TUBEMAIL_HUB_URL", hub_url)
        .env("TUBEMAIL_TOKEN", token)
        // Also present: it must not reach the manager or claude.
        .env("TUBEMAIL_SECRET", SECRET)
        .env("TUBEMAIL_CLAUDE_BIN", common::standin_claude())
        .env("XDG_RUNTIME_DIR", root.join("run"))
        .env("XDG_STATE_HOME", root.join("state"))
        .env("HOME", root.join("home"))
        .env("STANDIN_LOG", root.join("standin.jsonl"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

async fn token_for(hub: &TestHub, worker: &str) -> String {
    let (_, token) = hub
        .state
        .tokens
        .issue(
            TokenKind::Worker,
            Some(worker.parse().unwrap()),
            "test".into(),
        )
        .await
        .unwrap();
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_token_runs_the_worker_and_only_it() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&tmp.path().join("hub"), SECRET).await;
    let admin = Client::builder()
        .url(&hub.url)
        .secret(SECRET)
        .build()
        .unwrap();
    let token = token_for(&hub, "proj-tm").await;
    let mut child = launcher(tmp.path(), &hub.url, &token)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("claude-tm.log")).unwrap())
        .spawn()
        .unwrap();
    let w: WorkerName = "proj-tm".parse().unwrap();
    let m: WorkerName = "proj-tm-manager".parse().unwrap();
    let summary = eventually("worker and manager online", T, async || {
        let channel = admin.worker(&w).await.ok().filter(|s| s.online)?;
        admin
            .worker(&m)
            .await
            .is_ok_and(|s| s.online)
            .then_some(channel)
    })
    .await;

    // Round trip through the channel, on the token alone.
    admin.send(&w, "hello with a token", None).await.unwrap();
    eventually("the reply", T, async || {
        let evs = admin.events(&w, None, 100).await.ok()?;
        evs.iter()
            .any(|e| e.kind == EventKind::Outbound && e.content == "echo: hello with a token")
            .then_some(())
    })
    .await;

    // claude (and the channel it started) never saw the shared secret.
    let pid = summary.pid.expect("the channel registered its pid");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let vars: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(
        vars.iter().any(|v| *v == format!("TUBEMAIL_TOKEN={token}")),
        "the channel runs on the token"
    );
    assert!(
        !vars.iter().any(|v| v.starts_with("TUBEMAIL_SECRET=")),
        "the secret reached claude's environment"
    );

    // What the worker holds cannot act as another worker.
    let as_worker = Client::builder()
        .url(&hub.url)
        .secret(&token)
        .build()
        .unwrap();
    let other: WorkerName = "other".parse().unwrap();
    let reg = tubemail_client::core::api::RegisterRequest {
        cwd: "/".into(),
        pid: None,
        forwarder_version: None,
        permission_mode: None,
    };
    assert!(as_worker.register(&other, &reg).await.is_err());
    assert!(as_worker.send(&other, "x", None).await.is_err());
    assert!(as_worker.workers().await.is_err());
    assert!(matches!(
        admin.worker(&other).await,
        Err(Error::NotFound(_))
    ));

    // Revoked: the next request of the worker is refused.
    let id = hub.state.tokens.list()[0].id.clone();
    hub.state.tokens.revoke(&id).await.unwrap();
    assert!(matches!(
        as_worker.whoami().await,
        Err(Error::Unauthorized(_))
    ));

    let _ = child.kill().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_another_worker_is_refused_before_claude_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&tmp.path().join("hub"), SECRET).await;
    let token = token_for(&hub, "someone-else").await;
    let out = tokio::time::timeout(
        T,
        launcher(tmp.path(), &hub.url, &token)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TUBEMAIL_TOKEN is worker \"someone-else\"")
            && err.contains("not a token for worker \"proj-tm\""),
        "{err}"
    );
    assert!(!err.contains(&token) && !err.contains(SECRET), "{err}");
    assert!(std::fs::read_to_string(tmp.path().join("standin.jsonl")).is_err());
    hub.stop().await;
}
