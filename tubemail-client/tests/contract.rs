//! The typed contract, end to end: every request and response type of the
//! client's API and every stream event name go through the client and a
//! real hub on a loopback port (a real SQLite file underneath), decoded
//! into core's types on the way back. A shape that drifted between the hub
//! and the client fails here as a decode error.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use tubemail_client::core::command::{HEALTH_REPLY, RECONNECT_REPLY, SCREENSHOT_REPLY};
use tubemail_client::{Client, Error, EventStream, FramesFilter, StreamEvent, TokenKind};
use tubemail_core::api::{RegisterRequest, SettingsPatch};
use tubemail_core::stream::{ClearedReason, SubscriptionEnd};
use tubemail_core::{Behavior, ConditionSignal, ManagerCommand, Meta, WorkerCondition, WorkerName};
use tubemail_hub::{Hub, Options};

const SECRET: &str = "contract-test-secret";

fn w(name: &str) -> WorkerName {
    name.parse().unwrap()
}

fn reg(pid: i64) -> RegisterRequest {
    RegisterRequest {
        cwd: "/tmp/contract".into(),
        pid: Some(pid),
        forwarder_version: Some("contract".into()),
        permission_mode: None,
    }
}

/// Reads events until `want` matches one, keeping every name seen.
async fn until(
    s: &mut EventStream,
    seen: &mut BTreeSet<&'static str>,
    want: impl Fn(&StreamEvent) -> bool,
) -> StreamEvent {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), s.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .expect("the event decodes");
        seen.insert(ev.name());
        if want(&ev) {
            return ev;
        }
    }
}

/// A manager that answers the commands that get answers, the way
/// claude-tm does, and reports every command it parsed.
fn simulated_manager(
    hub: Client,
    mut control: EventStream,
) -> tokio::sync::mpsc::UnboundedReceiver<StreamEvent> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let me = w("ct-tm-manager");
        while let Some(Ok(ev)) = control.next().await {
            let _ = tx.send(ev.clone());
            let StreamEvent::ChannelEvent { meta, .. } = ev else {
                continue;
            };
            let kind = meta["kind"].as_str().unwrap_or_default();
            let (text, reply) = match ManagerCommand::parse(kind) {
                Some(ManagerCommand::HealthCheck) => (
                    r#"{"child_alive": true, "child_pid": 42, "uptime_s": 3, "restart_count": 1}"#
                        .to_owned(),
                    HEALTH_REPLY,
                ),
                Some(ManagerCommand::Screenshot(n)) => (format!("screen {n:?}"), SCREENSHOT_REPLY),
                Some(ManagerCommand::ReconnectMcp(server)) => (
                    format!(
                        r#"{{"ok": true, "server": "{server}", "detail": "reconnected", "attempts": 1}}"#
                    ),
                    RECONNECT_REPLY,
                ),
                _ => continue,
            };
            let mut meta = Meta::new();
            meta.insert("kind".into(), reply.into());
            hub.outbound(&me, &text, Some(meta)).await.unwrap();
        }
    });
    rx
}

