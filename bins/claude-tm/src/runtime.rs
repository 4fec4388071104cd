//! Per-worker private files on the worker's host: one directory per
//! worker in the runtime directory ([`crate::paths::runtime_dir`], 0700 and
//! ours), files written 0600 from creation, and the pid file that keeps
//! two launchers from running the same worker.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tubemail_client::core::WorkerName;

/// `<runtime>/<worker>`: the worker's MCP config, plugin and pid file.
pub fn worker_dir(worker: &WorkerName) -> Result<PathBuf> {
    let dir = crate::paths::runtime_dir()
        .context("no private runtime directory")?
        .join(worker.as_str());
    crate::paths::private_dir(&dir)
        .with_context(|| format!("cannot use {} as a private directory", dir.display()))
}

/// Writes `path` atomically with mode 0600 from the moment the file
/// exists (a fresh temporary file, then a rename over the old one).
pub fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Whether a process with this pid exists (one of another user counts).
fn alive(pid: i32) -> bool {
    pid > 0 && matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM))
}

/// The launcher's pid file for one worker; removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Claims `worker`: fails while another live launcher holds it, unless
    /// `force` (`TM_FORCE=1`). A stale file (its process gone) is replaced.
    pub fn claim(worker: &WorkerName, force: bool) -> Result<PidFile> {
        let path = worker_dir(worker)?.join("claude-tm.pid");
        let me = std::process::id();
        if let Ok(text) = std::fs::read_to_string(&path) {
            let pid = text.trim().parse::<i32>().unwrap_or(0);
            if !force && alive(pid) && u32::try_from(pid).ok() != Some(me) {
                bail!(
                    "worker {worker} is already running (claude-tm pid {pid}, {}); \
                     stop it first, or set TM_FORCE=1 to start another",
                    path.display()
                );
            }
        }
        write_private(&path, format!("{me}\n").as_bytes())?;
        Ok(PidFile { path })
    }

    /// Gives the file up without removing it, for the same process after
    /// an exec (the launcher's loop releases it).
    pub fn hand_over(mut self) -> PathBuf {
        std::mem::take(&mut self.path)
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            claude_tm::supervise::release_pid_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.json");
        write_private(&f, b"one").unwrap();
        write_private(&f, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "two");
        assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn liveness() {
        assert!(alive(i32::try_from(std::process::id()).unwrap()));
        assert!(!alive(0));
        assert!(!alive(i32::MAX));
    }
}
