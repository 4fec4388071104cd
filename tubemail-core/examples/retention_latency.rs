//! Write latency while retention trims a large backlog, against the same
//! writes with nothing trimming: one writer sends messages one after
//! another (each waits for its commit) on a real SQLite file in a temp dir.
//!
//! ```sh
//! cargo run --release -p tubemail-core --example retention_latency -- [backlog] [baseline-seconds]
//! ```
//!
//! The backlog (default 100 000 events of 200 bytes, on one worker) is
//! written first; then the baseline phase measures writes alone, and the
//! trimming phase measures them while `apply_retention` deletes all but
//! 100 of the backlog (in transactions of `TRIM_BATCH` rows); the
//! writer's own worker is trimmed to 100 as well.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tubemail_core::engine::{Engine, EngineConfig, SettingsPatch};
use tubemail_core::store::SqliteStore;
use tubemail_core::{Meta, WorkerName};

type Error = Box<dyn std::error::Error>;

/// Sends to `live` one message at a time until `stop` says so; returns
/// each send's latency.
async fn write_until(
    e: &Engine,
    live: &WorkerName,
    mut stop: impl FnMut() -> bool,
) -> Result<Vec<Duration>, Error> {
    let mut lat = Vec::new();
    while !stop() {
        let t = Instant::now();
        e.send(live, "x".repeat(200), Meta::new(), None).await?;
        lat.push(t.elapsed());
    }
    Ok(lat)
}

fn summary(name: &str, mut lat: Vec<Duration>) {
    lat.sort();
    let at = |q: f64| {
        let i = ((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1));
        lat.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{name:<22} {:>7} writes  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        lat.len(),
        at(0.50),
        at(0.99),
        lat.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
    );
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let backlog: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let baseline_s: u64 = args.next().map_or(Ok(3), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("tubemail.db"))?;
    let e = Engine::start(
        Arc::new(store),
        EngineConfig::new(dir.path().join("hub-config.json")),
    )?;
    let old = WorkerName::new("old")?;
    let live = WorkerName::new("live")?;

    let t = Instant::now();
    let writers = 64;
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (e, old) = (e.clone(), old.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..backlog / writers {
                e.send(&old, "b".repeat(200), Meta::new(), None).await?;
            }
            Ok::<_, tubemail_core::engine::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    println!(
        "backlog: {} events in {:.1} s",
        backlog / writers * writers,
        t.elapsed().as_secs_f64()
    );

    let until = Instant::now() + Duration::from_secs(baseline_s);
    summary(
        "writes alone",
        write_until(&e, &live, || Instant::now() >= until).await?,
    );

    e.update_settings(&SettingsPatch {
        retention_max_events_per_worker: Some(100),
        ..SettingsPatch::default()
    })?;
    let t = Instant::now();
    let trim = tokio::spawn({
        let e = e.clone();
        async move { e.apply_retention().await }
    });
    let lat = write_until(&e, &live, || trim.is_finished()).await?;
    let deleted = trim.await??;
    let took = t.elapsed().as_secs_f64();
    summary("writes while trimming", lat);
    println!(
        "trimmed {deleted} events in {took:.1} s ({:.0} events/s)",
        deleted as f64 / took
    );
    e.shutdown().await;
    Ok(())
}
