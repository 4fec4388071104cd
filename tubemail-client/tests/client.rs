//! The client against a real hub on a loopback port.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::time::Duration;

use futures::StreamExt;
use tubemail_client::{Client, Error, StreamEvent};
use tubemail_core::api::{RegisterRequest, SettingsPatch};
use tubemail_core::{
    Behavior, ConditionSignal, EventKind, StateSignal, WorkerCondition, WorkerName, WorkerState,
};
use tubemail_hub::{AppState, Hub, Options};

const SECRET: &str = "client-test-secret";

struct Running {
    state: AppState,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(dir: &std::path::Path, port: u16) -> Running {
    let hub = Hub::open(Options::new(dir, SECRET)).unwrap();
    let state = hub.state().clone();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let task = tokio::spawn(hub.serve(listener, state.shutdown.clone().cancelled_owned()));
    Running { state, task }
}

async fn stop(r: Running) {
    r.state.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), r.task).await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client(port: u16, secret: &str) -> Client {
    Client::builder()
        .url(format!("http://127.0.0.1:{port}"))
        .secret(secret)
        .build()
        .unwrap()
}

fn w(name: &str) -> WorkerName {
    name.parse().unwrap()
}

#[tokio::test]
async fn operations_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub = start(dir.path(), port).await;
    let c = client(port, SECRET);
    let worker = w("proj-tm");
    let reg = RegisterRequest {
        cwd: "/tmp/proj".into(),
        pid: Some(7),
        forwarder_version: None,
        permission_mode: None,
    };
    assert_eq!(c.register(&worker, &reg).await.unwrap().cursor, "");
    assert_eq!(c.health().await.unwrap().workers_total, 1);

    let sent = c
        .send_with_key(&worker, "hello", None, Some("k1"))
        .await
        .unwrap();
    let again = c
        .send_with_key(&worker, "hello", None, Some("k1"))
        .await
        .unwrap();
    assert_eq!((sent.event_id, again.duplicate), (again.event_id, true));
    assert_eq!(c.status(&worker).await.unwrap().state, WorkerState::Busy);

    let c2 = c.clone();
    let wk = worker.clone();
    let waiter = tokio::spawn(async move { c2.wait(&wk, Some(sent.event_id), 10.0).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    c.outbound(&worker, "pong", None).await.unwrap();
    let replies = waiter.await.unwrap().unwrap();
    assert_eq!(replies[0].content, "pong");
    let all = c.events(&worker, None, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::Inbound, EventKind::Outbound]
    );

    c.permission_request(&worker, "p1", "Bash", "ls", "ls -la")
        .await
        .unwrap();
    let pending = c.pending_permissions(Some(&worker), true).await.unwrap();
    assert_eq!(pending[0].request_id, "p1");
    assert!(
        c.resolve_permission(&worker, "p1", Behavior::Allow)
            .await
            .unwrap()
    );
    assert!(
        !c.resolve_permission(&worker, "p1", Behavior::Allow)
            .await
            .unwrap()
    );

    c.save_flow("daily", "report", Some(&worker), None)
        .await
        .unwrap();
    let started = c.run_flow("daily", None, None).await.unwrap();
    assert_eq!(started.worker, worker);
    let log = c.run_log(&started.run_id).await.unwrap();
    assert_eq!(log.first_event_id, started.first_event_id);
    assert!(matches!(
        c.run_flow("nope", None, None).await,
        Err(Error::NotFound(_))
    ));
    assert!(c.delete_flow("daily").await.unwrap());

    let patch = SettingsPatch {
        recording_keep_files: Some(9),
        ..SettingsPatch::default()
    };
    assert_eq!(
        c.update_settings(&patch)
            .await
            .unwrap()
            .recording_keep_files,
        9
    );
    assert_eq!(c.keystroke(&worker, "esc enter").await.unwrap(), 2);
    // A simulated manager answers screenshots and health checks.
    let mgr = w("proj-tm-manager");
    let mut control = c.worker_stream(&mgr, None).await.unwrap();
    let mc = c.clone();
    let manager = tokio::spawn(async move {
        while let Some(Ok(ev)) = control.next().await {
            let StreamEvent::ChannelEvent { meta, .. } = ev else {
                continue;
            };
            let kind = meta["kind"].as_str().unwrap_or("").to_owned();
            let (text, reply) = if kind == "health_check" {
                (r#"{"child_alive": true}"#.to_owned(), "health_response")
            } else if kind.starts_with("screenshot") {
                (format!("screen {kind}"), "screenshot")
            } else {
                continue;
            };
            let mut meta = tubemail_core::Meta::new();
            meta.insert("kind".into(), reply.into());
            mc.outbound(&w("proj-tm-manager"), &text, Some(meta))
                .await
                .unwrap();
        }
    });
    assert_eq!(
        c.screenshot(&worker, Some(12)).await.unwrap(),
        "screen screenshot:12"
    );
    assert!(c.manager_health(&worker).await.unwrap().child_alive);
    manager.abort();
    assert!(matches!(
        c.clear_and_send(&w("ghost-tm"), "x", 0.0, false).await,
        Err(Error::Server { status: 409, .. })
    ));
    c.register(&w("idle-tm"), &reg).await.unwrap();
    let done = c
        .clear_and_send(&w("idle-tm"), "fresh start", 0.0, false)
        .await
        .unwrap();
    assert_eq!(done.routed_to.message, w("idle-tm"));
    assert_eq!(done.rename_event_id, None);
    assert!(c.purge(&worker).await.unwrap());
    stop(hub).await;
}

/// A condition the worker side reports decides the state reason (with its
/// words), warns a sender, survives a hub restart, and ends when it clears
/// or a new worker process registers.
#[tokio::test]
async fn conditions_show_warn_senders_and_last_until_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut hub = start(dir.path(), port).await;
    let c = client(port, SECRET);
    let worker = w("cond-tm");
    let reg = |pid| RegisterRequest {
        cwd: "/tmp/cond".into(),
        pid: Some(pid),
        forwarder_version: None,
        permission_mode: Some("default".into()),
    };
    c.register(&worker, &reg(11)).await.unwrap();
    let unavailable = WorkerCondition {
        signal: ConditionSignal::ChannelUnavailable,
        detail: "Claude Code: channels feature is not currently available".into(),
    };
    assert!(c.set_condition(&worker, Some(&unavailable)).await.unwrap());
    assert!(!c.set_condition(&worker, Some(&unavailable)).await.unwrap());
    let st = c.status(&worker).await.unwrap();
    assert_eq!(st.state_reason.signal, StateSignal::ChannelUnavailable);
    assert_eq!(
        st.state_reason.detail.as_deref(),
        Some(unavailable.detail.as_str())
    );
    assert_eq!(st.permission_mode.as_deref(), Some("default"));
    let sent = c.send(&worker, "are you there?", None).await.unwrap();
    let warning = sent.warning.unwrap();
    assert!(warning.contains("cannot be delivered yet"), "{warning}");
    assert!(warning.contains("not currently available"), "{warning}");
    // The message itself is stored as any other.
    assert_eq!(c.events(&worker, None, 10).await.unwrap().len(), 1);

    stop(hub).await;
    hub = start(dir.path(), port).await;
    let row = c.worker(&worker).await.unwrap();
    assert_eq!(row.state_reason.signal, StateSignal::ChannelUnavailable);
    assert_eq!(row.permission_mode.as_deref(), Some("default"));

    // Cleared by the worker side...
    assert!(c.set_condition(&worker, None).await.unwrap());
    let st = c.status(&worker).await.unwrap();
    assert_ne!(st.state_reason.signal, StateSignal::ChannelUnavailable);
    assert_eq!(st.state_reason.detail, None);
    assert_eq!(c.send(&worker, "now?", None).await.unwrap().warning, None);

    // ...or by a new process: a blocked terminal is the old claude's.
    let blocked = WorkerCondition {
        signal: ConditionSignal::Blocked,
        detail: "Choose a theme\n❯ Dark mode".into(),
    };
    c.set_condition(&worker, Some(&blocked)).await.unwrap();
    let st = c.status(&worker).await.unwrap();
    assert_eq!(
        (st.state, st.state_reason.signal),
        (WorkerState::Busy, StateSignal::Blocked)
    );
    c.register(&worker, &reg(11)).await.unwrap();
    assert_eq!(
        c.status(&worker).await.unwrap().state_reason.signal,
        StateSignal::Blocked
    );
    c.register(&worker, &reg(12)).await.unwrap();
    assert_ne!(
        c.status(&worker).await.unwrap().state_reason.signal,
        StateSignal::Blocked
    );

    // A manager reports a block before its worker ever registered.
    let early = w("early-tm");
    c.set_condition(&early, Some(&blocked)).await.unwrap();
    assert_eq!(
        c.status(&early).await.unwrap().state_reason.signal,
        StateSignal::Blocked
    );
    // Clearing an unknown worker creates nothing.
    assert!(!c.set_condition(&w("nobody-tm"), None).await.unwrap());
    assert!(c.worker(&w("nobody-tm")).await.is_err());
    // Too long a detail is refused, with the reason.
    let huge = WorkerCondition {
        signal: ConditionSignal::Blocked,
        detail: "x".repeat(10_000),
    };
    let err = c.set_condition(&worker, Some(&huge)).await.unwrap_err();
    assert!(matches!(err, Error::BadRequest(_)), "{err}");
    stop(hub).await;
}

