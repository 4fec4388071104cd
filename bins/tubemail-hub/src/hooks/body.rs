//! Request bodies: TubeMail's JSON, or one line of text for Slack
//! (`{"text"}`) and Discord (`{"content"}`).

use serde_json::{Value, json};
use tubemail_core::hooks::{WebhookEvent, WebhookFormat};
use tubemail_core::store::hooks::OutboxRow;

/// Longest message text in a chat preset (Discord allows 2 000).
const CHAT_TEXT: usize = 1800;

/// An approval link a `permission_waiting` notification carries.
#[derive(Debug, Clone)]
pub struct Link {
    /// `<public url>/approve/<token>`.
    pub url: String,
    /// When it stops working.
    pub expires_at: f64,
}

/// The body of `row` in `format`.
pub fn render(format: WebhookFormat, row: &OutboxRow, link: Option<&Link>) -> Value {
    match format {
        WebhookFormat::Json => {
            let mut body = json!({
                "id": row.id,
                "event": row.new.event.as_str(),
                "worker": row.new.worker,
                "created_at": row.new.created_at,
                "data": row.new.payload,
            });
            if let Some(l) = link {
                body["approval"] = json!({"url": l.url, "expires_at": l.expires_at});
            }
            body
        }
        WebhookFormat::Slack => json!({"text": text(row, link)}),
        WebhookFormat::Discord => json!({"content": text(row, link)}),
    }
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// One message for a chat app.
pub fn text(row: &OutboxRow, link: Option<&Link>) -> String {
    let p = &row.new.payload;
    let field = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
    let w = &row.new.worker;
    let line = match row.new.event {
        WebhookEvent::PermissionWaiting => {
            let mut s = format!(
                "TubeMail: worker {w} waits for permission to run {}",
                field("tool_name")
            );
            if !field("description").is_empty() {
                s.push_str(&format!(" ({})", field("description")));
            }
            if let Some(l) = link {
                s.push_str(&format!("\nAllow or deny: {}", l.url));
            }
            s
        }
        WebhookEvent::WorkerBlocked => {
            format!("TubeMail: worker {w} is blocked by a screen it does not know")
        }
        WebhookEvent::WorkerExited => format!("TubeMail: worker {w} exited"),
        WebhookEvent::Reply => format!("TubeMail: {w} replied: {}", field("content")),
        WebhookEvent::RuleDecision => format!(
            "TubeMail: {w}'s prompt {} was answered {} by {}",
            field("request_id"),
            field("behavior"),
            field("decided_by")
        ),
        WebhookEvent::Test => "TubeMail: test notification".to_owned(),
    };
    cut(&line, CHAT_TEXT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tubemail_core::hooks::DeliveryStatus;
    use tubemail_core::store::hooks::OutboxNew;

    fn row(event: WebhookEvent, payload: Value) -> OutboxRow {
        OutboxRow {
            id: 7,
            new: OutboxNew {
                webhook: "h".into(),
                event,
                worker: "alpha".into(),
                source_seq: 3,
                payload,
                created_at: 1.0,
                next_at: 1.0,
            },
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_status: None,
            last_error: None,
            done_at: None,
        }
    }

    #[test]
    fn presets() {
        let r = row(WebhookEvent::Reply, json!({"content": "x".repeat(5000)}));
        let slack = render(WebhookFormat::Slack, &r, None);
        let text = slack["text"].as_str().unwrap_or_default();
        assert!(text.starts_with("TubeMail: alpha replied: xxx"));
        assert_eq!(text.chars().count(), CHAT_TEXT + 1);
        let discord = render(WebhookFormat::Discord, &r, None);
        assert_eq!(discord["content"], slack["text"]);
        let json = render(WebhookFormat::Json, &r, None);
        assert_eq!(json["event"], "reply");
        assert_eq!(json["id"], 7);
        let link = Link {
            url: "http://h/approve/t".into(),
            expires_at: 9.0,
        };
        let w = row(
            WebhookEvent::PermissionWaiting,
            json!({"tool_name": "Bash"}),
        );
        assert!(text_has(
            &render(WebhookFormat::Slack, &w, Some(&link))["text"],
            "http://h/approve/t"
        ));
        assert_eq!(
            render(WebhookFormat::Json, &w, Some(&link))["approval"]["url"],
            "http://h/approve/t"
        );
    }

    fn text_has(v: &Value, needle: &str) -> bool {
        v.as_str().is_some_and(|s| s.contains(needle))
    }
}
