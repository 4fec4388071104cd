//! The screen readers against screens recorded from every supported
//! Claude Code version (`tests/screens/<version>/`, recorded by
//! `tests/e2e/record_screens.py <version>`). A release that changes one of
//! these screens fails here, by name, instead of leaving workers silent.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::path::{Path, PathBuf};

use claude_tm::screen::{self, Dialog};

/// Every screen the recorder makes; each version must have them all.
const SCREENS: &[&str] = &[
    "dev_channels",
    "new_mcp_server",
    "new_mcp_server_moved",
    "idle",
    "busy",
    "idle_after_turn",
    "permission_prompt",
    "permission_denied",
    "rate_limited",
    "mcp_list",
    "mcp_detail",
    "mcp_reconnect_command",
    "mcp_reconnect_unknown",
];

const ENTER: &[u8] = b"\r";

fn versions() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/screens");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn load(dir: &Path, name: &str) -> String {
    let path = dir.join(format!("{name}.txt"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `check` on one screen of every version, naming the file on failure.
fn each(name: &str, check: impl Fn(&str, &str)) {
    for dir in versions() {
        let version = dir.file_name().unwrap().to_string_lossy().into_owned();
        check(&format!("{version}/{name}"), &load(&dir, name));
    }
}

#[test]
fn every_supported_version_has_every_screen() {
    let found: Vec<String> = versions()
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // The oldest supported and the newest tested version at least.
    for v in ["2.1.197", "2.1.332"] {
        assert!(
            found.iter().any(|f| f == v),
            "no screens for {v}: {found:?}"
        );
    }
    for dir in versions() {
        for name in SCREENS {
            assert!(
                dir.join(format!("{name}.txt")).is_file(),
                "{}/{name}.txt missing: record it with tests/e2e/record_screens.py",
                dir.display()
            );
        }
    }
}

/// A screen at rest: nothing to answer, nothing blocking, nobody working.
fn at_rest(file: &str, s: &str) {
    assert_eq!(screen::dialog(s), None, "{file}");
    assert_eq!(screen::unknown_dialog(s), None, "{file}");
    assert!(!screen::prompt_open(s), "{file}");
    assert!(!screen::is_active(s), "{file}: not working");
}

#[test]
fn the_development_channels_warning_is_accepted_by_its_text() {
    each("dev_channels", |file, s| {
        assert_eq!(screen::dialog(s), Some(Dialog::DevChannels), "{file}");
        assert_eq!(
            screen::key_toward(s, Dialog::DevChannels.choice()),
            Some(ENTER),
            "{file}: the cursor starts on 'I am using this for local development'"
        );
        assert_eq!(screen::unknown_dialog(s), None, "{file}");
    });
}

#[test]
fn the_original_project_entry_is_declined_by_moving_to_its_option() {
    for name in ["new_mcp_server", "new_mcp_server_moved"] {
        each(name, |file, s| {
            assert_eq!(screen::dialog(s), Some(Dialog::LegacyChannel), "{file}");
            let options = screen::choices(s);
            assert_eq!(options.len(), 3, "{file}: {options:?}");
            assert_eq!(options.iter().filter(|c| c.selected).count(), 1, "{file}");
            let want = Dialog::LegacyChannel.choice();
            let target = options.iter().position(|c| c.label.starts_with(want));
            let at = options.iter().position(|c| c.selected);
            let key = screen::key_toward(s, want).unwrap_or_else(|| panic!("{file}: no key"));
            let expected: &[u8] = match (target, at) {
                (Some(t), Some(a)) if t == a => ENTER,
                (Some(t), Some(a)) if t > a => b"\x1b[B",
                (Some(_), Some(_)) => b"\x1b[A",
                _ => panic!("{file}: {options:?}"),
            };
            assert_eq!(key, expected, "{file}");
            assert_eq!(screen::unknown_dialog(s), None, "{file}");
        });
    }
}

#[test]
fn idle_screens_are_at_rest() {
    each("idle", at_rest);
    each("idle_after_turn", at_rest);
    each("mcp_reconnect_command", at_rest);
}

#[test]
fn a_streaming_answer_is_activity() {
    each("busy", |file, s| {
        assert!(screen::is_active(s), "{file}");
        assert_eq!(screen::unknown_dialog(s), None, "{file}");
        assert!(!screen::prompt_open(s), "{file}");
    });
}

#[test]
fn the_permission_prompt_is_seen_with_its_options() {
    each("permission_prompt", |file, s| {
        assert!(screen::prompt_open(s), "{file}");
        let on = screen::prompt_on(s).unwrap();
        assert!(on.contains("echorecorded>recorded.txt"), "{file}: {on}");
        assert_eq!(screen::unknown_dialog(s), None, "{file}: a known prompt");
        assert_eq!(screen::dialog(s), None, "{file}");
        let options = screen::choices(s);
        assert!(
            options[0].selected && options[0].label == "yes",
            "{file}: {options:?}"
        );
        assert!(
            options.iter().any(|c| c.label == "no"),
            "{file}: {options:?}"
        );
    });
    each("permission_denied", |file, s| {
        at_rest(file, s);
        assert_eq!(screen::denials(s), 1, "{file}");
    });
}

#[test]
fn a_rate_limit_stop_is_seen() {
    each("rate_limited", |file, s| {
        at_rest(file, s);
        assert_eq!(screen::rate_limits(s), 1, "{file}");
    });
    each("idle_after_turn", |file, s| {
        assert_eq!(screen::rate_limits(s), 0, "{file}");
    });
}

#[test]
fn the_mcp_dialog_is_a_dialog_claude_tm_does_not_type_into() {
    for name in ["mcp_list", "mcp_detail"] {
        each(name, |file, s| {
            let lines = screen::unknown_dialog(s).unwrap_or_else(|| panic!("{file}: not seen"));
            assert!(
                lines.contains("tubemail-channel") || lines.contains("Reconnect"),
                "{file}: {lines}"
            );
            assert_eq!(screen::dialog(s), None, "{file}");
        });
    }
}

#[test]
fn mcp_reconnect_verdicts() {
    each("mcp_reconnect_command", |file, s| {
        let v = screen::reconnect_verdict(s, "tubemail-channel");
        assert!(matches!(v, Some(Ok(_))), "{file}: {v:?}");
    });
    each("mcp_reconnect_unknown", |file, s| {
        let v = screen::reconnect_verdict(s, "no-such-server");
        assert!(
            matches!(&v, Some(Err(line)) if line.contains("no-such-server")),
            "{file}: {v:?}"
        );
        let earlier = screen::reconnect_verdict(s, "tubemail-channel");
        assert!(matches!(earlier, Some(Ok(_))), "{file}: {earlier:?}");
    });
}
