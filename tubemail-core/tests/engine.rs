//! The engine on a real SQLite file: restarts, permissions, delivery,
//! idempotency, waits and refusal of databases it must not touch.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tubemail_core::ManagerCommand;
use tubemail_core::api::PermissionRequestBody;
use tubemail_core::engine::{Engine, EngineConfig, Registration};
use tubemail_core::store::{SqliteStore, StoreError};
use tubemail_core::{Behavior, EventId, EventKind, FlowName, Meta, WorkerName, WorkerState};

fn open(dir: &Path, config: impl FnOnce(&mut EngineConfig)) -> Engine {
    let store = SqliteStore::open(dir.join("tubemail.db")).unwrap();
    let mut cfg = EngineConfig::new(dir.join("hub-config.json"));
    config(&mut cfg);
    Engine::start(Arc::new(store), cfg).unwrap()
}

fn w(name: &str) -> WorkerName {
    WorkerName::new(name).unwrap()
}

fn reg(pid: Option<i64>) -> Registration {
    Registration {
        cwd: "/p".into(),
        pid,
        forwarder_version: None,
        permission_mode: None,
    }
}

fn ask(id: &str) -> PermissionRequestBody {
    PermissionRequestBody {
        request_id: id.into(),
        tool_name: "Bash".into(),
        ..PermissionRequestBody::default()
    }
}

#[tokio::test]
async fn a_restart_keeps_timelines_permissions_and_flows() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), |_| {});
    e.register(&w("a"), reg(Some(10))).await.unwrap();
    let first = e
        .send(&w("a"), "one".into(), Meta::new(), None)
        .await
        .unwrap();
    e.outbound(&w("a"), "reply".into(), Meta::new())
        .await
        .unwrap();
    e.permission_request(&w("a"), ask("p1")).await.unwrap();
    e.save_flow(
        FlowName::new("f").unwrap(),
        "body".into(),
        None,
        Meta::new(),
    )
    .await
    .unwrap();
    e.shutdown().await;
    drop(e);

    let e = open(dir.path(), |_| {});
    let events = e.events(&w("a"), None, 100, true).await.unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Inbound,
            EventKind::Outbound,
            EventKind::PermissionRequest
        ]
    );
    assert_eq!(events[0].event_id, first.event_id);
    assert_eq!(e.pending_permissions(None, false).len(), 1);
    assert_eq!(e.status(&w("a")).state, WorkerState::WaitingPermission);
    assert_eq!(e.flows().len(), 1);
    // Timeline figures come from the events, not from a row rewritten per event.
    let st = e.status(&w("a"));
    assert_eq!(
        (st.event_count, st.last_event_id),
        (3, Some(events[2].event_id))
    );
    e.send(&w("b"), "x".into(), Meta::new(), None)
        .await
        .unwrap();
    e.send(&w("b"), "y".into(), Meta::new(), None)
        .await
        .unwrap();
    e.shutdown().await;
    drop(e);
    let e = open(dir.path(), |_| {});
    let b = e.status(&w("b"));
    assert_eq!((b.event_count, b.state), (2, WorkerState::Busy));
    // Ids keep increasing after the restart.
    let next = e
        .send(&w("a"), "two".into(), Meta::new(), None)
        .await
        .unwrap();
    assert!(next.event_id > events[2].event_id);
    e.shutdown().await;
}

#[tokio::test]
async fn pending_permissions_survive_the_same_process_only() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), |_| {});
    e.register(&w("a"), reg(Some(10))).await.unwrap();
    e.permission_request(&w("a"), ask("p1")).await.unwrap();
    // Same pid, or an unknown pid (the original channel sends none): kept.
    e.register(&w("a"), reg(Some(10))).await.unwrap();
    e.register(&w("a"), reg(None)).await.unwrap();
    assert_eq!(e.pending_permissions(Some(&w("a")), false).len(), 1);
    // A request posted twice is one prompt.
    e.permission_request(&w("a"), ask("p1")).await.unwrap();
    assert_eq!(e.pending_permissions(Some(&w("a")), false).len(), 1);
    // A different process cannot answer the old prompt.
    e.register(&w("a"), reg(Some(11))).await.unwrap();
    assert!(e.pending_permissions(Some(&w("a")), false).is_empty());
    e.shutdown().await;
}

