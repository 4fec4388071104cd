//! `flows`: saved messages and their runs.

use std::io::Read;

use anyhow::{Context, Result, bail};
use serde_json::json;
use tubemail_client::Client;
use tubemail_client::core::Flow;

use crate::cli::FlowsCommand;
use crate::render::{self, print_json};

/// The flow called `name`, or an error naming the ones there are.
async fn find(hub: &Client, name: &str) -> Result<Flow> {
    let flows = hub.flows().await?;
    let names: Vec<&str> = flows.iter().map(|f| f.name.as_str()).collect();
    let known = if names.is_empty() {
        "none yet".to_owned()
    } else {
        names.join(", ")
    };
    match flows.iter().find(|f| f.name.as_str() == name) {
        Some(f) => Ok(f.clone()),
        None => bail!("no flow named {name:?} (flows: {known}); `tubemail flows save` makes one"),
    }
}

/// The message of `flows save`: `--body`, or the file (`-`: stdin).
fn body(body: Option<String>, file: Option<&std::path::Path>) -> Result<String> {
    if let Some(b) = body {
        return Ok(b);
    }
    let Some(path) = file else {
        bail!("give the message with --body TEXT or --file PATH");
    };
    let mut text = String::new();
    if path == std::path::Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("failed to read the message from stdin")?;
    } else {
        text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read {}", path.display()))?;
    }
    Ok(text)
}

/// Runs a `flows` subcommand.
pub async fn run(hub: &Client, command: FlowsCommand, json: bool) -> Result<()> {
    let now = render::now();
    match command {
        FlowsCommand::List => {
            let flows = hub.flows().await?;
            if json {
                print_json(&flows)?;
            } else {
                print!("{}", render::flows(&flows, now));
            }
        }
        FlowsCommand::Show { name } => {
            let flow = find(hub, &name).await?;
            if json {
                print_json(&flow)?;
            } else {
                print!("{}", render::flow(&flow, now));
            }
        }
        FlowsCommand::Save {
            name,
            body: text,
            file,
            worker,
        } => {
            let text = body(text, file.as_deref())?;
            let flow = hub
                .save_flow(&name, &text, worker.as_ref(), None)
                .await
                .with_context(|| format!("failed to save flow {name:?}"))?;
            if json {
                print_json(&flow)?;
            } else {
                println!("saved flow {}", flow.name.as_str());
            }
        }
        FlowsCommand::Delete { name } => {
            let deleted = hub.delete_flow(&name).await?;
            if json {
                print_json(&json!({"name": name, "deleted": deleted}))?;
            } else if deleted {
                println!("deleted flow {name}");
            } else {
                bail!("no flow named {name:?}: `tubemail flows list` shows them");
            }
        }
        FlowsCommand::Run { name, worker } => {
            let started = hub
                .run_flow(&name, worker.as_ref(), None)
                .await
                .with_context(|| format!("failed to run flow {name:?}"))?;
            let (run_id, first) = (started.run_id, started.first_event_id);
            if json {
                print_json(
                    &json!({"flow": name, "run_id": run_id, "first_event_id": first, "worker": started.worker}),
                )?;
            } else {
                println!(
                    "started run {run_id} of {name} ({first}); `tubemail flows log {run_id}` follows it"
                );
            }
        }
        FlowsCommand::Log { run_id } => {
            let log = hub.run_log(&run_id).await?;
            if json {
                print_json(&log)?;
            } else {
                print!("{}", render::run_log(&log, now));
            }
        }
        FlowsCommand::Finish { run_id } => {
            let at = hub.finish_run(&run_id).await?;
            if json {
                print_json(&json!({"run_id": run_id, "finished_at": at}))?;
            } else {
                println!("marked run {run_id} finished");
            }
        }
    }
    Ok(())
}
