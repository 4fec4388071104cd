//! Processes in pseudo-terminals, directly on `nix` and tokio.
//!
//! [`Pty::spawn`] starts a command in a new session whose controlling
//! terminal is a fresh pty; the parent keeps the master side for async reads
//! and writes, resizes (the child gets `SIGWINCH`), signals to the
//! foreground process group or to the child's whole group (also after the
//! child itself is gone), and a graceful stop of the whole group.
//! [`Screen`] is a model of what the terminal shows (a compact grid on the
//! `vte` parser), and
//! [`paste_input`] frames text the way interactive TUIs accept it.
//!
//! # Layout
//! - `unix`: every `unsafe` call (fork-time setup, ioctls, fd registration).
//! - `pty`: [`Pty`] and [`PtyCommand`].
//! - `screen`: [`Screen`] and input framing.
//! - `vt`: the terminal model behind [`Screen`].

mod pty;
mod screen;
mod unix;
mod vt;

pub use pty::{Pty, PtyCommand};
pub use screen::{Screen, paste_input};

/// Terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

impl Default for Size {
    fn default() -> Self {
        Size { rows: 24, cols: 80 }
    }
}

/// The size of the terminal on `fd` (say, the user's stdin), or `None`
/// when it is not a terminal.
pub fn terminal_size(fd: std::os::fd::BorrowedFd<'_>) -> Option<Size> {
    unix::terminal_size(fd).map(|w| Size {
        rows: w.ws_row,
        cols: w.ws_col,
    })
}

/// Puts the terminal on `fd` in raw mode until the guard drops (also when
/// unwinding from a panic), so keys reach the child as typed.
pub fn raw_mode(fd: std::os::fd::BorrowedFd<'_>) -> Result<RawMode> {
    use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
    let saved = tcgetattr(fd).map_err(|source| Error::Control {
        what: "read terminal modes",
        source,
    })?;
    let mut raw = saved.clone();
    cfmakeraw(&mut raw);
    tcsetattr(fd, SetArg::TCSANOW, &raw).map_err(|source| Error::Control {
        what: "enter raw mode",
        source,
    })?;
    let fd = fd.try_clone_to_owned().map_err(|e| Error::Control {
        what: "keep the terminal",
        source: nix::Error::from_raw(e.raw_os_error().unwrap_or(0)),
    })?;
    Ok(RawMode { fd, saved })
}

/// Restores the terminal's modes when dropped.
#[derive(Debug)]
pub struct RawMode {
    fd: std::os::fd::OwnedFd,
    saved: nix::sys::termios::Termios,
}

impl Drop for RawMode {
    fn drop(&mut self) {
        use nix::sys::termios::{SetArg, tcsetattr};
        if let Err(e) = tcsetattr(&self.fd, SetArg::TCSANOW, &self.saved) {
            tracing::warn!(error = %e, "could not restore the terminal");
        }
    }
}

/// Why a pty operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Allocating the pty failed.
    #[error("failed to open a pty")]
    Open(#[source] nix::Error),
    /// Starting the command failed.
    #[error("failed to start {program}")]
    Spawn {
        /// The program.
        program: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A terminal control call failed.
    #[error("failed to {what}")]
    Control {
        /// What was attempted.
        what: &'static str,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// Waiting for the child failed.
    #[error("failed to wait for the child")]
    Wait(#[source] std::io::Error),
    /// A size of zero rows or columns.
    #[error("terminal size must be at least 1x1")]
    ZeroSize,
}

/// Result of pty operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
