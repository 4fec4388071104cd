//! Every operator command against a real hub, read back through `--json`
//! and checked in words.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::process::Output;

use common::{SECRET, TestHub, json, stderr, text};
use futures::StreamExt;
use serde_json::Value;
use tubemail_client::core::{Meta, WorkerName};
use tubemail_client::{Client, StreamEvent};

/// `tubemail` with the hub's URL and secret in the environment.
struct Op<'a> {
    dir: &'a std::path::Path,
    url: &'a str,
}

impl Op<'_> {
    async fn run(&self, args: &[&str]) -> Output {
        common::run(
            self.dir,
            &[("TUBEMAIL_HUB_URL", self.url), ("TUBEMAIL_SECRET", SECRET)],
            args,
        )
        .await
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        json(&self.run(&all).await)
    }

    async fn text(&self, args: &[&str]) -> String {
        text(&self.run(args).await)
    }

    /// Fails with exit 1, saying `needles` on stderr (the error and its fix).
    async fn fails(&self, args: &[&str], needles: &[&str]) {
        let out = self.run(args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = stderr(&out);
        for n in needles {
            assert!(err.contains(n), "{args:?} says {n:?}: {err}");
        }
    }
}

fn w(name: &str) -> WorkerName {
    name.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_flows_tokens_recordings_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&dir.path().join("hub")).await;
    let op = Op {
        dir: dir.path(),
        url: &hub.url,
    };

    let health = op.json(&["health"]).await;
    assert_eq!(health["service"], "tubemail");
    assert!(op.text(&["health"]).await.contains("workers online"));
    assert_eq!(op.json(&["whoami"]).await["kind"], "secret");
    assert!(op.text(&["whoami"]).await.contains("shared secret"));

    // Settings: read, one changed, a bad value refused with the fix.
    let before = op.json(&["settings", "get"]).await;
    assert!(before["recording_keep_files"].is_u64());
    let after = op
        .json(&["settings", "set", "recording-keep-files", "7"])
        .await;
    assert_eq!(after["recording_keep_files"], 7);
    let after = op
        .json(&["settings", "set", "recording-enabled-by-default", "on"])
        .await;
    assert_eq!(after["recording_enabled_by_default"], true);
    assert!(
        op.text(&["settings", "get"])
            .await
            .contains("recording-keep-files            7")
    );
    let after = op
        .json(&["settings", "set", "retention-max-database-mib", "256"])
        .await;
    assert_eq!(after["retention_max_database_mib"], 256);
    op.fails(
        &["settings", "set", "retention-max-database-mib", "8"],
        &["retention_max_database_mib must be 0 (no limit) or between 32"],
    )
    .await;
    op.fails(
        &["settings", "set", "recording-keep-files", "many"],
        &["\"many\" is not a whole number"],
    )
    .await;

    // Flows: saved from args and from a file, listed, shown, run, logged,
    // finished, deleted.
    op.fails(
        &["flows", "show", "daily"],
        &["no flow named \"daily\"", "flows save"],
    )
    .await;
    let saved = op
        .json(&[
            "flows",
            "save",
            "daily",
            "--body",
            "run the tests",
            "--worker",
            "proj-tm",
        ])
        .await;
    assert_eq!(saved["name"], "daily");
    assert_eq!(saved["default_worker"], "proj-tm");
    let file = dir.path().join("weekly.md");
    std::fs::write(&file, "tidy up\nthen report").unwrap();
    let saved = op
        .json(&["flows", "save", "weekly", "--file", file.to_str().unwrap()])
        .await;
    assert_eq!(saved["body"], "tidy up\nthen report");
    let flows = op.json(&["flows", "list"]).await;
    let names: Vec<&str> = flows
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{flows}");
    assert!(names.contains(&"daily") && names.contains(&"weekly"));
    let listing = op.text(&["flows", "list"]).await;
    assert!(
        listing.contains("daily") && listing.contains("never"),
        "{listing}"
    );
    assert_eq!(
        op.json(&["flows", "show", "weekly"]).await["body"],
        "tidy up\nthen report"
    );
    op.fails(
        &["flows", "run", "weekly"],
        &["failed to run flow \"weekly\""],
    )
    .await;
    let run = op.json(&["flows", "run", "daily"]).await;
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    assert!(run["first_event_id"].is_string());
    let log = op.json(&["flows", "log", &run_id]).await;
    assert_eq!(log["flow_name"], "daily");
    assert_eq!(log["events"][0]["content"], "run the tests");
    assert!(log["finished_at"].is_null());
    let words = op.text(&["flows", "log", &run_id]).await;
    assert!(
        words.contains("not finished") && words.contains("run the tests"),
        "{words}"
    );
    let finished = op.json(&["flows", "finish", &run_id]).await;
    assert!(finished["finished_at"].is_f64());
    assert!(
        op.text(&["flows", "show", "daily"])
            .await
            .contains("last run: ")
    );
    assert_eq!(
        op.json(&["flows", "delete", "weekly"]).await["deleted"],
        true
    );
    op.fails(
        &["flows", "delete", "weekly"],
        &["no flow named \"weekly\""],
    )
    .await;
    op.fails(
        &["flows", "log", "nosuch"],
        &["run not found", "hint: check the name"],
    )
    .await;

    // Tokens: a worker token is printed once (with a warning), listed
    // without itself, works as that worker only, and is revoked.
    let issued = op
        .run(&[
            "tokens", "create", "worker", "proj-tm", "--label", "ci", "--json",
        ])
        .await;
    let warning = stderr(&issued);
    let issued = json(&issued);
    let token = issued["token"].as_str().unwrap().to_owned();
    let id = issued["id"].as_str().unwrap().to_owned();
    assert!(
        warning.contains("credential") && !warning.contains(&token),
        "{warning}"
    );
    let plain = op.run(&["tokens", "create", "operator-ro"]).await;
    let ro_token = text(&plain).trim().to_owned();
    assert!(ro_token.starts_with("tmt_"), "{ro_token}");
    let orchestrator = json(&op.run(&["tokens", "create", "operator", "--json"]).await);
    assert_eq!(orchestrator["kind"], "operator");
    let as_operator = common::run(
        dir.path(),
        &[("TUBEMAIL_HUB_URL", &hub.url)],
        &[
            "whoami",
            "--secret",
            orchestrator["token"].as_str().unwrap(),
        ],
    )
    .await;
    assert!(
        text(&as_operator).contains("may drive workers"),
        "{as_operator:?}"
    );
    let listed = op.json(&["tokens", "list"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert!(!listed.to_string().contains(&token));
    let table = op.text(&["tokens", "list"]).await;
    assert!(
        table.contains(&id) && table.contains("live") && table.contains("ci"),
        "{table}"
    );
    let as_worker = common::run(
        dir.path(),
        &[
            ("TUBEMAIL_HUB_URL", &hub.url),
            ("TUBEMAIL_TOKEN", &token),
            ("TUBEMAIL_SECRET", SECRET),
        ],
        &["whoami", "--json"],
    )
    .await;
    assert_eq!(
        json(&as_worker)["worker"],
        "proj-tm",
        "the token wins over the secret"
    );
    let denied = common::run(
        dir.path(),
        &[("TUBEMAIL_HUB_URL", &hub.url)],
        &["tokens", "list", "--secret", &ro_token],
    )
    .await;
    assert_eq!(denied.status.code(), Some(1));
    assert!(
        stderr(&denied).contains("use the hub's shared secret"),
        "{denied:?}"
    );
    assert_eq!(op.json(&["tokens", "revoke", &id]).await["revoked"], true);
    assert!(
        op.text(&["tokens", "revoke", &id])
            .await
            .contains("revoked already")
    );
    op.fails(&["tokens", "revoke", "nosuch"], &["no token with id"])
        .await;
    let missing = op.run(&["tokens", "create", "worker"]).await;
    assert_eq!(
        missing.status.code(),
        Some(2),
        "a worker token needs its worker"
    );

    // Recording: switched on and off, frames read (none yet).
    op.run(&["send", "rec-tm", "hi", "--queue"]).await;
    assert_eq!(
        op.json(&["recording", "on", "rec-tm"]).await["enabled"],
        true
    );
    assert!(
        op.text(&["recording", "status", "rec-tm"])
            .await
            .contains("recording on")
    );
    assert_eq!(
        op.json(&["recording", "off", "rec-tm"]).await["enabled"],
        false
    );
    let frames = op
        .json(&[
            "recording",
            "frames",
            "rec-tm",
            "--grep",
            "a b",
            "--limit",
            "3",
        ])
        .await;
    assert_eq!(frames["frames"], serde_json::json!([]));
    assert!(
        op.text(&["recording", "frames", "rec-tm"])
            .await
            .contains("no frames")
    );
    op.fails(
        &["recording", "frames", "rec-tm", "--grep", "("],
        &["bad request", "fix that value"],
    )
    .await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_through_the_manager() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&dir.path().join("hub")).await;
    let op = Op {
        dir: dir.path(),
        url: &hub.url,
    };
    let c = Client::builder()
        .url(&hub.url)
        .secret(SECRET)
        .build()
        .unwrap();
    // A worker and a simulated manager that answers screenshots and
    // health checks, as claude-tm's does.
    let reg = tubemail_client::core::api::RegisterRequest {
        cwd: "/work/proj".into(),
        pid: Some(1),
        forwarder_version: None,
        permission_mode: None,
    };
    c.register(&w("proj-tm"), &reg).await.unwrap();
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
                ("❯ ready\n".to_owned(), "screenshot")
            } else {
                continue;
            };
            let mut meta = Meta::new();
            meta.insert("kind".into(), reply.into());
            mc.outbound(&w("proj-tm-manager"), &text, Some(meta))
                .await
                .unwrap();
        }
    });

    let roster = op.text(&["workers"]).await;
    assert!(
        roster.contains("proj-tm") && roster.contains(", idle"),
        "{roster}"
    );
    assert_eq!(op.json(&["screen", "proj-tm"]).await["screen"], "❯ ready\n");
    assert_eq!(
        op.text(&["screen", "proj-tm", "--lines", "5"]).await,
        "❯ ready\n"
    );
    assert_eq!(op.json(&["health", "proj-tm"]).await["child_alive"], true);
    let keys = op.json(&["keys", "proj-tm", "esc", "enter"]).await;
    assert_eq!(keys["bytes_sent"], 2);
    assert!(
        op.text(&["keys", "proj-tm", "y"])
            .await
            .contains("typed 1 bytes")
    );
    for act in ["interrupt", "stop", "restart"] {
        let done = op.json(&[act, "proj-tm"]).await;
        assert_eq!(done["command"], act);
        assert!(done["event_id"].is_string(), "{done}");
    }
    assert!(
        op.text(&["interrupt", "proj-tm"])
            .await
            .starts_with("asked proj-tm to interrupt")
    );
    manager.abort();

    // No manager: the error says what to check.
    op.fails(&["screen", "ghost-tm"], &["hint:", "claude-tm"])
        .await;
    op.fails(
        &["clear-and-send", "ghost-tm", "x"],
        &["not idle", "tubemail status"],
    )
    .await;
    let cleared = op
        .json(&[
            "clear-and-send",
            "proj-tm",
            "fresh start",
            "--delay",
            "0",
            "--no-rename",
        ])
        .await;
    assert!(cleared["message_event_id"].is_string(), "{cleared}");
    assert_eq!(op.json(&["purge", "proj-tm"]).await["removed"], true);
    op.fails(&["purge", "proj-tm"], &["no worker named proj-tm"])
        .await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_add_list_test_remove_and_expiry_settings() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start(&dir.path().join("hub")).await;
    let op = Op {
        dir: dir.path(),
        url: &hub.url,
    };
    assert!(op.text(&["rules", "list"]).await.contains("No rules"));
    let added = op
        .json(&[
            "rules",
            "add",
            "allow",
            "--worker",
            "build-*",
            "--tool",
            "Bash",
            "--input",
            "^git (status|diff)$",
            "--name",
            "git reads",
        ])
        .await;
    let id = added["id"].as_str().unwrap().to_owned();
    op.json(&[
        "rules",
        "add",
        "ask",
        "--timeout",
        "30",
        "--default-answer",
        "allow",
        "--position",
        "0",
        "--tool",
        "Edit",
    ])
    .await;
    let rules = op.json(&["rules", "list"]).await;
    assert_eq!(rules[0]["tool"], "Edit");
    assert_eq!(rules[1]["id"], id.as_str());
    let listed = op.text(&["rules", "list"]).await;
    assert!(listed.contains("input=/^git (status|diff)$/"), "{listed}");
    assert!(listed.contains("# git reads"), "{listed}");

    let said = op
        .text(&[
            "rules",
            "test",
            "build-2",
            "Bash",
            r#"{"command":"git status"}"#,
        ])
        .await;
    assert!(
        said.starts_with(&format!("allow by rule 1 ({id}, git reads)")),
        "{said}"
    );
    let said = op.text(&["rules", "test", "w", "Edit"]).await;
    assert!(said.contains("allow after 30 s"), "{said}");
    let said = op.text(&["rules", "test", "w", "Read"]).await;
    assert!(said.contains("no rule"), "{said}");

    op.fails(
        &["rules", "add", "deny", "--input", "(oops"],
        &["rule 2 (input): invalid regex"],
    )
    .await;
    op.text(&["rules", "remove", &id]).await;
    op.fails(&["rules", "remove", &id], &["unknown rule"]).await;
    assert_eq!(
        op.json(&["rules", "list"]).await.as_array().unwrap().len(),
        1
    );

    let s = op
        .json(&["settings", "set", "permission-timeout-secs", "90"])
        .await;
    assert_eq!(s["permission_timeout_secs"], 90);
    let s = op
        .json(&["settings", "set", "permission-default-answer", "allow"])
        .await;
    assert_eq!(s["permission_default_answer"], "allow");
    op.fails(
        &["settings", "set", "permission-default-answer", "maybe"],
        &["\"maybe\" is not allow or deny"],
    )
    .await;
}
