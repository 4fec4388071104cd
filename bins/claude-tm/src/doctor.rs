//! `claude-tm doctor`: checks what a worker needs, the way the launcher
//! finds it (environment, `./.env`, `~/.config/tubemail/.env`, `--hub`),
//! and prints one line per check: `ok`, `warn` (works, but be aware),
//! `skip` (could not be checked because an earlier check failed) or
//! `FAIL` with the fix. Exits 1 when any check fails.
//!
//! Checks, in order: the CLI and its version against the supported range
//! ([`crate::compat`]); variables that make Claude Code turn channels off
//! ([`crate::claude::CHANNEL_BLOCKERS`]) or use a provider other than
//! Anthropic's API (channels are off there); a managed-settings policy
//! with `channelsEnabled: false`; the worker's name; the hub; the secret
//! or token.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tubemail_client::Client;

use crate::compat::Support;
use crate::launcher::{HubCheck, Settings};
use tubemail_client::local::Credential;

/// How long the hub may take to answer one check.
const HUB_TIMEOUT: Duration = Duration::from_secs(8);

/// Claude Code's managed settings (set by whoever manages the machine; a
/// user cannot override them). `TM_MANAGED_SETTINGS` names another file.
const MANAGED_SETTINGS: &str = if cfg!(target_os = "macos") {
    "/Library/Application Support/ClaudeCode/managed-settings.json"
} else {
    "/etc/claude-code/managed-settings.json"
};

/// Variables that send Claude Code to another provider, where channels
/// are off; with their provider's name.
const PROVIDERS: &[(&str, &str)] = &[
    ("CLAUDE_CODE_USE_BEDROCK", "Amazon Bedrock"),
    ("CLAUDE_CODE_USE_VERTEX", "Google Vertex AI"),
    ("CLAUDE_CODE_USE_FOUNDRY", "Microsoft Foundry"),
];

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Warn,
    Skip,
    Fail,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Skip => "skip",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One printed line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Check {
    verdict: Verdict,
    what: &'static str,
    text: String,
}

fn check(verdict: Verdict, what: &'static str, text: impl Into<String>) -> Check {
    Check {
        verdict,
        what,
        text: text.into(),
    }
}

/// Runs every check, prints them, and returns the exit code: 0 when
/// nothing failed, 1 otherwise.
pub async fn run(settings: &Settings, role: Option<&str>) -> i32 {
    let program = settings.claude_program();
    let (cli, hub) = tokio::join!(claude(&program), hub_checks(settings, role));
    let mut checks = vec![cli];
    checks.extend(env_checks(|k| settings.get(k)));
    checks.push(policy(&managed_settings_path(settings)));
    checks.extend(hub);
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    for c in &checks {
        println!("{:<4} {}: {}", c.verdict.label(), c.what, c.text);
    }
    if failed == 0 {
        println!("claude-tm doctor: all checks passed");
        0
    } else {
        println!(
            "claude-tm doctor: {failed} of {} checks failed",
            checks.len()
        );
        1
    }
}

/// The CLI: found, and its version against the supported range.
async fn claude(program: &str) -> Check {
    use crate::compat::{NEWEST_TESTED, OLDEST_SUPPORTED};
    let Some(path) = crate::launcher::find_program(program) else {
        return check(Verdict::Fail, "claude", crate::launcher::no_claude(program));
    };
    let at = path.display();
    let Some(version) = crate::compat::cli_version(&path.to_string_lossy()).await else {
        return check(
            Verdict::Warn,
            "claude",
            format!(
                "{at} prints no version for `--version`; claude-tm supports Claude Code \
                 {OLDEST_SUPPORTED} to {NEWEST_TESTED}: check that TUBEMAIL_CLAUDE_BIN is Claude Code"
            ),
        );
    };
    match version.support() {
        Support::Supported => check(Verdict::Ok, "claude", format!("{version} at {at}")),
        Support::TooOld => check(
            Verdict::Fail,
            "claude",
            format!(
                "{version} at {at} is older than {OLDEST_SUPPORTED}, the oldest claude-tm supports: \
                 update it (npm install -g @anthropic-ai/claude-code) or point TUBEMAIL_CLAUDE_BIN \
                 at a newer one"
            ),
        ),
        Support::Untested => check(
            Verdict::Warn,
            "claude",
            format!(
                "{version} at {at} is newer than the newest tested ({NEWEST_TESTED}); \
                 claude-tm carries on, but a screen or protocol change may break it"
            ),
        ),
    }
}

