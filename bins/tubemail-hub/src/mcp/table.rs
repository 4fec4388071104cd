//! The text roster of `tm_list_workers`, in the original's layout (without
//! its hard-coded project list).

use std::collections::BTreeMap;
use std::fmt::Write;

use tubemail_core::{Presence, WorkerState, WorkerSummary};

fn icon(w: &WorkerSummary) -> &'static str {
    match w.presence {
        Presence::Online => "🟢",
        Presence::Exited => "💤",
        Presence::Offline => "🔴",
    }
}

fn state_name(s: WorkerState) -> &'static str {
    match s {
        WorkerState::Idle => "idle",
        WorkerState::Busy => "busy",
        WorkerState::WaitingPermission => "waiting_permission",
        WorkerState::Unknown => "unknown",
    }
}

fn project(w: &WorkerSummary) -> String {
    let base = w.cwd.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    if base.is_empty() {
        w.name.as_str().trim_end_matches("-tm").to_owned()
    } else {
        base.to_owned()
    }
}

/// Renders the roster: one row per worker, workers of one project under a
/// project line.
pub fn render(all: &[WorkerSummary], include_stale: bool) -> String {
    let managers: BTreeMap<&str, &WorkerSummary> = all
        .iter()
        .filter(|w| w.name.is_manager())
        .map(|w| (w.name.as_str(), w))
        .collect();
    let mut shown: Vec<&WorkerSummary> = all
        .iter()
        .filter(|w| !w.name.is_manager())
        .filter(|w| include_stale || w.name.as_str().ends_with("-tm"))
        .collect();
    if shown.is_empty() {
        return "No workers yet. Start one with `claude-tm` in a project directory \
                (pass include_stale=true to see entries not named *-tm)."
            .into();
    }
    shown.sort_by(|a, b| b.online.cmp(&a.online).then(a.name.cmp(&b.name)));
    let mut groups: Vec<(String, Vec<&WorkerSummary>)> = Vec::new();
    for w in shown {
        let p = project(w);
        match groups.iter_mut().find(|(name, _)| *name == p) {
            Some((_, members)) => members.push(w),
            None => groups.push((p, vec![w])),
        }
    }
    let mut out = format!(
        "   {:<25}{:<7}{:<22}{:<20}{}\n",
        "Worker", "Mgr", "Ver", "State", "Directory"
    );
    let row = |out: &mut String, prefix: &str, w: &WorkerSummary| {
        let mgr_name = format!("{}-manager", w.name);
        let mgr = managers.get(mgr_name.as_str());
        let mgr_flag = match mgr {
            Some(m) if m.online => "mgr:🟢",
            Some(_) => "mgr:🔴",
            None => "mgr:--",
        };
        let version = mgr
            .map(|m| m.forwarder_version.as_str())
            .filter(|v| !v.is_empty())
            .unwrap_or("—");
        let pending = if w.pending_count > 0 {
            format!(" ⚠️{} pending", w.pending_count)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{prefix}{} {:<25}{:<7}{:<22}{:<20}{}{pending}",
            icon(w),
            w.name.as_str(),
            mgr_flag,
            version,
            state_name(w.state),
            w.cwd
        );
    };
    for (name, members) in &groups {
        if let [only] = members.as_slice() {
            row(&mut out, "", only);
            continue;
        }
        let head = if members.iter().any(|w| w.online) {
            "🟢"
        } else if members.iter().all(|w| w.exited_cleanly) {
            "💤"
        } else {
            "🔴"
        };
        let _ = writeln!(out, "{head} {name} ({} roles)", members.len());
        for (i, w) in members.iter().enumerate() {
            let branch = if i + 1 == members.len() {
                "└─ "
            } else {
                "├─ "
            };
            row(&mut out, branch, w);
        }
    }
    out
}
