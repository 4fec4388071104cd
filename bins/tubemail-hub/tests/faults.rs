//! Fault injection against the hub binary: kill -9 under load (repeated),
//! a subscriber's stream cut mid-delivery, a full disk, and databases it
//! must refuse (corrupt, newer schema) without touching them.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, HubProcess, SECRET, free_port, hub_bin};
use futures::StreamExt;
use serde_json::{Value, json};
use sse_stream::SseStream;

const T: Duration = Duration::from_secs(30);

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
    let cases: [(&str, Damage, &str); 6] = [
        ("empty file", |d, _| d.clear(), "empty (zero bytes"),
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
                name == "tubemail.db"
                    || name == "secret"
                    || name == "hub.lock"
                    || content.is_empty(),
                "{what}: {name} ({} bytes) written",
                content.len()
            );
        }
        eprintln!("{what}: {line}");
    }
}

/// What one subscriber saw: (event id, content) in arrival order.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A channel-like subscriber of `worker`'s stream that survives hub
/// restarts: it reconnects with `Last-Event-ID` = the last id it got.
fn subscriber(
    base: String,
    worker: String,
    seen: Seen,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut resumes = 0;
        while !stop.load(Ordering::Relaxed) {
            let last = seen.lock().unwrap().last().map(|(id, _)| id.clone());
            let mut req = http
                .get(format!("{base}/tubemail/{worker}/stream"))
                .bearer_auth(SECRET);
            if let Some(id) = &last {
                req = req.header("Last-Event-ID", id);
            }
            let resp = match req.send().await {
                Ok(r) if r.status() == 200 => r,
                _ => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            resumes += 1;
            let mut events = SseStream::from_bytes_stream(resp.bytes_stream());
            loop {
                let next = tokio::time::timeout(Duration::from_millis(200), events.next()).await;
                match next {
                    Ok(Some(Ok(sse))) => {
                        if sse.event.as_deref() == Some("channel_event") {
                            let data: Value =
                                serde_json::from_str(sse.data.as_deref().unwrap_or("")).unwrap();
                            let id = sse.id.clone().expect("events carry ids");
                            let content = data["content"].as_str().unwrap().to_owned();
                            seen.lock().unwrap().push((id, content));
                        }
                    }
                    Ok(Some(Err(_)) | None) => break,
                    Err(_) if stop.load(Ordering::Relaxed) => break,
                    Err(_) => {}
                }
            }
        }
        resumes
    })
}

