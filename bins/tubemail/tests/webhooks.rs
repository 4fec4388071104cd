//! `tubemail webhooks …` and the typed client against a real hub.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use common::{SECRET, TestHub, json, text};
use tubemail_client::{Client, WebhookEvent, WebhookFormat, WebhookRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_from_the_cli_and_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&dir.path().join("hub")).await;
    let env = [
        ("TUBEMAIL_HUB_URL", hub.url.as_str()),
        ("TUBEMAIL_SECRET", SECRET),
    ];
    let d = dir.path().to_path_buf();
    let run = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let (d, env) = (d.clone(), env);
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::run(&d, &env, &args).await
        }
    };

    let added = json(
        &run(&[
            "webhooks",
            "add",
            "https://hooks.slack.com/services/T0/B0/CliSecretPath",
            "--events",
            "reply,permission_waiting",
            "--format",
            "slack",
            "--worker",
            "proj-*",
            "--json",
        ])
        .await,
    );
    let id = added["id"].as_str().unwrap().to_owned();
    assert_eq!(added["url"], "https://hooks.slack.com/…");
    assert_eq!(added["format"], "slack");
    let table = text(&run(&["webhooks", "list"]).await);
    assert!(table.contains(&id) && table.contains("proj-*"), "{table}");
    assert!(!table.contains("CliSecretPath"), "{table}");
    let bad = run(&["webhooks", "add", "http://h/x", "--events", "nope"]).await;
    assert!(!bad.status.success());

    // The typed client sees the same webhook and can change it.
    let c = Client::builder()
        .url(&hub.url)
        .secret(SECRET)
        .build()
        .unwrap();
    let hooks = c.webhooks().await.unwrap();
    assert_eq!(hooks.len(), 1);
    let changed = c
        .update_webhook(
            &id,
            &WebhookRequest {
                url: "https://hooks.slack.com/services/T0/B0/Other".into(),
                events: vec![WebhookEvent::WorkerExited],
                waiting_secs: None,
                worker_glob: None,
                format: WebhookFormat::Discord,
                secret: Some("k".into()),
                enabled: Some(false),
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.events, [WebhookEvent::WorkerExited]);
    assert!(changed.has_secret && !changed.enabled);
    let delivery = c.test_webhook(&id).await.unwrap();
    let rows = c.webhook_deliveries(&id, 10).await.unwrap();
    assert_eq!(rows[0].id, delivery);
    assert_eq!(rows[0].event, WebhookEvent::Test);
    let shown = text(&run(&["webhooks", "deliveries", &id]).await);
    assert!(shown.contains("test"), "{shown}");

    let removed = run(&["webhooks", "remove", &id]).await;
    assert!(removed.status.success());
    assert!(c.webhooks().await.unwrap().is_empty());
    assert!(c.remove_webhook(&id).await.is_err());
    hub.stop().await;
}
