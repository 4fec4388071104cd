//! The data dir on disk: private modes whatever the umask, a warning for a
//! TLS key others can read, and one hub per data dir.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, HubProcess, SECRET, free_port, hub_bin};
use serde_json::json;
use tubemail_hub::{Hub, OpenError, Options};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file and dir under `dir` (itself included) with its mode.
fn modes(dir: &Path, out: &mut Vec<(String, u32, bool)>) {
    out.push((dir.display().to_string(), mode(dir), true));
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            modes(&path, out);
        } else {
            out.push((path.display().to_string(), mode(&path), false));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_and_every_file_in_it_are_private_whatever_the_umask() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("data");
    let port = free_port();
    // umask 022, no TUBEMAIL_SECRET: the hub generates its secret file.
    let child = Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" --bind \"127.0.0.1:$1\" --log warn --data-dir \"$2\"")
        .arg(hub_bin())
        .arg(port.to_string())
        .arg(&dir)
        .env_remove("TUBEMAIL_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let hub = HubProcess { child, addr };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.join("secret").exists() {
        assert!(Instant::now() < deadline, "no secret written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secret = std::fs::read_to_string(dir.join("secret")).unwrap();
    let c = Client::new(format!("http://{addr}"), secret.trim());
    c.wait_healthy(Duration::from_secs(20)).await;
    c.register("files-tm", 1).await;
    c.send("files-tm", "hello").await;
    c.call(
        "PUT",
        "/api/settings",
        Some(json!({"recording_keep_files": 5})),
    )
    .await;
    c.post("/api/workers/files-tm/recording", json!({"enabled": true}))
        .await;
    let out = c
        .http
        .post(c.url("/tubemail/files-tm/pty-out"))
        .bearer_auth(&c.secret)
        .body("$ echo hi\r\nhi\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    // The recording's files appear (the recorder writes in the background).
    let deadline = Instant::now() + Duration::from_secs(20);
    let recording = dir.join("recordings/files-tm");
    loop {
        let files = std::fs::read_dir(&recording)
            .map(|d| d.flatten().count())
            .unwrap_or(0);
        if files >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no recording written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut all = Vec::new();
    modes(&dir, &mut all);
    let names: Vec<&str> = all
        .iter()
        .map(|(p, _, _)| p.rsplit('/').next().unwrap())
        .collect();
    for expected in [
        "tubemail.db",
        "tubemail.db-wal",
        "tubemail.db-shm",
        "secret",
        "hub-config.json",
        "hub.lock",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    for (path, mode, is_dir) in &all {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{path} is {mode:o}");
    }
    drop(hub);
}

#[test]
fn a_tls_key_others_can_read_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("server.crt"), ck.cert.pem()).unwrap();
    let key = dir.path().join("server.key");
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut child = Command::new(hub_bin())
        .args(["--bind", &format!("127.0.0.1:{}", free_port())])
        .args(["--log", "warn", "--data-dir"])
        .arg(dir.path())
        .env("TUBEMAIL_SECRET", common::SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = common::stderr_lines(child.stderr.take().unwrap());
    let warning = common::line_with(&lines, "server.key", Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
    let line = warning.expect("no warning about the TLS key");
    assert!(line.contains("WARN") && line.contains("readable"), "{line}");
}

#[tokio::test]
async fn a_second_hub_on_a_data_dir_is_refused_while_the_first_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let first = Hub::open(Options::new(dir.path(), SECRET)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = first.state().shutdown.clone();
    let served = tokio::spawn(first.serve(listener, stop.clone().cancelled_owned()));
    Client::new(format!("http://{addr}"), SECRET)
        .wait_healthy(Duration::from_secs(10))
        .await;
    match Hub::open(Options::new(dir.path(), SECRET)) {
        Err(e @ OpenError::Locked(_)) => {
            let said = e.to_string();
            let pid = format!("pid {}", std::process::id());
            assert!(said.contains(&pid), "{said}");
            assert!(said.contains(&addr.to_string()), "{said}");
        }
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("a second hub opened the same data dir"),
    }
    stop.cancel();
    served.await.unwrap().unwrap();
    // Closed, the data dir is free again.
    let again = Hub::open(Options::new(dir.path(), SECRET)).unwrap();
    again.engine().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_hub_binary_says_in_one_line_which_hub_runs() {
    let dir = tempfile::tempdir().unwrap();
    let first = HubProcess::spawn(dir.path(), free_port()).await;
    let out = Command::new(hub_bin())
        .args(["--bind", &format!("127.0.0.1:{}", free_port())])
        .args(["--log", "warn", "--data-dir"])
        .arg(dir.path())
        .env("TUBEMAIL_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let line = lines[0];
    assert!(
        line.contains(&format!("pid {}", first.child.id())),
        "{line}"
    );
    assert!(line.contains(&first.addr.to_string()), "{line}");
    assert!(line.contains("hub.lock"), "{line}");
    // The first one is unharmed.
    assert_eq!(first.client().get("/health").await["status"], "ok");
}
