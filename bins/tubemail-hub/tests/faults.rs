//! Fault injection against the hub binary: kill -9 under load (repeated),
//! a subscriber's stream cut mid-delivery, a full disk, and databases it
//! must refuse (corrupt, newer schema) without touching them.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{HubProcess, SECRET, free_port, hub_bin};

/// SIGTERM, then wait for a clean exit (the store is flushed and closed).
fn stop_gracefully(hub: &mut HubProcess) {
    let status = Command::new("kill")
        .args(["-TERM", &hub.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = hub.child.try_wait().unwrap() {
            assert!(s.success(), "hub exited with {s} after SIGTERM");
            return;
        }
        assert!(Instant::now() < deadline, "hub still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the hub on `dir` expecting it to refuse to start: its exit status
/// and its stderr.
fn refused_start(dir: &Path) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(hub_bin())
        .args([
            "--bind",
            &format!("127.0.0.1:{}", free_port()),
            "--log",
            "off",
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("TUBEMAIL_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the hub started on a database it should refuse");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file of the data dir with its bytes.
fn snapshot_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_newer_databases_are_refused_and_never_written() {
    // A real database with a few hundred events, closed cleanly.
    let base = tempfile::tempdir().unwrap();
    let mut hub = HubProcess::spawn(base.path(), free_port()).await;
    let c = hub.client();
    c.register("w", 1).await;
    for i in 0..300 {
        c.send("w", &format!("message {i} {}", "x".repeat(200)))
            .await;
    }
    stop_gracefully(&mut hub);
    // Fold the WAL into the file, so the damage below hits the real pages.
    let db_path = base.path().join("tubemail.db");
    {
        let conn = rusqlite::Connection::open(&db_path).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
    }
    assert!(!base.path().join("tubemail.db-wal").exists());
    let db = std::fs::read(&db_path).unwrap();
    assert!(db.len() > 16 * 4096, "database is only {} bytes", db.len());
    let page = u16::from_be_bytes([db[16], db[17]]) as usize;

    type Damage = fn(&mut Vec<u8>, usize);
    let cases: [(&str, Damage, &str); 5] = [
        (
            "newer schema",
            // user_version is the big-endian u32 at offset 60.
            |d, _| d[60..64].copy_from_slice(&99u32.to_be_bytes()),
            "newer",
        ),
        (
            "garbage header",
            |d, _| d[..100].copy_from_slice(&[0x5a; 100]),
            "not a TubeMail database",
        ),
        (
            "garbage pages",
            |d, page| {
                for p in 1..d.len() / page {
                    let at = p * page;
                    d[at..at + 64].copy_from_slice(&[0xa5; 64]);
                }
            },
            "corrupt",
        ),
        ("truncated", |d, page| d.truncate(3 * page + 100), "corrupt"),
        (
            "schema table damaged",
            |d, _| {
                for b in &mut d[100..1024] {
                    *b = !*b;
                }
            },
            "corrupt",
        ),
    ];
    for (what, damage, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = db.clone();
        damage(&mut bytes, page);
        std::fs::write(dir.path().join("tubemail.db"), &bytes).unwrap();
        let before = snapshot_dir(dir.path());
        let (status, stderr) = refused_start(dir.path());
        assert!(!status.success(), "{what}: exit {status}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{what}: not one line: {stderr:?}");
        let line = lines[0];
        assert!(line.contains("tubemail.db"), "{what}: {line}");
        assert!(line.contains(says), "{what}: {line}");
        assert!(!line.contains(SECRET), "{what}: secret in {line}");
        let after = snapshot_dir(dir.path());
        assert_eq!(
            after.get("tubemail.db"),
            before.get("tubemail.db"),
            "{what}: the database file was changed"
        );
        // Nothing left beside it but empty SQLite side files.
        for (name, content) in &after {
            assert!(
                name == "tubemail.db" || name == "secret" || content.is_empty(),
                "{what}: {name} ({} bytes) written",
                content.len()
            );
        }
        eprintln!("{what}: {line}");
    }
}
