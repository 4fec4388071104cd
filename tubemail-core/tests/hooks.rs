//! The webhook outbox on a real SQLite file: rows join the batch of the
//! event that causes them, survive a restart, and links are single-use.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::path::Path;
use std::sync::Arc;

use tubemail_core::api::PermissionRequestBody;
use tubemail_core::engine::{Engine, EngineConfig};
use tubemail_core::hooks::{DeliveryStatus, WebhookEvent, WebhookFormat};
use tubemail_core::store::SqliteStore;
use tubemail_core::store::hooks::{ApprovalRow, OutboxUpdate, Redeemed, WebhookRow};
use tubemail_core::{Behavior, Meta, WorkerName};

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

fn hook(id: &str, events: Vec<WebhookEvent>, glob: Option<&str>) -> WebhookRow {
    WebhookRow {
        id: id.into(),
        url: "http://127.0.0.1:9/hook".into(),
        events,
        waiting_secs: 30,
        worker_glob: glob.map(str::to_owned),
        format: WebhookFormat::Json,
        secret: Some("s".into()),
        enabled: true,
        created_at: 0.0,
    }
}

#[tokio::test]
async fn matching_events_enqueue_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    e.put_webhook(hook("h1", vec![WebhookEvent::Reply], Some("al*")))
        .await
        .unwrap();
    e.put_webhook(hook(
        "h2",
        vec![WebhookEvent::PermissionWaiting, WebhookEvent::RuleDecision],
        None,
    ))
    .await
    .unwrap();
    e.outbound(&w("alpha"), "done".into(), Meta::new())
        .await
        .unwrap();
    // Neither a manager's answer nor a bare ack is a reply.
    e.outbound(&w("alpha-manager"), "{}".into(), Meta::new())
        .await
        .unwrap();
    let mut ack = Meta::new();
    ack.insert("kind".into(), "ack".into());
    e.outbound(&w("alpha"), String::new(), ack).await.unwrap();
    // The glob keeps beta's reply out.
    e.outbound(&w("beta"), "also".into(), Meta::new())
        .await
        .unwrap();
    let asked = e
        .permission_request(
            &w("beta"),
            PermissionRequestBody {
                request_id: "r1".into(),
                tool_name: "Bash".into(),
                ..PermissionRequestBody::default()
            },
        )
        .await
        .unwrap();
    e.resolve_permission_by(&w("beta"), "r1", Behavior::Allow, "rule")
        .await
        .unwrap();
    // Answered by hand: not a rule decision.
    e.permission_request(
        &w("beta"),
        PermissionRequestBody {
            request_id: "r2".into(),
            tool_name: "Bash".into(),
            ..PermissionRequestBody::default()
        },
    )
    .await
    .unwrap();
    e.resolve_permission(&w("beta"), "r2", Behavior::Deny)
        .await
        .unwrap();
    e.shutdown().await;
    drop(e);

    let e = open(dir.path());
    assert_eq!(e.webhook_rows().len(), 2);
    let h1 = e.store().deliveries("h1", 10).unwrap();
    assert_eq!(h1.len(), 1);
    assert_eq!(h1[0].new.worker, "alpha");
    assert_eq!(h1[0].new.payload["content"], "done");
    let h2 = e.store().deliveries("h2", 10).unwrap();
    let kinds: Vec<_> = h2.iter().rev().map(|r| r.new.event).collect();
    assert_eq!(
        kinds,
        [
            WebhookEvent::PermissionWaiting,
            WebhookEvent::RuleDecision,
            WebhookEvent::PermissionWaiting
        ]
    );
    let waiting = h2.last().unwrap();
    assert_eq!(waiting.new.next_at, asked.ts + 30.0);
    assert_eq!(waiting.new.payload["request_id"], "r1");
    // The waiting ones are not due yet; the others are.
    let due = e.store().due(asked.ts + 1.0, 100).unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(e.store().due(asked.ts + 31.0, 100).unwrap().len(), 4);
    e.store()
        .settle(&[OutboxUpdate {
            id: due[0].id,
            status: DeliveryStatus::Delivered,
            next_at: due[0].new.next_at,
            attempted: true,
            last_status: Some(204),
            last_error: None,
            done_at: Some(asked.ts + 2.0),
        }])
        .unwrap();
    assert_eq!(e.store().due(asked.ts + 31.0, 100).unwrap().len(), 3);
    // Pruning takes settled rows only.
    let before = e.store().deliveries("h1", 10).unwrap().len()
        + e.store().deliveries("h2", 10).unwrap().len();
    assert_eq!(e.store().prune(asked.ts + 3.0, 0.0).unwrap(), 1);
    let after = e.store().deliveries("h1", 10).unwrap().len()
        + e.store().deliveries("h2", 10).unwrap().len();
    assert_eq!(after, before - 1);
    assert_eq!(e.store().prune(asked.ts + 3.0, 0.0).unwrap(), 0);
    assert!(e.delete_webhook("h1").await.unwrap());
    assert!(e.store().deliveries("h1", 10).unwrap().is_empty());
    assert!(!e.delete_webhook("h1").await.unwrap());
}

#[tokio::test]
async fn approval_links_are_single_use_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    let link = |hash: &str, outbox_id, expires_at| ApprovalRow {
        hash: hash.into(),
        outbox_id,
        worker: w("a"),
        request_id: "r".into(),
        expires_at,
    };
    e.store().put_approval(&link("aa", 1, 100.0)).unwrap();
    e.store().put_approval(&link("bb", 2, 50.0)).unwrap();
    assert!(matches!(
        e.store().redeem("aa", 60.0).unwrap(),
        Redeemed::Ok { .. }
    ));
    assert_eq!(e.store().redeem("aa", 60.0).unwrap(), Redeemed::Gone);
    assert_eq!(e.store().redeem("bb", 60.0).unwrap(), Redeemed::Gone);
    assert_eq!(e.store().redeem("cc", 60.0).unwrap(), Redeemed::Unknown);
    // A retry's new link replaces the old one of the same notification.
    e.store().put_approval(&link("dd", 2, 500.0)).unwrap();
    assert_eq!(e.store().redeem("bb", 60.0).unwrap(), Redeemed::Unknown);
    assert!(matches!(
        e.store().redeem("dd", 60.0).unwrap(),
        Redeemed::Ok { .. }
    ));
}
