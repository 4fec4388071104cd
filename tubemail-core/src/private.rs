//! Files and directories private to their owner (mode 0600 and 0700) from
//! the moment they exist, whatever the process umask: the hub's data holds
//! every message, its secret and its tokens.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

/// Mode of the files the hub creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of the directories the hub creates.
pub const DIR_MODE: u32 = 0o700;

/// Open options that create a missing file with [`FILE_MODE`] (an existing
/// file keeps its mode).
pub fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    o.mode(FILE_MODE);
    o
}

/// Creates `path` (or truncates it) for writing; a new file gets
/// [`FILE_MODE`].
pub fn create(path: &Path) -> io::Result<File> {
    options().write(true).create(true).truncate(true).open(path)
}

/// Creates `dir` and its missing parents with [`DIR_MODE`].
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut b = DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(DIR_MODE);
    b.create(dir)
}
