//! The launcher's loop, in a lean process image of its own.
//!
//! The launcher's checks (the pid file, the hub, claude's version) need
//! the async runtime, the hub client and the logger; the loop after them
//! needs none, yet would keep their pages resident for the worker's whole
//! life. So once the checks pass, the launcher execs
//! `claude-tm-supervise <claude-tm> <pid file> [claude args]` (a second,
//! std-only binary of this package), or `claude-tm __supervise …` when
//! that binary is not installed beside it, with the manager's environment
//! in place. The pid does not change, so the pid file, `TM_LAUNCHER_PID`
//! and the manager's parent-death signal still hold. The loop only forks,
//! waits and sleeps: 0 stops, 42 restarts with `--continue`, anything else
//! is a crash retried with backoff.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `argv[1]` of `claude-tm` when it runs the loop itself.
pub const ARG: &str = "__supervise";
/// The std-only binary that runs the loop, installed beside `claude-tm`.
pub const BIN: &str = "claude-tm-supervise";
/// The manager's exit code that asks for a restart.
pub const RESTART_EXIT: i32 = 42;
/// Crashes in a row after which the launcher gives up.
const MAX_CRASHES: u32 = 5;
/// A manager that ran this long resets the crash count.
const STABLE_RUN: Duration = Duration::from_secs(60);

/// Removes the launcher's pid file at `path` if it still names this
/// process (a forced second launcher may have taken it over).
pub fn release_pid_file(path: &Path) {
    let ours =
        std::fs::read_to_string(path).is_ok_and(|t| t.trim() == std::process::id().to_string());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

/// The pid file, released when the loop ends.
struct PidFile(PathBuf);

impl Drop for PidFile {
    fn drop(&mut self) {
        release_pid_file(&self.0);
    }
}

/// The loop: `rest` is `<claude-tm> <pid file> [claude args]`. Returns
/// the exit code for the shell.
pub fn run(mut rest: impl Iterator<Item = OsString>) -> i32 {
    let (Some(exe), Some(pid_file)) = (rest.next(), rest.next()) else {
        eprintln!("claude-tm: {BIN} is internal to the launcher (run claude-tm)");
        return 2;
    };
    let _pid_file = PidFile(pid_file.into());
    supervise(Path::new(&exe), rest.collect())
}

fn resumes(args: &[OsString]) -> bool {
    args.iter().any(|a| a == "--continue" || a == "-c")
}

/// Runs `exe manager args` until it stops.
fn supervise(exe: &Path, mut args: Vec<OsString>) -> i32 {
    use nix::sys::termios::{SetArg, tcgetattr, tcsetattr};
    use std::os::fd::AsFd;
    let launcher = std::process::id().to_string();
    // The user's terminal as the manager found it: a manager that dies
    // without restoring it (a crash, a kill, a panic in the `worker`
    // profile, which aborts) would leave it in raw mode.
    let stdin = std::io::stdin();
    let terminal = tcgetattr(stdin.as_fd()).ok();
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
        if let Some(terminal) = &terminal {
            let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, terminal);
        }
        restarts += 1;
        // Pick the conversation up where it left off (a restart or a crash).
        if !resumes(&args) {
            args.push("--continue".into());
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]
    use super::*;

    #[test]
    fn restarts_with_continue_then_stops_and_releases_the_pid_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        // A manager that asks for a restart the first time and stops the next.
        let manager = dir.path().join("manager");
        std::fs::write(
            &manager,
            format!(
                "#!/bin/sh\necho \"$TM_RESTART_COUNT $*\" >> {}\n\
                 [ \"$TM_RESTART_COUNT\" = 0 ] && exit {RESTART_EXIT}\nexit 0\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&manager, std::fs::Permissions::from_mode(0o755)).unwrap();
        let pid_file = dir.path().join("claude-tm.pid");
        std::fs::write(&pid_file, format!("{}\n", std::process::id())).unwrap();
        let argv = [
            manager.as_os_str(),
            pid_file.as_os_str(),
            "--model".as_ref(),
            "x".as_ref(),
        ];
        let code = run(argv.iter().map(|a| a.to_os_string()));
        assert_eq!(code, 0);
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "0 manager --model x\n1 manager --model x --continue\n"
        );
        assert!(!pid_file.exists(), "the pid file goes with the loop");
    }
}
