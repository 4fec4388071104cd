//! Everything claude-tm reads off Claude Code's rendered screen, in one
//! place.
//!
//! The CLI offers no other signal for these (start-up dialogs, the
//! permission prompt while it is open, a rate-limit stop, the result of
//! `/mcp reconnect`), so they are read from the screen model's text. Each
//! reader is tested against screens recorded from every supported CLI
//! version (`tests/screens/<version>/*.txt`, made by
//! `tests/e2e/record_screens.py`): a release that words a screen
//! differently fails those fixtures instead of leaving workers silent.
//!
//! Rules that keep this robust across releases:
//! * markers are matched with all whitespace removed, so line wrapping
//!   cannot hide them;
//! * dialog options are chosen by their text, never by their number
//!   (2.1.260 dropped the numbers of some dialogs, 2.1.332 renumbered the
//!   permission prompt);
//! * a dialog claude-tm does not know is reported ([`unknown_dialog`]),
//!   never typed into.

/// The screen text with all whitespace removed.
pub fn squeeze(screen: &str) -> String {
    screen.chars().filter(|c| !c.is_whitespace()).collect()
}

// ── start-up dialogs ─────────────────────────────────────────────────────

/// A dialog claude-tm answers by itself, and the option it picks (by its
/// text, whitespace removed, as a prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialog {
    /// "WARNING: Loading development channels": running claude-tm is the
    /// user's consent to load our own channel.
    DevChannels,
    /// "New MCP server found in this project: tubemail-channel": the
    /// original Python tool's project entry; claude-tm brings its own
    /// channel, and the old entry would stall every fresh start.
    LegacyChannel,
    /// The resume menu after `--continue` of a long conversation.
    ResumeMenu,
}

impl Dialog {
    /// The option to choose (its text, whitespace removed, lowercase).
    pub fn choice(self) -> &'static str {
        match self {
            Dialog::DevChannels => "iamusingthisforlocaldevelopment",
            Dialog::LegacyChannel => "continuewithoutusingthismcpserver",
            Dialog::ResumeMenu => "don'taskmeagain",
        }
    }

    /// What it is called in logs.
    pub fn name(self) -> &'static str {
        match self {
            Dialog::DevChannels => "development channels warning",
            Dialog::LegacyChannel => "new MCP server (the original's project entry)",
            Dialog::ResumeMenu => "resume menu",
        }
    }
}

const DEV_CHANNELS: &str = "loadingdevelopmentchannels";
const LEGACY_CHANNEL: &str = "newmcpserverfoundinthisproject:tubemail-channelmcpservers";
const RESUME_MENU: &str = "resumefromsummary";

/// The start-up dialog on screen, if it is one claude-tm answers.
pub fn dialog(screen: &str) -> Option<Dialog> {
    let bottom = squeeze(&bottom_lines(screen, DIALOG_LINES)).to_lowercase();
    [
        (DEV_CHANNELS, Dialog::DevChannels),
        (LEGACY_CHANNEL, Dialog::LegacyChannel),
        (RESUME_MENU, Dialog::ResumeMenu),
    ]
    .into_iter()
    .find(|(marker, d)| bottom.contains(marker) && bottom.contains(d.choice()))
    .map(|(_, d)| d)
}

/// How many lines at the bottom of the screen a dialog can take.
const DIALOG_LINES: usize = 16;

/// One option of a dialog's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Its text without cursor and number, whitespace removed, lowercase.
    pub label: String,
    /// Whether the cursor (`❯`) is on it.
    pub selected: bool,
}

/// The options of the dialog at the bottom of the screen, top to bottom:
/// the cursor line and the lines indented like it, numbered or not.
pub fn choices(screen: &str) -> Vec<Choice> {
    let lines = bottom_lines(screen, DIALOG_LINES);
    let lines: Vec<&str> = lines.lines().collect();
    let Some(at) = lines.iter().rposition(|l| l.trim_start().starts_with('❯')) else {
        return Vec::new();
    };
    let indent = |l: &str| l.chars().take_while(|c| c.is_whitespace()).count();
    // The text column: where the cursor line's text starts. An option line
    // starts there; a wrapped option goes on further right; a title or a
    // hint line starts further left.
    let col = indent(lines[at]) + 2;
    let inside = |l: &str| !l.trim().is_empty() && indent(l) >= col;
    let mut top = at;
    while top > 0 && inside(lines[top - 1]) {
        top -= 1;
    }
    let mut out: Vec<(String, bool)> = Vec::new();
    for (i, l) in lines.iter().enumerate().skip(top) {
        let text = l.trim_start().trim_start_matches('❯').trim_start();
        if i == at || indent(l) == col {
            let text = match text.split_once(". ") {
                Some((n, rest)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => rest,
                _ => text,
            };
            out.push((squeeze(text).to_lowercase(), i == at));
        } else if i > at && !inside(l) {
            break;
        } else if let Some((label, _)) = out.last_mut() {
            label.push_str(&squeeze(text).to_lowercase());
        }
    }
    out.into_iter()
        .filter(|(label, _)| !label.is_empty())
        .map(|(label, selected)| Choice { label, selected })
        .collect()
}

/// The key that moves the cursor toward the option starting with `want`
/// (whitespace removed, lowercase), or Enter once it is on it; `None` when
/// the dialog has no such option.
pub fn key_toward(screen: &str, want: &str) -> Option<&'static [u8]> {
    let options = choices(screen);
    let target = options.iter().position(|c| c.label.starts_with(want))?;
    let at = options.iter().position(|c| c.selected)?;
    Some(match target.cmp(&at) {
        std::cmp::Ordering::Equal => b"\r",
        std::cmp::Ordering::Less => b"\x1b[A",
        std::cmp::Ordering::Greater => b"\x1b[B",
    })
}

