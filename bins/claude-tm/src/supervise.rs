//! The launcher's loop, in a lean image of its own.
//!
//! The launcher's checks (the pid file, the hub, claude's version) need
//! the async runtime, the hub client and the logger; the loop after them
//! needs none, yet would keep their pages resident for the worker's whole
//! life. So once the checks pass, the launcher execs itself as
//! `claude-tm __supervise <pid file> [claude args]` with the manager's
//! environment in place. The pid does not change, so the pid file,
//! `TM_LAUNCHER_PID` and the manager's parent-death signal still hold.
//! `main` takes this path before clap, tracing or tokio are touched, and
//! the loop itself only forks, waits and sleeps: 0 stops, 42 restarts with
//! `--continue`, anything else is a crash retried with backoff.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::manager::RESTART_EXIT;
use crate::runtime::PidFile;

/// `argv[1]` of the lean image.
pub const ARG: &str = "__supervise";
/// Crashes in a row after which the launcher gives up.
const MAX_CRASHES: u32 = 5;
/// A manager that ran this long resets the crash count.
const STABLE_RUN: Duration = Duration::from_secs(60);

/// What the lean image is started with.
#[derive(Debug)]
pub struct Handover<'a> {
    /// claude-tm itself.
    pub exe: &'a Path,
    /// The launcher's pid file, handed to the loop.
    pub pid_file: PidFile,
    /// Arguments passed to claude.
    pub args: &'a [String],
    /// Set for the manager, over the environment.
    pub set: &'a [(String, String)],
    /// Kept from the manager (the shared secret beside a worker token).
    pub remove: &'a [&'a str],
}

/// Replaces this process with the loop; returns only when that fails.
pub fn exec(handover: Handover<'_>) -> anyhow::Error {
    let Handover {
        exe,
        pid_file,
        args,
        set,
        remove,
    } = handover;
    let mut command = Command::new(exe);
    command.arg(ARG).arg(pid_file.path()).args(args);
    for key in remove {
        command.env_remove(key);
    }
    command.envs(set.iter().map(|(k, v)| (k, v)));
    // Past a successful exec the loop removes the file; on failure the
    // guard is ours again and removes it on the way out.
    let path = pid_file.hand_over();
    let err = command.exec();
    drop(PidFile::adopt(path));
    anyhow::Error::new(err).context("cannot start the launcher's loop")
}

/// The lean image: `rest` is what follows [`ARG`] on the command line.
/// Returns the exit code for the shell.
pub fn run(mut rest: impl Iterator<Item = OsString>) -> i32 {
    let Some(pid_file) = rest.next() else {
        eprintln!("claude-tm: {ARG} is internal to the launcher");
        return 2;
    };
    let _pid_file = PidFile::adopt(PathBuf::from(pid_file));
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("claude-tm: cannot find claude-tm's own path: {e}");
            return 1;
        }
    };
    supervise(&exe, rest.collect())
}

fn resumes(args: &[OsString]) -> bool {
    args.iter().any(|a| a == "--continue" || a == "-c")
}

/// Runs the manager until it stops.
fn supervise(exe: &Path, mut args: Vec<OsString>) -> i32 {
    let launcher = std::process::id().to_string();
    let mut crashes = 0;
    let mut restarts = 0u32;
    loop {
        let started = Instant::now();
        let status = Command::new(exe)
            .arg("manager")
            .args(&args)
            .env("TM_RESTART_COUNT", restarts.to_string())
            .env("TM_LAUNCHER_PID", &launcher)
            .status();
        let status = match status {
            Ok(status) => status,
            Err(e) => {
                eprintln!("claude-tm: could not start the manager: {e}");
                return 1;
            }
        };
        restarts += 1;
        // Pick the conversation up where it left off (a restart or a crash).
        if !resumes(&args) {
            args.push(OsStr::new("--continue").to_owned());
        }
        match status.code() {
            Some(0) => return 0,
            Some(RESTART_EXIT) => crashes = 0,
            code => {
                if started.elapsed() > STABLE_RUN {
                    crashes = 0;
                }
                crashes += 1;
                if crashes >= MAX_CRASHES {
                    eprintln!("claude-tm: the manager failed {crashes} times in a row; giving up");
                    return code.unwrap_or(1);
                }
                let wait = Duration::from_secs(1 << (crashes - 1).min(4));
                eprintln!(
                    "claude-tm: the manager ended ({status}); restarting in {} s",
                    wait.as_secs()
                );
                std::thread::sleep(wait);
            }
        }
    }
}
