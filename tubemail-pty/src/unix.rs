//! Every `unsafe` call of the crate, each with the reason it is sound.
#![expect(
    unsafe_code,
    reason = "pty setup needs pre_exec, raw ioctls and AsyncFd::register"
)]

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::libc;
use nix::pty::Winsize;
use tokio::io::unix::AsyncFd;

nix::ioctl_write_int_bad!(set_controlling_tty, libc::TIOCSCTTY);
nix::ioctl_write_ptr_bad!(set_winsize, libc::TIOCSWINSZ, Winsize);
nix::ioctl_read_bad!(get_winsize, libc::TIOCGWINSZ, Winsize);

/// Makes the child a session leader whose controlling terminal is its
/// stdin (the pty slave), between fork and exec.
pub(crate) fn make_session_leader_with_tty(cmd: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child before exec and only
    // makes async-signal-safe system calls (setsid, ioctl); it allocates
    // nothing and touches no locks.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            set_controlling_tty(0, 0).map_err(std::io::Error::from)?;
            Ok(())
        });
    }
}

/// Sets the pty's window size; the kernel sends SIGWINCH to the foreground
/// process group.
pub(crate) fn write_winsize(fd: BorrowedFd<'_>, size: &Winsize) -> nix::Result<()> {
    // SAFETY: `fd` is an open pty master for the duration of the call and
    // `size` points to a valid, initialised winsize.
    unsafe { set_winsize(fd.as_raw_fd(), size) }.map(drop)
}

/// Reads the pty's window size.
pub(crate) fn read_winsize(fd: BorrowedFd<'_>) -> nix::Result<Winsize> {
    let mut size = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `fd` is an open pty master and `size` is a valid, writable
    // winsize the kernel fills in.
    unsafe { get_winsize(fd.as_raw_fd(), &mut size) }?;
    Ok(size)
}

/// The size of the terminal on `fd` (e.g. the user's stdin), if it is one.
pub(crate) fn terminal_size(fd: BorrowedFd<'_>) -> Option<Winsize> {
    read_winsize(fd)
        .ok()
        .filter(|w| w.ws_row > 0 && w.ws_col > 0)
}

/// Registers the (non-blocking) master with the tokio reactor.
pub(crate) fn register(master: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `OwnedFd` owns an open descriptor that stays open, and keeps
    // returning the same number from `as_raw_fd`, until the AsyncFd drops it.
    unsafe { AsyncFd::register(master) }.map_err(|e| e.into_parts().1)
}
