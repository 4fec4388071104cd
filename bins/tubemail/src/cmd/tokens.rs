//! `tokens`: scoped credentials.

use anyhow::Result;
use serde_json::json;
use tubemail_client::{Client, TokenKind};

use crate::cli::{Kind, TokensCommand};
use crate::render::{self, print_json};

/// Runs a `tokens` subcommand.
pub async fn run(hub: &Client, command: TokensCommand, json: bool) -> Result<()> {
    match command {
        TokensCommand::List => {
            let tokens = hub.tokens().await?;
            if json {
                print_json(&tokens)?;
            } else {
                print!("{}", render::tokens(&tokens, render::now()));
            }
        }
        TokensCommand::Create {
            kind,
            worker,
            label,
        } => {
            let kind = match kind {
                Kind::Worker => TokenKind::Worker,
                Kind::OperatorRo => TokenKind::OperatorRo,
                Kind::Operator => TokenKind::Operator,
            };
            let issued = hub.issue_token(kind, worker.as_ref(), &label).await?;
            eprintln!(
                "warning: the token below is a credential, shown only now: keep it out of \
                 logs and shared files (`tubemail tokens revoke {}` ends it)",
                issued.info.id
            );
            if json {
                print_json(&issued)?;
            } else {
                println!("{}", issued.token);
                let what = match (&issued.info.worker, issued.info.kind) {
                    (Some(w), _) => {
                        format!("a worker token for {w} (give it to claude-tm as TUBEMAIL_TOKEN)")
                    }
                    (None, TokenKind::Operator) => {
                        "an operator token (`tubemail mcp-config` shows how to use it for MCP)"
                            .to_owned()
                    }
                    (None, _) => "a read-only operator token".to_owned(),
                };
                eprintln!("issued {} {what}", issued.info.id);
            }
        }
        TokensCommand::Revoke { id } => {
            let revoked = hub.revoke_token(&id).await?;
            if json {
                print_json(&json!({"id": id, "revoked": revoked}))?;
            } else if revoked {
                println!("revoked {id}");
            } else {
                println!("{id} was revoked already");
            }
        }
    }
    Ok(())
}
