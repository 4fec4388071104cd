//! The launcher (`claude-tm` with no subcommand): configuration from the
//! environment and `.env` files, the worker's name, and a loop that keeps
//! the manager running: 0 stops, 42 restarts with `--continue`, anything
//! else is a crash retried with backoff.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tubemail_client::core::WorkerName;
use tubemail_client::{Client, Error};

use crate::manager::RESTART_EXIT;

/// Crashes in a row after which the launcher gives up.
const MAX_CRASHES: u32 = 5;
/// A manager that ran this long resets the crash count.
const STABLE_RUN: Duration = Duration::from_secs(60);

/// `KEY=VALUE` lines of a `.env` file (`#` comments, optional `export `,
/// optional single or double quotes).
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("export ").unwrap_or(line);
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let (k, v) = line.split_once('=')?;
            let k = k.trim();
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            let v = v.trim();
            let v = ['"', '\'']
                .iter()
                .find_map(|q| v.strip_prefix(*q).and_then(|s| s.strip_suffix(*q)))
                .unwrap_or(v);
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Variables from `<project>/.env`, then `~/.config/tubemail/.env`, for
/// keys the real environment does not set (empty counts as unset); the
/// project's file wins over the user's.
pub fn env_from_files(
    project: &Path,
    home: Option<&Path>,
    real: &HashMap<String, String>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let files = [
        Some(project.join(".env")),
        home.map(|h| h.join(".config/tubemail/.env")),
    ];
    for file in files.into_iter().flatten() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (k, v) in parse_env_file(&text) {
            let set_for_real = real.get(&k).is_some_and(|v| !v.is_empty());
            if !set_for_real && !out.iter().any(|(seen, _)| *seen == k) {
                out.push((k, v));
            }
        }
    }
    out
}

/// `TM_WORKER_NAME` as given, else `<dir>-tm`, or `<dir>-<role>-tm`.
pub fn worker_name(explicit: Option<&str>, dir: &Path, role: Option<&str>) -> Result<WorkerName> {
    let name = match explicit.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => n.to_owned(),
        None => {
            let base = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "worker".into());
            match role {
                Some(r) => format!("{base}-{r}-tm"),
                None => format!("{base}-tm"),
            }
        }
    };
    name.parse().with_context(|| {
        format!("{name:?} is not a valid worker name (set TM_WORKER_NAME or rename the directory)")
    })
}

/// In a manager started by the launcher: end with it. A launcher killed
/// outright (SIGKILL, a closed terminal) would otherwise leave the manager
/// and claude running with nobody to stop them.
pub fn follow_launcher() -> Result<()> {
    let Some(launcher) = std::env::var("TM_LAUNCHER_PID")
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return Ok(());
    };
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
        .context("cannot follow the launcher")?;
    // The launcher may have died before the line above.
    if nix::unistd::getppid().as_raw() != launcher {
        bail!("the launcher is gone");
    }
    Ok(())
}

/// Where `program` runs from: itself when it names a path, else the first
/// executable of that name on `PATH`.
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = Path::new(program);
        return runnable(p).then(|| p.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| runnable(p))
}

/// Says clearly, before claude starts, whether the hub can be used. A
/// wrong secret, or a token that is not this worker's, stops here (it does
/// not fix itself); an unreachable hub does not (the worker connects when
/// it is up).
async fn check_hub(hub: &Client, worker: &WorkerName, scoped: bool) -> Result<()> {
    if scoped {
        return check_token(hub, worker).await;
    }
    match hub.workers().await {
        Ok(_) => Ok(()),
        Err(e) => hub_unusable(
            hub,
            e,
            "rejected TUBEMAIL_SECRET; use the secret from the hub's data dir (file `secret`)",
        ),
    }
}

/// With `TUBEMAIL_TOKEN`: the token must be a live worker token for this
/// very worker.
async fn check_token(hub: &Client, worker: &WorkerName) -> Result<()> {
    let me = match hub.whoami().await {
        Ok(me) => me,
        Err(e) => {
            return hub_unusable(
                hub,
                e,
                "rejected TUBEMAIL_TOKEN (unknown or revoked); issue a new one",
            );
        }
    };
    let kind = me["kind"].as_str().unwrap_or("?");
    let acts_as = me["worker"].as_str().unwrap_or("");
    if kind != "worker" || acts_as != worker.as_str() {
        let what = if kind == "worker" {
            format!("worker {acts_as:?}")
        } else {
            format!("a {kind} credential")
        };
        bail!(
            "TUBEMAIL_TOKEN is {what}, not a token for worker {:?}: issue one with \
             POST /api/tokens {{\"kind\": \"worker\", \"worker\": {:?}}}",
            worker.as_str(),
            worker.as_str()
        );
    }
    Ok(())
}

/// What a failed hub check means: a refused credential stops here (`the hub
/// at <url> <refused>`); anything else is said, and claude starts anyway.
fn hub_unusable(hub: &Client, e: Error, refused: &str) -> Result<()> {
    match e {
        Error::Unauthorized(_) => bail!("the hub at {} {refused}", hub.url()),
        Error::Unreachable { .. } => eprintln!(
            "claude-tm: no hub at {} yet; claude starts anyway and connects when the hub is up",
            hub.url()
        ),
        e => eprintln!("claude-tm: hub check failed: {e}"),
    }
    Ok(())
}

