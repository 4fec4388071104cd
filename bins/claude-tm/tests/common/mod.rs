//! Test support: a real hub on a loopback port, stand-in programs, waits.
#![allow(dead_code, reason = "each test file uses part of it")]
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tubemail_hub::{AppState, Hub, Options};

/// A hub served in this process.
pub struct TestHub {
    pub state: AppState,
    pub url: String,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestHub {
    pub async fn start(data_dir: &Path, secret: &str) -> TestHub {
        Self::start_on(data_dir, secret, "127.0.0.1:0").await
    }

    /// A hub on a given address (to come back where workers look for it).
    pub async fn start_on(data_dir: &Path, secret: &str, addr: &str) -> TestHub {
        let hub = Hub::open(Options::new(data_dir, secret)).unwrap();
        let state = hub.state().clone();
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(hub.serve(listener, state.shutdown.clone().cancelled_owned()));
        TestHub { state, url, server }
    }

    pub async fn stop(self) {
        self.state.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
    }
}

/// The scripted stand-in for the Claude Code CLI (see its docstring).
pub fn standin_claude() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/standin-claude.py")
}

/// Writes an executable script (a stand-in claude).
pub fn script(path: PathBuf, body: &str) -> PathBuf {
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Polls `f` until it yields a value; fails after `within`.
pub async fn eventually<T>(
    what: &str,
    within: Duration,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
