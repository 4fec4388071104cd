//! The launcher (`claude-tm` with no subcommand): configuration from the
//! environment and `.env` files, the worker's name, and the checks before
//! the loop that keeps the manager running ([`supervise`]).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use claude_tm::supervise;
use tubemail_client::core::WorkerName;
use tubemail_client::local::{self, Credential};
use tubemail_client::{Client, Error};

/// The launcher's settings as it finds them: the real environment first,
/// then `./.env` and `~/.config/tubemail/.env` for what it leaves unset
/// ([`local::Env`]), with flags (`--hub`) over all of them. `claude-tm
/// doctor` reads the same.
#[derive(Debug)]
pub struct Settings {
    /// The project: the current directory.
    pub dir: PathBuf,
    /// What the files and flags add to the environment (passed on to the
    /// manager and so to claude); later entries win.
    pub extra_env: Vec<(String, String)>,
    env: local::Env,
}

impl Settings {
    /// Reads the environment and the `.env` files of the current directory
    /// and `$HOME`; `hub` (`--hub`) wins over `TUBEMAIL_HUB_URL`.
    pub fn load(hub: Option<&str>) -> Result<Settings> {
        let dir = std::env::current_dir().context("no current directory")?;
        let env = local::Env::load(&dir);
        let mut settings = Settings {
            dir,
            extra_env: env.from_files(),
            env,
        };
        if let Some(url) = hub {
            settings.set("TUBEMAIL_HUB_URL", url);
        }
        Ok(settings)
    }

    /// Sets `key` for the manager, over the environment and the files.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.extra_env.retain(|(k, _)| k != key);
        self.extra_env.push((key.to_owned(), value.into()));
    }

    /// The value of `key` (empty counts as unset).
    pub fn get(&self, key: &str) -> Option<String> {
        self.extra_env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| self.env.get(key))
            .filter(|v| !v.is_empty())
    }

    /// The worker's name (see [`worker_name`]).
    pub fn worker(&self, role: Option<&str>) -> Result<WorkerName> {
        worker_name(self.get("TM_WORKER_NAME").as_deref(), &self.dir, role)
    }

    /// `TUBEMAIL_HUB_URL`, else the default.
    pub fn hub_url(&self) -> String {
        self.get("TUBEMAIL_HUB_URL")
            .unwrap_or_else(|| tubemail_client::DEFAULT_HUB_URL.to_owned())
    }

    /// A worker token wins over the shared secret; with neither, a loopback
    /// hub's secret from its data dir (see [`local::Env::credential`]).
    pub fn credential(&self) -> Option<Credential> {
        self.env.credential(&self.hub_url())
    }

    /// What to do without a credential.
    pub fn no_credential(&self) -> String {
        self.env.no_credential(&self.hub_url())
    }

    /// `TUBEMAIL_CLAUDE_BIN`, else `claude`.
    pub fn claude_program(&self) -> String {
        self.get("TUBEMAIL_CLAUDE_BIN")
            .unwrap_or_else(|| "claude".to_owned())
    }

    /// A client of the configured hub presenting `secret`.
    pub fn hub_client(&self, secret: &str) -> Result<Client> {
        let url = self.hub_url();
        Client::builder()
            .url(&url)
            .secret(secret)
            .build()
            .with_context(|| format!("bad hub URL {url:?}"))
    }
}

/// What to do when `program` (claude) is not found.
pub fn no_claude(program: &str) -> String {
    format!(
        "cannot find claude ({program:?}): install Claude Code \
         (npm install -g @anthropic-ai/claude-code) or set TUBEMAIL_CLAUDE_BIN"
    )
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

/// What the hub says to the worker's credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubCheck {
    /// The hub answers and accepts the credential.
    Accepted,
    /// Nothing answers at the URL.
    Unreachable,
    /// The hub refuses the credential; the text says what to do.
    Refused(String),
    /// Anything else, as the client said it.
    Failed(String),
}

/// Asks the hub whether it takes the credential: the secret must be the
/// hub's; a token (`scoped`) must be a live worker token for this very
/// worker.
pub async fn check_hub(hub: &Client, worker: &WorkerName, scoped: bool) -> HubCheck {
    if !scoped {
        return match hub.workers().await {
            Ok(_) => HubCheck::Accepted,
            Err(e) => hub_error(
                hub,
                e,
                "rejected TUBEMAIL_SECRET; use the secret from the hub's data dir (file `secret`)",
            ),
        };
    }
    let me = match hub.whoami().await {
        Ok(me) => me,
        Err(e) => {
            return hub_error(
                hub,
                e,
                "rejected TUBEMAIL_TOKEN (unknown or revoked); issue a new one",
            );
        }
    };
    let kind = me.kind.as_str();
    let acts_as = me.worker.as_deref().unwrap_or("");
    if kind == "worker" && acts_as == worker.as_str() {
        return HubCheck::Accepted;
    }
    let what = if kind == "worker" {
        format!("worker {acts_as:?}")
    } else {
        format!("a {kind} credential")
    };
    HubCheck::Refused(format!(
        "TUBEMAIL_TOKEN is {what}, not a token for worker {:?}: issue one with \
         POST /api/tokens {{\"kind\": \"worker\", \"worker\": {:?}}}",
        worker.as_str(),
        worker.as_str()
    ))
}