#[tokio::test]
async fn errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub = start(dir.path(), port).await;
    let good = client(port, SECRET);
    let bad = client(port, "wrong");
    assert!(
        matches!(bad.workers().await, Err(Error::Unauthorized(d)) if d == "invalid bearer token")
    );
    assert!(matches!(
        good.worker(&w("nobody")).await,
        Err(Error::NotFound(_))
    ));
    let err = good
        .events(&w("x"), Some(tubemail_core::EventId(999)), 10)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::BadRequest(d) if d.contains("unknown since")),
        "{err}"
    );
    assert!(matches!(
        good.keystroke(&w("x"), "   ").await,
        Err(Error::BadRequest(_))
    ));
    assert!(matches!(
        bad.global_stream(None).await,
        Err(Error::Unauthorized(_))
    ));
    stop(hub).await;
    assert!(matches!(
        good.workers().await,
        Err(Error::Unreachable { .. })
    ));
    assert!(matches!(
        good.global_stream(None).await,
        Err(Error::Unreachable { .. })
    ));
    assert!(matches!(Client::builder().build(), Err(Error::Config(_))));
    assert!(matches!(
        "../x".parse::<WorkerName>().map_err(Error::from),
        Err(Error::Config(_))
    ));
}

async fn next(s: &mut tubemail_client::EventStream) -> tubemail_client::StreamEvent {
    tokio::time::timeout(Duration::from_secs(20), s.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn streams_resume_across_a_hub_restart_without_loss_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub = start(dir.path(), port).await;
    let c = client(port, SECRET);
    let worker = w("resume-tm");
    let mut worker_events = c.worker_stream(&worker, None).await.unwrap();
    let mut global = c.global_stream(None).await.unwrap();
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(
            c.send(&worker, &format!("m{i}"), None)
                .await
                .unwrap()
                .event_id,
        );
    }
    let mut got = Vec::new();
    let mut got_global = Vec::new();
    while got.len() < 5 {
        let ev = next(&mut worker_events).await;
        if let StreamEvent::ChannelEvent { event_id, .. } = ev {
            got.push(event_id);
        }
    }
    while got_global.len() < 5 {
        let ev = next(&mut global).await;
        if let StreamEvent::ChannelEvent { event_id, .. } = ev {
            got_global.push(event_id);
        }
    }
    stop(hub).await;
    let hub = start(dir.path(), port).await;
    for i in 5..10 {
        sent.push(
            c.send(&worker, &format!("m{i}"), None)
                .await
                .unwrap()
                .event_id,
        );
    }
    while got.len() < 10 {
        let ev = next(&mut worker_events).await;
        if let StreamEvent::ChannelEvent { event_id, .. } = ev {
            got.push(event_id);
        }
    }
    while got_global.len() < 10 {
        let ev = next(&mut global).await;
        if let StreamEvent::ChannelEvent { event_id, .. } = ev {
            got_global.push(event_id);
        }
    }
    assert_eq!(got, sent, "worker stream: every event once, in order");
    assert_eq!(
        got_global, sent,
        "global stream: every event once, in order"
    );
    stop(hub).await;
}