/// Claude Code's reading of a boolean variable: `1`, `true`, `yes`, `on`.
fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// The variables that turn channels off, and the provider.
fn env_checks(get: impl Fn(&str) -> Option<String>) -> [Check; 2] {
    let blockers = crate::claude::channel_blockers(&get);
    let channels = if blockers.is_empty() {
        check(Verdict::Ok, "channels", "no variable turns them off")
    } else {
        check(
            Verdict::Fail,
            "channels",
            format!(
                "{} {}, which makes Claude Code turn channels off (the worker would never see a \
                 hub message): unset {} in the environment, ./.env and ~/.config/tubemail/.env",
                blockers.join(", "),
                if blockers.len() == 1 {
                    "is set"
                } else {
                    "are set"
                },
                if blockers.len() == 1 { "it" } else { "them" }
            ),
        )
    };
    let others: Vec<String> = PROVIDERS
        .iter()
        .filter_map(|(key, name)| {
            let value = get(key).filter(|v| truthy(v))?;
            Some(format!("{key}={value} ({name})"))
        })
        .collect();
    let provider = if others.is_empty() {
        check(Verdict::Ok, "provider", "Anthropic API (channels need it)")
    } else {
        check(
            Verdict::Fail,
            "provider",
            format!(
                "{} makes Claude Code use another provider, where channels are off: unset it and \
                 use an Anthropic API key (ANTHROPIC_API_KEY) or a claude.ai login",
                others.join(", ")
            ),
        )
    };
    [channels, provider]
}

fn managed_settings_path(settings: &Settings) -> PathBuf {
    settings
        .get("TM_MANAGED_SETTINGS")
        .map_or_else(|| PathBuf::from(MANAGED_SETTINGS), PathBuf::from)
}

/// A managed policy that turns channels off.
fn policy(path: &Path) -> Check {
    let at = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return check(Verdict::Ok, "policy", format!("no managed settings ({at})"));
        }
        Err(e) => {
            return check(
                Verdict::Warn,
                "policy",
                format!("cannot read the managed settings {at} ({e}); Claude Code may apply them"),
            );
        }
    };
    let doc: serde_json::Value = match serde_json::from_str(&text) {
        Ok(doc) => doc,
        Err(e) => {
            return check(
                Verdict::Warn,
                "policy",
                format!(
                    "the managed settings {at} are not JSON ({e}); Claude Code may ignore them"
                ),
            );
        }
    };
    if doc.get("channelsEnabled") == Some(&serde_json::Value::Bool(false)) {
        return check(
            Verdict::Fail,
            "policy",
            format!(
                "the managed settings {at} set \"channelsEnabled\": false, which turns channels off \
                 for every user: ask whoever manages this machine to remove it or set it to true \
                 (a user setting cannot override it)"
            ),
        );
    }
    check(
        Verdict::Ok,
        "policy",
        format!("the managed settings {at} allow channels"),
    )
}

/// The worker's name, the hub and the credential.
async fn hub_checks(settings: &Settings, role: Option<&str>) -> Vec<Check> {
    let worker = settings.worker(role);
    let mut out = vec![match &worker {
        Ok(worker) => check(Verdict::Ok, "worker", worker.as_str()),
        Err(e) => check(Verdict::Fail, "worker", format!("{e:#}")),
    }];
    let credential = settings.credential();
    let (hub, reached) = hub(settings, credential.as_ref()).await;
    out.push(reached);
    let Some(credential) = credential else {
        out.push(check(Verdict::Fail, "secret", settings.no_credential()));
        return out;
    };
    let Some(hub) = hub else {
        out.push(skipped(&credential, "no hub"));
        return out;
    };
    // The shared secret is the same for every worker; a token is checked
    // against this very worker.
    let worker = match worker {
        Ok(worker) => Some(worker),
        Err(_) if credential.scoped => None,
        Err(_) => worker_for_secret(),
    };
    let Some(worker) = worker else {
        out.push(skipped(&credential, "no valid worker name"));
        return out;
    };
    out.push(credential_check(&hub, &worker, &credential).await);
    out
}

