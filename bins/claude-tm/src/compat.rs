//! Which Claude Code releases claude-tm supports: from
//! [`OLDEST_SUPPORTED`] (older ones lack what the worker needs) up to
//! [`NEWEST_TESTED`] (the newest the e2e suite ran on). A newer CLI is used
//! all the same; the user is told once.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The oldest Claude Code release claude-tm works with.
pub const OLDEST_SUPPORTED: &str = "2.1.197";
/// The newest Claude Code release the e2e suite passed on.
pub const NEWEST_TESTED: &str = "2.1.332";

/// [`OLDEST_SUPPORTED`], parsed at compile time (a malformed constant
/// fails the build).
const OLDEST: Version = Version::parse_const(OLDEST_SUPPORTED);
/// [`NEWEST_TESTED`], parsed at compile time.
const NEWEST: Version = Version::parse_const(NEWEST_TESTED);

/// How long `claude --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// A release number, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    major: u32,
    minor: u32,
    patch: u32,
}

impl Version {
    /// Parses `"2.1.197"` in a constant; panics (a build error there) on
    /// anything else.
    const fn parse_const(s: &str) -> Version {
        let b = s.as_bytes();
        let mut parts = [0u32; 3];
        let (mut part, mut digits, mut i) = (0, 0, 0);
        while i < b.len() {
            match b[i] {
                b'0'..=b'9' => {
                    parts[part] = parts[part] * 10 + (b[i] - b'0') as u32;
                    digits += 1;
                }
                b'.' if digits > 0 && part < 2 => {
                    part += 1;
                    digits = 0;
                }
                _ => panic!("a version constant is major.minor.patch"),
            }
            i += 1;
        }
        assert!(
            part == 2 && digits > 0,
            "a version constant is major.minor.patch"
        );
        Version {
            major: parts[0],
            minor: parts[1],
            patch: parts[2],
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A version that is not `major.minor.patch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadVersion(String);

impl fmt::Display for BadVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a version (major.minor.patch)", self.0)
    }
}

impl std::error::Error for BadVersion {}

impl FromStr for Version {
    type Err = BadVersion;

    /// Reads what `claude --version` prints, `2.1.332 (Claude Code)`: the
    /// first word, an optional `v`, three numbers; a pre-release or build
    /// suffix on the last (`2.1.400-beta.1`) is ignored.
    fn from_str(s: &str) -> Result<Version, BadVersion> {
        let bad = || BadVersion(s.trim().chars().take(80).collect());
        let word = s.split_whitespace().next().ok_or_else(bad)?;
        let word = word.strip_prefix('v').unwrap_or(word);
        let mut it = word.splitn(3, '.');
        let mut number = |last: bool| {
            let part = it.next()?;
            let part = if last {
                part.split(['-', '+']).next().unwrap_or(part)
            } else {
                part
            };
            if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            part.parse::<u32>().ok()
        };
        match (number(false), number(false), number(true)) {
            (Some(major), Some(minor), Some(patch)) => Ok(Version {
                major,
                minor,
                patch,
            }),
            _ => Err(bad()),
        }
    }
}

/// Where a version stands against the supported range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Older than [`OLDEST_SUPPORTED`].
    TooOld,
    /// In [`OLDEST_SUPPORTED`, [`NEWEST_TESTED`]].
    Supported,
    /// Newer than [`NEWEST_TESTED`].
    Untested,
}

impl Version {
    /// Where this version stands against the supported range.
    pub fn support(self) -> Support {
        if self < OLDEST {
            Support::TooOld
        } else if self > NEWEST {
            Support::Untested
        } else {
            Support::Supported
        }
    }

    /// The one line the launcher says about a CLI outside the range
    /// (`None` inside it).
    pub fn notice(self) -> Option<String> {
        match self.support() {
            Support::Supported => None,
            Support::TooOld => Some(format!(
                "Claude Code {self} is older than {OLDEST_SUPPORTED}, the oldest claude-tm supports: \
                 not supported, may not work (update it: npm install -g @anthropic-ai/claude-code)"
            )),
            Support::Untested => Some(format!(
                "Claude Code {self} is newer than the newest tested ({NEWEST_TESTED}); \
                 claude-tm carries on"
            )),
        }
    }
}

/// The version `program --version` prints, or `None` when it does not
/// run, fails, prints no version or takes longer than a few seconds.
pub async fn cli_version(program: &str) -> Option<Version> {
    version_within(program, VERSION_TIMEOUT).await
}

async fn version_within(program: &str, limit: Duration) -> Option<Version> {
    let run = tokio::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(limit, run).await {
        Ok(Ok(out)) if out.status.success() => out,
        Ok(Ok(out)) => {
            tracing::debug!(status = %out.status, program, "--version failed");
            return None;
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, program, "cannot run --version");
            return None;
        }
        Err(_) => {
            tracing::debug!(program, "--version took too long");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // The version is on the first line that has one (a wrapper may print
    // something before it).
    text.lines().find_map(|l| l.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn parses_what_claude_prints() {
        assert_eq!(v("2.1.332 (Claude Code)"), Version::parse_const("2.1.332"));
        assert_eq!(v("  v2.1.197\n").to_string(), "2.1.197");
        assert_eq!(v("2.1.400-beta.1").to_string(), "2.1.400");
        assert_eq!(v("10.0.0+build").to_string(), "10.0.0");
        for bad in [
            "",
            "Claude Code",
            "2.1",
            "2.1.",
            "2..1",
            "2.1.x",
            "-2.1.3",
            "2.1.3.4",
            "99999999999.0.0",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn orders_numerically() {
        assert!(v("2.1.99") < v("2.1.197"));
        assert!(v("2.2.0") > v("2.1.332"));
        assert!(v("3.0.0") > v("2.9.999"));
    }

    #[test]
    fn the_range_ends_are_supported() {
        assert_eq!(OLDEST.to_string(), OLDEST_SUPPORTED);
        assert_eq!(NEWEST.to_string(), NEWEST_TESTED);
        assert!(OLDEST <= NEWEST);
        assert_eq!(OLDEST.support(), Support::Supported);
        assert_eq!(NEWEST.support(), Support::Supported);
        assert_eq!(v("2.1.196").support(), Support::TooOld);
        assert_eq!(v("2.1.333").support(), Support::Untested);
        assert_eq!(v("2.1.260").notice(), None);
        let old = v("2.0.5").notice().unwrap();
        assert!(old.contains("2.0.5") && old.contains("not supported, may not work"));
        let new = v("2.2.0").notice().unwrap();
        assert!(new.contains("newer than the newest tested") && new.contains("carries on"));
        assert!(!old.contains('\n') && !new.contains('\n'));
    }

    #[tokio::test]
    async fn asks_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let script = |name: &str, body: &str| {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path.display().to_string()
        };
        let ok = script(
            "ok",
            r#"[ "$1" = --version ] && echo '2.1.250 (Claude Code)'"#,
        );
        assert_eq!(cli_version(&ok).await, Some(v("2.1.250")));
        let failing = script("failing", "echo 2.1.250; exit 3");
        assert_eq!(cli_version(&failing).await, None);
        let chatty = script("chatty", "echo hello");
        assert_eq!(cli_version(&chatty).await, None);
        assert_eq!(
            cli_version(&dir.path().join("none").display().to_string()).await,
            None
        );
        let slow = script("slow", "exec sleep 30");
        let t = std::time::Instant::now();
        let limit = Duration::from_millis(300);
        assert_eq!(version_within(&slow, limit).await, None);
        assert!(t.elapsed() < limit + Duration::from_secs(2));
    }
}