/// The bottom `n` non-empty lines of the screen, joined.
fn bottom_lines(screen: &str, n: usize) -> String {
    let mut lines: Vec<&str> = screen
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .collect();
    lines.reverse();
    lines.join("\n")
}

/// Hints Claude Code prints under a dialog (any version seen).
const DIALOG_HINTS: &[&str] = &[
    "entertoconfirm",
    "entertoselect",
    "entertoview",
    "esctocancel",
    "esctoclose",
    "esctoback",
    "esctogoback",
    "esctoreject",
];

/// A dialog is open at the bottom of the screen that claude-tm does not
/// answer and that is not a permission prompt: the lines a person (or the
/// hub) should see to unblock it. Typing into it would pick an option
/// nobody chose.
pub fn unknown_dialog(screen: &str) -> Option<String> {
    let bottom = bottom_lines(screen, 6);
    let hint = squeeze(&bottom).to_lowercase();
    let is_dialog = DIALOG_HINTS.iter().any(|h| hint.contains(h));
    (is_dialog && dialog(screen).is_none() && !prompt_open(screen))
        .then(|| bottom_lines(screen, 12))
}

// ── rate limits ──────────────────────────────────────────────────────────

/// What Claude Code shows when the API refuses with 429: "Server is
/// temporarily limiting requests" for claude.ai accounts, "API Error:
/// Request rejected (429)" with an API key.
const RATE_LIMITED: &[&str] = &["temporarilylimitingrequests", "Requestrejected(429)"];

/// How many rate-limit stops the screen shows.
pub fn rate_limits(screen: &str) -> usize {
    let s = squeeze(screen);
    RATE_LIMITED.iter().map(|m| s.matches(m).count()).sum()
}

// ── permission prompts ───────────────────────────────────────────────────

const PROMPT_QUESTION: &str = "Do you want";
/// The first option of every permission prompt (numbered in all versions
/// seen; matched without the number too).
const PROMPT_YES: &[&str] = &["1.Yes", "❯Yes"];
const DENIED: &str = "WhatshouldClaudedoinstead";

/// The lines of an open permission prompt: from the rule above it down to
/// its question, which tells one prompt from the next (whitespace
/// removed).
pub fn prompt_on(screen: &str) -> Option<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let q = lines.iter().rposition(|l| l.contains(PROMPT_QUESTION))?;
    let below = squeeze(&lines[q..].join("\n"));
    if !PROMPT_YES.iter().any(|y| below.contains(y)) {
        return None;
    }
    let top = lines[..q]
        .iter()
        .rposition(|l| l.trim_start().starts_with("──"))
        .map_or(0, |i| i + 1);
    Some(squeeze(&lines[top..=q].join("\n")))
}

/// Whether a permission prompt is open (typed text would land in it).
pub fn prompt_open(screen: &str) -> bool {
    prompt_on(screen).is_some()
}

/// How many turns the screen shows interrupted by a denied prompt
/// ("What should Claude do instead?").
pub fn denials(screen: &str) -> usize {
    squeeze(screen).matches(DENIED).count()
}

// ── activity and context ─────────────────────────────────────────────────

/// Words Claude Code shows while it works (matched with spaces removed).
/// Not the past-tense lines a finished turn leaves in the transcript
/// ("Brewed for 3s", "Worked for 16s"): a rendered screen keeps them.
const ACTIVE_WORDS: &[&str] = &[
    "esctointerrupt",
    "Mulling",
    "Unfurling",
    "thinking",
    "stillthinking",
    "Callingtubemail",
    "Running",
];

/// Only the bottom of the screen tells what claude does now: the spinner
/// line above the prompt box and the footer below it. The transcript above
/// holds finished turns (and any text a model wrote, "thinking" included).
const STATE_LINES: usize = 6;

