//! Retention on a real SQLite file: trimming by age and by count while
//! writes go on, what is never trimmed, and resuming from a trimmed cursor.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tubemail_core::api::PermissionRequestBody;
use tubemail_core::engine::{Engine, EngineConfig, SettingsPatch};
use tubemail_core::store::SqliteStore;
use tubemail_core::{EventId, EventKind, Meta, WorkerName};

fn open(dir: &Path) -> Engine {
    let store = SqliteStore::open(dir.join("tubemail.db")).unwrap();
    Engine::start(
        Arc::new(store),
        EngineConfig::new(dir.join("hub-config.json")),
    )
    .unwrap()
}

fn w(name: &str) -> WorkerName {
    WorkerName::new(name).unwrap()
}

async fn send(e: &Engine, worker: &str, text: String) -> EventId {
    e.send(&w(worker), text, Meta::new(), None)
        .await
        .unwrap()
        .event_id
}

async fn all_events(e: &Engine, worker: &str) -> Vec<tubemail_core::Event> {
    e.events(&w(worker), None, 10_000, true).await.unwrap()
}

fn ask(id: &str) -> PermissionRequestBody {
    PermissionRequestBody {
        request_id: id.into(),
        tool_name: "Bash".into(),
        ..PermissionRequestBody::default()
    }
}

#[tokio::test]
async fn old_events_go_but_pending_requests_and_the_newest_stay() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    for i in 0..50 {
        send(&e, "a", format!("old{i}")).await;
    }
    e.permission_request(&w("a"), ask("p1")).await.unwrap();
    for i in 0..50 {
        send(&e, "a", format!("old{i}")).await;
    }
    for i in 0..10 {
        send(&e, "b", format!("old{i}")).await;
    }
    e.shutdown().await;
    drop(e);
    // Everything so far is 40 days old.
    rusqlite::Connection::open(dir.path().join("tubemail.db"))
        .unwrap()
        .execute_batch("UPDATE events SET ts = ts - 40 * 86400")
        .unwrap();

    let e = open(dir.path());
    let mut fresh = Vec::new();
    for i in 0..5 {
        fresh.push(send(&e, "a", format!("new{i}")).await);
    }
    // Off by default: nothing goes.
    assert_eq!(e.apply_retention().await.unwrap(), 0);
    e.update_settings(&SettingsPatch {
        retention_max_age_days: Some(30),
        ..SettingsPatch::default()
    })
    .unwrap();
    assert_eq!(e.apply_retention().await.unwrap(), 100 + 9);

    let a = all_events(&e, "a").await;
    assert_eq!(a[0].kind, EventKind::PermissionRequest, "pending kept");
    let kept: Vec<EventId> = a[1..].iter().map(|ev| ev.event_id).collect();
    assert_eq!(kept, fresh);
    let b = all_events(&e, "b").await;
    assert_eq!(b.len(), 1, "a worker's newest event is kept");
    assert_eq!(b[0].content, "old9");
    assert_eq!(e.worker(&w("a")).unwrap().event_count, 6);
    assert_eq!(e.pending_permissions(None, false).len(), 1);
    // Idempotent.
    assert_eq!(e.apply_retention().await.unwrap(), 0);
    e.shutdown().await;
}

#[tokio::test]
async fn count_trim_runs_beside_writes_and_trimmed_cursors_resume_once() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    let mut sent = Vec::new();
    for i in 0..3000 {
        sent.push(send(&e, "a", format!("m{i}")).await);
    }
    let cursor = sent[10];
    e.update_settings(&SettingsPatch {
        retention_max_events_per_worker: Some(100),
        ..SettingsPatch::default()
    })
    .unwrap();
    // Writes go on while retention deletes in batches.
    let writer = {
        let e = e.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..300 {
                ids.push(send(&e, "a", format!("w{i}")).await);
            }
            ids
        })
    };
    let trimmed = e.apply_retention().await.unwrap();
    sent.extend(writer.await.unwrap());
    assert!(trimmed >= 2900, "{trimmed}");
    e.apply_retention().await.unwrap();
    let kept: Vec<EventId> = all_events(&e, "a")
        .await
        .iter()
        .map(|ev| ev.event_id)
        .collect();
    assert_eq!(kept, sent[sent.len() - 100..]);
    e.shutdown().await;
    drop(e);

    // After a restart (nothing in memory), the trimmed cursor is still a
    // valid resume point and the stream gets every kept event once.
    let e = open(dir.path());
    assert!(
        e.events(&w("a"), Some(&cursor.to_string()), 10, true)
            .await
            .is_ok()
    );
    let mut sub = e.subscribe(&w("a"), Some(cursor)).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 100 {
        let batch = tokio::time::timeout(Duration::from_secs(5), sub.next_batch())
            .await
            .unwrap()
            .unwrap();
        got.extend(batch.iter().map(|r| r.event.event_id));
    }
    assert_eq!(got, kept);
    let more = tokio::time::timeout(Duration::from_millis(200), sub.next_batch()).await;
    assert!(more.is_err(), "nothing more: {more:?}");
    // An id that was never an event of this worker is still refused.
    let future = EventId(sent.last().unwrap().0 + 10);
    assert!(e.subscribe(&w("a"), Some(future)).await.is_err());
    drop(sub);
    e.shutdown().await;
}