fn hub_error(hub: &Client, e: Error, refused: &str) -> HubCheck {
    match e {
        Error::Unauthorized(_) => HubCheck::Refused(format!("the hub at {} {refused}", hub.url())),
        Error::Unreachable { .. } => HubCheck::Unreachable,
        e => HubCheck::Failed(e.to_string()),
    }
}

/// Resolves what the launcher needs from `settings` and runs it: the
/// worker's name, a credential and claude must be there, or it stops with
/// one line saying what to do.
pub async fn start(settings: Settings, role: Option<&str>, args: Vec<String>) -> Result<i32> {
    let mut settings = settings;
    let worker = settings.worker(role)?;
    let Some(credential) = settings.credential() else {
        bail!("{}", settings.no_credential());
    };
    let program = settings.claude_program();
    if find_program(&program).is_none() {
        bail!("{}", no_claude(&program));
    }
    // Found by looking, not configured: said once, before claude has the
    // terminal, and handed to the manager (and the channel) as if set.
    if let Some(notice) = credential.notice() {
        eprintln!("claude-tm: {notice}");
        settings.set(credential.name(), credential.secret());
    }
    let hub = settings.hub_client(credential.secret())?;
    run(
        worker,
        hub,
        credential.scoped,
        &program,
        settings.extra_env,
        args,
    )
    .await
}

/// Checks what the manager needs, then runs it until it stops
/// ([`supervise`]); returns only on failure. `scoped`: the hub client holds a worker token (`TUBEMAIL_TOKEN`); the
/// shared secret is then kept out of the manager's and claude's
/// environment, so nothing in the worker can act as anyone else.
async fn run(
    worker: WorkerName,
    hub: Client,
    scoped: bool,
    program: &str,
    extra_env: Vec<(String, String)>,
    args: Vec<String>,
) -> Result<i32> {
    let mut extra_env = extra_env;
    if scoped {
        extra_env.retain(|(k, _)| k != "TUBEMAIL_SECRET");
    }
    let force = std::env::var("TM_FORCE").is_ok_and(|v| v == "1")
        || extra_env.iter().any(|(k, v)| k == "TM_FORCE" && v == "1");
    let pid_file = crate::runtime::PidFile::claim(&worker, force)?;
    // Said clearly before claude starts: a wrong secret, or a token that
    // is not this worker's, stops here (it does not fix itself); a hub that
    // is not up does not (the worker connects when it is). claude's version
    // is asked meanwhile.
    let (check, version) = tokio::join!(
        check_hub(&hub, &worker, scoped),
        crate::compat::cli_version(program)
    );
    match check {
        HubCheck::Accepted => {}
        HubCheck::Refused(why) => bail!("{why}"),
        HubCheck::Unreachable => eprintln!(
            "claude-tm: no hub at {} yet; claude starts anyway and connects when the hub is up",
            hub.url()
        ),
        HubCheck::Failed(e) => eprintln!("claude-tm: hub check failed: {e}"),
    }
    if let Some(notice) = version.and_then(crate::compat::Version::notice) {
        eprintln!("claude-tm: {notice}");
    }
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
    let mut set = vec![("TM_WORKER_NAME".to_owned(), worker.as_str().to_owned())];
    set.extend(extra_env);
    let remove: &[&str] = if scoped { &["TUBEMAIL_SECRET"] } else { &[] };
    Err(hand_over(&exe, pid_file, &args, &set, remove))
}

// The loop and the manager must agree on the restart code.
const _: () = assert!(crate::manager::RESTART_EXIT == supervise::RESTART_EXIT);

/// The checks are done: replaces this process with the launcher's loop
/// ([`supervise`]), `claude-tm-supervise` beside this binary, else this
/// binary's own lean path, with `set` and without `remove` in the
/// environment the manager inherits. Returns only when both execs fail.
fn hand_over(
    exe: &Path,
    pid_file: crate::runtime::PidFile,
    args: &[String],
    set: &[(String, String)],
    remove: &[&str],
) -> anyhow::Error {
    let pid_file = pid_file.hand_over();
    let exec = |program: &Path, first: Option<&str>| {
        let mut command = std::process::Command::new(program);
        command.args(first).arg(exe).arg(&pid_file).args(args);
        for key in remove {
            command.env_remove(key);
        }
        command.envs(set.iter().map(|(k, v)| (k, v))).exec()
    };
    let lean = exe.with_file_name(supervise::BIN);
    if lean.is_file() {
        let e = exec(&lean, None);
        tracing::debug!(error = %e, "cannot run {}; the loop runs in claude-tm", supervise::BIN);
    }
    let e = exec(exe, Some(supervise::ARG));
    // Still here: the pid file is ours to remove.
    supervise::release_pid_file(&pid_file);
    anyhow::Error::new(e).context("cannot start the launcher's loop")
}

#[cfg(test)]
mod tests {
    use super::*;

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
