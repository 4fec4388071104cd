//! The CLI against a real hub.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tubemail_hub::{Hub, Options};

const SECRET: &str = "cli-test-secret";

fn tubemail(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tubemail"))
        .args(args)
        .env("TUBEMAIL_HUB_URL", url)
        .env("TUBEMAIL_SECRET", SECRET)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn text(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_commands_against_a_real_hub() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(Options::new(dir.path(), SECRET)).unwrap();
    let state = hub.state().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(hub.serve(listener, state.shutdown.clone().cancelled_owned()));
    let u = url.clone();
    let run = move |args: &'static [&'static str]| {
        let u = u.clone();
        tokio::task::spawn_blocking(move || tubemail(&u, args))
    };

    // A live tail sees what follows.
    let mut tail = Command::new(env!("CARGO_BIN_EXE_tubemail"))
        .args(["tail", "--json"])
        .env("TUBEMAIL_HUB_URL", &url)
        .env("TUBEMAIL_SECRET", SECRET)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A name the hub does not know is refused (a typo reaches nobody),
    // and leaves no worker behind...
    let typo = run(&["send", "nosuch-tm", "hi"]).await.unwrap();
    assert!(!typo.status.success());
    let why = String::from_utf8_lossy(&typo.stderr);
    assert!(
        why.contains("no worker named nosuch-tm") && why.contains("--queue"),
        "{why}"
    );
    assert!(state.engine.worker(&"nosuch-tm".parse().unwrap()).is_none());
    // ...unless it is queued for a worker that has not started yet.
    let sent = json(
        &run(&["send", "proj-tm", "hello there", "--queue", "--json"])
            .await
            .unwrap(),
    );
    assert_eq!(sent["routed_to"], "worker (tubemail channel)");
    assert_eq!(sent["queued"], true);
    let again = json(
        &run(&["send", "proj-tm", "x", "--key", "k", "--json"])
            .await
            .unwrap(),
    );
    let dup = text(&run(&["send", "proj-tm", "x", "--key", "k"]).await.unwrap());
    assert!(
        dup.contains(again["event_id"].as_str().unwrap()) && dup.contains("already sent"),
        "{dup}"
    );

    let events = json(&run(&["receive", "proj-tm", "--json"]).await.unwrap());
    assert_eq!(events[0]["content"], "hello there");
    let listing = text(&run(&["receive", "proj-tm"]).await.unwrap());
    assert!(
        listing.contains("inbound") && listing.contains("hello there"),
        "{listing}"
    );
    let workers = text(&run(&["workers"]).await.unwrap());
    assert!(
        workers.contains("proj-tm") && workers.contains("busy"),
        "{workers}"
    );
    let status = text(&run(&["status", "proj-tm"]).await.unwrap());
    assert!(
        status.contains("busy") && status.contains("a message has no reply yet"),
        "{status}"
    );

    state
        .engine
        .permission_request(
            &"proj-tm".parse().unwrap(),
            tubemail_core::api::PermissionRequestBody {
                request_id: "perm7".into(),
                tool_name: "Bash".into(),
                description: "rm -rf build".into(),
                input_preview: String::new(),
            },
        )
        .await
        .unwrap();
    let pending = text(&run(&["permissions", "--all"]).await.unwrap());
    assert!(
        pending.contains("perm7") && pending.contains("rm -rf build"),
        "{pending}"
    );
    assert!(text(&run(&["allow", "proj-tm", "perm7"]).await.unwrap()).contains("allow perm7"));
    let again = run(&["deny", "proj-tm", "perm7"]).await.unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not pending"));

    // Typed failures read as advice.
    let bad = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_tubemail"))
                .args(["workers"])
                .env("TUBEMAIL_HUB_URL", &url)
                .env("TUBEMAIL_SECRET", "wrong")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("TUBEMAIL_SECRET"));
    let invalid = run(&["send", "../etc", "x"]).await.unwrap();
    assert!(!invalid.status.success());

    let stdout = tail.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("permission_response"))
            .collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(Duration::from_secs(10), lines)
        .await
        .unwrap()
        .unwrap();
    let _ = tail.kill();
    let _ = tail.wait();
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["event"], "channel_event");
    assert_eq!(first["data"]["content"], "hello there");
    assert_eq!(first["id"], sent["event_id"]);

    state.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}

/// A message the worker cannot have yet is stored, said to be queued on
/// stderr, and `--strict` makes that exit 3; a worker that is there gets
/// it with exit 0 either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_queued_is_said_and_strict_exits_3() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(Options::new(dir.path(), SECRET)).unwrap();
    let state = hub.state().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(hub.serve(listener, state.shutdown.clone().cancelled_owned()));
    let send = |args: &[&str]| {
        let (u, args) = (
            url.clone(),
            args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
        );
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            tubemail(&u, &args)
        })
    };

    let queued = send(&["send", "later-tm", "hi", "--queue"]).await.unwrap();
    assert_eq!(queued.status.code(), Some(0));
    let warned = String::from_utf8_lossy(&queued.stderr);
    assert!(
        warned.contains("warning: no worker named later-tm has registered")
            && warned.contains("queued"),
        "{warned}"
    );
    let strict = send(&["send", "later-tm", "again", "--queue", "--strict", "--json"])
        .await
        .unwrap();
    assert_eq!(strict.status.code(), Some(3), "{strict:?}");
    let receipt: Value = serde_json::from_slice(&strict.stdout).unwrap();
    assert_eq!(receipt["queued"], true);
    assert!(receipt["event_id"].is_string());
    assert!(
        receipt["queued_reason"]
            .as_str()
            .unwrap()
            .contains("has registered"),
        "{receipt}"
    );
    // Without --queue a name the hub does not know is still refused (1).
    let refused = send(&["send", "typo-tm", "x", "--strict"]).await.unwrap();
    assert_eq!(refused.status.code(), Some(1));

    // Online (registered, its stream open): delivered, exit 0, no warning.
    let c = tubemail_client::Client::builder()
        .url(&url)
        .secret(SECRET)
        .build()
        .unwrap();
    let w: tubemail_core::WorkerName = "later-tm".parse().unwrap();
    let reg = tubemail_core::api::RegisterRequest {
        cwd: "/work/later".into(),
        pid: Some(1),
        forwarder_version: None,
        permission_mode: None,
    };
    c.register(&w, &reg).await.unwrap();
    let mut stream = c.worker_stream(&w, None).await.unwrap();
    let drain = tokio::spawn(async move { while stream.next().await.is_some() {} });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !state.engine.worker(&w).is_some_and(|s| s.online) {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker comes online"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = send(&["send", "later-tm", "now", "--strict", "--json"])
        .await
        .unwrap();
    assert_eq!(delivered.status.code(), Some(0), "{delivered:?}");
    let receipt: Value = serde_json::from_slice(&delivered.stdout).unwrap();
    assert_eq!(receipt["queued"], false);
    assert!(receipt["queued_reason"].is_null());
    assert!(delivered.stderr.is_empty(), "{delivered:?}");
    drain.abort();

    state.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