#[tokio::test]
async fn resolve_and_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), |c| c.sweep_grace = Duration::ZERO);
    e.permission_request(&w("a"), ask("p1")).await.unwrap();
    e.permission_request(&w("a"), ask("p2")).await.unwrap();
    assert!(
        e.resolve_permission(&w("a"), "p1", Behavior::Deny)
            .await
            .unwrap()
    );
    assert!(
        !e.resolve_permission(&w("a"), "p1", Behavior::Deny)
            .await
            .unwrap()
    );
    assert!(
        !e.resolve_permission(&w("nobody"), "p1", Behavior::Allow)
            .await
            .unwrap()
    );
    let last = e.events(&w("a"), None, 1, true).await.unwrap().remove(0);
    assert_eq!(
        (last.kind, last.content.as_str()),
        (EventKind::PermissionResponse, "deny")
    );
    // p2 was asked before that response: proven answered.
    let swept = e.sweep_permissions(None).await.unwrap();
    assert_eq!(swept.get(&w("a")), Some(&1));
    assert!(e.pending_permissions(None, false).is_empty());
    // A reply sweeps automatically.
    e.permission_request(&w("a"), ask("p3")).await.unwrap();
    e.outbound(&w("a"), "done".into(), Meta::new())
        .await
        .unwrap();
    assert!(e.pending_permissions(None, false).is_empty());
    e.shutdown().await;
}

#[tokio::test]
async fn a_subscriber_far_behind_reads_on_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), |_| {});
    let mut sub = e.subscribe(&w("a"), None).await.unwrap();
    let mut sent = Vec::new();
    for i in 0..300 {
        sent.push(
            e.send(&w("a"), format!("m{i}"), Meta::new(), None)
                .await
                .unwrap()
                .event_id,
        );
        // Not delivered to the worker: must not show up on its stream.
        e.outbound(&w("a"), "noise".into(), Meta::new())
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 300 {
        let batch = tokio::time::timeout(Duration::from_secs(5), sub.next_batch())
            .await
            .unwrap()
            .unwrap();
        got.extend(batch.iter().map(|r| r.event.event_id));
    }
    assert_eq!(got, sent);
    drop(sub);
    e.shutdown().await;
}

#[tokio::test]
async fn idempotency_keys_hold_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), |_| {});
    let a = e
        .send(&w("a"), "x".into(), Meta::new(), Some("k".into()))
        .await
        .unwrap();
    e.shutdown().await;
    drop(e);
    let e = open(dir.path(), |_| {});
    let b = e
        .send(&w("a"), "x".into(), Meta::new(), Some("k".into()))
        .await
        .unwrap();
    assert_eq!(
        (a.event_id, a.duplicate, b.duplicate),
        (b.event_id, false, true)
    );
    // Keys are per worker.
    let c = e
        .send(&w("b"), "x".into(), Meta::new(), Some("k".into()))
        .await
        .unwrap();
    assert!(!c.duplicate);
    e.shutdown().await;
}

#[tokio::test]
async fn waits_anchor_on_the_command_and_skip_unrelated_events() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), |_| {});
    let mgr = w("a-manager");
    // An old answer must not be taken for the new command.
    let mut meta = Meta::new();
    meta.insert("kind".into(), "screenshot".into());
    e.outbound(&mgr, "stale".into(), meta.clone())
        .await
        .unwrap();
    let e2 = e.clone();
    let answer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        e2.outbound(&w("a-manager"), "unrelated".into(), Meta::new())
            .await
            .unwrap();
        e2.outbound(&w("a-manager"), "fresh".into(), meta)
            .await
            .unwrap();
    });
    let out = e
        .control_and_wait(
            &w("a"),
            &ManagerCommand::Screenshot(None),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    answer.await.unwrap();
    match out {
        tubemail_core::engine::ControlOutcome::Answered(ev) => assert_eq!(ev.content, "fresh"),
        other => panic!("{other:?}"),
    }
    // wait_for_activity without `since` means from now.
    let none = e
        .wait_for_activity(&w("a-manager"), None, Duration::from_millis(100))
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(
        e.wait_for_activity(&w("a"), Some(EventId(999_999)), Duration::ZERO)
            .await
            .is_err()
    );
    e.shutdown().await;
}

