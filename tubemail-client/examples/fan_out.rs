//! Fans one task out to several workers, waits for every reply, prints them.
//!
//! ```sh
//! TUBEMAIL_SECRET=… cargo run -p tubemail-client --example fan_out -- \
//!     "summarise the open issues" api-tm web-tm docs-tm
//! ```

use std::time::{Duration, Instant};

use tubemail_client::core::{Event, EventKind, WorkerName};
use tubemail_client::{Client, Error};

/// Sends `task` to every worker and waits up to `within` for one reply
/// (`outbound` event) from each; returns them in the workers' order, `None`
/// for a worker that did not answer in time.
pub async fn run(
    hub: &Client,
    task: &str,
    workers: &[WorkerName],
    within: Duration,
) -> Result<Vec<Option<Event>>, Error> {
    let mut sent = Vec::new();
    for w in workers {
        sent.push(hub.send(w, task, None).await?.event_id);
    }
    let deadline = Instant::now() + within;
    let mut replies = Vec::new();
    for (w, mut since) in workers.iter().zip(sent) {
        let mut reply = None;
        while reply.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let events = hub
                .wait(w, Some(since), left.as_secs_f64().min(45.0))
                .await?;
            if let Some(last) = events.last() {
                since = last.event_id;
            }
            reply = events.into_iter().find(|e| e.kind == EventKind::Outbound);
        }
        replies.push(reply);
    }
    Ok(replies)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let task = args.next().ok_or("usage: fan_out <task> <worker>...")?;
    let workers = args
        .map(|a| a.parse())
        .collect::<Result<Vec<WorkerName>, _>>()?;
    let hub = Client::from_env()?;
    let replies = run(&hub, &task, &workers, Duration::from_secs(600)).await?;
    for (w, reply) in workers.iter().zip(replies) {
        match reply {
            Some(ev) => println!("== {w}\n{}\n", ev.content),
            None => println!("== {w}\n(no reply in time)\n"),
        }
    }
    Ok(())
}
