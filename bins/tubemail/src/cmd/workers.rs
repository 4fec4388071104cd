//! The roster, timelines and permission prompts.

use anyhow::{Result, bail};
use futures::StreamExt;
use serde_json::json;
use tubemail_client::Client;
use tubemail_client::core::{Behavior, EventId, WorkerName};

use crate::render::{self, print_json};

/// `workers`.
pub async fn list(hub: &Client, json: bool) -> Result<()> {
    let workers = hub.workers().await?;
    if json {
        print_json(&workers)
    } else {
        print!("{}", render::workers(&workers, render::now()));
        Ok(())
    }
}

/// `status`.
pub async fn status(hub: &Client, worker: &WorkerName, json: bool) -> Result<()> {
    let st = hub.status(worker).await?;
    if json {
        print_json(&st)
    } else {
        println!("{}", render::status(worker, &st, render::now()));
        Ok(())
    }
}

/// `receive`.
pub async fn receive(
    hub: &Client,
    worker: &WorkerName,
    since: Option<EventId>,
    limit: u32,
    json: bool,
) -> Result<()> {
    let events = hub.events(worker, since, limit).await?;
    if json {
        print_json(&events)
    } else {
        print!("{}", render::events(&events));
        Ok(())
    }
}

/// `wait`.
pub async fn wait(
    hub: &Client,
    worker: &WorkerName,
    since: Option<EventId>,
    timeout: f64,
    json: bool,
) -> Result<()> {
    let events = hub.wait(worker, since, timeout).await?;
    if json {
        print_json(&events)?;
    } else if events.is_empty() {
        println!("nothing new within {timeout} s");
    } else {
        print!("{}", render::events(&events));
    }
    Ok(())
}

/// `tail`: one line (`--json`: one JSON object) per event, until Ctrl-C.
pub async fn tail(hub: &Client, since: Option<EventId>, json: bool) -> Result<()> {
    let mut stream = hub.global_stream(since).await?;
    while let Some(ev) = stream.next().await {
        let ev = ev?;
        if json {
            let id = ev.event_id().map(|i| i.to_string());
            let (event, data) = ev.to_sse();
            let data: serde_json::Value = serde_json::from_str(&data)?;
            println!("{}", json!({"id": id, "event": event, "data": data}));
        } else {
            println!("{}", render::stream_event(&ev));
        }
    }
    Ok(())
}

/// `permissions`.
pub async fn permissions(hub: &Client, all: bool, json: bool) -> Result<()> {
    let pending = hub.pending_permissions(None, all).await?;
    if json {
        print_json(&pending)
    } else {
        print!("{}", render::permissions(&pending));
        Ok(())
    }
}

/// `allow` / `deny`.
pub async fn answer(hub: &Client, w: &WorkerName, id: &str, allow: bool, json: bool) -> Result<()> {
    let behavior = if allow {
        Behavior::Allow
    } else {
        Behavior::Deny
    };
    let ok = hub.resolve_permission(w, id, behavior).await?;
    if json {
        print_json(&json!({"ok": ok, "request_id": id}))?;
    } else if ok {
        println!("{} {id} for {w}", behavior.as_str());
    } else {
        bail!(
            "{id} is not pending for {w} (answered already, or never asked): \
             `tubemail permissions --all` lists what waits"
        );
    }
    Ok(())
}
