//! A real hub on a loopback port, and the built `tubemail` run against it.
#![allow(dead_code, reason = "each test file uses its own part")]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use tubemail_hub::{AppState, Hub, Options};

pub const SECRET: &str = "cli-test-secret";

/// A hub serving on `127.0.0.1:<free port>`.
pub struct TestHub {
    pub state: AppState,
    pub url: String,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestHub {
    pub async fn start(data_dir: &Path) -> TestHub {
        let hub = Hub::open(Options::new(data_dir, SECRET)).expect("hub opens");
        let state = hub.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let server = tokio::spawn(hub.serve(listener, state.shutdown.clone().cancelled_owned()));
        TestHub { state, url, server }
    }

    pub async fn stop(self) {
        self.state.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
    }
}

/// `tubemail` with only these variables (and `PATH`; `HOME` an empty
/// directory, so no user's `.env` or hub data dir is read), run in `dir`.
pub fn command(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tubemail"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .envs(env.iter().copied());
    cmd
}

/// Runs `tubemail` off the async runtime.
pub async fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = command(dir, env, args);
    tokio::task::spawn_blocking(move || cmd.output().expect("tubemail runs"))
        .await
        .expect("joined")
}

/// The JSON a successful command printed.
pub fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// The text a successful command printed.
pub fn text(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a command said on stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