/// The last `context<N>%` on the screen (0–100).
pub fn context_pct(screen: &str) -> Option<u8> {
    let s = squeeze(screen);
    s.match_indices("context")
        .filter_map(|(i, m)| {
            let rest = &s[i + m.len()..];
            let digits: String = rest
                .chars()
                .take_while(char::is_ascii_digit)
                .take(4)
                .collect();
            (!digits.is_empty() && digits.len() <= 3 && rest[digits.len()..].starts_with('%'))
                .then(|| digits.parse::<u8>().ok())
                .flatten()
        })
        .filter(|p| *p <= 100)
        .last()
}

/// Whether the screen shows claude working: a spinner word or an elapsed
/// timer like `(12s`.
pub fn is_active(screen: &str) -> bool {
    let s = squeeze(&bottom_lines(screen, STATE_LINES));
    ACTIVE_WORDS.iter().any(|w| s.contains(w))
        || s.match_indices('(').any(|(i, _)| {
            let rest = &s[i + 1..];
            let n = rest.chars().take_while(char::is_ascii_digit).count();
            n > 0 && rest[n..].starts_with('s')
        })
}

// ── `/mcp reconnect <server>` ────────────────────────────────────────────

/// What the transcript says about the newest `/mcp reconnect <server>`,
/// if anything yet: `Ok(line)` when reconnected, `Err(line)` when not.
/// Older attempts may still be on screen above it.
pub fn reconnect_verdict(screen: &str, server: &str) -> Option<Result<String, String>> {
    let command = squeeze(&format!("/mcp reconnect {server}"));
    let lines: Vec<&str> = screen.lines().collect();
    let ours = lines
        .iter()
        .rposition(|l| squeeze(l).trim_start_matches('❯') == command)?;
    let ok = [
        format!("successfullyreconnectedto{server}"),
        format!("reconnectedto{server}"),
    ];
    let failed = [
        format!("failedtoreconnectto{server}"),
        format!("mcpserver\"{server}\"notfound"),
    ];
    lines[ours + 1..].iter().find_map(|line| {
        let t = line.trim().trim_start_matches('⎿').trim();
        let s = squeeze(t).to_lowercase();
        if failed.iter().any(|f| s.starts_with(f.as_str())) {
            Some(Err(t.to_owned()))
        } else if ok.iter().any(|o| s.starts_with(o.as_str())) {
            // "Reconnected to X, but fetching tools failed: …" is no success.
            let clean = s.trim_end_matches('.');
            if ok.iter().any(|o| clean == o.as_str()) {
                Some(Ok(t.to_owned()))
            } else {
                Some(Err(t.to_owned()))
            }
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_numbered_or_not() {
        let numbered = "  New MCP server found in this project: x\n  ❯ 1. Use this MCP server\n    2. Use this and all future\n    3. Continue without using this MCP server\n  Enter to confirm · Esc to cancel";
        let c = choices(numbered);
        assert_eq!(c.len(), 3, "{c:?}");
        assert!(c[0].selected && c[0].label == "usethismcpserver");
        assert_eq!(
            key_toward(numbered, "continuewithout"),
            Some(&b"\x1b[B"[..])
        );
        let bare = "  ❯ Use this MCP server\n    Use this and all future\n    Continue without using this MCP server\n  Enter to confirm · Esc to reject";
        assert_eq!(choices(bare).len(), 3);
        let on_it = "  Title\n    Use this MCP server\n  ❯ Continue without using this\n      MCP server\n    Last\n  Enter";
        let c = choices(on_it);
        assert_eq!(
            c.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(),
            [
                "usethismcpserver",
                "continuewithoutusingthismcpserver",
                "last"
            ]
        );
        assert_eq!(key_toward(on_it, "continuewithout"), Some(&b"\r"[..]));
        assert_eq!(key_toward(on_it, "nosuch"), None);
    }

    #[test]
    fn verdicts() {
        let s = "❯ /mcp reconnect other\n  ⎿  Failed to reconnect to other: -32000\n❯ /mcp reconnect other\n  ⎿  Reconnected to other\n";
        assert_eq!(
            reconnect_verdict(s, "other"),
            Some(Ok("Reconnected to other".to_owned()))
        );
        assert_eq!(reconnect_verdict(s, "dummy"), None);
        let s = "❯ /mcp reconnect other\n  ⎿  Reconnected to other, but fetching tools failed: x\n";
        assert!(matches!(reconnect_verdict(s, "other"), Some(Err(_))));
        let s = "❯ /mcp reconnect other\n  ⎿  Successfully reconnected to other\n❯ /mcp reconnect other\n";
        assert_eq!(reconnect_verdict(s, "other"), None, "not this one's yet");
    }

    #[test]
    fn activity_and_context() {
        assert_eq!(context_pct("context 10%\n...\ncontext 87%"), Some(87));
        assert_eq!(context_pct("context 1000%"), None);
        assert!(is_active("✻ Mulling… (12s · esc to interrupt)"));
        assert!(!is_active("(see notes)"));
    }
}
