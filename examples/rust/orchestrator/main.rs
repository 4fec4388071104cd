//! An orchestrator on `tubemail-client`: the program that drives workers.
//! It sends a task to workers and waits for their replies, reads a
//! worker's timeline, or answers permission prompts.
//!
//! ```sh
//! export TUBEMAIL_SECRET=…   # TUBEMAIL_HUB_URL defaults to http://127.0.0.1:8004
//! cargo run -p tubemail-examples --bin orchestrator -- fan-out "summarise the open issues" api-tm web-tm
//! cargo run -p tubemail-examples --bin orchestrator -- timeline api-tm
//! cargo run -p tubemail-examples --bin orchestrator -- auto-approve Read Grep Glob
//! ```

mod auto_approve;
mod fan_out;

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use tubemail_client::Client;
use tubemail_client::core::WorkerName;

/// Drives TubeMail workers through the hub at `TUBEMAIL_HUB_URL` with
/// `TUBEMAIL_SECRET` (or `TUBEMAIL_TOKEN`).
#[derive(Debug, Parser)]
enum Command {
    /// Sends a task to several workers, waits for one reply from each and
    /// prints them.
    FanOut {
        /// The message to send.
        task: String,
        /// The workers to send it to.
        #[arg(required = true)]
        workers: Vec<WorkerName>,
        /// Seconds to wait for the replies.
        #[arg(long, default_value_t = 600.0)]
        within: f64,
    },
    /// Prints a worker's newest events, oldest first: id, kind, content.
    Timeline {
        /// The worker.
        worker: WorkerName,
        /// How many events.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Allows permission prompts of the given tools, pending and future;
    /// leaves the rest to a human.
    AutoApprove {
        /// Tool names to allow, e.g. `Read Grep Glob`.
        #[arg(required = true)]
        tools: Vec<String>,
        /// Exit after this many approvals.
        #[arg(long)]
        stop_after: Option<usize>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let command = Command::parse();
    let hub = Client::from_env().context("failed to configure the client")?;
    match command {
        Command::FanOut {
            task,
            workers,
            within,
        } => {
            let within = Duration::try_from_secs_f64(within).context("invalid --within")?;
            let replies = fan_out::run(&hub, &task, &workers, within)
                .await
                .context("fan-out failed")?;
            for (w, reply) in workers.iter().zip(replies) {
                match reply {
                    Some(ev) => println!("== {w}\n{}\n", ev.content),
                    None => println!("== {w}\n(no reply in time)\n"),
                }
            }
        }
        Command::Timeline { worker, limit } => {
            let events = hub
                .events(&worker, None, limit)
                .await
                .with_context(|| format!("failed to read the timeline of {worker}"))?;
            for ev in events {
                println!("{} {} {}", ev.event_id, ev.kind.as_str(), ev.content);
            }
        }
        Command::AutoApprove { tools, stop_after } => {
            auto_approve::run(&hub, &tools, stop_after)
                .await
                .context("auto-approve failed")?;
        }
    }
    Ok(())
}
