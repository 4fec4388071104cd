//! End to end on one machine: a real hub, `claude-tm` as a user starts it,
//! its manager, and the stand-in claude (tests/support/standin-claude.py),
//! which loads our channel from the `--mcp-config` the manager wrote and
//! speaks MCP to it the way Claude Code does.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{TestHub, eventually};
use serde_json::Value;
use tubemail_client::Client;
use tubemail_client::core::{Behavior, EventKind, WorkerName};

const SECRET: &str = "standin-secret";
const T: Duration = Duration::from_secs(30);

/// What the stand-in logged, one JSON object per line.
fn standin_log(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

async fn outbound_texts(c: &Client, w: &WorkerName) -> Vec<String> {
    c.events(w, None, 500)
        .await
        .map(|evs| {
            evs.into_iter()
                .filter(|e| e.kind == EventKind::Outbound)
                .map(|e| e.content)
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_reply(c: &Client, w: &WorkerName, text: &str) {
    eventually(&format!("the reply {text:?}"), T, async || {
        outbound_texts(c, w)
            .await
            .iter()
            .any(|t| t == text)
            .then_some(())
    })
    .await;
}

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

struct Worker {
    child: tokio::process::Child,
    log: PathBuf,
}

fn start_worker(root: &Path, hub_url: &str) -> Worker {
    let project = root.join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let log = root.join("standin.jsonl");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"))
        .current_dir(&project)
        .env("TUBEMAIL_HUB_URL", hub_url)
        .env("TUBEMAIL_SECRET", SECRET)
        .env("TUBEMAIL_CLAUDE_BIN", common::standin_claude())
        .env("XDG_RUNTIME_DIR", root.join("run"))
        .env("XDG_STATE_HOME", root.join("state"))
        .env("HOME", root.join("home"))
        .env("STANDIN_LOG", &log)
        .env("TUBEMAIL_LOG", "claude_tm=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("claude-tm.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Worker { child, log }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_to_claude_and_back_through_claude_tm() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("hub");
    let hub = TestHub::start(&data, SECRET).await;
    let addr = hub.url.trim_start_matches("http://").to_owned();
    let c = Client::builder()
        .url(&hub.url)
        .secret(SECRET)
        .build()
        .unwrap();
    let mut worker = start_worker(tmp.path(), &hub.url);
    let w: WorkerName = "proj-tm".parse().unwrap();
    let m: WorkerName = "proj-tm-manager".parse().unwrap();

    // The channel registers once claude loaded it (after the manager
    // accepted the development-channels warning on the user's behalf).
    eventually("worker and manager online", T, async || {
        let online = |name| {
            let c = c.clone();
            async move { c.worker(name).await.is_ok_and(|s| s.online) }
        };
        (online(&w).await && online(&m).await).then_some(())
    })
    .await;
    let log = standin_log(&worker.log);
    assert!(
        log.iter().any(|e| e["event"] == "dev_channels_accepted"),
        "{log:?}"
    );
    let ready = log
        .iter()
        .find(|e| e["event"] == "mcp_ready")
        .expect("the channel was loaded");
    assert_eq!(ready["server"], "tubemail-channel");
    assert_eq!(ready["channel"], true);

    // A message reaches the session as a channel notification, and the
    // "model" answers through the reply tool.
    let mut meta = tubemail_client::core::Meta::new();
    meta.insert("source".into(), "orchestrator".into());
    meta.insert("attempt".into(), 2.into());
    meta.insert("bad key!".into(), "x".into());
    c.send(&w, "hello \"there\"\nsecond line ✓", Some(meta))
        .await
        .unwrap();
    wait_reply(&c, &w, "echo: hello \"there\"\nsecond line ✓").await;
    let log = standin_log(&worker.log);
    let seen = log.iter().find(|e| e["event"] == "channel").unwrap();
    let meta = seen["meta"].as_object().unwrap();
    assert_eq!(meta["tm_source"], "orchestrator", "{meta:?}");
    assert_eq!(meta["attempt"], "2");
    assert_eq!(meta["bad_key_"], "x");
    assert!(meta["event_id"].as_str().is_some() && !meta.contains_key("source"));
    // The channel confirmed the delivery.
    eventually("delivery confirmed", T, async || {
        c.status(&w).await.ok().and_then(|s| s.acknowledged_through)
    })
    .await;

    // A tool that needs approval: allowed remotely, then denied remotely.
    for (command, behavior, answer) in [
        ("ls -la", Behavior::Allow, "ran: ls -la"),
        ("rm -rf /tmp/x", Behavior::Deny, "denied: rm -rf /tmp/x"),
    ] {
        c.send(&w, &format!("RUN {command}"), None).await.unwrap();
        let ask = eventually("the permission prompt on the hub", T, async || {
            c.pending_permissions(Some(&w), false)
                .await
                .ok()
                .and_then(|p| p.into_iter().next())
        })
        .await;
        assert_eq!(ask.tool_name, "Bash");
        assert!(ask.input_preview.contains(command), "{ask:?}");
        if behavior == Behavior::Allow {
            // A harness command is not typed into the open prompt; it
            // waits until the prompt is answered.
            c.send(&w, "/compact", None).await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
            let log = standin_log(&worker.log);
            assert!(!log.iter().any(|e| e["event"] == "typed"), "{log:?}");
            // Reads do not queue behind the held-back input: the screen
            // (showing the prompt) and health answer meanwhile.
            let screen = c.screenshot(&w, None).await.unwrap();
            assert!(screen.contains(command), "{screen}");
            let h = c.manager_health(&w).await.unwrap();
            assert!(h.child_alive, "{h:?}");
            let log = standin_log(&worker.log);
            assert!(!log.iter().any(|e| e["event"] == "typed"), "{log:?}");
        }
        assert!(
            c.resolve_permission(&w, &ask.request_id, behavior)
                .await
                .unwrap()
        );
        wait_reply(&c, &w, answer).await;
        if behavior == Behavior::Allow {
            eventually("/compact typed after the prompt", T, async || {
                let log = standin_log(&worker.log);
                let decided = log
                    .iter()
                    .position(|e| e["event"] == "permission_decided")?;
                let typed = log
                    .iter()
                    .position(|e| e["event"] == "typed" && e["text"] == "/compact")?;
                (typed > decided).then_some(())
            })
            .await;
        }
        assert!(
            c.pending_permissions(Some(&w), false)
                .await
                .unwrap()
                .is_empty()
        );
    }

    // Answered at the terminal instead: the hub's copy goes away too.
    c.send(&w, "RUN make", None).await.unwrap();
    eventually("the third prompt on the hub", T, async || {
        let p = c.pending_permissions(Some(&w), false).await.ok()?;
        (!p.is_empty()).then_some(())
    })
    .await;
    c.keystroke(&w, "1").await.unwrap();
    wait_reply(&c, &w, "ran: make").await;
    eventually("no ghost prompt on the hub", T, async || {
        let p = c.pending_permissions(Some(&w), false).await.ok()?;
        p.is_empty().then_some(())
    })
    .await;

    // The screen, keys typed through the manager, health.
    let screen = c.screenshot(&w, None).await.unwrap();
    assert!(
        screen.contains("← tubemail-channel: RUN ls -la"),
        "{screen}"
    );
    c.keystroke(&w, "hello space hub enter").await.unwrap();
    eventually("typed text on screen", T, async || {
        let s = c.screenshot(&w, None).await.ok()?;
        s.contains("● echo: hello hub").then_some(())
    })
    .await;
    let h = c.manager_health(&w).await.unwrap();
    assert!(h.child_alive, "{h:?}");
    assert!(h.cpu_percent.is_some(), "{h:?}");
    assert!(h.memory_mb.unwrap() > 1.0, "{h:?}");
    assert!(h.processes.unwrap() >= 2, "claude and its channel: {h:?}");
    assert_eq!(h.restart_count, 0, "{h:?}");

    // The hub goes away and comes back on the same address: the worker
    // reconnects by itself and a message sent right away is delivered once.
    hub.stop().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hub = TestHub::start_on(&data, SECRET, &addr).await;
    c.send(&w, "after the outage", None).await.unwrap();
    wait_reply(&c, &w, "echo: after the outage").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let replies = outbound_texts(&c, &w).await;
    assert_eq!(
        replies
            .iter()
            .filter(|t| *t == "echo: after the outage")
            .count(),
        1,
        "{replies:?}"
    );

    // Restart: claude comes back with --continue and the channel too.
    c.restart(&w).await.unwrap();
    eventually("claude started again with --continue", T, async || {
        standin_log(&worker.log)
            .iter()
            .filter(|e| e["event"] == "start")
            .nth(1)
            .map(|e| e["argv"].as_array().unwrap().contains(&"--continue".into()))
            .filter(|c| *c)
    })
    .await;
    c.send(&w, "after the restart", None).await.unwrap();
    wait_reply(&c, &w, "echo: after the restart").await;
    let h = c.manager_health(&w).await.unwrap();
    assert_eq!(h.restart_count, 1, "{h:?}");

    // Stop: every process ends, nothing is left behind.
    let pids: Vec<i64> = standin_log(&worker.log)
        .iter()
        .filter_map(|e| e["pid"].as_i64())
        .collect();
    assert!(!pids.is_empty());
    c.stop(&w).await.unwrap();
    let status = tokio::time::timeout(T, worker.child.wait())
        .await
        .expect("claude-tm exits after a stop")
        .unwrap();
    assert!(status.success(), "{status}");
    eventually("no stand-in process left", T, async || {
        pids.iter().all(|p| !alive(*p)).then_some(())
    })
    .await;
    hub.stop().await;
}
