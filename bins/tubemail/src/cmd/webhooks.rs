//! `webhooks`: notifications to receivers outside the hub.

use std::fmt::Write as _;

use anyhow::{Result, bail};
use serde_json::json;
use tubemail_client::{
    Client, DeliveryView, WebhookEvent, WebhookFormat, WebhookRequest, WebhookView,
};

use crate::cli::WebhooksCommand;
use crate::render::print_json;

/// Runs a `webhooks` subcommand.
pub async fn run(hub: &Client, command: WebhooksCommand, json: bool) -> Result<()> {
    match command {
        WebhooksCommand::List => {
            let hooks = hub.webhooks().await?;
            if json {
                print_json(&hooks)?;
            } else {
                print!("{}", list(&hooks));
            }
        }
        WebhooksCommand::Add {
            url,
            events,
            format,
            waiting_secs,
            worker,
            secret,
        } => {
            let events = events
                .iter()
                .map(|e| {
                    WebhookEvent::parse(e.trim())
                        .ok_or_else(|| anyhow::anyhow!("unknown event {e:?}"))
                })
                .collect::<Result<Vec<_>>>()?;
            let format = match format.as_str() {
                "json" => WebhookFormat::Json,
                "slack" => WebhookFormat::Slack,
                "discord" => WebhookFormat::Discord,
                other => bail!("unknown format {other:?} (json, slack or discord)"),
            };
            let req = WebhookRequest {
                url,
                events,
                waiting_secs,
                worker_glob: worker,
                format,
                secret,
                enabled: None,
            };
            let view = hub.add_webhook(&req).await?;
            if json {
                print_json(&view)?;
            } else {
                println!("added {} ({})", view.id, view.url);
            }
        }
        WebhooksCommand::Remove { id } => {
            hub.remove_webhook(&id).await?;
            if json {
                print_json(&json!({"id": id, "deleted": true}))?;
            } else {
                println!("removed {id}");
            }
        }
        WebhooksCommand::Deliveries { id, limit } => {
            let rows = hub.webhook_deliveries(&id, limit).await?;
            if json {
                print_json(&rows)?;
            } else {
                print!("{}", deliveries(&rows));
            }
        }
        WebhooksCommand::Test { id } => {
            let delivery = hub.test_webhook(&id).await?;
            if json {
                print_json(&json!({"delivery_id": delivery}))?;
            } else {
                println!(
                    "test notification {delivery} queued (`tubemail webhooks deliveries {id}` shows how it went)"
                );
            }
        }
    }
    Ok(())
}

fn list(hooks: &[WebhookView]) -> String {
    if hooks.is_empty() {
        return "no webhooks — add one with `tubemail webhooks add URL --events reply`\n".into();
    }
    let mut out = format!(
        "{:<20} {:<8} {:<8} {:<30} {:<12} {}\n",
        "ID", "FORMAT", "STATE", "URL", "WORKERS", "EVENTS"
    );
    for h in hooks {
        let events: Vec<&str> = h.events.iter().map(|e| e.as_str()).collect();
        let _ = writeln!(
            out,
            "{:<20} {:<8} {:<8} {:<30} {:<12} {}",
            h.id,
            format!("{:?}", h.format).to_lowercase(),
            if h.enabled { "on" } else { "paused" },
            h.url,
            h.worker_glob.as_deref().unwrap_or("*"),
            events.join(",")
        );
    }
    out
}

fn deliveries(rows: &[DeliveryView]) -> String {
    if rows.is_empty() {
        return "no deliveries yet\n".into();
    }
    let mut out = format!(
        "{:<8} {:<20} {:<20} {:<10} {:<8} {}\n",
        "ID", "EVENT", "WORKER", "STATUS", "TRIES", "LAST"
    );
    for d in rows {
        let last = match (d.last_status, &d.last_error) {
            (_, Some(e)) => e.clone(),
            (Some(s), None) => format!("HTTP {s}"),
            (None, None) => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<8} {:<20} {:<20} {:<10} {:<8} {}",
            d.id,
            d.event.as_str(),
            if d.worker.is_empty() { "-" } else { &d.worker },
            d.status.as_str(),
            d.attempts,
            last
        );
    }
    out
}
