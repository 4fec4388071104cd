//! `tubemail`: the hub at the shell. Human text by default, `--json` for
//! scripts. Configuration: flags, else the environment, else `./.env` and
//! `~/.config/tubemail/.env`, else (a loopback hub) the local hub's secret
//! file (see `tubemail_client::local`).
//!
//! # Layout
//! - `cli`: the command line (clap).
//! - `cmd`: one file per command group.
//! - `render`: human text.
//! - `--generate` (hidden): completions and man page, from
//!   `tubemail_cli_support`.

mod cli;
mod cmd;
mod render;

use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser};
use tubemail_client::{Client, Error, local};

use crate::cli::{Cli, EXIT_QUEUED};
use crate::cmd::Outcome;

/// A client of the hub `hub` (else the configured one) with `given` as
/// credential (else the configured one), and that credential.
fn connect(hub: Option<String>, given: Option<String>) -> Result<(Client, String)> {
    let dir = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let env = local::Env::load(&dir);
    let url = hub.unwrap_or_else(|| env.hub_url());
    // Said first: without a scheme the URL is neither loopback nor usable,
    // and a missing-secret error would point the wrong way.
    if !url.starts_with("http://") && !url.starts_with("https://") {
        anyhow::bail!(
            "the hub URL {url:?} has no scheme: use http://{url} (or https:// for a hub with TLS)"
        );
    }
    let secret = match given {
        Some(given) => given,
        None => {
            let Some(found) = env.credential(&url) else {
                anyhow::bail!("{}", env.no_credential(&url));
            };
            if let Some(notice) = found.notice() {
                eprintln!("tubemail: {notice}");
            }
            found.secret().to_owned()
        }
    };
    // The client's errors name the URL or the missing secret themselves.
    let client = Client::builder().url(&url).secret(&secret).build()?;
    Ok((client, secret))
}

/// A line that says what to do about `e`, when there is one.
fn hint(e: &anyhow::Error) -> Option<&'static str> {
    Some(match e.downcast_ref::<Error>()? {
        Error::Unauthorized(_) => {
            "check TUBEMAIL_SECRET or TUBEMAIL_TOKEN (the hub keeps its secret in its data dir, \
             file `secret`; `tubemail whoami` says what a credential is)"
        }
        Error::Unreachable { .. } => {
            "is the hub running? (start it with `tubemail-hub`; or set TUBEMAIL_HUB_URL / --hub)"
        }
        Error::Config(m) if m.contains("URL") => {
            "TUBEMAIL_HUB_URL (or --hub) looks like http://127.0.0.1:8004"
        }
        Error::Config(m) if m.contains("secret") => "set TUBEMAIL_SECRET or pass --secret",
        Error::Config(_) => "check the name or value given",
        Error::NotFound(_) => {
            "check the name: `tubemail workers`, `tubemail flows list` or `tubemail tokens list` \
             show what the hub has"
        }
        Error::BadRequest(_) => "the hub says what it refused; fix that value and retry",
        Error::Server { status: 403, .. } => {
            "this credential may not do that: use the hub's shared secret (`tubemail whoami` \
             says what the current one is)"
        }
        Error::Server { status: 409, .. } => {
            "the worker's manager is not connected, or the worker is not idle: check \
             `tubemail status <worker>`, and that `claude-tm` runs for it"
        }
        Error::Server { status: 504, .. } => {
            "the worker's manager did not answer in time: retry, or `tubemail restart <worker>`"
        }
        Error::Server { status: 507, .. } => "the hub's disk is full: free space on its data dir",
        Error::Server { .. } => "the hub failed; its log says why",
        Error::Decode(_) => "this tubemail and the hub differ in version: upgrade the older",
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(what) = cli.generate {
        return match tubemail_cli_support::write(
            what,
            Cli::command(),
            &mut std::io::stdout().lock(),
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tubemail: cannot write the {what:?} output: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(command) = cli.command else {
        let _ = Cli::command().print_help();
        return ExitCode::from(2);
    };
    let result = match connect(cli.hub, cli.secret) {
        Ok((hub, secret)) => cmd::run(&hub, &secret, command, cli.json).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Queued) => ExitCode::from(EXIT_QUEUED),
        Err(e) => {
            match hint(&e) {
                Some(hint) => eprintln!("tubemail: {e:#}\nhint: {hint}"),
                None => eprintln!("tubemail: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
