//! Control of a worker through its manager: interrupt, stop, restart,
//! keys, screen, purge.

use anyhow::Result;
use serde_json::json;
use tubemail_client::Client;
use tubemail_client::core::WorkerName;

use crate::render::print_json;

/// A control command.
#[derive(Debug, Clone, Copy)]
pub enum Act {
    /// `interrupt`.
    Interrupt,
    /// `stop`.
    Stop,
    /// `restart`.
    Restart,
}

/// `interrupt`, `stop`, `restart`: the command is stored for the worker
/// (or its manager) to carry out.
pub async fn control(hub: &Client, worker: &WorkerName, act: Act, json: bool) -> Result<()> {
    let (event_id, done) = match act {
        Act::Interrupt => (hub.interrupt(worker).await?, "interrupt"),
        Act::Stop => (hub.stop(worker).await?, "stop"),
        Act::Restart => (hub.restart(worker).await?, "restart"),
    };
    if json {
        print_json(&json!({"worker": worker, "command": done, "event_id": event_id}))
    } else {
        println!("asked {worker} to {done} ({event_id})");
        Ok(())
    }
}

/// `keys`.
pub async fn keys(hub: &Client, worker: &WorkerName, keys: &str, json: bool) -> Result<()> {
    let bytes = hub.keystroke(worker, keys).await?;
    if json {
        print_json(&json!({"worker": worker, "bytes_sent": bytes}))
    } else {
        println!("typed {bytes} bytes into {worker}'s terminal");
        Ok(())
    }
}

/// `screen`.
pub async fn screen(
    hub: &Client,
    worker: &WorkerName,
    lines: Option<u32>,
    json: bool,
) -> Result<()> {
    let screen = hub.screenshot(worker, lines).await?;
    if json {
        print_json(&json!({"worker": worker, "screen": screen}))
    } else {
        println!("{}", screen.trim_end());
        Ok(())
    }
}

/// `purge`.
pub async fn purge(hub: &Client, worker: &WorkerName, json: bool) -> Result<()> {
    let removed = hub.purge(worker).await?;
    if json {
        print_json(&json!({"worker": worker, "removed": removed}))
    } else if removed {
        println!("removed {worker} and its timeline");
        Ok(())
    } else {
        anyhow::bail!("the hub has no worker named {worker}: `tubemail workers` lists them")
    }
}
