//! A hub inside this program's own tokio runtime, and a client talking to
//! it in the same process: a worker registers and answers, the program
//! sends it a message, reads the reply and the timeline, then shuts the
//! hub down (streams end, the store is flushed).
//!
//! ```sh
//! cargo run -p tubemail-examples --bin embedded_hub
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use tubemail_client::core::api::RegisterRequest;
use tubemail_client::core::{Event, EventId, EventKind, WorkerName};
use tubemail_client::{Client, StreamEvent};
use tubemail_hub::{Hub, Options};

/// The hub listens on loopback only, and its data dir is thrown away at
/// exit, so a fixed secret does; a real host generates one.
const SECRET: &str = "embedded-hub-example";

#[tokio::main]
async fn main() -> Result<()> {
    let data = tempfile::tempdir().context("failed to create a data dir")?;
    let hub = Hub::open(Options::new(data.path(), SECRET)).context("failed to open the hub")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("failed to listen on loopback")?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hub.serve(listener, async {
        // A dropped sender stops the hub too.
        let _ = stopped.await;
    }));
    println!("hub listening on {url}");

    let client = Client::builder().url(&url).secret(SECRET).build()?;
    let worker: WorkerName = "demo-tm".parse()?;
    let cwd = std::env::current_dir()?.display().to_string();
    client
        .register(
            &worker,
            &RegisterRequest {
                cwd,
                pid: Some(std::process::id().into()),
                forwarder_version: None,
                permission_mode: None,
            },
        )
        .await
        .context("failed to register the worker")?;
    let answering = tokio::spawn(answer(client.clone(), worker.clone()));

    let receipt = client
        .send(&worker, "hello from the host program", None)
        .await?;
    let reply = reply_after(&client, &worker, receipt.event_id, Duration::from_secs(30)).await?;
    println!("reply: {}", reply.content);
    for ev in client.events(&worker, None, 50).await? {
        println!("timeline: {} {}", ev.kind.as_str(), ev.content);
    }

    answering.abort();
    let _ = stop.send(());
    server.await.context("the hub's task failed")??;
    println!("hub stopped");
    Ok(())
}

/// The worker's side, as a channel would do it: read the worker's stream
/// and answer every message.
async fn answer(hub: Client, worker: WorkerName) -> Result<()> {
    let mut stream = hub.worker_stream(&worker, None).await?;
    while let Some(ev) = stream.next().await {
        let ev = ev?;
        if let StreamEvent::ChannelEvent { content, .. } = ev {
            hub.outbound(&worker, &format!("{worker}: done {content}"), None)
                .await?;
        }
    }
    Ok(())
}

/// The worker's first reply after `since`, waiting up to `within`.
async fn reply_after(
    hub: &Client,
    worker: &WorkerName,
    mut since: EventId,
    within: Duration,
) -> Result<Event> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("{worker} did not answer within {within:?}");
        }
        let events = hub.wait(worker, Some(since), left.as_secs_f64()).await?;
        if let Some(last) = events.last() {
            since = last.event_id;
        }
        if let Some(reply) = events.into_iter().find(|e| e.kind == EventKind::Outbound) {
            return Ok(reply);
        }
    }
}
