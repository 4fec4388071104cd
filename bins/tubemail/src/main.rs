//! `tubemail`: the hub at the shell. Human tables by default, `--json` for
//! scripts. Configuration from `--hub`/`--secret` or `TUBEMAIL_HUB_URL` /
//! `TUBEMAIL_SECRET`.

mod render;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use futures::StreamExt;
use tubemail_client::core::{Behavior, EventId, WorkerName};
use tubemail_client::{Client, DEFAULT_HUB_URL, Error};

/// Drive TubeMail workers from the shell.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Hub URL.
    #[arg(long, env = "TUBEMAIL_HUB_URL", default_value = DEFAULT_HUB_URL, global = true)]
    hub: String,
    /// Bearer secret.
    #[arg(long, env = "TUBEMAIL_SECRET", hide_env_values = true, global = true)]
    secret: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List workers with their state.
    Workers,
    /// One worker's state and why.
    Status {
        /// Worker name.
        worker: WorkerName,
    },
    /// Send a message (slash commands go to the worker's manager).
    Send {
        /// Worker name.
        worker: WorkerName,
        /// The message.
        message: String,
        /// Idempotency key: repeating it does not send twice.
        #[arg(long)]
        key: Option<String>,
        /// Send even if no worker by this name is on the hub yet: it gets
        /// the message when it starts (else a name the hub does not know is
        /// refused, so a typo is not a message nobody reads).
        #[arg(long)]
        queue: bool,
    },
    /// Read a worker's timeline.
    Receive {
        /// Worker name.
        worker: WorkerName,
        /// Only events after this id.
        #[arg(long)]
        since: Option<EventId>,
        /// At most this many (1-500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Wait for new events of a worker (from now, or after --since).
    Wait {
        /// Worker name.
        worker: WorkerName,
        /// Events after this id.
        #[arg(long)]
        since: Option<EventId>,
        /// Seconds to wait.
        #[arg(long, default_value_t = 60.0)]
        timeout: f64,
    },
    /// Follow every worker's events live (Ctrl-C to stop).
    Tail {
        /// Resume after this event id.
        #[arg(long)]
        since: Option<EventId>,
    },
    /// Pending permission prompts.
    Permissions {
        /// Include workers that are offline.
        #[arg(long)]
        all: bool,
    },
    /// Allow a pending prompt.
    Allow {
        /// Worker name.
        worker: WorkerName,
        /// Request id (see `permissions`).
        request_id: String,
    },
    /// Deny a pending prompt.
    Deny {
        /// Worker name.
        worker: WorkerName,
        /// Request id (see `permissions`).
        request_id: String,
    },
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Fails, naming the workers the hub has, when `worker` is not one of them.
async fn known_worker(hub: &Client, worker: &WorkerName) -> Result<()> {
    match hub.worker(worker).await {
        Ok(_) => Ok(()),
        Err(Error::NotFound(_)) => {
            let known: Vec<String> = hub
                .workers()
                .await?
                .into_iter()
                .map(|w| w.name.to_string())
                .filter(|n| !n.ends_with("-manager"))
                .collect();
            let known = if known.is_empty() {
                "none yet".to_owned()
            } else {
                known.join(", ")
            };
            anyhow::bail!(
                "no worker named {worker} on the hub (workers: {known}); \
                 --queue sends it anyway, for a worker that has not started yet"
            )
        }
        Err(e) => Err(e.into()),
    }
}

async fn run(cli: Cli) -> Result<()> {
    let mut builder = Client::builder().url(&cli.hub);
    if let Some(s) = &cli.secret {
        builder = builder.secret(s);
    }
    let hub = builder.build()?;
    match cli.command {
        Command::Workers => {
            let workers = hub.workers().await?;
            if cli.json {
                print_json(&workers)?;
            } else {
                print!("{}", render::workers(&workers));
            }
        }
        Command::Status { worker } => {
            let st = hub.status(&worker).await?;
            if cli.json {
                print_json(&st)?;
            } else {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                println!("{}", render::status(&worker, &st, now));
            }
        }
        Command::Send {
            worker,
            message,
            key,
            queue,
        } => {
            if !queue {
                known_worker(&hub, &worker).await?;
            }
            let r = hub
                .send_with_key(&worker, &message, None, key.as_deref())
                .await?;
            if cli.json {
                print_json(&r)?;
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
            if let Some(warning) = &r.warning {
                eprintln!("warning: {warning}");
            }
        }
        Command::Receive {
            worker,
            since,
            limit,
        } => {
            let events = hub.events(&worker, since, limit).await?;
            if cli.json {
                print_json(&events)?;
            } else {
                print!("{}", render::events(&events));
            }
        }
        Command::Wait {
            worker,
            since,
            timeout,
        } => {
            let events = hub.wait(&worker, since, timeout).await?;
            if cli.json {
                print_json(&events)?;
            } else if events.is_empty() {
                println!("nothing new within {timeout} s");
            } else {
                print!("{}", render::events(&events));
            }
        }
        Command::Tail { since } => {
            let mut stream = hub.global_stream(since).await?;
            while let Some(ev) = stream.next().await {
                let ev = ev?;
                if cli.json {
                    let id = ev.id.map(|i| i.to_string());
                    println!(
                        "{}",
                        serde_json::json!({"id": id, "event": ev.event, "data": ev.data})
                    );
                } else {
                    println!("{}", render::stream_event(&ev));
                }
            }
        }
        Command::Permissions { all } => {
            let pending = hub.pending_permissions(None, all).await?;
            if cli.json {
                print_json(&pending)?;
            } else {
                print!("{}", render::permissions(&pending));
            }
        }
        Command::Allow { worker, request_id } => {
            answer(&hub, &worker, &request_id, Behavior::Allow, cli.json).await?;
        }
        Command::Deny { worker, request_id } => {
            answer(&hub, &worker, &request_id, Behavior::Deny, cli.json).await?;
        }
    }
    Ok(())
}

async fn answer(
    hub: &Client,
    w: &WorkerName,
    id: &str,
    behavior: Behavior,
    json: bool,
) -> Result<()> {
    let ok = hub.resolve_permission(w, id, behavior).await?;
    if json {
        print_json(&serde_json::json!({"ok": ok, "request_id": id}))?;
    } else if ok {
        println!("{} {id} for {w}", behavior.as_str());
    } else {
        anyhow::bail!("{id} is not pending for {w} (answered already, or never asked)");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let hint = match e.downcast_ref::<Error>() {
                Some(Error::Unauthorized(_)) => {
                    "\nhint: check TUBEMAIL_SECRET (the hub's data dir has it in `secret`)"
                }
                Some(Error::Unreachable { .. }) => {
                    "\nhint: is the hub running? (make run; or set TUBEMAIL_HUB_URL)"
                }
                Some(Error::Config(m)) if m.contains("secret") => {
                    "\nhint: set TUBEMAIL_SECRET or pass --secret"
                }
                Some(Error::Config(m)) if m.contains("URL") => {
                    "\nhint: TUBEMAIL_HUB_URL (or --hub) looks like http://127.0.0.1:8004"
                }
                _ => "",
            };
            eprintln!("tubemail: {e:#}{hint}");
            ExitCode::FAILURE
        }
    }
}
