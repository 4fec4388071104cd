//! `rules`: the permission rules that answer prompts before a person does.

use anyhow::Result;
use serde_json::json;
use tubemail_client::core::Behavior;
use tubemail_client::core::api::RuleTestRequest;
use tubemail_client::{Client, PermissionRule, RuleVerdict};

use crate::cli::{Answer, RulesCommand, Verdict};
use crate::render::{self, print_json};

/// Runs a `rules` subcommand.
pub async fn run(hub: &Client, command: RulesCommand, json: bool) -> Result<()> {
    match command {
        RulesCommand::List => {
            let rules = hub.rules().await?;
            if json {
                print_json(&rules)?;
            } else {
                print!("{}", render::rules(&rules));
            }
        }
        RulesCommand::Add {
            verdict,
            worker,
            project,
            tool,
            input,
            name,
            timeout,
            default_answer,
            position,
        } => {
            let rule = PermissionRule {
                id: String::new(),
                name,
                worker,
                project,
                tool,
                input,
                verdict: match verdict {
                    Verdict::Allow => RuleVerdict::Allow,
                    Verdict::Deny => RuleVerdict::Deny,
                    Verdict::Ask => RuleVerdict::Ask,
                },
                timeout_secs: timeout,
                default_answer: default_answer.map(|a| match a {
                    Answer::Allow => Behavior::Allow,
                    Answer::Deny => Behavior::Deny,
                }),
            };
            let saved = hub.add_rule(&rule, position).await?;
            if json {
                print_json(&saved)?;
            } else {
                println!("added rule {}", saved.id);
            }
        }
        RulesCommand::Remove { id } => {
            hub.delete_rule(&id).await?;
            if json {
                print_json(&json!({"ok": true, "id": id}))?;
            } else {
                println!("removed rule {id}");
            }
        }
        RulesCommand::Test {
            worker,
            tool,
            input,
            project,
        } => {
            let d = hub
                .test_rules(&RuleTestRequest {
                    worker,
                    tool_name: tool,
                    input_preview: input,
                    project,
                })
                .await?;
            if json {
                print_json(&d)?;
            } else {
                print!("{}", render::rule_decision(&d));
            }
        }
    }
    Ok(())
}
