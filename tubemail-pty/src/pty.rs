//! A child process on a pseudo-terminal.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::pty::{Winsize, openpty};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::{Error, Result, Size, unix};

/// What to run in the pty.
#[derive(Debug, Clone)]
pub struct PtyCommand {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    size: Size,
}

impl PtyCommand {
    /// A command running `program`, 24×80 by default.
    pub fn new(program: impl Into<OsString>) -> Self {
        PtyCommand {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            size: Size::default(),
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = A>, A: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable (the rest is inherited; `TERM`
    /// defaults to `xterm-256color`).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the working directory.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets the initial terminal size.
    pub fn size(mut self, size: Size) -> Self {
        self.size = size;
        self
    }
}

fn winsize(size: Size) -> Result<Winsize> {
    if size.rows == 0 || size.cols == 0 {
        return Err(Error::ZeroSize);
    }
    Ok(Winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    })
}

fn control(what: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |source| Error::Control { what, source }
}

/// Marks a descriptor close-on-exec so no child inherits it by accident.
fn cloexec(fd: &OwnedFd) -> Result<()> {
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map(drop)
        .map_err(control("set FD_CLOEXEC"))
}

/// A running child on a pty. Dropping it kills the child.
#[derive(Debug)]
pub struct Pty {
    master: AsyncFd<OwnedFd>,
    /// Held while waiting; a shared `Pty` can be waited on from any task.
    child: tokio::sync::Mutex<tokio::process::Child>,
    pid: Pid,
    exit: std::sync::OnceLock<ExitStatus>,
}

impl Pty {
    /// Starts `cmd` in a new session with the pty as its controlling
    /// terminal and stdin, stdout and stderr. Must run inside a tokio
    /// runtime.
    pub fn spawn(cmd: &PtyCommand) -> Result<Pty> {
        let pty = openpty(&winsize(cmd.size)?, None).map_err(Error::Open)?;
        // openpty's descriptors are inheritable; the child must only get the
        // slave as 0/1/2.
        cloexec(&pty.master)?;
        cloexec(&pty.slave)?;
        let spawn_err = |source| Error::Spawn {
            program: cmd.program.to_string_lossy().into_owned(),
            source,
        };
        let stdio = |fd: &OwnedFd| fd.try_clone().map(Stdio::from).map_err(spawn_err);
        let mut command = tokio::process::Command::new(&cmd.program);
        command
            .args(&cmd.args)
            .env("TERM", "xterm-256color")
            .stdin(stdio(&pty.slave)?)
            .stdout(stdio(&pty.slave)?)
            .stderr(stdio(&pty.slave)?)
            .kill_on_drop(true);
        for (k, v) in &cmd.env {
            command.env(k, v);
        }
        if let Some(dir) = &cmd.cwd {
            command.current_dir(dir);
        }
        unix::make_session_leader_with_tty(&mut command);
        let child = command.spawn().map_err(spawn_err)?;
        // The parent's copies of the slave close here (the Command held
        // the clones): once the child exits, reads on the master end.
        drop(command);
        drop(pty.slave);
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw)
            .ok_or_else(|| spawn_err(std::io::Error::other("child exited before it was seen")))?;
        let flags = fcntl(&pty.master, FcntlArg::F_GETFL).map_err(control("read master flags"))?;
        fcntl(
            &pty.master,
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
        )
        .map_err(control("make the master non-blocking"))?;
        let master = unix::register(pty.master).map_err(spawn_err)?;
        Ok(Pty {
            master,
            child: tokio::sync::Mutex::new(child),
            pid,
            exit: std::sync::OnceLock::new(),
        })
    }

    /// The child's process id (also its session and process group id).
    pub fn pid(&self) -> u32 {
        self.pid.as_raw().unsigned_abs()
    }

    /// Reads output; `Ok(0)` once the child is gone and the output drained.
    ///
    /// Each call takes part in tokio's cooperative scheduling: a task that
    /// reads in a loop while the child floods output still yields to the
    /// other tasks of its worker thread now and then. (`AsyncFd::ready`
    /// alone never does when the descriptor is always readable, and a task
    /// woken from such a loop sits in that thread's unstealable LIFO slot.)
    pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.master.async_io(Interest::READABLE, |fd| {
            nix::unistd::read(fd, buf).map_err(std::io::Error::from)
        });
        match read.await {
            // After the last slave closes, Linux answers EIO: end of output.
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => Ok(0),
            r => r,
        }
    }

