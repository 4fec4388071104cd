//! `claude-tm` as a user starts it: settings from `.env`, the name from the
//! directory, claude's argv with our channel, private runtime files, one
//! launcher per worker, restart with `--continue`, stop.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use tubemail_core::WorkerName;
use tubemail_core::engine::ControlOutcome;

const SECRET: &str = "launcher-test-secret";

const FAKE_CLAUDE: &str = r#"#!/bin/sh
printf 'args:[%s]\nREADY> ' "$*"
while IFS= read -r line; do
  case "$line" in
    *"/exit"*) exit 0;;
  esac
  printf 'READY> '
done
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_with_continue_and_stops_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    std::fs::create_dir(&project).unwrap();
    let fake = dir.path().join("fake-claude");
    let fake = common::script(fake, FAKE_CLAUDE);
    // The secret comes from the project's .env, as a user would keep it.
    std::fs::write(project.join(".env"), format!("TUBEMAIL_SECRET={SECRET}\n")).unwrap();

    let hub = common::TestHub::start(&dir.path().join("hub"), SECRET).await;
    let (state, url) = (hub.state.clone(), hub.url.clone());
    let engine = state.engine.clone();
    let runtime = dir.path().join("run");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();

    let launch = || {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"));
        cmd.args(["--hub", &url])
            .current_dir(&project)
            .env_remove("TUBEMAIL_SECRET")
            .env_remove("TM_WORKER_NAME")
            .env_remove("TM_FORCE")
            .env("HOME", dir.path())
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("TUBEMAIL_CLAUDE_BIN", &fake)
            .env("TUBEMAIL_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd
    };
    let mut launcher = launch().spawn().unwrap();
    let worker: WorkerName = "proj-tm".parse().unwrap();
    let mgr = worker.manager().unwrap();
    let screen_has = async |needle: &str| match engine.screenshot(&worker, None).await.unwrap() {
        ControlOutcome::Answered(ev) if ev.content.contains(needle) => Some(ev.content),
        _ => None,
    };
    // claude gets our channel (a private MCP config), the development-channel
    // flag, our own tools allowed, the plugin and the worker's name.
    let wd = runtime.join("tubemail/proj-tm");
    let config = wd.join("mcp.json");
    let plugin = wd.join("plugin");
    let ours = format!(
        "--settings {} --mcp-config {} --allowedTools mcp__tubemail-channel__reply,mcp__tubemail-channel__ack,\
         mcp__tubemail-channel__channel_health,mcp__tubemail-channel__reconnect_mcp \
         --dangerously-load-development-channels server:tubemail-channel --plugin-dir {} \
         --permission-mode default --name proj-tm",
        wd.join("hooks.json").display(),
        config.display(),
        plugin.display()
    );
    common::eventually("the first claude", Duration::from_secs(15), async || {
        screen_has(&format!("args:[{ours}]")).await
    })
    .await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&wd), 0o700);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let server = &cfg["mcpServers"]["tubemail-channel"];
    assert_eq!(server["args"], serde_json::json!(["channel"]));
    assert_eq!(server["env"]["TM_WORKER_NAME"], "proj-tm");
    assert_eq!(
        server["alwaysLoad"], true,
        "never deferred behind tool search"
    );
    assert!(
        !cfg.to_string().contains(SECRET),
        "no secret on disk: {cfg}"
    );
    assert!(plugin.join("commands/restart.md").is_file());
    assert!(plugin.join(".claude-plugin/plugin.json").is_file());

    // A second launcher for the same worker refuses to start.
    let second = launch().output().await.unwrap();
    assert_eq!(second.status.code(), Some(1), "{second:?}");
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("proj-tm is already running"), "{err}");

    assert!(engine.worker(&mgr).unwrap().online);
    engine
        .control(&worker, &tubemail_core::ManagerCommand::Restart)
        .await
        .unwrap();
    // A new manager starts claude again, now with --continue.
    common::eventually(
        "claude restarted with --continue",
        Duration::from_secs(15),
        async || screen_has(&format!("args:[{ours} --continue]")).await,
    )
    .await;

    engine
        .control(&worker, &tubemail_core::ManagerCommand::Stop)
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), launcher.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        !wd.join("claude-tm.pid").exists(),
        "the pid file goes with the launcher"
    );
    hub.stop().await;
}

/// Nothing configured, a hub on this machine: the launcher takes the hub's
/// secret from its data dir, says so in one line before claude has the
/// terminal, and its manager gets it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_hub_s_secret_is_found_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    std::fs::create_dir(&project).unwrap();
    let fake = common::script(dir.path().join("fake-claude"), FAKE_CLAUDE);
    let data = dir.path().join("hub");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("secret"), format!("{SECRET}\n")).unwrap();
    let hub = common::TestHub::start(&data, SECRET).await;
    let runtime = dir.path().join("run");
    std::fs::create_dir(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let launcher = tokio::process::Command::new(env!("CARGO_BIN_EXE_claude-tm"))
        .args(["--hub", &hub.url])
        .current_dir(&project)
        .env_remove("TUBEMAIL_SECRET")
        .env_remove("TUBEMAIL_TOKEN")
        .env_remove("TM_WORKER_NAME")
        .env_remove("TM_FORCE")
        .env("TUBEMAIL_DATA_DIR", &data)
        .env("HOME", dir.path())
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("TUBEMAIL_CLAUDE_BIN", &fake)
        .env("TUBEMAIL_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let worker: WorkerName = "proj-tm".parse().unwrap();
    let mgr = worker.manager().unwrap();
    let engine = hub.state.engine.clone();
    common::eventually("the manager online", Duration::from_secs(15), async || {
        engine.worker(&mgr).filter(|w| w.online).map(|_| ())
    })
    .await;
    engine
        .control(&worker, &tubemail_core::ManagerCommand::Stop)
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(15), launcher.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let said = format!(
        "claude-tm: using the local hub's secret from {}",
        data.join("secret").display()
    );
    assert_eq!(err.matches(&said).count(), 1, "{err}");
    assert!(!err.contains(SECRET), "{err}");
    hub.stop().await;
}
