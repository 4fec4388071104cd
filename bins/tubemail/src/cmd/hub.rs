//! The hub itself: settings, health, the credential in use.

use anyhow::{Context, Result};
use tubemail_client::Client;
use tubemail_client::core::WorkerName;
use tubemail_client::core::api::SettingsPatch;

use crate::cli::{SettingKey, SettingsCommand};
use crate::render::{self, print_json};

/// The patch that sets `key` to `value`.
fn patch(key: SettingKey, value: &str) -> Result<SettingsPatch> {
    let mut p = SettingsPatch::default();
    let number = || {
        value
            .parse::<u64>()
            .with_context(|| format!("{value:?} is not a whole number"))
    };
    match key {
        SettingKey::RecordingEnabledByDefault => {
            p.recording_enabled_by_default = Some(match value {
                "true" | "on" | "yes" | "1" => true,
                "false" | "off" | "no" | "0" => false,
                _ => anyhow::bail!("{value:?} is not true or false"),
            });
        }
        SettingKey::RecordingMaxBytesPerFile => p.recording_max_bytes_per_file = Some(number()?),
        SettingKey::RecordingKeepFiles => {
            p.recording_keep_files =
                Some(u32::try_from(number()?).context("recording-keep-files is too large")?);
        }
        SettingKey::RetentionMaxAgeDays => {
            p.retention_max_age_days =
                Some(u32::try_from(number()?).context("retention-max-age-days is too large")?);
        }
        SettingKey::RetentionMaxEventsPerWorker => {
            p.retention_max_events_per_worker = Some(number()?);
        }
        SettingKey::RetentionMaxDatabaseMib => p.retention_max_database_mib = Some(number()?),
        SettingKey::PermissionTimeoutSecs => p.permission_timeout_secs = Some(number()?),
        SettingKey::PermissionDefaultAnswer => {
            p.permission_default_answer = Some(
                tubemail_client::core::Behavior::parse(value)
                    .with_context(|| format!("{value:?} is not allow or deny"))?,
            );
        }
    }
    Ok(p)
}

/// `settings get` / `settings set`.
pub async fn settings(hub: &Client, command: SettingsCommand, json: bool) -> Result<()> {
    let config = match command {
        SettingsCommand::Get => hub.settings().await?,
        SettingsCommand::Set { key, value } => hub.update_settings(&patch(key, &value)?).await?,
    };
    if json {
        print_json(&config)
    } else {
        print!("{}", render::settings(&config));
        Ok(())
    }
}

/// `health`: the hub's, or a worker's process health from its manager.
pub async fn health(hub: &Client, worker: Option<&WorkerName>, json: bool) -> Result<()> {
    if let Some(w) = worker {
        let v = hub.manager_health(w).await?;
        if json {
            return print_json(&v);
        }
        println!("{w}: {}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let h = hub.health().await?;
    if json {
        print_json(&h)
    } else {
        print!("{}", render::health(&h));
        Ok(())
    }
}

/// `whoami`.
pub async fn whoami(hub: &Client, json: bool) -> Result<()> {
    let me = hub.whoami().await?;
    if json {
        return print_json(&me);
    }
    match (me.kind.as_str(), &me.worker) {
        ("secret", _) => println!("the hub's shared secret: may do everything"),
        ("worker", Some(w)) => println!(
            "worker token {} acting as {w} (and its manager) only",
            me.id.as_deref().unwrap_or("?")
        ),
        ("operator", _) => println!(
            "operator token {}: may drive workers (API and MCP), not manage tokens",
            me.id.as_deref().unwrap_or("?")
        ),
        ("operator-ro", _) => println!(
            "read-only operator token {}: may read the API, change nothing",
            me.id.as_deref().unwrap_or("?")
        ),
        (kind, _) => println!("a {kind} credential"),
    }
    Ok(())
}