/// The hub at the configured URL: a client when it answers.
async fn hub(settings: &Settings, credential: Option<&Credential>) -> (Option<Client>, Check) {
    let url = settings.hub_url();
    // /health needs no credential: the hub is checked without one too.
    let hub = match settings.hub_client(credential.map_or("none", Credential::secret)) {
        Ok(hub) => hub,
        Err(e) => {
            let fix = "set TUBEMAIL_HUB_URL (or --hub) to the hub's http:// URL";
            return (None, check(Verdict::Fail, "hub", format!("{e:#}: {fix}")));
        }
    };
    let why = match tokio::time::timeout(HUB_TIMEOUT, hub.health()).await {
        Ok(Ok(health)) => {
            let text = format!("{} {} at {url}", health.service, health.version);
            return (Some(hub), check(Verdict::Ok, "hub", text));
        }
        Ok(Err(tubemail_client::Error::Unreachable { .. })) => "nothing answers".to_owned(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", HUB_TIMEOUT.as_secs()),
    };
    let text = format!(
        "no hub at {url} ({why}): start it with `tubemail-hub`, or point \
         TUBEMAIL_HUB_URL (or --hub) at the hub you run"
    );
    (None, check(Verdict::Fail, "hub", text))
}

/// The shared secret does not depend on the worker: any name checks it.
fn worker_for_secret() -> Option<tubemail_client::core::WorkerName> {
    "doctor-tm".parse().ok()
}

async fn credential_check(
    hub: &Client,
    worker: &tubemail_client::core::WorkerName,
    credential: &Credential,
) -> Check {
    let what = credential_label(credential);
    let checked = tokio::time::timeout(
        HUB_TIMEOUT,
        crate::launcher::check_hub(hub, worker, credential.scoped),
    )
    .await;
    match checked {
        Ok(HubCheck::Accepted) if credential.scoped => check(
            Verdict::Ok,
            what,
            format!("TUBEMAIL_TOKEN is a live token for worker {worker}"),
        ),
        Ok(HubCheck::Accepted) => check(
            Verdict::Ok,
            what,
            format!(
                "the hub accepts {} (from {})",
                credential.name(),
                credential.source
            ),
        ),
        Ok(HubCheck::Refused(why)) => check(Verdict::Fail, what, why),
        Ok(HubCheck::Unreachable) => check(
            Verdict::Fail,
            what,
            format!("the hub stopped answering at {}: check it again", hub.url()),
        ),
        Ok(HubCheck::Failed(e)) => check(Verdict::Fail, what, format!("cannot check it: {e}")),
        Err(_) => check(
            Verdict::Fail,
            what,
            format!("no answer within {} s", HUB_TIMEOUT.as_secs()),
        ),
    }
}

fn credential_label(credential: &Credential) -> &'static str {
    if credential.scoped { "token" } else { "secret" }
}

fn skipped(credential: &Credential, why: &str) -> Check {
    check(
        Verdict::Skip,
        credential_label(credential),
        format!("not checked ({why})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_as_claude_code_reads_them() {
        for yes in ["1", "true", "TRUE", " yes ", "on"] {
            assert!(truthy(yes), "{yes:?}");
        }
        for no in ["", "0", "false", "no", "off", "2"] {
            assert!(!truthy(no), "{no:?}");
        }
    }

    #[test]
    fn environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let [channels, provider] = env_checks(env(&[("CLAUDE_CODE_USE_VERTEX", "0")]));
        assert_eq!(channels.verdict, Verdict::Ok);
        assert_eq!(provider.verdict, Verdict::Ok, "0 is not on");
        let [channels, provider] = env_checks(env(&[
            ("DO_NOT_TRACK", "1"),
            ("DISABLE_TELEMETRY", "1"),
            ("CLAUDE_CODE_USE_BEDROCK", "true"),
        ]));
        assert_eq!(channels.verdict, Verdict::Fail);
        assert!(
            channels
                .text
                .contains("DISABLE_TELEMETRY, DO_NOT_TRACK are set")
        );
        assert!(channels.text.contains("unset them"));
        assert_eq!(provider.verdict, Verdict::Fail);
        assert!(
            provider
                .text
                .contains("CLAUDE_CODE_USE_BEDROCK=true (Amazon Bedrock)")
        );
    }

    #[test]
    fn managed_policy() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("managed-settings.json");
        assert_eq!(policy(&file).verdict, Verdict::Ok, "no file");
        std::fs::write(&file, r#"{"channelsEnabled": true, "x": 1}"#).unwrap();
        assert_eq!(policy(&file).verdict, Verdict::Ok);
        std::fs::write(&file, "{not json").unwrap();
        assert_eq!(policy(&file).verdict, Verdict::Warn);
        std::fs::write(&file, r#"{"channelsEnabled": false}"#).unwrap();
        let c = policy(&file);
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(c.text.contains("channelsEnabled"), "{}", c.text);
    }
}
