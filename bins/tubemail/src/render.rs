//! Human-readable tables.

use std::fmt::Write;

use serde_json::Value;
use tubemail_client::StreamEvent;
use tubemail_client::core::{
    Event, PendingPermission, Presence, WorkerName, WorkerState, WorkerStatus, WorkerSummary,
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

/// One worker's state with its reason.
pub fn status(w: &WorkerName, st: &WorkerStatus) -> String {
    let presence = st.presence.map_or("unknown", presence);
    format!(
        "{w}: {} ({presence}) — decided by {:?} since {:.0}; {} pending, {} events",
        state(st.state),
        st.state_reason.signal,
        st.state_reason.since,
        st.pending_count,
        st.event_count
    )
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
    let text = match &ev.data["content"] {
        Value::String(s) => line(s, 100),
        _ => match ev.data.get("tool_name").and_then(Value::as_str) {
            Some(tool) => format!("{tool} ({})", ev.data["request_id"].as_str().unwrap_or("")),
            None => String::new(),
        },
    };
    let id = ev
        .id
        .map(|i| i.to_string())
        .unwrap_or_else(|| "-".repeat(10));
    format!("{id}  {worker:<24} {:<19} {text}", ev.event)
}
