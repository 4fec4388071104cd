//! `orchestrator fan-out`: one task to several workers, one reply from each.

use std::time::{Duration, Instant};

use tubemail_client::core::{Event, EventKind, WorkerName};
use tubemail_client::{Client, Error};

/// Sends `task` to every worker and waits up to `within` for one reply
/// (`outbound` event) from each; returns them in the workers' order, `None`
/// for a worker that did not answer in time.
pub(crate) async fn run(
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
