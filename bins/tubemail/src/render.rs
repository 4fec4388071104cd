//! Human-readable tables.

use std::fmt::Write;

use serde_json::Value;
use tubemail_client::StreamEvent;
use tubemail_client::core::{
    Event, PendingPermission, Presence, StateSignal, WorkerName, WorkerState, WorkerStatus,
    WorkerSummary,
};

fn state(s: WorkerState) -> &'static str {
    match s {
        WorkerState::Idle => "idle",
        WorkerState::Busy => "busy",
        WorkerState::WaitingPermission => "waiting_permission",
        WorkerState::Unknown => "unknown",
    }
}

fn presence(p: Presence) -> &'static str {
    match p {
        Presence::Online => "online",
        Presence::Offline => "offline",
        Presence::Exited => "exited",
    }
}

/// One line, at most `max` characters.
fn line(s: &str, max: usize) -> String {
    let flat = s.replace('\n', " ⏎ ");
    if flat.chars().count() > max {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

/// The roster (managers folded into their worker's row).
pub fn workers(all: &[WorkerSummary]) -> String {
    let shown: Vec<&WorkerSummary> = all.iter().filter(|w| !w.name.is_manager()).collect();
    if shown.is_empty() {
        return "no workers yet — start one with `claude-tm` in a project directory\n".into();
    }
    let mut out = format!(
        "{:<28} {:<8} {:<19} {:>4} {:>7}  {}\n",
        "WORKER", "PRESENCE", "STATE", "PEND", "EVENTS", "DIRECTORY"
    );
    for w in shown {
        let _ = writeln!(
            out,
            "{:<28} {:<8} {:<19} {:>4} {:>7}  {}",
            w.name.as_str(),
            presence(w.presence),
            state(w.state),
            w.pending_count,
            w.event_count,
            w.cwd
        );
    }
    out
}

/// Why a worker is in its state, in words.
fn reason(signal: StateSignal) -> &'static str {
    match signal {
        StateSignal::PendingPermission => "a permission prompt waits for an answer",
        StateSignal::ObservedActive => "its manager sees claude working",
        StateSignal::ObservedIdle => "its manager sees claude at the prompt",
        StateSignal::UnansweredInbound => "a message has no reply yet",
        StateSignal::InboundDecayed => "the last message is over 10 minutes old without a reply",
        StateSignal::QuietAfterInbound => "quiet for a minute after working on the last message",
        StateSignal::NoUnansweredInbound => "no message waits for a reply",
        StateSignal::UnknownWorker => "not on the hub",
        StateSignal::ChannelUnavailable => {
            "Claude Code did not take its channel: messages are stored, not delivered"
        }
        StateSignal::Blocked => "a screen its manager does not know holds the terminal",
    }
}

/// 47s · 3m 05s · 1h 02m · 2d 03h
fn duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, s / 60 % 60),
        _ => format!("{}d {:02}h", s / 86400, s / 3600 % 24),
    }
}

/// One worker's state with its reason (`now`: epoch seconds).
pub fn status(w: &WorkerName, st: &WorkerStatus, now: f64) -> String {
    let presence = st.presence.map_or("unknown", presence);
    let r = &st.state_reason;
    let since = if r.since > 0.0 {
        format!(" for {}", duration(now - r.since))
    } else {
        String::new()
    };
    let mut out = format!(
        "{w}: {} ({presence}): {}{since}; {} pending, {} events",
        state(st.state),
        reason(r.signal),
        st.pending_count,
        st.event_count
    );
    if let Some(mode) = &st.permission_mode {
        let _ = write!(out, "; permission mode {mode}");
    }
    if let Some(detail) = r.detail.as_deref().filter(|d| !d.is_empty()) {
        for l in detail.lines() {
            let _ = write!(out, "\n  {l}");
        }
    }
    out
}

/// Timeline events, one per line.
pub fn events(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        let _ = writeln!(
            out,
            "{}  {:<19} {}",
            e.event_id,
            e.kind.as_str(),
            line(&e.content, 100)
        );
    }
    out
}

