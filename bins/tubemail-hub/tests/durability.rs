//! Resume, slow readers and crash safety, against the hub binary.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{HubProcess, free_port};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(20);

#[tokio::test]
async fn stream_resumes_with_and_without_last_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::spawn(dir.path(), free_port()).await;
    let c = hub.client();
    for (worker, with_id) in [("with-id", true), ("no-id", false)] {
        c.register(worker, 1).await;
        let path = format!("/tubemail/{worker}/stream");
        let mut s = c.stream(&path, None).await;
        c.send(worker, "first").await;
        let first = s.take("channel_event", 1, T).await.remove(0);
        let last_id = first.id.clone().expect("events carry ids");
        drop(s);
        // Wait until the hub has noticed the disconnect.
        while c.get(&format!("/api/workers/{worker}")).await["online"] == true {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut sent = Vec::new();
        for i in 0..50 {
            sent.push(c.send(worker, &format!("m{i}")).await);
        }
        let mut s = c.stream(&path, with_id.then_some(last_id.as_str())).await;
        let got = s.take("channel_event", 50, T).await;
        let ids: Vec<String> = got.iter().map(|m| m.id.clone().unwrap()).collect();
        assert_eq!(ids, sent, "{worker}: exactly the 50 missed, in order");
        let texts: Vec<&str> = got
            .iter()
            .map(|m| m.data["content"].as_str().unwrap())
            .collect();
        assert_eq!(texts[0], "m0");
        assert_eq!(texts[49], "m49");
        // Nothing more: no duplicate of "first", no repeats.
        let extra = s.next(Duration::from_millis(500)).await;
        assert!(extra.is_none(), "{worker}: unexpected {extra:?}");
    }
}

#[tokio::test]
async fn a_stalled_reader_gets_everything_later_and_memory_stays_flat() {
    let dir = tempfile::tempdir().unwrap();
    let hub = HubProcess::spawn(dir.path(), free_port()).await;
    let c = hub.client();
    c.register("slow", 1).await;
    // Open the stream but do not read it: the socket fills up and stalls.
    let mut stalled = c.stream("/tubemail/slow/stream", None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let payload = "x".repeat(4096);
    let mut sent = Vec::with_capacity(1500);
    let mut rss = vec![hub.rss_kib()];
    for round in 0..3 {
        for i in round * 500..(round + 1) * 500 {
            sent.push(c.send("slow", &format!("{i:04}{payload}")).await);
        }
        rss.push(hub.rss_kib());
    }
    eprintln!("hub RSS (KiB) before and after each 500 x 4 KiB while the reader stalls: {rss:?}");
    // After the first round fills the fixed-size caches (rings, SQLite page
    // cache), 1000 more messages (4 MiB) must not grow the hub: nothing is
    // queued per subscriber.
    let grew = rss[3].saturating_sub(rss[1]);
    assert!(
        grew < 1536,
        "hub RSS grew by {grew} KiB over 4 MiB of undelivered messages"
    );
    let got = stalled
        .take("channel_event", 1500, Duration::from_secs(60))
        .await;
    let ids: Vec<String> = got.iter().map(|m| m.id.clone().unwrap()).collect();
    assert_eq!(ids, sent);
    assert!(got.iter().enumerate().all(|(i, m)| {
        m.data["content"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{i:04}"))
    }));
}

#[tokio::test]
async fn kill_9_loses_no_acknowledged_message_and_no_pending_permission() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut hub = HubProcess::spawn(dir.path(), port).await;
    let c = hub.client();
    c.register("w", 4242).await;
    c.post(
        "/tubemail/w/permission-request",
        json!({"request_id": "perm1", "tool_name": "Bash", "description": "ls"}),
    )
    .await;

    // Senders fire as fast as they can; each keeps the ids the hub acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let c = c.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked: Vec<(String, String)> = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let text = format!("t{t}-{i}");
                let r = c
                    .http
                    .post(c.url("/api/workers/w/send"))
                    .bearer_auth(&c.secret)
                    .json(&json!({"message": text}))
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status() == 200 => match resp.json::<Value>().await {
                        Ok(v) => acked.push((v["event_id"].as_str().unwrap().to_owned(), text)),
                        Err(_) => break,
                    },
                    _ => break,
                }
                i += 1;
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    hub.kill9();
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert!(
        acked.len() > 100,
        "only {} sends were acknowledged",
        acked.len()
    );

    let hub = HubProcess::spawn(dir.path(), port).await;
    let c = hub.client();
    let mut stored: Vec<Value> = Vec::new();
    let mut since = String::from("start");
    loop {
        // The compat route reads from the start for an unknown `since`.
        let page = c
            .get(&format!("/tubemail/w/events?limit=500&since={since}"))
            .await["events"]
            .clone();
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        since = page.last().unwrap()["event_id"]
            .as_str()
            .unwrap()
            .to_owned();
        stored.extend(page);
    }
    let inbound: Vec<(String, String)> = stored
        .iter()
        .filter(|e| e["kind"] == "inbound")
        .map(|e| {
            (
                e["event_id"].as_str().unwrap().to_owned(),
                e["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let ids: Vec<&String> = inbound.iter().map(|(id, _)| id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "ids strictly increasing, no duplicates");
    let stored_set: std::collections::HashMap<&String, &String> =
        inbound.iter().map(|(i, t)| (i, t)).collect();
    for (id, text) in &acked {
        assert_eq!(
            stored_set.get(id).copied(),
            Some(text),
            "acknowledged {id} ({text}) lost after kill -9"
        );
    }
    eprintln!(
        "{} acknowledged, {} stored after kill -9",
        acked.len(),
        inbound.len()
    );
    let pending = c.get("/api/permissions?include_offline=true").await;
    assert_eq!(pending["pending"][0]["request_id"], "perm1", "{pending}");
    // The same channel process reconnecting keeps the prompt...
    c.register("w", 4242).await;
    assert_eq!(
        c.get("/api/workers/w/status").await["state"],
        "waiting_permission"
    );
    // ...a new process cannot answer it, so it is dropped.
    c.register("w", 5555).await;
    assert_eq!(
        c.get("/api/permissions?include_offline=true").await["pending"],
        json!([])
    );
}

#[tokio::test]
async fn retention_trims_while_serving_and_a_trimmed_cursor_resumes_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = tubemail_hub::Options::new(dir.path(), common::SECRET);
    options.retention_every = Duration::from_millis(100);
    let hub = common::TestHub::start_with(options).await;
    let c = hub.client();
    c.register("w", 1).await;
    let mut s = c.stream("/tubemail/w/stream", None).await;
    c.send("w", "first").await;
    let cursor = s.take("channel_event", 1, T).await.remove(0).id.unwrap();
    drop(s);
    while c.get("/api/workers/w/status").await["online"] == true {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.post(
        "/tubemail/w/permission-request",
        json!({"request_id": "keepme", "tool_name": "Bash"}),
    )
    .await;
    let mut sent = Vec::new();
    for i in 0..400 {
        sent.push(c.send("w", &format!("m{i}")).await);
    }
    let (status, _) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"retention_max_events_per_worker": 100})),
        )
        .await;
    assert_eq!(status, 200);
    // The background task trims while the hub keeps taking messages.
    let deadline = std::time::Instant::now() + T;
    let mut extra = 0;
    let kept = loop {
        let v = c.get("/api/workers/w/events?limit=1000").await;
        let events = v["events"].as_array().cloned().unwrap_or_default();
        // The cap counts the kept request: at 101 one more is still due.
        if events.len() <= 100 {
            break events;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} events",
            events.len()
        );
        sent.push(c.send("w", &format!("x{extra}")).await);
        extra += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        kept[0]["kind"], "permission_request",
        "pending request kept"
    );
    assert_eq!(
        kept.last().unwrap()["event_id"],
        sent.last().unwrap().as_str()
    );
    let pending = c.get("/api/permissions?include_offline=true").await;
    assert_eq!(pending["pending"][0]["request_id"], "keepme", "{pending}");

    // Resuming after the trimmed "first": every kept message, once, in order.
    let expected: Vec<&str> = kept
        .iter()
        .filter(|e| e["kind"] == "inbound")
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert!(expected.len() >= 99, "{}", expected.len());
    let mut s = c.stream("/tubemail/w/stream", Some(&cursor)).await;
    let got = s.take("channel_event", expected.len(), T).await;
    let ids: Vec<String> = got.iter().map(|m| m.id.clone().unwrap()).collect();
    assert_eq!(ids, expected);
    let more = s.next(Duration::from_millis(500)).await;
    assert!(more.is_none(), "unexpected {more:?}");
    hub.stop().await;
}

