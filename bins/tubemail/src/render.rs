//! Human-readable text, and the JSON printer.

use std::fmt::Write;

use tubemail_client::core::recording::{FramesResponse, RecordingStatus};
use tubemail_client::core::{
    Event, Flow, Health, HubConfig, PendingPermission, Presence, RunLog, StateSignal, WorkerName,
    WorkerState, WorkerStatus, WorkerSummary,
};
use tubemail_client::{StreamEvent, TokenInfo};

/// Prints `v` as pretty JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Now, in epoch seconds (the hub's timestamps).
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// How long ago `then` was, in a word or two: `12 s`, `3 min`, `2 h`,
/// `4 days` (`0` or a future time: `now`).
pub fn ago(then: f64, now: f64) -> String {
    if then <= 0.0 || now - then < 1.0 {
        return "now".into();
    }
    let s = (now - then) as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h", s / 3600),
        86400..172800 => "1 day".into(),
        _ => format!("{} days", s / 86400),
    }
}

/// `then` as `3 min ago`, or `never` for none.
fn when(then: Option<f64>, now: f64) -> String {
    match then {
        Some(t) if t > 0.0 => match ago(t, now).as_str() {
            "now" => "just now".into(),
            a => format!("{a} ago"),
        },
        _ => "never".into(),
    }
}

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

/// The roster (managers left out: each acts for its worker).
pub fn workers(all: &[WorkerSummary], now: f64) -> String {
    let shown: Vec<&WorkerSummary> = all.iter().filter(|w| !w.name.is_manager()).collect();
    if shown.is_empty() {
        return "no workers yet — start one with `claude-tm` in a project directory\n".into();
    }
    let mut out = format!(
        "{:<28} {:<36} {:>4} {:>7}  {}\n",
        "WORKER", "STATE", "PEND", "EVENTS", "DIRECTORY"
    );
    for w in shown {
        let _ = writeln!(
            out,
            "{:<28} {:<36} {:>4} {:>7}  {}",
            w.name.as_str(),
            presence_state(w.presence, w.state, w.state_reason.since, now),
            w.pending_count,
            w.event_count,
            w.cwd
        );
    }
    out
}

/// `online, idle since 3 min`.
pub fn presence_state(p: Presence, s: WorkerState, since: f64, now: f64) -> String {
    let state = state(s).replace('_', " ");
    match ago(since, now).as_str() {
        "now" if since <= 0.0 => format!("{}, {state}", presence(p)),
        "now" => format!("{}, {state} since just now", presence(p)),
        a => format!("{}, {state} since {a}", presence(p)),
    }
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
    use StreamEvent as E;
    let (worker, text) = match ev {
        E::ChannelEvent {
            worker, content, ..
        } => (worker.as_ref(), line(content, 100)),
        E::Outbound {
            worker, content, ..
        } => (Some(worker), line(content, 100)),
        E::PermissionRequest {
            worker,
            tool_name,
            request_id,
            ..
        } => (Some(worker), format!("{tool_name} ({request_id})")),
        E::PermissionResponse {
            worker,
            behavior,
            request_id,
            ..
        } => (
            worker.as_ref(),
            format!("{} ({request_id})", behavior.as_str()),
        ),
        E::Interrupt { worker, .. } => (worker.as_ref(), String::new()),
        E::ContextPct {
            worker,
            context_pct,
        } => (
            Some(worker),
            context_pct.map_or_else(|| "?%".to_owned(), |p| format!("{p}%")),
        ),
        E::ActiveState { worker, is_active } => (
            Some(worker),
            if *is_active {
                "working"
            } else {
                "at the prompt"
            }
            .to_owned(),
        ),
        E::WorkerCondition { worker, condition } => (
            Some(worker),
            condition.as_ref().map_or_else(String::new, |c| {
                let signal = serde_json::to_value(c.signal)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                line(&format!("{signal}: {}", c.detail), 100)
            }),
        ),
        E::WorkerRegistered { worker, cwd } => (Some(worker), line(cwd, 100)),
        E::WorkerOnline { worker }
        | E::WorkerOffline { worker }
        | E::WorkerUnregistered { worker }
        | E::WorkerExited { worker }
        | E::WorkerPurged { worker } => (Some(worker), String::new()),
        E::Recording { worker, enabled } => {
            (Some(worker), if *enabled { "on" } else { "off" }.to_owned())
        }
        E::PermissionsCleared {
            worker,
            request_ids,
            ..
        } => (Some(worker), request_ids.join(" ")),
        E::Resync { skipped_notices } => (None, format!("{skipped_notices} notices skipped")),
        E::Closed { .. }
        | E::PtyAttach {}
        | E::PtyDetach {}
        | E::PtyData { .. }
        | E::PtyResize { .. } => (None, String::new()),
    };
    let worker = worker.map_or("", WorkerName::as_str);
    let id = ev
        .event_id()
        .map(|i| i.to_string())
        .unwrap_or_else(|| "-".repeat(10));
    format!("{id}  {worker:<24} {:<19} {text}", ev.name())
}

