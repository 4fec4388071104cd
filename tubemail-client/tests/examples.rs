//! The examples run against a real hub with simulated workers.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

#[allow(dead_code, reason = "the example's main is not called here")]
#[path = "../examples/fan_out.rs"]
mod fan_out;

#[allow(dead_code, reason = "the example's main is not called here")]
#[path = "../examples/auto_approve.rs"]
mod auto_approve;

use std::time::Duration;

use futures::StreamExt;
use tubemail_client::Client;
use tubemail_core::WorkerName;
use tubemail_hub::{Hub, Options};

const SECRET: &str = "examples-secret";

async fn hub() -> (tempfile::TempDir, tubemail_hub::AppState, Client) {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(Options::new(dir.path(), SECRET)).unwrap();
    let state = hub.state().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(hub.serve(listener, state.shutdown.clone().cancelled_owned()));
    let client = Client::builder().url(url).secret(SECRET).build().unwrap();
    (dir, state, client)
}

/// A worker that answers every message with "<name>: done <message>".
fn simulated_worker(hub: Client, name: WorkerName) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stream = hub.worker_stream(&name, None).await.unwrap();
        while let Some(Ok(ev)) = stream.next().await {
            if ev.event == "channel_event" {
                let text = format!("{name}: done {}", ev.data["content"].as_str().unwrap_or(""));
                tokio::time::sleep(Duration::from_millis(50)).await;
                hub.outbound(&name, &text, None).await.unwrap();
            }
        }
    })
}

#[tokio::test]
async fn fan_out_collects_one_reply_per_worker() {
    let (_dir, state, hub) = hub().await;
    let names: Vec<WorkerName> = ["a-tm", "b-tm", "c-tm"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    let workers: Vec<_> = names
        .iter()
        .map(|n| simulated_worker(hub.clone(), n.clone()))
        .collect();
    let silent: WorkerName = "silent-tm".parse().unwrap();
    let mut all = names.clone();
    all.push(silent);
    let replies = fan_out::run(&hub, "count the files", &all, Duration::from_secs(3))
        .await
        .unwrap();
    for (name, reply) in names.iter().zip(&replies) {
        assert_eq!(
            reply.as_ref().unwrap().content,
            format!("{name}: done count the files")
        );
    }
    assert!(
        replies[3].is_none(),
        "a worker that never answers yields None"
    );
    workers.iter().for_each(|w| w.abort());
    state.shutdown.cancel();
}

#[tokio::test]
async fn auto_approve_allows_only_the_configured_tools() {
    let (_dir, state, hub) = hub().await;
    let w: WorkerName = "perm-tm".parse().unwrap();
    // One prompt is waiting before the approver starts, more come later.
    hub.permission_request(&w, "r1", "Read", "", "")
        .await
        .unwrap();
    let _stream = hub.worker_stream(&w, None).await.unwrap(); // online, so it is listed
    let approver = tokio::spawn({
        let hub = hub.clone();
        async move { auto_approve::run(&hub, &["Read".into(), "Grep".into()], Some(2)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    hub.permission_request(&w, "b1", "Bash", "rm -rf /", "")
        .await
        .unwrap();
    hub.permission_request(&w, "g1", "Grep", "", "")
        .await
        .unwrap();
    let approved = tokio::time::timeout(Duration::from_secs(10), approver)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(approved, 2);
    let left: Vec<String> = hub
        .pending_permissions(Some(&w), true)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.request_id)
        .collect();
    assert_eq!(left, ["b1"], "Bash is left to a human");
    state.shutdown.cancel();
}