#[tokio::test]
async fn the_size_limit_keeps_the_database_under_it_while_messages_pour_in() {
    const LIMIT_MIB: u64 = 32;
    let dir = tempfile::tempdir().unwrap();
    let mut options = tubemail_hub::Options::new(dir.path(), common::SECRET);
    options.retention_every = Duration::from_millis(100);
    let hub = common::TestHub::start_with(options).await;
    let c = hub.client();
    let (status, body) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"retention_max_database_mib": 8})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = c
        .call(
            "PUT",
            "/api/settings",
            Some(json!({"retention_max_database_mib": LIMIT_MIB})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["retention_max_database_mib"], LIMIT_MIB);

    let on_disk = || {
        ["tubemail.db", "tubemail.db-wal"]
            .iter()
            .map(|f| std::fs::metadata(dir.path().join(f)).map_or(0, |m| m.len()))
            .sum::<u64>()
    };
    // Three times the limit, from four workers; the database never passes it.
    let chunk = "x".repeat(64 << 10);
    let mut last = String::new();
    let mut peak = 0;
    for i in 0..3 * LIMIT_MIB * 16 {
        last = c.send(&format!("w{}", i % 4), &chunk).await;
        peak = peak.max(on_disk());
        if i % 64 == 0 {
            // Give the five-second check its chance at the test's pace.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    assert!(
        peak <= LIMIT_MIB << 20,
        "database and log reached {} MiB",
        peak >> 20
    );
    let events = c.get("/api/workers/w3/events?limit=1000").await;
    let events = events["events"].as_array().unwrap();
    assert!(events.len() < 3 * 16 * LIMIT_MIB as usize / 4, "trimmed");
    assert_eq!(
        events.last().unwrap()["event_id"],
        last.as_str(),
        "newest kept"
    );
    hub.stop().await;
}