#[tokio::test]
async fn every_request_response_and_stream_event_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(Options::new(dir.path(), SECRET)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop_hub, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hub.serve(listener, async {
        let _ = stopped.await;
    }));
    let c = Client::builder().url(&url).secret(SECRET).build().unwrap();
    let mut seen = BTreeSet::new();
    let worker = w("ct-tm");
    let manager = w("ct-tm-manager");

    let mut global = c.global_stream(None).await.unwrap();
    assert_eq!(c.register(&worker, &reg(1)).await.unwrap().worker, worker);
    c.register(&manager, &reg(2)).await.unwrap();
    until(
        &mut global,
        &mut seen,
        |e| matches!(e, StreamEvent::WorkerRegistered { worker: x, .. } if *x == worker),
    )
    .await;
    let mut own = c.worker_stream(&worker, None).await.unwrap();
    let mut commands = simulated_manager(c.clone(), c.worker_stream(&manager, None).await.unwrap());
    until(
        &mut global,
        &mut seen,
        |e| matches!(e, StreamEvent::WorkerOnline { worker: x } if *x == manager),
    )
    .await;

    // Timeline events, on the worker's own stream and the global one.
    let sent = c.send(&worker, "hello", None).await.unwrap();
    let got = until(&mut own, &mut seen, |e| e.event_id() == Some(sent.event_id)).await;
    assert!(
        matches!(got, StreamEvent::ChannelEvent { worker: None, ref content, .. } if content == "hello")
    );
    let got = until(&mut global, &mut seen, |e| {
        e.event_id() == Some(sent.event_id)
    })
    .await;
    assert!(matches!(got, StreamEvent::ChannelEvent { worker: Some(ref x), .. } if *x == worker));
    let reply = c.outbound(&worker, "hi back", None).await.unwrap();
    until(
        &mut global,
        &mut seen,
        |e| matches!(e, StreamEvent::Outbound { event_id, .. } if *event_id == reply.event_id),
    )
    .await;
    c.permission_request(&worker, "abcde", "Bash", "ls", "ls -la")
        .await
        .unwrap();
    until(&mut global, &mut seen, |e| {
        matches!(e, StreamEvent::PermissionRequest { request_id, tool_name, .. } if request_id == "abcde" && tool_name == "Bash")
    })
    .await;
    assert_eq!(
        c.pending_permissions(Some(&worker), false)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        c.resolve_permission(&worker, "abcde", Behavior::Allow)
            .await
            .unwrap()
    );
    until(&mut own, &mut seen, |e| {
        matches!(e, StreamEvent::PermissionResponse { behavior: Behavior::Allow, request_id, worker: None, .. } if request_id == "abcde")
    })
    .await;
    let interrupted = c.interrupt(&worker).await.unwrap();
    until(&mut own, &mut seen, |e| e.event_id() == Some(interrupted)).await;
    until(&mut global, &mut seen, |e| {
        matches!(e, StreamEvent::Interrupt { worker: Some(_), event_id, .. } if *event_id == interrupted)
    })
    .await;

    // Status notices.
    assert!(c.context_pct(&worker, Some(42)).await.unwrap());
    assert!(c.set_active(&worker, true).await.unwrap());
    let blocked = WorkerCondition {
        signal: ConditionSignal::Blocked,
        detail: "Pick one".into(),
    };
    assert!(c.set_condition(&worker, Some(&blocked)).await.unwrap());
    until(
        &mut global,
        &mut seen,
        |e| matches!(e, StreamEvent::WorkerCondition { condition: Some(x), .. } if *x == blocked),
    )
    .await;
    assert!(c.set_condition(&worker, None).await.unwrap());
    c.permission_request(&worker, "fghij", "Edit", "", "")
        .await
        .unwrap();
    c.register(&worker, &reg(3)).await.unwrap(); // a new process
    until(&mut global, &mut seen, |e| {
        matches!(e, StreamEvent::PermissionsCleared { reason: ClearedReason::NewProcess, request_ids, .. } if request_ids == &["fghij"])
    })
    .await;
    assert!(c.delivered(&worker, sent.event_id).await.unwrap());

    // Manager commands, parsed back by the simulated manager.
    assert_eq!(c.keystroke(&worker, "esc enter").await.unwrap(), 2);
    let restart = c.restart(&worker).await.unwrap();
    let stop = c.stop(&worker).await.unwrap();
    assert!(restart < stop);
    assert_eq!(
        c.screenshot(&worker, Some(12)).await.unwrap(),
        "screen Some(12)"
    );
    let health = c.manager_health(&worker).await.unwrap();
    assert_eq!(
        (health.child_alive, health.child_pid, health.restart_count),
        (true, Some(42), 1)
    );
    let outcome = c.reconnect_mcp(&worker, "github").await.unwrap();
    assert!(outcome.ok && outcome.server == "github", "{outcome:?}");
    c.set_active(&worker, false).await.unwrap();
    let done = c
        .clear_and_send(&worker, "fresh start", 0.0, true)
        .await
        .unwrap();
    assert_eq!(done.routed_to.clear, manager);
    assert_eq!(done.routed_to.rename.as_ref(), Some(&manager));
    assert_eq!(done.routed_to.message, worker);
    // The message after /clear and /rename goes to the worker, not here.
    let want = [
        ManagerCommand::Keys(vec![0x1b, 0x0d]),
        ManagerCommand::Restart,
        ManagerCommand::Stop,
        ManagerCommand::Screenshot(Some(12)),
        ManagerCommand::HealthCheck,
        ManagerCommand::ReconnectMcp("github".into()),
        ManagerCommand::Clear,
        ManagerCommand::Rename(worker.clone()),
    ];
    let mut parsed = Vec::new();
    while parsed.len() < want.len() {
        let ev = tokio::time::timeout(Duration::from_secs(20), commands.recv())
            .await
            .unwrap()
            .unwrap();
        if let StreamEvent::ChannelEvent { meta, .. } = ev {
            parsed.push(ManagerCommand::parse(meta["kind"].as_str().unwrap()).unwrap());
        }
    }
    assert_eq!(parsed, want);

    // Recording: the manager's stream gets attach and detach.
    assert!(c.set_recording(&worker, true).await.unwrap().enabled);
    assert!(!c.set_recording(&worker, false).await.unwrap().enabled);
    let mut terminal = Vec::new();
    while terminal.len() < 2 {
        let ev = tokio::time::timeout(Duration::from_secs(20), commands.recv())
            .await
            .unwrap()
            .unwrap();
        seen.insert(ev.name());
        if matches!(ev, StreamEvent::PtyAttach {} | StreamEvent::PtyDetach {}) {
            terminal.push(ev);
        }
    }
    assert_eq!(
        terminal,
        [StreamEvent::PtyAttach {}, StreamEvent::PtyDetach {}]
    );
    until(&mut global, &mut seen, |e| {
        matches!(e, StreamEvent::Recording { enabled: false, .. })
    })
    .await;
    assert!(
        c.recording_frames(&worker, &FramesFilter::default())
            .await
            .unwrap()
            .frames
            .is_empty()
    );
    let ticket = c.pty_ticket(&worker).await.unwrap();
    assert_eq!((ticket.worker, ticket.ttl_s > 0), (worker.clone(), true));

    // Flows and runs, soft errors included.
    c.save_flow("daily", "report", Some(&worker), None)
        .await
        .unwrap();
    let run = c.run_flow("daily", None, None).await.unwrap();
    assert_eq!(run.worker, worker);
    assert_eq!(
        c.run_log(&run.run_id).await.unwrap().first_event_id,
        run.first_event_id
    );
    assert!(c.finish_run(&run.run_id).await.unwrap() > 0.0);
    assert!(matches!(
        c.run_flow("nope", None, None).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        c.save_flow("", "x", None, None).await,
        Err(Error::BadRequest(_))
    ));
    assert!(matches!(
        c.finish_run("AAAAAAAAAAAAAAAAAAAAAA").await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(c.flows().await.unwrap().len(), 1);
    assert!(c.delete_flow("daily").await.unwrap());

    // Settings, tokens, identity.
    let patch = SettingsPatch {
        recording_keep_files: Some(5),
        ..SettingsPatch::default()
    };
    assert_eq!(
        c.update_settings(&patch).await.unwrap(),
        c.settings().await.unwrap()
    );
    let issued = c
        .issue_token(TokenKind::Operator, None, "contract")
        .await
        .unwrap();
    assert!(c.revoke_token(&issued.info.id).await.unwrap());
    assert_eq!(c.whoami().await.unwrap().kind, "secret");
    assert!(c.status(&worker).await.unwrap().event_count > 0);

    // A second stream for the worker supersedes the first.
    let newer = c.worker_stream(&worker, None).await.unwrap();
    let closed = until(&mut own, &mut seen, |e| {
        matches!(e, StreamEvent::Closed { .. })
    })
    .await;
    assert_eq!(
        closed,
        StreamEvent::Closed {
            reason: SubscriptionEnd::Superseded
        }
    );

    // Its last stream going away takes the worker offline.
    drop(newer);
    until(
        &mut global,
        &mut seen,
        |e| matches!(e, StreamEvent::WorkerOffline { worker: x } if *x == worker),
    )
    .await;

    // Leaving.
    c.unregister(&manager).await.unwrap();
    c.goodbye(&worker).await.unwrap();
    assert!(c.purge(&worker).await.unwrap());

    // Every name but the ones only a browser terminal (pty_data,
    // pty_resize) or a subscriber that falls behind (resync) produces;
    // those are decoded in core's and the hub's own tests. The leaving
    // notices (exited, offline, unregistered, purged) come in the order
    // the hub's tasks get to them.
    let rare = ["pty_data", "pty_resize", "resync"];
    let want: BTreeSet<&str> = StreamEvent::NAMES
        .iter()
        .copied()
        .filter(|n| !rare.contains(n))
        .collect();
    while !want.is_subset(&seen) {
        let missing: Vec<_> = want.difference(&seen).collect();
        let ev = tokio::time::timeout(Duration::from_secs(20), global.next())
            .await
            .unwrap_or_else(|_| panic!("never saw {missing:?}"))
            .unwrap()
            .unwrap();
        seen.insert(ev.name());
    }
    assert_eq!(seen, want);

    let _ = stop_hub.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}

/// The rule calls round-trip through the hub's `/api/rules`, and a rule
/// answers a prompt on the worker's stream with no one involved.
#[tokio::test]
async fn rules_round_trip_and_decide() {
    use tubemail_client::{PermissionRule, RuleVerdict};
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(Options::new(dir.path(), SECRET)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop_hub, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hub.serve(listener, async {
        let _ = stopped.await;
    }));
    let c = Client::builder().url(&url).secret(SECRET).build().unwrap();
    let rule = |tool: &str, input: Option<&str>, verdict| PermissionRule {
        id: String::new(),
        name: String::new(),
        worker: "*".into(),
        project: None,
        tool: tool.into(),
        input: input.map(Into::into),
        verdict,
        timeout_secs: None,
        default_answer: Some(Behavior::Allow),
    };
    let set = c
        .set_rules(vec![rule("Bash", Some("^ls"), RuleVerdict::Allow)])
        .await
        .unwrap();
    let added = c
        .add_rule(&rule("Edit", None, RuleVerdict::Deny), Some(0))
        .await
        .unwrap();
    let mut changed = added.clone();
    changed.name = "no edits".into();
    assert_eq!(
        c.update_rule(&added.id, &changed).await.unwrap().name,
        "no edits"
    );
    let all = c.rules().await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec![added.id.as_str(), set[0].id.as_str()]
    );
    let bad = c
        .add_rule(&rule("*", Some("[z-a]"), RuleVerdict::Ask), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, Error::BadRequest(m) if m.contains("rule 2 (input)")),
        "{bad:?}"
    );
    let d = c
        .test_rules(&tubemail_core::api::RuleTestRequest {
            worker: "x".into(),
            tool_name: "Edit".into(),
            input_preview: String::new(),
            project: None,
        })
        .await
        .unwrap();
    assert_eq!(
        (d.verdict, d.rule.map(|r| r.index)),
        (RuleVerdict::Deny, Some(0))
    );

    let worker = w("rt-tm");
    c.register(&worker, &reg(1)).await.unwrap();
    let mut own = c.worker_stream(&worker, None).await.unwrap();
    c.permission_request(&worker, "lsreq", "Bash", "", "ls -la")
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    let ev = until(&mut own, &mut seen, |e| {
        matches!(e, StreamEvent::PermissionResponse { .. })
    })
    .await;
    assert!(
        matches!(&ev, StreamEvent::PermissionResponse { request_id, behavior: Behavior::Allow, .. } if request_id == "lsreq"),
        "{ev:?}"
    );
    c.delete_rule(&added.id).await.unwrap();
    assert!(matches!(
        c.delete_rule(&added.id).await,
        Err(Error::NotFound(_))
    ));
    let _ = stop_hub.send(());
    let _ = server.await;
}