#[tokio::test]
async fn tokens_recordings_and_runs() {
    use tubemail_client::{FramesFilter, TokenKind};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub = start(dir.path(), port).await;
    let c = client(port, SECRET);
    assert_eq!(c.whoami().await.unwrap().kind, "secret");

    // A worker token: issued once, listed without itself, scoped, revoked.
    let issued = c
        .issue_token(TokenKind::Worker, Some(&w("tok-tm")), "ci")
        .await
        .unwrap();
    assert!(issued.token.starts_with("tmt_"));
    assert_eq!(issued.info.worker.as_deref(), Some("tok-tm"));
    let listed = c.tokens().await.unwrap();
    assert_eq!(listed, vec![issued.info.clone()]);
    let scoped = client(port, &issued.token);
    let me = scoped.whoami().await.unwrap();
    assert_eq!(
        (me.kind.as_str(), me.worker.as_deref()),
        ("worker", Some("tok-tm"))
    );
    assert!(matches!(
        scoped.tokens().await,
        Err(Error::Server { status: 403, .. })
    ));
    assert!(matches!(
        c.issue_token(TokenKind::Worker, None, "").await,
        Err(Error::BadRequest(_))
    ));
    let ro = c
        .issue_token(TokenKind::OperatorRo, None, "dash")
        .await
        .unwrap();
    assert_eq!(ro.info.kind, TokenKind::OperatorRo);
    let operator = c
        .issue_token(TokenKind::Operator, None, "orchestrator")
        .await
        .unwrap();
    let as_operator = client(port, &operator.token);
    assert_eq!(as_operator.whoami().await.unwrap().kind, "operator");
    assert!(as_operator.workers().await.is_ok());
    assert!(matches!(
        as_operator.tokens().await,
        Err(Error::Server { status: 403, .. })
    ));
    assert!(c.revoke_token(&issued.info.id).await.unwrap());
    assert!(!c.revoke_token(&issued.info.id).await.unwrap());
    assert!(matches!(
        c.revoke_token("nosuch").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(scoped.whoami().await, Err(Error::Unauthorized(_))));

    // Recording: off by default, switched on and off; no frames yet.
    let worker = w("rec-tm");
    c.send_with_key(&worker, "hi", None, None).await.unwrap();
    assert!(!c.recording(&worker).await.unwrap().enabled);
    assert!(c.set_recording(&worker, true).await.unwrap().enabled);
    assert!(c.recording(&worker).await.unwrap().enabled);
    assert!(!c.set_recording(&worker, false).await.unwrap().enabled);
    let frames = c
        .recording_frames(
            &worker,
            &FramesFilter {
                grep: Some("a b&c".into()),
                limit: Some(5),
                ..FramesFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(frames.frames.is_empty() && !frames.truncated);
    assert!(matches!(
        c.recording_frames(
            &worker,
            &FramesFilter {
                grep: Some("(".into()),
                ..FramesFilter::default()
            }
        )
        .await,
        Err(Error::BadRequest(_))
    ));

    // A run is finished once asked; an unknown one is not found.
    c.save_flow("greet", "hello", Some(&worker), None)
        .await
        .unwrap();
    let run_id = c.run_flow("greet", None, None).await.unwrap().run_id;
    let at = c.finish_run(&run_id).await.unwrap();
    assert_eq!(c.run_log(&run_id).await.unwrap().finished_at, Some(at));
    assert!(matches!(
        c.finish_run("nosuch").await,
        Err(Error::NotFound(_))
    ));
    stop(hub).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_reads_every_page_of_the_roster() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub = start(dir.path(), port).await;
    // More than two pages of 500.
    let names: Vec<WorkerName> = (0..1203).map(|i| w(&format!("w{i:04}"))).collect();
    let engine = hub.state.engine.clone();
    futures::future::join_all(names.iter().map(|n| {
        let engine = engine.clone();
        async move {
            engine
                .register(n, tubemail_core::engine::Registration::default())
                .await
                .unwrap()
        }
    }))
    .await;
    let roster = client(port, SECRET).workers().await.unwrap();
    let got: Vec<WorkerName> = roster.into_iter().map(|s| s.name).collect();
    assert_eq!(got, names);
    stop(hub).await;
}
