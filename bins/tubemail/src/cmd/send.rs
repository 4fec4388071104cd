//! `send` and `clear-and-send`.

use anyhow::{Result, bail};
use serde_json::json;
use tubemail_client::core::{Presence, WorkerName, WorkerSummary};
use tubemail_client::{Client, Error};

use super::Outcome;
use crate::render::print_json;

/// The worker's roster row, `None` when the hub does not know the name.
async fn roster_row(hub: &Client, worker: &WorkerName) -> Result<Option<WorkerSummary>> {
    match hub.worker(worker).await {
        Ok(row) => Ok(Some(row)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Fails, naming the workers the hub has.
async fn unknown(hub: &Client, worker: &WorkerName) -> Result<()> {
    let known: Vec<String> = hub
        .workers()
        .await?
        .into_iter()
        .filter(|w| !w.name.is_manager())
        .map(|w| w.name.to_string())
        .collect();
    let known = if known.is_empty() {
        "none yet".to_owned()
    } else {
        known.join(", ")
    };
    bail!(
        "no worker named {worker} on the hub (workers: {known}); \
         --queue sends it anyway, for a worker that has not started yet"
    )
}

fn never_registered(worker: &WorkerName) -> String {
    format!(
        "no worker named {worker} has registered with the hub yet: the message is queued \
         and delivered when it starts (check the name with `tubemail workers`)"
    )
}

/// Sends; the message is refused for a name the hub does not know unless
/// `queue`. Says on stderr when it could only be queued, and then ends
/// [`Outcome::Queued`] when `strict`.
pub async fn send(
    hub: &Client,
    worker: &WorkerName,
    message: &str,
    key: Option<&str>,
    queue: bool,
    strict: bool,
    json: bool,
) -> Result<Outcome> {
    let row = roster_row(hub, worker).await?;
    if row.is_none() && !queue {
        unknown(hub, worker).await?;
    }
    let r = hub.send_with_key(worker, message, None, key).await?;
    let queued = match &row {
        // A queued message leaves a row for the name; only a registration
        // gives it a directory or a process.
        None => Some(never_registered(worker)),
        Some(w) if w.cwd.is_empty() && w.pid.is_none() => Some(never_registered(worker)),
        Some(w) if w.presence != Presence::Online => Some(format!(
            "{worker} is not online: the message is queued and delivered when it is back \
             (`claude-tm` in its directory starts it)"
        )),
        Some(_) => r.warning.clone(),
    };
    if json {
        let mut v = serde_json::to_value(&r)?;
        v["queued"] = json!(queued.is_some());
        v["queued_reason"] = json!(queued);
        print_json(&v)?;
    } else {
        let dup = if r.duplicate {
            " (already sent with this key)"
        } else {
            ""
        };
        println!(
            "sent {} to {} via {}{dup}",
            r.event_id, r.worker, r.routed_to
        );
    }
    if let Some(why) = &queued {
        eprintln!("warning: {why}");
    }
    if let Some(w) = r.warning.as_ref().filter(|w| Some(*w) != queued.as_ref()) {
        eprintln!("warning: {w}");
    }
    Ok(if strict && queued.is_some() {
        Outcome::Queued
    } else {
        Outcome::Done
    })
}

/// `/clear`, `/rename`, then the message (idle workers only).
pub async fn clear_and_send(
    hub: &Client,
    worker: &WorkerName,
    message: &str,
    delay: f64,
    rename: bool,
    json: bool,
) -> Result<()> {
    let v = hub.clear_and_send(worker, message, delay, rename).await?;
    if json {
        print_json(&v)?;
    } else {
        println!("cleared {worker} and sent the message");
    }
    Ok(())
}