/// Flows, one per line.
pub fn flows(flows: &[Flow], now: f64) -> String {
    if flows.is_empty() {
        return "no flows yet — save one with `tubemail flows save NAME --body TEXT`\n".into();
    }
    let mut out = format!(
        "{:<24} {:<24} {:<14} {}\n",
        "FLOW", "WORKER", "LAST RUN", "MESSAGE"
    );
    for f in flows {
        let worker = f.default_worker.as_ref().map_or("-", WorkerName::as_str);
        let _ = writeln!(
            out,
            "{:<24} {:<24} {:<14} {}",
            f.name.as_str(),
            worker,
            when(f.last_run_at, now),
            line(&f.body, 60)
        );
    }
    out
}

/// One flow, its message whole.
pub fn flow(f: &Flow, now: f64) -> String {
    let worker = f
        .default_worker
        .as_ref()
        .map_or("none (a run must name one)", WorkerName::as_str);
    format!(
        "flow {}\nworker: {worker}\nupdated: {}\nlast run: {}\n\n{}\n",
        f.name.as_str(),
        when(Some(f.updated_at), now),
        when(f.last_run_at, now),
        f.body
    )
}

/// A run and its worker's events.
pub fn run_log(r: &RunLog, now: f64) -> String {
    let finished = match r.finished_at {
        Some(t) => format!("finished {}", when(Some(t), now)),
        None => "not finished".into(),
    };
    let mut out = format!(
        "run {} of flow {} on {}: started {}, {finished}\n",
        r.run_id,
        r.flow_name.as_str(),
        r.worker,
        when(Some(r.started_at), now)
    );
    out.push_str(&events(&r.events));
    out
}

/// Tokens, one per line (never the tokens themselves).
pub fn tokens(tokens: &[TokenInfo], now: f64) -> String {
    if tokens.is_empty() {
        return "no tokens — issue one with `tubemail tokens create worker NAME`\n".into();
    }
    let mut out = format!(
        "{:<18} {:<12} {:<24} {:<9} {:<14} {:<14} {}\n",
        "ID", "KIND", "WORKER", "STATE", "CREATED", "LAST USED", "LABEL"
    );
    for t in tokens {
        let _ = writeln!(
            out,
            "{:<18} {:<12} {:<24} {:<9} {:<14} {:<14} {}",
            t.id,
            t.kind.as_str(),
            t.worker.as_deref().unwrap_or("-"),
            if t.revoked { "revoked" } else { "live" },
            when(Some(t.created_at), now),
            when(t.last_used_at, now),
            t.label
        );
    }
    out
}

/// Recording state and files.
pub fn recording(r: &RecordingStatus, now: f64) -> String {
    let mut out = format!(
        "{}: recording {} ({} files kept, rotated at {} bytes)\n",
        r.worker,
        if r.enabled { "on" } else { "off" },
        r.keep_files,
        r.max_bytes_per_file
    );
    for f in &r.files {
        let active = if f.active { "  (being written)" } else { "" };
        let _ = writeln!(
            out,
            "  {}  {} bytes, written {}{active}",
            f.cast_path,
            f.size_bytes,
            when(Some(f.modified), now)
        );
    }
    out
}

/// Recorded frames: the time, then the text.
pub fn frames(f: &FramesResponse) -> String {
    let mut out = String::new();
    for fr in &f.frames {
        let _ = writeln!(out, "{}  {}", fr.t, line(&fr.delta, 120));
    }
    if f.truncated {
        out.push_str("(more frames: narrow with --since/--until or raise --limit)\n");
    }
    if f.frames.is_empty() {
        out.push_str("no frames recorded in that range\n");
    }
    out
}

/// Hub settings.
pub fn settings(c: &HubConfig) -> String {
    let rows: [(&str, String); 8] = [
        (
            "recording-enabled-by-default",
            c.recording_enabled_by_default.to_string(),
        ),
        (
            "recording-max-bytes-per-file",
            c.recording_max_bytes_per_file.to_string(),
        ),
        ("recording-keep-files", c.recording_keep_files.to_string()),
        (
            "retention-max-age-days",
            c.retention_max_age_days.to_string(),
        ),
        (
            "retention-max-events-per-worker",
            c.retention_max_events_per_worker.to_string(),
        ),
        (
            "retention-max-database-mib",
            c.retention_max_database_mib.to_string(),
        ),
        (
            "permission-timeout-secs",
            c.permission_timeout_secs.to_string(),
        ),
        (
            "permission-default-answer",
            c.permission_default_answer.as_str().to_owned(),
        ),
    ];
    rows.iter().map(|(k, v)| format!("{k:<32}{v}\n")).collect()
}