    /// Writes all of `data` to the terminal (the child's input).
    pub async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let n = self
                .master
                .async_io(Interest::WRITABLE, |fd| {
                    nix::unistd::write(fd, data).map_err(std::io::Error::from)
                })
                .await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            data = &data[n..];
        }
        Ok(())
    }

    /// Changes the terminal size; the child gets `SIGWINCH`.
    pub fn resize(&self, size: Size) -> Result<()> {
        unix::write_winsize(self.master.get_ref().as_fd(), &winsize(size)?)
            .map_err(control("resize the pty"))
    }

    /// The terminal size.
    pub fn size(&self) -> Result<Size> {
        let ws = unix::read_winsize(self.master.get_ref().as_fd())
            .map_err(control("read the pty size"))?;
        Ok(Size {
            rows: ws.ws_row,
            cols: ws.ws_col,
        })
    }

    /// Sends `signal` to the terminal's foreground process group (what
    /// Ctrl-C at a real terminal reaches), or to the child's group when
    /// none is in the foreground.
    pub fn signal(&self, signal: Signal) -> Result<()> {
        let group = nix::unistd::tcgetpgrp(self.master.get_ref()).unwrap_or(self.pid);
        killpg(group, signal).map_err(control("signal the foreground process group"))
    }

    /// Sends `signal` to the child's whole process group (the child and
    /// everything it started that stayed in its group), whether or not the
    /// child itself is still there. `Ok(false)` when the group is empty.
    ///
    /// The group id is the child's pid, which the kernel does not hand to a
    /// new process while the group has members; once the group is empty
    /// and the child reaped, a late call could reach an unrelated group
    /// that reused the id, so callers signal only while they have reason
    /// to think the group lives (say, the terminal is still held open).
    pub fn signal_group(&self, signal: Signal) -> Result<bool> {
        match killpg(self.pid, signal) {
            Ok(()) => Ok(true),
            Err(nix::errno::Errno::ESRCH) => Ok(false),
            Err(source) => Err(Error::Control {
                what: "signal the child's process group",
                source,
            }),
        }
    }

    /// Waits for the child to exit.
    pub async fn wait(&self) -> Result<ExitStatus> {
        if let Some(status) = self.exit.get() {
            return Ok(*status);
        }
        let mut child = self.child.lock().await;
        if let Some(status) = self.exit.get() {
            return Ok(*status);
        }
        let status = child.wait().await.map_err(Error::Wait)?;
        Ok(*self.exit.get_or_init(|| status))
    }

    /// The exit status, if the child has exited (`None` too while another
    /// task is waiting for it).
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        if let Some(status) = self.exit.get() {
            return Ok(Some(*status));
        }
        let Ok(mut child) = self.child.try_lock() else {
            return Ok(None);
        };
        Ok(child
            .try_wait()
            .map_err(Error::Wait)?
            .map(|status| *self.exit.get_or_init(|| status)))
    }

    /// Stops the whole process group: `SIGTERM`, then `SIGKILL` if the
    /// child is still there after `grace`.
    pub async fn stop(&self, grace: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        if let Err(e) = killpg(self.pid, Signal::SIGTERM) {
            tracing::debug!(error = %e, "SIGTERM to the process group failed");
        }
        match tokio::time::timeout(grace, self.wait()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::debug!(
                    pid = self.pid.as_raw(),
                    "still running after the grace period; SIGKILL"
                );
                if let Err(e) = killpg(self.pid, Signal::SIGKILL) {
                    tracing::debug!(error = %e, "SIGKILL to the process group failed");
                }
                self.wait().await
            }
        }
    }
}
