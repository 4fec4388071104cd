//! What the screen says about claude: context window use and whether it is
//! working, read from the screen model (not from raw bytes, so redraws and
//! cursor moves cannot fool it).

/// Words Claude Code shows while it works (matched with spaces removed).
/// Not the past-tense lines a finished turn leaves in the transcript
/// ("Brewed for 3s", "Thought for 2s"): a rendered screen keeps them.
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

/// The screen text with all whitespace removed.
pub fn squeeze(screen: &str) -> String {
    screen.chars().filter(|c| !c.is_whitespace()).collect()
}

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
    let mut bottom: Vec<&str> = screen
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(STATE_LINES)
        .collect();
    bottom.reverse();
    let s = squeeze(&bottom.join("\n"));
    ACTIVE_WORDS.iter().any(|w| s.contains(w))
        || s.match_indices('(').any(|(i, _)| {
            let rest = &s[i + 1..];
            let n = rest.chars().take_while(char::is_ascii_digit).count();
            n > 0 && rest[n..].starts_with('s')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_percentage() {
        assert_eq!(context_pct("Context left: context 42% used"), Some(42));
        assert_eq!(context_pct("context 10%\n...\ncontext 87%"), Some(87));
        assert_eq!(context_pct("context 1000%"), None);
        assert_eq!(context_pct("no numbers here"), None);
    }

    #[test]
    fn activity() {
        assert!(is_active("✻ Mulling… (12s · esc to interrupt)"));
        assert!(is_active("still thinking"));
        assert!(!is_active("> \n  ? for shortcuts"));
        assert!(!is_active("(see notes)"));
        // Claude Code 2.1.197 at work, and after the turn.
        let rule = "─".repeat(40);
        let working = format!(
            "● earlier answer\n\n✻ Brewed for 0s\n\n✽ Deciphering…\n  ⎿  Tip: start small\n{rule}\n❯ \n{rule}\n  esc to interrupt · ← for agents"
        );
        assert!(is_active(&working));
        let idle = format!(
            "● I was thinking (3s ago) about it\n\n✻ Brewed for 0s\n\n● done\n\n✻ Crunched for 14s\n\n{rule}\n❯ \n{rule}\n  ? for shortcuts · ← for agents"
        );
        assert!(
            !is_active(&idle),
            "a finished turn's lines are not activity"
        );
    }
}