/// Sends round robin over `workers` until the hub stops answering or
/// `stop` is set; returns what the hub acknowledged: (worker, id, text).
fn sender(
    c: Client,
    t: usize,
    workers: Vec<String>,
    cycle: usize,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(String, String, String)>> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut i = t;
        while !stop.load(Ordering::Relaxed) {
            let w = &workers[i % workers.len()];
            let text = format!("c{cycle}-t{t}-{i}");
            let r = c
                .http
                .post(c.url(&format!("/api/workers/{w}/send")))
                .bearer_auth(SECRET)
                .json(&json!({"message": text}))
                .send()
                .await;
            let Ok(resp) = r else { break };
            if resp.status() != 200 {
                eprintln!("sender {t}: {}", resp.status());
                break;
            }
            let Ok(v) = resp.json::<Value>().await else {
                break;
            };
            acked.push((w.clone(), v["event_id"].as_str().unwrap().to_owned(), text));
            i += 16;
        }
        acked
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_five_times_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut hub = HubProcess::spawn(dir.path(), port).await;
    let c = hub.client();
    let workers: Vec<String> = (0..100).map(|i| format!("load-{i:03}")).collect();
    for (i, w) in workers.iter().enumerate() {
        c.register(w, 1000 + i as i64).await;
    }
    // Five workers wait on a permission prompt through every crash.
    for w in &workers[..5] {
        c.post(
            &format!("/tubemail/{w}/permission-request"),
            json!({"request_id": format!("perm-{w}"), "tool_name": "Bash", "description": "ls"}),
        )
        .await;
    }
    let stop_subs = Arc::new(AtomicBool::new(false));
    let seen: HashMap<String, Seen> = workers
        .iter()
        .map(|w| (w.clone(), Seen::default()))
        .collect();
    let subs: Vec<_> = workers
        .iter()
        .map(|w| {
            subscriber(
                c.base.clone(),
                w.clone(),
                seen[w].clone(),
                stop_subs.clone(),
            )
        })
        .collect();
    // Load starts once every subscriber is streaming.
    let deadline = Instant::now() + T;
    loop {
        let roster = c.get("/api/workers").await;
        let online = roster["workers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["online"] == true)
            .count();
        if online == workers.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {online} subscribers connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut acked: Vec<(String, String, String)> = Vec::new();
    let mut rates = Vec::new();
    for cycle in 0..5 {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let before = acked.len();
        let senders: Vec<_> = (0..16)
            .map(|t| sender(c.clone(), t, workers.clone(), cycle, stop.clone()))
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        hub.kill9();
        let elapsed = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        for s in senders {
            acked.extend(s.await.unwrap());
        }
        let n = acked.len() - before;
        rates.push((n as f64 / elapsed.as_secs_f64()) as u64);
        hub = HubProcess::spawn(dir.path(), port).await;
        // Every prompt is still pending after the crash.
        let pending = c.get("/api/permissions?include_offline=true").await;
        let ids: HashSet<&str> = pending["pending"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["request_id"].as_str().unwrap())
            .collect();
        for w in &workers[..5] {
            assert!(
                ids.contains(format!("perm-{w}").as_str()),
                "cycle {cycle}: perm-{w} lost: {pending}"
            );
        }
    }
    eprintln!(
        "acknowledged msg/s per cycle before kill -9: {rates:?}; {} in all",
        acked.len()
    );
    // Every subscriber catches up with everything acknowledged for it.
    let mut want: HashMap<&str, Vec<(&String, &String)>> = HashMap::new();
    for (w, id, text) in &acked {
        want.entry(w.as_str()).or_default().push((id, text));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing: usize = want
            .iter()
            .map(|(w, list)| {
                let got: HashSet<String> = seen[*w]
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(id, _)| id.clone())
                    .collect();
                list.iter().filter(|(id, _)| !got.contains(*id)).count()
            })
            .sum();
        if missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} acknowledged messages never delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop_subs.store(true, Ordering::Relaxed);
    let mut resumes = 0;
    for s in subs {
        resumes += s.await.unwrap();
    }
    for (w, list) in &want {
        let got = seen[*w].lock().unwrap().clone();
        // No duplicates, in id order, across five crashes and resumes.
        let ids: Vec<u64> = got.iter().map(|(id, _)| id.parse().unwrap()).collect();
        assert!(
            ids.windows(2).all(|p| p[0] < p[1]),
            "{w}: repeated or out of order: {ids:?}"
        );
        let by_id: HashMap<&String, &String> = got.iter().map(|(i, t)| (i, t)).collect();
        for (id, text) in list {
            assert_eq!(
                by_id.get(id),
                Some(text),
                "{w}: {id} delivered with other content"
            );
        }
    }
    assert!(resumes >= 500, "only {resumes} stream (re)connections");
    // And the store has every acknowledged message, once.
    for w in &workers[..3] {
        let stored = c.get(&format!("/api/workers/{w}/events?limit=1000")).await;
        let ids: Vec<&str> = stored["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "inbound")
            .map(|e| e["event_id"].as_str().unwrap())
            .collect();
        let unique: HashSet<&&str> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{w}: duplicate rows");
        for (id, _) in &want[w.as_str()] {
            assert!(ids.contains(&id.as_str()), "{w}: {id} not stored");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_mid_delivery_loses_nothing_and_presence_follows() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::spawn(dir.path(), free_port()).await;
    let c = hub.client();
    c.register("cut", 7).await;
    let path = "/tubemail/cut/stream";
    // Messages keep coming while the stream is cut three times.
    let sending = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..1500 {
                ids.push(c.send("cut", &format!("m{i:04} {}", "y".repeat(512))).await);
            }
            ids
        })
    };
    let mut got: Vec<(String, String)> = Vec::new();
    for cut in 0..3 {
        let last = got.last().map(|(id, _)| id.clone());
        let mut s = c.stream(path, last.as_deref()).await;
        for m in s.take("channel_event", 150 + cut * 100, T).await {
            got.push((
                m.id.unwrap(),
                m.data["content"].as_str().unwrap().to_owned(),
            ));
        }
        // Cut without a goodbye, with more on the way.
        drop(s);
        let cut_at = Instant::now();
        while c.get("/api/workers/cut").await["online"] == true {
            assert!(
                cut_at.elapsed() < Duration::from_secs(10),
                "still online 10 s after the cut"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!("cut {cut}: offline after {:?}", cut_at.elapsed());
    }
    let sent = sending.await.unwrap();
    let last = got.last().map(|(id, _)| id.clone());
    let mut s = c.stream(path, last.as_deref()).await;
    assert_eq!(c.get("/api/workers/cut").await["online"], true);
    let rest = sent.len() - got.len();
    for m in s.take("channel_event", rest, T).await {
        got.push((
            m.id.unwrap(),
            m.data["content"].as_str().unwrap().to_owned(),
        ));
    }
    let ids: Vec<&String> = got.iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids,
        sent.iter().collect::<Vec<_>>(),
        "every message once, in order"
    );
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, (_, t))| t.starts_with(&format!("m{i:04}")))
    );
    assert!(
        s.next(Duration::from_millis(500)).await.is_none(),
        "extra events after the last"
    );
}

