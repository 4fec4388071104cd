//! `hub.lock` in the data dir: an exclusive `flock` held while the hub is
//! open, so a second hub on the same data dir (two writers of one
//! database, two recorders of one worker) refuses to start. The file says
//! which process holds it and where it listens; a lock dies with its
//! process, so a stale file after a crash is no obstacle.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

/// The lock file's name in the data dir.
pub const LOCK_FILE: &str = "hub.lock";

/// What the lock file says about the hub holding it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    #[serde(default)]
    addr: Option<String>,
}

/// Taking the data dir's lock failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another hub holds it.
    #[error("another hub ({holder}) is running on this data dir ({} is locked)", path.display())]
    Held {
        /// The lock file.
        path: PathBuf,
        /// The other hub: its pid and address, as its lock file says.
        holder: String,
    },
    /// The lock file could not be opened or written.
    #[error("failed to lock {}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The data dir's lock, held until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    file: Flock<File>,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock of `data_dir` (without waiting) and writes this
    /// process's pid in it.
    pub fn take(data_dir: &Path) -> Result<DataDirLock, LockError> {
        let path = data_dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let file = tubemail_core::private::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(file) => file,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    holder: describe(&text),
                    path,
                });
            }
            Err((_, errno)) => return Err(io(errno.into())),
        };
        let mut lock = DataDirLock {
            file,
            path: path.clone(),
        };
        lock.write(None).map_err(io)?;
        Ok(lock)
    }

    /// Records the address the hub listens on, for the message a second
    /// hub gives.
    pub fn listening(&mut self, addr: SocketAddr) {
        if let Err(e) = self.write(Some(addr)) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not write the lock file");
        }
    }

    fn write(&mut self, addr: Option<SocketAddr>) -> std::io::Result<()> {
        let holder = Holder {
            pid: std::process::id(),
            addr: addr.map(|a| a.to_string()),
        };
        let text = serde_json::to_string(&holder).map_err(std::io::Error::other)?;
        let file: &mut File = &mut self.file;
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(format!("{text}\n").as_bytes())
    }
}

/// "pid 123, listening on 127.0.0.1:8004" from a lock file's text.
fn describe(text: &str) -> String {
    match serde_json::from_str::<Holder>(text.trim()) {
        Ok(Holder {
            pid,
            addr: Some(addr),
        }) => format!("pid {pid}, listening on {addr}"),
        Ok(Holder { pid, addr: None }) => format!("pid {pid}, not listening yet"),
        Err(_) => "its pid unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn the_holder_is_described() {
        assert_eq!(
            describe(r#"{"pid":7,"addr":"127.0.0.1:8004"}"#),
            "pid 7, listening on 127.0.0.1:8004"
        );
        assert_eq!(describe(r#"{"pid":7}"#), "pid 7, not listening yet");
        assert_eq!(describe(""), "its pid unknown");
    }
}
