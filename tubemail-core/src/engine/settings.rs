//! Hub settings in `hub-config.json` (the original's file, keys and bounds).

use std::io::Write;
use std::path::Path;

pub use crate::api::SettingsPatch;

use super::{Engine, Error, Result};
use crate::wire::HubConfig;

/// Reads the settings; a missing file means defaults, an unreadable one is
/// reported and defaults are used (the file is left as it is).
pub(crate) fn load(path: &Path) -> Result<HubConfig> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "unreadable hub-config.json; using defaults");
            HubConfig::default()
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HubConfig::default()),
        Err(source) => Err(Error::Settings {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes atomically: temp file, fsync, rename. On failure (a full disk)
/// the file in place is untouched and the temp file removed.
fn save(path: &Path, config: &HubConfig) -> Result<()> {
    let io = |source| Error::Settings {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(config).map_err(|e| io(e.into()))?;
    let written = crate::private::create(&tmp).and_then(|mut f| {
        f.write_all(&text)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    std::fs::rename(&tmp, path).map_err(io)
}

impl Engine {
    /// The settings in force.
    pub fn hub_config(&self) -> HubConfig {
        self.inner
            .hub_config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The settings as on disk (re-read each call, as the original).
    pub fn settings(&self) -> Result<HubConfig> {
        let config = load(&self.inner.config.settings_path)?;
        *self
            .inner
            .hub_config
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = config.clone();
        Ok(config)
    }

    /// Merges, validates, saves and applies a settings update.
    pub fn update_settings(&self, patch: &SettingsPatch) -> Result<HubConfig> {
        let mut config = self.settings()?;
        if let Some(v) = patch.recording_enabled_by_default {
            config.recording_enabled_by_default = v;
        }
        if let Some(v) = patch.recording_max_bytes_per_file {
            config.recording_max_bytes_per_file = v;
        }
        if let Some(v) = patch.recording_keep_files {
            config.recording_keep_files = v;
        }
        if let Some(v) = patch.retention_max_age_days {
            config.retention_max_age_days = v;
        }
        if let Some(v) = patch.retention_max_events_per_worker {
            config.retention_max_events_per_worker = v;
        }
        if let Some(v) = patch.retention_max_database_mib {
            config.retention_max_database_mib = v;
        }
        if let Some(v) = patch.permission_timeout_secs {
            config.permission_timeout_secs = v;
        }
        if let Some(v) = patch.permission_default_answer {
            config.permission_default_answer = v;
        }
        config
            .validate()
            .map_err(|e| Error::BadRequest(format!("invalid settings: {e}")))?;
        save(&self.inner.config.settings_path, &config)?;
        *self
            .inner
            .hub_config
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = config.clone();
        Ok(config)
    }
}