#[test]
fn refuses_foreign_and_newer_databases_without_touching_them() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("notes.db");
    std::fs::write(&foreign, b"this is not a database, keep me").unwrap();
    assert!(matches!(
        SqliteStore::open(&foreign),
        Err(StoreError::Foreign { .. })
    ));
    assert_eq!(
        std::fs::read(&foreign).unwrap(),
        b"this is not a database, keep me"
    );

    let other = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 3;")
            .unwrap();
    }
    assert!(matches!(
        SqliteStore::open(&other),
        Err(StoreError::Foreign { .. })
    ));

    let newer = dir.path().join("tubemail.db");
    drop(SqliteStore::open(&newer).unwrap());
    {
        let c = rusqlite::Connection::open(&newer).unwrap();
        c.execute_batch("PRAGMA user_version = 99;").unwrap();
    }
    let before = std::fs::read(&newer).unwrap();
    match SqliteStore::open(&newer) {
        Err(e @ StoreError::SchemaTooNew { found: 99, .. }) => {
            assert!(e.to_string().contains("newer"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&newer).unwrap(), before);
}

#[tokio::test]
async fn only_workers_offline_and_idle_past_the_max_age_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), |c| c.purge_max_age = Duration::from_millis(50));
    e.register(&w("gone"), reg(Some(1))).await.unwrap();
    e.send(&w("gone"), "history".into(), Meta::new(), None)
        .await
        .unwrap();
    e.register(&w("here"), reg(Some(2))).await.unwrap();
    let sub = e.subscribe(&w("here"), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let purged = e.purge_stale().await.unwrap();
    assert_eq!(purged, vec![w("gone")]);
    assert!(e.worker(&w("gone")).is_none());
    assert!(
        e.events(&w("gone"), None, 10, true)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(e.worker(&w("here")).is_some(), "online workers stay");
    drop(sub);
    e.shutdown().await;
    drop(e);

    // After a restart, offline time counts from the restart: nobody is purged
    // at boot, however old their last activity.
    let e = open(dir.path(), |c| c.purge_max_age = Duration::from_secs(3600));
    assert!(e.purge_stale().await.unwrap().is_empty());
    assert!(e.worker(&w("here")).is_some());
    e.shutdown().await;
}

#[tokio::test]
async fn takeover_storms_are_slowed_down() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), |_| {});
    let mut subs = Vec::new();
    let t = std::time::Instant::now();
    for _ in 0..6 {
        subs.push(e.subscribe(&w("a"), None).await.unwrap());
    }
    let quick = t.elapsed();
    let t = std::time::Instant::now();
    subs.push(e.subscribe(&w("a"), None).await.unwrap());
    let slowed = t.elapsed();
    assert!(quick < Duration::from_millis(200), "{quick:?}");
    assert!(slowed >= Duration::from_millis(200), "{slowed:?}");
    // Every older subscription was told it was superseded.
    for s in subs.iter_mut().take(6) {
        assert_eq!(
            s.next_batch().await.unwrap_err(),
            tubemail_core::engine::SubscriptionEnd::Superseded
        );
    }
    drop(subs);
    e.shutdown().await;
}

#[tokio::test]
async fn a_returning_manager_skips_stale_control_commands_but_workers_get_their_mail() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), |c| c.stale_control = Duration::from_millis(200));
    e.control(&w("a"), &ManagerCommand::Keys(b"x".to_vec()))
        .await
        .unwrap();
    e.send(&w("a"), "old mail".into(), Meta::new(), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = e
        .control(&w("a"), &ManagerCommand::Screenshot(None))
        .await
        .unwrap();

    let mut mgr = e.subscribe(&w("a-manager"), None).await.unwrap();
    let got: Vec<EventId> = mgr
        .next_batch()
        .await
        .unwrap()
        .iter()
        .map(|r| r.event.event_id)
        .collect();
    assert_eq!(got, vec![fresh.event_id], "only the fresh control command");
    let mut worker = e.subscribe(&w("a"), None).await.unwrap();
    let mail = worker.next_batch().await.unwrap();
    assert_eq!(mail[0].event.content, "old mail", "mail waits however old");
    drop((mgr, worker));
    e.shutdown().await;
}

#[tokio::test]
async fn delivered_positions_are_persisted_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), |_| {});
    let mut sub = e.subscribe(&w("a"), None).await.unwrap();
    let sent = e
        .send(&w("a"), "m".into(), Meta::new(), None)
        .await
        .unwrap();
    let batch = sub.next_batch().await.unwrap();
    sub.mark_delivered(batch[0].event.event_id, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // No shutdown: what a crash would leave behind.
    let store = SqliteStore::open(dir.path().join("tubemail.db")).unwrap();
    let snap = tubemail_core::store::Store::load(&store).unwrap();
    let row = snap.workers.iter().find(|r| r.name == w("a")).unwrap();
    assert_eq!(row.delivered_seq, sent.event_id.0);
    drop(sub);
    e.shutdown().await;
}

#[tokio::test]
async fn the_write_ahead_log_is_folded_back_beside_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), |_| {});
    let wal = dir.path().join("tubemail.db-wal");
    // ~40 MiB of messages: two and a half times the checkpoint threshold.
    let body = "x".repeat(64 << 10);
    for i in 0..640 {
        e.send(&w(&format!("w{}", i % 8)), body.clone(), Meta::new(), None)
            .await
            .unwrap();
    }
    let size = std::fs::metadata(&wal).unwrap().len();
    // The log restarts from its beginning once a checkpoint has copied it:
    // it stays near the threshold (4 000 pages) instead of holding all.
    assert!(size < 24 << 20, "WAL {} MiB", size >> 20);
    e.shutdown().await;
    assert_eq!(
        std::fs::metadata(&wal).map_or(0, |m| m.len()),
        0,
        "a clean shutdown leaves the database self-contained"
    );
}
