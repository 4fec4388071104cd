//! The commands, one file per group; [`run`] picks one.

mod control;
mod flows;
mod hub;
mod mcp_config;
mod recording;
mod rules;
mod send;
mod tokens;
mod webhooks;
mod workers;

use anyhow::Result;
use tubemail_client::Client;

use crate::cli::Command;

/// How a command ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Done,
    /// `send --strict`: stored, but only queued.
    Queued,
}

/// Runs `command` against `hub` (`secret`: the credential `hub` presents,
/// for `mcp-config` only).
pub async fn run(hub: &Client, secret: &str, command: Command, json: bool) -> Result<Outcome> {
    use Command as C;
    match command {
        C::Send {
            worker,
            message,
            key,
            queue,
            strict,
        } => {
            return send::send(hub, &worker, &message, key.as_deref(), queue, strict, json).await;
        }
        C::ClearAndSend {
            worker,
            message,
            delay,
            no_rename,
        } => send::clear_and_send(hub, &worker, &message, delay, !no_rename, json).await?,
        C::Workers => workers::list(hub, json).await?,
        C::Status { worker } => workers::status(hub, &worker, json).await?,
        C::Receive {
            worker,
            since,
            limit,
        } => workers::receive(hub, &worker, since, limit, json).await?,
        C::Wait {
            worker,
            since,
            timeout,
        } => workers::wait(hub, &worker, since, timeout, json).await?,
        C::Tail { since } => workers::tail(hub, since, json).await?,
        C::Permissions { all } => workers::permissions(hub, all, json).await?,
        C::Allow { worker, request_id } => {
            workers::answer(hub, &worker, &request_id, true, json).await?;
        }
        C::Deny { worker, request_id } => {
            workers::answer(hub, &worker, &request_id, false, json).await?;
        }
        C::Interrupt { worker } => {
            control::control(hub, &worker, control::Act::Interrupt, json).await?;
        }
        C::Stop { worker } => control::control(hub, &worker, control::Act::Stop, json).await?,
        C::Restart { worker } => {
            control::control(hub, &worker, control::Act::Restart, json).await?;
        }
        C::Keys { worker, keys } => control::keys(hub, &worker, &keys.join(" "), json).await?,
        C::Screen { worker, lines } => control::screen(hub, &worker, lines, json).await?,
        C::Purge { worker } => control::purge(hub, &worker, json).await?,
        C::Flows(c) => flows::run(hub, c, json).await?,
        C::Tokens(c) => tokens::run(hub, c, json).await?,
        C::Webhooks(c) => webhooks::run(hub, c, json).await?,
        C::Recording(c) => recording::run(hub, c, json).await?,
        C::Settings(c) => hub::settings(hub, c, json).await?,
        C::Rules(c) => rules::run(hub, c, json).await?,
        C::Health { worker } => hub::health(hub, worker.as_ref(), json).await?,
        C::Whoami => hub::whoami(hub, json).await?,
        C::McpConfig {
            url,
            name,
            token,
            label,
        } => {
            let mint = token.then_some(label.as_str());
            mcp_config::run(hub, secret, url, &name, mint, json).await?;
        }
    }
    Ok(Outcome::Done)
}
