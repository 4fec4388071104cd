//! `orchestrator auto-approve`: allows permission prompts for a configured
//! set of tools and leaves the rest to a human (who answers in the web UI,
//! the CLI or at the terminal).

use futures::StreamExt;
use tubemail_client::core::Behavior;
use tubemail_client::{Client, Error, StreamEvent};

/// Answers pending and future prompts whose tool is in `allowed`; returns
/// after `stop_after` approvals (`None`: runs until the stream ends).
pub(crate) async fn run(
    hub: &Client,
    allowed: &[String],
    stop_after: Option<usize>,
) -> Result<usize, Error> {
    let mut approved = 0;
    let done = |n: usize| stop_after.is_some_and(|max| n >= max);
    // Subscribe first, then clear the backlog, so nothing falls in between.
    let mut events = hub.global_stream(None).await?;
    for p in hub.pending_permissions(None, false).await? {
        if allowed.contains(&p.tool_name)
            && hub
                .resolve_permission(&p.worker, &p.request_id, Behavior::Allow)
                .await?
        {
            println!(
                "allowed {} for {} ({})",
                p.tool_name, p.worker, p.request_id
            );
            approved += 1;
        }
    }
    while !done(approved) {
        let Some(ev) = events.next().await else { break };
        let ev = ev?;
        let StreamEvent::PermissionRequest {
            worker,
            request_id: id,
            tool_name: tool,
            ..
        } = ev
        else {
            continue;
        };
        if allowed.contains(&tool) {
            if hub
                .resolve_permission(&worker, &id, Behavior::Allow)
                .await?
            {
                println!("allowed {tool} for {worker} ({id})");
                approved += 1;
            }
        } else {
            println!("left {tool} for {worker} ({id}) to a human");
        }
    }
    Ok(approved)
}
