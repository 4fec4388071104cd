//! Permission rules and prompt expiry on a real SQLite file.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::path::Path;
use std::sync::Arc;

use tubemail_core::api::{PermissionRequestBody, RuleTestRequest, SettingsPatch};
use tubemail_core::engine::{Engine, EngineConfig, Registration};
use tubemail_core::store::SqliteStore;
use tubemail_core::{Behavior, EventKind, PermissionRule, RuleVerdict, WorkerName};

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

fn ask(id: &str, tool: &str, command: &str) -> PermissionRequestBody {
    PermissionRequestBody {
        request_id: id.into(),
        tool_name: tool.into(),
        description: String::new(),
        input_preview: serde_json::json!({"command": command}).to_string(),
    }
}

fn rule(worker: &str, tool: &str, input: Option<&str>, verdict: RuleVerdict) -> PermissionRule {
    PermissionRule {
        id: String::new(),
        name: format!("{verdict:?} {tool}"),
        worker: worker.into(),
        project: None,
        tool: tool.into(),
        input: input.map(Into::into),
        verdict,
        timeout_secs: None,
        default_answer: None,
    }
}

async fn register(e: &Engine, name: &str, cwd: &str) {
    e.register(
        &w(name),
        Registration {
            cwd: cwd.into(),
            pid: Some(1),
            forwarder_version: None,
            permission_mode: None,
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn rules_decide_at_once_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path());
    register(&e, "build-1", "/src/app").await;
    let saved = e
        .set_rules(vec![
            rule(
                "build-*",
                "Bash",
                Some("^git (status|diff|log)$"),
                RuleVerdict::Allow,
            ),
            rule("*", "Bash", Some("^rm "), RuleVerdict::Deny),
        ])
        .await
        .unwrap();
    assert!(saved.iter().all(|r| !r.id.is_empty()));

    e.permission_request(&w("build-1"), ask("p1", "Bash", "git status"))
        .await
        .unwrap();
    e.permission_request(&w("build-1"), ask("p2", "Bash", "rm -rf x"))
        .await
        .unwrap();
    e.permission_request(&w("build-1"), ask("p3", "Bash", "git push"))
        .await
        .unwrap();
    // A channel's retry of a decided prompt is not recorded again.
    let before = e
        .events(&w("build-1"), None, 100, true)
        .await
        .unwrap()
        .len();
    e.permission_request(&w("build-1"), ask("p1", "Bash", "git status"))
        .await
        .unwrap();
    assert_eq!(
        e.events(&w("build-1"), None, 100, true)
            .await
            .unwrap()
            .len(),
        before
    );
    let pending = e.pending_permissions(None, false);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].request_id, "p3");
    assert_eq!(pending[0].deadline, None, "no timeout by default");

    let events = e.events(&w("build-1"), None, 100, true).await.unwrap();
    let responses: Vec<_> = events
        .iter()
        .filter(|ev| ev.kind == EventKind::PermissionResponse)
        .collect();
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].content, "allow");
    assert_eq!(responses[0].meta["request_id"], "p1");
    assert_eq!(responses[0].meta["decided_by"], "rule");
    assert_eq!(responses[0].meta["rule"]["id"], saved[0].id.as_str());
    assert_eq!(responses[0].meta["rule"]["index"], 0);
    assert_eq!(responses[1].content, "deny");
    assert_eq!(responses[1].meta["rule"]["index"], 1);
    // The request and its answer are consecutive (one commit).
    let req = events
        .iter()
        .find(|ev| ev.kind == EventKind::PermissionRequest && ev.meta["request_id"] == "p1")
        .unwrap();
    assert_eq!(req.event_id.0 + 1, responses[0].event_id.0);
    assert_eq!(req.meta["rule"]["id"], saved[0].id.as_str());

    let t = e.test_rules(&RuleTestRequest {
        worker: "build-1".into(),
        tool_name: "Bash".into(),
        input_preview: "git diff".into(),
        project: None,
    });
    assert_eq!(t.verdict, RuleVerdict::Allow);
    assert_eq!(t.rule.unwrap().index, 0);
}

#[tokio::test]
async fn rules_survive_a_restart_and_bad_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = open(dir.path());
        e.set_rules(vec![rule("a", "Read", None, RuleVerdict::Allow)])
            .await
            .unwrap();
        let err = e
            .add_rule(rule("*", "Bash", Some("(oops"), RuleVerdict::Deny), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("rule 1 (input)"), "{err}");
        let added = e
            .add_rule(rule("*", "Edit", None, RuleVerdict::Deny), Some(0))
            .await
            .unwrap();
        assert_eq!(e.rules()[0].id, added.id);
        e.shutdown().await;
    }
    let e = open(dir.path());
    let rules = e.rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].tool, "Edit");
    assert_eq!(rules[1].tool, "Read");
    assert!(e.delete_rule(&rules[0].id).await.unwrap());
    assert!(!e.delete_rule(&rules[0].id).await.unwrap());
    assert_eq!(e.rules().len(), 1);
}

#[tokio::test]
async fn an_unanswered_prompt_gets_its_default_answer_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = open(dir.path());
        let mut r = rule("*", "Bash", None, RuleVerdict::Ask);
        r.timeout_secs = Some(1);
        r.default_answer = Some(Behavior::Allow);
        e.set_rules(vec![r]).await.unwrap();
        e.update_settings(&SettingsPatch {
            permission_timeout_secs: Some(1),
            ..SettingsPatch::default()
        })
        .unwrap();
        e.permission_request(&w("a"), ask("p1", "Bash", "make"))
            .await
            .unwrap();
        e.permission_request(&w("a"), ask("p2", "Read", "x"))
            .await
            .unwrap();
        let pending = e.pending_permissions(None, false);
        assert_eq!(pending.len(), 2);
        assert!(pending.iter().all(|p| p.deadline.is_some()));
        assert_eq!(e.expire_permissions().await.unwrap(), 0, "not due yet");
        // Dropped without a shutdown: what is committed is all there is.
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let e = open(dir.path());
    assert_eq!(e.pending_permissions(None, false).len(), 2);
    assert!(e.next_permission_deadline().is_some());
    assert_eq!(e.expire_permissions().await.unwrap(), 2);
    assert!(e.pending_permissions(None, false).is_empty());
    let events = e.events(&w("a"), None, 100, true).await.unwrap();
    let answers: Vec<_> = events
        .iter()
        .filter(|ev| ev.kind == EventKind::PermissionResponse)
        .map(|ev| {
            (
                ev.meta["request_id"].as_str().unwrap().to_owned(),
                ev.content.clone(),
                ev.meta["decided_by"].clone(),
                ev.meta.get("rule").is_some(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            ("p1".into(), "allow".into(), "expiry".into(), true),
            ("p2".into(), "deny".into(), "expiry".into(), false),
        ]
    );
}
