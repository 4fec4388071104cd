//! Where claude-tm keeps its local files: sockets and pid files in a
//! private runtime directory, spooled hub posts in a private state
//! directory. Never predictable names in a shared `/tmp`.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates `dir` (and parents) if missing and makes sure it is a directory
/// owned by us that nobody else can enter.
pub fn private_dir(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    let uid = nix::unistd::getuid().as_raw();
    if !meta.is_dir() || meta.uid() != uid {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{} is not a directory owned by this user", dir.display()),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir.to_path_buf())
}

/// `$XDG_RUNTIME_DIR/tubemail`, else `/tmp/tubemail-<uid>`; created 0700.
pub fn runtime_dir() -> std::io::Result<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("tubemail"),
        None => std::env::temp_dir().join(format!("tubemail-{}", nix::unistd::getuid())),
    };
    private_dir(&dir)
}

/// `$XDG_STATE_HOME/tubemail`, else `~/.local/state/tubemail`; created
/// 0700. Survives reboots, unlike the runtime directory.
pub fn state_dir() -> std::io::Result<PathBuf> {
    let dir = match std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("tubemail"),
        None => {
            let home = std::env::var_os("HOME").ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "HOME is not set")
            })?;
            PathBuf::from(home).join(".local/state/tubemail")
        }
    };
    private_dir(&dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dirs_are_0700_and_tightened() {
        let tmp = std::env::temp_dir().join(format!("tm-paths-{}", std::process::id()));
        let dir = tmp.join("a/b");
        private_dir(&dir).expect("created");
        let mode = std::fs::metadata(&dir).expect("meta").mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        private_dir(&dir).expect("tightened");
        let mode = std::fs::metadata(&dir).expect("meta").mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::write(tmp.join("file"), "x").expect("file");
        assert!(private_dir(&tmp.join("file")).is_err(), "a file is refused");
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