/// A small tmpfs in a private mount namespace (`unshare -Urm`: no root
/// needed where user namespaces are allowed), held open by a `sleep`.
/// The test reaches the files through `/proc/<pid>/root`.
struct SmallDisk {
    holder: std::process::Child,
    mount: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut holder = Command::new("unshare")
            .args(["-Urm", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs -o size={size} tmpfs \"$0\" && echo ready && exec sleep 600"
            ))
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) is needed for the disk-full test");
        let mut line = String::new();
        let out = holder.stdout.take().unwrap();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "could not mount a tmpfs in a user namespace (unshare -Urm); \
             this test needs user namespaces or root"
        );
        SmallDisk {
            mount: dir.path().to_path_buf(),
            holder,
            _dir: dir,
        }
    }

    /// The mount as the test sees it.
    fn outside(&self) -> std::path::PathBuf {
        Path::new(&format!("/proc/{}/root", self.holder.id()))
            .join(self.mount.strip_prefix("/").unwrap())
    }

    /// The hub binary inside the namespace, data dir on the tmpfs.
    async fn hub(&self, port: u16) -> HubProcess {
        let child = Command::new("nsenter")
            .args([
                "-t",
                &self.holder.id().to_string(),
                "-U",
                "-m",
                "--preserve-credentials",
            ])
            .arg(hub_bin())
            .args(["--bind", &format!("127.0.0.1:{port}"), "--log", "error"])
            .arg("--data-dir")
            .arg(&self.mount)
            .env("TUBEMAIL_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let hub = HubProcess {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
        };
        hub.client().wait_healthy(T).await;
        hub
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_sends_with_507_damages_nothing_and_recovers() {
    let disk = SmallDisk::new("6m");
    let port = free_port();
    let mut hub = disk.hub(port).await;
    let c = hub.client();
    c.register("disk", 1).await;
    let mut stored = Vec::new();
    for i in 0..50 {
        let text = format!("kept {i}");
        stored.push((c.send("disk", &text).await, text));
    }
    // Fill the disk to the last byte.
    let ballast = disk.outside().join("ballast");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&ballast).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.write_all(&[0u8; 512]);
    }
    // Sends are refused, clearly, before long (SQLite may have some
    // slack in pages it already owns).
    let big = "z".repeat(32 * 1024);
    let mut refused = None;
    for i in 0..400 {
        let text = format!("late {i} {big}");
        let (status, body) = c
            .call(
                "POST",
                "/api/workers/disk/send",
                Some(json!({"message": text})),
            )
            .await;
        if status == 200 {
            stored.push((body["event_id"].as_str().unwrap().to_owned(), text));
        } else {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("the disk never filled up");
    eprintln!(
        "disk full after {} more sends: {status} {body}",
        stored.len() - 50
    );
    assert_eq!(status, 507, "{body}");
    assert_eq!(
        body["detail"], "storage is full; nothing was stored",
        "{body}"
    );
    // Reads keep working and nothing stored is lost or damaged.
    let check = |c: Client, stored: Vec<(String, String)>| async move {
        let events = c.get("/api/workers/disk/events?limit=2000").await;
        let have: HashMap<String, String> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "inbound")
            .map(|e| {
                (
                    e["event_id"].as_str().unwrap().to_owned(),
                    e["content"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for (id, text) in &stored {
            assert_eq!(have.get(id), Some(text), "{id} lost or changed");
        }
        assert_eq!(have.len(), stored.len(), "refused sends were stored");
    };
    check(c.clone(), stored.clone()).await;
    assert_eq!(c.get("/health").await["status"], "ok");
    // Space returns: the hub takes sends again without a restart.
    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + T;
    loop {
        let (status, body) = c
            .call(
                "POST",
                "/api/workers/disk/send",
                Some(json!({"message": "after"})),
            )
            .await;
        if status == 200 {
            stored.push((
                body["event_id"].as_str().unwrap().to_owned(),
                "after".to_owned(),
            ));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refusing after space returned: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check(c.clone(), stored.clone()).await;
    // And the file on disk is sound: after kill -9, a new hub has it all.
    hub.kill9();
    let hub = disk.hub(port).await;
    check(hub.client(), stored).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_on_a_full_disk_are_refused_with_507_and_left_as_they_were() {
    let disk = SmallDisk::new("4m");
    let hub = disk.hub(free_port()).await;
    let c = hub.client();
    let before = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"recording_keep_files": 7})),
        )
        .await;
    assert_eq!(before.0, 200, "{}", before.1);
    let ballast = disk.outside().join("ballast");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&ballast).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        while f.write_all(&[0u8; 512]).is_ok() {}
    }
    let (status, body) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"recording_keep_files": 9})),
        )
        .await;
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["detail"], "storage is full; nothing was stored");
    assert_eq!(c.get("/api/settings").await["recording_keep_files"], 7);
    let names: Vec<String> = std::fs::read_dir(disk.outside())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.ends_with(".tmp")),
        "a temp file was left: {names:?}"
    );
    std::fs::remove_file(&ballast).unwrap();
    let (status, body) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"recording_keep_files": 9})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(c.get("/api/settings").await["recording_keep_files"], 9);
}
