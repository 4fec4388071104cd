//! Processes in pseudo-terminals, directly on `nix` and tokio.
//!
//! [`Pty::spawn`] starts a command in a new session whose controlling
//! terminal is a fresh pty; the parent keeps the master side for async reads
//! and writes, resizes (the child gets `SIGWINCH`), signals to the
//! foreground process group, and a graceful stop of the whole group.
//! [`Screen`] is a vt100 model of what the terminal shows, and
//! [`paste_input`] frames text the way interactive TUIs accept it.
//!
//! # Layout
//! - `unix`: every `unsafe` call (fork-time setup, ioctls, fd registration).
//! - `pty`: [`Pty`] and [`PtyCommand`].
//! - `screen`: [`Screen`] and input framing.

mod pty;
mod screen;
mod unix;

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