/// Pending prompts.
pub fn permissions(pending: &[PendingPermission]) -> String {
    if pending.is_empty() {
        return "no pending permission prompts\n".into();
    }
    let mut out = format!(
        "{:<28} {:<12} {:<14} {}\n",
        "WORKER", "REQUEST", "TOOL", "WHAT"
    );
    for p in pending {
        let what = if p.description.is_empty() {
            &p.input_preview
        } else {
            &p.description
        };
        let _ = writeln!(
            out,
            "{:<28} {:<12} {:<14} {}",
            p.worker.as_str(),
            p.request_id,
            p.tool_name,
            line(what, 60)
        );
    }
    out
}

/// A live stream event.
pub fn stream_event(ev: &StreamEvent) -> String {
    let worker = ev.data["worker"].as_str().unwrap_or("");
    let d = &ev.data;
    let s = |k: &str| d[k].as_str().unwrap_or("");
    let text = match &d["content"] {
        Value::String(c) => line(c, 100),
        _ if d.get("tool_name").is_some() => format!("{} ({})", s("tool_name"), s("request_id")),
        _ if d.get("behavior").is_some() => format!("{} ({})", s("behavior"), s("request_id")),
        _ if d.get("context_pct").is_some() => format!("{}%", d["context_pct"]),
        _ if d.get("is_active").is_some() => if d["is_active"].as_bool() == Some(true) {
            "working"
        } else {
            "at the prompt"
        }
        .to_owned(),
        _ => match d["condition"].as_object() {
            Some(c) => line(
                &format!(
                    "{}: {}",
                    c.get("signal").and_then(Value::as_str).unwrap_or(""),
                    c.get("detail").and_then(Value::as_str).unwrap_or("")
                ),
                100,
            ),
            None => String::new(),
        },
    };
    let id = ev
        .id
        .map(|i| i.to_string())
        .unwrap_or_else(|| "-".repeat(10));
    format!("{id}  {worker:<24} {:<19} {text}", ev.event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tubemail_client::core::StateReason;

    #[test]
    fn stream_lines_say_what_happened() {
        let ev = |event: &str, data: serde_json::Value| StreamEvent {
            id: None,
            event: event.into(),
            data,
        };
        let answered = stream_event(&ev(
            "permission_response",
            serde_json::json!({"worker": "a-tm", "request_id": "abcde", "behavior": "allow"}),
        ));
        assert!(answered.ends_with("allow (abcde)"), "{answered}");
        let cond = stream_event(&ev(
            "worker_condition",
            serde_json::json!({"worker": "a-tm", "condition": {"signal": "blocked", "detail": "Pick one"}}),
        ));
        assert!(cond.ends_with("blocked: Pick one"), "{cond}");
    }

    #[test]
    fn status_reads_as_words() {
        let w: WorkerName = "api-tm".parse().unwrap_or_else(|e| panic!("{e}"));
        let mut st = WorkerStatus {
            state: WorkerState::Busy,
            pending_count: 0,
            last_activity: 0.0,
            event_count: 3,
            state_reason: StateReason {
                state: WorkerState::Busy,
                signal: StateSignal::UnansweredInbound,
                since: 1000.0,
                detail: None,
            },
            presence: Some(Presence::Online),
            last_event_id: None,
            delivered_through: None,
            acknowledged_through: None,
            permission_mode: Some("default".into()),
        };
        assert_eq!(
            status(&w, &st, 1125.0),
            "api-tm: busy (online): a message has no reply yet for 2m 05s; 0 pending, 3 events; \
             permission mode default"
        );
        st.state_reason.signal = StateSignal::Blocked;
        st.state_reason.detail = Some("Choose a theme\n❯ Dark".into());
        let text = status(&w, &st, 1001.0);
        assert!(
            text.ends_with(
                "for 1s; 0 pending, 3 events; permission mode default\n  Choose a theme\n  ❯ Dark"
            ),
            "{text}"
        );
    }
}