/// Permission rules, one a line, in order.
pub fn rules(rules: &[tubemail_client::PermissionRule]) -> String {
    if rules.is_empty() {
        return "No rules: every prompt waits for a person (`tubemail rules add` makes one).\n"
            .into();
    }
    let mut out = String::new();
    for (i, r) in rules.iter().enumerate() {
        let mut line = format!(
            "{i:>3}  {:<14} {:<5} worker={} tool={}",
            r.id,
            r.verdict.as_str(),
            r.worker,
            r.tool
        );
        if let Some(p) = &r.project {
            line.push_str(&format!(" project={p}"));
        }
        if let Some(re) = &r.input {
            line.push_str(&format!(" input=/{re}/"));
        }
        if let Some(t) = r.timeout_secs {
            line.push_str(&format!(" timeout={t}s"));
        }
        if let Some(a) = r.default_answer {
            line.push_str(&format!(" default={}", a.as_str()));
        }
        if !r.name.is_empty() {
            line.push_str(&format!("  # {}", r.name));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// What the rules would do with a prompt.
pub fn rule_decision(d: &tubemail_client::RuleDecision) -> String {
    let by = match &d.rule {
        Some(r) if r.name.is_empty() => format!("rule {} ({})", r.index, r.id),
        Some(r) => format!("rule {} ({}, {})", r.index, r.id, r.name),
        None => "no rule (the hub's settings)".to_owned(),
    };
    match d.verdict {
        tubemail_client::RuleVerdict::Ask if d.timeout_secs > 0 => format!(
            "ask by {by}; {} after {} s\n",
            d.default_answer.as_str(),
            d.timeout_secs
        ),
        tubemail_client::RuleVerdict::Ask => format!("ask by {by}; never expires\n"),
        v => format!("{} by {by}\n", v.as_str()),
    }
}

/// Hub health.
pub fn health(h: &Health) -> String {
    let restart = if h.safe_to_restart {
        "safe to restart"
    } else {
        "not safe to restart now"
    };
    let sha = if h.git_sha.is_empty() {
        String::new()
    } else {
        format!(" ({})", h.git_sha)
    };
    format!(
        "{} {}{sha}: {}, up {}; {} of {} workers online, {} pending prompts; {:.0} MB on disk; {restart}\n",
        h.service,
        h.version,
        h.status,
        h.uptime,
        h.workers_online,
        h.workers_total,
        h.pending_permissions,
        h.disk_mb
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tubemail_client::core::StateReason;

    #[test]
    fn stream_lines_say_what_happened() {
        let ev = |event: &str, data: serde_json::Value| {
            StreamEvent::from_sse(event, &data.to_string()).unwrap()
        };
        let answered = stream_event(&ev(
            "permission_response",
            serde_json::json!({"worker": "a-tm", "event_id": "0000000001", "request_id": "abcde", "behavior": "allow"}),
        ));
        assert!(answered.ends_with("allow (abcde)"), "{answered}");
        let cond = stream_event(&ev(
            "worker_condition",
            serde_json::json!({"worker": "a-tm", "condition": {"signal": "blocked", "detail": "Pick one"}}),
        ));
        assert!(cond.ends_with("blocked: Pick one"), "{cond}");
    }

    #[test]
    fn times_read_as_words() {
        assert_eq!(ago(0.0, 100.0), "now");
        assert_eq!(ago(99.5, 100.0), "now");
        assert_eq!(ago(88.0, 100.0), "12 s");
        assert_eq!(ago(1000.0, 1000.0 + 185.0), "3 min");
        assert_eq!(ago(0.5, 7300.0), "2 h");
        assert_eq!(ago(1.0, 1.0 + 86400.0 * 1.5), "1 day");
        assert_eq!(ago(1.0, 1.0 + 86400.0 * 4.0), "4 days");
        assert_eq!(
            presence_state(Presence::Online, WorkerState::Idle, 1000.0, 1185.0),
            "online, idle since 3 min"
        );
        assert_eq!(
            presence_state(
                Presence::Offline,
                WorkerState::WaitingPermission,
                1000.0,
                1000.2
            ),
            "offline, waiting permission since just now"
        );
        assert_eq!(
            presence_state(Presence::Exited, WorkerState::Unknown, 0.0, 5.0),
            "exited, unknown"
        );
        assert_eq!(when(None, 5.0), "never");
        assert_eq!(when(Some(4.5), 5.0), "just now");
        assert_eq!(when(Some(1.0), 121.0), "2 min ago");
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