/// Runs the manager until it stops; returns the exit code for the shell.
/// `scoped`: the hub client holds a worker token (`TUBEMAIL_TOKEN`); the
/// shared secret is then kept out of the manager's and claude's
/// environment, so nothing in the worker can act as anyone else.
pub async fn run(
    worker: WorkerName,
    hub: Client,
    scoped: bool,
    extra_env: Vec<(String, String)>,
    args: Vec<String>,
) -> Result<i32> {
    let mut extra_env = extra_env;
    if scoped {
        extra_env.retain(|(k, _)| k != "TUBEMAIL_SECRET");
    }
    let force = std::env::var("TM_FORCE").is_ok_and(|v| v == "1")
        || extra_env.iter().any(|(k, v)| k == "TM_FORCE" && v == "1");
    let _pid_file = crate::runtime::PidFile::claim(&worker, force)?;
    check_hub(&hub, &worker, scoped).await?;
    let blockers = crate::claude::channel_blockers(|k| {
        extra_env
            .iter()
            .rev()
            .find(|(e, _)| e == k)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(k).ok())
    });
    if !blockers.is_empty() {
        eprintln!(
            "claude-tm: {} is set, which makes Claude Code turn channels off: \
             this worker will not see hub messages until it is unset",
            blockers.join(", ")
        );
    }
    let exe = std::env::current_exe().context("cannot find claude-tm's own path")?;
    let mut args = args;
    let mut crashes = 0;
    let mut restarts = 0u32;
    loop {
        let started = Instant::now();
        let mut command = tokio::process::Command::new(&exe);
        if scoped {
            command.env_remove("TUBEMAIL_SECRET");
        }
        let status = command
            .arg("manager")
            .args(&args)
            .env("TM_WORKER_NAME", worker.as_str())
            .env("TM_RESTART_COUNT", restarts.to_string())
            .env("TM_LAUNCHER_PID", std::process::id().to_string())
            .envs(extra_env.iter().map(|(k, v)| (k, v)))
            .status()
            .await
            .context("could not start the manager")?;
        restarts += 1;
        match status.code() {
            Some(0) => return Ok(0),
            Some(RESTART_EXIT) => {
                if !args.iter().any(|a| a == "--continue" || a == "-c") {
                    args.push("--continue".into());
                }
                crashes = 0;
            }
            code => {
                // Pick the conversation up where the crash left it.
                if !args.iter().any(|a| a == "--continue" || a == "-c") {
                    args.push("--continue".into());
                }
                if started.elapsed() > STABLE_RUN {
                    crashes = 0;
                }
                crashes += 1;
                if crashes >= MAX_CRASHES {
                    eprintln!("claude-tm: the manager failed {crashes} times in a row; giving up");
                    return Ok(code.unwrap_or(1));
                }
                let wait = Duration::from_secs(1 << (crashes - 1).min(4));
                eprintln!(
                    "claude-tm: the manager ended ({status}); restarting in {} s",
                    wait.as_secs()
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files() {
        let parsed =
            parse_env_file("# c\nexport A=1\nB = \"two words\"\nC='x'\nbad line\n-D=1\nE=\n");
        assert_eq!(
            parsed,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into()),
                ("E".into(), String::new()),
            ]
        );
        let dir = std::env::temp_dir().join(format!("claude-tm-env-{}", std::process::id()));
        let home = dir.join("home");
        std::fs::create_dir_all(home.join(".config/tubemail")).unwrap();
        std::fs::write(
            dir.join(".env"),
            "TUBEMAIL_SECRET=project\nTUBEMAIL_HUB_URL=http://p\n",
        )
        .unwrap();
        std::fs::write(
            home.join(".config/tubemail/.env"),
            "TUBEMAIL_SECRET=user\nTM_X=user\n",
        )
        .unwrap();
        let real: HashMap<String, String> =
            [("TUBEMAIL_HUB_URL".to_owned(), "http://real".to_owned())].into();
        let got = env_from_files(&dir, Some(&home), &real);
        assert_eq!(
            got,
            vec![
                ("TUBEMAIL_SECRET".into(), "project".into()),
                ("TM_X".into(), "user".into())
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names() {
        let dir = Path::new("/work/myproj");
        assert_eq!(worker_name(None, dir, None).unwrap().as_str(), "myproj-tm");
        assert_eq!(
            worker_name(None, dir, Some("review")).unwrap().as_str(),
            "myproj-review-tm"
        );
        assert_eq!(
            worker_name(Some("custom-tm"), dir, None).unwrap().as_str(),
            "custom-tm"
        );
        assert_eq!(
            worker_name(Some("  "), dir, None).unwrap().as_str(),
            "myproj-tm"
        );
        assert!(worker_name(None, Path::new("/work/.hidden"), None).is_err());
    }
}
